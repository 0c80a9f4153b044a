# SPDX-License-Identifier: MIT
"""faultline corrupt / restore against real files and real SQLite databases.

Every mode: the damage is what it says (bytes checked), the seed replays it, restore brings
back the exact bytes and metadata (mode, owner, atime/mtime in ns, same inode where
promised), and restoring twice is harmless. SQLite modes are checked by what sqlite3 itself
reports. Bad input gets one line, the documented exit status, and an untouched file."""
import json
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile

import pytest

from conftest import have

TEXT = b"".join(b"line %03d: the quick brown fox jumps over the lazy dog\n" % i
                for i in range(60))
DOC = {"name": "pump-controller", "setpoint": 21.5, "interval_ms": 2500,
       "zones": [{"id": 1, "mode": "auto", "target": 1850}, {"id": 2, "mode": "manual",
                                                             "target": -40}],
       "enabled": True, "note": "tab\\there \"quoted\""}


# ---- helpers ---------------------------------------------------------------------------

def read_quietly(path) -> bytes:
    """Read without moving atime (O_NOATIME: owner or root), so snapshots do not disturb
    what they check."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


def snap(path):
    """Everything restore promises to put back, plus the inode."""
    st = os.lstat(path)
    return {"data": read_quietly(path), "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
            "atime_ns": st.st_atime_ns, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def same_but_inode(a, b):
    return {k: v for k, v in a.items() if k != "ino"} == {k: v for k, v in b.items()
                                                          if k != "ino"}


def make_file(path, data=TEXT, mode=0o640, times=(1577934245123456789, 1577934245987654321)):
    path = pathlib.Path(path)
    path.write_bytes(data)
    os.chmod(path, mode)
    os.utime(path, ns=times)
    return path


def corrupt(run, path, *args, seed=42, ok=True):
    """faultline corrupt PATH ARGS --json; returns the JSON result."""
    r = run("corrupt", path, *args, "--seed", seed, "--json")
    if not ok:
        return r
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def restore(run, *ids):
    r = run("restore", *(ids or ["--all"]))
    assert r.returncode == 0, r.stderr
    return r


def journal_ids(run):
    r = run("status", "--json")
    assert r.returncode == 0, r.stderr
    return [e["id"] for e in json.loads(r.stdout)]


def one_line_error(r, status, *words):
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def make_db(path, rows=400):
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    c.execute("CREATE INDEX users_email ON users(email)")
    c.execute("CREATE TABLE audit(at INTEGER, what TEXT)")
    c.executemany("INSERT INTO users(name, email) VALUES (?, ?)",
                  [("user %d " % i * 4, "u%d@example.org" % i) for i in range(rows)])
    c.executemany("INSERT INTO audit VALUES (?, ?)", [(i, "x" * 50) for i in range(200)])
    c.commit()
    c.close()
    os.utime(path, ns=(1600000000111111111, 1600000000222222222))
    return path


def sqlite_query(path, sql):
    """(ok, result or error text), in a fresh process-independent connection."""
    try:
        c = sqlite3.connect(path)
        try:
            return True, c.execute(sql).fetchall()
        finally:
            c.close()
    except sqlite3.DatabaseError as e:
        return False, str(e)


def cli(path, sql):
    """The sqlite3 shell's own verdict (stdout+stderr)."""
    r = subprocess.run(["sqlite3", str(path), sql], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def page_size(path):
    return int.from_bytes(read_quietly(path)[16:18], "big")


def what_number(result, word):
    m = re.search(r"\b%s (\d+)" % word, result["what"])
    assert m, result["what"]
    return int(m.group(1))


# ---- generic content modes -------------------------------------------------------------

def check_truncate(orig, new, res):
    assert new == orig[: len(orig) * 40 // 100]


def check_truncate_bytes(orig, new, res):
    assert new == orig[:100]


def check_empty(orig, new, res):
    assert new == b""


def check_garbage(orig, new, res):
    assert len(new) == 64 and new != orig[:64]


def check_garbage_default(orig, new, res):
    assert len(new) == len(orig) and new != orig
    # random bytes, not the text: far more distinct byte values than the text has
    assert len(set(new)) > 200


def check_bitflip(orig, new, res):
    assert len(new) == len(orig)
    diff = [(i, a ^ b) for i, (a, b) in enumerate(zip(orig, new)) if a != b]
    assert sum(bin(x).count("1") for _, x in diff) == 5
    assert all(10 <= i < 50 for i, _ in diff)


def check_bitflip_units(orig, new, res):
    diff = [i for i, (a, b) in enumerate(zip(orig, new)) if a != b]
    assert len(diff) == 1 and 1024 <= diff[0] < 2048


def check_bitflip_every_bit(orig, new, res):
    # 8 distinct bits of one byte: all of them, so a bit drawn twice would show
    assert new == bytes([orig[0] ^ 0xFF]) + orig[1:]


def check_zero(orig, new, res):
    assert new == orig[:8] + bytes(8) + orig[16:]


def check_zero_all(orig, new, res):
    assert new == bytes(len(orig))


def check_overwrite(orig, new, res):
    assert new == orig[:4] + bytes.fromhex("DEADBEEF") + orig[8:]


def check_append(orig, new, res):
    assert new[: len(orig)] == orig and len(new) == len(orig) + 100


def check_append_default(orig, new, res):
    assert new[: len(orig)] == orig and len(new) == len(orig) + 4096


def check_text_line(orig, new, res):
    """One line damaged, in its middle, at most 4 bytes, line count kept."""
    a, b = orig.split(b"\n"), new.split(b"\n")
    assert len(a) == len(b)
    changed = [i for i in range(len(a)) if a[i] != b[i]]
    assert len(changed) == 1
    la, lb = a[changed[0]], b[changed[0]]
    pos = [i for i in range(len(la)) if la[i] != lb[i]]
    assert 1 <= len(pos) <= 4
    assert min(pos) >= len(la) // 2 - 4 and max(pos) <= len(la) // 2 + 4


GENERIC = {
    "truncate-pct": (["--mode", "truncate", "--keep", "40%"], check_truncate),
    "truncate-bytes": (["--mode", "truncate", "--keep", "100"], check_truncate_bytes),
    "empty": (["--mode", "empty"], check_empty),
    "garbage": (["--mode", "garbage", "--size", "64"], check_garbage),
    "garbage-default": (["--mode", "garbage"], check_garbage_default),
    "bitflip": (["--mode", "bitflip", "--count", "5", "--range", "10:50"], check_bitflip),
    "bitflip-units": (["--mode", "bitflip", "--range", "1KiB:2KiB"], check_bitflip_units),
    "bitflip-every-bit": (["--mode", "bitflip", "--count", "8", "--range", "0:1"],
                          check_bitflip_every_bit),
    "zero": (["--mode", "zero", "--range", "8:16"], check_zero),
    "zero-all": (["--mode", "zero"], check_zero_all),
    "overwrite": (["--mode", "overwrite", "--offset", "4", "--hex", "DEADBEEF"],
                  check_overwrite),
    "append-garbage": (["--mode", "append-garbage", "--size", "100"], check_append),
    "append-default": (["--mode", "append-garbage"], check_append_default),
    "valid-then-corrupt-text": (["--mode", "valid-then-corrupt"], check_text_line),
}


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_mode_damages_replays_and_restores(run, tmp_path, name):
    args, check = GENERIC[name]
    f = make_file(tmp_path / "state.bin", TEXT * 2 if "units" in name else TEXT)
    before = snap(f)
    res = corrupt(run, f, *args)
    assert res["seed"] == 42 and res["detached"] is True
    assert res["what"].startswith("corrupt %s: %s" % (f, args[1]))
    damaged = snap(f)
    assert damaged["ino"] == before["ino"]  # in place, as a device does it
    check(before["data"], damaged["data"], res)
    assert journal_ids(run) == [res["id"]]

    r = restore(run, res["id"])
    assert "restored %s" % res["id"] in r.stdout
    assert snap(f) == before  # bytes, mode, owner, ns times, same inode
    assert journal_ids(run) == []
    assert not any((tmp_path / "state" / "backups").glob("*"))  # backups go with it

    # twice is harmless
    r = restore(run, res["id"])
    assert "nothing to restore" in r.stdout
    assert snap(f) == before

    # the same seed gives the same damage
    res2 = corrupt(run, f, *args)
    assert read_quietly(f) == damaged["data"]
    restore(run, res2["id"])
    assert snap(f) == before


def test_different_seed_different_damage(run, tmp_path):
    f = make_file(tmp_path / "a.bin")
    orig = read_quietly(f)
    out = []
    for seed in (1, 2):
        corrupt(run, f, "--mode", "bitflip", "--count", "8", seed=seed)
        out.append(read_quietly(f))
        restore(run)
    assert out[0] != out[1] and orig not in out


def test_seed_is_printed_without_json(run, tmp_path):
    f = make_file(tmp_path / "a.bin")
    r = run("corrupt", f, "--mode", "bitflip")
    assert r.returncode == 0, r.stderr
    m = re.search(r"seed (\d+)", r.stderr)
    assert m, r.stderr
    damaged = read_quietly(f)
    restore(run)
    r = run("corrupt", f, "--mode", "bitflip", "--seed", m.group(1))
    assert r.returncode == 0 and read_quietly(f) == damaged
    restore(run)


def test_valid_then_corrupt_json_still_parses_with_one_value_changed(run, tmp_path):
    f = tmp_path / "settings.json"
    f.write_text(json.dumps(DOC, indent=2))
    before = snap(f)
    res = corrupt(run, f, "--mode", "valid-then-corrupt", seed=7)
    new = read_quietly(f)
    assert len(new) == len(before["data"])
    assert sum(a != b for a, b in zip(before["data"], new)) == 1
    doc = json.loads(new)  # what we chose: the file still parses

    def leaves(x, p=()):
        if isinstance(x, dict):
            for k, v in x.items():
                yield from leaves(v, p + (k,))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                yield from leaves(v, p + (i,))
        else:
            yield p, x
    a, b = dict(leaves(DOC)), dict(leaves(doc))
    assert a.keys() == b.keys()  # structure and keys intact
    assert sum(a[k] != b[k] for k in a) == 1  # one value wrong
    restore(run, res["id"])
    assert snap(f) == before


def test_valid_then_corrupt_count(run, tmp_path):
    f = tmp_path / "settings.json"
    f.write_text(json.dumps(DOC))
    orig = f.read_bytes()
    corrupt(run, f, "--mode", "valid-then-corrupt", "--count", "3", seed=9)
    new = read_quietly(f)
    assert sum(a != b for a, b in zip(orig, new)) == 3
    json.loads(new)
    restore(run)
    assert f.read_bytes() == orig


# ---- access modes ----------------------------------------------------------------------

@pytest.mark.parametrize("mode,expect", [("readonly", 0o4551), ("unreadable", 0)])
def test_mode_bits(run, tmp_path, mode, expect):
    f = make_file(tmp_path / "a.bin", mode=0o4751)
    before = snap(f)
    r = run("corrupt", f, "--mode", mode)
    assert r.returncode == 0, r.stderr
    assert os.stat(f).st_mode & 0o7777 == expect
    if os.geteuid() == 0:
        assert "root" in r.stderr and "CAP_DAC_OVERRIDE" in r.stderr  # never pretends
    assert read_quietly(f) == before["data"]
    restore(run)
    assert snap(f) == before


@pytest.fixture
def shared_dir():
    """A directory that the nobody user can enter (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="fl-corrupt-", dir="/tmp")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    subprocess.run(["rm", "-rf", d])


def as_nobody(*cmd):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           *cmd], capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0 or not have("setpriv"),
                    reason="needs root and setpriv to act as another user")
def test_access_modes_stop_a_non_root_process(run, shared_dir):
    import pwd
    nobody = pwd.getpwnam("nobody")
    f = make_file(shared_dir / "a.txt", mode=0o644)
    os.chown(f, nobody.pw_uid, nobody.pw_gid)
    before = snap(f)
    write = ["sh", "-c", "echo more >> %s" % f]
    read = ["cat", str(f)]

    assert run("corrupt", f, "--mode", "readonly").returncode == 0
    r = as_nobody(*write)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert as_nobody(*read).returncode == 0
    restore(run)
    assert snap(f) == before

    assert run("corrupt", f, "--mode", "unreadable").returncode == 0
    r = as_nobody(*read)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    restore(run)
    assert snap(f) == before
    assert as_nobody(*read).stdout.encode() == TEXT


def test_delete_restores_a_new_inode_with_everything_else_exact(run, tmp_path):
    f = make_file(tmp_path / "a.bin", mode=0o600)
    before = snap(f)
    res = corrupt(run, f, "--mode", "delete")
    assert not f.exists()
    restore(run, res["id"])
    after = snap(f)
    assert same_but_inode(after, before)
    restore(run, res["id"])
    assert snap(f) == after


def test_replace_with_dir(run, tmp_path):
    f = make_file(tmp_path / "a.bin")
    before = snap(f)
    res = corrupt(run, f, "--mode", "replace-with-dir")
    assert f.is_dir() and not any(f.iterdir())
    (f / "written-by-app").write_text("x")
    r = run("restore", res["id"])
    one_line_error(r, 1, str(f), "not empty")
    assert (f / "written-by-app").exists()  # never deletes what it did not make
    assert journal_ids(run) == [res["id"]]
    (f / "written-by-app").unlink()
    restore(run, res["id"])
    assert same_but_inode(snap(f), before)


# ---- held, interrupted, killed ---------------------------------------------------------

def test_for_restores_by_itself(run, tmp_path):
    f = make_file(tmp_path / "a.bin")
    before = snap(f)
    r = run("corrupt", f, "--mode", "garbage", "--for", "300ms")
    assert r.returncode == 0, r.stderr
    assert "reverted" in r.stderr
    assert snap(f) == before
    assert journal_ids(run) == []


def start_held(faultline, env, f, *args):
    """A held corruption, returned once its "applied" line is out (the damage is done)."""
    p = subprocess.Popen([faultline, "corrupt", str(f), *args, "--for", "10m"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "applied" in line:
            return p
    pytest.fail("corrupt exited without applying: %s" % p.wait())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_hold_restores(faultline, env, tmp_path, sig):
    f = make_file(tmp_path / "a.bin")
    before = snap(f)
    p = start_held(faultline, env, f, "--mode", "empty")
    assert read_quietly(f) == b""
    p.send_signal(sig)
    assert p.wait(timeout=30) == 0
    assert snap(f) == before


def test_sigkill_during_hold_then_recover(faultline, env, run, tmp_path):
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    p = start_held(faultline, env, db, "--mode", "sqlite-page", "--table", "users")
    # count(*) alone would be answered from the smaller index; name is in the table only
    assert not sqlite_query(db, "SELECT max(length(name)) FROM users")[0]
    p.kill()
    p.wait(timeout=30)
    assert read_quietly(db) != before["data"]  # nobody reverted it
    r = run("recover")
    assert r.returncode == 0, r.stderr
    assert "reverted" in r.stdout
    assert snap(db) == before
    assert sqlite_query(db, "SELECT count(*) FROM users") == (True, [(400,)])


def test_restore_all_and_recover_all(run, tmp_path):
    a, b = make_file(tmp_path / "a"), make_file(tmp_path / "b")
    sa, sb = snap(a), snap(b)
    corrupt(run, a, "--mode", "empty")
    corrupt(run, b, "--mode", "empty")
    r = run("recover")  # detached corruptions are kept by a plain recover
    assert r.returncode == 0 and read_quietly(a) == b""
    r = run("recover", "--all")
    assert r.returncode == 0 and "2 reverted" in r.stdout
    assert snap(a) == sa and snap(b) == sb
    r = run("restore", "--all")
    assert r.returncode == 0 and "nothing to restore" in r.stdout


def test_restore_all_unwinds_newest_first_like_recover(run, tmp_path):
    files = [make_file(tmp_path / n) for n in ("a", "b", "c")]
    ids = [corrupt(run, f, "--mode", "empty")["id"] for f in files]
    r = run("restore", "--all", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [o["id"] for o in out] == ids[::-1]
    assert all(o["outcome"] == "restored" for o in out)
    assert all(read_quietly(f) == TEXT for f in files)


def test_restore_by_unique_substring_and_ambiguity(run, tmp_path):
    a, b = make_file(tmp_path / "a"), make_file(tmp_path / "b")
    ra = corrupt(run, a, "--mode", "empty")
    rb = corrupt(run, b, "--mode", "empty")
    # the ids share their pid-free prefix only by chance; their shared dash is ambiguous
    r = run("restore", "-")
    one_line_error(r, 2, "matches 2 entries")
    assert read_quietly(a) == b""
    # the unique tail of an id
    tail = ra["id"][-12:]
    assert tail not in rb["id"]
    restore(run, tail)
    assert read_quietly(a) == TEXT and read_quietly(b) == b""
    r = run("restore", "--json", rb["id"])
    assert r.returncode == 0
    assert json.loads(r.stdout)[0]["outcome"] == "restored"


def test_status_describes_the_corruption(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    res = corrupt(run, db, "--mode", "sqlite-page", "--table", "users")
    page = what_number(res, "page")
    r = run("status")
    assert "corrupt %s: sqlite-page (table users, page %d" % (db, page) in r.stdout
    assert "detached" in r.stdout
    restore(run)


# ---- SQLite ----------------------------------------------------------------------------

@pytest.mark.parametrize("part", ["magic", "pagesize"])
def test_sqlite_header(run, tmp_path, part):
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    res = corrupt(run, db, "--mode", "sqlite-header", "--part", part)
    new = read_quietly(db)
    if part == "magic":
        assert new[:16] != b"SQLite format 3\0" and new[16:] == before["data"][16:]
    else:
        ps = int.from_bytes(new[16:18], "big")
        assert ps & (ps - 1) and ps != 1  # not a power of two: invalid
        assert new[:16] == before["data"][:16] and new[18:] == before["data"][18:]
    rc, out = cli(db, "SELECT count(*) FROM users;")
    assert rc != 0 and "file is not a database" in out
    assert sqlite_query(db, "SELECT 1 FROM users") == (False, "file is not a database")
    restore(run, res["id"])
    assert snap(db) == before
    assert cli(db, "PRAGMA integrity_check;") == (0, "ok\n")


def test_sqlite_page_of_a_table(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    res = corrupt(run, db, "--mode", "sqlite-page", "--table", "users")
    page, ps = what_number(res, "page"), page_size(db)
    new = read_quietly(db)
    diff = [i for i, (a, b) in enumerate(zip(before["data"], new)) if a != b]
    assert diff == [(page - 1) * ps]  # the page-type byte, nothing else
    assert new[diff[0]] not in (2, 5, 10, 13)
    ok, err = sqlite_query(db, "SELECT count(*), max(length(name)) FROM users")
    assert not ok and err == "database disk image is malformed"
    rc, out = cli(db, "SELECT count(*), max(length(name)) FROM users;")
    assert rc != 0 and "database disk image is malformed" in out
    # the other table still reads: the damage is where it says
    assert sqlite_query(db, "SELECT count(*) FROM audit") == (True, [(200,)])
    restore(run, res["id"])
    assert snap(db) == before
    assert sqlite_query(db, "PRAGMA integrity_check") == (True, [("ok",)])


def test_sqlite_page_whole_file_and_explicit_page(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    res = corrupt(run, db, "--mode", "sqlite-page", seed=5)
    page = what_number(res, "page")
    assert page > 1
    ok, out = sqlite_query(db, "PRAGMA integrity_check")
    assert not ok or out != [("ok",)]
    restore(run)
    # the seed replays the page; --page names it
    assert what_number(corrupt(run, db, "--mode", "sqlite-page", seed=5), "page") == page
    restore(run)
    res = corrupt(run, db, "--mode", "sqlite-page", "--page", "2")
    assert read_quietly(db)[page_size(db)] not in (2, 5, 10, 13)
    restore(run, res["id"])
    assert snap(db) == before
    r = corrupt(run, db, "--mode", "sqlite-page", "--page", "1", ok=False)
    one_line_error(r, 2, "--page 1")
    r = corrupt(run, db, "--mode", "sqlite-page", "--table", "nosuch", ok=False)
    one_line_error(r, 2, "--table nosuch", "audit, users")
    assert snap(db) == before


WAL_CHILD = r"""
import os, signal, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
for i in range(int(sys.argv[2])):
    c.execute("INSERT INTO t(v) VALUES (?)", ("row %d" % i,))  # one commit, one frame each
os.kill(os.getpid(), signal.SIGKILL)  # the WAL stays on disk, never checkpointed
"""


def wal_db(tmp_path, rows=10):
    db = tmp_path / "w.db"
    r = subprocess.run([sys.executable, "-c", WAL_CHILD, str(db), str(rows)], timeout=60)
    assert r.returncode == -signal.SIGKILL
    wal = pathlib.Path(str(db) + "-wal")
    assert (wal.stat().st_size - 32) // (page_size(db) + 24) == rows
    return db, wal


def rows(db):
    ok, out = sqlite_query(db, "SELECT count(*) FROM t")
    assert ok, out
    return out[0][0]


@pytest.mark.parametrize("args,left", [
    (["--part", "header"], 0),
    (["--part", "frame", "--frame", "4"], 3),
    (["--part", "frame", "--frame", "1"], 0),
    (["--part", "truncate", "--frame", "7"], 6),
    (["--part", "truncate", "--frame", "10"], 9),
])
def test_sqlite_wal_loses_committed_rows(run, tmp_path, args, left):
    db, wal = wal_db(tmp_path)
    before_db, before_wal = snap(db), snap(wal)
    res = corrupt(run, db, "--mode", "sqlite-wal", *args)
    new = read_quietly(wal)
    if "truncate" in args:
        frame = int(args[-1])
        fsz = page_size(db) + 24
        assert 32 + (frame - 1) * fsz < len(new) < 32 + frame * fsz
        assert new == before_wal["data"][: len(new)]
    else:
        diff = [i for i, (a, b) in enumerate(zip(before_wal["data"], new)) if a != b]
        off = 24 if "header" in args else 32 + (int(args[-1]) - 1) * (page_size(db) + 24) + 16
        assert diff and all(off <= i < off + 8 for i in diff)
    assert rows(db) == left  # silently: no error, just fewer rows
    assert not wal.exists()  # that reader checkpointed what it saw and removed the WAL
    restore(run, res["id"])
    assert snap(db) == before_db and same_but_inode(snap(wal), before_wal)
    assert rows(db) == 10


def test_sqlite_wal_seeded_frame(run, tmp_path):
    db, wal = wal_db(tmp_path)
    res = corrupt(run, db, "--mode", "sqlite-wal", "--part", "frame", seed=11)
    frame = what_number(res, "frame")
    assert rows(db) == frame - 1
    restore(run)
    assert rows(db) == 10


def test_sqlite_wal_needs_a_wal(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    r = corrupt(run, db, "--mode", "sqlite-wal", ok=False)
    one_line_error(r, 3, "-wal", "no such file")
    assert snap(db) == before and not pathlib.Path(str(db) + "-wal").exists()


def test_sqlite_journal_new_hot_journal(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    journal = pathlib.Path(str(db) + "-journal")
    before = snap(db)
    res = corrupt(run, db, "--mode", "sqlite-journal", "--table", "users")
    page, ps = what_number(res, "page"), page_size(db)
    assert read_quietly(db) == before["data"]  # nothing yet: SQLite does it on open
    j = read_quietly(journal)
    assert j[:8] == bytes.fromhex("d9d505f920a163d7")
    assert int.from_bytes(j[512:516], "big") == page
    ok, err = sqlite_query(db, "SELECT count(*), max(length(name)) FROM users")
    assert not ok and err == "database disk image is malformed"
    assert not journal.exists()  # SQLite rolled it back and deleted it
    new = read_quietly(db)
    assert new[: (page - 1) * ps] == before["data"][: (page - 1) * ps]
    assert new[(page - 1) * ps: page * ps] != before["data"][(page - 1) * ps: page * ps]
    restore(run, res["id"])
    assert snap(db) == before and not journal.exists()
    assert sqlite_query(db, "PRAGMA integrity_check") == (True, [("ok",)])
    restore(run, res["id"])


def test_sqlite_journal_restore_removes_the_journal_it_made(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    corrupt(run, db, "--mode", "sqlite-journal", "--table", "users")
    assert pathlib.Path(str(db) + "-journal").exists()
    restore(run)
    assert snap(db) == before and not pathlib.Path(str(db) + "-journal").exists()
    # the same through the sqlite3 shell, which rolls the hot journal back on open
    corrupt(run, db, "--mode", "sqlite-journal", "--table", "users")
    rc, out = cli(db, "SELECT max(length(name)) FROM users;")
    assert rc != 0 and "database disk image is malformed" in out
    restore(run)
    assert snap(db) == before and not pathlib.Path(str(db) + "-journal").exists()


HOT_CHILD = r"""
import os, signal, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA cache_size=1")  # spill: the journal is synced, then the db is written
c.execute("BEGIN")
c.execute("UPDATE users SET name = upper(name)")
os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction: a hot journal is left
"""


def test_sqlite_journal_existing_hot_journal(run, tmp_path):
    db = make_db(tmp_path / "app.db")
    r = subprocess.run([sys.executable, "-c", HOT_CHILD, str(db)], timeout=60)
    assert r.returncode == -signal.SIGKILL
    journal = pathlib.Path(str(db) + "-journal")
    assert journal.exists()
    before_db, before_j = snap(db), snap(journal)
    res = corrupt(run, db, "--mode", "sqlite-journal")
    assert "page" not in res["what"]
    ok, err = sqlite_query(db, "SELECT count(*), max(length(name)) FROM users")
    assert not ok and err == "database disk image is malformed"
    restore(run, res["id"])
    # SQLite deleted the journal after its rollback: it comes back as a new inode
    assert snap(db) == before_db and same_but_inode(snap(journal), before_j)
    # the real journal rolls back cleanly: the update never happened
    assert sqlite_query(db, "SELECT count(*), sum(name = upper(name)) FROM users") == \
        (True, [(400, 0)])
    assert sqlite_query(db, "PRAGMA integrity_check") == (True, [("ok",)])


@pytest.mark.parametrize("mode", ["sqlite-header", "sqlite-page", "sqlite-wal",
                                  "sqlite-journal"])
def test_sqlite_modes_refuse_other_files(run, tmp_path, mode):
    f = make_file(tmp_path / "notes.txt")
    before = snap(f)
    r = corrupt(run, f, "--mode", mode, ok=False)
    one_line_error(r, 2, str(f), "not an SQLite database")
    assert snap(f) == before
    assert journal_ids(run) == []
    assert not pathlib.Path(str(f) + "-journal").exists()


def test_sqlite_journal_refuses_wal_mode(run, tmp_path):
    db, wal = wal_db(tmp_path)
    r = corrupt(run, db, "--mode", "sqlite-journal", ok=False)
    one_line_error(r, 2, "WAL mode")


# ---- bad input -------------------------------------------------------------------------

BAD = [
    (["--mode", "empty"], "missing", 3, ["no such file"]),
    (["--mode", "empty"], "dir", 2, ["is a directory"]),
    (["--mode", "shred"], "file", 2, ["--mode 'shred'", "truncate", "replace-with-dir"]),
    (["--mode", "truncate", "--keep", "5000"], "file", 2, ["--keep", "larger than the file"]),
    (["--mode", "truncate", "--keep", "12parsecs"], "file", 2, ["--keep", "12parsecs"]),
    (["--mode", "zero", "--range", "100:99999"], "file", 2, ["--range", "outside the file"]),
    (["--mode", "bitflip", "--range", "50:10"], "file", 2, ["--range", "START"]),
    (["--mode", "bitflip", "--range", "nonsense"], "file", 2, ["--range"]),
    (["--mode", "bitflip", "--keep", "10"], "file", 2, ["--keep", "does not apply"]),
    (["--mode", "bitflip", "--count", "100000"], "file", 2, ["--count"]),
    (["--mode", "overwrite", "--offset", "3600", "--hex", "DEADBEEF"], "file", 2,
     ["--offset", "outside"]),
    (["--mode", "overwrite", "--hex", "XYZ"], "file", 2, ["--hex"]),
    (["--mode", "overwrite"], "file", 2, ["--hex"]),
    (["--mode", "garbage", "--size", "2GiB"], "file", 2, ["--size"]),
    (["--mode", "sqlite-header", "--part", "footer"], "db", 2, ["--part 'footer'"]),
    (["--mode", "sqlite-wal", "--part", "header", "--frame", "2"], "db", 2, ["--frame"]),
    (["--for", "soon", "--mode", "empty"], "file", 2, ["--for"]),
    ([], "file", 2, ["--mode"]),
]


@pytest.mark.parametrize("args,target,status,words", BAD,
                         ids=[" ".join(b[0]) or "no-mode" for b in BAD])
def test_bad_input_changes_nothing(run, tmp_path, args, target, status, words):
    f = make_file(tmp_path / "file")
    db = make_db(tmp_path / "app.db")
    path = {"missing": tmp_path / "missing", "dir": tmp_path, "file": f, "db": db}[target]
    sf, sdb = snap(f), snap(db)
    r = run("corrupt", path, *args)
    one_line_error(r, status, *words)
    assert snap(f) == sf and snap(db) == sdb
    assert journal_ids(run) == []
    assert not (tmp_path / "missing").exists()


def test_backup_cap(run, tmp_path):
    f = tmp_path / "huge.img"
    with open(f, "wb") as h:
        h.truncate((1 << 30) + 1)  # sparse: costs no disk
    r = run("corrupt", f, "--mode", "bitflip")
    one_line_error(r, 2, "1GiB")
    assert os.stat(f).st_size == (1 << 30) + 1 and journal_ids(run) == []


def test_restore_input(run, tmp_path):
    r = run("restore")
    one_line_error(r, 2, "--all")
    r = run("restore", "no-such-id")
    assert r.returncode == 0 and "nothing to restore" in r.stdout


def test_help(run):
    for args in (["corrupt", "--help"], ["help", "corrupt"]):
        r = run(*args)
        assert r.returncode == 0 and "usage: faultline corrupt PATH --mode MODE" in r.stdout
        for mode in ("truncate", "valid-then-corrupt", "sqlite-journal", "replace-with-dir"):
            assert mode in r.stdout
    r = run("help", "restore")
    assert r.returncode == 0 and "usage: faultline restore" in r.stdout


# ---- revert copes with what a kill leaves behind ----------------------------------------

def test_restore_when_apply_never_ran(run, tmp_path):
    """An entry with its undo and backups, but a file that was never damaged (faultline
    killed between prepare and apply): restore leaves the file exact."""
    import shutil
    f = make_file(tmp_path / "a.bin")
    state = tmp_path / "state"
    res = corrupt(run, f, "--mode", "garbage")
    entry = state / "journal" / (res["id"] + ".json")
    saved_entry = entry.read_bytes()
    shutil.copytree(state / "backups" / res["id"], tmp_path / "saved-backups")
    restore(run, res["id"])
    pristine = snap(f)
    entry.write_bytes(saved_entry)
    shutil.copytree(tmp_path / "saved-backups", state / "backups" / res["id"])
    r = restore(run, res["id"])
    assert "restored" in r.stdout
    assert snap(f) == pristine and journal_ids(run) == []


def test_restore_after_a_revert_killed_before_removing_its_entry(run, tmp_path):
    """Backups are removed only after a finished revert: an entry without them is done."""
    import shutil
    f = make_file(tmp_path / "a.bin")
    state = tmp_path / "state"
    res = corrupt(run, f, "--mode", "empty")
    entry = state / "journal" / (res["id"] + ".json")
    saved_entry = entry.read_bytes()
    restore(run, res["id"])
    pristine = snap(f)
    entry.write_bytes(saved_entry)
    assert not (state / "backups" / res["id"]).exists()
    restore(run, res["id"])
    assert snap(f) == pristine and journal_ids(run) == []
    shutil.rmtree(state / "backups", ignore_errors=True)


def test_relative_path_and_symlink_damage_the_target(run, tmp_path):
    f = make_file(tmp_path / "real.bin")
    os.symlink("real.bin", tmp_path / "link.bin")
    before, link = snap(f), os.lstat(tmp_path / "link.bin")
    res = corrupt(run, "link.bin", "--mode", "empty")  # run() works in tmp_path
    assert str(f) in res["what"]
    assert read_quietly(f) == b""
    restore(run)
    assert snap(f) == before
    assert os.lstat(tmp_path / "link.bin").st_ino == link.st_ino


@pytest.mark.skipif(os.geteuid() != 0 or not have("setpriv"),
                    reason="needs root and setpriv to run faultline as another user")
def test_non_root_user_restores_an_unreadable_file(faultline, env, shared_dir):
    """Not root: restore must first make a mode-000 file writable again (its owner may)."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.chown(shared_dir, nobody.pw_uid, nobody.pw_gid)
    f = make_file(shared_dir / "a.txt", mode=0o640)
    os.chown(f, nobody.pw_uid, nobody.pw_gid)
    before = snap(f)
    e = dict(env, FAULTLINE_STATE_DIR=str(shared_dir / "state"))

    def fl(*args):
        return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                               "--clear-groups", faultline, *args], env=e, capture_output=True,
                              text=True, timeout=30)
    r = fl("corrupt", str(f), "--mode", "unreadable")
    assert r.returncode == 0, r.stderr
    assert "root" not in r.stderr  # the notice is for root only
    assert os.stat(f).st_mode & 0o777 == 0
    r = fl("restore", "--all")
    assert r.returncode == 0, r.stderr
    assert snap(f) == before
    r = fl("corrupt", str(f), "--mode", "garbage", "--seed", "3")
    assert r.returncode == 0, r.stderr
    r = fl("restore", "--all")
    assert r.returncode == 0, r.stderr
    assert snap(f) == before


