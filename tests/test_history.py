import itertools
import json

import pytest

from pynet_cvae.history import History


def test_log_and_read_back_a_metric():
    history = History(name="train")
    history.log((0, 0), loss=2.0, accuracy=0.1)
    history.log((0, 1), loss=1.0)
    assert history.steps == [(0, 0), (0, 1)]
    assert history["loss"] == ([(0, 0), (0, 1)], [2.0, 1.0])
    assert history["accuracy"] == ([(0, 0)], [0.1])
    assert len(history) == 2


def test_integer_steps_and_tensor_values():
    torch = pytest.importorskip("torch")
    history = History(name="validation")
    history.log(5, loss=torch.tensor(0.25))
    assert history["loss"] == ([5], [0.25])


def test_unknown_metric_names_the_logged_ones():
    history = History(name="train")
    history.log(0, loss=1.0)
    with pytest.raises(KeyError, match="'acc'.*logged: \\['loss'\\]"):
        history["acc"]


def test_summary_is_one_line_with_the_last_values():
    history = History(name="train")
    history.log((1, 4), loss=0.5, accuracy=0.75)
    summary = history.summary()
    assert "\n" not in summary
    assert summary.startswith("train (1, 4)")
    assert "loss=0.5" in summary and "accuracy=0.75" in summary


def test_save_and_load_round_trip_as_json(tmp_path):
    history = History(name="train")
    history.log((0, 0), loss=2.0)
    history.log((0, 1), loss=1.5, extra=3.0)
    path = history.save(str(tmp_path))
    assert path.endswith("train.json")
    json.loads(open(path).read())  # plain JSON, no pickle
    loaded = History.load(path)
    assert loaded.steps == history.steps
    assert loaded["loss"] == history["loss"]
    assert loaded["extra"] == ([(0, 1)], [3.0])
    assert History.load(history.save(str(tmp_path), fold=0, epoch=1)).name == "train"


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no history file"):
        History.load(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        History.load(str(broken))


def test_non_numeric_values_are_rejected():
    with pytest.raises(TypeError, match="'note' must be a number"):
        History(name="train").log(0, note="hello")


def test_a_malformed_history_file_is_a_clear_error(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"name": "train", "steps": [[0, 0], [0, 1]],
                                "values": {"loss": [1.0]}}))
    with pytest.raises(ValueError, match="not a History dict"):
        History.load(str(path))
    pickled = tmp_path / "pickled.json"
    pickled.write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.")
    with pytest.raises(ValueError, match="is not valid JSON"):
        History.load(str(pickled))  # a pickle is never unpickled


def test_round_trip_through_to_dict_keeps_every_value():
    history = History(name="validation")
    history.log((0, 0), loss=float("nan"), accuracy=0.5)
    history.log((1, 0), loss=0.25)
    restored = History.from_dict(history.to_dict())
    assert restored.steps == history.steps and restored.to_dict()["values"]["accuracy"] == [
        0.5, None]
    assert restored["loss"][1][1] == 0.25


def test_pynets_keyword_names(tmp_path):
    history = History("train", verbose=1)
    assert history.verbose == 1
    history.log((0, 0), loss=1.0)
    path = history.save(outdir=str(tmp_path), fold=0, epoch=0)
    assert History.load(file_name=path).steps == [(0, 0)]


def test_loading_a_pickle_path_reads_the_json_beside_it(tmp_path):
    history = History(name="train")
    history.log((0, 2), loss=0.5)
    history.save(str(tmp_path), fold=0, epoch=2)
    loaded = History.load(str(tmp_path / "train_0_epoch_2.pkl"))
    assert loaded.steps == [(0, 2)] and loaded["loss"] == ([(0, 2)], [0.5])
    with pytest.raises(FileNotFoundError, match="no history file at '.*train_0_epoch_3.json' "
                                                r"\(pynet_cvae writes the JSON history"):
        History.load(str(tmp_path / "train_0_epoch_3.pkl"))
    (tmp_path / "old.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="'.*old.pkl' is a pickled history and no 'old.json' "
                                         "is beside it: .*never unpickles"):
        History.load(str(tmp_path / "old.pkl"))


def test_total_time_spans_the_first_and_last_steps(tmp_path, monkeypatch):
    clock = itertools.chain([100.0, 103.5], itertools.repeat(200.0))
    monkeypatch.setattr("pynet_cvae.history.time.time", lambda: next(clock))
    history = History(name="train")
    history.log(0, loss=1.0)
    history.log(1, loss=0.5)
    assert history.get_total_time().total_seconds() == 3.5
    assert "times" not in history.to_dict()  # equal runs give equal dicts
    loaded = History.load(history.save(str(tmp_path)))
    assert loaded.get_total_time().total_seconds() == 3.5
    assert History(name="empty").get_total_time().total_seconds() == 0


def test_str_is_a_table_of_steps_and_values():
    history = History(name="train")
    history.log((0, 0), loss=2.0, accuracy=0.25)
    history.log((0, 1), loss=1.5)
    lines = str(history).splitlines()
    assert lines[0].split() == ["step", "loss", "accuracy"]
    assert lines[2].split() == ["(0,", "0)", "2", "0.25"] and lines[3].split() == [
        "(0,", "1)", "1.5"]
