# SPDX-License-Identifier: MIT
"""`faultline proxy` extension toxics (http_status, http_latency, http_body, refuse,
slow_open, corrupt, packet_loss) on real loopback sockets against real servers: a small
keep-alive HTTP/1.1 server for the HTTP toxics, an echo server for the rest. Shares are
checked with wide bounds over many trials and a fixed --seed, timings with lower bounds only,
so a loaded machine cannot make them flake."""
import socket
import threading
import time

import pytest

from proxyutil import (HttpClient, Proxy, Server, connect, echo, http_app, recv_all,
                       recv_exactly)


@pytest.fixture
def echo_server(upstream):
    return upstream  # conftest's echo server, under the name these tests read best with


@pytest.fixture
def http_server():
    log = []
    s = Server(http_app(log))
    s.log = log
    yield s
    s.close()


def seeded(faultline, env, seed):
    return Proxy(faultline, "--seed", str(seed), env=env)


def bad_attr(proxy, type_, attrs, name, stream="downstream"):
    status, _, body = proxy.api("POST", "/proxies/p/toxics",
                                {"type": type_, "stream": stream, "attributes": attrs})
    assert status == 400, body
    assert name.encode() in body, body


# ---- http_status ---------------------------------------------------------------------------

def test_http_status_answers_locally_with_retry_after(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_status", stream="upstream",
                attributes={"status": 429, "retry_after": 7})
    c = HttpClient(addr)
    for i in range(3):  # keep-alive: several on one connection
        status, headers, body = c.request("POST", "/x%d" % i, body=b"payload")
        assert status == 429
        assert headers["retry-after"] == "7"
        assert int(headers["content-length"]) == len(body)
    status, headers, body = c.request("HEAD", "/h")
    assert status == 429 and body == b""
    c.close()
    assert http_server.log == []


def test_http_status_defaults_shown(proxy, http_server):
    proxy.create("p", http_server.addr)
    t = proxy.toxic("p", type="http_status", stream="upstream")
    assert t["attributes"] == {"status": 503, "rate": 100, "retry_after": 0}


def pipeline_statuses(proxy, http_server, n=200, stream="upstream"):
    """Pipeline n requests (plain, Content-Length and chunked bodies, some HEAD) in one write
    and check every response is the right one, in order. Returns the status sequence.
    Upstream the chosen requests never reach the server; downstream they all do and the
    chosen responses are replaced."""
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_status", stream=stream, attributes={"rate": 50})
    c = HttpClient(addr, timeout=20)
    data = b""
    kinds = []
    for i in range(n):
        kind = i % 4
        kinds.append(kind)
        if kind == 0:
            data += c.send("GET", "/r%d" % i)
        elif kind == 1:
            data += c.send("POST", "/r%d" % i, body=b"b" * (i + 1))
        elif kind == 2:
            data += c.send("POST", "/r%d" % i, body=b"c" * (i + 1), chunked=True)
        else:
            data += c.send("HEAD", "/r%d" % i)
    c.sock.sendall(data)
    statuses, forwarded = [], []
    for i in range(n):
        status, _, body = c.response()
        statuses.append(status)
        if status == 200:
            forwarded.append("/r%d" % i)
            if kinds[i] == 3:
                assert body == b""
            else:
                blen = i + 1 if kinds[i] in (1, 2) else 0
                assert body == b"ok /r%d %d" % (i, blen), (i, body)
        else:
            assert status == 503, status
            assert body == (b"" if kinds[i] == 3 else b"faultline http_status 503\n")
    c.close()
    if stream == "upstream":
        assert http_server.log == forwarded
    else:
        assert http_server.log == ["/r%d" % i for i in range(n)]
    return statuses


def test_http_status_rate_pipelined_in_order_and_replays(faultline, env, http_server):
    runs = []
    for _ in range(2):
        p = seeded(faultline, env, 7)
        try:
            runs.append(pipeline_statuses(p, http_server))
        finally:
            assert p.stop() == 0
        http_server.log.clear()
    assert 60 <= runs[0].count(503) <= 140, runs[0].count(503)
    assert runs[0] == runs[1]


def test_http_status_downstream_replaces_responses_in_order_and_replays(faultline, env,
                                                                         http_server):
    runs = []
    for _ in range(2):
        p = seeded(faultline, env, 7)
        try:
            runs.append(pipeline_statuses(p, http_server, stream="downstream"))
        finally:
            assert p.stop() == 0
        http_server.log.clear()
    assert 60 <= runs[0].count(503) <= 140, runs[0].count(503)
    assert runs[0] == runs[1]


