# SPDX-License-Identifier: MIT
"""`faultline sweep` on the discovery corpus (tests/discovery/): on every buggy twin it must
find the planted bug (a finding of the case's outcome class), and each such finding, replayed
with `faultline inject` on the fixed twin, must pass its check. Also its bad-input cases, its
JSON, --surface, and SIGINT leaving nothing behind."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from test_discovery_corpus import CASES, CORPUS, PY, Server, programs, substitute  # noqa: F401

sys.path.insert(0, str(CORPUS))
import outcome  # noqa: E402

SEED = 20261207  # one seed: the same trials, the same bits flipped, on every run

# what the sweep calls the outcome the corpus names for a case (a kill the sweep sends itself
# is not a crash of the program: what counts is the state the kill left)
SWEEP_KINDS = {
    "crash": {"crash"},
    "check-failed-silent": {"check-failed-silent"},
    "check-failed-reported": {"check-failed-reported"},
    "hang": {"hang"},
    "busy-loop": {"busy-loop"},
    "storm": {"storm", "busy-loop"},
}


def sweep_args(name, prog, subs, out, server):
    case = CASES[name]
    args = ["sweep", "-q", "--json", str(out), "--timeout", "3s", "--seed", str(SEED),
            "-j", "1" if server else "2",
            "--check", shlex.join(substitute(case["check"], subs))]
    setup = substitute(case["setup"], subs) if case.get("setup") else None
    if server:
        # the server writes what it received in its own directory: each trial sees it
        # through a link, one trial at a time
        link = (f"rm -f {shlex.quote(str(server.dir))}/received.txt; "
                f"ln -s {shlex.quote(str(server.dir))}/received.txt received.txt")
        if setup:
            link += "; " + shlex.join(setup)
        setup = ["sh", "-c", link]
    if setup:
        args += ["--setup", shlex.join(setup)]
    return args + ["--", *prog, *substitute(case["args"], subs)]


class SharedServer(Server):
    def __init__(self, kind, directory):
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        super().__init__(kind, directory)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sweep_finds_the_bug_and_the_fix_holds(name, programs, run, tmp_path):
    case = CASES[name]
    buggy, fixed = programs[(name, "buggy")], programs[(name, "fixed")]
    if isinstance(buggy, str) or isinstance(fixed, str):
        pytest.fail(buggy if isinstance(buggy, str) else fixed)
    server = SharedServer(case["server"], tmp_path / "server") if case.get("server") else None
    try:
        subs = {"{dir}": "{dir}", "{case}": str(CORPUS / name), "{python}": PY,
                "{port}": str(server.port if server else 0)}
        out = tmp_path / "sweep.json"
        r = run(*sweep_args(name, buggy, subs, out, server), timeout=600)
        assert r.returncode == 1, f"sweep exit {r.returncode}: {r.stdout}\n{r.stderr}"
        report = json.loads(out.read_text())
        assert report["trials"] > 0 and report["complete"]
        want = SWEEP_KINDS[case["buggy_outcome"]]
        if "signal=" in case["rule"]:
            want = {"check-failed-after-kill"}
        # the bug is found as the corpus knows it (its outcome), or through the same fault
        found = [f for f in report["findings"]
                 if f["kind"] in want or fault_of(f["effect"]) == fault_of(case["rule"])]
        assert found, (f"no {want} finding for {name} ({case['rule']}); findings: "
                       f"{[(f['kind'], f['rules'][0]) for f in report['findings']]}")
        # the planted bug's finding (the same fault as the case's rule), replayed on the
        # fixed twin, passes its check
        planted = [f for f in found if fault_of(f["effect"]) == fault_of(case["rule"])
                   and same_call(f["call"], case["rule"])] or \
                  [f for f in found if f["kind"] in want]
        for f in (planted or found)[:2]:
            rule = re.sub(r":site=[0-9a-f]{8}", "", f["rules"][0])
            got = replay(name, fixed, rule, f["seed"], subs, server, tmp_path)
            assert got in ("ok", "handled"), f"{name}: the fix does not hold under {rule}: {got}"
    finally:
        if server:
            server.close()


def fault_of(text):
    """The fault a rule or effect names, without its amount: errno=EIO, short, eof, silent,
    signal=SIGKILL, eai=EAI_AGAIN, corrupt."""
    for part in reversed(text.split(":")):
        key = part.split("=")[0]
        if key in ("errno", "eai"):
            return part
        if key == "signal":
            return part.split("@")[0].replace("=KILL", "=SIGKILL")
        if key in ("short", "eof", "silent", "corrupt", "torn", "drop", "hang"):
            return key
    return text


# the calls a rule's WHERE names, for telling the planted bug from others the sweep finds
FAMILY_CALLS = {
    "net.recv": {"recv", "recvfrom", "recvmsg", "read", "readv"},
    "net.connect": {"connect"}, "net.send": {"send", "sendto", "sendmsg", "write", "writev"},
    "io.lock": {"fcntl", "flock", "lockf"}, "dns": {"getaddrinfo", "gethostbyname"},
    "io.write": {"write", "pwrite", "writev", "fwrite", "fputs", "fprintf", "fflush", "fclose",
                 "putc", "fputc", "__overflow", "printf", "puts"},
    "io.read": {"read", "pread", "readv", "fread", "fgets", "getline", "getdelim", "fgetc"},
}


def same_call(call, rule):
    where = rule.split(":")[0]
    return any(call == w or call in FAMILY_CALLS.get(w, ()) for w in where.split(","))


def replay(name, prog, rule, seed, subs, server, tmp_path):
    """Run the fixed program once under rule in a fresh trial directory, as the finding's repro
    line would, and classify it as the corpus does."""
    case = CASES[name]
    n = len(list(tmp_path.glob("replay-*")))
    d = tmp_path / f"replay-{n}"
    d.mkdir()
    s = dict(subs, **{"{dir}": str(d)})
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if server:
        (server.dir / "received.txt").unlink(missing_ok=True)
        os.symlink(server.dir / "received.txt", d / "received.txt")
    if case.get("setup"):
        subprocess.run(substitute(case["setup"], s), cwd=d, check=True, env=env)
    stats = d.parent / (d.name + ".stats")
    argv = [os.path.abspath(os.environ.get("FAULTLINE_BUILD", "build") + "/faultline"), "inject",
            "-q", "--seed", str(seed), "--timeout", "3s", "--kill-after", "1s", "--json",
            "--stats-file", str(stats), "-r", rule, "--", *prog,
            *substitute(case["args"], s)]
    w = outcome.watch(argv, timeout=10, cwd=d, env=env)
    stderr = "".join(l for l in w.stderr.decode(errors="replace").splitlines(True)
                     if not l.startswith("faultline: "))
    (d.parent / "out").write_bytes(w.stdout)
    (d.parent / "err").write_text(stderr)
    chk = subprocess.run(substitute(case["check"], s), cwd=d, capture_output=True, text=True,
                         env=dict(env, FAULTLINE_STATUS=str(w.status),
                                  FAULTLINE_STDOUT=str(d.parent / "out"),
                                  FAULTLINE_STDERR=str(d.parent / "err")))
    faults = json.loads(stats.read_text())["rules"][0]["injected"] if stats.exists() else 0
    sig = re.search(r"signal=SIG([A-Z]+)", rule)
    if sig and w.status == 128 + signal.Signals["SIG" + sig.group(1)]:
        # the kill the rule sends is expected: what counts is the state it left
        return "ok" if chk.returncode == 0 else "check-failed-after-kill"
    return outcome.classify(w.status, w.cpu, w.wall, chk.returncode, stderr, faults, w.runnable)


# ---- the report and the surface ------------------------------------------------------------


WRITER = """
import json, os, sys
state = {"n": 1}
with open("state.json", "w") as f:
    json.dump(state, f)
