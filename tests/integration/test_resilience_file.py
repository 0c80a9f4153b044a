# SPDX-License-Identifier: MIT
"""libresilience's atomic replace judged by faultline itself: `faultline crash` finds no power
cut that loses or tears an acknowledged save (both models), and `faultline sweep`, which fails
each of the calls it makes in turn (errors, short writes, a kill before and after each call),
finds no run that leaves the file torn or loses what was acknowledged. The naive writer of
the crash corpus, judged by the same check, is caught (the check can fail). Also: a program
built against the uninstalled pkg-config file links and runs."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

CORPUS = ROOT / "tests" / "discovery" / "crash"
STATE = ["--dir", "templates/state", "--check", "./check_state.py state.json"]


def faultline(env, tmp_path, *args, timeout=300):
    out = tmp_path / f"{args[0]}.json"
    r = subprocess.run([str(BUILD / "faultline"), args[0], "-q", "--json", str(out), *args[1:]],
                       cwd=CORPUS, env=env, capture_output=True, text=True, timeout=timeout)
    return r, json.loads(out.read_text()) if out.exists() else None


@pytest.mark.parametrize("model", ["posix", "ext4-ordered"])
def test_no_power_cut_breaks_the_atomic_replace(env, tmp_path, model):
    r, rep = faultline(env, tmp_path, "crash", "--model", model, *STATE, "--",
                       str(BUILD / "tests" / "rs-save"), "state.json", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["findings"] == [] and rep["states_checked"] >= 10, rep
    calls = " ".join(rep["recorded_calls"])
    assert "fsync" in calls and "rename" in calls and "link" in calls, calls


def test_the_same_check_catches_the_naive_writer(env, tmp_path):
    src = CORPUS / "state-inplace.c"
    exe = tmp_path / "state-inplace"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True)
    r, rep = faultline(env, tmp_path, "crash", *STATE, "--", str(exe), "state.json", "3")
    assert r.returncode == 1 and {f["pattern"] for f in rep["findings"]} == {"in-place-rewrite"}


def test_failing_each_call_in_turn_never_tears_or_loses_a_save(env, tmp_path):
    r, rep = faultline(env, tmp_path, "sweep", "--seed", "20261208", *STATE, "--",
                       str(BUILD / "tests" / "rs-save"), "state.json", "3", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert rep["findings"] == [] and rep["complete"], rep["findings"]
    # the faults did happen: the library's own calls were tried and reported as errors
    assert rep["outcomes"]["handled"] >= 10, rep["outcomes"]
    tried = {p["call"] for p in rep["points"] if p["tried"]}
    assert {"open", "write", "fsync", "rename", "close"} <= tried, tried


def test_a_program_builds_against_the_pkg_config_file(tmp_path):
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config is not installed")
    env = dict(os.environ, PKG_CONFIG_PATH=str(BUILD / "meson-uninstalled"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "resilience"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "use.c"
    src.write_text('#include <resilience/file.h>\n#include <stdio.h>\n'
                   'int main(void) { struct rs_err e; size_t n; enum rs_load_source s; char b[8];\n'
                   '  if (rs_file_replace("x", "hi", 2, 0, 0, &e)) return 1;\n'
                   '  rs_file_load("x", NULL, NULL, b, sizeof b, &n, &s, &e);\n'
                   '  printf("%s %.*s %s\\n", rs_version(), (int)n, b, rs_load_source_name(s));\n'
                   '  return 0; }\n')
    exe = tmp_path / "use"
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(exe), str(src), *flags], check=True)
    lib = BUILD / "lib" / "resilience"
    r = subprocess.run([str(exe)], cwd=tmp_path, env=dict(os.environ, LD_LIBRARY_PATH=str(lib)),
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "0.1.0 hi primary\n", r
