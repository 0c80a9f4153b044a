# SPDX-License-Identifier: MIT
"""faultline lock, kill and stop against real processes and real SQLite databases.

Every victim is started here and has a name or marker no other process on the host has (a
symlink to sleep or python3 with a random name, a random marker argument), so a pattern can
never reach a process these tests did not start. Nothing waits a fixed time: conditions are
polled with generous deadlines."""
import json
import os
import pathlib
import secrets
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import have

PY = sys.executable or "/usr/bin/python3"

RECORDER = r"""
import os, signal, sys, time
out = sys.argv[1]
def note(sig, frame):
    with open(out, "a") as f:
        f.write(signal.Signals(sig).name + "\n")
    if sig in (signal.SIGTERM, signal.SIGINT):
        sys.exit(0)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, note)
open(out + ".ready", "w").close()
while True:
    time.sleep(0.05)
"""

# A parent that starts CHILDREN copies of `sleep`, writes their pids, then waits.
SPAWNER = r"""
import os, subprocess, sys, time
out, n, sleep_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kids = [subprocess.Popen([sleep_path, "300"]) for _ in range(n)]
with open(out + ".tmp", "w") as f:
    f.write(" ".join(str(k.pid) for k in kids))
os.rename(out + ".tmp", out)
while True:
    time.sleep(0.05)
"""

# A chain: this process starts a child running the same script, DEPTH levels deep.
CHAIN = r"""
import os, subprocess, sys, time
out, depth = sys.argv[1], int(sys.argv[2])
if depth > 0:
    subprocess.Popen([sys.executable, __file__, out, str(depth - 1)] + sys.argv[3:])
with open(out, "a") as f:
    f.write("%d\n" % os.getpid())
while True:
    time.sleep(0.05)
"""


def wait_for(cond, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def proc_stat(pid):
    """(state, start time) of pid, or None if it is gone."""
    try:
        data = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[19])


def state(pid):
    st = proc_stat(pid)
    return st[0] if st else None


def gone(pid):
    s = state(pid)
    return s is None or s == "Z"


class Victims:
    """Processes started by one test, all stopped and reaped at its end."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.procs = []
        self.tag = "flv" + secrets.token_hex(4)  # 11 chars: fits comm's 15

    def link(self, target, suffix=""):
        path = self.tmp / (self.tag + suffix)
        if not path.exists():
            path.symlink_to(target)
        return str(path)

    def sleep(self, suffix="", new_session=False):
        p = subprocess.Popen([self.link("/bin/sleep", suffix), "300"],
                             start_new_session=new_session)
        self.procs.append(p)
        wait_for(lambda: proc_stat(p.pid) and pathlib.Path(f"/proc/{p.pid}/comm")
                 .read_text().strip() == self.tag + suffix, what="sleep to exec")
        return p

    def recorder(self, name, marker="", suffix="", new_session=False):
        out = self.tmp / f"{name}.sig"
        script = self.tmp / "recorder.py"
        script.write_text(RECORDER)
        p = subprocess.Popen([self.link(PY, suffix), str(script), str(out), marker],
                             start_new_session=new_session)
        self.procs.append(p)
        wait_for(lambda: pathlib.Path(str(out) + ".ready").exists(), what="recorder ready")
        p.sigfile = out
        return p

    def script(self, text, *args, new_session=False):
        path = self.tmp / f"script{len(self.procs)}.py"
        path.write_text(text)
        p = subprocess.Popen([PY, str(path), *map(str, args)], start_new_session=new_session)
        self.procs.append(p)
        return p

    def cleanup(self, extra_pids=()):
        for pid in extra_pids:
            self.kill_pid(pid)
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                except ProcessLookupError:
                    pass
            p.wait(timeout=20)

    @staticmethod
    def kill_pid(pid):
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def signals_seen(p):
    try:
        return p.sigfile.read_text().split()
    except FileNotFoundError:
        return []


@pytest.fixture
def victims(tmp_path):
    v = Victims(tmp_path)
    v.extra = []
    yield v
    v.cleanup(v.extra)


_launched = []


@pytest.fixture(autouse=True)
def _no_faultline_left_behind():
    """A test that fails half-way must not leave a holding faultline (and its guardian)."""
    yield
    while _launched:
        p = _launched.pop()
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # reverts: resumes, unlocks, stops its guardian
            try:
                p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()


def popen_faultline(faultline, env, *args):
    p = subprocess.Popen([faultline, *map(str, args)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _launched.append(p)
    return p


def wait_applied(p):
    """Read faultline's stderr until its 'applied' line; return what was read."""
    seen = []
    while True:
        line = p.stderr.readline()
        if not line:
            pytest.fail("faultline exited before applying: " + "".join(seen))
        seen.append(line)
        if "applied" in line:
            return "".join(seen)


