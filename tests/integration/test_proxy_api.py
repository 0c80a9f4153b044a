# SPDX-License-Identifier: MIT
"""`faultline proxy`: the Toxiproxy 2.x HTTP API, endpoint by endpoint, against the real binary
(see /work/shared/anchors/toxiproxy-api.md for what each reply must look like)."""
import json
import signal
import socket

import pytest

from proxyutil import Proxy, connect


def is_error(status, resp, payload, code, msg):
    assert status == code, (status, payload)
    assert resp.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert len(resp.getheader("X-Toxiproxy-Request-Id") or "") == 20
    assert payload == json.dumps({"error": msg, "status": code}, separators=(",", ":")).encode() \
        + b"\n"
    return True


def is_populate_error(status, resp, payload, code, msg):
    # /populate's own error shape (spec 6.9): JSON, no newline, a "proxies" key, no nosniff.
    assert status == code, (status, payload)
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("X-Content-Type-Options") is None
    assert payload == json.dumps({"error": msg, "status": code, "proxies": None},
                                 separators=(",", ":")).encode()
    return True


def test_startup_prints_address_and_seed_and_sigterm_exits_0(faultline, env):
    p = Proxy(faultline, env=env)
    assert p.seed_line.strip() == "faultline proxy: seed 42"
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(timeout=10) == 0
    p.stop()


def test_sigint_with_live_connection_exits_0(faultline, env, upstream):
    p = Proxy(faultline, env=env)
    addr = p.create("a", upstream.addr)
    s = connect(addr)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    p.proc.send_signal(signal.SIGINT)
    assert p.proc.wait(timeout=10) == 0
    assert s.recv(10) == b""
    p.stop()


def test_version(proxy):
    status, r, body = proxy.api("GET", "/version")
    assert status == 200
    assert r.getheader("Content-Type") == "application/json;charset=utf-8"
    assert body.startswith(b'{"version": "') and body.endswith(b'"}\n')
    assert len(r.getheader("X-Toxiproxy-Request-Id")) == 20


