# SPDX-License-Identifier: MIT
"""faultline audit: one traced run, no faults. Each risky pattern is reported on the program
that has it and not on its fixed twin (tests/discovery/audit), so no finding can be vacuous;
Debian's sqlite3 and gzip are audited too, and bad input gives one clear line."""
import json
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT

CASES = ROOT / "tests" / "discovery" / "audit"
PY = "/usr/bin/python3"


def audit(run, tmp_path, *args, template=True):
    out = tmp_path / "audit.json"
    tmpl = []
    if template:
        t = tmp_path / "template"
        t.mkdir(exist_ok=True)
        (t / "state.json").write_text('{"counter": 1}\n')
        tmpl = ["--dir", str(t)]
    r = run("audit", "-q", "--json", out, *tmpl, "--", *args, timeout=120)
    doc = json.loads(out.read_text()) if out.exists() else None
    return r, doc


def kinds(doc):
    return {k["kind"] for k in doc["risks"]}


@pytest.mark.parametrize("buggy, fixed, kind", [
    ("state_in_place.py", "state_atomic.py", "in-place-rewrite"),
    ("state_rename_no_fsync.py", "state_atomic.py", "rename-without-fsync"),
    ("state_no_dir_fsync.py", "state_atomic.py", "missing-dir-fsync"),
    ("connect_storm.py", "connect_backoff.py", "retry-storm"),
])
def test_a_risk_is_found_on_the_buggy_twin_only(run, tmp_path, buggy, fixed, kind):
    r, doc = audit(run, tmp_path, PY, str(CASES / buggy))
    assert r.returncode == 1, r.stdout + r.stderr
    assert kind in kinds(doc), doc["risks"]
    risk = next(k for k in doc["risks"] if k["kind"] == kind)
    assert risk["prove"].startswith("faultline "), risk
    assert risk["explanation"]
    r, doc = audit(run, tmp_path, PY, str(CASES / fixed))
    assert kind not in kinds(doc), doc["risks"]
    if fixed == "state_atomic.py":
        assert r.returncode == 0 and doc["risks"] == [], doc["risks"]
        f = next(f for f in doc["files"] if f["path"] == "state.json")
        assert f["temp_rename"] and f["fsyncs"] >= 1 and f["durable_at_end"], f


def test_a_new_directory_whose_parent_is_never_fsynced_is_a_risk(run, tmp_path):
    r, doc = audit(run, tmp_path, PY, str(CASES / "log_new_dir.py"), template=False)
    assert r.returncode == 1, r.stdout + r.stderr
    [risk] = [k for k in doc["risks"] if k["kind"] == "missing-dir-fsync"]
    assert risk["subject"] == "." and "directory logs" in risk["explanation"], risk
    r, doc = audit(run, tmp_path, PY, str(CASES / "log_new_dir.py"), "parent", template=False)
    assert r.returncode == 0 and doc["risks"] == [], doc["risks"]
    # the atomic recipe's temp file is renamed away: its rename is judged, not its creation
    r, doc = audit(run, tmp_path, PY, str(CASES / "state_no_dir_fsync.py"))
    [risk] = [k for k in doc["risks"] if k["kind"] == "missing-dir-fsync"]
    assert risk["explanation"].startswith("the rename of state.json.tmp"), risk


