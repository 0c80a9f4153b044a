# SPDX-License-Identifier: MIT
"""faultline crash on programs nobody here wrote (Debian's gzip, Python's standard library):
the findings docs/discovery.md reports, each next to the variant that must come out clean, so
neither the finding nor the clean result can be an accident of the check."""
import json
import shutil
import subprocess

import pytest

from conftest import ROOT

EX = ROOT / "examples" / "crash"
PY = "/usr/bin/python3"


def crash(faultline, env, tmp_path, *args):
    out = tmp_path / "crash.json"
    r = subprocess.run([faultline, "crash", "-q", "--json", str(out), *args], env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text()) if out.exists() else None
    return r, report


def patterns(report):
    return {f["pattern"] for f in report["findings"]}


@pytest.fixture
def gzip_bin():
    g = shutil.which("gzip")
    if not g:
        pytest.skip("gzip is not installed")
    return g


@pytest.mark.parametrize("model", ["posix", "ext4-ordered"])
def test_gzip_can_lose_the_file_it_compresses(faultline, env, tmp_path, gzip_bin, model):
    hooks = ["--setup", str(EX / "gzip/setup.sh"), "--check", str(EX / "gzip/check.sh")]
    r, rep = crash(faultline, env, tmp_path, "--model", model, *hooks, "--", gzip_bin,
                   "data.txt")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unsynced-append" in patterns(rep)
    f = next(f for f in rep["findings"] if f["pattern"] == "unsynced-append")
    calls = [c["call"] for c in f["calls_before_cut"]]
    assert any(c.startswith('unlink("data.txt")') for c in calls), calls
    assert any(c["lost"] and "data.txt.gz" in c["call"] for c in f["calls_before_cut"])
    # the reproduce line checks that one state again, and it fails the same way
    rr = subprocess.run(f["reproduce"].replace("faultline crash", f"{faultline} crash -q", 1),
                        shell=True, env=env, cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
    assert rr.returncode == 1 and "unsynced-append" in rr.stdout, rr.stdout + rr.stderr

    # --synchronous fsyncs before the unlink: no state loses the data
    r, rep = crash(faultline, env, tmp_path, "--model", model, *hooks, "--", gzip_bin,
                   "--synchronous", "data.txt")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["findings"] == [] and rep["states_checked"] >= 3


def test_python_dbm_dumb_has_a_window_with_no_index(faultline, env, tmp_path):
    args = ["--setup", str(EX / "python-dbm/setup.py"), "--check",
            str(EX / "python-dbm/check.py"), "--", PY, str(EX / "python-dbm/writer.py")]
    r, rep = crash(faultline, env, tmp_path, *args)
    assert r.returncode == 1, r.stdout + r.stderr
    found = patterns(rep)
    # between renaming db.dir to db.bak and writing the new db.dir there is no index at all:
    # a kill of the process there is enough, every call having reached the disk
    assert "not-atomic" in found, found
    na = next(f for f in rep["findings"] if f["pattern"] == "not-atomic")
    assert na["state"] == "none-lost"
    assert na["calls_before_cut"][-1]["call"].startswith('rename("db.dir", "db.bak")')
    assert {"rename-without-fsync", "missing-dir-fsync"} <= found