print("saved")
"""


def test_sweep_json_says_what_it_did(run, tmp_path):
    out = tmp_path / "s.json"
    check = tmp_path / "check.py"
    # what the program said it saved must be there
    check.write_text("import json, os\n"
                     "if 'saved' in open(os.environ['FAULTLINE_STDOUT']).read():\n"
                     "    json.load(open('state.json'))\n")
    r = run("sweep", "-q", "--json", out, "--seed", "7", "--check", f"{PY} {check}", "--", PY,
            "-c", WRITER, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    j = json.loads(out.read_text())
    for key in ("version", "command", "seed", "trials", "points", "elapsed_s", "baseline",
                "findings", "flaky", "outcomes", "complete"):
        assert key in j
    assert j["trials"] == sum(j["outcomes"].values()) and j["trials"] > 0
    calls = {(p["call"], p["subject"]) for p in j["points"]}
    assert ("write", "state.json") in calls or ("open", "state.json") in calls
    for f in j["findings"]:
        assert f["repro"].startswith(f"faultline inject --seed {j['seed']} -r ")
        assert f["kind"] not in ("ok", "handled") and f["rules"]


def test_surface_lists_the_points_and_stops(run, tmp_path):
    scratch = tmp_path / "scratch"  # the sweep's own TMPDIR: what it leaves is seen alone
    scratch.mkdir()
    r = run("sweep", "--surface", "--", PY, "-c", WRITER, extra_env={"TMPDIR": str(scratch)})
    assert r.returncode == 0, r.stderr
    assert re.search(r"\bwrite\s+state\.json\b", r.stdout) or re.search(r"open\s+state\.json",
                                                                       r.stdout)
    assert list(scratch.iterdir()) == []


PID_TEMP = """
import os
tmp = "state-%d.tmp" % os.getpid()
with open(tmp, "w") as f:
    f.write("2")
