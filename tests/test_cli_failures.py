"""What the user sees when a command fails: one line, never a traceback.

The failures are real: signals sent to a running ``pynet-cvae`` process, a full or
read-only file system (a tmpfs mounted for the test, see :mod:`tests.filesystems`),
an address-space limit set with ``setrlimit`` in the child, arguments a user may
mistype. The commands run as the console script the user runs, and every line they
print on stderr is checked.
"""

import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pynet_cvae.checkpoint import load_checkpoint
from pynet_cvae.cli import main

from .filesystems import fill_up, mounted_tmpfs, remount_read_only
from .servers import free_port

SMALL = ["--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
         "--model.hidden_dim", "32"]
"""A small model: the failures, not the training, are under test."""


def console_script():
    executable = shutil.which("pynet-cvae", path=os.path.dirname(sys.executable))
    assert executable, "the pynet-cvae console script is not installed beside python"
    return executable


def user_environment(tmp_path):
    """The child's environment, its home (data and Visdom folders) in ``tmp_path``."""
    return dict(os.environ, HOME=str(tmp_path / "home"))


def restore_stop_signals():
    """A shell's background job ignores SIGINT, and children inherit it: restore it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(tmp_path, *arguments, limit_address_space=None, timeout=600):
    """Run ``pynet-cvae ARGUMENTS``; return the finished process."""
    def prepare():
        restore_stop_signals()
        if limit_address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_address_space,) * 2)
    return subprocess.run([console_script(), *arguments], capture_output=True, text=True,
                          timeout=timeout, env=user_environment(tmp_path),
                          preexec_fn=prepare, stdin=subprocess.DEVNULL)


def one_line(stderr):
    """The single line of ``stderr`` (the test fails on anything more)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pynet-cvae"), stderr[-3000:]
    return lines[0]


def no_temporary_files(folder):
    return [name for _, _, names in os.walk(folder) for name in names
            if name.endswith(".part")] == []


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A small model trained for one epoch (its output folder)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--output", str(run), "--quiet"]) == 0
    return run


# ------------------------------------------------------------------ arguments
def test_importing_the_command_line_loads_no_numerical_library():
    # so that the address-space limit is read before OpenBLAS starts its threads
    code = ("import sys, pynet_cvae.cli; "
            "print(sorted({'numpy', 'scipy', 'torch'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("arguments, message", [
    (["evaluate", "--checkpoint", "run", "--seed", "-1"],
     "pynet-cvae evaluate: error: argument --seed: expected an integer in [0, 4294967295], "
     "got -1 (see pynet-cvae evaluate --help)"),
    (["sample", "--checkpoint", "run", "--out", "x.png", "--seed", "4294967296"],
     "argument --seed: expected an integer in [0, 4294967295], got 4294967296"),
    (["sample", "--checkpoint", "run", "--out", "x.png", "--acceptance-threshold", "1"],
     "argument --acceptance-threshold: expected a number in [0, 1), got 1"),
    (["train", "--learning-rate", "inf"],
     "pynet-cvae train: error: --learning_rate: expected a finite number, got inf"),
    (["train", "--learning-rate", "nan"], "--learning_rate: expected a finite number, got nan"),
    (["train", "--model.classification-weight=-inf"],
     "--model.classification_weight: expected a finite number, got -inf"),
    (["train", "--recipe", "tutorial", "--classification-weight", "-1"],
     "--classification_weight: expected a finite number >= 0, got -1.0"),
    (["train", "--model.classification_weight", "-1"],
     "--model.classification_weight must be a finite number >= 0, got -1.0"),
    (["train", "--kl-warmup", "-2"], "--kl_warmup: expected an integer >= 0, got -2"),
    (["train", "--model.classifier_average", "1"],
     "--model.classifier_average must lie in [0, 1), got 1.0"),
    (["board", "serve", "--port", "70000"],
     "argument --port: expected a port in [1, 65535], got 70000"),
    (["evaluate", "--checkpoint", "run", "--iw-samples", "-5"],
     "argument --iw-samples: expected an integer >= 0, got -5"),
])
def test_a_bad_argument_is_one_line_naming_the_option(capsys, arguments, message):
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    assert stopped.value.code == 2
    assert message in one_line(capsys.readouterr().err)


