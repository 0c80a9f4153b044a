# SPDX-License-Identifier: MIT
"""showconf's check: if it exited 0 it printed the settings that app.config really holds;
otherwise it exited 2 (a bad config) or 1 (an unreadable one) and named the file on stderr.
A crash fails."""
import os
import sys

status = int(os.environ["FAULTLINE_STATUS"])
out = open(os.environ["FAULTLINE_STDOUT"]).read()
err = open(os.environ["FAULTLINE_STDERR"]).read()
if status == 0:
    if out != "name=demo port=8080 workers=4\n":
        sys.exit(f"printed {out!r}, not the settings of app.config")
elif status in (1, 2):
    if "app.config" not in err:
        sys.exit(f"exit status {status} without naming app.config on stderr: {err!r}")
else:
    sys.exit(f"exit status {status}: neither success nor a reported error")
