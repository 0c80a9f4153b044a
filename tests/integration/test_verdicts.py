# SPDX-License-Identifier: MIT
"""Verdicts that cannot lie: no PASS when nothing was tested (docs/results-format.md, "What a
PASS means"). The five ways main once gave a vacuous verdict, each with the verdict and the
message it must give now, and every new rule tried on the input that must trip it and on one
that must not: a target that would not start or died, a fault that never fired, an experiment
that checks nothing, probes that were never steady, oneshot jobs and their exit status."""
import json
import os
import re
import shutil
import sys

import pytest

from proxyutil import free_port

from test_run import TINYD, tinyd, write


def run_one(run, tmp_path, exp, *args, timeout=120):
    out = tmp_path / "results.json"
    if out.exists():
        out.unlink()
    r = run("run", "--no-history", "--json", out, *args, exp, timeout=timeout)
    assert out.exists(), r.stdout + r.stderr
    [e] = json.loads(out.read_text())["experiments"]
    return r, e


# ---- 1. the target must have started -----------------------------------------------------

@pytest.mark.parametrize("ready", [False, True])
def test_a_missing_command_is_an_error_with_or_without_ready(run, tmp_path, ready):
    port = free_port()
    exp = write(tmp_path, "missing.yaml", f"""\
        title: missing command
        target:
          command: [nonexistent-cmd-xyz]
          {f'ready: {{tcp: "127.0.0.1:{port}"}}' if ready else ''}
        method:
          - pause: 500ms
        verify:
          - file: target.log
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR", e["why"]
    assert e["why"] == ("the target would not start: nonexistent-cmd-xyz: No such file or "
                        "directory")
    assert r.returncode == 1
    assert "PASS" not in r.stdout
    [x] = e["target_exits"]
    assert x["how"] == "could not be executed: No such file or directory" and not x["expected"]
    # the method never ran
    assert [p["name"] for p in e["phases"]] == ["start", "rollback"]


def test_a_command_the_shell_cannot_find_is_an_error(run, tmp_path):
    exp = write(tmp_path, "sh.yaml", """\
        title: missing command behind a shell
        target:
          command: "nonexistent-cmd-xyz --flag"
          shell: true
        method:
          - pause: 5s
        verify:
          - file: target.log
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR", e["why"]
    assert e["why"].startswith("the target would not start: sh -c 'nonexistent-cmd-xyz --flag' "
                               "exited with status 127 (command not found): "), e["why"]
    assert "nonexistent-cmd-xyz: not found" in e["why"]
    assert e["duration_ms"] < 5000, "the 5 s pause ran on although the target never started"


def test_an_unexecutable_command_is_an_error(run, tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    exp = write(tmp_path, "x.yaml", f"""\
        title: not executable
        target:
          command: [{script}]
        method:
          - pause: 10ms
        verify:
          - file: target.log
        """)
    r, e = run_one(run, tmp_path, exp)
    if os.geteuid() == 0 and e["verdict"] != "ERROR":
        pytest.skip("root may execute a file without x bits here")
    assert e["verdict"] == "ERROR"
    assert e["why"] == f"the target would not start: {script}: Permission denied"


def test_a_target_that_dies_at_once_fails(run, tmp_path):
    exp = write(tmp_path, "dies.yaml", """\
        title: dies at once
        target:
          command: [sh, -c, "exit 3"]
        method:
          - pause: 500ms
        verify:
          - file: target.log
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "FAIL", e["why"]
    assert re.fullmatch(r"the target exited with status 3 at \d+ ms and was not restarted",
                        e["why"]), e["why"]
    assert r.returncode == 1
    [x] = e["target_exits"]
    assert x["how"] == "exited with status 3" and not x["expected"] and not x["asked"]


def test_a_target_killed_by_a_signal_nobody_sent_fails(run, tmp_path):
    exp = write(tmp_path, "segv.yaml", """\
        title: crashes on its own
        target:
          command: [sh, -c, "sleep 0.2; kill -SEGV $$"]
        method:
          - pause: 600ms
        verify:
          - file: target.log
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "FAIL", e["why"]
    assert re.fullmatch(r"the target was killed by SIGSEGV at \d+ ms and was not restarted",
                        e["why"]), e["why"]


def test_an_exit_a_step_asked_for_is_not_a_failure(run, tmp_path):
    """A kill step with no restart policy: the exit was the experiment's own doing."""
    port = free_port()
    exp = write(tmp_path, "asked.yaml", f"""\
        title: killed on purpose, stays down
        target:
          command: {tinyd(port)}
          ready: {{tcp: "127.0.0.1:{port}"}}
        method:
          - target: kill
          - pause: 300ms
        verify:
          - {{tcp: "127.0.0.1:{port}", expect: fail}}
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "PASS", e["why"]
    assert [x["asked"] for x in e["target_exits"]] == [True]
    assert e["faults"][0]["fired"] == 1


def test_a_restart_that_never_comes_back_fails(run, tmp_path):
    """Killed by a step, restarted by the policy, and the new process crashes at start: the
    restart policy did not bring it back within ready_timeout."""
    port = free_port()
    cmd = (f"if [ -e started ]; then exit 1; fi; touch started; "
           f"exec {sys.executable} {TINYD} --port {port}")
    exp = write(tmp_path, "loop.yaml", f"""\
        title: crash loop after a kill
        target:
          command: [sh, -c, {json.dumps(cmd)}]
          ready: {{tcp: "127.0.0.1:{port}"}}
          ready_timeout: 1500ms
          restart: on-failure
        method:
          - target: kill
          - pause: 200ms
        verify:
          - tcp: "127.0.0.1:{port}"
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "FAIL", e["why"]
    assert re.fullmatch(r"the target was killed by SIGKILL at \d+ ms and was not ready again "
                        r"within 1\.5s \(restarted \d+ times\)", e["why"]), e["why"]


# ---- 2. batch jobs: oneshot ----------------------------------------------------------------

@pytest.mark.parametrize("script,exit_spec,verdict,why", [
    ("exit 0", None, "PASS", ""),
    ("exit 2", None, "FAIL", "the oneshot target exited with status 2, expected exit status 0"),
    ("exit 1", "[0, 1]", "PASS", ""),
    ("exit 2", "[0, 1]", "FAIL",
     "the oneshot target exited with status 2, expected exit status 0 or 1"),
    ("kill -KILL $$", None, "FAIL",
     "the oneshot target was killed by SIGKILL, expected exit status 0"),
])
def test_a_oneshot_job_is_judged_by_its_exit(run, tmp_path, script, exit_spec, verdict, why):
    exp = write(tmp_path, "job.yaml", f"""\
        title: a batch job
        target:
          command: [sh, -c, "sleep 0.2; {script}"]
          oneshot: true
          {f'exit: {exit_spec}' if exit_spec else ''}
        method: []
        """)
    r, e = run_one(run, tmp_path, exp)
    assert (e["verdict"], e["why"]) == (verdict, why)
    assert [x["asked"] or x["expected"] for x in e["target_exits"]] == [False]
    # the run waited for the job: it took its 200 ms
    assert e["duration_ms"] >= 200


def test_a_oneshot_job_that_does_not_end_fails_at_the_timeout(run, tmp_path):
    exp = write(tmp_path, "hang.yaml", """\
        title: hangs
        timeout: 1s
        target:
          command: [sleep, "30"]
          oneshot: true
        method: []
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "FAIL"
    assert e["why"] == ("the oneshot target was still running when the experiment timed out "
                        "(timeout: 1s)")


def test_a_oneshot_job_under_a_preload_fault(run, tmp_path):
    """Rules on from the start are a fault window too: here it fires and the job's failure
    is the finding; with a path that cannot match, the fault never happened."""
    base = """\
        title: a job whose write fails
        target:
          command: [sh, -c, "echo data > out.txt"]
          oneshot: true
          rules: ["io.write:path=*/{name}:errno=ENOSPC:id=full"]
          rules_on: true
        method: []
        """
    r, e = run_one(run, tmp_path, write(tmp_path, "a.yaml", base.format(name="out.txt")))
    assert (e["verdict"], e["why"]) == ("FAIL", "the oneshot target exited with status 1, "
                                                "expected exit status 0")
    [w] = e["faults"]
    assert w["step"] == 0 and w["fired"] == 1 and w["rules"][0]["injected"] == 1
    r, e = run_one(run, tmp_path, write(tmp_path, "b.yaml", base.format(name="nothere.txt")))
    assert e["verdict"] == "ERROR"
    assert e["why"] == ("the fault never happened: rule 'full' (io.write:path=*/nothere.txt:"
                        "errno=ENOSPC) matched no call while on")


@pytest.mark.parametrize("text,want", [
    ("target: {command: [/bin/true], exit: 0}\n", ":2:32: 'exit' is for batch jobs"),
    ("target: {command: [/bin/true], oneshot: true, restart: always}\n",
     "a oneshot target is not restarted"),
    ("target: {command: [/bin/true], oneshot: true, exit: [0, 300]}\n", "'exit' must be an exit"),
    ("target: {command: [/bin/true], oneshot: true, exit: sometimes}\n", "'exit' must be an exit"),
    ("target: {command: [/bin/true], oneshot: true}\nleaks: {fds: 0}\n",
     "'leaks' needs a target that keeps running"),
])
def test_oneshot_settings_are_checked(run, tmp_path, text, want):
    p = tmp_path / "bad.yaml"
    p.write_text("title: x\n" + text + "method: []\n")
    r = run("validate", p)
    assert r.returncode == 2 and want in r.stderr, r.stderr


# ---- 3. a fault must happen to count ---------------------------------------------------------

REDIS = shutil.which("redis-server")


@pytest.mark.skipif(not REDIS, reason="needs Debian's redis-server (scripts/bootstrap test)")
@pytest.mark.parametrize("path,verdict", [("*nomatch*", "ERROR"), ("*appendonly*", "PASS")])
def test_rules_on_redis_count_only_when_they_fire(run, tmp_path, path, verdict):
    """Debian's redis-server, appendfsync always, writes driven by load: a rule whose path
    matches no file is an ERROR (it was PASS); the same rule on the AOF fires and counts."""
    port = free_port()
    exp = write(tmp_path, "redis.yaml", f"""\
        title: redis under fsync faults
        target:
          command: [{REDIS}, --port, "{port}", --bind, 127.0.0.1, --save, "",
                    --appendonly, "yes", --appendfsync, always, --dir, "."]
          ready: {{tcp: "127.0.0.1:{port}"}}
          rules: ["io.sync:path={path}:delay=1ms:id=fsync"]
        steady_state:
          - tcp: "127.0.0.1:{port}"
            send: "PING\\r\\n"
            reply: PONG
        load:
          tcp: "127.0.0.1:{port}"
          send: "SET k v\\r\\n"
          expect: "+OK"
          rate: 50
        method:
          - rules: "on"
            for: 2s
        objectives:
          error_rate: "<= 5%"
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == verdict, e["why"]
    [w] = e["faults"]
    if verdict == "ERROR":
        assert e["why"] == ("the fault never happened: rule 'fsync' (io.sync:path=*nomatch*:"
                            "delay=1ms) matched no call while on")
        assert w["fired"] == 0 and w["effect"].startswith("never fired: ")
        assert "faults fired 0/1" in r.stdout
    else:
        assert w["fired"] > 0 and w["rules"][0]["seen"] >= w["fired"]
        assert "faults fired 1/1" in r.stdout


def test_a_fault_that_may_not_fire_is_allowed_to(run, tmp_path):
    victim = tmp_path / "v.txt"
    victim.write_text("x\n")
    exp = write(tmp_path, "maybe.yaml", f"""\
        title: a rule that only sometimes applies
        target:
          command: [sleep, "30"]
          rules: ["io.write:path=*/never-written:errno=EIO:id=w"]
        method:
          - rules: "on"
            for: 200ms
            may_not_fire: true
        verify:
          - file: {victim}
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "PASS", e["why"]
    [w] = e["faults"]
    assert w["fired"] == 0 and w["may_not_fire"] is True
    # and the same without may_not_fire is an ERROR: the flag is what makes the difference
    exp.write_text(exp.read_text().replace("    may_not_fire: true\n", ""))
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR" and e["why"].startswith("the fault never happened: rule 'w'")


def test_may_not_fire_belongs_on_steps_that_inject(run, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("title: x\nmethod:\n  - pause: 1s\n    may_not_fire: true\nverify:\n"
                 "  - file: /\n")
    r = run("validate", p)
    assert r.returncode == 2 and ":4:5: 'may_not_fire' is for steps that inject" in r.stderr, \
        r.stderr


def test_an_xfail_whose_fault_never_fired_is_an_error(run, tmp_path):
    exp = write(tmp_path, "xfail.yaml", """\
        title: a known gap, documented with a fault that never happens
        expect: xfail
        reason: "#7 the writer keeps no backup"
        target:
          command: [sleep, "30"]
          rules: ["io.sync:path=*/nomatch*:errno=EIO:id=fsync"]
        method:
          - rules: "on"
            for: 200ms
        verify:
          - file: target.log
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR"
    assert e["why"].startswith("the fault never happened: rule 'fsync'")
    assert r.returncode == 1


def test_every_rule_of_an_all_rules_step_must_fire(run, tmp_path):
    """`rules: on` without ids opens one window per rule: one that fires does not cover for
    one that does not."""
    out = tmp_path / "out.txt"
    exp = write(tmp_path, "all.yaml", f"""\
        title: two rules, one of them dead
        target:
          command: [sh, -c, "while :; do echo x >> {out}; sleep 0.02; done"]
          rules:
            - "io.write:path=*/out.txt:delay=1ms:id=live"
            - "io.write:path=*/elsewhere.txt:errno=EIO:id=dead"
        method:
          - rules: "on"
            for: 300ms
        verify:
          - file: {out}
        """)
    r, e = run_one(run, tmp_path, exp)
    fired = {w["rules"][0]["id"]: w["fired"] for w in e["faults"]}
    assert fired["dead"] == 0 and fired["live"] > 0, e["faults"]
    assert e["verdict"] == "ERROR" and "rule 'dead'" in e["why"], e["why"]


def test_a_monkey_whose_picks_never_take_effect_is_an_error(run, tmp_path):
    exp = write(tmp_path, "monkey.yaml", """\
        title: a monkey with nothing to bite
        method:
          - monkey:
              pool:
                - {fault: kill, name: "faultline-no-such-process-*", signal: CONT}
              every: 50ms
              hold: 10ms
            for: 300ms
        verify:
          - file: /
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR", e["why"]
    assert "could not inject" in e["why"] or "never happened" in e["why"], e["why"]


def test_a_kill_step_that_hits_nothing_is_an_error(run, tmp_path):
    """The kill kind's matches exited before the signal: it reports no hit, and a fault that
    hit no process did not happen."""
    exp = write(tmp_path, "kill.yaml", """\
        title: kill a process that is already gone
        method:
          - fault: kill
            pid: 999999999
        verify:
          - file: /
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR", e["why"]


# ---- 4. an experiment must be able to fail ---------------------------------------------------

def test_an_experiment_that_checks_nothing_is_refused(run, tmp_path):
    exp = write(tmp_path, "nothing.yaml", """\
        title: nothing checked
        method:
          - pause: 200ms
        """)
    for cmd in ("validate", "run"):
        r = run(cmd, exp)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr.strip() == (
            f"faultline: error: {exp}:1:1: this experiment checks nothing, so it could never "
            "fail: add steady_state, probes, verify, objectives, leaks, a wait step, or "
            "target.oneshot with an exit status"), r.stderr
        assert "PASS" not in r.stdout


@pytest.mark.parametrize("extra", [
    "steady_state:\n  - file: /\n",
    "probes:\n  - {file: /, every: 50ms}\n",
    "verify:\n  - file: /\n",
    "objectives:\n  availability: '>= 99%'\n",
    "target: {command: [sleep, '1']}\nleaks: {fds: 0}\n",
    "target: {command: [sleep, '0.1'], oneshot: true}\n",
    "target: {command: [sleep, '0.1'], oneshot: true, exit: [0, 1]}\n",
])
def test_each_kind_of_check_is_enough(run, tmp_path, extra):
    p = tmp_path / "one.yaml"
    p.write_text("title: one check\nmethod:\n  - pause: 1ms\n" + extra)
    r = run("validate", p)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("extra", [
    "target: {command: [sleep, '1']}\n",
    "target: {command: [sleep, '0.1'], oneshot: true, exit: any}\n",
    "target: {command: [sleep, '1'], ready: {file: /}}\n",
])
def test_what_is_not_a_check(run, tmp_path, extra):
    p = tmp_path / "none.yaml"
    p.write_text("title: no check\nmethod:\n  - pause: 1ms\n" + extra)
    r = run("validate", p)
    assert r.returncode == 2 and "checks nothing" in r.stderr, r.stderr


def test_a_wait_step_is_a_check(run, tmp_path):
    p = tmp_path / "wait.yaml"
    p.write_text("title: waits\nmethod:\n  - wait: {file: /nonexistent-faultline}\n"
                 "    timeout: 100ms\n")
    r = run("validate", p)
    assert r.returncode == 0, r.stderr
    r, e = run_one(run, tmp_path, p)
    assert e["verdict"] == "FAIL" and "did not hold within 100ms" in e["why"]


# ---- 5. steady means steady ------------------------------------------------------------------

def test_a_probe_that_fails_from_the_start_is_not_steady(run, tmp_path):
    port = free_port()
    exp = write(tmp_path, "never.yaml", f"""\
        title: probe fails from the start
        probes:
          - {{name: p, tcp: "127.0.0.1:{port}", every: 50ms}}
        method:
          - pause: 500ms
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR", e["why"]
    assert e["why"] == ("not steady before any fault: probe 'p' failed every sample (connect: "
                        "Connection refused)")
    assert "recover" not in e["why"]


def test_no_fault_is_injected_into_a_system_that_was_never_steady(run, tmp_path):
    port = free_port()
    victim = tmp_path / "data.txt"
    victim.write_text("precious\n")
    exp = write(tmp_path, "gate.yaml", f"""\
        title: fault after a broken steady window
        probes:
          - {{name: p, tcp: "127.0.0.1:{port}", every: 20ms}}
        method:
          - pause: 100ms
          - fault: corrupt
            path: {victim}
            mode: empty
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "ERROR" and e["why"].startswith("not steady before any fault: "
                                                           "probe 'p' failed every sample")
    assert e["faults"] == []
    assert victim.read_text() == "precious\n"


def test_a_probe_that_held_before_the_fault_is_steady(run, tmp_path):
    """The negative: the probe holds until the fault breaks it, and then recovers: PASS, and
    the steady window saw good samples even though the fault was the first step."""
    victim = tmp_path / "state.json"
    victim.write_text('{"ok": true}\n')
    exp = write(tmp_path, "steady.yaml", f"""\
        title: steady, broken, recovered
        probes:
          - {{name: state, file: {victim}, json: valid, every: 20ms}}
        method:
          - fault: corrupt
            path: {victim}
            mode: garbage
            for: 200ms
        """)
    r, e = run_one(run, tmp_path, exp)
    assert e["verdict"] == "PASS", e["why"]
    [s] = e["series"]
    assert s["samples"][0]["ok"] and s["samples"][0]["t_ms"] <= e["faults"][0]["start_ms"]
    assert any(not x["ok"] for x in s["samples"])
