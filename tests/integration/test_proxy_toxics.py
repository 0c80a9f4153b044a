# SPDX-License-Identifier: MIT
"""`faultline proxy`: the data path on real loopback sockets: each toxic's effect, live
changes, half-close, backpressure, and an API that answers while connections are stuck.
Timing checks use lower bounds only (an effect that should take >= N ms), never "fast
enough", so a loaded machine cannot make them flake."""
import socket
import threading
import time

import pytest

from proxyutil import Proxy, Server, connect, recv_all, recv_exactly, rtt


@pytest.fixture
def echo_server(upstream):
    return upstream  # conftest's echo server, under the name these tests read best with


def sender(payload, then_close=True):
    """A server that sends payload on connect, then closes (or waits for EOF)."""
    def handler(c):
        c.sendall(payload)
        if not then_close:
            while c.recv(65536):
                pass
    return handler


def test_plain_echo_many_connections(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    socks = [connect(addr) for _ in range(20)]
    for i, s in enumerate(socks):
        s.sendall(b"hello %d" % i)
    for i, s in enumerate(socks):
        assert recv_exactly(s, len(b"hello %d" % i)) == b"hello %d" % i
        s.close()


def test_large_transfer_intact(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    s = connect(addr)
    data = bytes(range(256)) * 40000  # ~10 MB
    t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
    t.start()
    got = recv_all(s)
    t.join()
    assert got == data


def test_latency_downstream(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="latency", attributes={"latency": 200})
    s = connect(addr)
    assert rtt(s) >= 0.19


def test_latencies_add_up(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="latency", stream="upstream", attributes={"latency": 150})
    proxy.toxic("p", type="latency", attributes={"latency": 150})
    proxy.toxic("p", type="latency", name="more", attributes={"latency": 100})
    s = connect(addr)
    assert rtt(s) >= 0.39


def test_latency_handshake_not_delayed_and_toxicity_zero(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="latency", attributes={"latency": 5000}, toxicity=0)
    s = connect(addr)
    assert rtt(s) < 4.0


def test_latency_keeps_order(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="latency", attributes={"latency": 50, "jitter": 40})
    s = connect(addr)
    msgs = [b"<%04d>" % i for i in range(200)]
    for m in msgs:
        s.sendall(m)
    assert recv_exactly(s, 6 * 200) == b"".join(msgs)


def test_bandwidth(proxy):
    data = b"x" * 200_000
    srv = Server(sender(data))
    addr = proxy.create("p", srv.addr)
    proxy.toxic("p", type="bandwidth", attributes={"rate": 100})  # 100 KB/s
    s = connect(addr)
    t = time.monotonic()
    got = recv_all(s)
    assert got == data
    assert time.monotonic() - t >= 1.8
    srv.close()


def test_slow_close(proxy):
    srv = Server(sender(b"bye"))
    addr = proxy.create("p", srv.addr)
    proxy.toxic("p", type="slow_close", attributes={"delay": 300})
    s = connect(addr)
    t = time.monotonic()
    assert recv_exactly(s, 3) == b"bye"
    assert s.recv(10) == b""
    assert time.monotonic() - t >= 0.28
    srv.close()


def test_timeout_closes_after_idle_and_drops_data(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="timeout", stream="upstream", attributes={"timeout": 300})
    s = connect(addr)
    t = time.monotonic()
    s.sendall(b"dropped")
    assert s.recv(100) == b""  # no echo: the data was dropped; then EOF
    assert time.monotonic() - t >= 0.28


def test_timeout_zero_is_a_black_hole(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="timeout", attributes={"timeout": 0})
    s = connect(addr, timeout=1.0)
    s.sendall(b"hello")
    with pytest.raises(socket.timeout):
        s.recv(10)


def test_deleting_timeout_toxic_closes_its_connections(proxy):
    seen = threading.Event()

    def echo_and_tell(c):
        while True:
            d = c.recv(100)
            if not d:
                return
            seen.set()
            c.sendall(d)

    srv = Server(echo_and_tell)
    addr = proxy.create("p", srv.addr)
    proxy.toxic("p", type="timeout", attributes={"timeout": 0})
    s = connect(addr, timeout=5)
    s.sendall(b"x")
    assert seen.wait(10)  # the connection is up (its echo is black-holed)
    assert proxy.api("DELETE", "/proxies/p/toxics/timeout_downstream")[0] == 204
    assert s.recv(10) == b""


def test_reset_peer(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    s = connect(addr)  # opened before the toxic: the RST must still come
    proxy.toxic("p", type="reset_peer", stream="upstream", attributes={"timeout": 200})
    t = time.monotonic()
    s.sendall(b"trigger")
    with pytest.raises(ConnectionResetError):
        while s.recv(100):
            pass
    assert time.monotonic() - t >= 0.18


def test_reset_peer_leaves_idle_connections(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="reset_peer", stream="upstream", attributes={"timeout": 0})
    s = connect(addr, timeout=0.5)
    with pytest.raises(socket.timeout):
        s.recv(10)


def test_slicer_splits_and_keeps_bytes(proxy):
    data = bytes(range(256)) * 4  # 1024 bytes in one write
    srv = Server(sender(data))
    addr = proxy.create("p", srv.addr)
    proxy.toxic("p", type="slicer", attributes={"average_size": 100, "size_variation": 20,
                                                "delay": 30000})
    s = connect(addr)
    t = time.monotonic()
    reads = 0
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        reads += 1
    assert buf == data
    # At least 8 pieces, 30 ms apart: at least 7 gaps.
    assert time.monotonic() - t >= 0.2
    assert reads >= 4
    srv.close()


def test_limit_data(proxy):
    srv = Server(sender(b"a" * 1200, then_close=False))
    addr = proxy.create("p", srv.addr)
    proxy.toxic("p", type="limit_data", attributes={"bytes": 1000})
    s = connect(addr)
    assert recv_all(s) == b"a" * 1000
    srv.close()


def test_limit_data_count_survives_update(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="limit_data", attributes={"bytes": 10})
    s = connect(addr)
    assert rtt(s, b"123456") < 30
    proxy.json("PATCH", "/proxies/p/toxics/limit_data_downstream",
               {"attributes": {"bytes": 12}}, expect=200)
    s.sendall(b"abcdefgh")
    assert recv_all(s) == b"abcdef"


def test_noop(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="noop")
    s = connect(addr)
    s.sendall(b"same")
    assert recv_exactly(s, 4) == b"same"


def test_live_toxic_add_and_remove(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    s = connect(addr)
    rtt(s)
    proxy.toxic("p", type="latency", attributes={"latency": 300})
    assert rtt(s) >= 0.29
    # An update applies too, and the in-flight chunk is not lost.
    proxy.json("PATCH", "/proxies/p/toxics/latency_downstream",
               {"attributes": {"latency": 400}}, expect=200)
    assert rtt(s) >= 0.39
    s.sendall(b"in-flight")
    time.sleep(0.05)
    assert proxy.api("DELETE", "/proxies/p/toxics/latency_downstream")[0] == 204
    assert recv_exactly(s, 9) == b"in-flight"
    assert rtt(s) < 30


def test_half_close_is_propagated(proxy):
    def reply_after_eof(c):
        req = recv_all(c)
        c.sendall(b"RESPONSE:" + req)

    srv = Server(reply_after_eof)
    addr = proxy.create("p", srv.addr)
    s = connect(addr)
    s.sendall(b"req")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"RESPONSE:req"
    srv.close()


def test_server_eof_half_closes_client(proxy):
    # The server half-closes first and then reads: the client can still talk to it.
    got = []

    def half_then_read(c):
        c.sendall(b"hello")
        c.shutdown(socket.SHUT_WR)
        got.append(recv_all(c))

    srv = Server(half_then_read)
    addr = proxy.create("p", srv.addr)
    s = connect(addr)
    assert recv_all(s) == b"hello"
    s.sendall(b"still here")
    s.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got == [b"still here"]
    srv.close()


def test_upstream_down_closes_client(proxy):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = "127.0.0.1:%d" % probe.getsockname()[1]
    probe.close()
    addr = proxy.create("p", dead)
    s = connect(addr)
    assert s.recv(10) == b""


def test_disable_and_delete_close_connections(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    s = connect(addr)
    rtt(s)
    proxy.json("POST", "/proxies/p", {"enabled": False}, expect=200)
    assert s.recv(10) == b""
    proxy.json("POST", "/proxies/p", {"enabled": True}, expect=200)
    s = connect(addr)
    rtt(s)
    assert proxy.api("DELETE", "/proxies/p")[0] == 204
    assert s.recv(10) == b""


def test_backpressure_bounds_memory_and_api_stays_live(faultline, env):
    # Under AddressSanitizer freed chunks sit in a quarantine that RSS would count.
    env = dict(env)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")
    proxy = Proxy(faultline, env=env)
    try:
        _backpressure(proxy)
    finally:
        assert proxy.stop() == 0


def _backpressure(proxy):
    total = 200 * 1024 * 1024
    sent = [0]
    done = threading.Event()

    def firehose(c):
        chunk = b"z" * (1 << 20)
        c.settimeout(60)
        try:
            while sent[0] < total:
                n = c.send(chunk[: min(len(chunk), total - sent[0])])
                sent[0] += n
        finally:
            done.set()

    srv = Server(firehose)
    addr = proxy.create("p", srv.addr)
    base = proxy.rss_kib()
    s = connect(addr, timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    # The client does not read. Wait until the upstream stalls.
    last, still = -1, 0
    while still < 10:
        time.sleep(0.1)
        still = still + 1 if sent[0] == last else 0
        last = sent[0]
    assert sent[0] < total // 4, "the proxy swallowed data it cannot deliver"
    assert proxy.rss_kib() - base < 64 * 1024, "RSS grew with a reader that does not read"
    # The API answers while this connection is stuck.
    t = time.monotonic()
    assert proxy.api("GET", "/proxies", timeout=5)[0] == 200
    assert proxy.api("POST", "/proxies/p/toxics", {"type": "latency"}, timeout=5)[0] == 200
    assert proxy.api("DELETE", "/proxies/p/toxics/latency_downstream", timeout=5)[0] == 204
    assert time.monotonic() - t < 5
    # Now read it all: every byte arrives, and memory stayed bounded throughout.
    got = 0
    peak = 0
    while got < total:
        d = s.recv(1 << 20)
        assert d, "EOF before all data"
        got += len(d)
        if got % (16 << 20) < len(d):
            peak = max(peak, proxy.rss_kib() - base)
    assert got == total
    assert peak < 64 * 1024
    assert done.wait(10)
    srv.close()


def test_api_answers_while_connections_are_black_holed(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="timeout", attributes={"timeout": 0})
    proxy.toxic("p", type="bandwidth", stream="upstream", attributes={"rate": 1})
    socks = [connect(addr) for _ in range(10)]
    for s in socks:
        s.sendall(b"x" * 100_000)
    t = time.monotonic()
    for _ in range(20):
        assert proxy.api("GET", "/proxies/p", timeout=5)[0] == 200
    assert time.monotonic() - t < 5
    assert proxy.api("POST", "/reset", timeout=5)[0] == 204


def test_seed_makes_toxicity_reproducible(faultline, env, echo_server):
    def pattern():
        p = Proxy(faultline, env=env)
        try:
            addr = p.create("p", echo_server.addr)
            # Applied: the first byte closes the connection; not applied: it is echoed.
            p.toxic("p", type="limit_data", stream="upstream", attributes={"bytes": 0},
                    toxicity=0.5)
            out = []
            for _ in range(16):
                s = connect(addr, timeout=30)
                s.sendall(b"?")
                out.append(s.recv(1) == b"?")
                s.close()
            return out
        finally:
            p.stop()

    first = pattern()
    assert first == pattern()
    assert True in first and False in first


def test_latency_jitter_lower_bound(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="latency", attributes={"latency": 200, "jitter": 100})
    s = connect(addr)
    for _ in range(5):
        assert rtt(s) >= 0.095


def test_reset_peer_toxicity_zero_never_resets(proxy, echo_server):
    addr = proxy.create("p", echo_server.addr)
    proxy.toxic("p", type="reset_peer", stream="upstream", attributes={"timeout": 0},
                toxicity=0)
    s = connect(addr)
    assert rtt(s, b"still echoed") < 30
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b""  # a clean FIN, not ConnectionResetError


def test_limit_data_upstream(proxy):
    got = []

    def collect(c):
        got.append(recv_all(c))

    srv = Server(collect)
    addr = proxy.create("p", srv.addr)
    proxy.toxic("p", type="limit_data", stream="upstream", attributes={"bytes": 500})
    s = connect(addr)
    s.sendall(b"u" * 300)
    time.sleep(0.05)
    s.sendall(b"v" * 300)
    assert recv_all(s) == b""  # the proxy closed the connection
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got == [b"u" * 300 + b"v" * 200]
    srv.close()


def test_toxic_churn_under_traffic_keeps_every_byte_in_order(proxy, echo_server):
    # The reference's recurring bug class: changing toxics while data flows hangs the API or
    # loses data. Here the chain is rebuilt dozens of times mid-stream.
    addr = proxy.create("p", echo_server.addr)
    s = connect(addr, timeout=60)
    data = bytes((i * 7 + i // 256) & 0xFF for i in range(8 * 1024 * 1024))
    got = []
    reader = threading.Thread(target=lambda: got.append(recv_all(s)))
    reader.start()
    writer = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
    writer.start()
    kinds = [("latency", {"latency": 5, "jitter": 3}), ("slicer", {"average_size": 2048,
                                                                   "size_variation": 512}),
             ("noop", {}), ("bandwidth", {"rate": 200000})]
    for i in range(40):
        typ, attrs = kinds[i % len(kinds)]
        stream = "upstream" if i % 2 else "downstream"
        name = f"t{i % 6}"
        status, _, _ = proxy.api("DELETE", f"/proxies/p/toxics/{name}", timeout=5)
        assert status in (204, 404)
        proxy.json("POST", "/proxies/p/toxics", {"name": name, "type": typ, "stream": stream,
                                                 "attributes": attrs}, expect=200, timeout=5)
        if i % 3 == 0:
            proxy.json("PATCH", f"/proxies/p/toxics/{name}", {"toxicity": 0.5}, expect=200,
                       timeout=5)
        time.sleep(0.01)
    assert proxy.api("POST", "/reset", timeout=5)[0] == 204
    writer.join(60)
    reader.join(60)
    assert got and got[0] == data


def test_client_vanishing_mid_stream_does_not_kill_the_proxy(proxy):
    def flood(c):
        chunk = b"f" * 65536
        try:
            for _ in range(2000):
                c.sendall(chunk)
        except OSError:
            pass

    srv = Server(flood)
    addr = proxy.create("p", srv.addr)
    for _ in range(5):
        s = connect(addr)
        s.recv(1000)
        # Unread data in the receive buffer: close() sends an RST, and the proxy's next
        # write to this client fails (EPIPE/ECONNRESET), which must not be fatal.
        s.close()
        time.sleep(0.1)
    assert proxy.proc.poll() is None
    assert proxy.api("GET", "/version")[0] == 200
    srv.close()
