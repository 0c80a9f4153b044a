# SPDX-License-Identifier: MIT
"""Integration tests: `faultline inject` against real, unmodified programs.

dash, coreutils, Python, sqlite3 and a real TCP client/server pair are run under the preload;
the tests assert on what those programs report and on what is left on disk. A test whose tool
is missing is skipped with the reason.
"""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

PY = "/usr/bin/python3"


def need(tool):
    path = shutil.which(tool) if "/" not in tool else (tool if os.access(tool, os.X_OK) else None)
    if not path:
        pytest.skip(f"{tool} is not installed")
    return path


def json_stats(cp):
    return json.loads(cp.stderr.strip().splitlines()[-1])


def py(inject, rules, code, *args, opts=(), **kw):
    need(PY)
    return inject(rules, PY, "-c", code, *map(str, args), opts=opts, **kw)


# --- sh (dash) ------------------------------------------------------------------------------


def test_sh_redirect_enospc(inject, tmp_path):
    need("sh")
    cp = inject(["write:path=*/out.txt:errno=ENOSPC"], "sh", "-c", "echo hi > out.txt")
    assert cp.returncode != 0
    assert cp.stderr.strip(), "the shell should say the write failed"
    assert (tmp_path / "out.txt").read_bytes() == b""


def test_sh_redirect_other_file_unaffected(inject, tmp_path):
    need("sh")
    cp = inject(["write:path=*/out.txt:errno=ENOSPC"], "sh", "-c", "echo hi > other.txt")
    assert cp.returncode == 0, cp.stderr
    assert (tmp_path / "other.txt").read_text() == "hi\n"


# --- coreutils ------------------------------------------------------------------------------


@pytest.fixture
def src(tmp_path):
    f = tmp_path / "src"
    f.write_bytes(b"hello, world\n" * 100)
    return f


def test_cp_write_enospc(inject, tmp_path, src):
    need("cp")
    cp = inject(["io.write:path=*/dst:errno=ENOSPC"], "cp", "src", "dst")
    assert cp.returncode != 0
    assert "No space left on device" in cp.stderr
    dst = tmp_path / "dst"
    assert not dst.exists() or dst.read_bytes() == b""


def test_cat_read_eio(inject, src):
    need("cat")
    cp = inject(["io.read:path=*/src:errno=EIO"], "cat", "src")  # stdout: a pipe
    assert cp.returncode != 0
    assert "Input/output error" in cp.stderr
    assert cp.stdout == ""


@pytest.mark.parametrize("cmd", ["cp src dst", "cat src > dst"])
def test_read_eio_on_source_when_copying_file_to_file(inject, tmp_path, src, cmd):
    # file-to-file, coreutils copies with copy_file_range(src_fd, ..., dst_fd, ...): the source
    # is still read, so an io.read fault on it must fail the copy
    need("cp")
    need("cat")
    cp = inject(["io.read:path=*/src:errno=EIO"], "sh", "-c", cmd)
    assert cp.returncode != 0, f"{cmd!r} succeeded although reading src fails with EIO"
    assert "Input/output error" in cp.stderr


def test_date_offset(inject):
    need("date")
    before = time.time()
    cp = inject(["time:offset=+3600s"], "date", "+%s")
    after = time.time()
    assert cp.returncode == 0, cp.stderr
    shown = int(cp.stdout.strip())
    assert before + 3600 - 5 <= shown <= after + 3600 + 5, (before, shown, after)


def test_date_without_offset_is_real_time(inject):
    need("date")
    before = time.time()
    cp = inject(["io.sync:errno=EIO"], "date", "+%s")
    after = time.time()
    assert cp.returncode == 0, cp.stderr
    assert before - 5 <= int(cp.stdout.strip()) <= after + 5


@pytest.mark.parametrize("tool", ["/usr/bin/printf", "/usr/bin/echo"])
@pytest.mark.parametrize("rule", ["io.write:path=*/p.txt:errno=ENOSPC",
                                  "fflush:path=*/p.txt:errno=ENOSPC"])
def test_coreutils_close_stdout_reports_write_error(inject, tmp_path, tool, rule):
    # coreutils write stdout through stdio and check it at exit (close_stdout): the buffered
    # "hello" is written then, and that failure must be reported
    need(tool)
    cp = inject([rule], "sh", "-c", f"{tool} hello > p.txt")
    assert cp.returncode != 0
    assert "write error: No space left on device" in cp.stderr
    assert (tmp_path / "p.txt").read_bytes() == b""


