# SPDX-License-Identifier: MIT
"""`faultline proxy` against a real Toxiproxy server, request by request.

Each case starts a fresh `faultline proxy` and a fresh `toxiproxy-server`, sends both the same
sequence of requests and compares every reply: status, Content-Type, X-Content-Type-Options,
whether the body ends in a newline, and the body itself (parsed JSON with key ORDER kept, or
the raw bytes when it is not JSON).

The reference is Toxiproxy 2.x as /work/shared/anchors/toxiproxy-api.md describes it. The
server binary we compare with is a 2.4.0 build, so the differences between 2.4 and that
document, and the places where faultline deliberately refuses what crashes Toxiproxy, are
listed in KNOWN_DIFFERENCES below; every other difference fails the test.

Needs a toxiproxy-server binary: FAULTLINE_TOXIPROXY=/path/to/toxiproxy-server. Without it
the whole module is skipped (CI has no such binary).
"""
import http.client
import json
import os
import re
import socket
import subprocess
import time
from typing import NamedTuple, Optional

import pytest

from proxyutil import Proxy, free_port

TOXIPROXY = os.environ.get("FAULTLINE_TOXIPROXY", "")
if not (TOXIPROXY and os.path.isfile(TOXIPROXY) and os.access(TOXIPROXY, os.X_OK)):
    pytest.skip("set FAULTLINE_TOXIPROXY to a toxiproxy-server binary to compare",
                allow_module_level=True)

# ---------------------------------------------------------------------------------------------
# The expected differences. A step names one of these keys in `known=` to say how it differs;
# nothing else may differ.
#
# Always normalised away, for every request (no key needed):
#   * "Logger":{} in faultline's proxy objects: faultline follows the spec (§3.1, present from
#     v2.8.0); 2.4 does not have the field. It is removed from faultline's JSON.
#   * X-Toxiproxy-Request-Id: added in 2.5.0 (spec §11), so 2.4 never sends it. Not compared.
#   * Listen ports: each server gets its own block of fixed listen ports ({L1}..{L8} in the
#     requests); both sides map their block back to "L1".."L8", and any other port in a
#     "listen" value (ephemeral, from ":0" or "") becomes "EPH".
KNOWN_DIFFERENCES = {
    "version": "2.4 answers /version with the bare version as text/plain; the JSON form "
               '{"version": "..."}\\n of the spec (§6.11) came in 2.7.0. Only the status is '
               "compared.",
    "patch": "PATCH on a proxy or toxic is an update from 2.6.0 on (spec §2.6, §11); 2.4 "
             "answers 405. faultline's PATCH reply is compared with Toxiproxy's reply to the "
             "same request sent as POST, which the spec says behaves the same.",
    "browser-unknown-path": "2.4 runs the browser User-Agent check before routing, so an "
                            "unknown path gives 403; the spec (§2.5) says 404. faultline's "
                            "reply is checked against the spec instead.",
    "populate-placeholder": "for a proxy that /populate leaves unchanged, 2.4 puts an "
                            "unregistered placeholder (enabled:false, toxics:[]) in the reply; "
                            "the spec (§6.9, §11) returns the stored proxy. enabled/toxics of "
                            "those entries are not compared (a GET afterwards is).",
    "validation": "faultline refuses attribute values that crash or hang Toxiproxy with 400 "
                  "(spec §12 defects: bandwidth rate <= 0, including a missing rate; slicer "
                  "average_size 0; negative values); Toxiproxy accepts them. faultline must "
                  "answer a 400 error; Toxiproxy's reply (and its state afterwards) is not "
                  "compared, so such a step is always the last of its case.",
}

N_PORTS = 8                      # listen ports per server: {L1}..{L8}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}


class Step(NamedTuple):
    method: str
    path: str
    body: Optional[str] = None         # raw request body; {L1} {UP} {UP2} {BUSY} are filled in
    headers: Optional[dict] = None     # a None value drops that header (e.g. no User-Agent)
    known: Optional[str] = None        # a KNOWN_DIFFERENCES key
    unchanged: tuple = ()              # populate-placeholder: names left unchanged


