# SPDX-License-Identifier: MIT
"""What happened to a program run under faults, in one word: the outcome classes of the
discovery corpus (tests/discovery/*/case.json) and of `faultline sweep`.

  ok                     exit 0, the check passed, nothing on stderr
  handled                the check passed, and the program exited nonzero or said something
                         on stderr: it noticed the fault and coped with it or reported it
  check-failed-silent    exit 0, but the check failed: the program lost data and said so nowhere
  check-failed-reported  nonzero exit and the check failed: it noticed, but left wrong state
                         (or gave up on the job it was there to do)
  crash                  killed by a signal (SIGSEGV, SIGABRT, SIGKILL...) before the timeout
  hang                   still running at the timeout, mostly asleep
  busy-loop              still running at the timeout, spinning: it ran, or waited to run, for
                         more than 80% of the wall time
  storm                  repeats the failing call more than 100 times a second, and is not
                         busy: still running at the timeout, or failed after >= 100 faults

classify() is pure; watch() runs a command and measures what classify() needs: the exit
status as a shell reports it, the wall time, and two figures for its whole process tree read
from /proc while it runs, the CPU time (utime + stime) and the runnable time (on a CPU or
waiting in a run queue, /proc/PID/task/TID/schedstat). A spinning program on a loaded machine
gets less CPU than it wants, but it is runnable all the time; a sleeping one is neither.
"""
import os
import signal
import subprocess
import threading
import time

OUTCOMES = ("ok", "handled", "check-failed-silent", "check-failed-reported", "crash", "hang",
            "busy-loop", "storm")
TIMEOUT_STATUS = 124    # what faultline inject --timeout (and timeout(1)) return
BUSY_CPU = 0.8          # CPU seconds per wall second above which a timed-out run is spinning
STORM_RATE = 100        # faults per second above which a run is storming
STORM_MIN = 100         # ... and at least this many, for a run that ended by itself


def classify(status, cpu_seconds, wall, check_rc, stderr="", faults=0, runnable_seconds=None):
    """The outcome class of one run. status: the exit status as a shell reports it (128+N for
    signal N, TIMEOUT_STATUS if it was stopped at the timeout); cpu_seconds and wall: CPU and
    wall time up to the end (or the timeout); check_rc: the case check's exit status; stderr:
    what the program printed there; faults: how many faults were injected; runnable_seconds,
    if known: the time it ran or waited to run, which judges spinning instead of the CPU time
    when it is larger."""
    rate = faults / wall if wall > 0 else 0.0
    busy = wall > 0 and max(cpu_seconds, runnable_seconds or 0.0) / wall > BUSY_CPU
    if status == TIMEOUT_STATUS:
        if busy:
            return "busy-loop"
        return "storm" if rate > STORM_RATE else "hang"
    if status > 128:
        return "crash"
    if check_rc == 0:
        return "ok" if status == 0 and not stderr.strip() else "handled"
    if not busy and faults >= STORM_MIN and rate > STORM_RATE:
        return "storm"
    return "check-failed-silent" if status == 0 else "check-failed-reported"


class Watched:
    """The result of watch(): status, cpu, runnable and wall (seconds), stdout, stderr (bytes)."""

    def __init__(self, status, cpu, runnable, wall, stdout, stderr):
        self.status, self.cpu, self.runnable, self.wall = status, cpu, runnable, wall
        self.stdout, self.stderr = stdout, stderr

    def __repr__(self):
        return (f"Watched(status={self.status}, cpu={self.cpu:.2f}s, "
                f"runnable={self.runnable:.2f}s, wall={self.wall:.2f}s, "
                f"stderr={self.stderr[-300:]!r})")


def _tree(pid):
    """pid and all its descendants, from /proc/PID/task/TID/children."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for tid in os.listdir(f"/proc/{pids[i]}/task"):
                with open(f"/proc/{pids[i]}/task/{tid}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except OSError:
            pass
        i += 1
    return pids


def _cpu(pid):
    """utime + stime of one process, in seconds (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()     # fields 3.. of proc(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runnable(pid):
    """Seconds the threads of one process spent on a CPU or in a run queue (None if gone)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                on_cpu, waiting = f.read().split()[:2]
            total += int(on_cpu) + int(waiting)
    except (OSError, ValueError):
        return None
    return total / 1e9


def watch(argv, timeout, cwd=None, env=None, interval=0.05):
    """Run argv in a session of its own and wait for it, sampling the CPU time of its process
    tree every interval seconds. If it is still running after timeout seconds, the whole
    session is killed and the status is TIMEOUT_STATUS. The CPU and runnable times are sums
    over every process seen, as last sampled, and the wall time of a run that timed out runs to
    the last sample (so a tree that faultline inject --timeout stops is measured just before
    it is stopped)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    out = {}
    readers = [threading.Thread(target=lambda k, f: out.__setitem__(k, f.read()), args=(k, f))
               for k, f in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for r in readers:
        r.start()
    cpu, runnable, sampled, timed_out = {}, {}, start, False
    while proc.poll() is None:
        for pid in _tree(proc.pid):
            for seen, value in ((cpu, _cpu(pid)), (runnable, _runnable(pid))):
                if value is not None:
                    seen[pid] = max(value, seen.get(pid, 0.0))
        sampled = time.monotonic()
        if sampled - start > timeout:
            timed_out = True
            for kill, pid in [(os.kill, p) for p in _tree(proc.pid)] + [(os.killpg, proc.pid)]:
                try:                             # the tree, with children that left the session
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            proc.wait()
            break
        time.sleep(interval)
    end = time.monotonic()
    for r in readers:
        r.join()
    rc = proc.returncode
    status = TIMEOUT_STATUS if timed_out else (128 - rc if rc < 0 else rc)
    wall = (sampled if status == TIMEOUT_STATUS else end) - start
    return Watched(status, sum(cpu.values()), sum(runnable.values()), wall, out["stdout"],
                   out["stderr"])
