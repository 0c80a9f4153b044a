#!/usr/bin/python3
# Start redis-server in the foreground in the current directory, write keys to it one at a
# time over a plain socket, print "ok KEY" for each +OK it answered, then stop it.
#
#   drive.py [--keys N] [--save SAVE|BGSAVE] [--rewrite] [--shutdown save|nosave]
#            -- REDIS-SERVER-ARGS...
#
# --save SAVE sends SAVE after the keys and prints "saved" when it answers +OK; --save BGSAVE
# starts a background save and prints "saved" once INFO says it ended well. --rewrite runs
# BGREWRITEAOF, waits for it to end, then writes as many keys again (k<N>...). The server's log
# goes to /dev/null and its stdout is ours, so a recorder in it sees our acknowledgements
# (faultline crash: FAULTLINE_STDOUT). Every wait is bounded: a server that stops answering
# makes this exit 1 after 5 s, not hang.
import argparse
import os
import socket
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--keys", type=int, default=20)
ap.add_argument("--save", choices=["SAVE", "BGSAVE"])
ap.add_argument("--rewrite", action="store_true")
ap.add_argument("--shutdown", choices=["save", "nosave"], default="nosave")
ap.add_argument("server_args", nargs=argparse.REMAINDER)
a = ap.parse_args()
extra = a.server_args[1:] if a.server_args[:1] == ["--"] else a.server_args


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


port = free_port()
server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--daemonize", "no", "--dir", os.getcwd(), "--logfile", "/dev/null",
                           *extra], stdin=subprocess.DEVNULL)


def end(status):
    """Exit as the server ended: killed by signal N (not by us), 128+N as a shell says it, so
    that a sweep sees a crash of the server as a crash; else `status`."""
    if server.returncode is not None and server.returncode < 0:
        sys.exit(128 - server.returncode)
    sys.exit(status)


def fail(why):
    if server.poll() is None:
        print(f"drive: {why}", file=sys.stderr, flush=True)
        server.kill()
        server.wait()
        sys.exit(1)
    print(f"drive: {why} (redis-server ended with status {server.returncode})",
          file=sys.stderr, flush=True)
    end(1)


deadline = time.monotonic() + 5
while True:
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=1)
        break
    except OSError:
        if server.poll() is not None or time.monotonic() > deadline:
            fail(f"redis-server did not listen on {port} (status {server.poll()})")
        time.sleep(0.01)
conn.settimeout(5)
reader = conn.makefile("rb")


def command(*words):
    msg = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode() if isinstance(w, str) else w
        msg += b"$%d\r\n%s\r\n" % (len(w), w)
    conn.sendall(msg)
    try:
        line = reader.readline()
    except OSError as e:
        fail(f"{words[0]}: {e}")
    if not line:
        fail(f"{words[0]}: the server closed the connection")
    return line.rstrip(b"\r\n")


while (reply := command("PING")) != b"+PONG":  # -LOADING while it reads its files
    if time.monotonic() > deadline:
        fail(f"PING: {reply.decode(errors='replace')}")
    time.sleep(0.01)


def info(field):
    """One field of INFO persistence (a bulk reply: read it whole)."""
    head = command("INFO", "persistence")
    if not head.startswith(b"$"):
        fail(f"INFO: {head.decode(errors='replace')}")
    body = reader.read(int(head[1:]) + 2).decode()
    for line in body.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    fail(f"INFO persistence has no {field}")


def wait_for(field, deadline_s=5):
    until = time.monotonic() + deadline_s
    while info(field) != "0":
        if time.monotonic() > until:
            fail(f"{field} still set after {deadline_s} s")
        time.sleep(0.01)


def write_keys(first, n):
    for i in range(first, first + n):
        reply = command("SET", f"k{i}", f"v{i}")
        if reply != b"+OK":
            fail(f"SET k{i}: {reply.decode(errors='replace')}")
        print(f"ok k{i}", flush=True)


write_keys(0, a.keys)
if a.rewrite:
    reply = command("BGREWRITEAOF")
    if not reply.startswith(b"+"):
        fail(f"BGREWRITEAOF: {reply.decode(errors='replace')}")
    wait_for("aof_rewrite_in_progress")
    wait_for("aof_rewrite_scheduled")
    if info("aof_last_bgrewrite_status") != "ok":
        fail("BGREWRITEAOF failed")
    write_keys(a.keys, a.keys)
if a.save:
    reply = command(a.save)
    if not reply.startswith(b"+"):
        fail(f"{a.save}: {reply.decode(errors='replace')}")
    if a.save == "BGSAVE":
        wait_for("rdb_bgsave_in_progress")
        if info("rdb_last_bgsave_status") != "ok":
            fail("BGSAVE failed")
    print("saved", flush=True)
conn.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$%d\r\n%s\r\n"
             % (len(a.shutdown), a.shutdown.upper().encode()))
try:
    reply = reader.readline()  # none when it stopped; an error when it would not
except OSError:
    reply = b""
if reply:
    fail(f"SHUTDOWN: {reply.decode(errors='replace').strip()}")
try:
    server.wait(timeout=5)
except subprocess.TimeoutExpired:
    fail("redis-server did not stop after SHUTDOWN")
end(0 if server.returncode == 0 else 1)