def test_valid_then_corrupt_leaves_escapes_alone(run, tmp_path):
    f = tmp_path / "s.json"
    f.write_bytes(b'{"k": "\\u00e9\\u00fc\\n\\"x"}')
    for seed in range(1, 11):
        corrupt(run, f, "--mode", "valid-then-corrupt", seed=seed)
        value = json.loads(read_quietly(f))["k"]
        assert value[:4] == '\u00e9\u00fc\n"' and value[4] != "x" and value[4].islower()
        restore(run)


def test_a_file_already_damaged_is_refused(run, tmp_path):
    """Stacked damage could be restored in the wrong order and bring the damage back."""
    db = make_db(tmp_path / "app.db")
    before = snap(db)
    res = corrupt(run, db, "--mode", "sqlite-page")
    damaged = snap(db)
    for mode in ("bitflip", "sqlite-header"):
        r = corrupt(run, db, "--mode", mode, ok=False)
        one_line_error(r, 2, "already damaged by " + res["id"])
        assert snap(db) == damaged and journal_ids(run) == [res["id"]]
    restore(run)
    assert snap(db) == before


@pytest.mark.parametrize("mode,args", [
    ("sqlite-header", ["--part", "magic"]),
    ("sqlite-header", ["--part", "pagesize"]),
    ("sqlite-page", []),
    ("sqlite-page", ["--table", "users_email"]),
    ("sqlite-wal", ["--part", "header"]),
    ("sqlite-wal", ["--part", "frame"]),
    ("sqlite-wal", ["--part", "truncate"]),
    ("sqlite-journal", []),
])
def test_sqlite_seed_replays_and_restore_twice(run, tmp_path, mode, args):
    if mode == "sqlite-wal":
        db, _ = wal_db(tmp_path)
    else:
        db = make_db(tmp_path / "app.db")
    files = [db] + [pathlib.Path(str(db) + s) for s in ("-wal", "-journal")]

    def state():
        return {str(f): snap(f) for f in files if f.exists()}
    before = state()
    results, damaged = [], []
    for _ in range(2):
        results.append(corrupt(run, db, "--mode", mode, *args, seed=2024))
        damaged.append({k: v["data"] for k, v in state().items()})
        restore(run, results[-1]["id"])
        assert state() == before
        r = restore(run, results[-1]["id"])
        assert "nothing to restore" in r.stdout and state() == before
    assert damaged[0] == damaged[1]
    assert damaged[0] != {k: v["data"] for k, v in before.items()}
    assert results[0]["what"] == results[1]["what"]
