# SPDX-License-Identifier: MIT
"""`faultline proxy` driven by the published Toxiproxy Node client (toxiproxy-node-client
4.1.0 from npm), unchanged: the compatibility promise, checked with a real client."""
import json
import shutil
import subprocess

import pytest

from proxyutil import Proxy, Server, echo

CLIENT = "toxiproxy-node-client@4.1.0"

SCRIPT = r"""
const net = require("net");
const { Toxiproxy } = require("toxiproxy-node-client");
const [api, upstream] = process.argv.slice(2);

function rtt(port) {
  return new Promise((resolve, reject) => {
    const t = Date.now();
    const s = net.connect(port, "127.0.0.1", () => s.write("ping"));
    s.on("data", () => { s.destroy(); resolve(Date.now() - t); });
    s.on("error", reject);
  });
}

(async () => {
  const out = {};
  const tp = new Toxiproxy(api);
  out.version = await tp.getVersion();
  const p = await tp.createProxy({ name: "node", listen: "127.0.0.1:0", upstream });
  const port = Number(p.listen.split(":").pop());
  const toxic = await p.addToxic({ type: "latency", stream: "downstream", toxicity: 1,
                                   attributes: { latency: 150, jitter: 0 } });
  out.toxicName = toxic.name;
  out.rttWithToxic = await rtt(port);
  const updated = await toxic.update({ toxicity: 1, attributes: { latency: 300, jitter: 0 } });
  out.updatedLatency = updated.attributes.latency;
  out.fetched = (await p.getToxic(toxic.name)).attributes;
  await toxic.remove();
  const p2 = await p.update({ enabled: false, listen: p.listen, upstream });
  out.disabled = p2.enabled === false;
  const populated = await tp.populate([{ name: "pop", listen: "127.0.0.1:0", upstream }]);
  out.populated = Object.keys(populated);
  out.all = Object.keys(await tp.getAll()).sort();
  await tp.reset();
  out.enabledAfterReset = (await tp.get("node")).enabled;
  try { await tp.get("missing"); out.missing = "no error"; }
  catch (e) { out.missing = String(e.message || e); }
  await p.remove();
  out.afterRemove = Object.keys(await tp.getAll());
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.fixture(scope="session")
def node_client(tmp_path_factory):
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("npm/node not installed")
    d = tmp_path_factory.mktemp("node-client")
    try:
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", CLIENT],
                           cwd=d, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install timed out (no registry access?)")
    if r.returncode != 0:
        pytest.skip(f"npm install {CLIENT} failed (no registry access?): {r.stderr[-300:]}")
    (d / "drive.js").write_text(SCRIPT)
    return d


def test_published_node_client(node_client, faultline, env):
    up = Server(echo)
    p = Proxy(faultline, env=env)
    try:
        r = subprocess.run(["node", "drive.js", f"http://127.0.0.1:{p.port}", up.addr],
                           cwd=node_client, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["version"].startswith('{"version": "')
        assert out["toxicName"] == "latency_downstream"
        assert out["rttWithToxic"] >= 140
        assert out["updatedLatency"] == 300
        assert out["fetched"] == {"latency": 300, "jitter": 0}
        assert out["disabled"] is True
        assert out["populated"] == ["pop"]
        assert out["all"] == ["node", "pop"]
        assert out["enabledAfterReset"] is True
        assert "404" in out["missing"]
        assert out["afterRemove"] == ["pop"]
    finally:
        assert p.stop() == 0
        up.close()