def test_an_unbounded_socket_wait_is_found_and_a_timeout_clears_it(run, tmp_path):
    r, doc = audit(run, tmp_path, PY, str(CASES / "client.py"), template=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unbounded-wait" in kinds(doc)
    mine = [s for s in doc["sockets"] if s["role"] == "connected"]
    assert mine and mine[0]["unbounded_wait"] and mine[0]["bounded_by"] == "none", doc["sockets"]
    risk = next(k for k in doc["risks"] if k["kind"] == "unbounded-wait")
    assert "silent" in risk["prove"] and mine[0]["peer"] in risk["prove"]
    r, doc = audit(run, tmp_path, PY, str(CASES / "client.py"), "2", template=False)
    assert r.returncode == 0, doc["risks"]
    mine = [s for s in doc["sockets"] if s["role"] == "connected"]
    assert mine and not mine[0]["unbounded_wait"] and mine[0]["bounded_by"] != "none"


@pytest.mark.parametrize("timeout", [None, "2"])
def test_an_epoll_wait_is_a_wait_on_the_sockets_in_its_set(run, tmp_path, timeout):
    args = ([timeout] if timeout else []) + ["--epoll"]
    r, doc = audit(run, tmp_path, PY, str(CASES / "client.py"), *args, template=False)
    mine = [s for s in doc["sockets"] if s["role"] == "connected"]
    assert mine, doc["sockets"]
    if timeout:
        assert r.returncode == 0, doc["risks"]
        assert not mine[0]["unbounded_wait"] and mine[0]["bounded_by"] == "poll/select/epoll timeout"
    else:
        assert r.returncode == 1 and "unbounded-wait" in kinds(doc), doc["risks"]
        assert mine[0]["unbounded_wait"] and mine[0]["bounded_by"] == "none"
        risk = next(k for k in doc["risks"] if k["kind"] == "unbounded-wait")
        assert "(epoll_wait)" in risk["explanation"]
    # the accepting side's socket is never a risk: a server waits for its clients
    assert all(k["subject"] != s["peer"] for k in doc["risks"]
               for s in doc["sockets"] if s["role"] == "accepted")


def test_growing_fds_are_seen_over_time(run, tmp_path):
    r, doc = audit(run, tmp_path, PY, str(CASES / "fd_leak.py"), template=False)
    assert "fd-growth" in kinds(doc), doc["risks"]
    assert len(doc["series"]) >= 5 and doc["peaks"]["fds"] >= 60
    r, doc = audit(run, tmp_path, PY, str(CASES / "fd_leak.py"), "close", template=False)
    assert "fd-growth" not in kinds(doc), doc["risks"]
    assert doc["peaks"]["fds"] < 20
    # a burst that is closed again is not growth, though the peak is as high
    r, doc = audit(run, tmp_path, PY, str(CASES / "fd_leak.py"), "spike", template=False)
    assert doc["peaks"]["fds"] >= 60
    assert "fd-growth" not in kinds(doc), doc["risks"]


@pytest.mark.parametrize("how", ["exit", "_exit", "exec"])
def test_what_a_process_did_is_kept_however_it_leaves(run, tmp_path, how):
    # the recorder batches its records; _exit runs no exit handler and exec drops the image
    r, doc = audit(run, tmp_path, PY, str(CASES / "leaves_abruptly.py"), how)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "in-place-rewrite" in kinds(doc), doc["risks"]
    f = next(f for f in doc["files"] if f["path"] == "state.json")
    assert f["bytes"] == len('{"counter": 2}\n') and f["fsyncs"] == 1, f


MIB = 1 << 20


def allocations(run, tmp_path, *args):
    r, doc = audit(run, tmp_path, *args, template=False)
    assert doc is not None, r.stdout + r.stderr
    return doc["allocations"]


@pytest.mark.parametrize("where, how", [("self", "exit"), ("self", "_exit"), ("child", "exit"),
                                        ("child", "_exit")])
def test_allocation_volume_is_counted_whoever_asked_and_however_it_left(run, tmp_path, where,
                                                                         how):
    big = allocations(run, tmp_path, PY, str(CASES / "allocates.py"), "100", where, how)
    small = allocations(run, tmp_path, PY, str(CASES / "allocates.py"), "2", where, how)
    assert big["bytes"] >= 100 * MIB and big["calls"] >= 100 and big["failed"] == 0, big
    # python's own start-up asks malloc for a few MiB: far less than the 100 blocks
    assert small["bytes"] < 40 * MIB and small["failed"] == 0, small
    if where == "child":
        # the main process only forked and waited: the volume is the child's
        assert big["processes"] == 2, big
        assert big["main"]["bytes"] < 40 * MIB <= big["bytes"] - big["main"]["bytes"], big
        # and the child counts from 0 at the fork: python's start-up is the parent's only
        assert big["calls"] - big["main"]["calls"] < big["main"]["calls"], big
    else:
        assert big["processes"] == 1, big
        assert big["main"] == {k: big[k] for k in ("calls", "bytes", "failed")}, big


def test_a_failed_allocation_is_counted_but_not_as_volume(run, tmp_path):
    a = allocations(run, tmp_path, PY, str(CASES / "allocates.py"), "2", "self", "exit", "huge")
    assert a["failed"] >= 1 and a["bytes"] < 40 * MIB, a


@pytest.fixture(scope="module")
def alloc_family(tmp_path_factory):
    cc = shutil.which("cc")
    if not cc:
        pytest.skip("needs a C compiler (cc)")
    exe = tmp_path_factory.mktemp("alloc") / "alloc_family"
    subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(CASES / "alloc_family.c")],
                   check=True)
    return str(exe)


def test_each_call_of_the_malloc_family_is_counted_once(run, tmp_path, alloc_family):
    # call i asks for 2^i MiB: 511 MiB in all when each is counted once (glibc's reallocarray
    # is a realloc: counted twice it would add 8 MiB), plus the C library's own few bytes
    a = allocations(run, tmp_path, alloc_family, "family")
    assert 511 * MIB <= a["bytes"] < 512 * MIB, a["bytes"] / MIB
    assert a["calls"] >= 9 and a["failed"] == 0, a
    f = allocations(run, tmp_path, alloc_family, "family", "fail")
    assert f["failed"] == 4 and f["calls"] == a["calls"] + 4, f
    assert 511 * MIB <= f["bytes"] < 512 * MIB, f["bytes"] / MIB