os.rename(tmp, "state.json")
"""


MKSTEMP_TEMP = """
import os, tempfile
fd, tmp = tempfile.mkstemp(dir=".", prefix="state-", suffix=".tmp")
os.write(fd, b"2")
os.close(fd)
os.rename(tmp, "state.json")
"""


@pytest.mark.parametrize("program", [PID_TEMP, MKSTEMP_TEMP], ids=["pid", "mkstemp"])
def test_a_name_that_changes_between_runs_is_tried_by_its_shape(run, tmp_path, program):
    # the temp file is named afresh in every run, by a pid or by mkstemp's letters and
    # digits: a rule naming it exactly matches nothing; the parts that differ become '*'
    out = tmp_path / "sweep.json"
    r = run("sweep", "-q", "--json", out, "--seed", str(SEED), "--check",
            "sh -c 'test \"$(cat state.json)\" = 2'", "--", PY, "-c", program, timeout=300)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    j = json.loads(out.read_text())
    temp = [p for p in j["points"] if p["call"] == "write" and p["subject"].startswith("state-")]
    assert [p["subject"] for p in temp] == ["state-*.tmp"], j["points"]
    assert temp[0]["rule"].startswith("write:path=*/state-*.tmp:site=") and not temp[0]["varies"]
    # and its trials do fault the write: a failed one leaves no state.json
    assert any("state-*.tmp" in f["rules"][0] for f in j["findings"]), j["findings"]


# each run writes one more line than the last (a counter kept outside the trial directory),
# each line with its own write(2) from the same call site
GROWING = """
import os, sys
counter = sys.argv[1]
n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
open(counter, "w").write(str(n))
fd = os.open("out.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(n):
    os.write(fd, b"line %d\\n" % i)
os.close(fd)
"""


def test_a_point_whose_count_varies_is_said_and_tried_at_its_first_call(run, tmp_path):
    counter = tmp_path / "runs"
    out = tmp_path / "sweep.json"
    r = run("sweep", "--json", out, "--seed", str(SEED), "--check", "test -s out.txt", "--",
            PY, "-c", GROWING, str(counter), timeout=300)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert "were called a different number of times in two runs without faults: only their " \
           "first call is tried (by call site)" in r.stderr, r.stderr
    j = json.loads(out.read_text())
    [w] = [p for p in j["points"] if p["call"] == "write" and p["subject"] == "out.txt"]
    assert w["varies"] is True, w
    # every trial of it names the 1st call or every call, never "the Nth of M"
    mine = [f for f in j["findings"] + j["flaky"] if f["subject"] == "out.txt" and
            f["call"] == "write"]
    assert mine and all("1st" in f["occurrence"] for f in mine), mine
    # a program whose counts do not vary is not said to
    steady = tmp_path / "steady.py"
    steady.write_text(GROWING.replace(
        "int(open(counter).read()) + 1 if os.path.exists(counter) else 1", "3"))
    r = run("sweep", "--surface", "--", PY, str(steady), str(tmp_path / "runs2"), timeout=60)
    assert "different number of times" not in r.stderr, r.stderr


# A crash is reported where it happened, not only at the call whose fault set it off: the
# failed malloc is in load(), the write through NULL in fill()
CRASHER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) char *load(size_t n) { return malloc(n); }
__attribute__((noinline)) void fill(char *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = (char)i; }
int main(void) {
    char *p = load(1 << 20);
    fill(p, 1 << 20);
    printf("%d\n", p[100]);
    return 0;
}
"""


@pytest.mark.parametrize("stripped", [False, True])
def test_a_crash_is_shown_where_it_happened(run, tmp_path, stripped):
    src = tmp_path / "crasher.c"
    src.write_text(CRASHER)
    exe = tmp_path / "crasher"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True)
    if stripped:
        subprocess.run(["strip", str(exe)], check=True)
    out = tmp_path / "sweep.json"
    r = run("sweep", "-q", "--json", str(out), "--seed", str(SEED), "--", str(exe), timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    crashes = [f for f in json.loads(out.read_text())["findings"]
               if f["kind"] == "crash" and f["call"] == "malloc"]
    assert crashes, r.stdout
    f = crashes[0]
    assert f["exit"] == 139 and f["signal"] == "SEGV", f
    assert f["crash_site"].startswith("crasher+0x") and f["crash_site"] != f["site"], f
    assert f["crash_module"] == str(exe) and f["fault_address"] == "0x0", f
    if stripped:
        # no symbol says which function: the site alone, never a wrong name
        assert f["crash_function"] is None, f
        assert f"killed by SIGSEGV at {f['crash_site']}, address 0x0" in r.stdout
    else:
        assert f["crash_function"] == "fill", f
        assert f"killed by SIGSEGV at {f['crash_site']} (fill), address 0x0" in r.stdout


@pytest.mark.parametrize("own_handler", [False, True])
def test_the_crash_reporter_leaves_a_programs_own_handler_alone(run, tmp_path, own_handler):
    # it only takes a signal the program left at its default, and the program still dies by
    # the signal (or does what its handler says)
    text = CRASHER
    if own_handler:
        text = text.replace("int main(void) {", """#include <signal.h>
#include <unistd.h>
static void on_segv(int s) { (void)s; write(2, "own handler\\n", 12); _exit(70); }
int main(void) {
    signal(SIGSEGV, on_segv);""")
    src = tmp_path / "prog.c"
    src.write_text(text)
    exe = tmp_path / "prog"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True)
    log = tmp_path / "fatal.log"
    r = run("inject", "-r", "malloc:errno=ENOMEM", "--", str(exe), timeout=60,
            extra_env={"FAULTLINE_FATAL_LOG": str(log)})
    if own_handler:
        assert r.returncode == 70 and "own handler" in r.stderr, r.stderr
        assert not log.exists()
    else:
        assert "killed by signal 11" in r.stderr, r.stderr
        line = log.read_text()
        assert re.fullmatch(r"fatal sig=11 pid=\d+ pc=0x[0-9a-f]+ off=0x[0-9a-f]+ addr=0x0 "
                            rf"module={re.escape(str(exe))}\n", line), line


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("args, code, words", [
    (["--", "no-such-program-xyz"], 2, "cannot run 'no-such-program-xyz'"),
    (["--check", "{notexec}", "--", "true"], 2, "--check: cannot run '{notexec}'"),
    (["--dir", "/nonexistent-template", "--", "true"], 2, "--dir: /nonexistent-template"),
    (["--check", "'unclosed", "--", "true"], 2, "unclosed"),
    (["--budget", "lots", "--", "true"], 2, "--budget"),
    (["--check", "false", "--", "true"], 3, "without any fault, the check fails"),
    (["--", "sh", "-c", "kill -SEGV $$"], 3, "the baseline crashes"),
    ([], 2, "no command given"),
])
def test_bad_input_gives_one_clear_line(run, tmp_path, args, code, words):
    notexec = tmp_path / "check.txt"
    notexec.write_text("not a program\n")
    notexec.chmod(0o644)
    args = [a.replace("{notexec}", str(notexec)) for a in args]
    words = words.replace("{notexec}", str(notexec))
    r = run("sweep", *args, timeout=60)
    assert r.returncode == code, r.stderr
    assert words in r.stderr