def test_coreutils_output_unaffected_by_other_path(inject, tmp_path):
    need("/usr/bin/printf")
    cp = inject(["io.write:path=*/p.txt:errno=ENOSPC"], "sh", "-c", "/usr/bin/printf hello > q.txt")
    assert cp.returncode == 0, cp.stderr
    assert (tmp_path / "q.txt").read_text() == "hello"


# --- Python ---------------------------------------------------------------------------------

PY_WRITE = """
import errno, sys
try:
    with open(sys.argv[1], 'w') as f:
        f.write('hello')
except OSError as e:
    print(type(e).__name__, errno.errorcode[e.errno])
else:
    print('ok')
"""


def test_python_write_enospc(inject, tmp_path):
    f = tmp_path / "py.txt"
    cp = py(inject, ["io.write:path=*/py.txt:errno=ENOSPC"], PY_WRITE, f)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "OSError ENOSPC"
    assert f.read_bytes() == b""
    g = tmp_path / "other.txt"
    cp = py(inject, ["io.write:path=*/py.txt:errno=ENOSPC"], PY_WRITE, g)
    assert cp.stdout.strip() == "ok"
    assert g.read_text() == "hello"


def test_python_open_eacces(inject, tmp_path):
    f = tmp_path / "py.txt"
    f.write_text("x")
    cp = py(inject, ["io.open:path=*/py.txt:errno=EACCES"],
            "import sys\ntry: open(sys.argv[1])\nexcept PermissionError as e: print('PermissionError', e.errno)\nelse: print('ok')",
            f)
    assert cp.stdout.strip() == "PermissionError 13"


PY_FSYNC = """
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'abc')
try:
    os.fsync(fd)
except OSError as e:
    print('OSError', errno.errorcode[e.errno])
else:
    print('ok')
"""


def test_python_fsync_eio(inject, tmp_path):
    cp = py(inject, ["io.sync:errno=EIO"], PY_FSYNC, tmp_path / "f.bin")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "OSError EIO"
    assert (tmp_path / "f.bin").read_bytes() == b"abc"


PY_DNS = """
import socket
try:
    socket.getaddrinfo('localhost', 80)
except socket.gaierror as e:
    print('gaierror', 'EAI_AGAIN' if e.errno == socket.EAI_AGAIN else e.errno)
else:
    print('ok')
"""


def test_python_getaddrinfo_eai_again(inject):
    cp = py(inject, ["dns:eai=EAI_AGAIN"], PY_DNS)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "gaierror EAI_AGAIN"


def test_python_getaddrinfo_host_selector(inject):
    cp = py(inject, ["dns:host=*.example.invalid:eai=EAI_AGAIN"], PY_DNS)
    assert cp.stdout.strip() == "ok"


PY_READHEX = "import sys\nsys.stdout.write(open(sys.argv[1], 'rb').read().hex())"


def test_python_read_corrupt(inject, tmp_path):
    f = tmp_path / "c.bin"
    data = bytes(range(256)) * 16
    f.write_bytes(data)
    cp = py(inject, ["io.read:path=*/c.bin:corrupt=5"], PY_READHEX, f, opts=["--seed", "9"])
    assert cp.returncode == 0, cp.stderr
    got = bytes.fromhex(cp.stdout)
    assert len(got) == len(data)
    assert got != data
    assert sum(bin(a ^ b).count("1") for a, b in zip(got, data)) == 5
    assert f.read_bytes() == data


# --- sqlite3 --------------------------------------------------------------------------------