def finish(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def one_line_error(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert r.stdout == ""


def journal_entries(env):
    d = pathlib.Path(env["FAULTLINE_STATE_DIR"]) / "journal"
    return sorted(d.glob("*.json")) if d.exists() else []


# ---- lock --------------------------------------------------------------------------------

def make_db(path, wal):
    c = sqlite3.connect(path)
    if wal:
        assert c.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    c.execute("CREATE TABLE t(x)")
    c.execute("INSERT INTO t VALUES (1)")
    c.commit()
    c.close()


def try_read(path):
    c = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        c.execute("SELECT count(*) FROM t").fetchall()
        return "ok"
    except sqlite3.OperationalError as e:
        return str(e)
    finally:
        c.close()


def try_write(path):
    c = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        c.execute("INSERT INTO t VALUES (2)")
        return "ok"
    except sqlite3.OperationalError as e:
        return str(e)
    finally:
        c.close()


LOCKED = "database is locked"

# (journal, mode) -> (what a reader sees, what a writer sees) while the lock is held
LOCK_MATRIX = {
    ("rollback", "shared"): ("ok", LOCKED),
    ("rollback", "reserved"): ("ok", LOCKED),
    ("rollback", "exclusive"): (LOCKED, LOCKED),
    ("wal", "shared"): ("ok", "ok"),
    ("wal", "reserved"): ("ok", LOCKED),
    ("wal", "exclusive"): (LOCKED, LOCKED),
}


@pytest.mark.parametrize("journal,mode", sorted(LOCK_MATRIX))
def test_lock_mode_blocks_what_it_should(faultline, env, tmp_path, journal, mode):
    db = tmp_path / "app.db"
    make_db(db, journal == "wal")
    p = popen_faultline(faultline, env, "lock", db, "--mode", mode)
    try:
        wait_applied(p)
        want_read, want_write = LOCK_MATRIX[(journal, mode)]
        assert try_read(db) == want_read
        assert try_write(db) == want_write
        if (journal, mode) == ("wal", "shared"):
            # the one thing a WAL reader holds back: a checkpoint cannot reset the log
            c = sqlite3.connect(db, timeout=0, isolation_level=None)
            busy = c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            c.close()
            assert busy == 1
        p.send_signal(signal.SIGINT)
        rc, out, err = finish(p)
        assert rc == 0, err
        assert "reverted" in err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert try_read(db) == "ok"
    assert try_write(db) == "ok"
    assert journal_entries(env) == []


def test_lock_default_is_exclusive_and_for_releases(faultline, env, tmp_path, run):
    db = tmp_path / "app.db"
    make_db(db, False)
    p = popen_faultline(faultline, env, "lock", db, "--for", "2s", "--json")
    try:
        # --json prints nothing until the end: wait for the lock itself
        wait_for(lambda: try_read(db) == LOCKED, what="the lock to be held")
        if have("sqlite3"):
            r = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM t"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode != 0 and LOCKED in r.stderr, r
        assert try_read(db) == LOCKED
        rc, out, err = finish(p)  # ends by itself after --for
        assert rc == 0, err
        res = json.loads(out)
        assert res["kind"] == "lock" and res["mode"] == "exclusive"
        assert res["journal_mode"] == "rollback"
        assert "reverted_ms" in res
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert try_write(db) == "ok"
    if have("sqlite3"):
        r = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM t"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == "2", r


@pytest.mark.parametrize("journal", ["rollback", "wal"])
def test_lock_released_when_faultline_is_sigkilled(faultline, env, tmp_path, run, journal):
    db = tmp_path / "app.db"
    make_db(db, journal == "wal")
    p = popen_faultline(faultline, env, "lock", db, "--mode", "exclusive")
    wait_applied(p)
    assert try_write(db) == LOCKED
    p.kill()
    p.wait(timeout=30)
    # the kernel dropped the lock with the process; nothing had to run
    assert try_read(db) == "ok"
    assert try_write(db) == "ok"
    # the journal still names the dead owner's lock; recover clears it and has nothing to undo
    assert len(journal_entries(env)) == 1
    r = run("recover")
    assert r.returncode == 0, r.stderr
    assert "1 reverted" in r.stdout
    assert journal_entries(env) == []


def test_lock_fails_when_another_holds_a_conflicting_lock(run, env, tmp_path):
    db = tmp_path / "app.db"
    make_db(db, False)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        r = run("lock", db, "--for", "1s", timeout=60)  # waits 5s for the other lock first
        one_line_error(r, 1, "another connection holds a lock")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert journal_entries(env) == []  # the failed apply left nothing behind


def test_lock_refuses_bad_input(run, tmp_path):
    one_line_error(run("lock", tmp_path / "missing.db", "--for", "1s"), 3, "missing.db")
    (tmp_path / "notes.txt").write_text("hello, not a database at all\n")
    one_line_error(run("lock", tmp_path / "notes.txt"), 2, "not an SQLite database")
    db = tmp_path / "ok.db"
    make_db(db, False)
    one_line_error(run("lock", db, "--mode", "huge"), 2, "--mode", "shared, reserved")
    one_line_error(run("lock", db, "--for", "soon"), 2, "--for")
    one_line_error(run("lock"), 2, "no database")
    one_line_error(run("lock", db, db), 2, "one database")
    r = run("help", "lock")
    assert r.returncode == 0 and "--mode" in r.stdout and "WAL" in r.stdout


# ---- kill --------------------------------------------------------------------------------

def kill_json(run, *args, timeout=30):
    r = run("kill", "--json", *args, timeout=timeout)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


@pytest.mark.parametrize("sig,seen", [(None, "SIGTERM"), ("USR1", "SIGUSR1"),
                                      ("HUP", "SIGHUP"), ("SIGINT", "SIGINT"),
                                      ("12", "SIGUSR2")])
def test_kill_by_pid_delivers_the_signal(run, victims, sig, seen):
    v = victims.recorder("v")
    args = [v.pid] + (["--signal", sig] if sig else [])
    res = kill_json(run, *args)
    wait_for(lambda: seen in signals_seen(v), what=f"{seen} to arrive")
    assert signals_seen(v) == [seen]
    [hit] = res["hits"]
    assert hit["pid"] == v.pid and hit["signal"] == seen[3:] and hit["result"] == "sent"
    assert hit["name"] == victims.tag and hit["time_ms"] > 0


def test_kill_sigkill_by_number_and_text_report(run, victims):
    v = victims.sleep()
    r = run("kill", "-9", v.pid)  # kill(1)'s spelling
    assert r.returncode == 0, r.stderr
    assert v.wait(timeout=20) == -signal.SIGKILL
    assert "SIGKILL" in r.stdout and f"-> {v.pid} ({victims.tag})" in r.stdout


def test_kill_takes_dash_signal_names(run, victims):
    v = victims.recorder("v")
    res = kill_json(run, v.pid, "-USR2")
    assert [h["signal"] for h in res["hits"]] == ["USR2"]
    wait_for(lambda: signals_seen(v) == ["SIGUSR2"], what="USR2")
    one_line_error(run("kill", "-NOPE", v.pid), 2, "-NOPE")


def test_kill_by_name_hits_only_matches(run, victims):
    a, b = victims.sleep("a"), victims.sleep("b")
    other = victims.sleep("zz")
    res = kill_json(run, "--name", victims.tag + "[ab]")
    assert sorted(h["pid"] for h in res["hits"]) == sorted([a.pid, b.pid])
    assert a.wait(timeout=20) == -signal.SIGTERM
    assert b.wait(timeout=20) == -signal.SIGTERM
    assert other.poll() is None


def test_kill_by_cmdline(run, victims):
    marker = "marker-" + secrets.token_hex(6)
    hit = victims.recorder("hit", marker=marker)
    miss = victims.recorder("miss", marker="marker-other-" + secrets.token_hex(6))
    res = kill_json(run, "--cmdline", f"* {marker}", "-s", "USR1")
    assert [h["pid"] for h in res["hits"]] == [hit.pid]
    wait_for(lambda: signals_seen(hit) == ["SIGUSR1"], what="USR1 at the match")
    assert signals_seen(miss) == []
    # --name and --cmdline together: both must match
    r = run("kill", "--name", "nomatch" + victims.tag, "--cmdline", f"* {marker}")
    assert r.returncode == 3


def test_kill_tree_takes_descendants_only(run, victims, tmp_path):
    pidfile = tmp_path / "chain.pids"
    root = victims.script(CHAIN, pidfile, 2)
    pids = wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 3
                    and [int(x) for x in pidfile.read_text().split()], what="chain of 3")
    victims.extra += pids
    bystander = victims.sleep()
    res = kill_json(run, "--tree", root.pid, "-s", "KILL")
    assert sorted(h["pid"] for h in res["hits"]) == sorted(pids)
    assert root.wait(timeout=20) == -signal.SIGKILL
    for pid in pids:
        wait_for(lambda: gone(pid), what=f"{pid} to die")
    assert bystander.poll() is None


def test_kill_group_signals_the_whole_group(run, victims, tmp_path):
    pidfile = tmp_path / "kids"
    parent = victims.script(SPAWNER, pidfile, 2, victims.link("/bin/sleep"), new_session=True)
    kids = wait_for(lambda: pidfile.exists() and [int(x) for x in pidfile.read_text().split()],
                    what="children")
    victims.extra += kids
    # both children match; their group is signalled once, with the parent in it
    res = kill_json(run, "--group", "--name", victims.tag)
    [hit] = res["hits"]
    assert hit["group"] == parent.pid
    assert sorted(m["pid"] for m in hit["members"]) == sorted([parent.pid] + kids)
    assert parent.wait(timeout=20) == -signal.SIGTERM
    for pid in kids:
        wait_for(lambda: gone(pid), what=f"group member {pid} to die")


def test_kill_group_refuses_faultlines_own_group(run, victims):
    v = victims.sleep()  # same process group as pytest, an ancestor of faultline
    r = run("kill", "--group", v.pid)
    assert r.returncode == 3, r.stderr
    assert "process group" in r.stderr
    assert v.poll() is None


def test_kill_reports_orphans(run, victims, tmp_path):
    pidfile = tmp_path / "kids"
    parent = victims.script(SPAWNER, pidfile, 2, victims.link("/bin/sleep"))
    kids = wait_for(lambda: pidfile.exists() and [int(x) for x in pidfile.read_text().split()],
                    what="children")
    victims.extra += kids
    res = kill_json(run, parent.pid)
    assert parent.wait(timeout=20) == -signal.SIGTERM
    orphans = {o["pid"]: o for o in res["orphans"]}
    assert sorted(orphans) == sorted(kids)
    for o in orphans.values():
        assert o["parent"] == parent.pid and o["new_parent"] != parent.pid
    # and as lines
    parent2 = victims.script(SPAWNER, tmp_path / "kids2", 1, victims.link("/bin/sleep"))
    kids2 = wait_for(lambda: (tmp_path / "kids2").exists() and
                     [int(x) for x in (tmp_path / "kids2").read_text().split()], what="child")
    victims.extra += kids2
    r = run("kill", parent2.pid)
    assert r.returncode == 0, r.stderr
    assert f"orphaned {kids2[0]}" in r.stdout


def test_kill_never_signals_init_faultline_or_ancestors(run, victims):
    one_line_error(run("kill", 1), 3, "pid 1")
    # pytest is faultline's parent: refused, even mixed with a real victim
    r = run("kill", "--dry-run", os.getpid())
    assert r.returncode == 3 and "ancestor" in r.stderr, r.stderr
    v = victims.recorder("v")
    res = kill_json(run, "-s", "USR1", os.getpid(), v.pid)
    assert [h["pid"] for h in res["hits"]] == [v.pid]
    assert [x["pid"] for x in res["refused"]] == [os.getpid()]
    wait_for(lambda: signals_seen(v) == ["SIGUSR1"], what="USR1")


def test_kill_dry_run_sends_nothing(run, victims):
    v = victims.recorder("v")
    res = kill_json(run, "--dry-run", "--name", victims.tag)
    assert [(h["pid"], h["result"]) for h in res["hits"]] == [(v.pid, "dry-run")]
    time.sleep(0.3)  # give a wrongly sent signal time to land; passing never depends on it
    assert signals_seen(v) == []


def monkey(run, tag, seed, extra=()):
    res = kill_json(run, "--name", tag + "m*", "-s", "USR1", "--every", "150ms", "--for",
                    "1500ms", "--seed", seed, *extra, timeout=60)
    assert res["seed"] == seed
    return res


def test_chaos_monkey_hits_only_matches_and_seed_replays(run, victims):
    herd = [victims.recorder(f"m{i}", suffix=f"m{i}") for i in range(4)]
    outsider = victims.recorder("out", suffix="x")
    first = monkey(run, victims.tag, 4242)
    assert len(first["hits"]) >= 3, first
    pids = {p.pid for p in herd}
    for h in first["hits"]:
        assert h["pid"] in pids and h["of"] == 4 and h["signal"] == "USR1"
        assert herd[h["index"]].pid == h["pid"]  # index: position by start time
    assert [h["round"] for h in first["hits"]] == list(range(len(first["hits"])))
    wait_for(lambda: sum(len(signals_seen(p)) for p in herd) == len(first["hits"]),
             what="every hit to be recorded")
    assert signals_seen(outsider) == []
    second = monkey(run, victims.tag, 4242)
    a = {h["round"]: h["index"] for h in first["hits"]}
    b = {h["round"]: h["index"] for h in second["hits"]}
    common = sorted(set(a) & set(b))
    assert len(common) >= 3
    assert [a[k] for k in common] == [b[k] for k in common]


def test_chaos_monkey_shows_in_status(faultline, env, run, victims):
    victims.recorder("m0", suffix="m0")
    p = popen_faultline(faultline, env, "kill", "--name", victims.tag + "m*", "-s", "USR1",
                        "--every", "100ms", "--for", "30s")
    try:
        err = wait_applied(p)
        assert "seed" in err
        r = run("status")
        assert r.returncode == 0
        assert "kill" in r.stdout and "every 100ms" in r.stdout and "(running)" in r.stdout
        p.send_signal(signal.SIGINT)
        rc, out, err = finish(p)
        assert rc == 0, err
        assert "SIGUSR1" in out and "round" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert journal_entries(env) == []


def test_kill_refuses_bad_input(run, victims):
    v = victims.sleep()
    one_line_error(run("kill", "-s", "NOPE", v.pid), 2, "--signal", "NOPE")
    one_line_error(run("kill", "--every", "often", "--for", "1s", v.pid), 2, "--every")
    one_line_error(run("kill", "--every", "1s", v.pid), 2, "--every needs --for")
    one_line_error(run("kill", "--for", "1s", v.pid), 2, "--for needs --every")
    one_line_error(run("kill"), 2, "nothing to signal")
    one_line_error(run("kill", "12ab"), 2, "'12ab' is not a pid")
    one_line_error(run("kill", "--tree", "x"), 2, "--tree")
    one_line_error(run("kill", "--bogus"), 2, "--bogus")
    one_line_error(run("kill", 2 ** 22 + 12345), 3, "no process")
    one_line_error(run("kill", "--name", "nomatch" + victims.tag), 3, "no process matches")
    assert v.poll() is None  # nothing was done by any of them
    r = run("help", "kill")
    assert r.returncode == 0 and "--every" in r.stdout and "--cmdline" in r.stdout


# ---- stop --------------------------------------------------------------------------------

def running(pid):
    return state(pid) in ("S", "R", "D")


def test_stop_holds_then_resumes_after_for(faultline, env, victims):
    v = victims.sleep()
    p = popen_faultline(faultline, env, "stop", v.pid, "--for", "2s", "--json")
    wait_for(lambda: state(v.pid) == "T", what="the target to stop")
    rc, out, err = finish(p)
    assert rc == 0, err
    res = json.loads(out)
    assert res["kind"] == "stop" and "reverted_ms" in res
    assert res["stopped"] == [v.pid] and res["already_stopped"] == []
    assert isinstance(res["guardian"], int)
    wait_for(lambda: gone(res["guardian"]), what="the guardian to exit after the revert")
    wait_for(lambda: running(v.pid), what="resume after --for")
    assert journal_entries(env) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stop_resumes_on_signal(faultline, env, victims, sig):
    a, b = victims.sleep("a"), victims.sleep("b")
    p = popen_faultline(faultline, env, "stop", a.pid, b.pid)
    wait_applied(p)
    assert state(a.pid) == "T" and state(b.pid) == "T"
    p.send_signal(sig)
    rc, out, err = finish(p)
    assert rc == 0, err
    assert running(a.pid) and running(b.pid)


def test_stop_guardian_resumes_after_sigkill(faultline, env, run, victims):
    v = victims.sleep()
    p = popen_faultline(faultline, env, "stop", v.pid)
    wait_applied(p)
    assert state(v.pid) == "T"
    p.kill()
    p.communicate(timeout=30)  # returns at once: the guardian holds none of our pipes
    wait_for(lambda: running(v.pid), what="the guardian to resume the target")
    wait_for(lambda: journal_entries(env) == [], what="the guardian to clear the journal")
    r = run("recover")  # idempotent with the guardian
    assert r.returncode == 0 and "0 reverted" in r.stdout
    assert running(v.pid)


def test_stop_recover_resumes_when_there_is_no_guardian(faultline, env, run, victims):
    v = victims.sleep()
    p = popen_faultline(faultline, env, "stop", v.pid, "--no-guardian")
    wait_applied(p)
    p.kill()
    p.communicate(timeout=30)
    assert state(v.pid) == "T"  # nobody resumed it
    r = run("status")
    assert "(gone)" in r.stdout and "SIGSTOP" in r.stdout
    r = run("recover")
    assert r.returncode == 0 and "1 reverted" in r.stdout, r.stdout
    wait_for(lambda: running(v.pid), what="recover to resume the target")
    assert journal_entries(env) == []


def test_stop_never_resumes_a_reused_pid(faultline, env, run, victims):
    v = victims.sleep()
    p = popen_faultline(faultline, env, "stop", v.pid, "--no-guardian")
    wait_applied(p)
    p.kill()
    p.communicate(timeout=30)
    # make the journal describe another process that had this pid: a different start time
    [entry] = journal_entries(env)
    e = json.loads(entry.read_text())
    e["undo"]["targets"][0]["start"] += 1
    entry.write_text(json.dumps(e))
    r = run("recover")
    assert r.returncode == 0 and "1 reverted" in r.stdout, r.stdout
    time.sleep(0.3)  # a wrong SIGCONT would land by now; passing never depends on it
    assert state(v.pid) == "T"


def test_stop_leaves_an_already_stopped_process_stopped(faultline, env, victims, run):
    v = victims.sleep()
    os.kill(v.pid, signal.SIGSTOP)
    wait_for(lambda: state(v.pid) == "T", what="stopped by the test")
    r = run("stop", v.pid, "--for", "200ms")
    assert r.returncode == 0, r.stderr
    assert "stopped already" in r.stderr
    assert state(v.pid) == "T"


def test_stop_refuses_bad_input(run, victims):
    v = victims.sleep()
    one_line_error(run("stop"), 2, "no process")
    one_line_error(run("stop", "abc"), 2, "'abc' is not a pid")
    one_line_error(run("stop", v.pid, "--for", "ages"), 2, "--for")
    one_line_error(run("stop", v.pid, "--for", "0"), 2, "--for")
    one_line_error(run("stop", 2 ** 22 + 12345, "--for", "1s"), 3, "no process")
    one_line_error(run("stop", 1, "--for", "1s"), 2, "pid 1")
    one_line_error(run("stop", os.getpid(), "--for", "1s"), 2, "ancestor")
    assert running(v.pid)
    r = run("help", "stop")
    assert r.returncode == 0 and "guardian" in r.stdout


# ---- the same kinds as experiment steps ---------------------------------------------------

def test_kinds_work_as_experiment_steps(run, tmp_path):
    db = tmp_path / "x.db"
    make_db(db, False)
    exp = tmp_path / "procs.yaml"
    exp.write_text(f"""
title: stop, lock and kill as steps
target:
  command: [/bin/sleep, "60"]
  ready: {{command: [/bin/true]}}
method:
  - fault: stop
    pid: target
    for: 300ms
  - fault: lock
    path: {db}
    mode: reserved
    for: 300ms
  - fault: kill
    pid: target
    signal: CONT
verify:
  - process: target
""")
    r = run("run", "--no-history", "--json", tmp_path / "r.json", exp, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    [e] = json.loads((tmp_path / "r.json").read_text())["experiments"]
    faults = {f["kind"]: f for f in e["faults"]}
    assert all(f["ok"] for f in faults.values()), faults
    assert len(faults["stop"]["report"]["stopped"]) == 1
    assert faults["lock"]["report"] == {"journal_mode": "rollback", "mode": "reserved"}
    [hit] = faults["kill"]["report"]["hits"]
    assert hit["signal"] == "CONT" and hit["result"] == "sent"
    # each took effect, and says so: one process frozen, one signalled, the lock held
    assert [faults[k]["fired"] for k in ("stop", "lock", "kill")] == [1, 1, 1], faults
    assert faults["stop"]["effect"].startswith("stopped 1 process")
    assert faults["kill"]["effect"].startswith("hit 1 process")
