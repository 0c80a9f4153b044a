# SPDX-License-Identifier: MIT
"""faultline's discovery commands on daemons nobody here wrote: Debian's redis-server and
mosquitto, each run in the foreground by examples/discovery/*/drive.py, which writes and prints
"ok NAME" for each write the daemon acknowledged. What docs/discovery.md reports ("Small
daemons: redis-server and mosquitto"), each result next to the run that must come out the
other way, so that neither can be an accident of the check."""
import json
import shutil
import subprocess

import pytest

from conftest import ROOT

R = ROOT / "examples" / "discovery" / "redis"
DRIVE = str(R / "drive.py")
CHECK = f"{R / 'check.py'} -- --appendonly yes"
STARTED = f"{DRIVE} --keys 0 -- --appendonly yes"  # a server that ran once: its AOF is there
AOF = ["--save", "", "--appendonly", "yes"]

M = ROOT / "examples" / "discovery" / "mosquitto"

redis = pytest.mark.skipif(not shutil.which("redis-server"),
                           reason="redis-server is not installed (apt-get install redis-server)")
mosquitto = pytest.mark.skipif(not shutil.which("mosquitto"),
                               reason="mosquitto is not installed (apt-get install mosquitto)")


def faultline_json(faultline, env, tmp_path, name, *args):
    out = tmp_path / f"{name}.json"
    r = subprocess.run([faultline, *args[:1], "-q", "--json", str(out), *args[1:]], env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    return r, json.loads(out.read_text()) if out.exists() else None


def full_disk(faultline, env, policy):
    """examples/discovery/redis/full-disk.sh: one key written while every write to the AOF
    fails with ENOSPC, then SHUTDOWN, then the check on what is left."""
    return subprocess.run([str(R / "full-disk.sh"), policy], env={**env, "FAULTLINE": faultline},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@redis
def test_redis_everysec_loses_an_acknowledged_key_at_a_clean_shutdown_on_a_full_disk(
        faultline, env):
    # everysec answers +OK while the AOF write has failed, and SHUTDOWN then exits 0 without
    # the write: the key is gone, and the client was told nothing
    r = full_disk(faultline, env, "everysec")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout == "drive.py: exit 0, printed: ok k0 \n1 of 1 acknowledged keys lost: k0\n"
    # always exits at the failed write, before the +OK: nothing acknowledged is lost
    r = full_disk(faultline, env, "always")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "drive.py: exit 1, printed: \n", r.stdout


@redis
def test_redis_aof_always_keeps_every_acknowledged_key_and_everysec_does_not(
        faultline, env, tmp_path):
    # appendfsync always: each SET is written and fdatasynced before its +OK, so no power cut
    # loses a key the client was told about
    crash = ["crash", "--exe", "redis-server", "--setup", STARTED, "--check", CHECK, "--",
             DRIVE, "--keys", "4", "--"]
    r, rep = faultline_json(faultline, env, tmp_path, "always", *crash, *AOF,
                            "--appendfsync", "always")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["findings"] == [] and rep["states_checked"] >= 5, rep
    calls = rep["recorded_calls"]
    assert sum(c.startswith("fdatasync(\"appendonlydir/appendonly.aof.1.incr.aof\")")
               for c in calls) >= 4, calls

    # everysec (the default) acknowledges before the fsync: the same check catches it
    r, rep = faultline_json(faultline, env, tmp_path, "everysec", *crash, *AOF,
                            "--appendfsync", "everysec")
    assert r.returncode == 1, r.stdout + r.stderr
    f = next(f for f in rep["findings"] if f["pattern"] == "unsynced-append")
    assert "acknowledged keys lost" in f["check_output"], f


@redis
def test_redis_first_start_relies_on_the_file_system_for_its_aof_directory(
        faultline, env, tmp_path):
    # the audit: only redis-server is traced (/usr/bin/redis-server is a symlink to
    # redis-check-rdb, and --exe names what the user typed), and its directory is the risk
    r, doc = faultline_json(faultline, env, tmp_path, "audit", "audit", "--exe", "redis-server",
                            "--", DRIVE, "--keys", "3", "--", *AOF, "--appendfsync", "always")
    assert r.returncode == 1, r.stdout + r.stderr
    incr = next(f for f in doc["files"] if f["path"] == "appendonlydir/appendonly.aof.1.incr.aof")
    assert incr["fsyncs"] >= 3 and incr["durable_at_end"], incr
    risk = next(k for k in doc["risks"] if k["kind"] == "missing-dir-fsync")
    assert "directory appendonlydir" in risk["explanation"], risk
    # the peaks are the daemon's, not those of the Python that started it
    assert doc["peaks"]["process"] == "redis-server" and doc["series"], doc["peaks"]

    # crash at the last cut: under posix the mkdir of appendonlydir can be lost with every
    # key in it; ext4 commits the mkdir with the first fsync inside it
    crash = ["crash", "--exe", "redis-server", "--check", CHECK, "--", DRIVE, "--keys", "3",
             "--", *AOF, "--appendfsync", "always"]
    r, rep = faultline_json(faultline, env, tmp_path, "ext4", *crash[:1], "--model",
                            "ext4-ordered", *crash[1:])
    assert r.returncode == 0 and rep["findings"] == [], r.stdout + r.stderr
    last = str(rep["calls"])
    r, rep = faultline_json(faultline, env, tmp_path, "posix", *crash[:1], "--cut", last,
                            "--state", "all-lost", *crash[1:])
    assert r.returncode == 1, r.stdout + r.stderr
    [f] = rep["findings"]
    assert f["pattern"] == "missing-dir-fsync" and "3 of 3 acknowledged keys lost" in \
        f["check_output"], f
    assert rep["recorded_calls"][0] == 'mkdir("appendonlydir")', rep["recorded_calls"][:3]
    assert "the mkdir of appendonlydir was not followed by an fsync" in f["explanation"], f


@redis
def test_a_sweep_names_pids_and_ports_that_change_by_their_shape(faultline, env, tmp_path):
    # the rewrite's temp file has redis's pid in its name, and each client comes from another
    # ephemeral port: rules naming them exactly would match nothing in any trial
    r, doc = faultline_json(faultline, env, tmp_path, "sweep", "sweep", "--exe", "redis-server",
                            "--budget", "1", "--check", CHECK, "--", DRIVE, "--keys", "2",
                            "--", *AOF)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    rules = {p["rule"]: p for p in doc["points"] if p["rule"]}
    temp = [p for rule, p in rules.items() if "path=*/temp-rewriteaof-*.aof" in rule]
    peer = [p for rule, p in rules.items() if rule.startswith("read:peer=127.0.0.1:site=")]
    assert temp and peer, sorted(rules)
    assert not any(p["varies"] for p in temp + peer), temp + peer
    assert not any("temp-rewriteaof-" in rule and "-*" not in rule for rule in rules)
    # and such a rule does fault the call: redis drops the client whose read failed, so the
    # first SET is never answered
    rule = next(rule for rule in rules if rule.startswith("read:peer=127.0.0.1:site="))
    work = tmp_path / "repro"
    work.mkdir()
    r = subprocess.run([faultline, "inject", "-q", "--exe", "redis-server", "-r",
                        f"{rule}:nth=2:errno=ECONNRESET", "--", DRIVE, "--keys", "2", "--", *AOF],
                       env=env, cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("drive: SET:"), r.stdout + r.stderr
    assert "ok k0" not in r.stdout


@mosquitto
def test_mosquitto_replaces_its_database_with_an_empty_file_on_a_full_disk(faultline, env):
    # the save at SIGTERM ignores fflush's ENOSPC, fsyncs, renames the empty file over the
    # good one and exits 0: the retained messages of both sessions are gone
    run = {"env": {**env, "FAULTLINE": faultline}, "cwd": ROOT, "capture_output": True,
           "text": True, "timeout": 60}
    r = subprocess.run([str(M / "full-disk.sh")], **run)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "drive.py: exit 0, printed: ok t0 ok t1 ok t2 stopped" in r.stdout, r.stdout
    assert "mosquitto.db: 0 bytes" in r.stdout and "3 of 3 acknowledged" in r.stdout, r.stdout
    r = subprocess.run([str(M / "full-disk.sh"), "none"], **run)
    assert r.returncode == 0, r.stdout + r.stderr


@mosquitto
def test_mosquitto_saves_at_exit_without_a_directory_fsync(faultline, env, tmp_path):
    # the database is written to mosquitto.db.new, fsynced and renamed over the old one, and
    # the directory is never fsynced: after the exit a power cut can bring the old one back
    crash = ["crash", "--model", "ext4-ordered", "--exe", "mosquitto", "--setup",
             f"{M / 'drive.py'} --messages 1", "--check", str(M / "check.py"), "--",
             str(M / "drive.py"), "--messages", "3"]
    r, rep = faultline_json(faultline, env, tmp_path, "mosquitto", *crash)
    assert r.returncode == 1, r.stdout + r.stderr
    [f] = rep["findings"]
    assert f["pattern"] == "missing-dir-fsync" and f["cut"] == rep["calls"], f
    assert "2 of 3 acknowledged retained messages lost" in f["check_output"], f
    calls = rep["recorded_calls"]
    assert 'fsync("mosquitto.db.new")' in calls, calls
    assert calls.index('fsync("mosquitto.db.new")') < calls.index(
        'rename("mosquitto.db.new", "mosquitto.db")'), calls
