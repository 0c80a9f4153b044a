#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A tiny target for the runner's tests: an HTTP/1.1 server on 127.0.0.1 whose misbehaviour is
chosen by flags, so each verdict and figure has a target that produces it on purpose.

  --port N              listen here (required)
  --outage-on-usr1 MS   on SIGUSR1, close the listener for MS ms (connections are refused),
                        then listen again: a known outage to measure
  --outage-log FILE     append each outage's real length in ms (from close to listen again)
  --leak-fds-on-usr2 N  on SIGUSR2, open N files and never close them
  --exit-after S        exit with status 3 after S seconds (a crash)
  --never-ready         never listen (a target that does not start)
  --die-at-start        exit 1 at once
  --status N            answer every request with status N (200 default)
  --orphan-on-usr2      on SIGUSR2, start a `sleep 300` in a session of its own (setsid): a
                        child that will outlive this process
"""
import argparse
import os
import signal
import socket
import subprocess
import threading
import time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--outage-on-usr1", type=int, default=0)
p.add_argument("--outage-log")
p.add_argument("--leak-fds-on-usr2", type=int, default=0)
p.add_argument("--exit-after", type=float, default=0)
p.add_argument("--never-ready", action="store_true")
p.add_argument("--die-at-start", action="store_true")
p.add_argument("--status", type=int, default=200)
p.add_argument("--orphan-on-usr2", action="store_true")
args = p.parse_args()

if args.die_at_start:
    raise SystemExit(1)
if args.never_ready:
    while True:
        time.sleep(1)

lock = threading.Lock()
listener = None
leaked = []


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", args.port))
    s.listen(128)
    return s


def handle(conn):
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
            _, buf = buf.split(b"\r\n\r\n", 1)
            body = b'{"ok": true}\n'
            head = (f"HTTP/1.1 {args.status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            try:
                conn.sendall(head + body)
            except OSError:
                return


def outage(signum, frame):
    def run():
        global listener
        with lock:
            old, listener = listener, None
        old.close()
        began = time.monotonic()
        time.sleep(args.outage_on_usr1 / 1000.0)
        with lock:
            listener = listen()
            ended = time.monotonic()
        if args.outage_log:
            with open(args.outage_log, "a") as f:
                f.write(f"{(ended - began) * 1000:.1f}\n")
    threading.Thread(target=run, daemon=True).start()


def leak(signum, frame):
    for _ in range(args.leak_fds_on_usr2):
        leaked.append(open(os.devnull))


if args.outage_on_usr1:
    signal.signal(signal.SIGUSR1, outage)
if args.leak_fds_on_usr2:
    signal.signal(signal.SIGUSR2, leak)
if args.orphan_on_usr2:
    signal.signal(signal.SIGUSR2, lambda s, f: subprocess.Popen(
        ["sleep", "300"], start_new_session=True))
if args.exit_after:
    threading.Timer(args.exit_after, lambda: os._exit(3)).start()

listener = listen()
while True:
    with lock:
        s = listener
    if s is None:
        time.sleep(0.001)
        continue
    s.settimeout(0.05)
    try:
        conn, _ = s.accept()
    except (socket.timeout, OSError):
        continue
    conn.settimeout(None)
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
