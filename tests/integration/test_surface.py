# SPDX-License-Identifier: MIT
"""Integration tests: the fault surface (`faultline inject --surface FILE`) and site=.

A program runs once under the observer, which records every wrapped call by point (call,
subject, call site); then each point's rule, given back with nth=K and an effect, must fail
exactly that call: the program reports the error at that place, the rule saw exactly the
point's count of calls, and calls from other sites go on untouched. The programs are real:
a small C program compiled here (state.json written from two functions, a loop of writes in
a third, a fork, threads, thousands of files), Python writing files and talking TCP, and the
sqlite3 shell.
"""
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

PY = "/usr/bin/python3"

PROG_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every call is checked; a failure is reported as "FAIL <place> <n>: <error>" (n: which call
 * of that place) and the program goes on, so a test sees which calls were failed and that
 * the others were not. */
static int failures;
static int check(long rc, const char *place, int n)
{
    if (rc < 0) {
        fprintf(stderr, "FAIL %s %d: %s\n", place, n, strerror(errno));
        failures++;
    }
    return rc < 0;
}

__attribute__((noinline)) static void save_a(void)
{
    int fd = open("state.json", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (check(fd, "save_a open", 1))
        return;
    check(write(fd, "a\n", 2), "save_a write", 1);
    check(fsync(fd), "save_a fsync", 1);
    check(close(fd), "save_a close", 1);
}

__attribute__((noinline)) static void save_b(void)
{
    /* O_CREAT: a failed save_a leaves no file, and save_b must not fail for that */
    int fd = open("state.json", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (check(fd, "save_b open", 1))
        return;
    check(write(fd, "b\n", 2), "save_b write", 1);
    check(close(fd), "save_b close", 1);
}

__attribute__((noinline)) static void loop_c(int n)
{
    int fd = open("state.json", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (check(fd, "loop_c open", 1))
        return;
    for (int i = 1; i <= n; i++) {
        char line[16];
        int len = snprintf(line, sizeof(line), "c%d\n", i);
        check(write(fd, line, (size_t)len), "loop_c write", i);
    }
    check(close(fd), "loop_c close", 1);
}

__attribute__((noinline)) static void save_child(void)
{
    int fd = open("child.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (check(fd, "child open", 1))
        return;
    check(write(fd, "child\n", 6), "child write", 1);
    check(close(fd), "child close", 1);
}

static void *spin(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 1000; i++)
        check(write(fd, "t", 1), "thread write", i + 1);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "many")) {
        /* thousands of distinct points: more than the table holds */
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof(name), "f%d", i);
            int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (check(fd, "many open", i + 1))
                return 1;
            check(write(fd, "x", 1), "many write", i + 1);
            check(close(fd), "many close", i + 1);
        }
        return failures != 0;
    }
    if (!strcmp(mode, "threads")) {
        int fd = open("/dev/null", O_WRONLY);
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, spin, &fd);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        return failures != 0;
    }
    save_a();
    save_b();
    loop_c(3);
    if (!strcmp(mode, "fork")) {
        pid_t pid = fork();
        if (pid == 0) {
            save_child();
            _exit(failures != 0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st))
            failures++;
    }
    printf("done, %d failures\n", failures);
    return failures != 0;
}
"""

# The program's calls on state.json, in the order it makes them: what each point is.
PROG_PLACES = [("open", "save_a open"), ("write", "save_a write"), ("fsync", "save_a fsync"),
               ("close", "save_a close"), ("open", "save_b open"), ("write", "save_b write"),
               ("close", "save_b close"), ("open", "loop_c open"), ("write", "loop_c write"),
               ("close", "loop_c close")]


def need(tool):
    path = shutil.which(tool) if "/" not in tool else (tool if os.access(tool, os.X_OK) else None)
    if not path:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    cc = need("cc")
    d = tmp_path_factory.mktemp("prog")
    (d / "prog.c").write_text(PROG_C)
    exe = d / "prog"
    subprocess.run([cc, "-O1", "-pthread", "-o", str(exe), str(d / "prog.c")], check=True)
    return str(exe)


def observe(run, *cmd, opts=()):
    """Run cmd under `inject --surface surface.json` in the test's directory."""
    r = run("inject", "-q", "--surface", "surface.json", *opts, "--", *cmd)
    assert r.returncode == 0, r.stderr
    return r


