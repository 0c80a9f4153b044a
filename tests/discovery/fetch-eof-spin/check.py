# SPDX-License-Identifier: MIT
"""fetch's check: exit 0 means it printed the whole listing the stream server sends
("line 01".."line 20", then "20 lines"); a nonzero exit (not a signal) must come with a
reason on stderr."""
import os
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
err = open(os.environ["FAULTLINE_STDERR"]).read()
want = "".join(f"line {i:02d}\n" for i in range(1, 21)) + "20 lines\n"
if status == 0:
    if out != want:
        sys.exit(f"exit 0 but it printed {out!r}, not the listing")
elif not 0 < status < 124 or not err.strip():
    sys.exit(f"exit status {status} with stderr {err!r}: no reported failure")