def GET(path, **kw):
    return Step("GET", path, **kw)


def POST(path, body="", **kw):
    return Step("POST", path, body, **kw)


def DELETE(path, **kw):
    return Step("DELETE", path, **kw)


def PATCH(path, body="", **kw):
    return Step("PATCH", path, body, known="patch", **kw)


def js(value):
    """Compact JSON text, as clients send it."""
    return json.dumps(value, separators=(",", ":"))


def proxy_body(name, port=None, listen=None, upstream="127.0.0.1:{UP}", **extra):
    """A POST /proxies body; port=N listens on {LN}."""
    body = {"name": name}
    if port is not None:
        body["listen"] = "127.0.0.1:{L%d}" % port
    elif listen is not None:
        body["listen"] = listen
    body["upstream"] = upstream
    body.update(extra)
    return body


def create(name, port, **extra):
    return POST("/proxies", js(proxy_body(name, port, **extra)))


P1 = create("p1", 1)


def case(id_, *steps, marks=()):
    validation = [i for i, s in enumerate(steps) if s.known == "validation"]
    assert validation in ([], [len(steps) - 1]), f"{id_}: a validation step must come last"
    return pytest.param(list(steps), id=id_, marks=marks)


# ---------------------------------------------------------------------------------------------
# Running both servers.

class Toxiproxy:
    """toxiproxy-server on a free API port; stopped by terminate, then kill, of its Popen."""

    def __init__(self, binary):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "-host", "127.0.0.1", "-port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, LOG_LEVEL="fatal"))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"toxiproxy-server did not start on {self.port}")
                time.sleep(0.01)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Side(NamedTuple):
    name: str
    api_port: int
    listen_ports: list     # {L1} is listen_ports[0]
    busy: int              # {BUSY}, a port in use


def _distinct_free_ports(n, taken):
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in taken and p not in ports:
            ports.append(p)
    return ports


@pytest.fixture
def busy():
    """A port somebody already listens on: binding a proxy there fails."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def sides(faultline, env, upstream, busy):
    tp = Toxiproxy(TOXIPROXY)
    fl = None
    try:
        fl = Proxy(faultline, env=env)
        taken = {tp.port, fl.port, busy, int(upstream.addr.rsplit(":", 1)[1])}
        fl_ports = _distinct_free_ports(N_PORTS, taken)
        tp_ports = _distinct_free_ports(N_PORTS, taken | set(fl_ports))
        fixed = {"UP": upstream.addr.rsplit(":", 1)[1], "BUSY": str(busy),
                 "UP2": str(_distinct_free_ports(1, taken | set(fl_ports) | set(tp_ports))[0])}
        yield (Side("faultline", fl.port, fl_ports, busy),
               Side("toxiproxy", tp.port, tp_ports, busy), fixed)
    finally:
        tp.stop()
        if fl is not None:
            assert fl.stop() == 0


# ---------------------------------------------------------------------------------------------
# Requests and normalisation.

def fill(text, side, fixed):
    """Put the side's listen ports and the shared ports into a request template."""
    if text is None:
        return None

    def rep(m):
        key = m.group(1)
        if key.startswith("L"):
            return str(side.listen_ports[int(key[1:]) - 1])
        return fixed[key]
    return re.sub(r"\{(L\d+|UP2|UP|BUSY)\}", rep, text)


