# SPDX-License-Identifier: MIT
"""total's check: exit 0 means it printed the true total of ledger.txt and its number of
entries; a nonzero exit (not a signal) must come with a reason on stderr."""
import os
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
err = open(os.environ["FAULTLINE_STDERR"]).read()
entries = [int(line.split()[1]) for line in open("ledger.txt") if line.strip() and line[0] != "#"]
want = f"total {sum(entries)} from {len(entries)} entries\n"
if status == 0:
    if out != want:
        sys.exit(f"exit 0 but it printed {out!r}, not {want!r}")
elif not 0 < status < 124 or not err.strip():
    sys.exit(f"exit status {status} with stderr {err!r}: no reported failure")
