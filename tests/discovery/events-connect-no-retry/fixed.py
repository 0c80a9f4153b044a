# SPDX-License-Identifier: MIT
"""emit: reports each EVENT to a collector at HOST:PORT, one short connection per event: it
connects, sends the event as a line, waits for "ok" and prints "sent EVENT".
Usage: emit.py HOST PORT EVENT...
FIXED: a refused connection is retried, 5 times at most, with a backoff from 50 ms.
"""
import socket
import sys
import time


def send_event(host, port, event):
    """Sends one event on a connection of its own; raises OSError if it does not get its ok."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(event.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(16)
            if not chunk:
                raise ConnectionResetError("the collector closed the connection")
            reply += chunk
    if reply != b"ok\n":
        raise OSError(f"unexpected reply {reply!r}")


def deliver(host, port, event):
    for attempt in range(5):
        try:
            send_event(host, port, event)
            return True
        except ConnectionRefusedError as e:
            print(f"emit: {event}: {e}; retrying", file=sys.stderr)
            time.sleep(0.05 * 2 ** attempt)
    print(f"emit: {event}: the collector stays unreachable; event dropped", file=sys.stderr)
    return False


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: emit.py HOST PORT EVENT...")
    host, port = sys.argv[1], int(sys.argv[2])
    for event in sys.argv[3:]:
        if deliver(host, port, event):
            print(f"sent {event}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