def load(tmp_path, name="surface.json"):
    """The surface document, checked for what holds of every one."""
    doc = json.loads((tmp_path / name).read_text())
    assert set(doc) == {"base", "totals", "points"}
    assert set(doc["totals"]) == {"calls", "points", "overflow", "processes"}
    for p in doc["points"]:
        assert set(p) >= {"call", "subject", "subject_kind", "fd_kind", "site", "module",
                          "offset", "count", "first_seq", "last_seq", "rule"}
        assert len(p["site"]) == 8 and int(p["site"], 16) >= 0
        assert p["count"] >= 1 and 1 <= p["first_seq"] <= p["last_seq"]
        # a site is where the program called, never inside faultline's own preload
        assert p["module"] != "faultline-preload.so", p
    seqs = [p["first_seq"] for p in doc["points"]]
    assert seqs == sorted(seqs)
    t = doc["totals"]
    # every call counted once: at its point, or as overflow
    assert sum(p["count"] for p in doc["points"]) + t["overflow"] == t["calls"]
    assert t["points"] == len(doc["points"])
    return doc


def stats_of(path):
    [rule] = json.loads(path.read_text())["rules"]
    return rule


def fails(stderr):
    return [line for line in stderr.splitlines() if line.startswith("FAIL ")]


def state_points(doc):
    return [p for p in doc["points"] if p["module"] == "prog" and p["subject"] == "state.json"]


def key(p):
    return (p["call"], p["subject"], p["site"], p["module"], p["offset"], p["count"])


# --- the C program -----------------------------------------------------------------------------


def test_points_and_counts(run, tmp_path, prog):
    observe(run, prog)
    doc = load(tmp_path)
    assert doc["base"] == os.path.realpath(tmp_path)
    assert doc["totals"]["processes"] == 1
    assert doc["totals"]["overflow"] == 0
    pts = state_points(doc)
    # one point per call site, in the order the program made its calls
    assert [p["call"] for p in pts] == [c for c, _ in PROG_PLACES]
    assert all(p["subject_kind"] == "path_rel" for p in pts)
    assert [p["fd_kind"] for p in pts if p["call"] != "open"] == ["file"] * 7
    assert all(p["fd_kind"] is None for p in pts if p["call"] == "open")
    writes = [p for p in pts if p["call"] == "write"]
    # save_a and save_b: one write each, from two places; loop_c: 3 writes, one point
    assert [w["count"] for w in writes] == [1, 1, 3]
    assert len({w["site"] for w in writes}) == 3
    assert len({w["offset"] for w in writes}) == 3
    loop = writes[2]
    assert loop["last_seq"] - loop["first_seq"] == 2
    assert loop["rule"] == f"write:path=*/state.json:site={loop['site']}"
    assert len({p["site"] for p in pts}) == len(pts)
    # what the program does besides: its final printf, and libc's own malloc for stdout
    calls = {p["call"] for p in doc["points"]}
    assert "printf" in calls or "puts" in calls
    assert "malloc" in calls


def test_points_stable_across_runs(run, tmp_path, prog):
    observe(run, prog)
    first = [key(p) for p in load(tmp_path)["points"] if p["module"] == "prog"]
    (tmp_path / "surface.json").unlink()
    (tmp_path / "state.json").unlink()
    observe(run, prog)
    second = [key(p) for p in load(tmp_path)["points"] if p["module"] == "prog"]
    assert first == second
    assert len(first) >= len(PROG_PLACES)


def test_each_point_rule_fails_exactly_that_call(run, tmp_path, prog):
    observe(run, prog)
    pts = state_points(load(tmp_path))
    assert len(pts) == len(PROG_PLACES)
    for p, (_, place) in zip(pts, PROG_PLACES):
        for k in sorted({1, p["count"]}):
            (tmp_path / "state.json").unlink(missing_ok=True)
            r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r",
                    f"{p['rule']}:nth={k}:errno=EIO", "--", prog)
            st = stats_of(tmp_path / "stats.json")
            assert st["injected"] == 1, (p["rule"], k, r.stderr)
            assert st["seen"] == p["count"], (p["rule"], k, st)
            # exactly that call failed, at that place; every other call went on
            assert fails(r.stderr) == [f"FAIL {place} {k}: Input/output error"], (p["rule"], k)
            assert r.returncode == 1
            if place == "loop_c write":
                lines = (tmp_path / "state.json").read_text().split()
                assert lines == ["a", "b"] + [f"c{i}" for i in (1, 2, 3) if i != k]


