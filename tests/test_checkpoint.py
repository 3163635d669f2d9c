import os

import pytest
import torch

from pynet_cvae.checkpoint import (
    CheckpointError, checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint)


def test_save_and_load_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_checkpoint(checkpoint_path(str(tmp_path), 0, 4), model=model.state_dict(),
                           fold=0, epoch=4)
    assert os.path.basename(path) == "model_0_epoch_4.pth"
    content = load_checkpoint(path)
    assert content["epoch"] == 4 and content["format_version"] == 1
    assert torch.equal(content["model"]["weight"], model.weight.detach())
    assert [name for name in os.listdir(tmp_path)] == ["model_0_epoch_4.pth"]


def test_a_bare_state_dict_is_accepted(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    assert set(load_checkpoint(str(path))["model"]) == {"weight", "bias"}


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = save_checkpoint(str(tmp_path / "model_0_epoch_0.pth"),
                           model=torch.nn.Linear(20, 20).state_dict())
    data = open(path, "rb").read()
    with open(path, "wb") as stream:
        stream.write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(str(path))
    assert not marker.exists()


def test_missing_file_and_unknown_version(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_checkpoint(str(tmp_path / "nope.pth"))
    path = tmp_path / "future.pth"
    torch.save({"format_version": 99, "model": {}}, path)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(str(path))


def test_latest_checkpoint_orders_by_fold_then_epoch(tmp_path):
    for fold, epoch in [(0, 9), (1, 2), (0, 10)]:
        save_checkpoint(checkpoint_path(str(tmp_path), fold, epoch), model={})
    assert latest_checkpoint(str(tmp_path)).endswith("model_1_epoch_2.pth")
    assert latest_checkpoint(str(tmp_path / "empty")) is None
