# SPDX-License-Identifier: MIT
"""export's check: if the program printed "exported N records", invoices.csv holds the header
and exactly N well-formed rows, ids 1..N; if it failed, it said why on stderr."""
import csv
import os
import re
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
m = re.search(r"^exported (\d+) records$", out, re.M)
if status != 0 or not m:
    if status == 0 or not open(os.environ["FAULTLINE_STDERR"]).read().strip():
        sys.exit(f"exit status {status} and no report of what went wrong")
    sys.exit(0)
try:
    with open("invoices.csv", newline="") as f:
        rows = list(csv.reader(f))
except OSError as e:
    sys.exit(f"invoices.csv: {e}")
if not rows or rows[0] != ["id", "customer", "cents"]:
    sys.exit(f"invoices.csv has no header (it holds {len(rows)} rows)")
ids = [r[0] for r in rows[1:] if len(r) == 3 and r[2].isdigit()]
if ids != [str(i) for i in range(1, int(m.group(1)) + 1)]:
    sys.exit(f"invoices.csv holds {len(ids)} good rows, not the {m.group(1)} acknowledged")
