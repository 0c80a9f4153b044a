# SPDX-License-Identifier: MIT
"""`faultline inject` as a careful parent and a harmless guest: exit statuses and signals pass
through, threads and fork are safe, malloc rules do not break start-up, faultline's randomness
is its own and replayable, children follow (or not), and the call families that are not files
(dns, time, mem) behave as documented."""
import json
import re
import signal
import subprocess
import sys
import threading

import pytest

# A rule that matches nothing the commands below do, so inject has a rule and no notice to print.
NOOP = "write:path=/nonexistent-faultline-dir/*:errno=EIO"


def one_line(stderr):
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines}"
    return lines[0]


def stats_of(tmp_path, inject, rules, *cmd, opts=(), **kw):
    """Run inject with --json stats into a file; returns (CompletedProcess, stats dict)."""
    sf = tmp_path / "stats.json"
    if sf.exists():
        sf.unlink()
    r = inject(rules, *cmd, opts=["--json", "--stats-file", sf, *opts], **kw)
    assert sf.exists(), f"no stats file; stderr {r.stderr!r}"
    return r, json.loads(sf.read_text())


# ---- exit status and signals --------------------------------------------------------------------


def test_exit_status_zero_passes_through(inject, victim, tmp_path):
    r = inject([NOOP], victim, "write", tmp_path / "out", "3")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["open 3", "write 3", "close 0"]
    assert r.stderr == ""


def test_exit_status_nonzero_passes_through(inject):
    r = inject([NOOP], "sh", "-c", "exit 7")
    assert r.returncode == 7
    assert r.stderr == ""


def test_killed_by_signal_is_128_plus_n(inject, victim):
    r = inject([NOOP], victim, "abort")
    assert r.returncode == 128 + signal.SIGABRT
    assert "SIGABRT" in one_line(r.stderr)


def test_timeout_stops_the_command(inject, victim):
    # the subprocess timeout, far below the command's 30 s, catches a timeout that does not work
    r = inject([NOOP], victim, "sleep", "30", opts=["--timeout", "1s"], timeout=15)
    assert r.returncode == 124
    line = one_line(r.stderr)
    assert "stopped" in line and "timeout" in line


def test_timeout_kills_a_command_that_ignores_term(inject):
    r = inject([NOOP], "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1 >/dev/null 2>&1; done",
               opts=["--timeout", "500ms", "--kill-after", "500ms"], timeout=15)
    assert r.returncode == 124
    assert r.stdout == "ready\n"
    assert "stopped" in r.stderr