def test_proxy_create_get_list_delete(proxy, upstream):
    status, r, body = proxy.api("POST", "/proxies",
                                {"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.addr})
    assert status == 201
    assert r.getheader("Content-Type") == "application/json"
    assert not body.endswith(b"\n")
    p = json.loads(body)
    assert list(p) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert p["listen"].startswith("127.0.0.1:") and not p["listen"].endswith(":0")
    assert p["upstream"] == upstream.addr and p["enabled"] is True and p["toxics"] == []
    assert proxy.json("GET", "/proxies/db", expect=200) == p
    proxy.create("abc", upstream.addr)
    listing = proxy.json("GET", "/proxies", expect=200)
    assert list(listing) == ["abc", "db"]
    status, r, body = proxy.api("DELETE", "/proxies/db")
    assert status == 204 and body == b"" and r.getheader("Content-Type") is None
    assert is_error(*proxy.api("GET", "/proxies/db"), 404, "proxy not found")
    assert is_error(*proxy.api("DELETE", "/proxies/db"), 404, "proxy not found")


def test_empty_listing_is_an_object(proxy):
    status, _, body = proxy.api("GET", "/proxies")
    assert status == 200 and body == b"{}"


def test_proxy_create_errors_in_order(proxy, upstream):
    assert is_error(*proxy.api("POST", "/proxies", raw=""), 400, "bad request body: EOF")
    assert is_error(*proxy.api("POST", "/proxies", raw='{"name":"x",'), 400,
                    "bad request body: unexpected EOF")
    status, _, body = proxy.api("POST", "/proxies", raw="{bogus}")
    assert status == 400 and json.loads(body)["error"].startswith("bad request body: ")
    status, _, body = proxy.api("POST", "/proxies", {"name": 5, "upstream": "x:1"})
    assert status == 400 and "cannot unmarshal number" in json.loads(body)["error"]
    status, _, body = proxy.api("POST", "/proxies", {"name": "x", "upstream": "x:1",
                                                     "enabled": "yes"})
    assert status == 400 and "of type bool" in json.loads(body)["error"]
    assert is_error(*proxy.api("POST", "/proxies", {"upstream": "x:1"}), 400,
                    "missing required field: name")
    assert is_error(*proxy.api("POST", "/proxies", {"name": "x", "upstream": ""}), 400,
                    "missing required field: upstream")
    proxy.create("x", upstream.addr)
    assert is_error(*proxy.api("POST", "/proxies", {"name": "x", "upstream": "y:1"}), 409,
                    "proxy already exists")


def test_bind_failure_is_500_and_not_created(proxy, upstream):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    status, _, body = proxy.api("POST", "/proxies", {"name": "b", "upstream": upstream.addr,
                                                     "listen": f"127.0.0.1:{port}"})
    assert status == 500
    assert json.loads(body)["error"] == \
        f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    status, _, body = proxy.api("POST", "/proxies", {"name": "c", "upstream": upstream.addr,
                                                     "listen": "local373"})
    assert status == 500 and "missing port in address" in json.loads(body)["error"]
    assert proxy.json("GET", "/proxies", expect=200) == {}
    busy.close()


def test_go_json_rules(proxy, upstream):
    # Keys match case-insensitively; the last duplicate wins; null is the default; only the
    # first JSON value counts; unknown keys (toxics) are ignored.
    raw = ('{"NAME":"first","Name":"ci","Listen":"127.0.0.1:0","UpStream":"%s",'
           '"enabled":null,"toxics":[{"type":"latency"}]} trailing garbage' % upstream.addr)
    status, _, body = proxy.api("POST", "/proxies", raw=raw,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 201, body
    p = json.loads(body)
    assert p["name"] == "ci" and p["enabled"] is True and p["toxics"] == []
    t = proxy.json("POST", "/proxies/ci/toxics", expect=200,
                   raw='{"Type":"latency","STREAM":"UPSTREAM","Attributes":{"LATENCY":100}}')
    assert t == {"attributes": {"latency": 100, "jitter": 0}, "name": "latency_UPSTREAM",
                 "type": "latency", "stream": "UPSTREAM", "toxicity": 1}


def test_disabled_proxy_keeps_listen_as_given(proxy, upstream):
    p = proxy.json("POST", "/proxies", {"name": "d", "upstream": upstream.addr,
                                        "listen": "127.0.0.1:0", "enabled": False}, expect=201)
    assert p["listen"] == "127.0.0.1:0" and p["enabled"] is False


def test_router_404_405_and_browser_block(proxy, upstream):
    proxy.create("a", upstream.addr)
    for path in ("/proxies/", "/metrics", "/nope", "/proxies/a/toxics/", "/proxies/a/x"):
        status, r, body = proxy.api("GET", path)
        assert (status, body) == (404, b"404 page not found\n"), path
        assert r.getheader("Content-Type") == "text/plain; charset=utf-8"
        assert r.getheader("X-Content-Type-Options") == "nosniff"  # Go's http.Error
        assert r.getheader("X-Toxiproxy-Request-Id") is None
    for method, path in (("PUT", "/proxies"), ("HEAD", "/version"), ("OPTIONS", "/proxies"),
                         ("DELETE", "/reset"), ("POST", "/version"), ("GET", "/populate")):
        status, r, body = proxy.api(method, path)
        assert status == 405 and body == b"", (method, path)
        assert r.getheader("Content-Type") is None
        assert r.getheader("X-Toxiproxy-Request-Id") is None
    status, r, body = proxy.api("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert (status, body) == (403, b"User agent not allowed\n")
    assert r.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert r.getheader("X-Content-Type-Options") == "nosniff"
    status, _, _ = proxy.api("GET", "/nope", headers={"User-Agent": "Mozilla/5.0"})
    assert status == 404
    status, _, _ = proxy.api("GET", "/proxies", headers={"User-Agent": ""})
    assert status == 200


def test_unclean_paths_are_redirected_like_go(proxy, upstream):
    # Go's ServeMux redirects before Toxiproxy's router: a client whose base URL ends in "/"
    # sends //proxies and follows the 301.
    proxy.create("a", upstream.addr)
    for path, clean in (("//proxies", "/proxies"), ("/./proxies", "/proxies"),
                        ("/proxies/../version", "/version"), ("/proxies/a//toxics",
                                                              "/proxies/a/toxics"),
                        ("/proxies/.", "/proxies"), ("/proxies//", "/proxies/"), ("/..", "/"),
                        ("/proxies/a%2F..%2Fb", "/proxies/b"), ("//my%20x", "/my%20x")):
        status, r, body = proxy.api("GET", path)
        assert status == 301, path
        assert r.getheader("Location") == clean
        assert r.getheader("Content-Type") == "text/html; charset=utf-8"
        assert body == b'<a href="%s">Moved Permanently</a>.\n\n' % clean.encode()
        assert r.getheader("X-Toxiproxy-Request-Id") is None
    status, r, body = proxy.api("POST", "//proxies", {"name": "b", "upstream": upstream.addr})
    assert (status, body, r.getheader("Location")) == (301, b"", "/proxies")
    assert r.getheader("Content-Type") is None
    assert list(proxy.json("GET", "/proxies", expect=200)) == ["a"]


def test_go_type_errors_name_the_struct_go_would(proxy, upstream):
    proxy.create("p", upstream.addr)
    proxy.toxic("p", type="latency", name="lat")
    proxy.toxic("p", type="slicer", name="sl", attributes={"average_size": 10})
    pre = "bad request body: json: cannot unmarshal "
    # Integers beyond int64 are numbers to Go: refused by name for an integer field.
    assert is_error(*proxy.api("POST", "/proxies/p/toxics",
                               raw='{"type":"latency","attributes":{"latency":'
                                   '99999999999999999999}}'), 400,
                    pre + "number 99999999999999999999 into Go struct field "
                          "LatencyToxic.attributes.latency of type int64")
    assert is_error(*proxy.api("POST", "/proxies", raw='{"name":"q","upstream":"x",'
                                                       '"listen":-99999999999999999999}'), 400,
                    pre + "number into Go struct field Proxy.listen of type string")
    # slicer's fields are Go int, the others int64.
    assert is_error(*proxy.api("POST", "/proxies/p/toxics/sl",
                               {"attributes": {"delay": 1.5}}), 400,
                    pre + "number 1.5 into Go struct field SlicerToxic.attributes.delay of "
                          "type int")
    # An update decodes into an anonymous struct.
    assert is_error(*proxy.api("POST", "/proxies/p/toxics/lat", {"toxicity": "x"}), 400,
                    pre + "string into Go struct field .toxicity of type float32")
    assert is_error(*proxy.api("POST", "/proxies/p/toxics/lat", {"attributes": []}), 400,
                    pre + "array into Go struct field .attributes of type toxics.LatencyToxic")
    assert is_error(*proxy.api("POST", "/proxies/p/toxics/lat", []), 400,
                    pre + 'array into Go value of type struct { Attributes interface {} '
                          '"json:\\"attributes\\""; Toxicity float32 '
                          '"json:\\"toxicity\\"" }')


def test_names_are_percent_decoded(proxy, upstream):
    proxy.json("POST", "/proxies", {"name": "my proxy", "upstream": upstream.addr,
                                    "listen": "127.0.0.1:0"}, expect=201)
    assert proxy.json("GET", "/proxies/my%20proxy", expect=200)["name"] == "my proxy"
    proxy.json("POST", "/proxies", {"name": "a/b", "upstream": upstream.addr,
                                    "listen": "127.0.0.1:0"}, expect=201)
    assert proxy.api("GET", "/proxies/a%2Fb")[0] == 404
    assert proxy.api("GET", "/proxies/a/b")[0] == 404


def test_toxic_create_defaults_and_shapes(proxy, upstream):
    proxy.create("p", upstream.addr)
    expect = {
        "latency": {"latency": 0, "jitter": 0},
        "bandwidth": None,
        "slow_close": {"delay": 0},
        "timeout": {"timeout": 0},
        "reset_peer": {"timeout": 0},
        "slicer": None,
        "limit_data": {"bytes": 0},
        "noop": {},
    }
    for typ, attrs in expect.items():
        body = {"type": typ}
        if typ == "bandwidth":
            body["attributes"] = {"rate": 5}
            attrs = {"rate": 5}
        if typ == "slicer":
            body["attributes"] = {"average_size": 10}
            attrs = {"average_size": 10, "size_variation": 0, "delay": 0}
        status, r, raw = proxy.api("POST", "/proxies/p/toxics", body)
        assert status == 200, raw
        assert r.getheader("Content-Type") == "application/json"
        t = json.loads(raw)
        assert list(t) == ["attributes", "name", "type", "stream", "toxicity"]
        assert list(t["attributes"]) == list(attrs)
        assert t == {"attributes": attrs, "name": f"{typ}_downstream", "type": typ,
                     "stream": "downstream", "toxicity": 1}
    t = proxy.toxic("p", type="latency", stream="upstream", toxicity=0.5)
    assert t["name"] == "latency_upstream" and t["toxicity"] == 0.5
    assert b'"toxicity":0.5}' in proxy.api("GET", "/proxies/p/toxics/latency_upstream")[2]
    listing = proxy.json("GET", "/proxies/p/toxics", expect=200)
    assert listing[0]["name"] == "latency_upstream"  # upstream first
    assert [t["stream"] for t in listing[1:]] == ["downstream"] * 8
    assert proxy.json("GET", "/proxies/p", expect=200)["toxics"] == listing


def test_toxic_create_errors_and_order(proxy, upstream):
    proxy.create("p", upstream.addr)
    assert is_error(*proxy.api("POST", "/proxies/nope/toxics", {"type": "latency"}), 404,
                    "proxy not found")
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", raw=""), 400,
                    "bad request body: EOF")
    bad_stream = "stream was invalid, can be either upstream or downstream"
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {"type": "latency", "stream": ""}),
                    400, bad_stream)
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {"type": "latency",
                                                             "stream": "sideways"}),
                    400, bad_stream)
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {}), 400, "invalid toxic type")
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {"type": "packet_lost"}), 400,
                    "invalid toxic type")
    proxy.toxic("p", type="latency", name="lat")
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {"type": "slicer", "name": "lat",
                                                             "stream": "upstream"}),
                    409, "toxic already exists")
    # The type is checked before the name conflict.
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {"type": "bogus", "name": "lat"}),
                    400, "invalid toxic type")
    # The name conflict is checked before the attributes.
    assert proxy.api("POST", "/proxies/p/toxics",
                     {"type": "latency", "name": "lat", "attributes": {"latency": "x"}})[0] == 409
    for attrs, needle in (({"latency": "100"}, "cannot unmarshal string"),
                          ({"latency": 1.5}, "cannot unmarshal number 1.5"),
                          ({"latency": 2 ** 70}, "")):
        status, _, body = proxy.api("POST", "/proxies/p/toxics",
                                    {"type": "latency", "attributes": attrs})
        assert status == 400, body
        assert json.loads(body)["error"].startswith("bad request body: ")
        assert needle in json.loads(body)["error"]
    # Toxiproxy decodes a new toxic with a placeholder type first: that is the type named.
    assert is_error(*proxy.api("POST", "/proxies/p/toxics", {"type": "latency", "attributes": 5}),
                    400, "bad request body: json: cannot unmarshal number into Go struct field "
                         "ToxicWrapper.attributes of type toxics.NoopToxic")
    status, _, body = proxy.api("POST", "/proxies/p/toxics/lat", {"attributes": [1]})
    assert status == 400
    assert json.loads(body)["error"].endswith("attributes of type toxics.LatencyToxic")
    status, _, body = proxy.api("POST", "/proxies/p/toxics", {"type": "latency",
                                                              "toxicity": "1"})
    assert status == 400 and "toxicity" in json.loads(body)["error"]


