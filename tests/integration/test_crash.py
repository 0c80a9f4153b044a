# SPDX-License-Identifier: MIT
"""`faultline crash` on the crash corpus (tests/discovery/crash/): every buggy writer is found
with the pattern its bug is, under each model as src/discovery/crashfs.h documents it, and its
fixed twin passes; each finding's reproduce line, run as printed from the same cwd, checks
exactly that one failing state again. Also the sqlite3 CLI in WAL mode (synchronous=FULL holds,
synchronous=OFF fails the same check), the JSON report, --keep, --max-states and --budget, the
runs it must refuse (each with one clear line and its exit status), and SIGINT leaving nothing
behind.

Every run keeps its scratch in its own TMPDIR, which must be empty again when it ends. The
runs start from tests/discovery/crash/ with relative --dir and --check paths, as a user in a
project directory would, so the reproduce lines are run from there too."""
import concurrent.futures
import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "discovery" / "crash"
PY = "/usr/bin/python3"
PATTERNS = {"in-place-rewrite", "rename-without-fsync", "missing-dir-fsync", "unsynced-append",
            "other", "not-atomic"}  # not-atomic: a failing state that lost nothing (cmd_crash.c)

STATE = ["--dir", "templates/state", "--check", "./check_state.py state.json"]
LOG = ["--dir", "templates/log", "--check", "./check_log.py journal.log"]
SNAP = ["--dir", "templates/snap", "--check", "./check_snap.py"]
SPOOL = ["--check", "./check_spool.py"]


