# SPDX-License-Identifier: MIT
"""Helpers for the `faultline proxy` tests: start the real binary on an ephemeral API port,
talk to its HTTP API with http.client, and run small loopback TCP servers in threads."""
import http.client
import json
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


def free_port():
    """A loopback port nobody listens on right now (for servers started with a fixed port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def _read_line(c, buf):
    """Read one CRLF line from socket c with leftover bytes buf; returns (line, buf)."""
    while b"\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            raise EOFError("connection closed mid-line")
        buf += d
    line, buf = buf.split(b"\r\n", 1)
    return line, buf


def _read_n(c, buf, n):
    while len(buf) < n:
        d = c.recv(65536)
        if not d:
            raise EOFError("connection closed mid-body")
        buf += d
    return buf[:n], buf[n:]


def _read_http_message(c, buf, response, head=False):
    """One HTTP/1.1 message from c: (first line, headers (lower-case keys), body, leftover)."""
    first, buf = _read_line(c, buf)
    while first == b"":
        first, buf = _read_line(c, buf)
    headers = {}
    while True:
        line, buf = _read_line(c, buf)
        if not line:
            break
        k, v = line.split(b":", 1)
        headers[k.strip().lower().decode()] = v.strip().decode()
    body = b""
    if head:
        return first, headers, body, buf
    if response:
        code = int(first.split()[1])
        if code < 200 or code in (204, 304):
            return first, headers, body, buf
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size, buf = _read_line(c, buf)
            n = int(size.split(b";")[0], 16)
            if n == 0:
                while True:
                    line, buf = _read_line(c, buf)
                    if not line:
                        break
                break
            piece, buf = _read_n(c, buf, n)
            body += piece
            _, buf = _read_line(c, buf)
    elif "content-length" in headers:
        body, buf = _read_n(c, buf, int(headers["content-length"]))
    elif response:
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
        body, buf = buf, b""
    return first, headers, body, buf


class HttpClient:
    """A keep-alive HTTP/1.1 client on a raw socket, so requests can be pipelined."""

    def __init__(self, addr, timeout=10):
        self.sock = connect(addr, timeout=timeout)
        self.buf = b""
        self.heads = []

    def send(self, method="GET", path="/", body=None, chunked=False, extra=b""):
        head = b"%s %s HTTP/1.1\r\nHost: test\r\n" % (method.encode(), path.encode()) + extra
        if chunked:
            data = head + b"Transfer-Encoding: chunked\r\n\r\n"
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                data += b"%x\r\n%s\r\n" % (len(part), part)
            data += b"0\r\n\r\n"
        elif body is not None:
            data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        else:
            data = head + b"\r\n"
        self.heads.append(method == "HEAD")
        return data

    def request(self, *a, **kw):
        self.sock.sendall(self.send(*a, **kw))
        return self.response()

    def response(self):
        """(status, headers, body) of the next response, in request order."""
        head = self.heads.pop(0) if self.heads else False
        first, headers, body, self.buf = _read_http_message(self.sock, self.buf, True, head)
        return int(first.split()[1]), headers, body

    def close(self):
        self.sock.close()


def http_app(log):
    """A keep-alive HTTP/1.1 server handler. GET /big?n=N answers N bytes (chunked for
    /chunked?n=N), anything else "ok <path> <body length>"; log gets each request path."""
    def handler(c):
        buf = b""
        while True:
            try:
                first, headers, body, buf = _read_http_message(c, buf, False)
            except EOFError:
                return
            method, path = first.split()[0].decode(), first.split()[1].decode()
            log.append(path)
            if path.startswith("/big") or path.startswith("/chunked"):
                n = int(path.split("n=")[1])
                payload = bytes((i * 7 + 3) % 251 for i in range(n))
            else:
                payload = b"ok %s %d" % (path.encode(), len(body))
            if path.startswith("/chunked"):
                out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                for i in range(0, len(payload), 1000):
                    part = payload[i:i + 1000]
                    out += b"%x\r\n%s\r\n" % (len(part), part)
                out += b"0\r\n\r\n"
            else:
                out = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload)
                if method != "HEAD":
                    out += payload
            c.sendall(out)
    return handler
