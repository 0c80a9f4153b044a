# SPDX-License-Identifier: MIT
"""Integration tests: `faultline inject` against the victim program, file side.

Each test runs the real faultline binary, which runs the real victim under the preload, and
asserts on what the victim saw (its "<call> <ret> [ERRNO]" lines) and on what reached the disk.
"""
import json
import random
import socket
import subprocess

import pytest


def lines(cp):
    return cp.stdout.splitlines()


def ok(cp):
    assert cp.returncode == 0, f"exit {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}"
    return cp


def json_stats(cp):
    """The JSON counters: the last line of stderr."""
    last = cp.stderr.strip().splitlines()[-1]
    return json.loads(last)


def bits_differ(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


# --- errno on write, path globs -------------------------------------------------------------


def test_write_path_glob_errno_enospc(inject, victim, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    target, other, lookalike = d / "state.json", d / "other.json", d / "xstate.json"
    script = f'"$0" write {target} 100; "$0" write {other} 100; "$0" write {lookalike} 100'
    cp = ok(inject(["write:path=*/state.json:errno=ENOSPC"], "sh", "-c", script, victim))
    assert lines(cp) == [
        "open 3", "write -1 ENOSPC", "close 0",  # */state.json
        "open 3", "write 100", "close 0",        # other.json: untouched
        "open 3", "write 100", "close 0",        # xstate.json: '/' is part of the glob
    ]
    assert target.read_bytes() == b""
    assert other.read_bytes() == b"x" * 100
    assert lookalike.read_bytes() == b"x" * 100


def test_write_path_glob_without_slash_matches_last_component(inject, victim, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    deep, other = tmp_path / "a" / "b" / "c.json", tmp_path / "a" / "c.txt"
    cp = ok(inject(["write:path=*.json:errno=EIO"], "sh", "-c",
                   f'"$0" write {deep} 10; "$0" write {other} 10', victim))
    assert lines(cp) == ["open 3", "write -1 EIO", "close 0", "open 3", "write 10", "close 0"]
    assert deep.stat().st_size == 0
    assert other.read_bytes() == b"x" * 10


# --- io.sync and nth ------------------------------------------------------------------------


def test_io_sync_nth_3_fails_exactly_the_third(inject, victim, tmp_path):
    cp = ok(inject(["io.sync:errno=EIO:nth=3"], victim, "fsync", tmp_path / "f", 4))
    assert lines(cp) == ["fsync 0", "fsync 0", "fsync -1 EIO", "fsync 0", "fdatasync 0"]


def test_io_sync_nth_counts_fdatasync_too(inject, victim, tmp_path):
    cp = ok(inject(["io.sync:errno=EIO:nth=5"], victim, "fsync", tmp_path / "f", 4))
    assert lines(cp) == ["fsync 0"] * 4 + ["fdatasync -1 EIO"]


def test_single_call_name_does_not_hit_sibling(inject, victim, tmp_path):
    cp = ok(inject(["fdatasync:errno=EIO"], victim, "fsync", tmp_path / "f", 2))
    assert lines(cp) == ["fsync 0", "fsync 0", "fdatasync -1 EIO"]


# --- short, torn, drop ----------------------------------------------------------------------


@pytest.mark.parametrize("short, expect", [("50%", 50), ("30", 30), ("1", 1)])
def test_short_write(inject, victim, tmp_path, short, expect):
    f = tmp_path / "a.bin"
    cp = ok(inject([f"write:path=*.bin:short={short}"], victim, "write", f, 100))
    assert lines(cp) == ["open 3", f"write {expect}", "close 0"]
    assert f.read_bytes() == b"x" * expect


def test_short_write_loop_completes_the_file(inject, victim, tmp_path):
    # a writer that loops on short counts still gets everything out
    f = tmp_path / "a.bin"
    cp = ok(inject(["write:path=*.bin:short=50%"], victim, "write", f, 100, 100))
    assert lines(cp)[:2] == ["open 3", "write 50"]
    assert f.read_bytes() == b"x" * 100


def test_short_read(inject, victim, tmp_path):
    f = tmp_path / "a.bin"
    data = random.Random(9).randbytes(100)
    f.write_bytes(data)
    out = lines(ok(inject(["read:path=*.bin:short=50%"], victim, "read", f, 100)))
    assert out == ["open 3", "read 50", data[:50].hex()]


@pytest.mark.parametrize("call", ["write", "read"])
def test_short_percent_never_turns_into_zero(inject, victim, tmp_path, call):
    # 50% of a 1-byte request must not become 0: a read of 0 is end-of-file and a write of 0
    # makes no progress, neither of which is a short transfer
    f = tmp_path / "a.bin"
    f.write_bytes(b"z")
    out = lines(ok(inject([f"{call}:path=*.bin:short=50%"], victim, call, f, 1)))
    assert out[1] == f"{call} 1"


def test_torn_write_eio(inject, victim, tmp_path):
    f = tmp_path / "a.bin"
    cp = ok(inject(["write:path=*.bin:torn=512"], victim, "write", f, 4096))
    assert lines(cp) == ["open 3", "write -1 EIO", "close 0"]
    assert f.read_bytes() == b"x" * 512


def test_torn_write_with_errno(inject, victim, tmp_path):
    f = tmp_path / "a.bin"
    cp = ok(inject(["write:path=*.bin:torn=512:errno=ENOSPC"], victim, "write", f, 4096))
    assert lines(cp) == ["open 3", "write -1 ENOSPC", "close 0"]
    assert f.read_bytes() == b"x" * 512


def test_drop_write(inject, victim, tmp_path):
    f = tmp_path / "a.bin"
    cp = ok(inject(["write:path=*.bin:drop"], victim, "write", f, 4096))
    assert lines(cp) == ["open 3", "write 4096", "close 0"]
    assert f.read_bytes() == b""


@pytest.mark.parametrize(
    "call, byte, effect, line, ondisk",
    [
        ("pwrite", b"p", "short=50%", "pwrite 2048", 2048),
        ("pwrite", b"p", "torn=512", "pwrite -1 EIO", 512),
        ("pwrite", b"p", "drop", "pwrite 4096", 0),
        ("pwrite", b"p", "errno=ENOSPC", "pwrite -1 ENOSPC", 0),
        ("writev", b"v", "short=50%", "writev 2048", 2048),
        ("writev", b"v", "short=3000", "writev 3000", 3000),
        ("writev", b"v", "torn=512", "writev -1 EIO", 512),
        ("writev", b"v", "drop", "writev 4096", 0),
        ("writev", b"v", "errno=ENOSPC", "writev -1 ENOSPC", 0),
    ],
)
def test_pwrite_writev_effects(inject, victim, tmp_path, call, byte, effect, line, ondisk):
    f = tmp_path / "a.bin"
    cp = ok(inject([f"io.write:path=*.bin:{effect}"], victim, call, f, 4096))
    assert lines(cp) == [line]
    assert f.read_bytes() == byte * ondisk


# --- corrupt --------------------------------------------------------------------------------


def _corrupt_read(inject, victim, f, seed, nbits=3):
    cp = ok(inject([f"io.read:path=*/data.bin:corrupt={nbits}"], victim, "read", f,
                   opts=["--seed", str(seed)]))
    out = lines(cp)
    assert out[:2] == ["open 3", f"read {f.stat().st_size}"]
    return bytes.fromhex(out[2])


def test_corrupt_read_flips_exactly_n_bits_deterministically(inject, victim, tmp_path):
    f = tmp_path / "data.bin"
    original = random.Random(1234).randbytes(64)
    f.write_bytes(original)
    a1 = _corrupt_read(inject, victim, f, 1)
    a2 = _corrupt_read(inject, victim, f, 1)
    b = _corrupt_read(inject, victim, f, 2)
    assert bits_differ(a1, original) == 3
    assert bits_differ(b, original) == 3
    assert a1 == a2, "same seed must give the same corruption"
    assert a1 != b, "another seed should flip other bits"
    assert f.read_bytes() == original, "corrupt= must not touch the file"


def test_corrupt_read_other_file_untouched(inject, victim, tmp_path):
    f = tmp_path / "plain.bin"
    original = random.Random(5).randbytes(32)
    f.write_bytes(original)
    cp = ok(inject(["io.read:path=*/data.bin:corrupt=3"], victim, "read", f))
    assert bytes.fromhex(lines(cp)[2]) == original


# --- open and metadata calls ----------------------------------------------------------------


def test_io_open_path_eacces(inject, victim, tmp_path):
    secret, public = tmp_path / "secret", tmp_path / "public"
    secret.write_text("s")
    public.write_text("p")
    rule = "io.open:path=*/secret:errno=EACCES"
    assert lines(ok(inject([rule], victim, "open", secret))) == ["open -1 EACCES"]
    assert lines(ok(inject([rule], victim, "open", public))) == ["open 0"]


def test_open_call_name_path_eacces(inject, victim, tmp_path):
    # `open:` is the name a user writes for a program that calls open(); the victim calls
    # open() in its source (the compiler may bind it to open64 under large-file support)
    secret, public = tmp_path / "secret", tmp_path / "public"
    secret.write_text("s")
    public.write_text("p")
    rule = "open:path=*/secret:errno=EACCES"
    assert lines(ok(inject([rule], victim, "open", secret))) == ["open -1 EACCES"]
    assert lines(ok(inject([rule], victim, "open", public))) == ["open 0"]


def _meta(inject, victim, tmp_path, rules):
    d = tmp_path / "m"
    d.mkdir()
    cp = ok(inject(rules, victim, "meta", d))
    return d, dict(l.split(" ", 1) for l in lines(cp))


def test_meta_rename_exdev_leaves_source(inject, victim, tmp_path):
    d, out = _meta(inject, victim, tmp_path, ["rename:errno=EXDEV"])
    assert out["rename"] == "-1 EXDEV"
    assert out["mkdir"] == out["ftruncate"] == out["fallocate"] == "0"
    assert out["unlink"] == "-1 ENOENT"  # the real unlink of b.txt, which was never made
    assert (d / "a.txt").stat().st_size == 200
    assert not (d / "b.txt").exists()
    assert (d / "sub").is_dir()


def test_meta_unlink_ebusy_leaves_file(inject, victim, tmp_path):
    d, out = _meta(inject, victim, tmp_path, ["unlink:errno=EBUSY"])
    assert out["rename"] == "0"
    assert out["unlink"] == "-1 EBUSY"
    assert not (d / "a.txt").exists()
    assert (d / "b.txt").stat().st_size == 200


def test_meta_mkdir_fails_no_directory(inject, victim, tmp_path):
    d, out = _meta(inject, victim, tmp_path, ["mkdir:errno=EACCES"])
    assert out["mkdir"] == "-1 EACCES"
    assert not (d / "sub").exists()
    assert out["rename"] == out["unlink"] == "0"
    assert sorted(p.name for p in d.iterdir()) == []


def test_meta_ftruncate_and_fallocate_fail(inject, victim, tmp_path):
    d, out = _meta(inject, victim, tmp_path,
                   ["ftruncate:errno=EIO", "posix_fallocate:errno=ENOSPC", "rename:errno=EXDEV"])
    assert out["ftruncate"] == "-1 EIO"
    assert out["fallocate"].startswith("-1")
    assert out["rename"] == "-1 EXDEV"
    assert (d / "a.txt").stat().st_size == 0, "neither the truncate nor the fallocate happened"


def test_meta_family_path_selector(inject, victim, tmp_path):
    # io.meta with a path: the fd calls on a.txt (ftruncate, fallocate) and rename(a.txt, ...)
    # fail; mkdir of sub does not match
    d, out = _meta(inject, victim, tmp_path, ["io.meta:path=*/a.txt:errno=EIO"])
    assert out["mkdir"] == "0"
    assert out["ftruncate"] == "-1 EIO"
    assert out["fallocate"].startswith("-1")
    assert out["rename"] == "-1 EIO"
    assert out["unlink"] == "-1 ENOENT"
    assert (d / "sub").is_dir()
    assert (d / "a.txt").stat().st_size == 0
    assert not (d / "b.txt").exists()


# --- stdio ----------------------------------------------------------------------------------


def test_stdio_io_write_enospc_sets_ferror(inject, victim, tmp_path):
    f = tmp_path / "s.txt"
    out = lines(ok(inject(["io.write:path=*.txt:errno=ENOSPC"], victim, "stdio", f, "hello")))
    assert out[:5] == ["fopen 0", "fputs -1 ENOSPC", "fprintf -1 ENOSPC", "fwrite 0", "ferror 1"]
    assert f.read_text() == ""


def test_stdio_fclose_enospc_loses_buffer(inject, victim, tmp_path):
    f = tmp_path / "s.txt"
    out = lines(ok(inject(["fclose:path=*.txt:errno=ENOSPC"], victim, "stdio-close", f, "hello")))
    assert out == ["fopen 0", "fprintf 6", "fclose -1 ENOSPC"]
    assert f.read_text() == ""
    # and without the fault the same program writes the line
    out = lines(ok(inject(["fclose:path=*.json:errno=ENOSPC"], victim, "stdio-close", f, "hello")))
    assert out[-1] == "fclose 0"
    assert f.read_text() == "hello\n"


def test_stdio_fflush_enospc_loses_buffer(inject, victim, tmp_path):
    f = tmp_path / "s.txt"
    out = lines(ok(inject(["fflush:path=*.txt:errno=ENOSPC"], victim, "stdio", f, "hello")))
    assert out[:6] == ["fopen 0", "fputs 1", "fprintf 7", "fwrite 5", "ferror 0",
                       "fflush -1 ENOSPC"]
    assert f.read_text() == ""


@pytest.fixture
def rtxt(tmp_path):
    f = tmp_path / "r.txt"
    f.write_bytes(b"abcdefgh\nline two\n")
    return f


def test_fread_errno(inject, victim, rtxt):
    out = lines(ok(inject(["fread:path=*.txt:errno=EIO"], victim, "fread", rtxt)))
    assert out[:2] == ["fopen 0", "fread 0"]
    assert out[-1] == "ferror 1"


def test_fgets_errno(inject, victim, rtxt):
    out = lines(ok(inject(["fgets:path=*.txt:errno=EIO"], victim, "fread", rtxt)))
    assert out == ["fopen 0", "fread 8", b"abcdefgh".hex(), "fgets -1 EIO", "ferror 1"]


def test_io_read_family_fails_fread_and_fgets(inject, victim, rtxt):
    out = lines(ok(inject(["io.read:path=*.txt:errno=EIO"], victim, "fread", rtxt)))
    assert out[1] == "fread 0"
    assert out[-2:] == ["fgets -1 EIO", "ferror 1"]


def test_fread_corrupt(inject, victim, rtxt):
    outs = []
    for seed in (3, 3):
        out = lines(ok(inject(["fread:path=*.txt:corrupt=2"], victim, "fread", rtxt,
                              opts=["--seed", str(seed)])))
        assert out[1] == "fread 8"
        assert out[-1] == "ferror 0"
        outs.append(bytes.fromhex(out[2]))
    assert bits_differ(outs[0], b"abcdefgh") == 2
    assert outs[0] == outs[1]
    assert rtxt.read_bytes() == b"abcdefgh\nline two\n"


# --- kind selector --------------------------------------------------------------------------


def _run_with_socket_stdout(faultline, env, tmp_path, rules, *cmd):
    """Run faultline inject with the victim's stdout on a socket; return what came through."""
    a, b = socket.socketpair()
    args = [faultline, "inject", "-q"]
    for r in rules:
        args += ["-r", r]
    try:
        p = subprocess.run([*args, "--", *map(str, cmd)], stdout=a.fileno(),
                           stderr=subprocess.PIPE, env=env, cwd=tmp_path, timeout=30, text=True)
        a.close()
        b.settimeout(10)
        data = b""
        while chunk := b.recv(65536):
            data += chunk
    finally:
        a.close()
        b.close()
    return p, data.decode()


def test_io_family_does_not_hit_socket(faultline, env, victim, tmp_path):
    f = tmp_path / "k.bin"
    p, out = _run_with_socket_stdout(faultline, env, tmp_path, ["io.write:errno=EIO"],
                                     victim, "write", f, 10)
    assert p.returncode == 0, p.stderr
    # the file write fails, the stdout socket (fflush on stdout) is not an io.* fd
    assert out.splitlines() == ["open 3", "write -1 EIO", "close 0"]
    assert f.read_bytes() == b""


def test_kind_socket_overrides_io_family(faultline, env, victim, tmp_path):
    f = tmp_path / "k.bin"
    p, out = _run_with_socket_stdout(faultline, env, tmp_path, ["io.write:kind=socket:errno=EIO"],
                                     victim, "write", f, 10)
    assert p.returncode == 0, p.stderr
    assert out == "", "every flush of stdout (a socket) should have failed"
    assert f.read_bytes() == b"x" * 10, "the file is not a socket"


def test_kind_pipe_hits_pipe_not_file(inject, victim, tmp_path):
    # /dev/stdout re-opens the captured stdout, a pipe; the report lines go through stdio
    # (stdout's flush is fflush, which a `write:` rule does not name), so they still arrive
    rule = "write:kind=pipe:errno=EIO"
    assert lines(ok(inject([rule], victim, "write", "/dev/stdout", 10))) == [
        "open 3", "write -1 EIO", "close 0"]
    f = tmp_path / "k.bin"
    assert lines(ok(inject([rule], victim, "write", f, 10))) == ["open 3", "write 10", "close 0"]
    assert f.read_bytes() == b"x" * 10


def test_injected_epipe_raises_sigpipe_like_the_kernel(inject, victim):
    # a real EPIPE on write comes with SIGPIPE, which kills a program that does not ignore it
    cp = inject(["write:kind=pipe:errno=EPIPE"], victim, "write", "/dev/stdout", 10)
    assert cp.returncode == 128 + 13, cp
    assert "SIGPIPE" in cp.stderr


def test_kind_file_does_not_hit_pipe(inject, victim):
    cp = ok(inject(["write:kind=file:errno=EIO"], victim, "write", "/dev/stdout", 4))
    assert cp.stdout == "open 3\nxxxxwrite 4\nclose 0\n"


# --- prob, seed, after, count, nth ----------------------------------------------------------


def _pattern(inject, victim, tmp_path, rule, n, seed=None):
    opts = ["--seed", str(seed)] if seed is not None else []
    out = lines(ok(inject([rule], victim, "writes", tmp_path / "w.log", n, opts=opts)))
    assert len(out) == 1 and len(out[0]) == n and set(out[0]) <= {".", "E"}, out
    return out[0]


def test_prob_is_deterministic_per_seed(inject, victim, tmp_path):
    rule = "write:path=*.log:errno=EIO:prob=0.3"
    a = _pattern(inject, victim, tmp_path, rule, 200, seed=42)
    b = _pattern(inject, victim, tmp_path, rule, 200, seed=42)
    c = _pattern(inject, victim, tmp_path, rule, 200, seed=43)
    assert a == b
    assert a != c
    for p in (a, c):
        assert 0.15 <= p.count("E") / 200 <= 0.45, p
    # the file holds exactly the writes that succeeded
    assert (tmp_path / "w.log").stat().st_size == c.count(".")


def test_prob_percent_form_equals_fraction(inject, victim, tmp_path):
    a = _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:prob=0.3", 100, seed=7)
    b = _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:prob=30%", 100, seed=7)
    assert a == b
    assert 10 <= a.count("E") <= 50, a


def test_prob_extremes(inject, victim, tmp_path):
    assert _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:prob=0", 50) == "." * 50
    assert _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:prob=1", 50) == "E" * 50


def test_after_count(inject, victim, tmp_path):
    p = _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:after=10:count=5", 30)
    assert p == "." * 10 + "E" * 5 + "." * 15


def test_nth_with_count(inject, victim, tmp_path):
    p = _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:nth=3:count=2", 10)
    assert p == "..EE......"


def test_count_alone(inject, victim, tmp_path):
    p = _pattern(inject, victim, tmp_path, "write:path=*.log:errno=EIO:count=3", 10)
    assert p == "EEE......."


# --- --stats and --json ---------------------------------------------------------------------


def test_json_counters(inject, victim, tmp_path):
    cp = ok(inject(["io.sync:errno=EIO:nth=3", "write:path=*.nomatch:errno=EIO"],
                   victim, "fsync", tmp_path / "f", 4, opts=["--json", "--seed", "77"]))
    j = json_stats(cp)
    assert j["seed"] == 77
    assert j["exit"]["status"] == 0
    r = j["rules"]
    assert [x["id"] for x in r] == ["1", "2"]
    assert r[0]["rule"] == "io.sync:errno=EIO:nth=3"
    assert (r[0]["seen"], r[0]["injected"]) == (5, 1)
    assert r[1]["rule"] == "write:path=*.nomatch:errno=EIO"
    assert (r[1]["seen"], r[1]["injected"]) == (0, 0)


def test_json_exit_status_passed_through(inject, victim):
    cp = inject(["io.sync:errno=EIO"], victim, "no-such-command", opts=["--json"])
    assert cp.returncode == 2
    assert json_stats(cp)["exit"]["status"] == 2


def test_json_prob_counts_match_pattern(inject, victim, tmp_path):
    cp = ok(inject(["write:path=*.log:errno=EIO:prob=0.5"], victim, "writes",
                   tmp_path / "w.log", 100, opts=["--json", "--seed", "3"]))
    pattern = lines(cp)[0]
    r = json_stats(cp)["rules"][0]
    assert r["seen"] == 100
    assert r["injected"] == pattern.count("E")


def test_rules_file_and_id(inject, victim, tmp_path):
    rf = tmp_path / "rules.txt"
    rf.write_text("# sync faults\nio.sync:errno=EIO:nth=2\n\nwrite:path=*.x:errno=EIO:id=wx\n")
    cp = ok(inject([], victim, "fsync", tmp_path / "f", 3, opts=["--rules", rf, "--json"]))
    assert lines(cp) == ["fsync 0", "fsync -1 EIO", "fsync 0", "fdatasync 0"]
    r = json_stats(cp)["rules"]
    assert [(x["id"], x["seen"], x["injected"]) for x in r] == [("1", 4, 1), ("wx", 0, 0)]


def test_stats_table(inject, victim, tmp_path):
    cp = ok(inject(["io.sync:errno=EIO:nth=3"], victim, "fsync", tmp_path / "f", 4,
                   opts=["--stats"]))
    row = [l for l in cp.stderr.splitlines() if "io.sync:errno=EIO:nth=3" in l]
    assert len(row) == 1
    assert row[0].split()[:4] == ["on", "1", "5", "1"]
    # the victim's stdout is not mixed with the table
    assert "seen" not in cp.stdout


def test_stats_file(inject, victim, tmp_path):
    sf = tmp_path / "stats.json"
    ok(inject(["io.sync:errno=EIO"], victim, "fsync", tmp_path / "f", 1,
              opts=["--json", "--stats-file", sf]))
    r = json.loads(sf.read_text())["rules"][0]
    assert (r["seen"], r["injected"]) == (2, 2)


# --- nothing changes outside the rules ------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("stdio", "{d}/s.txt", "hello"),
        ("rand", "5"),
        ("write", "{d}/w.bin", "1000", "100"),
        ("fsync", "{d}/f", "3"),
        ("fread", "{d}/r.txt"),
        ("meta", "{d}/m"),
        ("writes", "{d}/w.log", "50"),
    ],
)
@pytest.mark.parametrize("rules", [[], ["write:path=*.nomatch:errno=EIO",
                                        "io.sync:path=*/nowhere/*:errno=EIO",
                                        "io.read:path=*.nomatch:corrupt=8"]])
def test_no_or_nonmatching_rules_change_nothing(inject, victim, tmp_path, args, rules):
    def setup(d):
        d.mkdir()
        (d / "m").mkdir()
        (d / "r.txt").write_bytes(b"abcdefgh\nline two\n")
        return [a.format(d=d) for a in args]

    def snapshot(d):
        return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else None)
                for p in sorted(d.rglob("*"))}

    nd, fd = tmp_path / "native", tmp_path / "faulted"
    native = subprocess.run([victim, *setup(nd)], capture_output=True, text=True, timeout=30)
    faulted = inject(rules, victim, *setup(fd))
    assert faulted.returncode == native.returncode
    assert faulted.stdout.replace(str(fd), str(nd)) == native.stdout
    assert snapshot(fd) == snapshot(nd)
