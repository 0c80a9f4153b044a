# SPDX-License-Identifier: MIT
"""faultline fill and faultline hog mem|cpu|fds against real filesystems (a small tmpfs, loop
mounted ext4 and ext2 images) and real processes. Nothing here asserts how long something took:
conditions are awaited with generous deadlines, and rates are checked within wide bounds."""
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

MiB = 1 << 20
FS_SIZE = 32 * MiB


def wait_for(cond, what, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def journal(run):
    r = run("status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def one_line(stderr):
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines}"
    assert "usage:" not in lines[0]
    return lines[0]


class Held:
    """A faultline command running in the background, its output in files (no pipe can
    fill up and stall it); killed in teardown if a test left it running."""

    def __init__(self, faultline, env, tmp_path, *args):
        self.out = open(tmp_path / f"held-{os.getpid()}-{time.monotonic_ns()}.out", "w+")
        self.err = open(tmp_path / f"held-{os.getpid()}-{time.monotonic_ns()}.err", "w+")
        self.p = subprocess.Popen([faultline, *map(str, args)], env=env, cwd=tmp_path,
                                  stdout=self.out, stderr=self.err, text=True)
        self.pid = self.p.pid

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def stdout(self):
        self.out.seek(0)
        return self.out.read()

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=60):
        self.p.send_signal(sig)
        return self.p.wait(timeout=timeout)

    def close(self):
        if self.alive():
            self.p.kill()
            self.p.wait()
        self.out.close()
        self.err.close()


@pytest.fixture
def held(faultline, env, tmp_path):
    started = []

    def _held(*args):
        h = Held(faultline, env, tmp_path, *args)
        started.append(h)
        return h

    yield _held
    for h in started:
        h.close()


def need_root():
    if os.geteuid() != 0:
        pytest.skip("mounting a test filesystem needs root")


