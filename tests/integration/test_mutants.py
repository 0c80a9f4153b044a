# SPDX-License-Identifier: MIT
"""The mutation test over the experiments the project ships (examples/demo/experiments):
each one made unable to test anything (target command missing, rules that cannot match,
toxics on a proxy nothing connects to) must never PASS or XFAIL, and must be caught for the
right reason. The experiments the other tests run get the same treatment after each test
(conftest.py); the terminal summary counts every mutant and how it was caught. This file also
checks the mutator itself, so that a mutant that changes nothing cannot pass for a caught one."""
import os
import pathlib


import mutants
from conftest import run_mutants

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "demo" / "experiments"


def test_the_mutator_makes_each_mutant_unable_to_test(tmp_path):
    assert mutants.unmatchable("io.sync:errno=EIO:id=fsync") == \
        f"io.sync:path={mutants.NO_PATH}:errno=EIO:id=fsync"
    assert mutants.unmatchable("write:path=*/state.json:errno=ENOSPC") == \
        f"write:path={mutants.NO_PATH}:errno=ENOSPC"
    assert mutants.unmatchable("net.connect:port=6379:errno=ECONNREFUSED") == \
        "net.connect:port=1:errno=ECONNREFUSED"
    assert mutants.unmatchable("net.recv:delay=1s") == "net.recv:port=1:delay=1s"
    assert mutants.unmatchable("dns:eai=EAI_AGAIN") == f"dns:host={mutants.NO_HOST}:eai=EAI_AGAIN"
    assert mutants.unmatchable("mem:errno=ENOMEM") is None
    exp = tmp_path / "e.yaml"
    exp.write_text("""\
title: t
target:
  command: [sleep, "9"]
  fixtures: [fixtures/a.json]
  rules: ["io.sync:errno=EIO:id=a", "io.write:errno=EIO:id=b"]
proxies:
  - {name: p, listen: "127.0.0.1:9", upstream: "127.0.0.1:10"}
method:
  - rules: "on"
    ids: [a]
  - rules: "on"
    ids: [b]
    may_not_fire: true
  - toxic: {proxy: p, type: latency}
verify:
  - file: x
""")
    got = dict(mutants.mutants(exp))
    assert set(got) == set(mutants.KINDS)
    assert got["missing-program"]["target"]["command"] == [mutants.MISSING]
    assert got["missing-program"]["target"]["fixtures"] == [str(tmp_path / "fixtures/a.json")]
    # the rule a step may leave unfired is left alone; the other cannot match any more
    assert got["rules-unmatchable"]["target"]["rules"] == [
        f"io.sync:path={mutants.NO_PATH}:errno=EIO:id=a", "io.write:errno=EIO:id=b"]
    idle = got["toxics-idle"]
    assert idle["method"][2]["toxic"]["proxy"] == "faultline-mutant-idle"
    assert [p["name"] for p in idle["proxies"]] == ["p", "faultline-mutant-idle"]


def test_every_shipped_experiment_catches_its_mutants(faultline, env, build_dir, tmp_path):
    files = mutants.experiment_files([EXAMPLES])
    assert len(files) >= 5
    e = dict(env, PATH=f"{build_dir / 'examples' / 'demo'}:{os.environ['PATH']}")
    results = run_mutants(faultline, files, e, tmp_path, tmp_path)
    lines = [f"{r['source'].split('/')[-1]:32} {r['kind']:18} {r['how']}" for r in results]
    print("\n".join(lines))
    kinds = [r["kind"] for r in results]
    # every example has a target; the demo has one rules experiment and one toxic experiment
    assert kinds.count("missing-program") == len(files)
    assert kinds.count("rules-unmatchable") >= 1 and kinds.count("toxics-idle") >= 1
    for r in results:
        assert r["verdict"] not in ("PASS", "XFAIL", "XPASS"), r
        assert r["why"].startswith(mutants.EXPECTED_REASON[r["kind"]]), r
