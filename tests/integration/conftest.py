# SPDX-License-Identifier: MIT
"""Shared fixtures for the integration tests: the real faultline binary, the victim programs,
and a private state directory per test, so tests never share a journal."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FAULTLINE_BUILD", ROOT / "build"))


def _need(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make build' first")
    return path


@pytest.fixture(scope="session")
def faultline() -> str:
    return str(_need(BUILD / "faultline"))


@pytest.fixture(scope="session")
def victim() -> str:
    return str(_need(BUILD / "tests" / "victims" / "victim"))


@pytest.fixture(scope="session")
def build_dir() -> pathlib.Path:
    return BUILD


@pytest.fixture
def env(tmp_path):
    """Environment for faultline: its own state dir, no colour, no inherited preload."""
    e = dict(os.environ)
    e["FAULTLINE_STATE_DIR"] = str(tmp_path / "state")
    e["NO_COLOR"] = "1"
    e.pop("LD_PRELOAD", None)
    e.pop("FAULTLINE_CTL", None)
    e["LC_ALL"] = "C"
    return e


# ---- mutants of every experiment the tests run (tests/integration/mutants.py) -------------
#
# Each `faultline run` of experiment files through the `run` fixture is followed, when the
# test is over, by the mutants of those files (target command missing, rules unmatchable,
# toxics on an idle proxy), run with the same environment. A mutant that PASSes or XFAILs
# fails the test that ran the original; the terminal summary counts them all and says how
# each kind was caught. FAULTLINE_MUTANTS=0 turns this off (for a quick local run).

MUTANT_RESULTS = []      # {"source", "kind", "verdict", "why", "how"}, for the whole session
_MUTATED = set()         # fingerprints of experiment files already mutated
_VALUE_OPTIONS = {"--filter", "--seed", "--threshold", "--json", "--junit", "--markdown",
                  "--html", "--history", "--state-dir"}


def _experiment_paths(args, cwd):
    args = [str(a) for a in args]
    if not args or args[0] != "run" or "--dry-run" in args:
        return []
    paths, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in _VALUE_OPTIONS:
            skip = True
        elif not a.startswith("-"):
            p = pathlib.Path(a)
            paths.append(p if p.is_absolute() else pathlib.Path(cwd) / p)
    return paths


def run_mutants(faultline, files, env, cwd, workdir, source_label=None):
    """Run the mutants of the experiment files; returns the new MUTANT_RESULTS entries."""
    import json
    import mutants

    results = []
    for f in files:
        for kind, mf in mutants.write_mutants(f, workdir / f"mutants-{len(_MUTATED)}"):
            out = mf.with_suffix(".out.json")
            r = subprocess.run([faultline, "run", "--no-history", "--json", str(out), str(mf)],
                               cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
            assert out.exists(), f"mutant {mf} did not run: {r.stderr.strip()}"
            [e] = json.loads(out.read_text())["experiments"]
            results.append({"source": source_label or str(f), "kind": kind,
                            "verdict": e["verdict"], "why": e["why"],
                            "how": mutants.how_caught(kind, e["verdict"], e["why"])})
    MUTANT_RESULTS.extend(results)
    return results


@pytest.fixture
def run(faultline, env, tmp_path):
    """run(args..., timeout=30) -> CompletedProcess; runs `faultline ARGS` in tmp_path."""
    ran = []

    def _run(*args, timeout=30, input=None, cwd=None, extra_env=None):
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        r = subprocess.run(
            [faultline, *map(str, args)],
            cwd=cwd or tmp_path,
            env=e,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        # only runs that produced verdicts: a file that does not load has no mutant to run
        if r.returncode in (0, 1):
            ran.append((_experiment_paths(args, cwd or tmp_path), e, cwd or tmp_path))
        return r

    yield _run

    if os.environ.get("FAULTLINE_MUTANTS") == "0":
        return
    import mutants

    todo = []
    for paths, e, cwd in ran:
        for f in mutants.experiment_files(paths):
            fp = mutants.fingerprint(f)
            if f.exists() and fp not in _MUTATED:
                _MUTATED.add(fp)
                todo.append((f, e, cwd))
    bad = []
    for f, e, cwd in todo:
        for res in run_mutants(faultline, [f], e, cwd, tmp_path):
            if res["how"].startswith("NOT CAUGHT"):
                bad.append(res)
    assert not bad, f"mutants that were not caught: {bad}"


def pytest_terminal_summary(terminalreporter):
    if not MUTANT_RESULTS:
        return
    from collections import Counter

    tr = terminalreporter
    sources = len({m["source"] for m in MUTANT_RESULTS})
    caught = sum(not m["how"].startswith("NOT CAUGHT") for m in MUTANT_RESULTS)
    tr.section("mutants")
    tr.write_line(f"{len(MUTANT_RESULTS)} mutants of {sources} experiments, {caught} caught "
                  "(never PASS or XFAIL):")
    for kind in ("missing-program", "rules-unmatchable", "toxics-idle"):
        ms = [m for m in MUTANT_RESULTS if m["kind"] == kind]
        if not ms:
            continue
        tr.write_line(f"  {kind}: {len(ms)}")
        for how, n in Counter(m["how"] for m in ms).most_common():
            tr.write_line(f"    {n:4d}  {how}")


@pytest.fixture
def inject(run):
    """inject(rules, *cmd, opts=[...]) -> CompletedProcess for faultline inject."""

    def _inject(rules, *cmd, opts=(), timeout=30, **kw):
        args = ["inject", "-q"]
        for r in rules:
            args += ["-r", r]
        args += list(opts)
        args += ["--", *cmd]
        return run(*args, timeout=timeout, **kw)

    return _inject


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture
def proxy(faultline, env):
    """A `faultline proxy` on an ephemeral port (tests/integration/proxyutil.py), stopped and
    checked to exit 0 after the test."""
    from proxyutil import Proxy

    p = Proxy(faultline, env=env)
    yield p
    assert p.stop() == 0


@pytest.fixture
def upstream():
    """A loopback echo server (proxyutil.Server) for the proxy tests to point proxies at."""
    from proxyutil import Server, echo

    s = Server(echo)
    yield s
    s.close()