def mount(what, where, *opts):
    r = subprocess.run(["mount", *opts, what, str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount {what} here: {r.stderr.strip()}")


def umount(where):
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def small_fs(tmp_path):
    """A 32MiB tmpfs, always unmounted afterwards."""
    need_root()
    d = tmp_path / "fs"
    d.mkdir()
    mount("tmpfs", d, "-t", "tmpfs", "-o", f"size={FS_SIZE}")
    yield d
    umount(d)


def loop_fs(tmp_path, mkfs, *mkfs_args):
    need_root()
    if not shutil.which(mkfs):
        pytest.skip(f"{mkfs} is not installed")
    img = tmp_path / "fs.img"
    with open(img, "wb") as f:
        f.truncate(64 * MiB)
    r = subprocess.run([mkfs, "-q", "-F", *mkfs_args, str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"{mkfs} failed: {r.stderr.strip()}")
    # outside pytest's private (0700) tmp_path, so the test run as nobody can reach it
    d = pathlib.Path(tempfile.mkdtemp(prefix="fl-loopfs-"))
    os.chmod(d, 0o755)
    mount(str(img), d, "-o", "loop")
    return d


@pytest.fixture
def ext4_fs(tmp_path):
    """64MiB ext4 with 10% (6.4MiB) reserved for root: fallocate and the reserve."""
    d = loop_fs(tmp_path, "mkfs.ext4", "-m", "10")
    yield d
    umount(d)
    os.rmdir(d)


@pytest.fixture
def ext2_fs(tmp_path):
    """ext2 has no extents, so fallocate(2) is refused: the write fallback."""
    d = loop_fs(tmp_path, "mkfs.ext2", "-m", "0")
    yield d
    umount(d)
    os.rmdir(d)


def balloons(d):
    return sorted(pathlib.Path(d).glob(".faultline-balloon-*"))


def free(d, root=True):
    v = os.statvfs(d)
    return (v.f_bfree if root else v.f_bavail) * v.f_frsize


def write_until_full(path, limit):
    """Write zeros in 64KiB chunks, up to limit bytes; (bytes written, errno or 0)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    n = 0
    try:
        while n < limit:
            try:
                n += os.write(fd, b"\0" * min(65536, limit - n))
            except OSError as e:
                return n, e.errno
        try:
            os.fsync(fd)
        except OSError as e:
            return n, e.errno
        return n, 0
    finally:
        os.close(fd)
        os.unlink(path)


def balloon_held(d, leave, slack=256 * 1024, root=True):
    return lambda: balloons(d) and free(d, root) <= leave + slack


# ---- fill ----------------------------------------------------------------------------------


def test_fill_leave_makes_writes_fail_until_interrupted(held, run, small_fs, tmp_path):
    leave = 4 * MiB
    h = held("fill", small_fs, "--leave", "4MiB")
    wait_for(balloon_held(small_fs, leave), "the balloon")
    # tmpfs counts pages: what is left is --leave, to the page
    assert abs(free(small_fs) - leave) <= 64 * 1024, free(small_fs)
    n, err = write_until_full(small_fs / "data", 2 * leave)
    assert err == errno.ENOSPC, (n, err)
    assert leave - 64 * 1024 <= n <= leave + 64 * 1024
    n, err = write_until_full(small_fs / "small", MiB)
    assert (n, err) == (MiB, 0), "a write smaller than --leave must still fit"
    assert [e["kind"] for e in journal(run)] == ["fill"]
    assert h.alive()
    assert h.stop(signal.SIGINT) == 0, h.stderr()
    assert balloons(small_fs) == []
    assert free(small_fs) == FS_SIZE
    assert journal(run) == []
    err_text = h.stderr()
    assert "4MiB left free" in err_text and "fallocate" in err_text, err_text


def test_fill_until_for_json(run, small_fs):
    r = run("fill", small_fs, "--until", "75%", "--for", "1s", "--json", timeout=60)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["kind"] == "fill" and res["method"] == "fallocate"
    assert abs(res["left"] - FS_SIZE // 4) <= 64 * 1024, res
    assert abs(res["written"] - FS_SIZE * 3 // 4) <= 64 * 1024, res
    assert res["balloon"].startswith(str(small_fs) + "/.faultline-balloon-")
    assert "interrupted_by" not in res
    assert balloons(small_fs) == [] and free(small_fs) == FS_SIZE
    assert journal(run) == []


def test_fill_sigterm_removes_balloon(held, run, small_fs):
    h = held("fill", small_fs, "--leave", "1MiB", "--for", "10m")
    wait_for(balloon_held(small_fs, MiB), "the balloon")
    assert h.stop(signal.SIGTERM) == 0
    assert balloons(small_fs) == [] and journal(run) == []


@pytest.mark.parametrize("half", [False, True], ids=["whole", "half-written"])
def test_fill_sigkill_then_recover(held, run, small_fs, half):
    h = held("fill", small_fs, "--leave", "2MiB", "--for", "10m")
    wait_for(balloon_held(small_fs, 2 * MiB), "the balloon")
    assert h.stop(signal.SIGKILL) == -signal.SIGKILL
    (b,) = balloons(small_fs)
    if half:
        # what a SIGKILL in the middle of the fill leaves: a shorter balloon
        os.truncate(b, os.stat(b).st_size // 2)
    entries = journal(run)
    assert len(entries) == 1 and not entries[0]["owner_alive"]
    assert entries[0]["undo"]["balloon"] == str(b)
    r = run("recover")
    assert r.returncode == 0, r.stderr
    assert "1 reverted" in r.stdout
    assert balloons(small_fs) == [] and free(small_fs) == FS_SIZE
    assert journal(run) == []
    r = run("recover")
    assert r.returncode == 0 and "0 reverted" in r.stdout


def test_fill_revert_removes_only_its_balloon(held, run, small_fs):
    other = small_fs / ".faultline-balloon-not-ours"
    other.write_bytes(b"x" * 1000)
    keep = small_fs / "keep.txt"
    keep.write_text("user data")
    h = held("fill", small_fs, "--leave", "1MiB")
    wait_for(lambda: len(balloons(small_fs)) == 2 and free(small_fs) <= MiB + 65536,
             "the balloon")
    assert h.stop() == 0
    assert balloons(small_fs) == [other]
    assert keep.read_text() == "user data"


@pytest.mark.parametrize(
    "args, status, words",
    [
        (["{fs}/missing", "--leave", "1MiB"], 3, "No such file"),
        (["{fs}/file", "--leave", "1MiB"], 2, "not a directory"),
        (["{fs}", "--leave", "1GiB"], 2, "more than the whole filesystem"),
        (["{fs}", "--leave", "4MiB"], 2, "only"),  # after 30MiB were written
        (["{fs}", "--until", "50%"], 2, "used already"),  # likewise
        (["{fs}", "--leave", "1MiB", "--until", "50%"], 2, "exactly one"),
        (["{fs}"], 2, "exactly one"),
        (["--leave", "1MiB"], 2, "no directory"),
        (["{fs}", "--leave", "lots"], 2, "--leave"),
        (["{fs}", "--until", "50"], 2, "--until"),
        (["{fs}", "--leave", "1MiB", "--for", "5"], 2, "--for"),
    ],
)
def test_fill_bad_input(run, small_fs, args, status, words):
    (small_fs / "file").write_text("x")
    if "only" in words or "used already" in words:
        with open(small_fs / "big", "wb") as f:
            f.write(b"\0" * (30 * MiB))
    r = run("fill", *[a.format(fs=small_fs) for a in args])
    assert r.returncode == status, (r.returncode, r.stderr)
    assert words in one_line(r.stderr)
    assert r.stdout == ""
    assert balloons(small_fs) == [] and journal(run) == []


def test_fill_ext4_root_fills_the_reserve(held, run, ext4_fs):
    reserved = free(ext4_fs) - free(ext4_fs, root=False)
    assert reserved > 4 * MiB, "mkfs.ext4 -m 10 should reserve 6.4MiB"
    h = held("fill", ext4_fs, "--leave", "2MiB", "--json")
    # as root f_bfree is the target: 2MiB left for root, nothing for anyone else
    wait_for(balloon_held(ext4_fs, 2 * MiB), "the balloon")
    assert 2 * MiB - 256 * 1024 <= free(ext4_fs) <= 2 * MiB + 256 * 1024
    assert free(ext4_fs, root=False) == 0
    n, err = write_until_full(ext4_fs / "data", 4 * MiB)
    assert err == errno.ENOSPC and n <= 2 * MiB + 256 * 1024, (n, err)
    assert h.stop() == 0, h.stderr()
    res = json.loads(h.stdout())
    assert res["method"] == "fallocate" and res["as_root"] is True
    assert res["left_unprivileged"] == 0 and res["reserved"] == reserved
    assert balloons(ext4_fs) == [] and journal(run) == []


@pytest.fixture
def nobody_env(env, faultline):
    """An environment for running faultline as nobody (setpriv), with its own state dir."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not installed")
    d = tempfile.mkdtemp(prefix="fl-nobody-")
    os.chmod(d, 0o777)
    e = dict(env, FAULTLINE_STATE_DIR=os.path.join(d, "state"))
    probe = subprocess.run(nobody_cmd(faultline, "version"), env=e, capture_output=True)
    if probe.returncode != 0:
        shutil.rmtree(d)
        pytest.skip(f"nobody cannot run {faultline}")
    yield e
    shutil.rmtree(d, ignore_errors=True)


def nobody_cmd(faultline, *args):
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", faultline,
            *map(str, args)]


def test_fill_ext4_unprivileged_leaves_the_reserve(ext4_fs, nobody_env, faultline, tmp_path):
    os.chmod(ext4_fs, 0o777)
    reserved = free(ext4_fs) - free(ext4_fs, root=False)
    with open(tmp_path / "out", "w+") as out:
        p = subprocess.Popen(nobody_cmd(faultline, "fill", ext4_fs, "--leave", "2MiB", "--json"),
                             env=nobody_env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(balloon_held(ext4_fs, 2 * MiB, root=False), "the balloon")
            # what every user may use is 2MiB; the reserve is untouched
            assert 2 * MiB - 256 * 1024 <= free(ext4_fs, root=False) <= 2 * MiB + 256 * 1024
            assert free(ext4_fs) - free(ext4_fs, root=False) == reserved
            p.send_signal(signal.SIGINT)
            assert p.wait(timeout=60) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out.seek(0)
        text = out.read()
    res = json.loads(text[text.index("{"):])
    assert res["as_root"] is False and res["method"] == "fallocate"
    assert balloons(ext4_fs) == []


def test_fill_ext2_falls_back_to_writing(run, ext2_fs):
    r = run("fill", ext2_fs, "--leave", "2MiB", "--for", "1s", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["method"] == "write", res
    # ext2 spends indirect blocks on the balloon: within a little of --leave
    assert 2 * MiB - 512 * 1024 <= res["left"] <= 2 * MiB + 256 * 1024, res
    assert balloons(ext2_fs) == [] and journal(run) == []


# ---- hog mem -------------------------------------------------------------------------------


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def test_hog_mem_is_resident_while_held(held, run):
    size = 256 * MiB
    h = held("hog", "mem", "256MiB", "--json")
    # VmRSS is in kB: everything written, so it is all resident (not just mapped)
    wait_for(lambda: (proc_status(h.pid, "VmRSS") or 0) * 1024 >= size, "RSS to grow")
    rss = proc_status(h.pid, "VmRSS") * 1024
    assert rss <= size + 64 * MiB, rss
    assert [e["kind"] for e in journal(run)] == ["hog"]
    assert h.stop() == 0, h.stderr()
    res = json.loads(h.stdout())
    assert res["resource"] == "mem" and res["bytes"] == size
    if os.geteuid() == 0:
        assert res["locked"] is True, res
    assert journal(run) == []


def test_hog_mem_percent_and_refusals(run):
    with open("/proc/meminfo") as f:
        total = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) * 1024
    r = run("hog", "mem", "1%", "--for", "100ms", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    page = os.sysconf("SC_PAGESIZE")
    assert abs(json.loads(r.stdout)["bytes"] - total // 100) <= page
    r = run("hog", "mem", f"{total * 2}")
    assert r.returncode == 2 and "more than this machine's memory" in one_line(r.stderr)
    for bad in (["0"], ["lots"], [], ["1MiB", "2MiB"], ["1MiB", "--load", "5%"]):
        r = run("hog", "mem", *bad)
        assert r.returncode == 2, (bad, r.stderr)
        one_line(r.stderr)
    assert journal(run) == []


# ---- hog cpu -------------------------------------------------------------------------------


def schedstat(pid, tid):
    """(ns on a CPU, ns runnable but waiting for one) of one thread."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        on_cpu, waiting = f.read().split()[:2]
    return int(on_cpu), int(waiting)


@pytest.mark.parametrize("load, low, high", [("20%", 0.1, 0.3), ("60%", 0.4, 0.7),
                                             ("100%", 0.8, 1.05)])
def test_hog_cpu_duty_cycle(held, run, load, low, high):
    """Other work on the machine may keep the worker off the CPU, so what is measured is
    robust to that: the worker never runs more than its share (CPU time over wall time is at
    most the load, plus slack), and it asks for at least its share (time running plus time
    runnable but waiting for a CPU, over wall time, is at least the load, minus slack)."""
    if not os.path.exists("/proc/self/schedstat"):
        pytest.skip("this kernel has no schedstat (CONFIG_SCHED_INFO)")
    h = held("hog", "cpu", "--workers", "1", "--load", load)
    wait_for(lambda: proc_status(h.pid, "Threads") == 2, "the worker thread")
    (tid,) = [t for t in os.listdir(f"/proc/{h.pid}/task") if t != str(h.pid)]
    on0, wait0 = schedstat(h.pid, tid)
    t0 = time.monotonic_ns()
    time.sleep(4)
    on1, wait1 = schedstat(h.pid, tid)
    wall = time.monotonic_ns() - t0
    used, wanted = (on1 - on0) / wall, (on1 - on0 + wait1 - wait0) / wall
    assert used <= high, f"--load {load}: ran {used:.2f} of the time"
    assert wanted >= low, f"--load {load}: wanted the CPU only {wanted:.2f} of the time"
    assert h.stop() == 0, h.stderr()
    assert journal(run) == []


def test_hog_cpu_defaults_to_one_worker_per_cpu(held, run):
    n = len(os.sched_getaffinity(0))
    h = held("hog", "cpu", "--load", "10%", "--for", "10m")
    wait_for(lambda: proc_status(h.pid, "Threads") == n + 1, f"{n} worker threads")
    assert h.stop(signal.SIGTERM) == 0
    assert f"{n} worker" in h.stderr()


def test_hog_cpu_bad_input(run):
    for bad in (["--workers", "0"], ["--workers", "x"], ["--load", "0%"], ["--load", "150%"],
                ["--load", "0.5"], ["extra"]):
        r = run("hog", "cpu", *bad)
        assert r.returncode == 2, (bad, r.stderr)
        one_line(r.stderr)
    r = run("hog", "gpu")
    assert r.returncode == 2 and "mem, cpu or fds" in one_line(r.stderr)


# ---- hog fds -------------------------------------------------------------------------------

TARGET = r"""
import errno, os, sys
for line in sys.stdin:
    fds, res = [], "ok"
    try:
        for _ in range(int(line)):
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        res = errno.errorcode[e.errno]
    for fd in fds:
        os.close(fd)
    print(res, flush=True)
"""


class Target:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", TARGET], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.pid = self.p.pid

    def open_files(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def limits(self):
        with open(f"/proc/{self.pid}/limits") as f:
            line = next(line for line in f if line.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        return soft, hard

    def close(self):
        self.p.kill()
        self.p.wait()


@pytest.fixture
def target():
    t = Target()
    assert t.open_files(1) == "ok"
    yield t
    t.close()


def test_hog_fds_emfile_while_held(held, run, target):
    before = target.limits()
    assert target.open_files(40) == "ok"
    h = held("hog", "fds", target.pid, "20")
    wait_for(lambda: target.limits() == ("20", before[1]), "the lowered limit")
    assert target.open_files(40) == "EMFILE"
    assert h.stop() == 0, h.stderr()
    assert target.limits() == before
    assert target.open_files(40) == "ok"
    assert journal(run) == []


def test_hog_fds_sigkill_then_recover(held, run, target):
    before = target.limits()
    h = held("hog", "fds", target.pid, "20", "--for", "10m")
    wait_for(lambda: target.limits()[0] == "20", "the lowered limit")
    assert h.stop(signal.SIGKILL) == -signal.SIGKILL
    assert target.limits()[0] == "20", "the limit stays lowered until recover"
    r = run("recover")
    assert r.returncode == 0 and "1 reverted" in r.stdout, r.stdout + r.stderr
    assert target.limits() == before
    assert target.open_files(40) == "ok"


def test_hog_fds_recover_leaves_a_new_limit_alone(held, run, target):
    h = held("hog", "fds", target.pid, "20")
    wait_for(lambda: target.limits()[0] == "20", "the lowered limit")
    assert h.stop(signal.SIGKILL) == -signal.SIGKILL
    # the target (or an admin) set its own limit since: not faultline's to undo
    subprocess.run(["prlimit", f"--pid={target.pid}", "--nofile=30:"], check=True)
    r = run("recover")
    assert r.returncode == 0 and "1 reverted" in r.stdout
    assert target.limits()[0] == "30"


def test_hog_fds_target_gone_before_recover(held, run, target):
    h = held("hog", "fds", target.pid, "20")
    wait_for(lambda: target.limits()[0] == "20", "the lowered limit")
    assert h.stop(signal.SIGKILL) == -signal.SIGKILL
    target.close()
    r = run("recover")
    assert r.returncode == 0 and "1 reverted" in r.stdout
    assert journal(run) == []


def test_hog_fds_below_open_count_says_so(held, target):
    h = held("hog", "fds", target.pid, "2", "--for", "10m")
    wait_for(lambda: "open already" in h.stderr(), "the notice")
    assert target.open_files(1) == "EMFILE"
    assert h.stop() == 0


def test_hog_fds_refusals(run, target, nobody_env, faultline):
    r = run("hog", "fds", "99999999999", "5")
    assert r.returncode == 2  # not a pid this kernel can have
    one_line(r.stderr)
    dead = subprocess.Popen(["true"])
    dead.wait()
    r = run("hog", "fds", dead.pid, "5")
    assert r.returncode == 3 and "no process" in one_line(r.stderr)
    soft = target.limits()[0]
    r = run("hog", "fds", target.pid, int(soft) + 1)
    assert r.returncode == 2 and "nothing to lower" in one_line(r.stderr)
    for bad in ([target.pid], [target.pid, "x"], ["x", "5"], ["0", "5"]):
        r = run("hog", "fds", *bad)
        assert r.returncode == 2, (bad, r.stderr)
        one_line(r.stderr)
    # another user's process: EPERM, explained, exit 3, nothing changed
    p = subprocess.run(nobody_cmd(faultline, "hog", "fds", target.pid, "5"), env=nobody_env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, p.stderr
    assert "CAP_SYS_RESOURCE" in one_line(p.stderr)
    assert target.limits()[0] == soft
    assert journal(run) == []


def test_help(run):
    for cmd, words in (("fill", "--leave"), ("hog", "--workers")):
        r = run("help", cmd)
        assert r.returncode == 0 and words in r.stdout
        r = run(cmd, "--help")
        assert r.returncode == 0 and words in r.stdout