def test_wrong_site_never_fires(run, tmp_path, prog):
    observe(run, prog)
    loop = state_points(load(tmp_path))[8]
    site = int(loop["site"], 16)
    good = f"write:path=*/state.json:site={site:08x}:errno=EIO"
    wrong = f"write:path=*/state.json:site={site ^ 1:08x}:errno=EIO"
    # the control: the right site fails every write of the loop, and only those
    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r", good, "--", prog)
    assert fails(r.stderr) == [f"FAIL loop_c write {i}: Input/output error" for i in (1, 2, 3)]
    assert stats_of(tmp_path / "stats.json")["seen"] == 3
    # a site no call comes from: nothing is even counted (were site= ignored, all 5 writes to
    # state.json would fail)
    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r", wrong, "--", prog)
    assert r.returncode == 0, r.stderr
    assert fails(r.stderr) == []
    st = stats_of(tmp_path / "stats.json")
    assert st["seen"] == 0 and st["injected"] == 0
    assert (tmp_path / "state.json").read_text().split() == ["a", "b", "c1", "c2", "c3"]


def test_site_rule_while_observing(run, tmp_path, prog):
    """Observer and site= rules together: the rule fires and the surface is still recorded."""
    observe(run, prog)
    loop = state_points(load(tmp_path))[8]
    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "--surface", "s2.json",
            "-r", f"{loop['rule']}:nth=2:errno=ENOSPC", "--", prog)
    assert fails(r.stderr) == ["FAIL loop_c write 2: No space left on device"]
    st = stats_of(tmp_path / "stats.json")
    assert (st["seen"], st["injected"]) == (3, 1)
    again = state_points(load(tmp_path, "s2.json"))
    assert [key(p) for p in again] == [key(p) for p in state_points(load(tmp_path))]


def test_fork_and_exec_children_recorded(run, tmp_path, prog):
    observe(run, prog, "fork")
    doc = load(tmp_path)
    assert doc["totals"]["processes"] == 2
    child = [p for p in doc["points"] if p["subject"] == "child.txt"]
    assert [p["call"] for p in child] == ["open", "write", "close"]
    # the child's rule fails the child's call
    r = run("inject", "-q", "-r", f"{child[1]['rule']}:errno=EIO", "--", prog, "fork")
    assert fails(r.stderr) == ["FAIL child write 1: Input/output error"]

    # exec: a shell running the program twice; both runs count at the same points
    (tmp_path / "surface.json").unlink()
    observe(run, "sh", "-c", f"{prog} && {prog}")
    doc = load(tmp_path)
    assert doc["totals"]["processes"] == 3
    writes = [p for p in state_points(doc) if p["call"] == "write"]
    assert [w["count"] for w in writes] == [2, 2, 6]


def test_no_follow_and_exe(run, tmp_path, prog):
    observe(run, "sh", "-c", f"{prog} fork", opts=["--no-follow"])
    doc = load(tmp_path)
    assert doc["totals"]["processes"] == 1
    assert not [p for p in doc["points"] if p["module"] == "prog"]
    (tmp_path / "surface.json").unlink()
    # --exe: only the program, not the shell that runs it, and its forked child too
    observe(run, "sh", "-c", f"{prog} fork", opts=["--exe", "prog"])
    doc = load(tmp_path)
    assert doc["totals"]["processes"] == 2
    assert {p["module"] for p in doc["points"]} <= {"prog", "libc.so.6"}
    assert [p for p in doc["points"] if p["subject"] == "child.txt"]


def test_threads_count_exactly(run, tmp_path, prog):
    observe(run, prog, "threads")
    doc = load(tmp_path)
    [p] = [p for p in doc["points"] if p["subject"] == "/dev/null" and p["call"] == "write"]
    assert p["count"] == 4000
    assert p["subject_kind"] == "path_abs" and p["fd_kind"] == "other"


