# SPDX-License-Identifier: MIT
"""The rule effects discovery needs, on real programs: eof, signal=, the io.lock family, silent
(a peer that never answers, seen through poll/select/epoll and socket timeouts), and --exe.
Each effect is also shown not to fire where its selectors say it must not."""
import json
import socket
import threading
import time

import pytest

from test_inject_control import start  # noqa: F401  (the fixture that runs a live target)

PY = "/usr/bin/python3"


def stats(r):
    """The per-rule counters from --json (the last line of stderr)."""
    return json.loads(r.stderr.strip().splitlines()[-1])["rules"]


@pytest.fixture
def greeter():
    """A TCP server that sends 'hello\\n' to each client, then closes after a moment."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            c.sendall(b"hello\n")
            time.sleep(0.2)
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


# ---- eof ------------------------------------------------------------------------------------


def test_eof_makes_a_read_find_the_end(run, tmp_path):
    (tmp_path / "x").write_text("hello\n")
    r = run("inject", "-q", "--json", "-r", "io.read:path=*/x:eof", "--", "cat", "x")
    assert r.returncode == 0 and r.stdout == ""
    assert stats(r)[0]["injected"] >= 1
    # the same read on another file is left alone
    (tmp_path / "y").write_text("kept\n")
    r = run("inject", "-q", "-r", "io.read:path=*/x:eof", "--", "cat", "y")
    assert r.stdout == "kept\n"


def test_eof_on_a_stream_sets_its_end_flag_not_its_error_flag(run, tmp_path):
    (tmp_path / "x").write_text("one\ntwo\n")
    # GNU sed reads lines with getdelim and reports a read error, but not an end of file
    r = run("inject", "-q", "-r", "getdelim:path=*/x:eof", "--", "sed", "-n", "p", "x")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    r = run("inject", "-q", "-r", "getdelim:path=*/x:errno=EIO", "--", "sed", "-n", "p", "x")
    assert r.returncode != 0 and "error" in r.stderr.lower()


def test_eof_on_a_socket_reads_as_the_peer_closing(run, greeter):
    code = (f"import socket; c=socket.create_connection(('127.0.0.1',{greeter}),timeout=5); "
            "print(repr(c.recv(100)))")
    assert run("inject", "-q", "-r", "net.recv:eof", "--", PY, "-c", code).stdout == "b''\n"
    assert run("inject", "-q", "--", PY, "-c", code).stdout == "b'hello\\n'\n"


# ---- signal= --------------------------------------------------------------------------------


def test_signal_before_the_call_kills_before_it_writes(run, tmp_path):
    r = run("inject", "-q", "-r", "write:path=*/out:signal=SIGKILL", "--",
            "sh", "-c", "echo hi > out")
    assert r.returncode == 137 and "SIGKILL" in r.stderr
    assert (tmp_path / "out").read_text() == ""


def test_signal_after_the_call_kills_once_it_wrote(run, tmp_path):
    r = run("inject", "-q", "-r", "write:path=*/out:signal=SIGKILL@after", "--",
            "sh", "-c", "echo hi > out; echo more >> out")
    assert r.returncode == 137
    assert (tmp_path / "out").read_text() == "hi\n"


def test_a_handled_signal_lets_the_program_go_on(run, tmp_path):
    (tmp_path / "x").write_text("data\n")
    code = ("import signal; signal.signal(signal.SIGTERM, lambda *a: print('term')); "
            "print(open('x').read().strip())")
    r = run("inject", "-q", "-r", "read:path=*/x:signal=SIGTERM", "--", PY, "-c", code)
    assert r.returncode == 0 and r.stdout.split() == ["term", "data"]
    # unhandled, the same signal ends it as a shell reports
    r = run("inject", "-q", "-r", "read:path=*/x:signal=TERM", "--", PY, "-c",
            "print(open('x').read())")
    assert r.returncode == 143


@pytest.mark.parametrize("rule, words", [
    ("write:signal=SIGSTOP", "not SIGSTOP"),
    ("write:signal=SIGNOPE", "not a signal faultline can send"),
    ("write:signal=KILL@later", "'@before' or '@after'"),
    ("malloc:signal=KILL@after", "does not apply to 'malloc'"),
    ("write:signal=", "needs a value"),
])
def test_bad_signals_are_refused_with_the_place(run, rule, words):
    r = run("inject", "-r", rule, "--", "true")
    assert r.returncode == 2 and words in r.stderr and "col " in r.stderr


# ---- io.lock --------------------------------------------------------------------------------


LOCKS = """
import fcntl, sys
f = open('lockfile', 'w')
for name, take in [('flock', lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)),
                   ('lockf', lambda: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB))]:
    try:
        take(); print(name, 'taken')
    except OSError as e:
        print(name, e.errno)
