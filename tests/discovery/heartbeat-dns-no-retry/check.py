# SPDX-License-Identifier: MIT
"""heartbeat's check: the collector (the ack server) received "alive web-1": a name server
that fails for a moment is no reason to miss a heartbeat."""
import sys

try:
    got = open("received.txt").read().split("\n")
except FileNotFoundError:
    got = []
if "alive web-1" not in got:
    sys.exit(f"the collector received {got}, no heartbeat from web-1")