def test_overflow_counted_not_crashed(run, tmp_path, prog):
    observe(run, prog, "many", "2000")
    doc = load(tmp_path)
    t = doc["totals"]
    assert t["overflow"] > 0
    assert 3000 < t["points"] <= 4096
    assert t["calls"] >= 6000
    assert len(list(tmp_path.glob("f*"))) == 2000


def test_base_directory_and_cleanup(run, tmp_path, prog):
    work = tmp_path / "work" / "sub"
    work.mkdir(parents=True)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    dirs = [d for d in (runtime, "/dev/shm", "/tmp") if d and os.path.isdir(d)]

    def tables():
        return {os.path.join(d, f) for d in dirs for f in os.listdir(d)
                if f.startswith("faultline-surface-")}

    before = tables()
    r = run("inject", "-q", "--surface", str(tmp_path / "s.json"), "--surface-base",
            str(tmp_path / "work"), "--", prog, cwd=work)
    assert r.returncode == 0, r.stderr
    doc = load(tmp_path, "s.json")
    assert doc["base"] == os.path.realpath(tmp_path / "work")
    assert {p["subject"] for p in state_points_any(doc)} == {"sub/state.json"}
    assert tables() == before  # the table on tmpfs is gone

    # outside the base, paths stay absolute
    r = run("inject", "-q", "--surface", str(tmp_path / "s2.json"), "--surface-base",
            str(tmp_path / "work" / "sub"), "--", prog, cwd=tmp_path)
    doc = load(tmp_path, "s2.json")
    subj = {p["subject"] for p in doc["points"] if p["subject"].endswith("state.json")}
    assert subj == {os.path.realpath(tmp_path / "state.json")}
    assert tables() == before


def state_points_any(doc):
    return [p for p in doc["points"] if p["module"] == "prog" and
            p["subject"].endswith("state.json")]


def test_surface_usage_errors(run, tmp_path, prog):
    r = run("inject", "-q", "--surface-base", ".", "--", prog)
    assert r.returncode == 2 and "--surface-base needs --surface" in r.stderr
    r = run("inject", "-q", "--surface", "/nonexistent/dir/s.json", "--", prog)
    assert r.returncode == 2 and "cannot be written" in r.stderr
    r = run("inject", "-q", "--surface", "s.json", "--surface-base", "/nonexistent", "--", prog)
    assert r.returncode == 3 and "base directory" in r.stderr
    assert not (tmp_path / "state.json").exists()  # nothing ran


# --- Python --------------------------------------------------------------------------------------

# save() writes with os.write, one write(2) each; the log goes through Python's buffered
# text files (a failed flush there is tried again by close(), so a fault on it would be seen
# one more time than the point's count: the program's own reaction).
PY_FILES = r"""
import os, sys
def save(path, i):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, f"{i}\n".encode())
    except OSError as e:
        print(f"FAIL save {i}: {e.strerror}", file=sys.stderr)
    finally:
        os.close(fd)
for i in range(1, 4):
    save("py_state.json", i)
with open("log.txt", "a") as f:
    for i in range(5):
        f.write("x")
        f.flush()
"""


def test_python_files(run, tmp_path):
    need(PY)
    observe(run, PY, "-c", PY_FILES)
    doc = load(tmp_path)
    [w] = [p for p in doc["points"] if p["call"] == "write" and p["subject"] == "py_state.json"]
    [log] = [p for p in doc["points"] if p["call"] == "write" and p["subject"] == "log.txt"]
    assert (w["count"], log["count"]) == (3, 5)
    assert w["module"].startswith(("python", "libpython"))
    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r",
            f"{w['rule']}:nth=2:errno=EIO", "--", PY, "-c", PY_FILES)
    assert r.returncode == 0, r.stderr
    assert fails(r.stderr) == ["FAIL save 2: Input/output error"]
    st = stats_of(tmp_path / "stats.json")
    assert (st["seen"], st["injected"]) == (3, 1)
    assert (tmp_path / "py_state.json").read_text() == "3\n"
    assert (tmp_path / "log.txt").read_text() == "x" * 10  # two runs, never failed


PY_CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
try:
    s = socket.create_connection(("127.0.0.1", port))