def test_threads_count_whether_they_ended_or_still_ran_at_exit(run, tmp_path, alloc_family):
    a = allocations(run, tmp_path, alloc_family, "threads", "100")
    # 100 MiB from the thread that ended, 100 from the one still running at exit
    assert a["calls"] >= 200 and a["bytes"] >= 200 * MIB, a
    s = allocations(run, tmp_path, alloc_family, "threads", "2")
    assert s["bytes"] < 10 * MIB, s


def test_the_page_says_the_volume_or_that_it_was_not_seen(run, tmp_path, build_dir):
    r = run("audit", "--", PY, str(CASES / "allocates.py"), "100", timeout=120)
    line = next((l for l in r.stdout.splitlines() if "allocations:" in l), r.stdout)
    assert re.search(r"allocations: \d{1,3}( \d{3})* calls, \d+\.\d MiB requested, 0 failed$",
                     line.strip()), line
    assert float(re.search(r"([\d.]+) MiB", line).group(1)) >= 100, line
    static = build_dir / "tests" / "victims" / "victim_static"
    if not static.exists():
        pytest.skip("no static victim (the C library has no libc.a)")
    out = tmp_path / "static.json"
    r = run("audit", "--json", out, "--", static, timeout=60)
    assert "allocations: not seen" in r.stdout, r.stdout
    assert json.loads(out.read_text())["allocations"] is None


def test_debian_sqlite3_and_gzip(run, tmp_path):
    if not shutil.which("sqlite3") or not shutil.which("gzip"):
        pytest.skip("needs sqlite3 and gzip (apt-get install sqlite3 gzip)")
    t = tmp_path / "db"
    t.mkdir()
    subprocess.run(["sqlite3", str(t / "db.sqlite"), "PRAGMA journal_mode=WAL; CREATE TABLE "
                    "t(v);"], check=True, capture_output=True)
    docs = {}
    for mode in ("FULL", "OFF"):
        out = tmp_path / f"sq-{mode}.json"
        run("audit", "-q", "--json", out, "--dir", t, "--", "sqlite3", "db.sqlite",
            f"PRAGMA synchronous={mode}; INSERT INTO t VALUES(1);", timeout=120)
        docs[mode] = json.loads(out.read_text())
    db = next(f for f in docs["FULL"]["files"] if f["path"] == "db.sqlite")
    # WAL with synchronous=FULL: the database is overwritten in place, behind its fsynced WAL
    assert db["how"] == "in place, behind a journal" and db["fsyncs"] >= 1, db
    assert docs["FULL"]["risks"] == [], docs["FULL"]["risks"]
    # with synchronous=OFF nothing is fsynced, so the same overwrite is a risk
    assert "in-place-rewrite" in kinds(docs["OFF"]), docs["OFF"]["risks"]
    g = tmp_path / "gz"
    g.mkdir()
    (g / "data.txt").write_text("x" * 10000)
    out = tmp_path / "gz.json"
    r = run("audit", "-q", "--json", out, "--dir", g, "--", "gzip", "data.txt", timeout=60)
    doc = json.loads(out.read_text())
    assert r.returncode == 1
    gz = next(f for f in doc["files"] if f["path"] == "data.txt.gz")
    assert gz["fsyncs"] == 0 and not gz["durable_at_end"]
    assert "never-fsynced" in kinds(doc)
    out = tmp_path / "gzs.json"
    r = run("audit", "-q", "--json", out, "--dir", g, "--", "gzip", "--synchronous",
            "data.txt", timeout=60)
    doc = json.loads(out.read_text())
    gz = next(f for f in doc["files"] if f["path"] == "data.txt.gz")
    assert gz["fsyncs"] >= 1 and r.returncode == 0 and doc["risks"] == [], doc


@pytest.mark.parametrize("args, code, words", [
    (["--", "no-such-program-xyz"], 2, "cannot run 'no-such-program-xyz'"),
    (["--dir", "/nonexistent-template", "--", "true"], 2, "--dir: /nonexistent-template"),
    (["--setup", "'unclosed", "--", "true"], 2, "unclosed"),
    (["--timeout", "soon", "--", "true"], 2, "--timeout"),
    (["--setup", "false", "--", "true"], 3, "--setup failed"),
    ([], 2, "no command given"),
])
def test_bad_input_gives_one_clear_line(run, args, code, words):
    r = run("audit", *args, timeout=60)
    assert r.returncode == code, r.stderr
    assert words in r.stderr
    assert len([l for l in r.stderr.splitlines() if "error" in l]) == 1, r.stderr


def test_sigint_stops_the_audit_and_leaves_nothing(faultline, env, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(env, TMPDIR=str(scratch))
    p = subprocess.Popen([faultline, "audit", "--", "sh", "-c", "echo started; sleep 30"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    o, e = p.communicate(timeout=30)
    assert p.returncode == 130, e
    assert list(scratch.iterdir()) == []
    left = subprocess.run(["pgrep", "-f", "echo started; sleep 30"], capture_output=True,
                          text=True)
    assert left.stdout.strip() == "", left.stdout
