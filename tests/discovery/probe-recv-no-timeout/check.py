# SPDX-License-Identifier: MIT
"""probe's check: exit 0 means it printed the echo server's answer ("reply: PING"); a
nonzero exit (not a signal) must come with a reason on stderr."""
import os
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
err = open(os.environ["FAULTLINE_STDERR"]).read()
if status == 0:
    if out != "reply: PING\n":
        sys.exit(f"exit 0 but it printed {out!r}, not the server's reply")
elif not 0 < status < 124 or not err.strip():
    sys.exit(f"exit status {status} with stderr {err!r}: no reported failure")
