# SPDX-License-Identifier: MIT
"""sortnums's check: exit 0 means it printed the right summary of numbers.txt; a nonzero exit
(not a signal) must come with a reason on stderr."""
import os
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
err = open(os.environ["FAULTLINE_STDERR"]).read()
v = sorted(int(x) for x in open("numbers.txt").read().split())
want = f"{len(v)} numbers: min {v[0]} median {v[len(v) // 2]} max {v[-1]}\n"
if status == 0:
    if out != want:
        sys.exit(f"exit 0 but it printed {out!r}, not {want!r}")
elif not 0 < status < 124 or not err.strip():
    sys.exit(f"exit status {status} with stderr {err!r}: no reported failure")