@pytest.mark.parametrize("typ,attrs,name", [
    ("bandwidth", {"rate": 0}, "rate"),
    ("bandwidth", {"rate": -5}, "rate"),
    ("bandwidth", {}, "rate"),
    ("slicer", {"average_size": 0}, "average_size"),
    ("slicer", {"average_size": 10, "size_variation": -1}, "size_variation"),
    ("latency", {"latency": -1}, "latency"),
    ("latency", {"jitter": -1}, "jitter"),
    ("timeout", {"timeout": -1}, "timeout"),
    ("limit_data", {"bytes": -1}, "bytes"),
    ("slow_close", {"delay": -1}, "delay"),
])
def test_bad_attribute_values_are_400_naming_the_attribute(proxy, upstream, typ, attrs, name):
    proxy.create("p", upstream.addr)
    status, _, body = proxy.api("POST", "/proxies/p/toxics", {"type": typ, "attributes": attrs})
    assert status == 400, body
    assert f"attribute {name}" in json.loads(body)["error"]
    assert proxy.json("GET", "/proxies/p/toxics", expect=200) == []
    # The server is still alive and serving.
    assert proxy.api("GET", "/version")[0] == 200


def test_toxic_get_update_merge_delete(proxy, upstream):
    proxy.create("p", upstream.addr)
    proxy.toxic("p", type="latency", attributes={"latency": 100, "jitter": 10}, toxicity=0.5)
    path = "/proxies/p/toxics/latency_downstream"
    t = proxy.json("PATCH", path, {"attributes": {"latency": 200}, "name": "renamed",
                                   "type": "bandwidth", "stream": "upstream"}, expect=200)
    assert t == {"attributes": {"latency": 200, "jitter": 10}, "name": "latency_downstream",
                 "type": "latency", "stream": "downstream", "toxicity": 0.5}
    t = proxy.json("POST", path, {"toxicity": 1}, expect=200)
    assert t["attributes"] == {"latency": 200, "jitter": 10} and t["toxicity"] == 1
    assert proxy.json("GET", path, expect=200) == t
    status, _, body = proxy.api("PATCH", path, {"attributes": {"latency": -3}})
    assert status == 400 and "latency" in json.loads(body)["error"]
    assert proxy.json("GET", path, expect=200) == t
    assert is_error(*proxy.api("PATCH", "/proxies/p/toxics/nope", {}), 404, "toxic not found")
    assert is_error(*proxy.api("GET", "/proxies/p/toxics/nope"), 404, "toxic not found")
    assert is_error(*proxy.api("GET", "/proxies/q/toxics/nope"), 404, "proxy not found")
    status, r, body = proxy.api("DELETE", path)
    assert status == 204 and body == b""
    assert is_error(*proxy.api("DELETE", path), 404, "toxic not found")


