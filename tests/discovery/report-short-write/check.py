# SPDX-License-Identifier: MIT
"""report's check: if the program printed "wrote N lines", the out file holds exactly the
table of the squares 1..N; if it failed, it said why on stderr."""
import os
import re
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
m = re.search(r"^wrote (\d+) lines$", out, re.M)
if status != 0 or not m:
    if status == 0 or not open(os.environ["FAULTLINE_STDERR"]).read().strip():
        sys.exit(f"exit status {status} and no report of what went wrong")
    sys.exit(0)
want = "".join(f"{i} {i * i}\n" for i in range(1, int(m.group(1)) + 1))
got = open("out.txt").read()
if got != want:
    sys.exit(f"out.txt has {len(got)} bytes ({got.count(chr(10))} lines), not the {len(want)} "
             f"bytes of the {m.group(1)} lines acknowledged")
