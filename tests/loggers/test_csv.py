"""CSVLogger: the history table, complete after every epoch, across a resume."""

import csv

import pytest

from pynet_cvae.loggers import CSVLogger
from pynet_cvae.loggers.csv import read_history_csv, write_history_csv

from .conftest import METRICS, Interrupt, cvae_interface, interrupt_before


def rows(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_the_table_holds_every_finished_epoch_while_training(tmp_path, manager):
    path = tmp_path / "history.csv"
    interface = cvae_interface(CSVLogger(path))
    seen = []
    interface.add_observer("after_epoch", lambda signal: seen.append(
        [(row["split"], row["epoch"]) for row in rows(path)]))
    train, validation = interface.training(manager, nb_epochs=3, fold_index=0)

    assert seen == [[(split, str(epoch)) for split in ("train", "validation")
                     for epoch in range(done + 1)] for done in range(3)]
    table = rows(path)
    assert list(table[0]) == ["split", "fold", "epoch", *sorted([*METRICS, "lr"])]
    for history in (train, validation):
        logged = [row for row in table if row["split"] == history.name]
        for metric in METRICS:
            assert [float(row[metric]) for row in logged] == history[metric][1]
    assert [row["lr"] for row in table] == ["0.003"] * 3 + [""] * 3

    # The same numbers as the table `pynet-cvae train` writes from the histories.
    expected = write_history_csv(str(tmp_path / "expected.csv"), [train, validation])
    for got, want in zip(table, rows(expected)):
        assert {key: value for key, value in got.items() if key != "lr"} == want


def test_a_resumed_fold_keeps_the_rows_before_its_checkpoint(tmp_path, manager):
    path, checkpoints = tmp_path / "history.csv", str(tmp_path / "checkpoints")
    first = cvae_interface(CSVLogger(path), seed=2)
    first.add_observer("before_epoch", interrupt_before(3))
    with pytest.raises(Interrupt):  # epochs 0-2 written; the last checkpoint is epoch 1
        first.training(manager, nb_epochs=4, fold_index=0, checkpointdir=checkpoints,
                       save_after_epochs=2)
    resumed = cvae_interface(CSVLogger(path), seed=2)
    train, validation = resumed.training(manager, nb_epochs=4, fold_index=0,
                                         checkpointdir=checkpoints, resume=True)
    read = {history.name: history for history in read_history_csv(str(path))}
    assert read["train"].steps == [(0, epoch) for epoch in range(4)]
    assert read["train"]["loss"][1] == pytest.approx(train["loss"][1], rel=1e-6)
    assert read["validation"]["loss"][1] == pytest.approx(validation["loss"][1], rel=1e-6)


def test_per_step_scalars_go_to_a_table_beside(tmp_path):
    with CSVLogger(tmp_path / "history.csv") as logger:
        logger.log_scalars({"loss": 2.0}, step=0, axis="step")
        logger.log_scalars({"loss": 1.0, "kl": 0.5}, step=1, axis="step")
    assert rows(tmp_path / "history_steps.csv") == [
        {"split": "train", "fold": "0", "step": "0", "kl": "", "loss": "2.0"},
        {"split": "train", "fold": "0", "step": "1", "kl": "0.5", "loss": "1.0"}]
    assert not (tmp_path / "history.csv").exists()


def test_a_file_that_is_not_a_history_table_is_a_clear_error(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"not a history table: its columns are \['a', 'b'\]"):
        read_history_csv(str(path))
    with pytest.raises(ValueError, match="is a folder; expected a CSV file"):
        CSVLogger(tmp_path)