def test_a_huge_sample_scale_is_refused_before_allocating(trained_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    code = main(["sample", "--checkpoint", str(trained_run), "--out", str(out), "--scale",
                 "3000"])
    assert code == 1 and not out.exists()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == ("pynet-cvae: error: scale 3000 makes a 219000 x 273000 pixel image "
                    "(59,787 megapixels): expected at most 25 megapixels; lower the scale "
                    "(at most 61 for this grid)")


def test_checkpoints_being_a_file_is_one_line(tmp_path, capsys):
    output = tmp_path / "run"
    output.mkdir()
    (output / "checkpoints").write_text("not a folder")
    assert main(["train", *SMALL, "--epochs", "1", "--output", str(output), "--quiet"]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"pynet-cvae: error: --output '{output}' holds another run: pass --resume to "
        "continue it, --overwrite to replace it, or choose a new --output")
    assert (output / "checkpoints").read_text() == "not a folder"


def test_checkpoints_being_a_file_at_resume_is_one_line(trained_run, tmp_path, capsys):
    run = shutil.copytree(trained_run, tmp_path / "run")
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").write_text("not a folder")
    assert main(["train", *SMALL, "--epochs", "2", "--output", str(run), "--quiet",
                 "--resume"]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"pynet-cvae: error: '{run}/checkpoints' exists and is not a folder: move it away "
        "or write elsewhere")
    assert (run / "checkpoints").read_text() == "not a folder"


# ------------------------------------------------------------------ signals
@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize("stop_signal, named, status", [
    (signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)])
def test_a_stopped_training_keeps_its_epochs_and_says_how_to_resume(tmp_path, stop_signal,
                                                                    named, status):
    output = tmp_path / "run"
    process = subprocess.Popen(
        [console_script(), "train", *SMALL, "--epochs", "1000", "--output", str(output),
         "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=user_environment(tmp_path), preexec_fn=restore_stop_signals)
    try:
        deadline = time.monotonic() + 300
        while not (output / "checkpoints" / "model_0_epoch_1.pth").exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no epoch completed"
            time.sleep(0.1)
        process.send_signal(stop_signal)  # in the middle of an epoch, most likely
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == status
    line = one_line(stderr)
    match = re.fullmatch(rf"pynet-cvae: stopped by {named}: the completed epochs are saved "
                         r"up to (\S+model_0_epoch_(\d+)\.pth); continue with: (.+)", line)
    assert match, line
    checkpoint, last_epoch, resume = match[1], int(match[2]), shlex.split(match[3])
    assert load_checkpoint(checkpoint)["epoch"] == last_epoch >= 1
    assert no_temporary_files(output)
    assert resume == ["pynet-cvae", "train", *SMALL, "--epochs", "1000", "--output",
                      str(output), "--quiet", "--resume"]
    resume[resume.index("--epochs") + 1] = str(last_epoch + 2)
    assert main(resume[1:]) == 0
    assert load_checkpoint(str(output / "checkpoints" / f"model_0_epoch_{last_epoch + 1}.pth"))


# ------------------------------------------------------------------ file systems
@pytest.mark.subprocess
def test_a_full_disk_at_resume_is_one_line_and_keeps_the_checkpoints(trained_run, tmp_path):
    with mounted_tmpfs(str(tmp_path / "small"), size="3m") as mountpoint:
        run = shutil.copytree(trained_run, os.path.join(mountpoint, "run"))
        fill_up(mountpoint)
        result = run_cli(tmp_path, "train", *SMALL, "--epochs", "3", "--output", run,
                         "--quiet", "--resume")
        assert result.returncode == 1
        assert re.fullmatch(r"pynet-cvae: error: No space left on device: '"
                            + re.escape(run) + r"/\S+' \(the disk is full: free some space "
                            r"or write elsewhere\)", one_line(result.stderr))
        assert load_checkpoint(os.path.join(run, "checkpoints", "model_0_epoch_0.pth"))
        assert no_temporary_files(run)


@pytest.mark.subprocess
@pytest.mark.visdom
@pytest.mark.slow
def test_a_full_disk_with_the_board_is_one_line_and_leaves_no_empty_log(tmp_path):
    with mounted_tmpfs(str(tmp_path / "small"), size="3m") as mountpoint:
        fill_up(mountpoint)
        run = os.path.join(mountpoint, "run")
        result = run_cli(tmp_path, "train", *SMALL, "--epochs", "2", "--board", "--port",
                         str(free_port()), "--output", run, "--quiet")
        assert result.returncode == 1
        # the run's record (run.json) is the first file written: nothing else starts
        assert result.stderr.splitlines() == [
            f"pynet-cvae: error: No space left on device: '{run}/run.json' (the disk is "
            "full: free some space or write elsewhere)"]
        assert not os.path.exists(os.path.join(run, "board.jsonl"))
        assert no_temporary_files(run)


@pytest.mark.subprocess
def test_a_read_only_output_is_one_line(trained_run, tmp_path):
    with mounted_tmpfs(str(tmp_path / "small"), size="3m") as mountpoint:
        run = shutil.copytree(trained_run, os.path.join(mountpoint, "run"))
        remount_read_only(mountpoint)
        new = run_cli(tmp_path, "train", *SMALL, "--epochs", "1", "--output",
                      os.path.join(mountpoint, "new"), "--quiet")
        resumed = run_cli(tmp_path, "train", *SMALL, "--epochs", "2", "--output", run,
                          "--quiet", "--resume")
    assert new.returncode == resumed.returncode == 1
    hint = "(the file system is read-only: write elsewhere)"
    assert one_line(new.stderr) == (
        f"pynet-cvae: error: Read-only file system: '{mountpoint}/new' {hint}")
    assert re.fullmatch(r"pynet-cvae: error: Read-only file system: '" + re.escape(run)
                        + r"/\S+' " + re.escape(hint), one_line(resumed.stderr))


# ------------------------------------------------------------------ memory
@pytest.mark.subprocess
@pytest.mark.parametrize("kibibytes", [600_000, 700_000, 900_000])
def test_a_small_address_space_is_one_line_not_a_hang(tmp_path, kibibytes):
    result = run_cli(tmp_path, "train", "--epochs", "1", "--output", str(tmp_path / "run"),
                     limit_address_space=kibibytes * 1024, timeout=120)
    assert result.returncode == 1
    assert one_line(result.stderr) == (
        f"pynet-cvae: error: the address-space limit (ulimit -v) is {kibibytes / 1024:.0f} "
        "MiB, but loading PyTorch, NumPy and SciPy needs at least 1024 MiB: raise it (e.g. "
        "ulimit -v 2097152, or ulimit -v unlimited)")


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_limit_just_above_the_minimum_runs_or_is_one_line(tmp_path):
    result = run_cli(tmp_path, "train", *SMALL, "--epochs", "1", "--output",
                     str(tmp_path / "run"), "--quiet", limit_address_space=1025 * 2 ** 20,
                     timeout=300)
    if result.returncode != 0:
        assert result.returncode == 1
        assert re.fullmatch(r"pynet-cvae: error: (out of memory|cannot load a library): .*"
                            r"\(the address-space limit, ulimit -v, is 1025 MiB: raise it or "
                            r"lower the batch size\)", one_line(result.stderr))
