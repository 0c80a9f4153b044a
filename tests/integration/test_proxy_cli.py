# SPDX-License-Identifier: MIT
"""`faultline proxy` as a client (list/create/toggle/delete/inspect/toxic), toxics in --config,
and /metrics: each test starts the real server and drives it through real sockets."""
import json
import re
import socket
import subprocess
import time

import pytest

from proxyutil import Proxy, Server, connect, free_port, rtt


@pytest.fixture
def cli(faultline, env, proxy):
    """cli(args...) -> CompletedProcess of `faultline proxy ARGS` aimed at the test's server."""

    def _cli(*args, api=None, extra_env=None, timeout=30):
        e = dict(env)
        e.pop("FAULTLINE_PROXY_API", None)
        e.update(extra_env or {})
        cmd = [faultline, "proxy", *map(str, args)]
        if api is not False:
            cmd += ["--api", api or f"127.0.0.1:{proxy.port}"]
        return subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)

    return _cli


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == ""
    return r.stdout


def one_error(r, code, text):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr == f"faultline: error: {text}\n"
    assert r.stdout == ""


# ---- the client ------------------------------------------------------------------------------


def test_list_empty_then_table(cli, upstream):
    assert ok(cli("list")) == "no proxies\n"
    ok(cli("create", "redis", "--listen", "127.0.0.1:0", "--upstream", upstream.addr))
    ok(cli("create", "api", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"))
    lines = ok(cli("list")).splitlines()
    assert lines[0].split() == ["NAME", "LISTEN", "UPSTREAM", "ENABLED", "TOXICS"]
    assert [line.split()[0] for line in lines[1:]] == ["api", "redis"]
    row = lines[2].split()
    assert row[2] == upstream.addr and row[3:] == ["yes", "0"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", row[1])


def test_list_json_is_the_api_body(cli, proxy, upstream):
    proxy.create("a", upstream.addr)
    out = ok(cli("list", "--json"))
    _, _, body = proxy.api("GET", "/proxies")
    assert out == body.decode() + "\n"


def test_create_then_traffic_flows(cli, upstream):
    out = ok(cli("create", "redis", "--listen", "127.0.0.1:0", "--upstream", upstream.addr))
    m = re.fullmatch(r"created proxy redis: 127\.0\.0\.1:(\d+) -> (\S+)\n", out)
    assert m and m.group(2) == upstream.addr
    s = connect(("127.0.0.1", int(m.group(1))))
    rtt(s)
    s.close()


def test_create_json_and_conflict(cli, proxy, upstream):
    p = json.loads(ok(cli("create", "a", "--listen", "127.0.0.1:0", "--upstream",
                          upstream.addr, "--json")))
    assert p["name"] == "a" and p["enabled"] is True and p["toxics"] == []
    r = cli("create", "a", "--listen", "127.0.0.1:0", "--upstream", upstream.addr)
    one_error(r, 1, "HTTP 409: proxy already exists")


def test_inspect_shows_proxy_and_toxics(cli, proxy, upstream):
    proxy.create("db", upstream.addr)
    proxy.toxic("db", type="latency", stream="upstream", attributes={"latency": 100})
    out = ok(cli("inspect", "db"))
    assert "name:      db\n" in out
    assert f"upstream:  {upstream.addr}\n" in out
    assert "enabled:   yes\n" in out
    assert re.search(r"latency_upstream\s+latency\s+upstream\s+1\s+latency=100 jitter=0", out)
    j = json.loads(ok(cli("inspect", "db", "--json")))
    assert j["toxics"][0]["attributes"] == {"latency": 100, "jitter": 0}


def test_toggle_disables_and_enables(cli, proxy, upstream):
    addr = proxy.create("t", upstream.addr)
    assert ok(cli("toggle", "t")) == "proxy t is now disabled\n"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr, timeout=5)
    assert json.loads(ok(cli("toggle", "t", "--json")))["enabled"] is True
    s = connect(addr)  # re-enabled on the same port
    rtt(s)
    s.close()


def test_delete(cli, proxy, upstream):
    proxy.create("gone", upstream.addr)
    assert ok(cli("delete", "gone")) == "deleted proxy gone\n"
    assert proxy.json("GET", "/proxies", expect=200) == {}
    one_error(cli("delete", "gone"), 1, "HTTP 404: proxy not found")


def test_names_are_percent_encoded(cli, proxy, upstream):
    ok(cli("create", "my proxy?", "--listen", "127.0.0.1:0", "--upstream", upstream.addr))
    assert "name:      my proxy?\n" in ok(cli("inspect", "my proxy?"))
    ok(cli("toxic", "add", "my proxy?", "--type", "noop", "--name", "n 1%"))
    ok(cli("toxic", "remove", "my proxy?", "n 1%"))
    ok(cli("delete", "my proxy?"))


def test_toxic_add_update_remove_changes_traffic(cli, proxy, upstream):
    addr = proxy.create("lat", upstream.addr)
    out = ok(cli("toxic", "add", "lat", "--type", "latency", "--stream", "down",
                 "-a", "latency=150", "--name", "slow"))
    assert out.startswith("added toxic slow on proxy lat\n")
    assert re.search(r"slow\s+latency\s+downstream\s+1\s+latency=150 jitter=0", out)
    s = connect(addr)
    assert rtt(s) >= 0.14
    out = ok(cli("toxic", "update", "lat", "slow", "-a", "latency=0", "--toxicity", "0.5"))
    assert re.search(r"slow\s+latency\s+downstream\s+0\.5\s+latency=0 jitter=0", out)
    assert ok(cli("toxic", "remove", "lat", "slow")) == "removed toxic slow from proxy lat\n"
    assert rtt(s) < 0.1
    assert proxy.json("GET", "/proxies/lat/toxics", expect=200) == []
    s.close()


def test_toxic_add_json_defaults_and_upstream(cli, proxy, upstream):
    proxy.create("p", upstream.addr)
    t = json.loads(ok(cli("toxic", "add", "p", "--type", "bandwidth", "--stream", "up",
                          "-a", "rate=10", "--toxicity", "0.25", "--json")))
    assert t == {"attributes": {"rate": 10}, "name": "bandwidth_upstream", "type": "bandwidth",
                 "stream": "upstream", "toxicity": 0.25}
    t = json.loads(ok(cli("toxic", "update", "p", "bandwidth_upstream", "-a", "rate=20",
                          "--json")))
    assert t["attributes"] == {"rate": 20} and t["toxicity"] == 0.25


def test_toxic_stats_one_line_and_json(cli, proxy, upstream):
    addr = proxy.create("my p", upstream.addr)
    proxy.json("POST", "/proxies/my%20p/toxics", {"name": "slow 1", "type": "latency",
                                                  "attributes": {"latency": 1}}, expect=200)
    assert ok(cli("toxic", "stats", "my p", "slow 1")) == "slow 1: 0 connections (0 seen), 0B\n"
    s = connect(addr)
    s.sendall(b"x" * 42200)
    got = b""
    while len(got) < 42200:
        got += s.recv(65536)
    s.close()
    assert ok(cli("toxic", "stats", "my p", "slow 1")) == \
        "slow 1: 1 connection (1 seen), 41.21KiB\n"
    out = ok(cli("toxic", "stats", "my p", "slow 1", "--json"))
    _, _, body = proxy.api("GET", "/proxies/my%20p/toxics/slow%201/stats")
    assert out == body.decode() + "\n"
    assert json.loads(out) == {"name": "slow 1", "connections_seen": 1,
                               "connections_active": 1, "bytes": 42200}
    one_error(cli("toxic", "stats", "my p", "nope"), 1, "HTTP 404: toxic not found")
    one_error(cli("toxic", "stats", "nope", "slow 1"), 1, "HTTP 404: proxy not found")


def test_api_errors_are_one_line_exit_1(cli, proxy, upstream):
    proxy.create("p", upstream.addr)
    one_error(cli("inspect", "nope"), 1, "HTTP 404: proxy not found")
    one_error(cli("toxic", "add", "p", "--type", "bogus"), 1, "HTTP 400: invalid toxic type")
    one_error(cli("toxic", "add", "p", "--type", "slicer", "-a", "average_size=0"), 1,
              "HTTP 400: invalid attribute average_size: must be at least 1 (got 0)")
    one_error(cli("toxic", "update", "p", "nope", "-a", "latency=1"), 1,
              "HTTP 404: toxic not found")
    one_error(cli("toxic", "remove", "p", "nope"), 1, "HTTP 404: toxic not found")
    ok(cli("toxic", "add", "p", "--type", "noop"))
    one_error(cli("toxic", "add", "p", "--type", "noop"), 1, "HTTP 409: toxic already exists")
    one_error(cli("toxic", "add", "p", "--type", "latency", "-a", "latency=1.5"), 1,
              "HTTP 400: bad request body: json: cannot unmarshal number 1.5 into Go struct "
              "field LatencyToxic.attributes.latency of type int64")


def test_unreachable_api_exits_3(cli):
    r = cli("list", api=f"127.0.0.1:{free_port()}")
    assert r.returncode == 3, r
    assert re.fullmatch(r"faultline: error: cannot reach the proxy API at 127\.0\.0\.1:\d+: "
                        r"Connection refused\n", r.stderr)


def test_not_an_http_api_exits_1(cli):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def junk():
        c, _ = srv.accept()
        c.recv(4096)
        c.sendall(b"hello\r\n\r\n")
        c.close()

    import threading
    threading.Thread(target=junk, daemon=True).start()
    r = cli("list", api="127.0.0.1:%d" % srv.getsockname()[1])
    srv.close()
    assert r.returncode == 1 and "is not HTTP" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["create", "x", "--upstream", "127.0.0.1:1"],
     "proxy create: --listen ADDR is required (e.g. 127.0.0.1:0)"),
    (["create", "x", "--listen", "127.0.0.1:0"],
     "proxy create: --upstream ADDR is required (e.g. 127.0.0.1:6379)"),
    (["toxic", "add", "p", "--type", "latency", "-a", "latency"],
     "-a 'latency': expected KEY=NUMBER (e.g. -a latency=100)"),
    (["toxic", "add", "p", "--type", "latency", "-a", "latency=fast"],
     "-a 'latency=fast': expected KEY=NUMBER (e.g. -a latency=100)"),
    (["toxic", "add", "p", "--type", "latency", "--stream", "sideways"],
     "--stream 'sideways': expected up or down"),
    (["toxic", "add", "p", "--type", "latency", "--toxicity", "2"],
     "--toxicity '2': expected a probability 0-1"),
    (["toxic", "update", "p", "t"],
     "proxy toxic update: nothing to change (give -a KEY=VALUE or --toxicity F)"),
    (["toxic", "frobnicate"],
     "proxy toxic: unknown action 'frobnicate' (expected add, update, remove or stats)"),
    (["toxic"], "proxy toxic: expected add, update, remove or stats"),
    (["toxic", "stats", "p"], "proxy toxic stats NAME TOXIC: missing argument (usage: "
     "faultline proxy toxic stats NAME TOXIC)"),
    (["toxic", "stats", "p", "t", "-a", "latency=1"],
     "proxy toxic stats: -a does not apply here (try 'faultline help proxy')"),
    (["inspect"], "proxy inspect NAME: missing argument (usage: faultline proxy inspect NAME)"),
    (["list", "extra"], "proxy list: too many arguments (usage: faultline proxy list)"),
    (["list", "--listen", "127.0.0.1:0"],
     "proxy list: --listen does not apply here (try 'faultline help proxy')"),
    (["delete", "x", "--bogus"],
     "proxy delete: unknown or incomplete option '--bogus' (try 'faultline help proxy')"),
    (["-q", "list"], "proxy: options go after the subcommand ('faultline proxy list [options]')"),
    (["frobnicate"], "proxy: unknown subcommand 'frobnicate' (expected serve, list, create, "
     "toggle, delete, inspect or toxic)"),
])
def test_usage_errors_exit_2(faultline, env, args, msg):
    r = subprocess.run([faultline, "proxy", *args], env=env, capture_output=True, text=True,
                       timeout=30)
    one_error(r, 2, msg)


