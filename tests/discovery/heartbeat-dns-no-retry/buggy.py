# SPDX-License-Identifier: MIT
"""heartbeat: tells a collector at HOST:PORT that NAME is alive. It resolves HOST with
getaddrinfo, connects, sends "alive NAME", waits for "ok" and prints "heartbeat sent".
Usage: heartbeat.py HOST PORT NAME
BUG: a temporary DNS failure (EAI_AGAIN) is fatal: no retry, the heartbeat is not sent.
"""
import socket
import sys


def resolve(host, port):
    """The addresses of host:port, for a TCP connection."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def send(addrs, line):
    err = None
    for family, kind, proto, _, addr in addrs:
        try:
            with socket.socket(family, kind, proto) as s:
                s.settimeout(5)
                s.connect(addr)
                s.sendall(line.encode() + b"\n")
                if s.makefile("rb").readline() == b"ok\n":
                    return
                err = OSError("no ok from the collector")
        except OSError as e:
            err = e
    raise err or OSError("no address")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: heartbeat.py HOST PORT NAME")
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        addrs = resolve(host, port)
    except socket.gaierror as e:
        sys.exit(f"heartbeat: cannot resolve {host}: {e.strerror}")
    try:
        send(addrs, f"alive {name}")
    except OSError as e:
        sys.exit(f"heartbeat: {host}:{port}: {e}")
    print("heartbeat sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
