#!/usr/bin/python3
# The check for redis-server (faultline crash and sweep): start it on the directory a power cut
# or a trial left (the check's cwd) and read back every key the client was told OK for.
#
#   check.py [--promise each|save] -- REDIS-SERVER-ARGS...
#
# --promise each (the default): every "ok KEY" line drive.py printed before the cut is a key
# that must be there, with its value. --promise save: only once "saved" was printed (SAVE
# answered +OK) must the keys acknowledged before it be there. A server that will not start
# on the state, or will not load it, fails the check too: the data is not there for anyone.
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--promise", choices=["each", "save"], default="each")
ap.add_argument("server_args", nargs=argparse.REMAINDER)
a = ap.parse_args()
extra = a.server_args[1:] if a.server_args[:1] == ["--"] else a.server_args

printed = open(os.environ["FAULTLINE_STDOUT"]).read().splitlines()
acked = [w.split()[1] for w in printed if w.startswith("ok ")]
if a.promise == "save":
    acked = acked if "saved" in printed else []

# a private socket outside the state: no port to collide with, nothing added to the state
# but what redis itself writes there
tmp = tempfile.mkdtemp(prefix="fl-redis-check-")
sock_path = os.path.join(tmp, "redis.sock")
log_path = os.path.join(tmp, "redis.log")
server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock_path,
                           "--daemonize", "no", "--dir", os.getcwd(), "--logfile", log_path,
                           *extra], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def done(code, why=""):
    if why:
        print(why)
    if server.poll() is None:
        server.kill()
    server.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(code)


def last_log_line():
    try:
        lines = [w for w in open(log_path).read().splitlines() if w.strip()]
    except OSError:
        return "no log"
    bad = [w for w in lines if "#" in w] or lines
    return bad[-1] if bad else "no log"


deadline = time.monotonic() + 10
conn = None
while conn is None:
    if server.poll() is not None:
        done(1, f"redis-server will not start on this state: {last_log_line()}")
    if time.monotonic() > deadline:
        done(1, "redis-server did not listen within 10 s")
    try:
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(10)
        conn.connect(sock_path)
    except OSError:
        conn.close()
        conn = None
        time.sleep(0.01)
reader = conn.makefile("rb")


def command(*words):
    msg = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        msg += b"$%d\r\n%s\r\n" % (len(w), w)
    try:
        conn.sendall(msg)
        line = reader.readline().rstrip(b"\r\n")
        if line.startswith(b"$") and line != b"$-1":
            line = reader.readline().rstrip(b"\r\n")
            return line
    except OSError as e:
        try:
            server.wait(timeout=1)
        except subprocess.TimeoutExpired:
            done(1, f"{words[0]}: {e}: {last_log_line()}")
        done(1, f"redis-server will not start on this state: {last_log_line()}")
    if not line:
        done(1, f"redis-server closed the connection while loading: {last_log_line()}")
    return line


while (r := command("PING")) != b"+PONG":
    if not r.startswith(b"-LOADING") or time.monotonic() > deadline:
        done(1, f"PING: {r.decode(errors='replace')}: {last_log_line()}")
    time.sleep(0.01)
lost = [k for k in acked if command("GET", k) != ("v" + k[1:]).encode()]
if lost:
    done(1, f"{len(lost)} of {len(acked)} acknowledged keys lost: {' '.join(lost[:8])}")
done(0)
