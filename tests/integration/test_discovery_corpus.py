# SPDX-License-Identifier: MIT
"""The discovery corpus (tests/discovery/): small programs with a planted resilience bug, each
with a fixed twin, for `faultline sweep` to find. For every case, both programs must run
clean without faults, and under the case's rule (`faultline inject -r RULE`) the buggy one
must show its buggy_outcome and the fixed one its fixed_outcome, as tests/discovery/outcome.py
classifies them. The cases, their files and the placeholders of case.json are described in
tests/discovery/README.md.
"""
import concurrent.futures
import difflib
import json
import os
import pathlib
import select
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "discovery"
sys.path.insert(0, str(CORPUS))
import outcome  # noqa: E402  (tests/discovery/outcome.py, shared with the sweep tests)

PY = "/usr/bin/python3"
TIMEOUT = 3.0           # seconds a program may run under faults before it is stopped
BASELINE_TIMEOUT = 10.0
SOURCE = {"c": ".c", "python": ".py"}
KEYS = {"description", "class", "lang", "args", "setup", "check", "server", "rule",
        "buggy_outcome", "fixed_outcome"}
SERVERS = {"echo", "ack", "framed", "stream"}

# the bug classes the corpus must cover, one case at least each (tests/discovery/README.md)
REQUIRED_CLASSES = {
    "in-place-rewrite", "short-write", "unchecked-fclose", "unchecked-parse", "no-timeout",
    "no-reconnect", "eof-spin", "partial-frame", "unchecked-malloc", "no-busy-timeout",
    "fatal-log-error", "unchecked-rename", "error-as-missing",
}


def load_cases():
    cases = {}
    for f in sorted(CORPUS.glob("*/case.json")):
        cases[f.parent.name] = json.loads(f.read_text())
    return cases


CASES = load_cases()
VARIANTS = ("buggy", "fixed")


def source(name, variant):
    return CORPUS / name / (variant + SOURCE[CASES[name]["lang"]])


