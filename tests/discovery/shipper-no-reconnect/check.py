# SPDX-License-Identifier: MIT
"""ship's check: the collector (the ack server) received every message, m1..m5, and every
message the program printed as delivered; a restart of the collector is no excuse."""
import os
import sys

want = [f"m{i}" for i in range(1, 6)]
out = open(os.environ["FAULTLINE_STDOUT"]).read().split("\n")
try:
    got = set(open("received.txt").read().split("\n"))
except FileNotFoundError:
    got = set()
claimed = [line.split(" ", 1)[1] for line in out if line.startswith("delivered ")]
lost = [m for m in claimed if m not in got]
if lost:
    sys.exit(f"printed as delivered but never received: {lost}")
missing = [m for m in want if m not in got]
if missing:
    sys.exit(f"the collector never received {missing}")
