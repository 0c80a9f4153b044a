# SPDX-License-Identifier: MIT
"""Faults must look like the real failure to the program: offsets, signals, stdio flushes,
the *at forms real tools call, and a clear word when a rule or the preload reached nothing."""
import os
import signal
import subprocess
import sys
import time

import pytest


def test_dropped_write_keeps_the_file_offset(inject, tmp_path):
    # a write the device lost still moved the offset: the next one lands after a gap
    f = tmp_path / "d.log"
    code = ("import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_TRUNC); "
            "print(os.write(fd,b'AAAA'), os.write(fd,b'BBBB'), os.lseek(fd,0,1))")
    r = inject(["io.write:path=*.log:drop:nth=1"], sys.executable, "-c", code, f)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["4", "4", "8"]
    assert f.read_bytes() == b"\0\0\0\0BBBB"


def test_drop_does_not_apply_to_copies_so_cat_terminates(inject, tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("hello\n")
    out = tmp_path / "out.json"
    r = inject(["io.write:path=*.json:drop"], "sh", "-c", f"cat {src} > {out}", timeout=20)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "hello\n"  # cat copies with copy_file_range, which drop skips


def test_short_zero_is_refused(inject, tmp_path):
    r = inject(["write:short=0"], "true")
    assert r.returncode == 2
    assert "passes nothing on" in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_signal_interrupts_a_delayed_call(inject, tmp_path):
    # like a blocking read, a delayed one gives up with EINTR when a handler runs
    f = tmp_path / "slow.txt"
    f.write_text("x")
    code = ("import os,signal,sys\n"
            "def h(*a): raise TimeoutError('alarm')\n"
            "signal.signal(signal.SIGALRM, h); signal.alarm(1)\n"
            "fd=os.open(sys.argv[1], os.O_RDONLY)\n"
            "try: os.read(fd, 1); print('read')\n"
            "except TimeoutError: print('interrupted')\n")
    r = inject(["read:path=*/slow.txt:delay=60s"], sys.executable, "-c", code, f, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "interrupted"


def test_sigint_reaches_a_program_hung_by_a_rule(faultline, env, tmp_path):
    f = tmp_path / "h.txt"
    f.write_text("x")
    code = ("import os,sys\nfd=os.open(sys.argv[1], os.O_RDONLY)\nprint('ready', flush=True)\n"
            "try: os.read(fd, 1)\nexcept KeyboardInterrupt: print('interrupted', flush=True)\n")
    p = subprocess.Popen([faultline, "inject", "-q", "-r", "read:path=*/h.txt:hang", "--",
                          sys.executable, "-c", code, str(f)], env=env, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    child = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
    pids = [int(pid) for pid in child.stdout.split()]
    assert pids
    # A SIGINT that lands before read() is entered is handled by Python, and the read then
    # blocks as a real one would. So wait until the target sleeps inside the hung read.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        wchan = [open(f"/proc/{pid}/wchan").read() for pid in pids]
        if all("nanosleep" in w for w in wchan):
            break
        time.sleep(0.01)
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert out.strip() == "interrupted"


def test_fclose_reports_an_injected_write_failure(inject, victim, tmp_path):
    # the careful pattern (check fclose) must see the disk-full, as with a real one
    f = tmp_path / "s.txt"
    r = inject(["io.write:path=*.txt:errno=ENOSPC"], victim, "stdio-close", f, "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["fopen 0", "fprintf -1 ENOSPC", "fclose -1 ENOSPC"]
    assert f.read_bytes() == b""


def test_rename_rule_reaches_mv_and_unlink_rule_reaches_rm(inject, tmp_path):
    a = tmp_path / "a"
    a.write_text("x")
    r = inject(["rename:errno=EACCES"], "mv", a, tmp_path / "b")
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert a.exists()
    r = inject(["unlink:errno=EBUSY"], "rm", a)
    assert r.returncode != 0 and a.exists()


def test_a_rule_that_matched_nothing_is_named(run, victim, tmp_path):
    r = run("inject", "-r", "fsync:path=/nonexistent/*:errno=EIO", "--", victim, "write",
            tmp_path / "n.txt", 3)
    assert r.returncode == 0
    assert "rule 1 'fsync:path=/nonexistent/*:errno=EIO' matched no call" in r.stderr


def test_a_preload_that_never_attached_is_reported(run, victim, tmp_path, build_dir):
    # a library that is not faultline's preload: nothing attaches, and inject says so
    fake = "/lib/x86_64-linux-gnu/libm.so.6"
    if not os.path.exists(fake):
        pytest.skip("no libm at the expected path")
    r = run("inject", "-q", "-r", "write:errno=EIO", "--", victim, "write", tmp_path / "x", 3,
            extra_env={"FAULTLINE_PRELOAD": fake})
    assert r.returncode == 0
    assert "never attached" in r.stderr


def test_missing_option_value_is_named(run):
    for opt in ("-r", "--rules", "--timeout"):
        r = run("inject", opt)
        assert r.returncode == 2
        assert f"option '{opt}' needs a value" in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1


def test_timeout_stops_the_whole_process_tree(inject, tmp_path):
    marker = tmp_path / "grandchild.pid"
    r = inject([], "sh", "-c", f"sleep 60 & echo $! > {marker}; wait",
               opts=["--timeout", "500ms"], timeout=30)
    assert r.returncode == 124
    pid = int(marker.read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"grandchild {pid} outlived --timeout")