def sqlite(db, sql):
    return subprocess.run([need("sqlite3"), str(db), sql], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("mode", ["delete", "wal"])
@pytest.mark.parametrize("rule", ["io.sync:errno=EIO", "fsync,fdatasync:path=*.db*:errno=EIO"])
def test_sqlite_sync_failure_rolls_back(inject, tmp_path, mode, rule):
    need("sqlite3")
    db = tmp_path / "t.db"
    setup = sqlite(db, f"PRAGMA journal_mode={mode}; "
                       "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); "
                       "INSERT INTO t(v) VALUES ('a'), ('b'), ('c');")
    assert setup.returncode == 0, setup.stderr
    assert setup.stdout.strip() == mode

    cp = inject([rule], "sqlite3", db, "BEGIN; INSERT INTO t(v) VALUES ('bad'); COMMIT;")
    assert cp.returncode != 0
    assert "disk I/O error" in cp.stderr

    check = sqlite(db, "PRAGMA integrity_check; SELECT v FROM t ORDER BY id;")
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["ok", "a", "b", "c"]
    assert sqlite(db, "PRAGMA journal_mode;").stdout.strip() == mode


def test_sqlite_without_faults_commits(inject, tmp_path):
    need("sqlite3")
    db = tmp_path / "t.db"
    assert sqlite(db, "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('a');").returncode == 0
    cp = inject(["fsync,fdatasync:path=*.other*:errno=EIO"], "sqlite3", db,
                "BEGIN; INSERT INTO t VALUES ('b'); COMMIT;")
    assert cp.returncode == 0, cp.stderr
    assert sqlite(db, "SELECT v FROM t;").stdout.split() == ["a", "b"]


# --- TCP ------------------------------------------------------------------------------------


class Server:
    """A native TCP server on 127.0.0.1: greets every connection, then drains it."""

    def __init__(self, greeting: bytes):
        self.greeting = greeting
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c:
            try:
                c.sendall(self.greeting)
                c.settimeout(10)
                while data := c.recv(4096):
                    self.received.append(data)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def servers():
    made = []

    def make(greeting):
        s = Server(greeting)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


PY_CONNECT = """
import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect(('127.0.0.1', int(port)))
        print(port, 'connected', s.recv(100).decode())
    except OSError as e:
        print(port, type(e).__name__)
    s.close()
"""


def test_tcp_connect_refused_by_port(inject, servers):
    a, b = servers(b"A"), servers(b"B")
    cp = py(inject, [f"net.connect:port={a.port}:errno=ECONNREFUSED"], PY_CONNECT, a.port, b.port)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == [f"{a.port} ConnectionRefusedError", f"{b.port} connected B"]


PY_RECV = """
import socket, sys
socks = []
for port in sys.argv[1:]:
    s = socket.create_connection(('127.0.0.1', int(port)), timeout=10)
    socks.append((port, s))
for port, s in socks:
    try:
        print(port, 'got', s.recv(100).decode())
    except OSError as e:
        print(port, type(e).__name__)
"""


def test_tcp_recv_peer_selector(inject, servers):
    a, b = servers(b"A"), servers(b"B")
    cp = py(inject, [f"net.recv:peer=127.0.0.1:{a.port}:errno=ECONNRESET"], PY_RECV,
            a.port, b.port)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == [f"{a.port} ConnectionResetError", f"{b.port} got B"]


def test_tcp_recv_peer_delay_only_that_peer(inject, servers):
    a, b = servers(b"A"), servers(b"B")
    rules = [f"net.recv:peer=127.0.0.1:{a.port}:delay=20ms", "net.recv:peer=127.0.0.1:1:delay=20ms"]
    cp = py(inject, rules, PY_RECV, a.port, b.port, opts=["--json"])
    assert cp.returncode == 0, cp.stderr
    # a delay lets the call go on: both peers' data arrive intact
    assert cp.stdout.splitlines() == [f"{a.port} got A", f"{b.port} got B"]
    r = json_stats(cp)["rules"]
    assert (r[0]["seen"], r[0]["injected"]) == (1, 1)
    assert (r[1]["seen"], r[1]["injected"]) == (0, 0)


def _sh_read(faultline, env, tmp_path, rule, **kw):
    """dash's `read` builtin reads stdin with read(); stdin is a socket or a pipe."""
    return subprocess.run([faultline, "inject", "-q", "-r", rule, "--", "sh", "-c",
                           'read x; echo "rc=$? got $x"'], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=30, **kw)


@pytest.mark.parametrize("rule, on_socket, on_pipe", [
    ("io.read:errno=EIO", "rc=0 got A", "rc=1 got"),
    ("net.recv:errno=ECONNRESET", "rc=1 got", "rc=0 got A"),
])
def test_read_on_socket_is_net_recv_not_io_read(faultline, env, tmp_path, rule, on_socket,
                                                 on_pipe):
    need("sh")
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"A\n")
        cp = _sh_read(faultline, env, tmp_path, rule, stdin=b.fileno())
    assert cp.stdout.strip() == on_socket, cp.stderr
    cp = _sh_read(faultline, env, tmp_path, rule, input="A\n")
    assert cp.stdout.strip() == on_pipe, cp.stderr


PY_SEND = """
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
try:
    s.sendall(b'payload')
    print('sent')
except OSError as e:
    print(type(e).__name__)
"""


