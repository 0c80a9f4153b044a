# SPDX-License-Identifier: MIT
"""The journal's promise, tortured: apply random host and file faults (corruptions, disk fills,
process stops), SIGKILL faultline at random moments, run `faultline recover`, and check that
not one byte or mode bit differs from the original, no balloon file remains and no process
stays stopped. FAULTLINE_TORTURE_ROUNDS sets the number of rounds (default 300)."""
import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import time

import pytest

ROUNDS = int(os.environ.get("FAULTLINE_TORTURE_ROUNDS", "300"))

# (mode, extra flags) per file type; every one must be valid for that file.
GENERIC = [
    ("truncate", ["--keep", "40%"]),
    ("empty", []),
    ("garbage", []),
    ("bitflip", ["--count", "16"]),
    ("zero", []),
    ("overwrite", ["--offset", "3", "--hex", "deadbeef"]),
    ("append-garbage", ["--size", "100"]),
    ("readonly", []),
    ("unreadable", []),
    ("delete", []),
    ("replace-with-dir", []),
]
TEXT_ONLY = [("valid-then-corrupt", [])]
SQLITE_ONLY = [("sqlite-header", []), ("sqlite-page", []), ("sqlite-journal", [])]


def snapshot(path):
    """What must come back exactly: bytes, type and mode bits, owner, mtime (atime is read
    with O_NOATIME so that checking does not change it)."""
    st = os.lstat(path)
    fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
    try:
        data = b""
        while chunk := os.read(fd, 1 << 20):
            data += chunk
    finally:
        os.close(fd)
    return {
        "data": data,
        "mode": st.st_mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime_ns": st.st_mtime_ns,
        "atime_ns": st.st_atime_ns,
    }


def make_files(d):
    d.mkdir()
    rnd = random.Random(7)
    (d / "config.json").write_text(json.dumps({"name": "pump", "rate": 17, "on": True,
                                               "zones": list(range(20))}, indent=2))
    (d / "notes.txt").write_text("".join(f"line {i}: {rnd.random()}\n" for i in range(200)))
    (d / "blob.bin").write_bytes(bytes(rnd.randrange(256) for _ in range(9000)))
    db = d / "app.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, v TEXT)")
    con.executemany("INSERT INTO readings (v) VALUES (?)", [(f"r{i}" * 20,) for i in range(400)])
    con.commit()
    con.close()
    os.chmod(d / "notes.txt", 0o640)
    os.chmod(d / "blob.bin", 0o604)
    # distinct times, so a restore that forgets them is seen
    os.utime(d / "config.json", ns=(1_600_000_000_123_456_789, 1_600_000_100_987_654_321))
    os.utime(d / "blob.bin", ns=(1_500_000_000_000_000_001, 1_500_000_000_000_000_002))
    return {p.name: snapshot(p) for p in d.iterdir()}


def can_mount_tmpfs(where):
    if os.geteuid() != 0:
        return "not root: cannot mount a tmpfs for the fill faults"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot mount a tmpfs here: {r.stderr.strip()}"
    return None


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def sleepers():
    procs = [subprocess.Popen(["sleep", "3600"]) for _ in range(3)]
    yield procs
    for p in procs:
        try:
            os.kill(p.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        p.kill()
        p.wait()


def test_sigkill_at_random_moments_then_recover_loses_nothing(faultline, env, tmp_path, sleepers):
    files = tmp_path / "files"
    originals = make_files(files)
    names = sorted(originals)
    disk = tmp_path / "disk"
    no_fill = can_mount_tmpfs(disk)
    if no_fill:
        print(f"fill faults left out: {no_fill}")
    free_before = shutil.disk_usage(disk).free if not no_fill else None
    rnd = random.Random(int(os.environ.get("FAULTLINE_TORTURE_SEED", "20261123")))
    counts = {"corrupt": 0, "fill": 0, "stop": 0, "natural": 0}
    try:
        for rnd_no in range(ROUNDS):
            cmds = []
            # one corruption per file at a time: a second is refused by design
            free_names = list(names)
            for _ in range(rnd.randint(1, 3)):
                kind = rnd.choice(["corrupt", "corrupt", "stop"] + ([] if no_fill else ["fill"]))
                if kind == "corrupt" and not free_names:
                    kind = "stop"
                # a few holds end on their own, to mix finished reverts with killed ones
                hold = rnd.choice(["30s"] * 5 + ["1ms", "20ms"])
                if kind == "corrupt":
                    name = free_names.pop(rnd.randrange(len(free_names)))
                    pool = GENERIC + (SQLITE_ONLY if name.endswith(".db") else []) + (
                        TEXT_ONLY if name.endswith((".json", ".txt")) else [])
                    mode, extra = rnd.choice(pool)
                    cmd = ["corrupt", files / name, "--mode", mode, *extra,
                           "--seed", str(rnd.randrange(1 << 30)), "--for", hold]
                elif kind == "fill":
                    cmd = ["fill", disk, "--leave", f"{rnd.randint(1, 6)}MiB", "--for", hold]
                else:
                    cmd = ["stop", str(rnd.choice(sleepers).pid), "--for", hold]
                counts[kind] += 1
                cmds.append(cmd)
            procs = [subprocess.Popen([faultline, "-q", *map(str, c)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                     for c in cmds]
            time.sleep(rnd.uniform(0, 0.08))
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                else:
                    counts["natural"] += 1
            for p, c in zip(procs, cmds):
                err = p.communicate()[1].decode()
                # killed (-9) or finished cleanly; anything else is a refusal worth seeing,
                # except a fill that found the disk already as full as asked (another fill of
                # the same round got there first): exit 2, "nothing to fill"
                ok = (0, -9, 2) if c[0] == "fill" else (0, -9)
                assert p.returncode in ok, f"round {rnd_no}: {c}: {err}"
            r = subprocess.run([faultline, "recover", "--json"], env=env, capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, f"round {rnd_no}: recover failed: {r.stdout}{r.stderr}"
            check_all_back(files, originals, disk, no_fill, free_before, sleepers, rnd_no, env,
                           faultline)
    finally:
        if not no_fill:
            subprocess.run(["umount", "-l", str(disk)])
    print(f"{ROUNDS} rounds: {counts}")


def check_all_back(files, originals, disk, no_fill, free_before, sleepers, rnd_no, env,
                   faultline):
    where = f"after round {rnd_no}"
    assert sorted(p.name for p in files.iterdir()) == sorted(originals), where
    for name, want in originals.items():
        got = snapshot(files / name)
        assert stat.S_ISREG(got["mode"]), f"{where}: {name} is not a regular file"
        for key in want:
            assert got[key] == want[key], f"{where}: {name}: {key} differs"
    if not no_fill:
        left = [p.name for p in disk.iterdir()]
        assert left == [], f"{where}: left in the filled filesystem: {left}"
        assert shutil.disk_usage(disk).free == free_before, where
    for p in sleepers:
        # a guardian may resume a moment after recover returns; recover itself must have
        deadline = time.monotonic() + 5
        while proc_state(p.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc_state(p.pid) != "T", f"{where}: process {p.pid} still stopped"
    status = subprocess.run([faultline, "status", "--json"], env=env, capture_output=True,
                            text=True)
    assert json.loads(status.stdout) == [], f"{where}: journal not empty: {status.stdout}"
    backups = os.path.join(env["FAULTLINE_STATE_DIR"], "backups")
    assert not os.path.isdir(backups) or os.listdir(backups) == [], \
        f"{where}: backups left: {os.listdir(backups)}"
