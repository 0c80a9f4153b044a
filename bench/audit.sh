#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/audit.sh [BUILDDIR] [RUNS]: what `faultline audit` adds to a program's run time. The
# target's wall time under the audit (the `seconds` of its JSON: spawn to exit, the recorder
# loaded and logging) against the same program run plainly in the same way, median of RUNS
# each, for two programs nobody here wrote: Debian's sqlite3 (5000 inserts, one commit each,
# WAL, synchronous=NORMAL: every write logged, where and how much) and python3 (a small HTTP fetch
# over a local socket, then a JSON state file replaced by temp + rename). Target: < 1.1x.
set -eu
# On tmpfs by default, plain and audited runs alike (and faultline's scratch, which follows
# TMPDIR): on this project's VMs the python case's 50 fsyncs to ext4 swing its time by +-30%
# from run to run, which hides a 5% cost. TMPDIR=/some/disk measures there instead.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    TMPDIR=/dev/shm
fi
export TMPDIR=${TMPDIR:-/tmp}
build=${1:-build}
runs=${2:-21}
fl="$build/faultline"
[ -x "$fl" ] || { echo "audit.sh: $fl not built (make build)" >&2; exit 3; }
command -v sqlite3 >/dev/null || { echo "audit.sh: needs sqlite3 (apt-get install sqlite3)" >&2; exit 3; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fl-bench-audit.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmpl"
sqlite3 "$work/tmpl/db" 'PRAGMA journal_mode=WAL; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);' >/dev/null
i=0; : > "$work/inserts.sql"
echo "PRAGMA synchronous=NORMAL;" >> "$work/inserts.sql"
while [ $i -lt 5000 ]; do echo "INSERT INTO t(v) VALUES('row $i');" >> "$work/inserts.sql"; i=$((i + 1)); done
cat > "$work/app.py" <<'PY'
import http.server, json, os, socket, threading, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"reading": 21.5}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
for _ in range(50):
    data = json.load(urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/", timeout=5))
    with open("state.json.tmp", "w") as f:
        json.dump(data, f); f.flush(); os.fsync(f.fileno())
    os.rename("state.json.tmp", "state.json")
PY
/usr/bin/python3 - "$fl" "$work" "$runs" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
fl, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = {
    "sqlite3 (5000 inserts)": ["sh", "-c", f"sqlite3 db < {work}/inserts.sql"],
    "python3 (50 HTTP fetches + state file)": ["/usr/bin/python3", f"{work}/app.py"],
}
worst = 0
for name, argv in cases.items():
    plain, audited = [], []
    for _ in range(runs):
        d = f"{work}/plain"
        shutil.rmtree(d, ignore_errors=True); shutil.copytree(f"{work}/tmpl", d)
        t = time.monotonic(); subprocess.run(argv, cwd=d, check=True, stdout=subprocess.DEVNULL)
        plain.append(time.monotonic() - t)
        out = f"{work}/a.json"
        subprocess.run([fl, "audit", "-q", "--dir", f"{work}/tmpl", "--json", out, "--", *argv],
                       stdout=subprocess.DEVNULL)
        audited.append(json.load(open(out))["seconds"])
    # runs alternate, so a pair shares the machine's state of the moment: the median of the
    # pairs' ratios cancels the drifts (steal time, writeback) that move both medians
    p, a = statistics.median(plain), statistics.median(audited)
    paired = statistics.median(x / y for x, y in zip(audited, plain))
    worst = max(worst, paired)
    print(f"{name}: plain {p * 1000:.0f} ms (fastest {min(plain) * 1000:.0f}), under audit "
          f"{a * 1000:.0f} ms (fastest {min(audited) * 1000:.0f}), {paired:.2f}x "
          f"(median of {runs} paired runs; fastest/fastest {min(audited) / min(plain):.2f}x)")
print(f"worst ratio: {worst:.2f}x  (target: < 1.1x)")
PY