def test_proxy_update_disable_enable_and_move(proxy, upstream):
    addr = proxy.create("p", upstream.addr)
    proxy.toxic("p", type="latency", attributes={"latency": 1})
    p = proxy.json("POST", "/proxies/p", {"enabled": False}, expect=200)
    assert p["enabled"] is False and p["listen"] == "%s:%d" % addr
    with pytest.raises(ConnectionRefusedError):
        connect(addr)
    p = proxy.json("PATCH", "/proxies/p", {"enabled": True}, expect=200)
    assert p["enabled"] is True and p["listen"] == "%s:%d" % addr  # the same port again
    s = connect(addr)
    s.sendall(b"hi")
    assert s.recv(2) == b"hi"
    p = proxy.json("PATCH", "/proxies/p", {"listen": "127.0.0.1:0", "NAME": "ignored"},
                   expect=200)
    assert p["name"] == "p" and p["listen"] != "%s:%d" % addr
    assert len(p["toxics"]) == 1  # toxics are kept
    assert s.recv(10) == b""  # the move closed the old connection
    assert is_error(*proxy.api("PATCH", "/proxies/nope", {}), 404, "proxy not found")
    assert is_error(*proxy.api("PATCH", "/proxies/p", raw="[1"), 400,
                    "bad request body: unexpected EOF")
    status, _, body = proxy.api("PATCH", "/proxies/p", {"listen": "nonsense"})
    assert status == 500 and "missing port" in json.loads(body)["error"]
    assert proxy.json("GET", "/proxies/p", expect=200)["enabled"] is True