DAEMON = r"""
#include <stdio.h>
#include <unistd.h>
/* the classic double fork: the command returns at once, its grandchild runs on */
int main(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            for (;;) {
                FILE *f = fopen("daemon.log", "a");
                if (f) {
                    fputs("tick\n", f);
                    fclose(f);
                }
                sleep(1);
            }
        }
        _exit(0);
    }
    return 0;
}
"""


@pytest.mark.parametrize("command", ["sweep", "crash"])
def test_a_daemonizing_target_is_refused_and_killed(run, tmp_path, command):
    src = tmp_path / "daemon.c"
    src.write_text(DAEMON)
    exe = tmp_path / f"daemon-{command}"
    subprocess.run(["cc", "-o", str(exe), str(src)], check=True)
    r = run(command, "--check", "true", "--", str(exe), timeout=60)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "daemonized" in r.stderr and "foreground" in r.stderr, r.stderr
    errors = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(errors) == 1, r.stderr
    left = subprocess.run(["pgrep", "-f", str(exe)], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"left running: {left.stdout}"
    # the same program without the double fork is accepted: the refusal is about daemonizing
    plain = tmp_path / "plain.c"
    plain.write_text("int main(void) { return 0; }\n")
    subprocess.run(["cc", "-o", str(tmp_path / "plain"), str(plain)], check=True)
    r = run(command, "--check", "true", "--", str(tmp_path / "plain"), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sigint_leaves_no_trial_directory_or_process(faultline, env, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(env, TMPDIR=str(scratch))
    out = tmp_path / "partial.json"
    p = subprocess.Popen([faultline, "sweep", "-q", "--json", str(out), "--timeout", "20s",
                          "--", "sh", "-c", "sleep 0.5; echo x > f; sleep 5"], env=env,
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # the baseline takes 2 x 5.5 s: the interrupt lands in it or in the trials
    p.send_signal(signal.SIGINT)
    o, e = p.communicate(timeout=60)
    assert p.returncode == 130, e
    assert list(scratch.iterdir()) == []
    left = subprocess.run(["pgrep", "-f", "sleep 0.5; echo x > f"], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"left running: {left.stdout}"


def test_resume_goes_on_where_an_interrupted_sweep_stopped(faultline, env, tmp_path):
    """SIGINT in the middle of the trials writes the resume state; --resume with the same
    arguments does only the trials left, keeps the seed, and ends complete."""
    env = dict(env, TMPDIR=str(tmp_path))
    target = ["sh", "-c", "echo one > a; echo two > b; sleep 0.4"]
    args = [faultline, "sweep", "-j", "1", "--json"]
    first = tmp_path / "first.json"
    p = subprocess.Popen(args + [str(first), "--", *target], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # past the baseline (2 x 0.4 s), inside the trials (0.4 s each)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "--resume" in err
    j1 = json.loads(first.read_text())
    assert not j1["complete"] and 0 < j1["trials"] < j1["planned"]
    second = tmp_path / "second.json"
    r = subprocess.run(args + [str(second), "--resume", "--", *target], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert "resuming" in r.stderr
    j2 = json.loads(second.read_text())
    assert j2["seed"] == j1["seed"] and j2["complete"]
    assert j2["trials"] == j2["planned"] == j1["planned"]
    # and once complete there is nothing left to resume
    r = subprocess.run(args + [str(second), "--resume", "--", *target], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert "nothing to resume" in r.stderr or "no interrupted sweep" in r.stderr