def test_tcp_send_econnreset(inject, servers):
    a = servers(b"A")
    cp = py(inject, ["net.send:errno=ECONNRESET:prob=1"], PY_SEND, a.port)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "ConnectionResetError"
    cp = py(inject, ["net.send:port=1:errno=ECONNRESET:prob=1"], PY_SEND, a.port)
    assert cp.stdout.strip() == "sent"


PY_SERVER = """
import errno, socket, sys
srv = socket.create_server(('127.0.0.1', 0))
print(srv.getsockname()[1], flush=True)
for attempt in range(3):
    try:
        c, _ = srv.accept()
    except OSError as e:
        print('accept', errno.errorcode[e.errno], flush=True)
        continue
    c.sendall(b'hi')
    c.close()
    print('accepted', flush=True)
    break
"""


def test_tcp_server_accept_emfile_once(faultline, env, tmp_path):
    need(PY)
    errf = tmp_path / "stderr"
    with open(errf, "w") as ef:
        p = subprocess.Popen([faultline, "inject", "-q", "-r", "net.accept:errno=EMFILE:count=1",
                              "--", PY, "-c", PY_SERVER], stdout=subprocess.PIPE, stderr=ef,
                             text=True, env=env, cwd=tmp_path)
    try:
        # the first accept fails at once, before anyone connects; the server goes on
        port = int(p.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            got = c.recv(10)
        out = p.stdout.read()  # the same buffered reader: no line is lost
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    assert p.returncode == 0, errf.read_text()
    assert got == b"hi"
    assert out.splitlines() == ["accept EMFILE", "accepted"]


# --- children -------------------------------------------------------------------------------


def test_rules_follow_exec(inject, src):
    need("cat")
    # dash execs the last command of -c in place
    cp = inject(["io.read:path=*/src:errno=EIO"], "sh", "-c", "cat src")
    assert cp.returncode != 0
    assert "Input/output error" in cp.stderr


def test_rules_follow_fork_exec(inject, src):
    need("cat")
    cp = inject(["io.read:path=*/src:errno=EIO"], "sh", "-c", "cat src; echo end")
    assert "Input/output error" in cp.stderr
    assert cp.stdout == "end\n"


def test_no_follow_spares_children_only(inject, tmp_path, src):
    need("cat")
    rules = ["write:path=*/o.txt:errno=ENOSPC", "io.read:path=*/src:errno=EIO"]
    script = "echo hi > o.txt; cat src; echo end"
    # following: the shell's own write and the child cat both fail
    cp = inject(rules, "sh", "-c", script)
    assert "Input/output error" in cp.stderr
    assert cp.stdout == "end\n"
    assert (tmp_path / "o.txt").read_bytes() == b""
    # --no-follow: the shell (CMD) is still faulted, the child cat is not
    (tmp_path / "o.txt").unlink()
    cp = inject(rules, "sh", "-c", script, opts=["--no-follow"])
    assert "Input/output error" not in cp.stderr
    assert cp.stderr.strip(), "the shell's echo should still fail"
    assert cp.stdout == src.read_text() + "end\n"
    assert (tmp_path / "o.txt").read_bytes() == b""


def test_no_follow_exec_in_place(inject, src):
    need("cat")
    cp = inject(["io.read:path=*/src:errno=EIO"], "sh", "-c", "cat src", opts=["--no-follow"])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == src.read_text()


def test_victim_spawn_follow_and_counters(inject, victim, tmp_path):
    f = tmp_path / "f"
    cp = inject(["io.sync:errno=EIO:nth=3"], victim, "spawn", victim, "fsync", f, 4,
                opts=["--json"])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == ["fsync 0", "fsync 0", "fsync -1 EIO", "fsync 0",
                                      "fdatasync 0", "child 0"]
    r = json_stats(cp)["rules"][0]
    assert (r["seen"], r["injected"]) == (5, 1), "counters include the child's calls"


def test_victim_spawn_no_follow(inject, victim, tmp_path):
    f = tmp_path / "f"
    cp = inject(["io.sync:errno=EIO:nth=3"], victim, "spawn", victim, "fsync", f, 4,
                opts=["--no-follow", "--json"])
    assert cp.stdout.splitlines() == ["fsync 0"] * 4 + ["fdatasync 0", "child 0"]
    r = json_stats(cp)["rules"][0]
    assert (r["seen"], r["injected"]) == (0, 0)


def test_victim_spawn_child_exit_status(inject, victim):
    cp = inject(["io.sync:errno=EIO"], victim, "spawn", victim, "no-such-command")
    assert cp.stdout.splitlines() == ["child 2"]