def test_sigterm_to_faultline_is_forwarded(faultline, env, tmp_path):
    script = ('trap \'echo got TERM; kill $! 2>/dev/null; exit 3\' TERM; echo ready; '
              'sleep 30 >/dev/null 2>&1 & wait')
    p = subprocess.Popen([faultline, "inject", "-q", "-r", NOOP, "--", "sh", "-c", script],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        # readline blocks until the trap is installed; the timer turns a hang into a failure
        timer = threading.Timer(20, p.kill)
        timer.start()
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        timer.cancel()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == "got TERM\n"
    assert p.returncode == 3, err


def test_command_not_found_is_127(inject, tmp_path):
    r = inject([NOOP], "faultline-no-such-command-xyz")
    assert r.returncode == 127
    line = one_line(r.stderr)
    assert "cannot run" in line and "faultline-no-such-command-xyz" in line
    assert r.stdout == ""


def test_command_not_executable_is_126(inject, tmp_path):
    f = tmp_path / "notexec"
    f.write_text("#!/bin/sh\necho ran\n")
    f.chmod(0o644)
    r = inject([NOOP], f)
    assert r.returncode == 126
    assert "cannot run" in one_line(r.stderr)
    assert r.stdout == ""


# ---- threads ------------------------------------------------------------------------------------


def test_threads_count_is_exact(inject, victim, tmp_path):
    r, st = stats_of(tmp_path, inject, ["write:path=/dev/null:errno=EIO:count=100"],
                     victim, "threads", "8", "5000")
    assert r.returncode == 0
    assert r.stdout.strip() == "errors 100"
    assert st["rules"][0]["seen"] == 40000
    assert st["rules"][0]["injected"] == 100
    assert st["exit"] == {"status": 0}


def test_threads_prob_counts_agree(inject, victim, tmp_path):
    r, st = stats_of(tmp_path, inject, ["write:path=/dev/null:errno=EIO:prob=0.5"],
                     victim, "threads", "8", "5000")
    assert r.returncode == 0
    m = re.fullmatch(r"errors (\d+)", r.stdout.strip())
    assert m, r.stdout
    errors = int(m.group(1))
    assert st["rules"][0]["seen"] == 40000
    assert st["rules"][0]["injected"] == errors
    assert 0 < errors < 40000


# ---- fork while a wrapper is active --------------------------------------------------------------


@pytest.mark.parametrize("rule", ["read:delay=1ms", "mem:delay=0s"])
def test_fork_while_a_thread_is_in_a_wrapper(inject, victim, tmp_path, rule):
    f = tmp_path / "data"
    f.write_text("some data\n")
    for _ in range(5):
        r = inject([rule], victim, "forkwhile", f, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "done\n"


# ---- malloc rules at start-up -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_malloc_rules_do_not_break_startup(inject, victim, seed):
    rule = ["mem:errno=ENOMEM:prob=0.001"]
    opts = ["--seed", str(seed)]
    r = inject(rule, "/bin/true", opts=opts)
    assert r.returncode == 0, r.stderr
    r = inject(rule, sys.executable, "-c", "pass", opts=opts,
               extra_env={"PYTHONHASHSEED": "0"})
    # python may report MemoryError (1); it must not die of a signal
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    r = inject(rule, victim, "malloc", "100", opts=opts)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("nulls:")


def nulls(stdout):
    m = re.fullmatch(r"nulls:((?: \d+)*)\n", stdout)
    assert m, stdout
    return [int(x) for x in m.group(1).split()]


def test_malloc_after_count_gives_exactly_one_null(inject, victim):
    r = inject(["mem:errno=ENOMEM:after=1000:count=1"], victim, "malloc", "3000")
    assert r.returncode == 0
    assert len(nulls(r.stdout)) == 1


def test_mem_after_count_semantics(inject, victim, tmp_path):
    got = {}
    for n in (500, 1000, 2000):
        r, st = stats_of(tmp_path, inject, [f"mem:errno=ENOMEM:after={n}:count=1"],
                         victim, "malloc", "3000")
        got[n] = nulls(r.stdout)
        assert len(got[n]) == 1, got[n]
        assert st["rules"][0]["injected"] == 1
    # after=N skips exactly N calls: the failing call moves by exactly the difference
    assert got[1000][0] - got[500][0] == 500
    assert got[2000][0] - got[1000][0] == 1000
    # nth=N is after=N-1 count=1
    r = inject(["mem:errno=ENOMEM:nth=1001"], victim, "malloc", "3000")
    assert nulls(r.stdout) == got[1000]
    # count=3: three consecutive calls
    r, st = stats_of(tmp_path, inject, ["mem:errno=ENOMEM:after=1000:count=3"],
                     victim, "malloc", "3000")
    i = got[1000][0]
    assert nulls(r.stdout) == [i, i + 1, i + 2]
    assert st["rules"][0]["injected"] == 3
    # after past the end: nothing
    r = inject(["mem:errno=ENOMEM:after=100000:count=1"], victim, "malloc", "3000")
    assert nulls(r.stdout) == []


# ---- randomness ----------------------------------------------------------------------------------


def test_target_rand_is_untouched(inject, victim, tmp_path):
    native = subprocess.run([victim, "rand", "50"], capture_output=True, text=True, timeout=30)
    assert native.returncode == 0
    r, st = stats_of(tmp_path, inject, ["write:path=/dev/null:errno=EIO:prob=0.5"],
                     victim, "rand", "50")
    assert r.returncode == 0
    assert st["rules"][0]["seen"] == 50
    assert 0 < st["rules"][0]["injected"] < 50  # faultline did draw random numbers
    assert r.stdout == native.stdout
    assert len(r.stdout.splitlines()) == 50


def test_same_seed_same_faults(inject, victim, tmp_path):
    rule = ["write:path=*/w.txt:errno=EIO:prob=0.5"]
    runs = []
    for seed in ("42", "42", "43"):
        r, st = stats_of(tmp_path, inject, rule, victim, "writes", tmp_path / "w.txt", "64",
                         opts=["--seed", seed])
        assert r.returncode == 0
        assert re.fullmatch(r"[.E]{64}\n", r.stdout), r.stdout
        runs.append((r.stdout, st))
    assert runs[0] == runs[1]
    assert runs[0][1]["seed"] == 42
    assert runs[0][1]["rules"][0]["injected"] == runs[0][0].count("E")
    # a different seed draws differently (64 coin flips agreeing: 2^-64)
    assert runs[2][0] != runs[0][0]


def test_seed_is_printed_and_replays(run, victim, tmp_path):
    rule = "write:path=*/w.txt:errno=EIO:prob=0.5"
    first = run("inject", "-r", rule, "--", victim, "writes", tmp_path / "w.txt", "64")
    assert first.returncode == 0
    m = re.search(r"seed (\d+)", first.stderr)
    assert m, first.stderr
    seed = m.group(1)
    again = run("inject", "-q", "--seed", seed, "-r", rule, "--", victim, "writes",
                tmp_path / "w.txt", "64")
    assert again.returncode == 0
    assert again.stdout == first.stdout
    assert "seed" not in again.stderr  # -q: no notices


# ---- follow / no-follow --------------------------------------------------------------------------


def test_children_are_followed_by_default(inject, victim, tmp_path):
    r = inject(["write:path=*/F:errno=EIO"], victim, "spawn", victim, "write", tmp_path / "F",
               "10")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["open 3", "write -1 EIO", "close 0", "child 0"]


def test_no_follow_leaves_children_alone(inject, victim, tmp_path):
    r, st = stats_of(tmp_path, inject, ["write:path=*/F:errno=EIO"], victim, "spawn", victim,
                     "write", tmp_path / "F", "10", opts=["--no-follow"])
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["open 3", "write 10", "close 0", "child 0"]
    assert st["rules"][0]["injected"] == 0


# ---- what cannot be reached ---------------------------------------------------------------------


def test_static_binary_warns_and_runs(inject, build_dir):
    static = build_dir / "tests" / "victims" / "victim_static"
    if not static.exists():
        pytest.skip("no static victim (the C library has no libc.a)")
    r = inject(["write:errno=EIO"], static)
    assert r.returncode == 0
    assert r.stdout == "static victim ran\n"
    assert "statically linked" in r.stderr


def test_nested_inject(faultline, inject, victim, tmp_path):
    """The outer rules hit every path faultline itself uses (its journal, the inner control
    block): the inner faultline must not be faulted, and its own rules must work."""
    state = tmp_path / "state"
    outer = [f"io:path={state}/*:errno=EIO", "io.open:path=*/inner.ctl:errno=EACCES",
             "io.sync:errno=EIO"]
    r = inject(outer, faultline, "inject", "-q", "--ctl", tmp_path / "inner.ctl",
               "-r", "write:path=*/G:errno=ENOSPC", "--", victim, "write", tmp_path / "G", "10")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["open 3", "write -1 ENOSPC", "close 0"]
    assert r.stderr == ""
    assert not (tmp_path / "inner.ctl").exists()


# ---- dns -----------------------------------------------------------------------------------------


def native(victim, *args):
    r = subprocess.run([victim, *map(str, args)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    return r.stdout


def test_dns_eai(inject, victim):
    if native(victim, "dns", "localhost") != "dns 0\n":
        pytest.skip("localhost does not resolve here")
    r = inject(["dns:eai=EAI_AGAIN"], victim, "dns", "localhost")
    assert r.returncode == 0
    assert r.stdout == "dns EAI_AGAIN\n"


def test_dns_host_selector(inject, victim, tmp_path):
    if native(victim, "dns", "localhost") != "dns 0\n":
        pytest.skip("localhost does not resolve here")
    rule = ["dns:host=*.invalid:eai=EAI_NONAME"]
    r, st = stats_of(tmp_path, inject, rule, victim, "dns", "localhost")
    assert r.stdout == "dns 0\n"
    assert st["rules"][0]["injected"] == 0
    r, st = stats_of(tmp_path, inject, rule, victim, "dns", "foo.invalid")
    assert r.stdout == "dns EAI_NONAME\n"
    assert st["rules"][0]["injected"] == 1
    # an error the resolver would not give by itself shows the rule is what answered
    r = inject(["dns:host=*.invalid:eai=EAI_AGAIN"], victim, "dns", "foo.invalid")
    assert r.stdout == "dns EAI_AGAIN\n"
    r = inject(["dns:host=*.invalid:eai=EAI_AGAIN"], victim, "dns", "localhost")
    assert r.stdout == "dns 0\n"


# ---- time ----------------------------------------------------------------------------------------


def time_lines(stdout):
    out = {}
    for line in stdout.splitlines():
        name, value = line.split()
        out[name] = int(value)
    assert set(out) == {"time", "gettimeofday", "clock_gettime"}, stdout
    return out


@pytest.mark.parametrize("offset,shift", [("+3600s", 3600), ("-1h", -3600)])
def test_time_offset(inject, victim, offset, shift):
    before = time_lines(native(victim, "time"))
    r = inject([f"time:offset={offset}"], victim, "time")
    assert r.returncode == 0
    got = time_lines(r.stdout)
    for name, value in got.items():
        delta = value - before[name] - shift
        assert 0 <= delta <= 5, f"{name}: {value} vs native {before[name]} (offset {offset})"