def test_http_status_without_a_stream_replaces_responses(proxy, http_server):
    # Toxiproxy's default stream is downstream: a toxic added without one must still bite.
    addr = proxy.create("p", http_server.addr)
    t = proxy.toxic("p", type="http_status", attributes={"status": 502})
    assert t["stream"] == "downstream"
    c = HttpClient(addr)
    for i in range(3):
        status, headers, body = c.request("GET", "/d%d" % i)
        assert (status, body) == (502, b"faultline http_status 502\n")
    status, _, body = c.request("HEAD", "/h")
    assert (status, body) == (502, b"")
    proxy.api("DELETE", "/proxies/p/toxics/http_status_downstream")
    status, _, body = c.request("GET", "/after")
    assert (status, body) == (200, b"ok /after 0")
    c.close()
    assert http_server.log == ["/d0", "/d1", "/d2", "/h", "/after"]


def test_http_status_removed_mid_replaced_response_closes_the_connection(proxy):
    """Downstream: the client got the injected reply for a response still streaming from the
    server; when the toxic goes, the rest of that response must not follow it."""
    go_on = threading.Event()

    def slow_body(c):
        c.recv(65536)  # the request
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + b"a" * 10000)
        go_on.wait(10)
        c.sendall(b"b" * 10000)
        time.sleep(1)
    s = Server(slow_body)
    try:
        addr = proxy.create("p", s.addr)
        proxy.toxic("p", type="http_status", attributes={"status": 503})  # downstream
        c = HttpClient(addr, timeout=10)
        status, _, body = c.request("GET", "/big")
        assert (status, body) == (503, b"faultline http_status 503\n")
        # the 503 came back, so the proxy is inside the replaced response now
        proxy.api("DELETE", "/proxies/p/toxics/http_status_downstream")
        go_on.set()
        assert recv_all(c.sock) == b""  # closed, nothing of the real response after it
        c.close()
    finally:
        go_on.set()
        s.close()


def test_http_status_waits_for_earlier_responses(proxy):
    """A slow server: the synthesized reply for request 2 must not overtake request 1's."""
    log = []
    app = http_app(log)

    def slow(c):
        time.sleep(0.3)
        app(c)
    s = Server(slow)
    try:
        addr = proxy.create("p", s.addr)
        # rate 50 with seed 42: find a sequence with a forwarded request then a local one.
        proxy.toxic("p", type="http_status", stream="upstream", attributes={"rate": 50})
        c = HttpClient(addr, timeout=20)
        data = b"".join(c.send("GET", "/s%d" % i) for i in range(20))
        c.sock.sendall(data)
        got = [c.response() for _ in range(20)]
        c.close()
        statuses = [g[0] for g in got]
        assert 200 in statuses and 503 in statuses
        fwd = [i for i, st in enumerate(statuses) if st == 200]
        for i in fwd:
            assert got[i][2] == b"ok /s%d 0" % i
        assert log == ["/s%d" % i for i in fwd]
    finally:
        s.close()