def call(side, fixed, step, method=None):
    headers = {"User-Agent": "faultline-tests"}
    headers.update(step.headers or {})
    headers = {k: v for k, v in headers.items() if v is not None}
    body = fill(step.body, side, fixed)
    conn = http.client.HTTPConnection("127.0.0.1", side.api_port, timeout=10)
    try:
        conn.request(method or step.method, fill(step.path, side, fixed),
                     body=body.encode() if body is not None else None, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.getheader("X-Content-Type-Options"), \
            r.read()
    finally:
        conn.close()


def _ports(text, side):
    """This side's listen ports -> L1..L8, so both sides read the same."""
    def rep(m):
        p = int(m.group(1))
        return ":L%d" % (side.listen_ports.index(p) + 1) if p in side.listen_ports else m.group(0)
    return re.sub(r":(\d+)\b", rep, text)


def _object(pairs):
    """object_pairs_hook: a JSON object as ("{}", [(key, value), ...]), so key order counts
    and an empty object never equals an empty array."""
    return ("{}", list(pairs))


def _walk(value, side):
    """Normalise parsed JSON: ports, "Logger", ephemeral listen ports."""
    if isinstance(value, str):
        return _ports(value, side)
    if isinstance(value, list):
        return [_walk(x, side) for x in value]
    if isinstance(value, tuple):                                     # an object
        out = []
        for k, v in value[1]:
            if k == "Logger" and side.name == "faultline":
                continue                    # always-normalised difference (see above)
            v = _walk(v, side)
            if k == "listen" and isinstance(v, str):
                v = _ephemeral(v, side)
            out.append((k, v))
        return ("{}", out)
    return value


def _ephemeral(listen, side):
    """An ephemeral port in a listen address -> EPH. The fixed ports are L1..L8 by now; the
    busy port and a literal 0 (a disabled proxy keeps its listen as given) stay."""
    m = re.fullmatch(r"(.*):(\d+)", listen)
    if m and m.group(2) not in ("0", str(side.busy)):
        return m.group(1) + ":EPH"
    return listen


def normalise(reply, side):
    status, ctype, nosniff, body = reply
    text = body.decode("utf-8", "replace")
    try:
        parsed = ("json", _walk(json.loads(text, object_pairs_hook=_object), side))
        # Parsing hides layout, so also compare the whitespace outside strings (compact JSON,
        # and /version's '": "' in the spec).
        layout = re.findall(r"\s+", re.sub(r'"(?:[^"\\]|\\.)*"', '""', text))
    except ValueError:
        parsed = ("raw", _ports(text, side).encode())
        layout = None
    return {"status": status, "content-type": ctype, "x-content-type-options": nosniff,
            "trailing-newline": body.endswith(b"\n"), "whitespace": layout, "body": parsed}


def _blank_placeholders(reply, names):
    """populate-placeholder: enabled/toxics of the proxies 2.4 does not return as stored."""
    kind, obj = reply["body"]
    if kind != "json" or not isinstance(obj, tuple) or not obj[1] or obj[1][0][0] != "proxies":
        return reply
    proxies = []
    for tag, p in obj[1][0][1] or []:
        if dict(p).get("name") in names:
            p = [(k, "<not compared>" if k in ("enabled", "toxics") else v) for k, v in p]
        proxies.append((tag, p))
    return dict(reply, body=("json", ("{}", [("proxies", proxies)] + obj[1][1:])))


def is_error_reply(reply, status):
    """faultline's handler error shape (spec §2.3)."""
    code, ctype, nosniff, body = reply
    assert code == status, reply
    assert ctype == "text/plain; charset=utf-8" and nosniff == "nosniff", reply
    got = json.loads(body)
    assert list(got) == ["error", "status"] and got["status"] == status and body.endswith(b"\n")
    return got["error"]


def run_steps(sides, steps):
    fl, tp, fixed = sides
    for i, step in enumerate(steps):
        label = f"step {i + 1}: {step.method} {step.path} {step.body or ''}"
        got = call(fl, fixed, step)
        want = call(tp, fixed, step, method="POST" if step.known == "patch" else None)
        if step.known == "version":
            assert got[0] == want[0] == 200, label
            continue
        if step.known == "browser-unknown-path":
            assert want[0] == 403, (label, want)
            assert got[:2] == (404, "text/plain; charset=utf-8"), (label, got)
            assert got[3] == b"404 page not found\n", (label, got)
            continue
        if step.known == "validation":
            assert "invalid attribute" in is_error_reply(got, 400), (label, got)
            continue
        g, w = normalise(got, fl), normalise(want, tp)
        if step.known == "populate-placeholder":
            g, w = _blank_placeholders(g, step.unchanged), _blank_placeholders(w, step.unchanged)
        else:
            assert step.known in (None, "patch"), step.known
        assert g == w, f"{label}\n faultline: {got}\n toxiproxy: {want}"


# ---------------------------------------------------------------------------------------------
# The cases. Setup requests are compared too: each is a request like any other.

# Bodies that are not valid JSON (or not JSON at all): the "bad request body: ..." text must be
# Go's encoding/json wording, byte for byte.
MALFORMED = {
    "brace-bad": "{bad",
    "brace-bad-closed": "{bad}",
    "word": "hello",
    "trailing-comma": '{"name":"x",}',
    "missing-colon": '{"name" "x"}',
    "array-no-comma": "[1 2]",
    "bad-escape": r'{"a":"\q"}',
    "truncated": '{"name":"x"',
    "truncated-after-colon": '{"name":',
    "empty": "",
    "blank": "   ",
    "control-char": '{"name":"a\x01"}',
    "bad-literal": "nul",
    "single-quotes": "{'name':'x'}",
    "number": "123",
    "string": '"p"',
    "leading-zero": '{"name":"x","enabled":01}',
}

TOXICS = {  # type -> attributes with every key set
    "latency": {"latency": 100, "jitter": 10},
    "bandwidth": {"rate": 100},
    "slow_close": {"delay": 300},
    "timeout": {"timeout": 500},
    "reset_peer": {"timeout": 10},
    "slicer": {"average_size": 10, "size_variation": 5, "delay": 100},
    "limit_data": {"bytes": 1000},
    "noop": {},
}
# Types whose all-zero defaults faultline refuses (KNOWN_DIFFERENCES["validation"]).
ZERO_DEFAULT_REFUSED = {"bandwidth", "slicer"}

T1 = "/proxies/p1/toxics"

CASES = [
    # --- /version and GET /proxies
    case("version", GET("/version", known="version")),
    case("list-empty", GET("/proxies")),
    case("create-list-show", P1, GET("/proxies"), GET("/proxies/p1"), create("p0", 2),
         create("my proxy", 3), GET("/proxies"), GET("/proxies/my%20proxy")),

    # --- POST /proxies
    case("create-duplicate", P1, P1, create("p1", 2), GET("/proxies")),
    case("create-missing-name", POST("/proxies", js({"upstream": "127.0.0.1:{UP}"}))),
    case("create-empty-name", POST("/proxies", js(proxy_body("", 1)))),
    case("create-missing-upstream", POST("/proxies", js({"name": "px",
                                                         "listen": "127.0.0.1:{L1}"}))),
    case("create-empty-upstream", POST("/proxies", js(proxy_body("px", 1, upstream="")))),
    case("create-missing-both", POST("/proxies", "{}")),
    case("create-name-number", POST("/proxies", '{"name":1,"upstream":"x:1"}')),
    case("create-array-body", POST("/proxies", "[]")),
    case("create-enabled-string", POST("/proxies", js(proxy_body("px", 1, enabled="yes")))),
    case("create-enabled-number", POST("/proxies", js(proxy_body("px", 1, enabled=1)))),
    case("create-port-in-use", POST("/proxies", js(proxy_body("pb", listen="127.0.0.1:{BUSY}"))),
         GET("/proxies/pb"), GET("/proxies")),
    case("create-listen-nonsense", POST("/proxies", js(proxy_body("pn", listen="nonsense"))),
         POST("/proxies", js(proxy_body("pn", listen="127.0.0.1"))), GET("/proxies")),
    case("create-disabled", create("pd", 1, enabled=False),
         POST("/proxies", js(proxy_body("pd0", listen="127.0.0.1:0", enabled=False))),
         GET("/proxies")),
    case("create-enabled-null", create("pn", 1, enabled=None), GET("/proxies/pn")),
    case("create-case-insensitive-keys",
         POST("/proxies", '{"NAME":"pc","LISTEN":"127.0.0.1:{L1}","UpStream":"127.0.0.1:{UP}",'
                          '"Enabled":true}'), GET("/proxies/pc")),
    case("create-duplicate-key-and-trailing-garbage",
         POST("/proxies", '{"name":"zz","name":"pk","listen":"127.0.0.1:{L1}",'
                          '"upstream":"127.0.0.1:{UP}"} trailing'), GET("/proxies")),
    case("create-toxics-key-ignored", create("pt", 1, toxics=[{"type": "latency"}]),
         GET("/proxies/pt/toxics")),
    case("create-ephemeral-listen", POST("/proxies", js(proxy_body("pe", listen="127.0.0.1:0"))),
         POST("/proxies", js(proxy_body("pa", listen=""))),
         POST("/proxies", js(proxy_body("pz", listen=":0"))), GET("/proxies")),
    case("create-listen-localhost", POST("/proxies", js(proxy_body("pl",
                                                                   listen="localhost:{L1}")))),
    case("create-form-content-type", POST("/proxies", js(proxy_body("pf", 1)), headers={
        "Content-Type": "application/x-www-form-urlencoded"})),
    *[case(f"create-malformed-{k}", POST("/proxies", v)) for k, v in MALFORMED.items()],

    # --- GET / POST / PATCH / DELETE /proxies/{name}
    case("proxy-unknown", GET("/proxies/nope"), POST("/proxies/nope", "{}"),
         DELETE("/proxies/nope"), GET("/proxies/nope/toxics")),
    case("proxy-update", P1,
         POST("/proxies/p1", '{"enabled":false}'), GET("/proxies/p1"),
         POST("/proxies/p1", '{"enabled":true}'),
         POST("/proxies/p1", '{"upstream":"127.0.0.1:{UP2}"}'),
         POST("/proxies/p1", '{"listen":"127.0.0.1:{L2}"}'), GET("/proxies"),
         POST("/proxies/p1", '{"listen":"127.0.0.1:{L1}","upstream":"127.0.0.1:{UP}"}'),
         POST("/proxies/p1", "{}"), POST("/proxies/p1", '{"name":"renamed"}'),
         POST("/proxies/p1", '{"Enabled":false}'), GET("/proxies")),
    case("proxy-update-keeps-toxics", P1, POST(T1, '{"type":"latency"}'),
         POST("/proxies/p1", '{"listen":"127.0.0.1:{L2}"}'), GET("/proxies/p1")),
    case("proxy-update-errors", P1, POST("/proxies/p1", "{bad"), POST("/proxies/p1", ""),
         POST("/proxies/p1", '{"enabled":"no"}'), POST("/proxies/p1", "hello"),
         POST("/proxies/p1", '{"enabled":true'), GET("/proxies/p1")),
    case("proxy-update-listen-busy", create("p1", 1, enabled=False),
         POST("/proxies/p1", '{"listen":"127.0.0.1:{BUSY}","enabled":true}'),
         GET("/proxies/p1"),
         POST("/proxies/p1", '{"listen":"127.0.0.1:{L3}","enabled":true}'), GET("/proxies/p1")),
    case("proxy-patch", P1, PATCH("/proxies/p1", '{"enabled":false}'), GET("/proxies/p1"),
         PATCH("/proxies/nope", "{}")),
    case("proxy-delete", P1, DELETE("/proxies/p1"), DELETE("/proxies/p1"), GET("/proxies/p1"),
         GET("/proxies")),

    # --- toxics, every type
    *[case(f"toxic-{t}-defaults", P1,
           POST(T1, js({"type": t}), known="validation" if t in ZERO_DEFAULT_REFUSED else None),
           *([] if t in ZERO_DEFAULT_REFUSED else [GET(T1), GET("/proxies/p1")]))
      for t in TOXICS],
    *[case(f"toxic-{t}-named-upstream", P1,
           POST(T1, js({"name": f"{t}_n", "type": t, "stream": "upstream", "attributes": a})),
           GET(f"{T1}/{t}_n"), GET(T1))
      for t, a in TOXICS.items()],
    *[case(f"toxic-{t}-unnamed-downstream", P1,
           POST(T1, js({"type": t, "stream": "downstream", "toxicity": 0.5, "attributes": a})),
           GET(f"{T1}/{t}_downstream"), GET("/proxies"))
      for t, a in TOXICS.items()],
    # String values for integer attributes: Go names the struct, field and Go type.
    *[case(f"toxic-{t}-string-attribute", P1,
           POST(T1, js({"type": t, "attributes": {k: "abc"}})))
      for t, a in TOXICS.items() for k in list(a)[:1]],
    # Attributes that are not an object: the first decode (into a noop) already fails.
    *[case(f"toxic-{t}-attributes-{n}", P1, POST(T1, '{"type":"%s","attributes":%s}' % (t, v)))
      for t in ("latency", "noop") for n, v in (("number", "5"), ("array", "[]"),
                                                  ("string", '"x"'), ("bool", "true"))],
    case("toxic-attributes-null", P1, POST(T1, '{"type":"latency","attributes":null}'), GET(T1)),
    case("toxic-attributes-unknown-key", P1,
         POST(T1, '{"type":"latency","attributes":{"latency":5,"foo":1}}'), GET(T1)),
    case("toxic-attribute-fraction", P1,
         POST(T1, '{"type":"latency","attributes":{"latency":1.5}}')),
    case("toxic-attribute-overflow", P1,
         POST(T1, '{"type":"latency","attributes":{"latency":99999999999999999999}}'),
         POST(T1, '{"type":"slicer","attributes":{"average_size":-99999999999999999999}}'),
         POST("/proxies", '{"name":"big","upstream":"x","listen":99999999999999999999}')),
    case("toxic-case-insensitive-keys", P1,
         POST(T1, '{"Type":"latency","Name":"ci","Stream":"Upstream","Toxicity":1,'
                  '"Attributes":{"LATENCY":100,"Jitter":3}}'), GET(T1)),
    case("toxic-streams-and-order", P1,
         POST(T1, '{"type":"latency"}'), POST(T1, '{"type":"noop","stream":"upstream"}'),
         POST(T1, '{"type":"timeout","stream":"UPSTREAM"}'),
         POST(T1, '{"type":"limit_data","stream":"Downstream","attributes":{"bytes":5}}'),
         POST(T1, '{"type":"latency","stream":"upstream"}'), GET(T1), GET("/proxies/p1")),
    case("toxic-duplicates", P1, POST(T1, '{"type":"latency"}'),
         POST(T1, '{"type":"latency"}'),
         POST(T1, '{"name":"latency_downstream","type":"noop","stream":"upstream"}'),
         POST(T1, '{"type":"bogus","name":"latency_downstream"}'), GET(T1)),
    case("toxic-type-errors", P1, POST(T1, '{"type":"bogus"}'), POST(T1, '{"type":""}'),
         POST(T1, "{}"), POST(T1, '{"type":5}'), GET(T1)),
    case("toxic-stream-errors", P1, POST(T1, '{"type":"latency","stream":""}'),
         POST(T1, '{"type":"latency","stream":"sideways"}'),
         POST(T1, '{"type":"latency","stream":5}'), GET(T1)),
    case("toxic-toxicity-values", P1,
         *[POST(T1, '{"name":"t%d","type":"noop","toxicity":%s}' % (i, v))
           for i, v in enumerate(["0", "2", "0.1", "-1", "null", "1.5e0", "0.3", "1e-1"])],
         POST(T1, '{"name":"ts","type":"noop","toxicity":"x"}'), GET(T1)),
    case("toxic-null-fields", P1, POST(T1, '{"name":null,"type":"noop","stream":null}'),
         POST(T1, '{"name":5,"type":"noop"}'), GET(T1)),
    case("toxic-unknown-proxy", POST("/proxies/nope/toxics", '{"type":"latency"}'),
         GET("/proxies/nope/toxics/x"), POST("/proxies/nope/toxics/x", "{}"),
         DELETE("/proxies/nope/toxics/x")),
    *[case(f"toxic-malformed-{k}", P1, POST(T1, MALFORMED[k]))
      for k in ("brace-bad", "word", "trailing-comma", "truncated", "empty", "bad-escape")],

    # --- GET / POST / PATCH / DELETE on one toxic
    case("toxic-get-update-delete", P1,
         POST(T1, js({"name": "lat", "type": "latency", "stream": "upstream",
                      "attributes": {"latency": 100, "jitter": 10}})),
         GET(f"{T1}/lat"), GET(f"{T1}/nope"),
         POST(f"{T1}/lat", '{"attributes":{"latency":200}}'),
         POST(f"{T1}/lat", '{"toxicity":0.25}'),
         POST(f"{T1}/lat", '{"name":"x","type":"noop","stream":"downstream"}'),
         POST(f"{T1}/lat", '{"Attributes":{"JITTER":5},"Toxicity":0.5}'),
         POST(f"{T1}/lat", '{"attributes":{"latency":"x"}}'),
         POST(f"{T1}/lat", '{"attributes":{"latency":1.5}}'),
         POST(f"{T1}/lat", "{bad"), POST(f"{T1}/lat", ""),
         POST(f"{T1}/nope", "{}"), GET(f"{T1}/lat"),
         DELETE(f"{T1}/lat"), DELETE(f"{T1}/lat"), GET(f"{T1}/lat"), GET(T1)),
    case("toxic-patch", P1, POST(T1, '{"name":"lat","type":"latency"}'),
         PATCH(f"{T1}/lat", '{"attributes":{"jitter":1}}'), GET(f"{T1}/lat"),
         PATCH(f"{T1}/nope", "{}")),
    case("toxic-update-attributes-array", P1, POST(T1, '{"name":"bw","type":"bandwidth",'
                                                       '"attributes":{"rate":100}}'),
         POST(f"{T1}/bw", '{"attributes":[]}'), POST(f"{T1}/bw", '[]'),
         POST(f"{T1}/bw", '{"attributes":{"rate":99999999999999999999}}')),
    case("toxic-update-toxicity-string", P1, POST(T1, '{"name":"lat","type":"latency"}'),
         POST(f"{T1}/lat", '{"toxicity":"x"}')),

    # --- values faultline refuses on purpose (KNOWN_DIFFERENCES["validation"])
    *[case(f"refused-{t}-{k}-{v}", P1, POST(T1, js({"type": t, "attributes": {k: v}}),
                                            known="validation"))
      for t, k, v in [("bandwidth", "rate", 0), ("bandwidth", "rate", -1),
                      ("slicer", "average_size", 0), ("latency", "latency", -5),
                      ("latency", "jitter", -1), ("slow_close", "delay", -1),
                      ("timeout", "timeout", -1), ("limit_data", "bytes", -1)]],
    case("refused-update-rate-0", P1,
         POST(T1, '{"name":"bw","type":"bandwidth","attributes":{"rate":100}}'),
         POST(f"{T1}/bw", '{"attributes":{"rate":0}}', known="validation")),

    # --- POST /populate
    case("populate-new", POST("/populate", js([proxy_body("q1", 1),
                                               proxy_body("q2", 2, enabled=False)])),
         GET("/proxies")),
    case("populate-unchanged", POST("/populate", js([proxy_body("q1", 1),
                                                     proxy_body("q2", 2)])),
         POST("/proxies/q1/toxics", '{"type":"latency"}'),
         POST("/populate", js([proxy_body("q1", 1), proxy_body("q2", 2, enabled=False)]),
              known="populate-placeholder", unchanged=("q1", "q2")),
         GET("/proxies")),
    case("populate-changed", POST("/populate", js([proxy_body("q1", 1)])),
         POST("/proxies/q1/toxics", '{"type":"latency"}'),
         POST("/populate", js([proxy_body("q1", 1, upstream="127.0.0.1:{UP2}")])),
         GET("/proxies/q1")),
    case("populate-duplicate-names", POST("/populate", js([proxy_body("q", 1),
                                                           proxy_body("q", 2)])),
         GET("/proxies")),
    case("populate-missing-fields",
         POST("/populate", js([proxy_body("q3", 3), {"name": "q4"}])),
         POST("/populate", js([{"upstream": "x:1"}])),
         POST("/populate", js([proxy_body("q3", 3), proxy_body("", 4)])), GET("/proxies")),
    case("populate-bind-failure-midway",
         POST("/populate", js([proxy_body("q6", 1), proxy_body("q7", listen="127.0.0.1:{BUSY}"),
                               proxy_body("q8", 2)])), GET("/proxies")),
    case("populate-empty-array", POST("/populate", "[]")),
    case("populate-object", POST("/populate", js(proxy_body("q5", 1)))),
    case("populate-case-insensitive-keys",
         POST("/populate", '[{"Name":"q9","Listen":"127.0.0.1:{L1}","UPSTREAM":"127.0.0.1:{UP}",'
                           '"ENABLED":false}]'), GET("/proxies")),
    *[case(f"populate-malformed-{k}", POST("/populate", MALFORMED[k]))
      for k in ("brace-bad", "word", "truncated", "empty", "array-no-comma", "bad-escape")],
    case("populate-malformed-element", POST("/populate", "[{bad")),

    # --- POST /reset
    case("reset", P1, create("p2", 2, enabled=False),
         POST(T1, '{"type":"latency"}'), POST(T1, '{"type":"timeout","stream":"upstream"}'),
         POST("/proxies/p1", '{"enabled":false}'), POST("/reset", '{"ignored":true}'),
         GET("/proxies"), POST("/reset", "{bad"), POST("/reset")),

    # --- the router: 404 and 405 are not JSON
    case("router-404", P1, GET("/nothing"), GET("/"), GET("/proxies/"), GET(f"{T1}/"),
         GET("/proxies/p1/"), GET("/metrics"), GET("/proxies/a%2Fb"), GET("/proxies?x=1")),
    case("router-405", P1, Step("PUT", "/proxies", "{}"), DELETE("/reset"), GET("/reset"),
         DELETE("/proxies"), Step("PUT", "/proxies/p1", "{}"), Step("HEAD", "/version"),
         Step("OPTIONS", "/proxies"), POST("/version", "{}"), GET("/populate"),
         DELETE(T1), GET("/proxies")),
    # Go's ServeMux answers a path that is not clean with 301 to the clean one (an HTML link
    # for GET, nothing for other methods), before the router sees it.
    case("router-unclean-paths", P1, GET("//proxies"), GET("/./proxies"),
         GET("/proxies/../version"), GET("/proxies/p1//toxics"), GET("/proxies/."),
         GET("/proxies//"), GET("//"), GET("/.."), Step("HEAD", "//proxies"),
         POST("//proxies", "{}"), DELETE("/proxies/p1/.."), GET("/proxies")),

    # --- the browser User-Agent block
    case("browser-user-agent", P1, GET("/proxies", headers=BROWSER),
         POST("/proxies", js(proxy_body("pm", 2)), headers=BROWSER),
         GET("/version", headers=BROWSER), GET("/proxies/p1", headers=BROWSER),
         POST("/populate", "[]", headers=BROWSER), POST("/reset", headers=BROWSER),
         GET("/proxies", headers={"User-Agent": "mozilla/5.0"}),
         GET("/proxies", headers={"User-Agent": None}),
         GET("/proxies", headers={"User-Agent": ""})),
    case("browser-user-agent-unknown-path",
         GET("/nothing", headers=BROWSER, known="browser-unknown-path")),
]


@pytest.mark.parametrize("steps", CASES)
def test_same_reply_as_toxiproxy(sides, steps):
    run_steps(sides, steps)