fcntl.flock(f, fcntl.LOCK_UN); fcntl.lockf(f, fcntl.LOCK_UN); print('unlocked')
"""


def test_io_lock_reports_the_lock_held_elsewhere(run):
    r = run("inject", "-q", "-r", "io.lock:errno=EAGAIN", "--", PY, "-c", LOCKS)
    assert r.stdout.split("\n")[:3] == ["flock 11", "lockf 11", "unlocked"]
    r = run("inject", "-q", "-r", "io.lock:path=*/other:errno=EAGAIN", "--", PY, "-c", LOCKS)
    assert r.stdout.split("\n")[:3] == ["flock taken", "lockf taken", "unlocked"]


def test_sqlite_meets_a_locked_database(run, tmp_path):
    sql = ["sqlite3", "db", "create table if not exists t(x); insert into t values (1);"]
    r = run("inject", "-q", "--json", "-r", "fcntl:path=*/db:errno=EAGAIN", "--", *sql)
    assert r.returncode != 0 and "locked" in r.stderr
    assert stats(r)[0]["injected"] >= 1
    r = run("inject", "-q", "--", *sql)
    assert r.returncode == 0


# ---- silent ---------------------------------------------------------------------------------


CLIENT = """
import socket, struct, sys, time, select
port, how = int(sys.argv[1]), sys.argv[2]
t = time.monotonic()
try:
    if how == 'timeout':
        c = socket.create_connection(('127.0.0.1', port), timeout=1); print(c.recv(100))
    elif how == 'rcvtimeo':
        c = socket.create_connection(('127.0.0.1', port))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 1, 0))
        print(c.recv(100))
    elif how == 'select':
        c = socket.create_connection(('127.0.0.1', port))
        print(select.select([c], [], [], 1)[0] == [])
    elif how == 'epoll':
        c = socket.create_connection(('127.0.0.1', port))
        ep = select.epoll(); ep.register(c.fileno(), select.EPOLLIN); print(ep.poll(1) == [])
    elif how == 'asyncio':
        import asyncio
        async def main():
            r, w = await asyncio.open_connection('127.0.0.1', port)
            print(await asyncio.wait_for(r.read(100), 1))
        asyncio.run(main())
    elif how == 'sndtimeo':
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 1, 0))
        c.connect(('127.0.0.1', port)); print('connected')
    else:
        c = socket.create_connection(('127.0.0.1', port)); print(c.recv(100))
except Exception as e:
    print(type(e).__name__, e.errno or "")
