import os

import pytest

from pynet_cvae.fileio import atomic_open, atomic_path, atomic_write_text


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and temporary != target
        temporary.write_text("done")
    assert target.read_text() == "done"
    assert os.listdir(target.parent) == ["file.txt"]
    assert (target.stat().st_mode & 0o777) == (0o666 & ~_umask())


def test_atomic_path_keeps_nothing_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise KeyError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


def test_atomic_open_and_write_text(tmp_path):
    target = tmp_path / "notes.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w", encoding="utf-8") as stream:
            stream.write("second, half-written")
            raise RuntimeError("disk full")
    assert target.read_text() == "first"
    assert os.listdir(tmp_path) == ["notes.txt"]


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def test_a_signal_while_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """SIGTERM right after the temporary file exists (the window before the writer
    can remove it) is held back to where the writer cleans up."""
    import signal

    from pynet_cvae import fileio
    from pynet_cvae.commands.stopping import Interrupted, stopping_cleanly

    create = fileio._create_temporary

    def created_then_signalled(final):
        made = create(final)
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before this returns
        return made

    monkeypatch.setattr(fileio, "_create_temporary", created_then_signalled)
    with stopping_cleanly(), pytest.raises(Interrupted, match="SIGTERM"):
        with fileio.atomic_open(tmp_path / "out.txt", "w") as stream:
            stream.write("never")
    assert os.listdir(tmp_path) == []


def test_an_interruption_is_held_back_to_the_end_of_the_block_only():
    from pynet_cvae.fileio import hold_back, uninterrupted

    assert hold_back(KeyboardInterrupt("outside")) is False  # the handler raises
    steps = []
    with pytest.raises(KeyboardInterrupt, match="held"):
        with uninterrupted():
            assert hold_back(KeyboardInterrupt("held")) is True
            steps.append("the block goes on")
    assert steps == ["the block goes on"]