def test_http_status_added_and_removed_on_live_connection(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    c = HttpClient(addr)
    assert c.request("GET", "/before")[0] == 200
    proxy.toxic("p", name="st", type="http_status", stream="upstream")
    assert c.request("GET", "/during")[0] == 503
    proxy.json("DELETE", "/proxies/p/toxics/st", expect=None)
    assert c.request("GET", "/after")[0] == 200
    c.close()
    assert http_server.log == ["/before", "/after"]


def test_http_status_removed_while_reply_owed_closes_cleanly(proxy):
    """Removing the toxic while input is held: in-order responses, then a clean close."""
    log = []
    app = http_app(log)

    def slow(c):
        time.sleep(0.5)
        app(c)
    s = Server(slow)
    try:
        addr = proxy.create("p", s.addr)
        proxy.toxic("p", name="st", type="http_status", stream="upstream",
                    attributes={"rate": 50})
        c = HttpClient(addr, timeout=10)
        c.sock.sendall(b"".join(c.send("GET", "/w%d" % i) for i in range(20)))
        time.sleep(0.1)
        proxy.json("DELETE", "/proxies/p/toxics/st", expect=None)
        got = []
        try:
            for _ in range(20):
                got.append(c.response())
        except EOFError:
            pass
        c.close()
        for i, (status, _, body) in enumerate(got):
            assert status in (200, 503)
            if status == 200:
                assert body == b"ok /w%d 0" % i
    finally:
        s.close()


def test_http_status_rate_zero_forwards_everything(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_status", stream="upstream", attributes={"rate": 0})
    c = HttpClient(addr)
    for i in range(5):
        assert c.request("GET", "/z%d" % i)[0] == 200
    c.close()


def test_http_status_non_http_passes_through(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="http_status", stream="upstream")
    s = connect(addr)
    s.sendall(b"\x00\x01 binary, not http\n")
    assert recv_exactly(s, 20) == b"\x00\x01 binary, not http\n"
    s.close()


# ---- http_latency --------------------------------------------------------------------------

def test_http_latency_delays_each_request(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_latency", stream="upstream", attributes={"latency": 300})
    c = HttpClient(addr)
    for i in range(3):
        t = time.monotonic()
        status, _, body = c.request("POST", "/l%d" % i, body=b"x" * 5000)
        assert time.monotonic() - t >= 0.29
        assert status == 200 and body == b"ok /l%d 5000" % i
    # Pipelined: all answered, in order, the first no sooner than the latency.
    t = time.monotonic()
    c.sock.sendall(b"".join(c.send("GET", "/p%d" % i) for i in range(5)))
    for i in range(5):
        assert c.response()[2] == b"ok /p%d 0" % i
        assert time.monotonic() - t >= 0.29
    c.close()


def test_http_latency_downstream_responses(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_latency", attributes={"latency": 250, "jitter": 10})
    c = HttpClient(addr)
    t = time.monotonic()
    status, _, body = c.request("GET", "/big?n=200000")
    assert time.monotonic() - t >= 0.23
    assert status == 200 and len(body) == 200000
    c.close()


# ---- http_body -----------------------------------------------------------------------------

def raw_get(addr, path, method="GET"):
    s = connect(addr)
    s.sendall(b"%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % (method.encode(),
                                                                             path.encode()))
    data = recv_all(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_http_body_truncate_keeps_length_and_closes(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_body", attributes={"truncate": 10})
    head, body = raw_get(addr, "/big?n=100")
    assert b"Content-Length: 100" in head
    assert body == bytes((i * 7 + 3) % 251 for i in range(10))


def test_http_body_truncate_fixes_length_keep_alive(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_body", attributes={"truncate": 10, "keep_length": 0})
    c = HttpClient(addr)
    for _ in range(3):
        status, headers, body = c.request("GET", "/big?n=5000")
        assert status == 200 and headers["content-length"] == "10"
        assert body == bytes((i * 7 + 3) % 251 for i in range(10))
    assert c.request("HEAD", "/big?n=5000")[2] == b""
    assert c.request("GET", "/short")[2] == b"ok /short 0"[:10]
    c.close()


def test_http_body_garble_flips_exact_bits(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_body", attributes={"garble": 16})
    want = bytes((i * 7 + 3) % 251 for i in range(3000))
    c = HttpClient(addr)
    for _ in range(3):
        status, _, body = c.request("GET", "/big?n=3000")
        assert status == 200 and len(body) == 3000
        flipped = sum(bin(a ^ b).count("1") for a, b in zip(body, want))
        assert flipped == 16
    c.close()


def test_http_body_chunked_truncated_closes(proxy, http_server):
    addr = proxy.create("p", http_server.addr)
    proxy.toxic("p", type="http_body", attributes={"truncate": 50, "keep_length": 0})
    head, body = raw_get(addr, "/chunked?n=5000")
    assert b"Transfer-Encoding: chunked" in head
    assert len(body) == 50


# ---- refuse and slow_open ------------------------------------------------------------------

def greeter(c):
    c.sendall(b"hello")
    while c.recv(65536):
        pass


def outcome(addr):
    """'ok', 'fin' or 'rst' for one connection through the proxy to a greeter server."""
    try:
        s = connect(addr)
    except ConnectionResetError:  # the RST can beat connect()'s return
        return "rst"
    try:
        d = s.recv(1)
        return "ok" if d == b"h" else "fin"
    except (ConnectionResetError, BrokenPipeError):
        return "rst"
    finally:
        s.close()


def test_refuse_fin_and_reset(proxy):
    srv = Server(greeter)
    addr = proxy.create("p", srv.addr)
    t = proxy.toxic("p", type="refuse")
    assert t["attributes"] == {"rate": 100, "reset": 0}
    assert [outcome(addr) for _ in range(5)] == ["fin"] * 5
    proxy.json("POST", "/proxies/p/toxics/refuse_downstream", {"attributes": {"reset": 1}},
               expect=200)
    assert [outcome(addr) for _ in range(5)] == ["rst"] * 5
    proxy.json("DELETE", "/proxies/p/toxics/refuse_downstream", expect=None)
    assert outcome(addr) == "ok"
    srv.close()


def test_refuse_rate_share_and_replay(faultline, env):
    srv = Server(greeter)
    runs = []
    for _ in range(2):
        p = seeded(faultline, env, 11)
        try:
            addr = p.create("p", srv.addr)
            p.toxic("p", type="refuse", attributes={"rate": 50})
            runs.append([outcome(addr) for _ in range(200)])
        finally:
            assert p.stop() == 0
    srv.close()
    assert 60 <= runs[0].count("fin") <= 140
    assert set(runs[0]) == {"ok", "fin"}
    assert runs[0] == runs[1]


def test_slow_open_delays_the_dial(proxy):
    accepted = []

    def handler(c):
        accepted.append(time.monotonic())
        echo(c)
    s = Server(handler)
    try:
        addr = proxy.create("p", s.addr)
        proxy.toxic("p", type="slow_open", attributes={"delay": 400})
        t = time.monotonic()
        c = connect(addr)
        c.sendall(b"early")
        assert recv_exactly(c, 5) == b"early"
        assert time.monotonic() - t >= 0.39
        assert accepted[0] - t >= 0.39
        c.close()
    finally:
        s.close()


# ---- corrupt and packet_loss ---------------------------------------------------------------

def test_corrupt_flips_bits_keeps_length(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="corrupt", stream="upstream", attributes={"rate": 100000})
    data = bytes(range(256)) * 800  # 204800 bytes: ~20480 flips expected
    s = connect(addr)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    s.close()
    assert len(got) == len(data)
    flipped = sum(bin(a ^ b).count("1") for a, b in zip(got, data))
    assert 10000 <= flipped <= 30000, flipped


def test_corrupt_rate_zero_is_clean(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="corrupt", attributes={"rate": 0})
    s = connect(addr)
    s.sendall(b"clean" * 1000)
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"clean" * 1000
    s.close()


def test_packet_loss_all_and_share(proxy):
    msgs = 100

    def sender(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(msgs):
            c.sendall(b"m%03d......" % i)  # 10 bytes
            time.sleep(0.01)
    s = Server(sender)
    try:
        addr = proxy.create("p", s.addr)
        proxy.toxic("p", name="loss", type="packet_loss", attributes={"loss_rate": 100})
        c = connect(addr)
        assert recv_all(c) == b""  # everything dropped, the EOF still arrives
        c.close()
        proxy.json("POST", "/proxies/p/toxics/loss",
                   {"attributes": {"loss_rate": 50, "correlation": 50}}, expect=200)
        c = connect(addr)
        got = recv_all(c)
        c.close()
        assert 0.1 * msgs * 10 <= len(got) <= 0.9 * msgs * 10, len(got)
    finally:
        s.close()


# ---- attribute validation ------------------------------------------------------------------

@pytest.mark.parametrize("type_,attrs,name", [
    ("http_status", {"status": 99}, "status"),
    ("http_status", {"status": 600}, "status"),
    ("http_status", {"rate": 101}, "rate"),
    ("http_status", {"retry_after": -1}, "retry_after"),
    ("http_latency", {"latency": -5}, "latency"),
    ("http_body", {"truncate": -2}, "truncate"),
    ("http_body", {"keep_length": 2}, "keep_length"),
    ("http_body", {"garble": -1}, "garble"),
    ("refuse", {"rate": 101}, "rate"),
    ("refuse", {"reset": 2}, "reset"),
    ("slow_open", {"delay": -1}, "delay"),
    ("corrupt", {"rate": -1}, "rate"),
    ("packet_loss", {"loss_rate": 101}, "loss_rate"),
    ("packet_loss", {"correlation": -1}, "correlation"),
])
def test_bad_attributes_rejected(proxy, echo_server, type_, attrs, name):
    proxy.create("p", echo_server.addr)
    bad_attr(proxy, type_, attrs, name)


# ---- per-toxic counters: GET /proxies/{proxy}/toxics/{toxic}/stats --------------------------

def stats(proxy, toxic, name="p"):
    s = proxy.json("GET", f"/proxies/{name}/toxics/{toxic}/stats", expect=200)
    assert list(s) == ["name", "connections_seen", "connections_active", "bytes"], s
    assert s["name"] == toxic
    return s["connections_seen"], s["connections_active"], s["bytes"]


def round_trip(addr, n, s=None):
    """Send n bytes through the proxy to the echo server and read them back; returns the
    socket (left open)."""
    s = s or connect(addr)
    data = bytes(i % 251 for i in range(n))
    s.sendall(data)
    assert recv_exactly(s, n) == data
    return s


def test_toxic_stats_zero_when_nothing_connects(proxy, echo_server):
    proxy.create("p", echo_server.addr)
    proxy.toxic("p", name="lat", type="latency", attributes={"latency": 5})
    proxy.toxic("p", name="no", type="refuse")
    status, r, body = proxy.api("GET", "/proxies/p/toxics/lat/stats")
    assert status == 200 and r.getheader("Content-Type") == "application/json"
    assert body == b'{"name":"lat","connections_seen":0,"connections_active":0,"bytes":0}'
    assert stats(proxy, "no") == (0, 0, 0)
    # The toxic itself is shown as Toxiproxy shows it: no counters in it.
    assert "bytes" not in proxy.json("GET", "/proxies/p/toxics/lat", expect=200)


def test_toxic_stats_count_connections_and_exact_bytes_one_direction(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", name="lat", type="latency", attributes={"latency": 1})
    sizes = [1, 1000, 70000]  # 70000: more than one 32 KiB chunk
    for n in sizes:
        round_trip(addr, n).close()
    assert stats(proxy, "lat") == (3, 3, sum(sizes))  # echoed bytes only, not also the sent

    # Request and reply of different sizes: each toxic counts its own direction only.
    def answer(c):
        got = 0
        while got < 1234:
            d = c.recv(65536)
            if not d:
                return
            got += len(d)
        c.sendall(b"r" * 5678)
    srv = Server(answer)
    try:
        addr = proxy.create("q", srv.addr)
        proxy.toxic("q", name="up", type="latency", stream="upstream", attributes={"latency": 1})
        proxy.toxic("q", name="down", type="noop")
        for _ in range(2):
            s = connect(addr)
            s.sendall(b"u" * 1234)
            assert recv_exactly(s, 5678) == b"r" * 5678
            s.close()
        assert stats(proxy, "up", "q") == (2, 2, 2 * 1234)
        assert stats(proxy, "down", "q") == (2, 2, 2 * 5678)
    finally:
        srv.close()


def test_toxic_stats_toxicity_zero_is_seen_but_never_active(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", name="lat", type="latency", toxicity=0, attributes={"latency": 500})
    for _ in range(4):
        round_trip(addr, 100).close()
    assert stats(proxy, "lat") == (4, 0, 0)


def test_toxic_stats_refuse_counts_each_connection_once(proxy):
    srv = Server(greeter)
    try:
        addr = proxy.create("p", srv.addr)
        proxy.toxic("p", name="no", type="refuse")
        assert [outcome(addr) for _ in range(5)] == ["fin"] * 5
        assert stats(proxy, "no") == (5, 5, 0)
        # Let connections through: they are counted at accept, and not again when the
        # toxic's pass-through stage is made for them.
        proxy.json("PATCH", "/proxies/p/toxics/no", {"attributes": {"rate": 0}}, expect=200)
        assert [outcome(addr) for _ in range(3)] == ["ok"] * 3
        seen, active, _ = stats(proxy, "no")
        assert (seen, active) == (8, 8)
        # Toxicity 0: rolled for (seen), never won (the hook does not run).
        proxy.json("PATCH", "/proxies/p/toxics/no", {"attributes": {"rate": 100},
                                                     "toxicity": 0}, expect=200)
        assert [outcome(addr) for _ in range(2)] == ["ok"] * 2
        seen, active, _ = stats(proxy, "no")
        assert (seen, active) == (10, 8)
    finally:
        srv.close()


def test_toxic_stats_survive_updates_and_count_a_connection_once(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", name="lat", type="latency", attributes={"latency": 1})
    a = round_trip(addr, 300)
    assert stats(proxy, "lat") == (1, 1, 300)
    # An update remakes the stage on the open connection: counters kept, a not counted again.
    proxy.json("PATCH", "/proxies/p/toxics/lat", {"attributes": {"latency": 2}}, expect=200)
    assert stats(proxy, "lat") == (1, 1, 300)
    round_trip(addr, 200, a)
    round_trip(addr, 50).close()
    assert stats(proxy, "lat") == (2, 2, 550)
    a.close()

    # A connection that lost the roll and wins it after an update counts as active once,
    # however many updates follow. (Another proxy: a's end may still be closing in this one.)
    addr = proxy.create("q", echo_server.addr)
    proxy.toxic("q", name="maybe", type="latency", toxicity=0, attributes={"latency": 1})
    b = round_trip(addr, 10)
    assert stats(proxy, "maybe", "q") == (1, 0, 0)
    proxy.json("PATCH", "/proxies/q/toxics/maybe", {"toxicity": 1}, expect=200)
    round_trip(addr, 20, b)
    assert stats(proxy, "maybe", "q") == (1, 1, 20)
    for latency in (2, 3):
        proxy.json("PATCH", "/proxies/q/toxics/maybe", {"attributes": {"latency": latency}},
                   expect=200)
    round_trip(addr, 30, b)
    assert stats(proxy, "maybe", "q") == (1, 1, 50)
    b.close()


def test_toxic_stats_missing_proxy_or_toxic_and_other_methods(proxy, echo_server):
    proxy.create("p", echo_server.addr)
    proxy.toxic("p", name="lat", type="latency")
    for path, msg in (("/proxies/p/toxics/nope/stats", b"toxic not found"),
                      ("/proxies/nope/toxics/lat/stats", b"proxy not found")):
        status, r, body = proxy.api("GET", path)
        assert status == 404, path
        assert body == b'{"error":"%s","status":404}\n' % msg
        assert r.getheader("Content-Type") == "text/plain; charset=utf-8"
        # The same reply as the toxic's own route gives.
        assert (status, body) == proxy.api("GET", path[:-len("/stats")])[::2]
    for method in ("POST", "PATCH", "DELETE", "PUT", "HEAD"):
        status, r, body = proxy.api(method, "/proxies/p/toxics/lat/stats")
        assert (status, body) == (405, b""), method
        assert r.getheader("Content-Type") is None
    assert stats(proxy, "lat") == (0, 0, 0)  # DELETE above did not remove the toxic
    # Any other 5-segment path is still the router's 404.
    for path in ("/proxies/p/toxics/lat/stats/", "/proxies/p/toxics/lat/statsx",
                 "/proxies/p/toxics/lat/stats/x", "/proxies/p/toxic/lat/stats",
                 "/proxies/p/toxics/lat/Stats", "/version/a/b/c/stats"):
        status, _, body = proxy.api("GET", path)
        assert (status, body) == (404, b"404 page not found\n"), path


def test_toxic_deleted_under_traffic_while_stages_hold_data(proxy, echo_server):
    # Stages outlive their toxic (a retired stage's timer closes a loop turn later, a closing
    # connection's stages go with it): none may count into a freed toxic. Run it under the
    # ASan build to see a use after free.
    addr = proxy.create("p", echo_server.addr)
    deleted = threading.Event()
    errors = []

    def pump():
        try:
            while not deleted.is_set():
                s = connect(addr, timeout=20)
                for _ in range(20):
                    round_trip(addr, 4000, s)
                s.close()
        except Exception as e:  # noqa: BLE001 - expected once the proxy is deleted
            if not deleted.is_set():
                errors.append(e)

    threads = [threading.Thread(target=pump) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(30):
        stream = "upstream" if i % 2 else "downstream"
        proxy.toxic("p", name=f"t{i}", type="latency", stream=stream,
                    attributes={"latency": 20})
        proxy.toxic("p", name=f"s{i}", type="slicer", stream=stream,
                    attributes={"average_size": 100, "delay": 100})
        time.sleep(0.02)
        if i % 3 == 0:
            proxy.json("PATCH", f"/proxies/p/toxics/t{i}", {"toxicity": 0.5}, expect=200)
        assert proxy.api("DELETE", f"/proxies/p/toxics/t{i}")[0] == 204
        assert proxy.api("DELETE", f"/proxies/p/toxics/s{i}")[0] == 204
    # Connections closing with stages full, and the toxics going with the proxy.
    proxy.toxic("p", name="last", type="latency", attributes={"latency": 200})
    deadline = time.monotonic() + 10
    while stats(proxy, "last")[2] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    seen, active, held = stats(proxy, "last")
    assert seen >= 1 and active >= 1 and held > 0  # its stages hold data as the proxy goes
    deleted.set()
    assert proxy.api("DELETE", "/proxies/p")[0] == 204
    for t in threads:
        t.join(30)
    assert errors == []  # removing latency and slicer toxics keeps every byte
    assert proxy.proc.poll() is None
    assert proxy.api("GET", "/version")[0] == 200
