"""Finding, starting and stopping a local Visdom server, with real servers."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from pynet_cvae.plotting import Board, VisdomServerError, is_visdom_server, start_server
from pynet_cvae.plotting.probe import is_local_host, server_url
from pynet_cvae.plotting.server import server_command

from ..servers import free_port

# The calls below are asked to wait at most 1 s per request; a call that forgot its
# timeout would wait the 30 s a started server is given. The bound sits between, with
# room for a loaded machine.
WITHIN_TIMEOUTS = 20.0


@pytest.mark.parametrize("host", ["localhost", "http://localhost", "127.0.0.1",
                                  "http://127.0.0.1:8097", "::1", "http://[::1]",
                                  "HTTP://LOCALHOST"])
def test_local_hosts_are_recognised(host):
    assert is_local_host(host)


@pytest.mark.parametrize("host", ["http://example.org", "10.0.0.1", "http://127.0.0.2"])
def test_other_hosts_are_remote(host):
    assert not is_local_host(host)


def test_server_url_brackets_ipv6():
    assert server_url("::1", 8097) == "http://[::1]:8097"
    assert server_url("http://localhost", 9) == "http://localhost:9"
    assert server_url("https://example.org/visdom", 80) == "https://example.org:80"


def test_command_is_an_argument_list_bound_to_localhost():
    argv = server_command(8123, env_path="/tmp/envs")
    assert argv[0] == sys.executable
    assert "-bind_local" in argv
    assert argv[argv.index("-port") + 1] == "8123"
    assert argv[argv.index("-env_path") + 1] == "/tmp/envs"


def test_nothing_answers_on_a_free_port():
    started = time.monotonic()
    assert not is_visdom_server("http://localhost", free_port(), timeout=1.0)
    assert time.monotonic() - started < WITHIN_TIMEOUTS


@pytest.mark.visdom
def test_started_server_answers(visdom_server):
    assert visdom_server.running
    assert is_visdom_server("http://127.0.0.1", visdom_server.port)
    assert is_visdom_server("http://localhost", visdom_server.port)
    assert "-bind_local" in visdom_server.process.args


@pytest.mark.visdom
def test_a_running_visdom_port_is_refused(visdom_server):
    with pytest.raises(VisdomServerError, match="already answers"):
        start_server(visdom_server.port)


@pytest.mark.visdom
def test_stop_ends_the_process(env_path):
    server = start_server(free_port(), env_path=env_path)
    server.stop()
    assert server.process.returncode is not None
    assert not is_visdom_server("http://127.0.0.1", server.port)
    assert not os.path.exists(server.log_path)


@pytest.mark.visdom
def test_bogus_argument_error_shows_server_output(env_path):
    with pytest.raises(VisdomServerError) as error:
        start_server(free_port(), env_path=env_path, extra_args=["-bogus_flag"])
    message = str(error.value)
    assert "exited with code 2" in message
    assert "unrecognized arguments: -bogus_flag" in message


@pytest.mark.http
def test_port_busy_with_http_404_is_a_clear_error(http_404_port, env_path):
    assert not is_visdom_server("http://localhost", http_404_port)
    started = time.monotonic()
    with pytest.raises(VisdomServerError, match="not a Visdom server"):
        start_server(http_404_port, env_path=env_path)
    with pytest.raises(VisdomServerError, match=f"port {http_404_port} .* not a Visdom"):
        Board(port=http_404_port, env_path=env_path, timeout=1.0)
    assert time.monotonic() - started < WITHIN_TIMEOUTS


@pytest.mark.parametrize("raw_socket_port", ["garbage"], indirect=True)
def test_port_busy_with_a_program_sending_garbage_is_a_clear_error(raw_socket_port,
                                                                   env_path):
    with pytest.raises(VisdomServerError, match="not a Visdom server"):
        Board(port=raw_socket_port, env_path=env_path, timeout=1.0)
    with pytest.raises(VisdomServerError, match="not a Visdom server"):
        start_server(raw_socket_port, env_path=env_path)


@pytest.mark.parametrize("raw_socket_port", ["silent"], indirect=True)
def test_a_port_that_accepts_but_never_answers_is_one_warning(raw_socket_port, env_path,
                                                              tmp_path):
    # as a frozen Visdom server does: it cannot be told apart from one
    log = tmp_path / "board.jsonl"
    with pytest.warns(RuntimeWarning, match="accepts connections but does not answer "
                                            "within 1 s .* recorded in .*board.jsonl") as record:
        board = Board(port=raw_socket_port, env_path=env_path, timeout=1.0,
                      replay_log=str(log))
    board.update_plots({"loss": 1.0}, 0)
    board.close()
    assert len(record) == 1 and not board.online and board.server is None
    assert len(log.read_text().splitlines()) == 1
    with pytest.raises(VisdomServerError, match="accepts connections but does not answer"):
        start_server(raw_socket_port, env_path=env_path)


_EXITING_SCRIPT = textwrap.dedent("""
    import sys
    from pynet_cvae.plotting import Board
    ours = Board(port=int(sys.argv[1]), env_path=sys.argv[2], env="atexit")
    theirs = Board(port=int(sys.argv[3]), env="atexit")
    assert ours.server is not None and theirs.server is None
    print(ours.server.process.pid, flush=True)
""")


@pytest.mark.visdom
@pytest.mark.subprocess
def test_interpreter_exit_stops_only_servers_it_started(visdom_server, env_path):
    port = free_port()
    command = [sys.executable, "-c", _EXITING_SCRIPT, str(port), env_path,
               str(visdom_server.port)]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=120, env=environment)
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout.split()[-1])
    assert not is_visdom_server("http://127.0.0.1", port)
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
    assert is_visdom_server("http://127.0.0.1", visdom_server.port)


def _is_zombie(pid: int) -> bool:
    """Tell whether a process is a zombie (exited, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
            return stream.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