def test_populate(proxy, upstream):
    status, r, body = proxy.api("POST", "/populate", [])
    assert (status, body) == (201, b'{"proxies":null}')
    assert r.getheader("Content-Type") == "application/json"
    assert is_populate_error(*proxy.api("POST", "/populate", {"name": "x"}), 400,
                             'bad request body: json: cannot unmarshal object into Go value of '
                             'type []struct { toxiproxy.Proxy; Enabled *bool '
                             '"json:\\"enabled\\"" }')
    assert is_populate_error(*proxy.api("POST", "/populate", raw=""), 400,
                             "bad request body: EOF")
    assert is_populate_error(*proxy.api("POST", "/populate", raw="[{bad"), 400,
                             "bad request body: invalid character 'b' looking for beginning "
                             "of object key string")
    # Validation happens before anything is created.
    assert is_populate_error(*proxy.api("POST", "/populate",
                                        [{"name": "a", "upstream": upstream.addr},
                                         {"upstream": upstream.addr}]),
                             400, "missing required field: name at proxy 2")
    assert is_populate_error(*proxy.api("POST", "/populate", [{"name": "a"}]), 400,
                             "missing required field: upstream at proxy 1")
    assert proxy.json("GET", "/proxies", expect=200) == {}
    body = [{"name": "a", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": upstream.addr, "listen": "127.0.0.1:0", "enabled": False}]
    out = proxy.json("POST", "/populate", body, expect=201)
    assert [p["name"] for p in out["proxies"]] == ["a", "b"]
    assert out["proxies"][1]["enabled"] is False
    a = out["proxies"][0]
    proxy.toxic("a", type="latency")
    # Unchanged (same resolved listen and upstream): kept with its toxics and state.
    same = [{"name": "a", "upstream": upstream.addr,
             "listen": a["listen"].replace("127.0.0.1", "localhost"), "enabled": False}]
    out = proxy.json("POST", "/populate", same, expect=201)
    assert out["proxies"][0]["enabled"] is True and len(out["proxies"][0]["toxics"]) == 1
    # Changed: replaced, toxics dropped.
    moved = [{"name": "a", "upstream": "127.0.0.1:1", "listen": a["listen"]}]
    out = proxy.json("POST", "/populate", moved, expect=201)
    assert out["proxies"][0]["toxics"] == [] and out["proxies"][0]["upstream"] == "127.0.0.1:1"
    # The first failure stops; earlier ones stay created and are reported.
    status, r, raw = proxy.api("POST", "/populate", [
        {"name": "c", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
        {"name": "d", "upstream": upstream.addr, "listen": "local373"},
        {"name": "e", "upstream": upstream.addr, "listen": "127.0.0.1:0"}])
    assert status == 500 and r.getheader("Content-Type") == "application/json"
    err = json.loads(raw)
    assert list(err) == ["error", "status", "proxies"] and err["status"] == 500
    assert "missing port in address" in err["error"]
    assert [p["name"] for p in err["proxies"]] == ["c"]
    assert sorted(proxy.json("GET", "/proxies", expect=200)) == ["a", "b", "c"]


def test_populate_same_name_twice_shows_the_replaced_one_stopped(proxy, upstream):
    out = proxy.json("POST", "/populate", [
        {"name": "q", "upstream": upstream.addr, "listen": "127.0.0.1:0"},
        {"name": "q", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:0"}], expect=201)
    assert [(p["name"], p["upstream"], p["enabled"]) for p in out["proxies"]] == \
        [("q", upstream.addr, False), ("q", "127.0.0.1:1", True)]
    assert proxy.json("GET", "/proxies/q", expect=200)["upstream"] == "127.0.0.1:1"


# Go's encoding/json wording for malformed bodies (what Toxiproxy answers, checked against a
# Toxiproxy server): status 400 in every case, the message after "bad request body: ".
@pytest.mark.parametrize("raw,msg", [
    ("{bad", "invalid character 'b' looking for beginning of object key string"),
    ("hello", "invalid character 'h' looking for beginning of value"),
    ('{"name":"x",}', "invalid character '}' looking for beginning of object key string"),
    ('{"name" "x"}', "invalid character '\"' after object key"),
    ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    ("[1 2]", "invalid character '2' after array element"),
    ('{"a":"\\q"}', "invalid character 'q' in string escape code"),
    ('{"a":"\\u12g4"}', "invalid character 'g' in \\u hexadecimal character escape"),
    ('{"a":"x\ny"}', "invalid character '\\n' in string literal"),
    ('{"a":-x}', "invalid character 'x' in numeric literal"),
    ('{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
    ('{"a":1ex}', "invalid character 'x' in exponent of numeric literal"),
    ('{"a":nulx}', "invalid character 'x' in literal null (expecting 'l')"),
    ("{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
    ('{"name":"x"', "unexpected EOF"),
    ("[1,", "unexpected EOF"),
    ("-", "unexpected EOF"),
])
def test_go_syntax_error_messages(proxy, raw, msg):
    assert is_error(*proxy.api("POST", "/proxies", raw=raw), 400, "bad request body: " + msg)


def test_reset_enables_and_clears_toxics(proxy, upstream):
    proxy.create("a", upstream.addr)
    proxy.create("b", upstream.addr)
    proxy.toxic("a", type="latency")
    proxy.toxic("b", type="slow_close", stream="upstream")
    proxy.json("POST", "/proxies/b", {"enabled": False}, expect=200)
    status, r, body = proxy.api("POST", "/reset", raw="ignored")
    assert status == 204 and body == b""
    listing = proxy.json("GET", "/proxies", expect=200)
    assert all(p["enabled"] and p["toxics"] == [] for p in listing.values())


def test_body_size_cap(proxy):
    status, _, body = proxy.api("POST", "/proxies", raw="[" + " " * (2 * 1024 * 1024) + "]")
    assert status == 413 and json.loads(body)["status"] == 413
    assert proxy.api("GET", "/version")[0] == 200


def test_keepalive_many_requests(proxy):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    for _ in range(50):
        conn.request("GET", "/proxies")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"{}"
    conn.close()


def test_config_file(faultline, env, tmp_path, upstream):
    cfg = tmp_path / "toxiproxy.json"
    cfg.write_text(json.dumps([{"name": "fromfile", "upstream": upstream.addr,
                                "listen": "127.0.0.1:0"}]))
    p = Proxy(faultline, "--config", str(cfg), env=env)
    try:
        got = p.json("GET", "/proxies", expect=200)
        assert list(got) == ["fromfile"]
        host, port = got["fromfile"]["listen"].rsplit(":", 1)
        s = connect((host, int(port)))
        s.sendall(b"ok")
        assert s.recv(2) == b"ok"
    finally:
        assert p.stop() == 0


@pytest.mark.parametrize("content,needle", [
    ("[{\"name\": \"x\"", ""),
    ("{\"name\": \"x\"}", "cannot unmarshal object"),
    ("[{\"upstream\": \"x:1\"}]", "missing required field: name at proxy 1"),
])
def test_bad_config_file_is_a_one_line_error(run, tmp_path, content, needle):
    cfg = tmp_path / "bad.json"
    cfg.write_text(content)
    r = run("proxy", "--port", "0", "--config", cfg, timeout=10)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(cfg) in lines[0] and needle in lines[0], r.stderr
    assert r.stdout == ""


def test_missing_config_file(run, tmp_path):
    r = run("proxy", "--port", "0", "--config", tmp_path / "nope.json", timeout=10)
    assert r.returncode == 2 and "nope.json" in r.stderr


def test_usage_errors(run):
    assert run("proxy", "--port", "70000").returncode == 2
    assert run("proxy", "--seed", "x").returncode == 2
    assert run("proxy", "extra").returncode == 2
    r = run("help", "proxy")
    assert r.returncode == 0 and "--config FILE" in r.stdout


def test_busy_api_port_exits_3(run, faultline, env):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    r = run("proxy", "--port", busy.getsockname()[1], timeout=10)
    assert r.returncode == 3 and "cannot listen" in r.stderr
    busy.close()


def test_toxic_limit_per_proxy(proxy, upstream):
    proxy.create("p", upstream.addr)
    for i in range(64):
        proxy.toxic("p", type="noop", name=f"n{i}")
    status, _, body = proxy.api("POST", "/proxies/p/toxics", {"type": "noop", "name": "x"})
    assert status == 400 and "too many toxics" in json.loads(body)["error"]


def test_malformed_requests_never_hurt_the_server(proxy, upstream):
    import random
    rnd = random.Random(7)
    proxy.create("p", upstream.addr)
    proxy.toxic("p", type="latency", name="t")
    atoms = ['{', '}', '[', ']', '"name"', '"type"', '"attributes"', '"latency"', ':', ',',
             '1', '-1', '1.5', '1e400', '99999999999999999999', 'null', 'true', '"x"',
             '"\\u0000"', '"\\ud800"', '\x00', '\xff', ' ', '"stream"', '"upstream"']
    paths = [("POST", "/proxies"), ("POST", "/proxies/p"), ("PATCH", "/proxies/p"),
             ("POST", "/proxies/p/toxics"), ("PATCH", "/proxies/p/toxics/t"),
             ("POST", "/populate")]
    for i in range(400):
        body = "".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 12)))
        method, path = paths[i % len(paths)]
        status, _, payload = proxy.api(method, path, raw=body.encode("utf-8", "surrogatepass"))
        assert status in (200, 201, 400, 404, 409, 500), (body, status, payload)
        if status >= 400:
            assert json.loads(payload)["status"] == status
    assert proxy.api("GET", "/version")[0] == 200


def test_proxy_limit(proxy):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    for i in range(1024):
        conn.request("POST", "/proxies", body=json.dumps(
            {"name": f"p{i}", "upstream": "127.0.0.1:1", "enabled": False}))
        r = conn.getresponse()
        assert r.status == 201, r.read()
        r.read()
    conn.close()
    status, _, body = proxy.api("POST", "/proxies", {"name": "one-more", "upstream": "x:1",
                                                     "enabled": False})
    assert status == 400 and "too many proxies" in json.loads(body)["error"]
    assert len(proxy.json("GET", "/proxies", expect=200)) == 1024


def test_reset_failure_is_500_and_keeps_toxics(proxy, upstream):
    host, port = proxy.create("a", upstream.addr)
    proxy.toxic("a", type="latency")
    proxy.json("POST", "/proxies/a", {"enabled": False}, expect=200)
    busy = socket.socket()
    busy.bind((host, port))
    busy.listen(1)
    try:
        assert is_error(*proxy.api("POST", "/reset"), 500,
                        f"listen tcp {host}:{port}: bind: address already in use")
        p = proxy.json("GET", "/proxies/a", expect=200)
        assert p["enabled"] is False and len(p["toxics"]) == 1
    finally:
        busy.close()