print('%.2f' % (time.monotonic() - t))
"""


def client(run, port, how, *rules, timeout=30):
    args = ["inject", "-q"]
    for r in rules:
        args += ["-r", r]
    r = run(*args, "--", PY, "-c", CLIENT, port, how, timeout=timeout)
    lines = r.stdout.split("\n")
    return lines[0], float(lines[1]) if len(lines) > 1 and lines[1] else None, r


@pytest.mark.parametrize("how, outcome", [
    ("timeout", "TimeoutError "),        # poll() with the socket's timeout
    ("rcvtimeo", "BlockingIOError 11"),  # a blocking recv with SO_RCVTIMEO: EAGAIN
    ("select", "True"),                  # select reports nothing readable
    ("epoll", "True"),                   # epoll neither
    ("asyncio", "TimeoutError "),        # an event loop waiting on it
])
def test_a_silent_peer_is_never_readable_and_waits_end_at_their_timeout(run, greeter, how,
                                                                         outcome):
    first, took, _ = client(run, greeter, how, "net.recv:silent")
    assert first == outcome
    assert took >= 0.9  # it waited its own timeout, not less
    first, _, _ = client(run, greeter, how)
    assert first in ("b'hello\\n'", "False")  # and without the rule the data is there


def test_a_blocking_receive_from_a_silent_peer_hangs(run, greeter):
    r = run("inject", "-q", "--timeout", "1s", "-r", "net.recv:silent", "--", PY, "-c", CLIENT,
            greeter, "blocking")
    assert r.returncode == 124


def test_silence_is_per_connection_and_counted(run, greeter):
    code = (f"import socket\nfor i in range(3):\n"
            f"    c = socket.create_connection(('127.0.0.1', {greeter}), timeout=1)\n"
            f"    try: print(c.recv(100))\n    except OSError as e: print(type(e).__name__)\n"
            f"    c.close()\n")
    r = run("inject", "-q", "--json", "-r", "net.recv:silent:nth=2", "--", PY, "-c", code)
    assert r.stdout.split() == ["b'hello\\n'", "TimeoutError", "b'hello\\n'"]
    assert stats(r)[0]["injected"] == 1
    # a silent rule for another port leaves this one speaking
    r = run("inject", "-q", "-r", "net.recv:port=1:silent", "--", PY, "-c", code)
    assert r.stdout.split() == ["b'hello\\n'"] * 3


def test_switching_silence_off_lets_the_data_through(start, run, greeter, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "net.recv:silent:id=mute", "--", PY, "-c",
              CLIENT, greeter, "blocking")
    time.sleep(0.5)  # the outcome does not depend on it: the receive waits for the switch
    assert run("ctl", ctl, "off", "mute").returncode == 0
    t.expect("b'hello\\n'")
    t.wait()


def test_a_silent_connect_never_completes(run, greeter):
    first, took, _ = client(run, greeter, "timeout", "net.connect:silent")
    assert first == "TimeoutError " and took >= 0.9
    # a blocking connect with SO_SNDTIMEO gives up with EINPROGRESS, as Linux's does
    first, took, _ = client(run, greeter, "sndtimeo", "net.connect:silent")
    assert first == "BlockingIOError 115" and took >= 0.9
    r = run("inject", "-q", "-r", "net.connect:silent", "--", "curl", "-sS", "--connect-timeout",
            "1", f"http://127.0.0.1:{greeter}/")
    assert r.returncode == 28


def test_silent_is_refused_where_it_has_no_meaning(run):
    r = run("inject", "-r", "write:silent", "--", "true")
    assert r.returncode == 2 and "'silent' does not apply to 'write'" in r.stderr
    r = run("inject", "-r", "read:kind=file:silent", "--", "true")
    assert r.returncode == 2 and "sockets" in r.stderr


# ---- --exe ----------------------------------------------------------------------------------


def test_exe_confines_faults_to_the_matching_program(run, tmp_path):
    (tmp_path / "x").write_text("hello\n")
    rule = ["-r", "io.read:path=*/x:errno=EIO"]
    # the shell around cat is not cat: only cat fails
    r = run("inject", "-q", "--json", "--exe", "cat", *rule, "--", "sh", "-c", "cat x; echo $?")
    assert r.stdout.strip().endswith("1") and "Input/output error" in r.stderr
    # a glob that matches nothing faults nothing, and says so
    r = run("inject", "-q", "--exe", "nomatch*", *rule, "--", "sh", "-c", "cat x")
    assert r.stdout == "hello\n" and "no process whose executable matches" in r.stderr
    # a path glob works on the whole path
    r = run("inject", "-q", "--exe", "*/bin/cat", *rule, "--", "sh", "-c", "cat x")
    assert r.returncode != 0


def test_exe_needs_a_glob(run):
    r = run("inject", "--exe", "", "-r", "write:errno=EIO", "--", "true")
    assert r.returncode == 2 and "--exe" in r.stderr
