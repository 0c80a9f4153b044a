# SPDX-License-Identifier: MIT
"""emit's check: the collector (the ack server) received every event, e1..e4, and every
event the program printed as sent; a refused connection while it restarts is no excuse."""
import os
import sys

want = ["e1", "e2", "e3", "e4"]
out = open(os.environ["FAULTLINE_STDOUT"]).read().split("\n")
try:
    got = set(open("received.txt").read().split("\n"))
except FileNotFoundError:
    got = set()
claimed = [line.split(" ", 1)[1] for line in out if line.startswith("sent ")]
lost = [e for e in claimed if e not in got]
if lost:
    sys.exit(f"printed as sent but never received: {lost}")
missing = [e for e in want if e not in got]
if missing:
    sys.exit(f"the collector never received {missing}")