@pytest.fixture(scope="session")
def progs(tmp_path_factory):
    """{name: path} of every C program of the corpus, built once (cc -O1 -g -Wall -Wextra);
    a program that does not build cleanly fails the tests that use it."""
    out = tmp_path_factory.mktemp("crash-bin")

    def build(src):
        exe = out / src.stem
        r = subprocess.run(["cc", "-O1", "-g", "-Wall", "-Wextra", "-o", str(exe), str(src)],
                           capture_output=True, text=True)
        return src.stem, (str(exe) if r.returncode == 0 and not r.stderr.strip()
                          else f"cc {src.name} failed or warned:\n{r.stderr}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        built = dict(pool.map(build, sorted(CORPUS.glob("*.c"))))

    class Programs(dict):
        def __getitem__(self, name):
            path = super().__getitem__(name)
            if not path.startswith("/"):
                pytest.fail(path)
            return path

    return Programs(built)


class Run:
    def __init__(self, proc, report):
        self.rc, self.out, self.err, self.report = proc.returncode, proc.stdout, proc.stderr, report

    def __repr__(self):
        return f"exit {self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"

    @property
    def patterns(self):
        return {f["pattern"] for f in self.report["findings"]}


@pytest.fixture
def crash(faultline, env, tmp_path):
    """crash(args..., json=True, cwd=CORPUS) -> Run: `faultline crash --json F ARGS` with its own
    TMPDIR, which must hold no faultline-crash-* directory afterwards."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(env, TMPDIR=str(scratch))
    runs = [0]

    def _crash(*args, json_report=True, cwd=CORPUS, timeout=120):
        runs[0] += 1
        argv = [faultline, "crash", *map(str, args)]
        out = tmp_path / f"crash-{runs[0]}.json"
        if json_report:
            argv[2:2] = ["--json", str(out)]  # after "crash", before the rest
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout)
        left = [x.name for x in scratch.iterdir()]
        assert left == [], f"left in TMPDIR after {args}: {left}"
        report = json.loads(out.read_text()) if json_report and out.exists() else None
        return Run(p, report)

    _crash.env = env
    return _crash


def reproduce(crash, finding):
    """Run a finding's reproduce line as printed (shlex-split, from the same cwd), with --json
    put in after `faultline crash`; returns the Run."""
    argv = shlex.split(finding["reproduce"])
    assert argv[:2] == ["faultline", "crash"], finding["reproduce"]
    return crash(*argv[2:])


def assert_reproduces(crash, findings):
    """Each finding's reproduce line checks exactly its one state again, and it fails the same
    way: exit 1, one state checked, one finding with the same pattern, cut and state."""
    assert findings
    for f in findings:
        again = reproduce(crash, f)
        assert again.rc == 1, f"{f['reproduce']}\n{again}"
        assert again.report["states_checked"] == 1, again.report
        assert again.report["cuts"] == 1
        [g] = again.report["findings"]
        assert (g["pattern"], g["cut"], g["state"]) == (f["pattern"], f["cut"], f["state"])
        assert g["check_output"] == f["check_output"]


# ---- the corpus, under both models -------------------------------------------------------------

# (program, args, hooks, {model: the patterns found}); set() means: exit 0, no finding
CASES = {
    "state-inplace": ("state-inplace", ["state.json", "3"], STATE,
                      {"posix": {"in-place-rewrite"}, "ext4-ordered": {"in-place-rewrite"}}),
    "state_inplace.py": ("state_inplace.py", ["state.json", "3"], STATE,
                         {"posix": {"in-place-rewrite"}, "ext4-ordered": {"in-place-rewrite"}}),
    # over an existing file ext4's auto_da_alloc writes the data before the rename commits
    "state-rename-nofsync": ("state-rename-nofsync", ["state.json", "3"], STATE,
                             {"posix": {"rename-without-fsync"}, "ext4-ordered": set()}),
    "state-rename-nodirsync": ("state-rename-nodirsync", ["state.json", "3"], STATE,
                               {"posix": {"missing-dir-fsync"},
                                "ext4-ordered": {"missing-dir-fsync"}}),
    "state-atomic": ("state-atomic", ["state.json", "3"], STATE,
                     {"posix": set(), "ext4-ordered": set()}),
    "state_atomic.py": ("state_atomic.py", ["state.json", "3"], STATE,
                        {"posix": set(), "ext4-ordered": set()}),
    "log-nosync": ("log-nosync", ["journal.log", "3"], LOG,
                   {"posix": {"unsynced-append"}, "ext4-ordered": {"unsynced-append"}}),
    "log-fsync": ("log-fsync", ["journal.log", "3"], LOG, {"posix": set(), "ext4-ordered": set()}),
    # the ack leaves through glibc's own write, inside printf: no wrapper sees it
    "log-ack-early": ("log-ack-early", ["journal.log", "3"], LOG, {"posix": {"unsynced-append"}}),
    "log-ack-synced": ("log-ack-synced", ["journal.log", "3"], LOG, {"posix": set()}),
    "log_ack_early.py": ("log_ack_early.py", ["journal.log", "3"], LOG,
                         {"posix": {"unsynced-append"}}),
    "log_ack_early.py --fixed": ("log_ack_early.py", ["journal.log", "3", "--fixed"], LOG,
                                 {"posix": set()}),
    "stdio-noclose": ("stdio-noclose", ["state.json", "1"], STATE,
                      {"posix": {"in-place-rewrite"}, "ext4-ordered": {"in-place-rewrite"}}),
    "stdio-atomic": ("stdio-atomic", ["state.json", "3"], STATE,
                     {"posix": set(), "ext4-ordered": set()}),
    "mmap-nomsync": ("mmap-nomsync", ["state.json", "3"], STATE,
                     {"posix": {"in-place-rewrite"}, "ext4-ordered": {"in-place-rewrite"}}),
    "mmap-msync": ("mmap-msync", ["state.json", "3"], STATE,
                   {"posix": set(), "ext4-ordered": set()}),
    # a directory swapped whole (renameat2 RENAME_EXCHANGE), its new files never fsynced
    "snap-exchange": ("snap-exchange", ["3"], SNAP,
                      {"posix": {"rename-without-fsync", "missing-dir-fsync"},
                       "ext4-ordered": {"rename-without-fsync", "missing-dir-fsync"}}),
    "snap-exchange --fixed": ("snap-exchange", ["3", "--fixed"], SNAP,
                              {"posix": set(), "ext4-ordered": set()}),
    # a hard link into another directory that is never fsynced
    "spool-link": ("spool-link", ["3"], SPOOL,
                   {"posix": {"missing-dir-fsync"}, "ext4-ordered": {"missing-dir-fsync"}}),
    "spool-link --fixed": ("spool-link", ["3", "--fixed"], SPOOL,
                           {"posix": set(), "ext4-ordered": set()}),
}
# each fixed program and the buggy ones it is the twin of (so a twin that passes is no proof
# unless its buggy sibling fails the same check: test_every_fixed_twin_has_a_failing_sibling)
TWINS = {
    "state-atomic": ["state-inplace", "state-rename-nofsync", "state-rename-nodirsync"],
    "state_atomic.py": ["state_inplace.py"],
    "log-fsync": ["log-nosync"],
    "log-ack-synced": ["log-ack-early"],
    "log_ack_early.py --fixed": ["log_ack_early.py"],
    "stdio-atomic": ["stdio-noclose"],
    "mmap-msync": ["mmap-nomsync"],
    "snap-exchange --fixed": ["snap-exchange"],
    "spool-link --fixed": ["spool-link"],
}


def command(progs, prog, args):
    if prog.endswith(".py"):
        return [PY, str(CORPUS / prog), *args]  # ARGS are not resolved: CMD runs elsewhere
    return [progs[prog], *args]


@pytest.mark.parametrize("name,model", [(n, m) for n in CASES for m in CASES[n][3]])
def test_corpus_case(crash, progs, name, model):
    prog, args, hooks, expect = CASES[name]
    r = crash("--model", model, *hooks, "--", *command(progs, prog, args))
    want = expect[model]
    assert r.rc == (1 if want else 0), r
    assert r.report["calls"] > 0 and r.report["states_checked"] > 0
    assert r.patterns == want, r
    for f in r.report["findings"]:
        assert f["model"] == model
        assert f["check_status"] != 0 and f["check_output"].strip()
        assert any(c["lost"] for c in f["calls_before_cut"]) or f["state"] == "none-lost", f
    if want:
        assert_reproduces(crash, r.report["findings"])
    else:
        assert "no crash state fails the check" in r.out


def test_every_fixed_twin_has_a_failing_sibling():
    for fixed, buggy in TWINS.items():
        for model, want in CASES[fixed][3].items():
            assert want == set()
            assert any(CASES[b][3].get(model) for b in buggy), (fixed, model)
        assert all(CASES[b][2] == CASES[fixed][2] for b in buggy), "twins share their check"


def test_rename_to_a_new_name_without_fsync_is_caught_on_ext4_only_for_the_new_name(crash, progs):
    """crashfs.h: auto_da_alloc flushes a rename over an existing file, "a rename to a name that
    did not exist gets no such flush". Started without state.json, the first save's rename
    (to a new name) fails under ext4-ordered and the later ones (over it) do not; under posix
    every save fails."""
    hooks = ["--check", "./check_state.py state.json --fresh"]
    cmd = [progs["state-rename-nofsync"], "state.json", "3"]
    ext4 = crash("--model", "ext4-ordered", *hooks, "--", *cmd)
    assert ext4.rc == 1, ext4
    assert ext4.patterns == {"rename-without-fsync"}
    calls = ext4.report["recorded_calls"]
    dirsyncs = [i for i, c in enumerate(calls) if c.startswith("fsync(directory")]
    assert len(dirsyncs) == 3
    [f] = ext4.report["findings"]
    # failing only until the second rename (over the first file) was made durable
    assert all(cut <= dirsyncs[1] for cut in f["cuts"]), (f["cuts"], calls)
    assert_reproduces(crash, ext4.report["findings"])
    posix = crash("--model", "posix", *hooks, "--", *cmd)
    assert posix.rc == 1 and posix.patterns == {"rename-without-fsync"}, posix
    [p] = posix.report["findings"]
    assert max(p["cuts"]) > dirsyncs[1], p["cuts"]


def test_stdio_and_mmap_writes_are_recorded(crash, progs):
    """The recorder follows a stream glibc writes only at exit and a shared mapping by content:
    both show up as writes in the log, and the runs verify (else they would exit 3)."""
    r = crash(*STATE, "--", progs["stdio-noclose"], "state.json", "7")
    assert r.rc == 1, r
    calls = r.report["recorded_calls"]
    assert calls[0] == 'open("state.json", O_TRUNC)'
    assert 'write("state.json", 13 bytes at 0)' in calls
    r = crash(*STATE, "--", progs["mmap-msync"], "state.json", "2")
    assert r.rc == 0, r
    calls = r.report["recorded_calls"]
    assert calls.count('write("state.json", 13 bytes at 0)') == 2, calls
    assert calls.count('fdatasync("state.json")') == 2, calls  # msync(MS_SYNC)


def test_acks_are_marked_before_the_fsync_that_follows_them(crash, progs):
    """A line-buffered stdout leaves through glibc's own write: the recorder must still put
    the ack before the fsync issued after it, else ack-before-fsync passes."""
    r = crash(*LOG, "--", progs["log-ack-early"], "journal.log", "2")
    calls = r.report["recorded_calls"]
    first_ack = calls.index("[stdout: 6 bytes printed so far]")
    assert first_ack < calls.index('fsync("journal.log")'), calls


# ---- sqlite3 in WAL mode -------------------------------------------------------------------------

SQLITE_SETUP = ("sqlite3 db.sqlite 'PRAGMA journal_mode=WAL; "
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);'")


def sqlite_cmd(sync, rows):
    # stdbuf -oL: each "ack I" leaves the CLI when it is printed, not at exit
    return ["stdbuf", "-oL", "sqlite3", "db.sqlite", f"PRAGMA synchronous={sync}"] + [
        f"INSERT INTO t VALUES({i}, 'row {i}'); SELECT 'ack {i}';" for i in range(1, rows + 1)]


@pytest.fixture
def sqlite3_cli():
    if not shutil.which("sqlite3"):
        pytest.skip("sqlite3 is not installed (apt-get install -y sqlite3)")
    if not shutil.which("stdbuf"):
        pytest.skip("stdbuf (coreutils) is not installed")


def test_sqlite_wal_synchronous_full_holds(crash, sqlite3_cli):
    r = crash("--exe", "sqlite3", "--setup", SQLITE_SETUP, "--check", "./check_sqlite.py db.sqlite",
              "--", *sqlite_cmd("FULL", 2))
    assert r.rc == 0, r
    calls = r.report["recorded_calls"]
    # not a vacuous pass: the commits were synced, each ack was seen before the end, and
    # many states were checked, every one of them (no cap reached)
    assert sum(c == 'fdatasync("db.sqlite-wal")' for c in calls) >= 2, calls
    marks = [c for c in calls if c.startswith("[stdout:")]
    assert marks[0] == "[stdout: 6 bytes printed so far]", calls
    assert calls.index(marks[0]) < len(calls) - 5, calls
    assert r.report["states_checked"] >= 20 and r.report["states_over_cap"] == 0, r.report


def test_sqlite_wal_synchronous_off_fails_the_same_check(crash, sqlite3_cli):
    """The negative control: the check that passes synchronous=FULL can fail."""
    r = crash("--exe", "sqlite3", "--max-states", "6", "--setup", SQLITE_SETUP,
              "--check", "./check_sqlite.py db.sqlite", "--", *sqlite_cmd("OFF", 2))
    assert r.rc == 1, r
    assert r.patterns <= PATTERNS
    assert any("were acknowledged but are missing" in f["check_output"]
               for f in r.report["findings"]), r.report["findings"]
    assert_reproduces(crash, r.report["findings"][:1])


# ---- the report --------------------------------------------------------------------------------


def test_json_report_schema(crash, progs):
    cmd = [progs["state-rename-nofsync"], "state.json", "2"]
    r = crash(*STATE, "--", *cmd)
    assert r.rc == 1, r
    j = r.report
    assert j["kind"] == "crash" and j["version"] == 1
    assert j["command"] == cmd and j["model"] == "posix"
    assert j["check"] == "./check_state.py state.json"
    calls = j["recorded_calls"]
    assert isinstance(calls, list) and all(isinstance(c, str) for c in calls)
    assert j["calls"] == len(calls) and j["cuts"] == len(calls) + 1
    assert j["states_checked"] > 0 and j["states_over_cap"] == 0
    assert j["interrupted"] is False and j["budget_reached"] is False
    assert isinstance(j["seconds"], float)
    [f] = j["findings"]
    assert set(f) >= {"pattern", "explanation", "calls_before_cut", "reproduce", "state", "cut",
                      "cuts", "states", "check_output", "check_status", "model", "also"}
    assert f["pattern"] == "rename-without-fsync"
    assert "rename" in f["explanation"] and "fsync" in f["explanation"]
    assert f["cuts"][0] == f["cut"] and f["states"] >= len(f["cuts"])
    before = f["calls_before_cut"]
    assert [c["index"] for c in before] == list(range(f["cut"] - len(before), f["cut"]))
    for c in before:  # the calls are the log's own, and what was lost is marked
        assert c["call"] == calls[c["index"]] and isinstance(c["lost"], bool)
    lost = {c["call"] for c in before if c["lost"]}
    assert 'write("state.json.tmp", 13 bytes at 0)' in lost
    assert not any(c.startswith("rename") for c in lost)
    assert f["reproduce"].startswith(f"faultline crash --model posix --cut {f['cut']} --state ")
    # the text report says the same
    assert f"FAIL rename-without-fsync: cut {f['cut']}, state {f['state']}" in r.out
    assert f"reproduce: {f['reproduce']}" in r.out


def test_json_to_stdout_is_json_alone(crash, progs):
    r = crash("--json", "-", *STATE, "--", progs["state-inplace"], "state.json", "1",
              json_report=False)
    assert r.rc == 1, r
    j = json.loads(r.out)
    assert j["kind"] == "crash" and j["findings"][0]["pattern"] == "in-place-rewrite"
    assert "FAIL in-place-rewrite" in r.err  # the report went to stderr


def test_keep_leaves_the_states_built(crash, progs, tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    r = crash("--keep", keep, *STATE, "--", progs["state-rename-nofsync"], "state.json", "1")
    assert r.rc == 1, r
    dirs = sorted(keep.iterdir())
    assert len(dirs) == r.report["states_checked"] > 1
    assert all(d.name.startswith("cut-") for d in dirs)
    initial = (CORPUS / "templates/state/state.json").read_bytes()
    assert (keep / "cut-0-0" / "state.json").read_bytes() == initial
    # the failing state (rename durable, data lost) is there as the check saw it
    contents = {(d / "state.json").read_bytes() for d in dirs if (d / "state.json").exists()}
    assert b"" in contents and b'{"count": 1}\n' in contents and initial in contents


def test_max_states_and_budget_cap_the_work(crash, progs):
    cmd = ["--", progs["state-rename-nodirsync"], "state.json", "3"]
    full = crash(*STATE, *cmd)
    n = full.report["states_checked"]
    cuts = full.report["cuts"]
    assert full.report["states_over_cap"] == 0 and n > cuts
    capped = crash("--max-states", "1", *STATE, *cmd)
    assert capped.report["states_checked"] <= cuts < n
    assert capped.report["states_over_cap"] > 0
    assert "more states were over --max-states" in capped.out
    budget = crash("--budget", "4", *STATE, *cmd)
    assert budget.report["states_checked"] == 4 and budget.report["budget_reached"] is True
    assert "(budget reached)" in budget.out
    timed = crash("--budget", "1ms", *STATE, *cmd)  # spent before the first state
    assert timed.report["budget_reached"] is True and timed.report["states_checked"] < n


def test_reproduce_keeps_max_states_beyond_the_default_cap(crash, progs):
    """A state past the default 64 at its cut: the reproduce line must build it again."""
    label = "prefix:journal.log:70/100"
    r = crash("--cut", "200", "--max-states", "200", "--dir", "templates/log", "--check",
              f"sh -c 'test \"$FAULTLINE_STATE\" != {label}'", "--",
              progs["log-nosync"], "journal.log", "100")
    assert r.rc == 1, r
    [f] = r.report["findings"]
    assert f["state"] == label and f["cut"] == 200
    assert_reproduces(crash, r.report["findings"])


def comparable(report):
    return {k: report[k] for k in ("findings", "states_checked", "cuts", "calls")}


def test_jobs_check_states_at_once_and_find_the_same(crash, progs, tmp_path):
    """-j N runs N checks at once (each in its own directory) and judges them in order, so
    the report is the same as one at a time."""
    cmd = ["--", progs["state-rename-nodirsync"], "state.json", "3"]
    one = crash("-j", "1", *STATE, *cmd)
    four = crash("-j", "4", *STATE, *cmd)
    assert one.rc == four.rc == 1, four
    assert comparable(one.report) == comparable(four.report)
    # how many checks ran at the same moment: each holds a slot for a while and notes the
    # most it saw held
    meter = tmp_path / "meter.py"
    meter.write_text(f"""import fcntl, os, time
d = {str(tmp_path)!r}
def bump(by):
    with open(os.path.join(d, "count"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        n, most = map(int, (f.read() or "0 0").split())
        n += by
        f.seek(0); f.truncate(); f.write(f"{{n}} {{max(most, n)}}")
bump(1)
time.sleep(0.3)
bump(-1)
""")
    for jobs, want in (("1", 1), ("2", 2)):
        (tmp_path / "count").unlink(missing_ok=True)
        r = crash("-j", jobs, "--budget", "6", "--dir", "templates/state", "--check",
                  f"{PY} {meter}", *cmd)
        assert r.rc == 0 and r.report["states_checked"] == 6, r
        n, most = map(int, (tmp_path / "count").read_text().split())
        assert n == 0 and most == want, (jobs, most)


# ---- runs it must refuse -----------------------------------------------------------------------

BAD = [
    # (id, args (after `faultline crash`), exit, words on the one line of stderr)
    ("no check", ["--dir", "templates/state", "--", "{state-atomic}", "state.json", "1"], 2,
     "--check CMD is required"),
    ("check not executable", ["--check", "{notexec}", "--", "{state-atomic}", "state.json", "1"],
     2, "not an executable file"),
    ("CMD not found (path)", STATE + ["--", "./no-such-writer", "state.json", "1"], 2,
     "cannot run './no-such-writer'"),
    ("CMD not found (PATH)", STATE + ["--", "no-such-writer-xyz", "state.json", "1"], 2,
     "cannot run 'no-such-writer-xyz': not found on PATH"),
    ("template missing", ["--dir", "templates/no-such", "--check", "./check_state.py state.json",
                          "--", "{state-atomic}", "state.json", "1"], 2,
     "--dir: templates/no-such: No such file or directory"),
    ("jobs zero", ["-j", "0"] + STATE + ["--", "{state-atomic}", "state.json", "1"], 2,
     "-j: '0' is not a number of jobs (expected 1..256)"),
    ("model bogus", ["--model", "bogus"] + STATE + ["--", "{state-atomic}", "state.json", "1"], 2,
     "'bogus' is not a model"),
    ("CMD exits nonzero", STATE + ["--", "{state-atomic}"], 3,
     "CMD exits with status 2 without any crash"),
    ("check fails on the clean result", ["--dir", "templates/state", "--check", "false", "--",
                                         "{state-atomic}", "state.json", "1"], 3,
     "the check fails (status 1) on what CMD left without any crash"),
    ("check fails at cut 0", ["--check", "./check_state.py state.json", "--",
                              "{state-atomic}", "state.json", "1"], 3,
     "before CMD ran (cut 0)"),
    ("raw syscall", STATE + ["--", "{raw-syscall}", "state.json", "1"], 3,
     "the recorder missed a call"),
    ("symlink", STATE + ["--", "{symlink}", "state.json", "1"], 3, "symlink creation"),
    ("cut beyond the calls", ["--cut", "99"] + STATE + ["--", "{state-atomic}", "state.json",
                                                        "1"], 3,
     "--cut 99: the run made 8 calls (cut points 0..8)"),
]


@pytest.mark.parametrize("args,code,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gives_one_clear_line(crash, progs, tmp_path, args, code, words):
    notexec = tmp_path / "check.py"
    shutil.copy(CORPUS / "check_state.py", notexec)
    notexec.chmod(0o644)
    subs = {"{notexec}": str(notexec)}
    args = [subs.get(a) or (progs[a[1:-1]] if a.startswith("{") else a) for a in args]
    r = crash(*args)
    assert r.rc == code, r
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("faultline: error: ") and "?" not in lines[0][-3:], lines
    assert words in lines[0], lines[0]
    assert "no crash state fails" not in r.out  # never a PASS
    if code == 3:  # judged nothing: no report
        assert r.out == "" and r.report is None, r


def test_cut_at_the_last_call_is_accepted(crash, progs):
    """The bound of the bad --cut above is the right one: cut n (all n calls issued) is valid."""
    r = crash("--cut", "8", *STATE, "--", progs["state-atomic"], "state.json", "1")
    assert r.rc == 0, r
    assert r.report["calls"] == 8 and r.report["cuts"] == 1


def test_raw_syscall_twin_without_the_raw_write_is_judged(crash, progs):
    """The negative control of the raw-syscall refusal: the same in-place save through libc is
    judged (exit 1), so the 3 above comes from the missed call, not from the program."""
    r = crash(*STATE, "--", progs["state-inplace"], "state.json", "1")
    assert r.rc == 1 and r.patterns == {"in-place-rewrite"}, r


# ---- SIGINT --------------------------------------------------------------------------------------


def processes_with(token):
    found = []
    for p in pathlib.Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if token in cmdline:
                found.append(f"{p.name}: {cmdline}")
    return found


def test_sigint_during_exploration(faultline, crash, progs, tmp_path):
    """SIGINT while a check runs: exit 130, a report saying so, no check taken for a finding,
    no scratch directory and no process left."""
    started = tmp_path / "started"
    token = "61.25"  # the sleep's argument, to find it among the processes
    check = (f"sh -c 'test -z \"$FAULTLINE_CUT\" || {{ touch {started}; exec sleep {token}; }}'")
    out = tmp_path / "sigint.json"
    p = subprocess.Popen([faultline, "crash", "--json", str(out), "--dir", "templates/state",
                          "--check", check, "--", progs["state-atomic"], "state.json", "3"],
                         cwd=CORPUS, env=crash.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # until the first state's check is running (at most 30 s)
            if started.exists() or p.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), "no check started"
        p.send_signal(signal.SIGINT)
        o, e = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130, (o, e)
    assert "error" not in e, e
    assert "(interrupted)" in o
    j = json.loads(out.read_text())
    assert j["interrupted"] is True and j["findings"] == []
    scratch = pathlib.Path(crash.env["TMPDIR"])
    assert [x.name for x in scratch.iterdir()] == []
    assert processes_with(f"sleep {token}") == []