def test_toxic_add_without_type_lists_the_registry(faultline, env):
    r = subprocess.run([faultline, "proxy", "toxic", "add", "p"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    m = re.fullmatch(r"faultline: error: proxy toxic add: --type T is required \(one of: "
                     r"([a-z_, ]+)\)\n", r.stderr)
    assert m, r.stderr
    types = m.group(1).split(", ")
    assert {"latency", "bandwidth", "timeout", "noop"} <= set(types)
    help_text = subprocess.run([faultline, "help", "proxy"], env=env, capture_output=True,
                               text=True, timeout=30).stdout
    for t in types:
        assert re.search(rf"^  {t} ", help_text, re.M), t


def test_bad_api_address_exits_2(faultline, env):
    for spec in ["nonsense", "127.0.0.1:", "127.0.0.1:99999", ":8474"]:
        r = subprocess.run([faultline, "proxy", "list", "--api", spec], env=env,
                           capture_output=True, text=True, timeout=30)
        one_error(r, 2, f"--api '{spec}': expected HOST:PORT (e.g. 127.0.0.1:8474)")
    e = dict(env, FAULTLINE_PROXY_API="nope")
    r = subprocess.run([faultline, "proxy", "list"], env=e, capture_output=True, text=True,
                       timeout=30)
    one_error(r, 2, "FAULTLINE_PROXY_API 'nope': expected HOST:PORT (e.g. 127.0.0.1:8474)")


def test_env_var_and_flag_precedence(cli, proxy, upstream):
    proxy.create("e", upstream.addr)
    mine = {"FAULTLINE_PROXY_API": f"127.0.0.1:{proxy.port}"}
    assert "e " in ok(cli("list", api=False, extra_env=mine))
    assert "e " in ok(cli("list", api=False, extra_env={
        "FAULTLINE_PROXY_API": f"http://localhost:{proxy.port}/"}))
    # --api wins over the environment.
    bad = {"FAULTLINE_PROXY_API": f"127.0.0.1:{free_port()}"}
    assert "e " in ok(cli("list", extra_env=bad))
    assert cli("list", api=False, extra_env=bad).returncode == 3


def test_serve_alias_and_flags_still_serve(faultline, env):
    for argv in (["proxy", "serve", "--port", "0"], ["proxy", "--port", "0", "--seed", "3"]):
        p = subprocess.Popen([faultline, *argv], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert re.match(r"faultline proxy: API listening on 127\.0\.0\.1:\d+", line), line
        p.terminate()
        assert p.wait(timeout=10) == 0
        p.stdout.close()
        p.stderr.close()


def test_help_lists_client_commands(faultline, env):
    for argv in (["help", "proxy"], ["proxy", "list", "--help"], ["proxy", "toxic", "--help"]):
        r = subprocess.run([faultline, *argv], env=env, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0
        assert "faultline proxy toxic add NAME --type T" in r.stdout
        assert "--runtime-metrics" in r.stdout


# ---- toxics in --config ----------------------------------------------------------------------


def write_config(tmp_path, proxies):
    path = tmp_path / "proxies.json"
    path.write_text(json.dumps(proxies))
    return str(path)


def test_config_toxics_are_created(faultline, env, tmp_path, upstream):
    cfg = write_config(tmp_path, [
        {"name": "slow", "listen": "127.0.0.1:0", "upstream": upstream.addr,
         "toxics": [{"type": "latency", "attributes": {"latency": 150}},
                    {"type": "bandwidth", "name": "bw", "stream": "upstream",
                     "toxicity": 0.5, "attributes": {"rate": 1000}}]},
        {"name": "plain", "listen": "127.0.0.1:0", "upstream": upstream.addr, "toxics": None},
    ])
    p = Proxy(faultline, "--config", cfg, env=env)
    try:
        slow = p.json("GET", "/proxies/slow", expect=200)
        assert [(t["name"], t["stream"], t["toxicity"]) for t in slow["toxics"]] == [
            ("bw", "upstream", 0.5), ("latency_downstream", "downstream", 1)]
        assert p.json("GET", "/proxies/plain/toxics", expect=200) == []
        s = connect(("127.0.0.1", int(slow["listen"].rsplit(":", 1)[1])))
        assert rtt(s) >= 0.14
        s.close()
    finally:
        assert p.stop() == 0


@pytest.mark.parametrize("toxics,msg", [
    ([{"type": "latency"}, {"type": "nope"}], "toxic 2 (type nope): invalid toxic type"),
    ([{"type": "slicer", "name": "sl", "attributes": {"average_size": 0}}],
     "toxic sl: invalid attribute average_size: must be at least 1 (got 0)"),
    ([{"type": "latency"}, {"type": "latency"}],
     "toxic 2 (type latency): toxic already exists"),
    ([{"type": "latency", "attributes": {"latency": "1s"}}],
     "toxic 1 (type latency): json: cannot unmarshal string into Go struct field "
     "LatencyToxic.attributes.latency of type int64"),
    ([7], "toxic 1: json: cannot unmarshal number into Go value of type toxics.ToxicWrapper"),
    ({"type": "latency"}, "\"toxics\" must be an array of toxics (got object)"),
])
def test_config_bad_toxic_is_one_line_exit_2(faultline, env, tmp_path, toxics, msg):
    cfg = write_config(tmp_path, [
        {"name": "ok", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"},
        {"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9", "toxics": toxics}])
    r = subprocess.run([faultline, "proxy", "--port", "0", "--config", cfg], env=env,
                       capture_output=True, text=True, timeout=30)
    one_error(r, 2, f"{cfg}: proxy db: {msg}")


def test_populate_api_still_ignores_toxics(proxy, upstream):
    # Toxiproxy's /populate ignores the key; only --config honours it.
    body = [{"name": "a", "listen": "127.0.0.1:0", "upstream": upstream.addr,
             "toxics": [{"type": "latency"}]}]
    res = proxy.json("POST", "/populate", body, expect=201)
    assert res["proxies"][0]["toxics"] == []


# ---- /metrics --------------------------------------------------------------------------------


def test_metrics_is_404_without_flags(proxy):
    status, r, body = proxy.api("GET", "/metrics")
    assert (status, body) == (404, b"404 page not found\n")


def test_proxy_metrics_families(faultline, env):
    p = Proxy(faultline, "--proxy-metrics", env=env)
    try:
        status, r, body = p.api("GET", "/metrics")
        assert status == 200
        assert r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
        text = body.decode()
        assert "# TYPE toxiproxy_proxy_received_bytes_total counter\n" in text
        assert "# TYPE toxiproxy_proxy_sent_bytes_total counter\n" in text
        assert 'promhttp_metric_handler_errors_total{cause="encoding"} 0\n' in text
        assert "process_" not in text
        # Any method, and the browser block applies.
        assert p.api("POST", "/metrics")[0] == 200
        assert p.api("GET", "/metrics", headers={"User-Agent": "Mozilla/5.0"})[0] == 403
    finally:
        assert p.stop() == 0


def test_runtime_metrics_values(faultline, env, upstream):
    p = Proxy(faultline, "--runtime-metrics", env=env)
    try:
        p.create("a", upstream.addr)
        p.toxic("a", type="noop")
        text = p.api("GET", "/metrics")[2].decode()
        vals = dict(re.findall(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M))
        assert float(vals["process_resident_memory_bytes"]) > 1e6
        assert float(vals["process_open_fds"]) >= 3
        assert float(vals["process_max_fds"]) >= float(vals["process_open_fds"])
        assert abs(float(vals["process_start_time_seconds"]) - time.time()) < 120
        assert float(vals["process_cpu_seconds_total"]) >= 0
        assert vals["faultline_proxy_proxies"] == "1"
        assert vals["faultline_proxy_toxics"] == "1"
        assert any(k.startswith("faultline_build_info{") for k in vals)
        assert "toxiproxy_proxy_received_bytes_total" not in text
    finally:
        assert p.stop() == 0


def test_proxy_metrics_count_bytes_per_direction(faultline, env):
    # Two connections, each pushing UP bytes to the server and DOWN bytes back; the counters
    # appear when each connection ends and sum over connections of the same label set.
    UP, DOWN = 100_003, 70_001

    def sink_then_reply(c):
        got = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        assert got == UP
        c.sendall(b"d" * DOWN)

    server = Server(sink_then_reply)
    p = Proxy(faultline, "--proxy-metrics", env=env)
    try:
        addr = p.create("m", server.addr)
        listener = f"127.0.0.1:{addr[1]}"
        for _ in range(2):
            s = connect(addr)
            s.sendall(b"u" * UP)
            s.shutdown(socket.SHUT_WR)
            got = 0
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += len(d)
            s.close()
            assert got == DOWN
        labels = f'listener="{listener}",proxy="m",upstream="{server.addr}"'
        want = {
            f'toxiproxy_proxy_received_bytes_total{{direction="upstream",{labels}}}': 2 * UP,
            f'toxiproxy_proxy_sent_bytes_total{{direction="upstream",{labels}}}': 2 * UP,
            f'toxiproxy_proxy_received_bytes_total{{direction="downstream",{labels}}}': 2 * DOWN,
            f'toxiproxy_proxy_sent_bytes_total{{direction="downstream",{labels}}}': 2 * DOWN,
        }
        deadline = time.monotonic() + 10
        while True:
            text = p.api("GET", "/metrics")[2].decode()
            vals = dict(re.findall(r"^(toxiproxy_\w+\{[^}]*\}) (\S+)$", text, re.M))
            got = {k: int(v) for k, v in vals.items()}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert got == want, text
        assert server.errors == []
    finally:
        server.close()
        assert p.stop() == 0


def test_busy_poll_option_keeps_traffic_exact(faultline, env, upstream):
    p = Proxy(faultline, "--busy-poll", "200us", env=env)
    try:
        front = p.create("bp", upstream.addr)
        with connect(front) as s:
            for size in (1, 100, 70000):
                payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
                s.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    chunk = s.recv(65536)
                    assert chunk
                    got += chunk
                assert got == payload
    finally:
        p.stop()


def test_busy_poll_refuses_a_bad_duration(faultline, env):
    r = subprocess.run([faultline, "proxy", "--busy-poll", "forever"], env=env,
                       capture_output=True, text=True, timeout=10)
    one_error(r, 2, "--busy-poll: expected a duration up to 100ms like 200us, got 'forever'")
