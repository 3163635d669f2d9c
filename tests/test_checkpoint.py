import errno
import logging
import os
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from pynet_cvae.checkpoint import (
    CHECKPOINT_FORMAT_VERSION, CheckpointError, CheckpointWriteError, CorruptCheckpointError,
    UnsafeCheckpointError, checkpoint_path, checksum_path, last_good_checkpoint,
    latest_checkpoint, load_checkpoint, prune_checkpoints, remove_partial_files,
    save_checkpoint, verify_checksum)

from .filesystems import mounted_tmpfs


def test_save_and_load_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_checkpoint(checkpoint_path(str(tmp_path), 0, 4), model=model.state_dict(),
                           fold=0, epoch=4)
    assert os.path.basename(path) == "model_0_epoch_4.pth"
    content = load_checkpoint(path)
    assert content["epoch"] == 4 and content["format_version"] == CHECKPOINT_FORMAT_VERSION
    assert torch.equal(content["model"]["weight"], model.weight.detach())
    assert sorted(os.listdir(tmp_path)) == ["model_0_epoch_4.pth", "model_0_epoch_4.pth.sha256"]


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


# ---------------------------------------------------------------- verification
def test_the_sha256_file_is_in_sha256sum_format(tmp_path):
    path = save_checkpoint(str(tmp_path / "model_0_epoch_0.pth"), model={"w": torch.ones(3)})
    result = subprocess.run(["sha256sum", "-c", os.path.basename(checksum_path(path))],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "model_0_epoch_0.pth: OK" in result.stdout
    assert verify_checksum(path) is True


def test_a_flipped_bit_is_detected_by_the_sha256(tmp_path):
    path = save_checkpoint(str(tmp_path / "model_0_epoch_0.pth"),
                           model=torch.nn.Linear(20, 20).state_dict())
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x10  # torch.load alone would load it, with a wrong weight
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptCheckpointError,
                       match="is truncated or corrupted: its SHA-256 is [0-9a-f]{64}, "
                             "model_0_epoch_0.pth.sha256 records [0-9a-f]{64}"):
        load_checkpoint(path)


def flip_a_bit_of_the_largest_tensor(path):
    """Flip one bit inside a tensor's bytes (the zip record stays readable)."""
    with zipfile.ZipFile(path) as archive:
        record = max((info for info in archive.infolist() if "/data/" in info.filename
                      and not info.filename.endswith(".pkl")), key=lambda info: info.file_size)
    with open(path, "r+b") as stream:
        stream.seek(record.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", stream.read(4))
        stream.seek(record.header_offset + 30 + name_length + extra_length + 17)
        byte = stream.read(1)[0]
        stream.seek(-1, os.SEEK_CUR)
        stream.write(bytes([byte ^ 0x10]))


def test_a_flipped_bit_without_its_sha256_is_detected_by_the_digest_inside(tmp_path):
    path = save_checkpoint(str(tmp_path / "model_0_epoch_0.pth"),
                           model=torch.nn.Linear(20, 20).state_dict())
    os.remove(checksum_path(path))  # e.g. a checkpoint copied without its .sha256
    assert load_checkpoint(path)["model"]["weight"].shape == (20, 20)
    flip_a_bit_of_the_largest_tensor(path)
    assert torch.load(path, weights_only=True)["model"]["weight"].shape == (20, 20)
    with pytest.raises(CorruptCheckpointError,
                       match=r"is corrupted: the digest of its content is [0-9a-f]{64}, the "
                             r"file records [0-9a-f]{64} \(and model_0_epoch_0.pth.sha256 is "
                             r"missing\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [
    {"format_version": 2, "model": {"w": torch.ones(2)}},  # before the digest
    {"w": torch.ones(2)},  # torch.save(model.state_dict(), path)
])
def test_a_checkpoint_that_cannot_be_checked_loads_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "old.pth"
    torch.save(content, path)
    with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
        assert torch.equal(load_checkpoint(str(path))["model"]["w"], torch.ones(2))
    assert [record.getMessage() for record in caplog.records] == [
        f"checkpoint {str(path)!r} has no SHA-256 (no old.pth.sha256 file beside it, no "
        "digest inside): its integrity cannot be checked"]


def test_a_checked_checkpoint_loads_without_a_warning(tmp_path, caplog):
    path = save_checkpoint(str(tmp_path / "model_0_epoch_0.pth"), model={"w": torch.ones(2)})
    with caplog.at_level(logging.WARNING, logger="pynet_cvae"):
        load_checkpoint(path)
        os.remove(checksum_path(path))
        load_checkpoint(path)
    assert caplog.records == []