except OSError as e:
    print(f"FAIL connect: {e.strerror}", file=sys.stderr)
    sys.exit(1)
for i in range(1, 4):
    try:
        s.sendall(b"ping\n")
    except OSError as e:
        print(f"FAIL send {i}: {e.strerror}", file=sys.stderr)
        sys.exit(1)
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    got = s.recv(100)
    if not got:
        break
    data += got
print(data.decode().strip())
"""


@pytest.fixture
def echo_server():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                buf = b""
                while True:
                    got = c.recv(100)
                    if not got:
                        break
                    buf += got
                c.sendall(b"got %d\n" % buf.count(b"ping"))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()


def test_python_socket_client(run, tmp_path, echo_server):
    need(PY)
    port = echo_server
    r = observe(run, PY, "-c", PY_CLIENT, str(port))
    assert r.stdout.strip() == "got 3"
    doc = load(tmp_path)
    peer = f"127.0.0.1:{port}"
    [conn] = [p for p in doc["points"] if p["call"] == "connect"]
    assert (conn["subject"], conn["subject_kind"], conn["count"]) == (peer, "peer", 1)
    assert conn["rule"] == f"connect:peer={peer}:site={conn['site']}"
    [send] = [p for p in doc["points"] if p["call"] == "send" and p["subject"] == peer]
    assert send["count"] == 3 and send["fd_kind"] == "socket"
    # the socket keeps the name it had when first used, after the connection ended too
    for call in ("recv", "close"):
        assert [p for p in doc["points"] if p["call"] == call and p["subject"] == peer], call

    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r",
            f"{conn['rule']}:errno=ECONNREFUSED", "--", PY, "-c", PY_CLIENT, str(port))
    assert fails(r.stderr) == ["FAIL connect: Connection refused"]
    assert (stats_of(tmp_path / "stats.json")["seen"], r.returncode) == (1, 1)

    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r",
            f"{send['rule']}:nth=3:errno=ECONNRESET", "--", PY, "-c", PY_CLIENT, str(port))
    assert fails(r.stderr) == ["FAIL send 3: Connection reset by peer"]
    st = stats_of(tmp_path / "stats.json")
    assert (st["seen"], st["injected"]) == (3, 1)


# --- sqlite3 -------------------------------------------------------------------------------------

SQL = "create table t(x); insert into t values(1); insert into t values(2);"


def test_sqlite3_cli(run, tmp_path):
    sqlite3 = need("sqlite3")
    observe(run, sqlite3, "test.db", SQL)
    doc = load(tmp_path)
    subjects = {p["subject"] for p in doc["points"]}
    assert "test.db" in subjects
    assert any(s.startswith("test.db-journal") for s in subjects)
    assert {p["module"] for p in doc["points"] if p["subject"] == "test.db"} & \
        {"libsqlite3.so.0", "sqlite3"}
    # the journal's last sync: sqlite reports the I/O error and gives up (a fault elsewhere
    # may be followed by more calls at its point: a rollback writes the database again)
    syncs = [p for p in doc["points"] if p["subject"] == "test.db-journal" and
             p["call"] in ("fsync", "fdatasync")]
    assert len(syncs) == 1, [(p["call"], p["subject"]) for p in doc["points"]]
    w = syncs[0]
    os.unlink(tmp_path / "test.db")
    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r",
            f"{w['rule']}:nth={w['count']}:errno=EIO", "--", sqlite3, "test.db", SQL)
    assert r.returncode != 0
    assert "disk I/O error" in r.stderr
    st = stats_of(tmp_path / "stats.json")
    assert (st["seen"], st["injected"]) == (w["count"], 1)
    # the same rule at a site sqlite never writes from: sqlite3 runs clean
    os.unlink(tmp_path / "test.db")
    wrong = w["rule"].rsplit("=", 1)[0] + "=" + f"{int(w['site'], 16) ^ 0x80:08x}"
    r = run("inject", "-q", "--json", "--stats-file", "stats.json", "-r",
            f"{wrong}:errno=EIO", "--", sqlite3, "test.db", SQL)
    assert r.returncode == 0, r.stderr
    assert stats_of(tmp_path / "stats.json")["seen"] == 0
