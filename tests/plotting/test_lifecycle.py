"""A started Visdom server lives and dies with its owner; a frozen one is one warning.

Real ``pynet-cvae`` processes, real Visdom servers, real signals: SIGTERM (what a
scheduler sends), SIGKILL (what it sends after its grace period, and what the
out-of-memory killer sends), SIGSTOP (a frozen server).
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pynet_cvae.plotting import is_visdom_server, read_replay_log
from pynet_cvae.plotting.server import start_server

from ..servers import free_port

pytestmark = [pytest.mark.visdom, pytest.mark.subprocess, pytest.mark.slow]

TRAIN = ["train", "--model.encoder", "DenseTrunk", "--model.decoder", "DenseDecoder",
         "--model.hidden_dim", "32"]


def command(*arguments):
    return [sys.executable, "-m", "pynet_cvae.cli", *arguments]


def environment(tmp_path):
    """The child's environment: its home (Visdom's default env folder) in tmp_path."""
    return dict(os.environ, HOME=str(tmp_path / "home"))


def wait_for(condition, what, timeout=180.0):
    """Poll ``condition`` until it holds (bounded: a hang fails the test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def children(pid):
    """The pids of the live processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    fields = stream.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def is_alive(pid):
    """Whether ``pid`` runs (a zombie waiting for a parent that never reaps is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listens(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def the_server_of(process, port):
    """Wait until ``process`` has started a Visdom server on ``port``; its pid."""
    wait_for(lambda: process.poll() is not None or is_visdom_server("http://127.0.0.1", port),
             "the Visdom server")
    assert process.poll() is None, process.communicate()[1]
    servers = [pid for pid in children(process.pid) if is_alive(pid)]
    assert len(servers) == 1, servers
    return servers[0]


def assert_stopped(server_pid, port):
    wait_for(lambda: not is_alive(server_pid) and not listens(port),
             "the server to stop with its owner", timeout=60.0)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL])
def test_a_server_started_by_train_dies_with_it(tmp_path, stop_signal):
    port, output = free_port(), tmp_path / "run"
    process = subprocess.Popen(
        command(*TRAIN, "--epochs", "1000", "--board", "--port", str(port), "--output",
                str(output), "--quiet"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(tmp_path))
    try:
        server_pid = the_server_of(process, port)
        wait_for(lambda: (output / "checkpoints" / "model_0_epoch_0.pth").exists(),
                 "the first epoch")
        process.send_signal(stop_signal)
        _, error = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert_stopped(server_pid, port)
    if stop_signal == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        assert error.strip().splitlines()[-1].startswith(
            "pynet-cvae: stopped by SIGTERM: the completed epochs are saved up to ")
    assert read_replay_log(str(output / "board.jsonl"))  # the run so far is recorded


def test_a_server_started_by_board_serve_dies_with_it_even_when_killed(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        command("board", "serve", "--port", str(port), "--env-path", str(tmp_path / "envs")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(tmp_path))
    try:
        server_pid = the_server_of(process, port)
        process.kill()
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert_stopped(server_pid, port)


def test_a_frozen_server_is_one_warning_and_training_goes_on(tmp_path):
    server = start_server(free_port(), env_path=str(tmp_path / "envs"), timeout=120)
    os.kill(server.process.pid, signal.SIGSTOP)
    output = tmp_path / "run"
    try:
        result = subprocess.run(
            command(*TRAIN, "--epochs", "2", "--board", "--port", str(server.port),
                    "--output", str(output), "--quiet"),
            capture_output=True, text=True, timeout=600, env=environment(tmp_path))
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"pynet-cvae: warning: the Visdom server at http://localhost:{server.port} accepts "
        "connections but does not answer within 5 s (frozen or overloaded?); board updates "
        f"will not be shown; they are recorded in {output / 'board.jsonl'} (pynet-cvae "
        "board replay shows them later)"]
    assert (output / "checkpoints" / "model_0_epoch_1.pth").exists()
    losses = [message for endpoint, message in read_replay_log(str(output / "board.jsonl"))
              if message["win"] == "loss"]
    assert len(losses) == 4  # two epochs, training and validation
