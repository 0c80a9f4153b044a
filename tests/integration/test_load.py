# SPDX-License-Identifier: MIT
"""`faultline load` against real servers the tests start: a keep-alive Python http.server, a
raw TCP echo server, a port nobody listens on, a server that stalls, one that closes in the
middle of a response and one that answers garbage. The assertions are about counts and error
accounting (every request ends exactly once, in one kind), never about timings."""
import http.server
import json
import socket
import subprocess
import threading
import time

import pytest

from proxyutil import free_port


# ---- servers ---------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive
    disable_nagle_algorithm = True  # headers and body in two writes must not wait 40 ms

    def _answer(self):
        srv = self.server
        body_len = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(body_len) if body_len else b""
        with srv.lock:
            srv.hits += 1
            srv.seen.append((self.command, self.path, dict(self.headers), body))
            del srv.seen[:-5]
        path = self.path
        if path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
            return
        code = {"/500": 500, "/503": 503, "/429": 429, "/404": 404}.get(path, 200)
        payload = b"hello" if self.command != "HEAD" else b""
        self.send_response(code)
        self.send_header("Content-Length", "5")
        if path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args):
        pass


class HttpServer:
    def __init__(self, port=0):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.srv.daemon_threads = True
        # faultline closes its connections when it stops, perhaps mid-request: not an error
        self.srv.handle_error = lambda *args: None
        self.srv.hits = 0
        self.srv.seen = []
        self.srv.lock = threading.Lock()
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def hits(self):
        return self.srv.hits

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class RawServer:
    """A TCP server running handler(sock) per connection in a thread; counts connections."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.handler = handler
        self.stop = False
        self.conns = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c)
        except OSError:
            pass

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def stall(c):
    while c.recv(65536):
        pass


def read_request(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return False
        buf += d
    return True


def close_mid_response(c):
    if read_request(c):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it")
    c.close()


def body_until_close(c):
    if read_request(c):
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body runs to EOF")
    c.close()


def garbage(c):
    while read_request(c):
        c.sendall(b"garbage, not http\r\n\r\n")


@pytest.fixture
def http_server():
    s = HttpServer()
    yield s
    s.close()


@pytest.fixture
def raw():
    servers = []

    def _raw(handler):
        s = RawServer(handler)
        servers.append(s)
        return s

    yield _raw
    for s in servers:
        s.close()


# ---- helpers ---------------------------------------------------------------------------------

def load(run, target, *args, timeout=60):
    r = run("load", target, "--json", *args, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    rep = json.loads(r.stdout)
    check_accounting(rep)
    return rep


def check_accounting(rep):
    """Every request ended exactly once: ok or one error kind; windows add up."""
    kinds = rep["errors_by_kind"]
    assert set(kinds) == {"refused", "connect", "timeout", "reset", "closed", "bad_response",
                          "http_5xx", "http_429", "mismatch", "overload"}
    assert rep["requests"] == rep["ok"] + rep["errors"]
    assert rep["errors"] == sum(kinds.values())
    assert sum(w["requests"] for w in rep["windows"]) == rep["requests"]
    assert sum(w["errors"] for w in rep["windows"]) == rep["errors"]
    ts = [w["t_ms"] for w in rep["windows"]]
    assert ts == sorted(ts) and all(t % 100 == 0 for t in ts)
    if rep["requests"]:
        assert rep["error_rate"] == pytest.approx(rep["errors"] / rep["requests"])
    lat = rep["latency_ms"]
    if lat["p50"] is not None:
        assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


def nonzero_kinds(rep):
    return {k for k, v in rep["errors_by_kind"].items() if v}


# ---- HTTP ------------------------------------------------------------------------------------

def test_http_keepalive_all_ok(run, http_server):
    rep = load(run, f"http://127.0.0.1:{http_server.port}/", "--rate", "100", "-c", "4",
               "-d", "1s")
    assert rep["kind"] == "http" and rep["concurrency"] == 4 and rep["rate"] == 100
    assert rep["errors"] == 0
    # open loop: 100/s for 1 s schedules about 100; none are lost
    assert 50 <= rep["requests"] + rep["unfinished"] <= 110
    assert rep["status"]["2xx"] == rep["ok"]
    # the server saw every request we counted, and at most the unfinished ones on top
    assert rep["ok"] <= http_server.hits <= rep["ok"] + rep["unfinished"]
    assert rep["latency_ms"]["p50"] is not None
    method, path, headers, _ = http_server.srv.seen[-1]
    assert (method, path) == ("GET", "/")
    assert headers["Host"] == f"127.0.0.1:{http_server.port}"


def test_http_closed_loop_reuses_connections(run, http_server):
    rep = load(run, f"http://127.0.0.1:{http_server.port}/", "--rate", "0", "-c", "2",
               "-d", "1s")
    assert rep["errors"] == 0 and rep["ok"] > 10
    assert rep["ok"] <= http_server.hits <= rep["ok"] + rep["unfinished"]


def test_http_status_errors_counted_apart(run, http_server):
    base = f"http://127.0.0.1:{http_server.port}"
    r5 = load(run, base + "/503", "--rate", "50", "-c", "2", "-d", "600ms")
    assert r5["requests"] > 0 and nonzero_kinds(r5) == {"http_5xx"}
    assert r5["errors"] == r5["requests"] == r5["status"]["5xx"]
    r4 = load(run, base + "/429", "--rate", "50", "-c", "2", "-d", "600ms")
    assert r4["requests"] > 0 and nonzero_kinds(r4) == {"http_429"}
    # other 4xx are answers, not load errors
    r404 = load(run, base + "/404", "--rate", "50", "-c", "2", "-d", "600ms")
    assert r404["errors"] == 0 and r404["status"]["4xx"] == r404["ok"] > 0


def test_http_post_body_headers_and_head(run, http_server):
    base = f"http://127.0.0.1:{http_server.port}"
    rep = load(run, base + "/submit", "-X", "POST", "-H", "X-Test: yes", "--body", "k=v",
               "--rate", "20", "-d", "500ms")
    assert rep["errors"] == 0 and rep["ok"] > 0
    method, path, headers, body = http_server.srv.seen[-1]
    assert (method, path, body) == ("POST", "/submit", b"k=v")
    assert headers["X-Test"] == "yes" and headers["Content-Length"] == "3"
    # HEAD: the response says Content-Length 5 but has no body; framing must not wait for it
    rep = load(run, base + "/", "-X", "HEAD", "--rate", "20", "-c", "1", "-d", "500ms")
    assert rep["errors"] == 0 and rep["ok"] > 0


def test_http_chunked_and_connection_close(run, http_server):
    base = f"http://127.0.0.1:{http_server.port}"
    rep = load(run, base + "/chunked", "--rate", "50", "-c", "2", "-d", "600ms")
    assert rep["errors"] == 0 and rep["ok"] > 0
    # Connection: close after each response: reconnect quietly, no errors
    rep = load(run, base + "/close", "--rate", "50", "-c", "2", "-d", "600ms")
    assert rep["errors"] == 0 and rep["ok"] > 0


def test_http_body_until_close(run, raw):
    s = raw(body_until_close)
    rep = load(run, f"http://127.0.0.1:{s.port}/", "--rate", "50", "-c", "2", "-d", "600ms")
    assert rep["errors"] == 0 and rep["ok"] > 0
    assert s.accepted >= rep["ok"]  # one connection per response


def test_http_ipv6(run):
    try:
        s6 = socket.socket(socket.AF_INET6)
        s6.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    port = s6.getsockname()[1]
    s6.listen(16)
    def no_content(c):
        try:
            while read_request(c):
                c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        except OSError:
            pass

    def serve():
        while True:
            try:
                c, _ = s6.accept()
            except OSError:
                return
            threading.Thread(target=no_content, args=(c,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    try:
        rep = load(run, f"http://[::1]:{port}/", "--rate", "50", "-d", "500ms")
    finally:
        s6.close()
    assert rep["errors"] == 0 and rep["ok"] > 0 and rep["status"]["2xx"] == rep["ok"]


def test_http_garbage_is_bad_response(run, raw):
    s = raw(garbage)
    rep = load(run, f"http://127.0.0.1:{s.port}/", "--rate", "50", "-c", "2", "-d", "600ms")
    assert rep["requests"] > 0 and rep["ok"] == 0
    assert nonzero_kinds(rep) <= {"bad_response", "timeout"}
    assert rep["errors_by_kind"]["bad_response"] > 0


def test_http_close_mid_response(run, raw):
    s = raw(close_mid_response)
    rep = load(run, f"http://127.0.0.1:{s.port}/", "--rate", "50", "-c", "2", "-d", "1s")
    assert rep["ok"] == 0 and rep["errors_by_kind"]["closed"] > 0
    # requests waiting behind the backoff may time out; nothing else
    assert nonzero_kinds(rep) <= {"closed", "timeout", "reset"}


def test_closed_loop_backs_off_on_errors(run, raw):
    """As fast as possible against a server that always fails must not spin: the backoff
    (10 ms doubling to 100 ms) bounds the connections per second."""
    s = raw(close_mid_response)
    rep = load(run, f"http://127.0.0.1:{s.port}/", "--rate", "0", "-c", "2", "-d", "1s")
    assert rep["ok"] == 0 and rep["errors_by_kind"]["closed"] > 0
    assert s.accepted < 100, s.accepted


# ---- servers that are down or stall ----------------------------------------------------------

def test_server_down_is_refused(run):
    port = free_port()
    rep = load(run, f"http://127.0.0.1:{port}/", "--rate", "100", "-c", "4", "-d", "1s")
    # every scheduled request fails at once as refused: none queue, none are "overload"
    assert nonzero_kinds(rep) == {"refused"}
    assert rep["errors"] == rep["requests"] >= 50
    assert rep["unfinished"] == 0
    assert rep["latency_ms"]["p50"] is None  # never reached a server


def test_server_down_closed_loop_does_not_spin(run):
    port = free_port()
    rep = load(run, f"127.0.0.1:{port}", "--send", "x", "--rate", "0", "-c", "50", "-d", "1s")
    assert nonzero_kinds(rep) == {"refused"}
    # one scout connects at a time, 10 to 100 ms apart, whatever the concurrency
    assert 1 <= rep["requests"] < 200, rep["requests"]


def test_server_comes_back(faultline, env):
    """Down for a while, then up: the scout notices and every connection comes back."""
    port = free_port()
    p = subprocess.Popen([faultline, "load", f"http://127.0.0.1:{port}/", "--rate", "100",
                          "-c", "4", "-d", "2s", "--json"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    s = HttpServer(port)
    try:
        out, err = p.communicate(timeout=30)
    finally:
        s.close()
    assert p.returncode == 0, err
    rep = json.loads(out)
    check_accounting(rep)
    assert rep["errors_by_kind"]["refused"] >= 20
    assert rep["ok"] >= 50
    assert nonzero_kinds(rep) == {"refused"}
    # once up, it stays up: no refused request ends after the first ok window
    first_ok = next(i for i, w in enumerate(rep["windows"]) if w["requests"] > w["errors"])
    assert all(w["errors"] == 0 for w in rep["windows"][first_ok + 1:])


def test_stalled_server_times_out(run, raw):
    s = raw(stall)
    rep = load(run, f"http://127.0.0.1:{s.port}/", "--rate", "20", "-c", "2",
               "--timeout", "200ms", "-d", "1s")
    assert rep["ok"] == 0
    assert nonzero_kinds(rep) == {"timeout"}
    assert rep["errors_by_kind"]["timeout"] >= 5
    # latency is measured from the scheduled time, so timeouts sit at about the timeout
    assert rep["latency_ms"]["p50"] >= 150


def test_overload_when_queue_full(run, raw):
    s = raw(stall)
    rep = load(run, f"http://127.0.0.1:{s.port}/", "--rate", "200", "-c", "1",
               "--queue", "5", "--timeout", "5s", "-d", "700ms")
    assert rep["errors_by_kind"]["overload"] > 50
    assert nonzero_kinds(rep) == {"overload"}
    assert rep["unfinished"] <= 6  # the queue and the one in flight


# ---- raw TCP ---------------------------------------------------------------------------------

def test_tcp_echo_expect(run, raw):
    s = raw(echo)
    rep = load(run, f"127.0.0.1:{s.port}", "--send", r"PING\r\n", "--expect", "PING",
               "--rate", "100", "-c", "2", "-d", "1s")
    assert rep["kind"] == "tcp" and rep["status"] is None
    assert rep["errors"] == 0 and rep["ok"] >= 50


def test_tcp_expect_mismatch(run, raw):
    s = raw(echo)
    rep = load(run, f"127.0.0.1:{s.port}", "--send", r"PING\n", "--expect", "PONG",
               "--rate", "50", "-c", "2", "-d", "600ms")
    assert rep["ok"] == 0 and rep["requests"] > 0
    assert nonzero_kinds(rep) == {"mismatch"}
    # a wrong answer is still an answer: the connections are kept
    assert s.accepted == 2


def test_tcp_any_reply_without_expect(run, raw):
    s = raw(echo)
    rep = load(run, f"127.0.0.1:{s.port}", "--send", r"\x00\x01", "--rate", "50",
               "-d", "500ms")
    assert rep["errors"] == 0 and rep["ok"] > 0


# ---- output and usage ------------------------------------------------------------------------

def test_human_output(run, http_server):
    r = run("load", f"http://127.0.0.1:{http_server.port}/", "--rate", "50", "-d", "300ms")
    assert r.returncode == 0, r.stderr
    assert "requests" in r.stdout and "latency" in r.stdout and "p99" in r.stdout


@pytest.mark.parametrize("args, text", [
    ([], "load: give a target"),
    (["https://127.0.0.1/"], "https is not supported"),
    (["ftp://127.0.0.1/"], "'http' must be a URL"),
    (["http://127.0.0.1:99999/"], "bad host or port"),
    (["127.0.0.1:80"], "needs --send"),
    (["127.0.0.1", "--send", "x"], "'tcp' must be HOST:PORT"),
    (["http://127.0.0.1/", "-c", "0"], "--concurrency"),
    (["http://127.0.0.1/", "-c", "10001"], "--concurrency"),
    (["http://127.0.0.1/", "--rate", "-1"], "--rate"),
    (["http://127.0.0.1/", "--rate", "2000000"], "--rate"),
    (["http://127.0.0.1/", "-d", "0"], "--duration"),
    (["http://127.0.0.1/", "--timeout", "5"], "'timeout' must be a duration"),
    (["http://127.0.0.1/", "-H", "Bad Name: x"], "header 'Bad Name'"),
    (["http://127.0.0.1/", "-H", "noColon"], "--header"),
    (["http://127.0.0.1/", "-H", "Content-Length: 5"], "set from 'body'"),
    (["http://127.0.0.1/", "-X", "G ET"], "'method'"),
    (["http://127.0.0.1/", "--send", "x"], "--send and --expect are for HOST:PORT"),
    (["127.0.0.1:80", "--send", r"\q"], "bad escape"),
    (["http://127.0.0.1/"] + [f"-HX-{i}: {'v' * 1000}" for i in range(20)], "16 KiB"),
    (["http://127.0.0.1/"] + [f"-HX-{i}: v" for i in range(65)], "more than 64 headers"),
])
def test_usage_errors(run, args, text):
    r = run("load", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and text in r.stderr, r.stderr
    assert r.stdout == ""


def test_unresolvable_host(run):
    r = run("load", "http://no-such-host.invalid/", "-d", "100ms")
    assert r.returncode == 3 and "cannot resolve" in r.stderr


def test_experiment_load_errors_name_the_place(run, tmp_path):
    """An experiment's `load:` is checked by the same code, with file:line:col."""
    (tmp_path / "exp.yaml").write_text(
        "id: load-check\n"
        "title: load spec errors\n"
        "load:\n"
        "  http: http://127.0.0.1:1/\n"
        "  rate: fast\n"
        "method:\n"
        "  - pause: 1s\n")
    r = run("validate", "exp.yaml")
    if r.returncode == 4:
        pytest.skip("faultline validate is not implemented in this build")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "exp.yaml:5:3: load: 'rate' must be a number" in r.stderr


def test_http_large_body(run, http_server):
    body = "b" * 100000
    rep = load(run, f"http://127.0.0.1:{http_server.port}/big", "-X", "PUT", "--body", body,
               "--rate", "20", "-c", "2", "-d", "500ms")
    assert rep["errors"] == 0 and rep["ok"] > 0
    method, path, _, got = http_server.srv.seen[-1]
    assert (method, path, len(got)) == ("PUT", "/big", 100000)