@pytest.fixture(scope="session")
def programs(tmp_path_factory):
    """{(case, variant): argv prefix} with every C program compiled once (cc -O1 -g -Wall);
    a program that does not compile cleanly maps to the compiler's message instead."""
    out = tmp_path_factory.mktemp("discovery-bin")

    def build(name, variant):
        src = source(name, variant)
        if CASES[name]["lang"] == "python":
            return [PY, str(src)]
        exe = out / f"{name}-{variant}"
        r = subprocess.run(["cc", "-O1", "-g", "-Wall", "-o", str(exe), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            return f"cc {src.name} failed or warned:\n{r.stderr}"
        return [str(exe)]

    keys = [(n, v) for n in CASES for v in VARIANTS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(keys, pool.map(lambda k: build(*k), keys)))


class Server:
    """A helper server from tests/discovery/servers/serve.py, on a free port."""

    def __init__(self, kind, directory):
        serve = CORPUS / "servers" / "serve.py"
        self.proc = subprocess.Popen([PY, str(serve), kind, str(directory)], text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.close()
            pytest.fail(f"the {kind} server did not start (it printed {line!r})")
        self.port = int(line)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def substitute(argv, subs):
    out = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        out.append(a)
    return out


def trial(name, variant, programs, tmp_path, faultline=None, env=None):
    """Run one program of a case in a fresh trial directory, under the case's rule when
    faultline is given; returns (outcome class, details for the assertion message)."""
    case = CASES[name]
    prog = programs[(name, variant)]
    if isinstance(prog, str):
        pytest.fail(prog)
    base = tmp_path / f"{variant}-{'fault' if faultline else 'plain'}"
    trial_dir, out_dir = base / "trial", base / "out"
    trial_dir.mkdir(parents=True)
    out_dir.mkdir()
    env = dict(env or os.environ)
    env.pop("LD_PRELOAD", None)
    server = Server(case["server"], trial_dir) if case.get("server") else None
    try:
        subs = {"{dir}": str(trial_dir), "{case}": str(CORPUS / name), "{python}": PY,
                "{port}": str(server.port if server else 0)}
        if case.get("setup"):
            r = subprocess.run(substitute(case["setup"], subs), cwd=trial_dir, env=env,
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, f"setup failed: {r.stderr}"
        argv = prog + substitute(case["args"], subs)
        stats = out_dir / "stats.json"
        if faultline:
            # one seed, so a rule that draws (corrupt's bits) meets the same bytes each run
            argv = [os.path.abspath(faultline), "inject", "-q", "--seed", "1",
                    "--timeout", f"{TIMEOUT}s",
                    "--kill-after", "1s", "--stats-file", str(stats), "--json",
                    "-r", case["rule"], "--", *argv]
        w = outcome.watch(argv, timeout=(TIMEOUT + 5) if faultline else BASELINE_TIMEOUT,
                          cwd=trial_dir, env=env)
    finally:
        if server:
            server.close()
    stderr = w.stderr.decode(errors="replace")
    faults = 0
    if faultline:
        # faultline's own lines ("... was killed by signal 11") are not the program's
        stderr = "".join(l for l in stderr.splitlines(True) if not l.startswith("faultline: "))
        if not stats.exists():
            pytest.fail(f"faultline did not run {name}/{variant} under {case['rule']!r} "
                        f"(exit {w.status}): {w.stderr.decode(errors='replace').strip()}")
        [rule] = json.loads(stats.read_text())["rules"]
        faults = rule["injected"]
        # the fix may avoid the faulted call altogether (a temporary file instead of the
        # state file); the bug must meet it
        if variant == "buggy" and faults == 0:
            pytest.fail(f"the rule {case['rule']!r} never fired in {name}/{variant} "
                        f"({rule['seen']} calls seen): {w!r}")
    (out_dir / "stdout").write_bytes(w.stdout)
    (out_dir / "stderr").write_text(stderr)
    check_env = dict(env, FAULTLINE_STATUS=str(w.status), FAULTLINE_STDOUT=str(out_dir / "stdout"),
                     FAULTLINE_STDERR=str(out_dir / "stderr"))
    chk = subprocess.run(substitute(case["check"], subs), cwd=trial_dir, env=check_env,
                         capture_output=True, text=True, timeout=30)
    got = outcome.classify(w.status, w.cpu, w.wall, chk.returncode, stderr, faults, w.runnable)
    detail = (f"{name}/{variant}: {got} (status {w.status}, cpu {w.cpu:.2f}s, runnable "
              f"{w.runnable:.2f}s, wall {w.wall:.2f}s, {faults} faults); check rc "
              f"{chk.returncode}: {chk.stderr.strip()!r}; stdout {w.stdout[-300:]!r}; "
              f"stderr {stderr[-500:]!r}")
    return got, detail


# --- the files of each case ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_is_well_formed(name):
    case = CASES[name]
    assert set(case) <= KEYS, f"unknown keys {set(case) - KEYS}"
    assert KEYS - {"setup", "server"} <= set(case), f"missing keys {KEYS - set(case)}"
    assert case["lang"] in SOURCE
    assert case["rule"].strip() and isinstance(case["rule"], str)
    assert case["buggy_outcome"] in outcome.OUTCOMES
    assert case["buggy_outcome"] not in ("ok", "handled")
    assert case["fixed_outcome"] in ("ok", "handled")
    assert case.get("server") in SERVERS | {None}
    assert "{port}" not in json.dumps(case["args"]) or case.get("server"), "{port} needs a server"
    for argv in (case["check"], case.get("setup") or ["x"]):
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    for a in case["check"]:
        if a.startswith("{case}/"):
            assert (CORPUS / name / a[len("{case}/"):]).is_file(), f"{a} is missing"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fix_is_the_diff(name):
    buggy, fixed = (source(name, v).read_text().splitlines() for v in VARIANTS)
    for variant, text in zip(VARIANTS, (buggy, fixed)):
        assert 30 <= len(text) <= 150, f"{variant}: {len(text)} lines"
        head = "\n".join(text[:8])
        assert ("BUG:" if variant == "buggy" else "FIXED:") in head, \
            f"{variant}: the header comment should say the {'bug' if variant == 'buggy' else 'fix'}"
    diff = [d for d in difflib.unified_diff(buggy, fixed, lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    assert diff, "buggy and fixed are the same program"
    assert len(diff) <= max(len(buggy), len(fixed)) // 2, \
        f"{len(diff)} changed lines: the diff should be the fix, not a rewrite"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_check_rejects_a_run_that_did_nothing(name, tmp_path):
    """A check must look at the state: a program that exited 0 and printed nothing, in a
    trial directory where nothing was set up and no server ran, did not do its job."""
    (tmp_path / "out").write_text("")
    subs = {"{dir}": str(tmp_path), "{case}": str(CORPUS / name), "{python}": PY, "{port}": "0"}
    env = dict(os.environ, FAULTLINE_STATUS="0", FAULTLINE_STDOUT=str(tmp_path / "out"),
               FAULTLINE_STDERR=str(tmp_path / "out"))
    chk = subprocess.run(substitute(CASES[name]["check"], subs), cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=30)
    assert chk.returncode != 0, "the check passed a run that did nothing"


def test_corpus_covers_the_classes():
    assert len(CASES) >= 14, sorted(CASES)
    assert sum(c["lang"] == "python" for c in CASES.values()) >= 4
    missing = REQUIRED_CLASSES - {c["class"] for c in CASES.values()}
    assert not missing, f"no case for {sorted(missing)}"
    readme = (CORPUS / "README.md").read_text()
    for name, case in CASES.items():
        assert name in readme, f"README.md does not describe {name}"
        assert case["rule"] in readme, f"README.md does not give the rule of {name}"


# --- the programs ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_baseline(name, variant, programs, tmp_path):
    got, detail = trial(name, variant, programs, tmp_path)
    assert got == "ok", detail


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_under_fault(name, variant, programs, faultline, env, tmp_path):
    got, detail = trial(name, variant, programs, tmp_path, faultline, env)
    assert got == CASES[name][f"{variant}_outcome"], detail
