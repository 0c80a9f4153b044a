# SPDX-License-Identifier: MIT
"""Runtime control of a running `faultline inject`: `faultline ctl` switching rules and reading
counters, `hang` released by a switch, the journal seen through `status`, and `recover` after
faultline itself was killed. Every wait is on something the target or faultline prints."""
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

WAIT = 20  # seconds: generous, only to turn a hang into a failure


class Target:
    """A `faultline inject ...` started with Popen, its stdout read line by line in a thread."""

    def __init__(self, args, env, cwd):
        self.p = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []
        self.err = []
        self._q = queue.Queue()
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()
        self.extra_pids = []

    def _pump_out(self):
        for line in self.p.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def _pump_err(self):
        for line in self.p.stderr:
            self.err.append(line.rstrip("\n"))

    def expect(self, text, timeout=WAIT):
        """Wait for a stdout line equal to text; fail with what was seen if it never comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no line {text!r} within {timeout}s; stdout so far {self.lines}, "
                            f"stderr {self.err}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"stdout closed before {text!r}; stdout {self.lines}, "
                            f"stderr {self.err}, exit {self.p.poll()}")
            self.lines.append(line)
            if line == text:
                return

    def lines_within(self, secs):
        """Lines that arrive within secs (used only to show that nothing arrives)."""
        got = []
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                return got
            if line is None:
                got.append("<EOF>")
                return got
            self.lines.append(line)
            got.append(line)

    def child_pid(self):
        """The pid of CMD (faultline's child)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            kids = children_of(self.p.pid)
            if kids:
                return kids[0]
            time.sleep(0.02)
        pytest.fail("faultline has no child process")

    def wait(self, timeout=WAIT):
        return self.p.wait(timeout=timeout)

    def cleanup(self):
        for pid in self.extra_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.p.poll() is None:
            for pid in children_of(self.p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.p.kill()
        try:
            self.p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pass


def children_of(ppid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            kids.append(int(d))
    return sorted(kids)


@pytest.fixture
def start(faultline, env, tmp_path):
    started = []

    def _start(*args):
        t = Target([faultline, *map(str, args)], env, tmp_path)
        started.append(t)
        return t

    yield _start
    for t in started:
        t.cleanup()


@pytest.fixture
def datafile(tmp_path):
    p = tmp_path / "FILE"
    p.write_text("hello\n")
    return p


def ctl_json(run, ctl, what="stats"):
    r = run("ctl", ctl, what, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def status_json(run):
    r = run("status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_until(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


# ---- runtime control --------------------------------------------------------------------------


def test_ctl_switches_rules_of_a_running_target(start, run, victim, datafile, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:errno=EIO:id=flaky", "--",
              victim, "loop-read", datafile, "20")
    t.expect("read EIO")
    assert ctl.exists()

    s1 = ctl_json(run, ctl)
    assert len(s1) == 1
    assert s1[0]["id"] == "flaky"
    assert s1[0]["enabled"] is True
    assert s1[0]["seen"] >= 1 and s1[0]["injected"] >= 1

    lst = run("ctl", ctl, "list")
    assert lst.returncode == 0, lst.stderr
    assert "flaky" in lst.stdout
    assert "EIO" in lst.stdout
    assert "read:path=*/FILE:errno=EIO:id=flaky" in lst.stdout
    assert "on" in lst.stdout.split()

    off = run("ctl", ctl, "off", "flaky")
    assert off.returncode == 0, off.stderr
    t.expect("read ok")
    s2 = ctl_json(run, ctl)
    assert s2[0]["enabled"] is False
    assert s2[0]["injected"] >= s1[0]["injected"]
    lst = run("ctl", ctl, "list")
    assert "off" in lst.stdout.split()

    # the rule's number addresses it too, even though it has an id=
    on = run("ctl", ctl, "on", "1")
    assert on.returncode == 0, on.stderr
    t.expect("read EIO")
    s3 = ctl_json(run, ctl)
    assert s3[0]["enabled"] is True
    assert s3[0]["seen"] > s2[0]["seen"]
    assert s3[0]["injected"] > s2[0]["injected"]

    os.kill(t.child_pid(), signal.SIGTERM)
    assert t.wait() == 128 + signal.SIGTERM
    assert not ctl.exists()


def test_ctl_on_by_id_and_counters_grow(start, run, victim, datafile, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:errno=EIO:id=flaky", "--",
              victim, "loop-read", datafile, "20")
    t.expect("read EIO")
    assert run("ctl", ctl, "off", "flaky").returncode == 0
    t.expect("read ok")
    before = ctl_json(run, ctl)[0]
    assert run("ctl", ctl, "on", "flaky").returncode == 0
    t.expect("read EIO")
    after = wait_until(lambda: (lambda s: s if s["injected"] > before["injected"] else None)(
        ctl_json(run, ctl)[0]), "injected to grow")
    assert after["enabled"] is True
    assert after["seen"] > before["seen"]
    # stats without --json: a table with the counters
    st = run("ctl", ctl, "stats")
    assert st.returncode == 0
    assert "flaky" in st.stdout and "seen" in st.stdout and "injected" in st.stdout
    # 'all' switches every rule
    assert run("ctl", ctl, "off", "all").returncode == 0
    t.expect("read ok")
    assert ctl_json(run, ctl)[0]["enabled"] is False
    os.kill(t.child_pid(), signal.SIGTERM)
    t.wait()
    assert not ctl.exists()


# ---- hang ---------------------------------------------------------------------------------------


def test_read_hang_blocks_until_switched_off(start, run, victim, datafile, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:hang:id=h", "--",
              victim, "read", datafile)
    t.expect("open 3")
    # the read has entered the rule (counted), so it is inside the hang now
    wait_until(lambda: ctl_json(run, ctl)[0]["injected"] == 1, "the read to reach the rule")
    assert t.lines_within(0.5) == [], "the read returned while the rule was on"
    assert t.p.poll() is None
    assert run("ctl", ctl, "off", "h").returncode == 0
    t.expect("read 6")
    t.expect("68656c6c6f0a")
    assert t.wait() == 0
    assert not ctl.exists()


def test_net_recv_hang_blocks_until_switched_off(start, run, tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(WAIT)
    port = srv.getsockname()[1]
    conns = []

    def serve():
        try:
            c, _ = srv.accept()
            c.sendall(b"hello")
            conns.append(c)
        except OSError:
            pass

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    script = tmp_path / "client.py"
    script.write_text(
        "import socket, sys\n"
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "print('connected', flush=True)\n"
        "print('got', s.recv(100).decode(), flush=True)\n"
    )
    ctl = tmp_path / "CTL"
    try:
        t = start("inject", "-q", "--ctl", ctl, "-r", "net.recv:hang:id=h", "--",
                  sys.executable, script, port)
        t.expect("connected")
        th.join(WAIT)
        assert conns, "the client never connected"
        wait_until(lambda: ctl_json(run, ctl)[0]["injected"] >= 1, "recv to reach the rule")
        # the data is there, but recv must not return while the rule is on
        assert t.lines_within(0.5) == []
        assert t.p.poll() is None
        assert run("ctl", ctl, "off", "h").returncode == 0
        t.expect("got hello")
        assert t.wait() == 0
    finally:
        for c in conns:
            c.close()
        srv.close()


# ---- journal: status and recover ----------------------------------------------------------------


def test_status_lists_a_running_inject_and_is_empty_after(start, run, victim, datafile,
                                                          tmp_path):
    ctl = tmp_path / "CTL"
    assert status_json(run) == []
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:hang:id=h", "--",
              victim, "read", datafile)
    t.expect("open 3")
    entries = status_json(run)
    assert len(entries) == 1, entries
    e = entries[0]
    assert e["kind"] == "preload"
    assert e["owner_alive"] is True
    assert e["owner"]["pid"] == t.p.pid
    assert e["params"]["path"] == str(ctl)
    text = run("status")
    assert text.returncode == 0
    assert "preload" in text.stdout and "running" in text.stdout
    assert run("ctl", ctl, "off", "h").returncode == 0
    t.expect("read 6")
    assert t.wait() == 0
    assert status_json(run) == []
    assert not ctl.exists()


def test_recover_after_faultline_is_killed(start, run, victim, datafile, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:errno=EIO:id=flaky", "--",
              victim, "loop-read", datafile, "30")
    t.expect("read EIO")
    target = t.child_pid()
    t.extra_pids.append(target)
    os.kill(t.p.pid, signal.SIGKILL)
    assert t.wait() == -signal.SIGKILL
    # the target outlived faultline and is still being faulted
    os.kill(target, 0)
    assert ctl.exists()

    entries = status_json(run)
    assert len(entries) == 1, entries
    assert entries[0]["kind"] == "preload"
    assert entries[0]["owner_alive"] is False
    gone = run("status")
    assert "gone" in gone.stdout

    rec = run("recover")
    assert rec.returncode == 0, rec.stderr
    assert "reverted" in rec.stdout
    assert entries[0]["id"] in rec.stdout
    assert "1 reverted" in rec.stdout
    assert not ctl.exists()
    # the rules are off: the still-running target's reads now succeed
    t.expect("read ok")
    assert status_json(run) == []

    again = run("recover")
    assert again.returncode == 0, again.stderr
    assert "0 reverted" in again.stdout
    assert not any(line.startswith("reverted") for line in again.stdout.splitlines())
    assert again.stderr == ""


def test_recover_keeps_a_live_run(start, run, victim, datafile, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:errno=EIO:id=flaky", "--",
              victim, "loop-read", datafile, "20")
    t.expect("read EIO")
    rec = run("recover")
    assert rec.returncode == 0, rec.stderr
    assert "kept" in rec.stdout
    assert ctl.exists()
    assert len(status_json(run)) == 1
    assert t.lines_within(0.3) == []  # still faulted: no "read ok"
    os.kill(t.child_pid(), signal.SIGTERM)
    t.wait()
    assert status_json(run) == []


# ---- ctl errors ---------------------------------------------------------------------------------


def one_line(stderr):
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


def test_ctl_nonexistent_path(run, tmp_path):
    r = run("ctl", tmp_path / "nosuch", "list")
    assert r.returncode == 3
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert "nosuch" in line


def test_ctl_not_a_control_block(run, tmp_path):
    bogus = tmp_path / "bogus"
    bogus.write_text("not a control block\n")
    r = run("ctl", bogus, "stats")
    assert r.returncode != 0
    one_line(r.stderr)
    assert bogus.read_text() == "not a control block\n"


def test_ctl_unknown_rule_and_action(start, run, victim, datafile, tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:errno=EIO:id=flaky", "--",
              victim, "loop-read", datafile, "20")
    t.expect("read EIO")

    r = run("ctl", ctl, "off", "nosuchrule")
    assert r.returncode == 2
    assert "nosuchrule" in one_line(r.stderr)
    r = run("ctl", ctl, "off", "2")  # there is only rule 1
    assert r.returncode == 2
    one_line(r.stderr)
    r = run("ctl", ctl, "frobnicate")
    assert r.returncode == 2
    assert "frobnicate" in one_line(r.stderr)
    r = run("ctl", ctl, "off")
    assert r.returncode == 2
    one_line(r.stderr)

    # none of that changed the rule
    assert ctl_json(run, ctl)[0]["enabled"] is True
    assert t.lines_within(0.3) == []
    os.kill(t.child_pid(), signal.SIGTERM)
    t.wait()


def test_second_inject_on_a_live_ctl_is_refused_and_harmless(start, run, victim, datafile,
                                                             tmp_path):
    ctl = tmp_path / "CTL"
    t = start("inject", "-q", "--ctl", ctl, "-r", "read:path=*/FILE:errno=EIO:id=flaky", "--",
              victim, "loop-read", datafile, "20")
    t.expect("read EIO")
    marker = tmp_path / "marker"
    r = run("inject", "-q", "--ctl", ctl, "-r", "write:errno=EIO", "--",
            victim, "write", marker, "1")
    assert r.returncode == 2
    one_line(r.stderr)
    assert not marker.exists()
    # the first run is unaffected: its block is still there, its rule still on and firing
    assert ctl.exists(), "the refused inject removed the running inject's control block"
    s = ctl_json(run, ctl)
    assert s[0]["enabled"] is True
    assert t.lines_within(0.3) == []  # no "read ok"
    assert len(status_json(run)) == 1
    os.kill(t.child_pid(), signal.SIGTERM)
    t.wait()
