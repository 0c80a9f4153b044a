# SPDX-License-Identifier: MIT
"""Helpers for the `faultline proxy` tests: start the real binary on an ephemeral API port,
talk to its HTTP API with http.client, and run small loopback TCP servers in threads."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time


class Proxy:
    """A running `faultline proxy --port 0`; .api(method, path, body) -> (status, headers, body)."""

    def __init__(self, binary, *args, env=None):
        self.proc = subprocess.Popen(
            [binary, "proxy", "--port", "0", "--seed", "42", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        m = re.search(r"API listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"proxy did not start: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(m.group(1))
        self.seed_line = self.proc.stdout.readline()

    def api(self, method, path, body=None, headers=None, raw=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"User-Agent": "faultline-tests"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        payload = r.read()
        conn.close()
        return r.status, r, payload

    def json(self, method, path, body=None, expect=None, **kw):
        status, _, payload = self.api(method, path, body, **kw)
        if expect is not None:
            assert status == expect, (status, payload)
        return json.loads(payload) if payload else None

    def create(self, name, upstream, **extra):
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": upstream}
        body.update(extra)
        p = self.json("POST", "/proxies", body, expect=201)
        host, port = p["listen"].rsplit(":", 1)
        return ("127.0.0.1", int(port))

    def toxic(self, proxy, **body):
        return self.json("POST", f"/proxies/{proxy}/toxics", body, expect=200)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


class Server:
    """A loopback TCP server; handler(conn) runs in a thread per accepted connection."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.handler = handler
        self.errors = []
        self.closed = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c)
        except Exception as e:  # noqa: BLE001 - reported by the test that cares
            self.errors.append(e)
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


def echo(c):
    """Echo until EOF, then half-close our side."""
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)


def connect(addr, timeout=10):
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


def recv_all(s):
    """Read until EOF."""
    out = []
    while True:
        d = s.recv(65536)
        if not d:
            return b"".join(out)
        out.append(d)


def rtt(s, payload=b"ping"):
    t = time.monotonic()
    s.sendall(payload)
    got = recv_exactly(s, len(payload))
    assert got == payload
    return time.monotonic() - t