class _RunsAShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_refused_pickle_names_the_global_not_torch_advice(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.ones(1)}, "hook": _RunsAShell(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as refused:
        load_checkpoint(str(path))
    message = str(refused.value)
    assert message == (f"refusing to load {str(path)!r}: it refers to {os.name}.system, which "
                       "is not a tensor nor plain data and could run code when unpickled; "
                       "nothing in it was run")
    assert not marker.exists()
    assert not re.search("weights_only|Re-running", message)


def test_garbage_and_empty_files_are_corrupt_not_unsafe(tmp_path):
    for name, content in (("text.pth", b"hello world"), ("empty.pth", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CorruptCheckpointError, match="truncated or corrupted"):
            load_checkpoint(str(tmp_path / name))


def test_only_plain_data_is_saved(tmp_path):
    path = str(tmp_path / "model_0_epoch_0.pth")
    with pytest.raises(TypeError, match="checkpoint\\['observers'\\]\\['best'\\] is a "
                                        "numpy.ndarray: checkpoints hold only tensors"):
        save_checkpoint(path, model={}, observers={"best": np.zeros(2)})
    with pytest.raises(TypeError, match="checkpoint\\['scheduler'\\]\\['fn'\\] is a "
                                        "builtins.function"):
        save_checkpoint(path, model={}, scheduler={"fn": lambda epoch: 1.0})
    assert not os.path.exists(path)
    save_checkpoint(path, model={"w": torch.zeros(1)}, meta=[1, 2.5, "a", None, (True,)],
                    dtype=torch.float32)
    assert load_checkpoint(path)["meta"] == [1, 2.5, "a", None, (True,)]


def test_keep_last_removes_the_oldest_checkpoints_and_their_sha256(tmp_path):
    for fold, epoch in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        save_checkpoint(checkpoint_path(str(tmp_path), fold, epoch), model={})
    save_checkpoint(str(tmp_path / "initial_state.pth"), model={})
    removed = prune_checkpoints(str(tmp_path), keep_last=2)
    assert [os.path.basename(path) for path in removed] == ["model_0_epoch_0.pth",
                                                            "model_0_epoch_1.pth"]
    assert sorted(os.listdir(tmp_path)) == [
        "initial_state.pth", "initial_state.pth.sha256", "model_0_epoch_2.pth",
        "model_0_epoch_2.pth.sha256", "model_1_epoch_0.pth", "model_1_epoch_0.pth.sha256"]
    with pytest.raises(ValueError, match="keep_last must be an integer >= 1, got 0"):
        prune_checkpoints(str(tmp_path), keep_last=0)


def test_last_good_checkpoint_skips_damaged_ones_but_never_unsafe_ones(tmp_path):
    for epoch in range(3):
        save_checkpoint(checkpoint_path(str(tmp_path), 0, epoch), model={}, optimizer={},
                        fold=0, epoch=epoch)
    with open(checkpoint_path(str(tmp_path), 0, 2), "r+b") as stream:
        stream.truncate(50)
    path, content = last_good_checkpoint(str(tmp_path))
    assert path.endswith("model_0_epoch_1.pth") and content["epoch"] == 1
    marker = tmp_path / "pwned"
    torch.save({"model": _Payload(str(marker))}, checkpoint_path(str(tmp_path), 0, 3))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load .*model_0_epoch_3.pth"):
        last_good_checkpoint(str(tmp_path))
    assert not marker.exists()
    assert last_good_checkpoint(str(tmp_path / "empty")) is None


def test_temporary_files_of_a_killed_save_are_removed(tmp_path):
    (tmp_path / ".model_0_epoch_0.pth.0123456789ab.part").write_bytes(b"half")
    save_checkpoint(checkpoint_path(str(tmp_path), 0, 0), model={})
    assert len(remove_partial_files(str(tmp_path))) == 1
    assert sorted(os.listdir(tmp_path)) == ["model_0_epoch_0.pth", "model_0_epoch_0.pth.sha256"]


# ---------------------------------------------------------------- full disks
def _save_twice(directory):
    """Save a small checkpoint, then one too large for the disk."""
    save_checkpoint(checkpoint_path(directory, 0, 0), model={"w": torch.zeros(10)})
    save_checkpoint(checkpoint_path(directory, 0, 1), model={"w": torch.zeros(1_000_000)})


def _assert_previous_kept(directory):
    assert sorted(os.listdir(directory)) == ["model_0_epoch_0.pth",
                                             "model_0_epoch_0.pth.sha256"]
    assert load_checkpoint(checkpoint_path(directory, 0, 0))["model"]["w"].shape == (10,)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 256 KiB tmpfs (needs root and mount; skipped elsewhere)."""
    with mounted_tmpfs(str(tmp_path / "small")) as mountpoint:
        yield mountpoint


def test_a_full_disk_fails_the_save_clearly_and_keeps_the_previous_checkpoint(small_tmpfs):
    with pytest.raises(CheckpointWriteError,
                       match="cannot write checkpoint .*model_0_epoch_1.pth.*No space left "
                             "on device; the previous checkpoints are kept") as error:
        _save_twice(small_tmpfs)
    assert error.value.errno == errno.ENOSPC
    _assert_previous_kept(small_tmpfs)


FILE_SIZE_LIMIT_SCRIPT = """
import resource, signal, sys
from tests.test_checkpoint import _save_twice
from pynet_cvae.checkpoint import CheckpointWriteError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    _save_twice(sys.argv[1])
except CheckpointWriteError as error:
    print(error.errno, error)
"""


@pytest.mark.subprocess
def test_a_file_size_limit_fails_the_save_clearly_and_keeps_the_previous_one(tmp_path):
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT_SCRIPT, str(tmp_path)],
                            cwd=repository, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{errno.EFBIG} [Errno {errno.EFBIG}] cannot write "
                                    "checkpoint"), result.stdout
    assert "File too large; the previous checkpoints are kept" in result.stdout
    _assert_previous_kept(str(tmp_path))


def install_requirements():
    """The requirements ``setup.py`` gives pip (read from its source, not run)."""
    import ast

    from packaging.requirements import Requirement

    source = open(os.path.join(os.path.dirname(__file__), "..", "setup.py")).read()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "INSTALL_REQUIRES":
            return {requirement.name: requirement for requirement in
                    map(Requirement, ast.literal_eval(node.value))}
    raise AssertionError("no INSTALL_REQUIRES in setup.py")


def test_pip_refuses_a_torch_whose_weights_only_loading_can_run_code():
    # torch <= 2.5.1 has a published weights_only bypass (CVE-2025-32434)
    torch_requirement = install_requirements()["torch"]
    assert not torch_requirement.specifier.contains("2.5.1")
    assert torch_requirement.specifier.contains("2.6.0")
    assert torch_requirement.specifier.contains(torch.__version__.split("+")[0])
