# SPDX-License-Identifier: MIT
"""notify's check: exit 0 means it printed "notified" and the collector (the ack server)
received the message; a nonzero exit (not a signal) must come with a reason on stderr and no
claim of success."""
import os
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
err = open(os.environ["FAULTLINE_STDERR"]).read()
try:
    got = open("received.txt").read().split("\n")
except FileNotFoundError:
    got = []
if status == 0:
    if out != "notified\n" or "disk almost full" not in got:
        sys.exit(f"exit 0, it printed {out!r}, and the collector received {got}")
elif not 0 < status < 124 or not err.strip() or "notified" in out:
    sys.exit(f"exit status {status} with stderr {err!r}: no reported failure")
