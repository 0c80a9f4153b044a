#!/usr/bin/python3
# The check for mosquitto (faultline crash and sweep): start it on the directory a power cut or
# a trial left and read every retained message back. --promise exit (the default): once
# drive.py printed "stopped" (mosquitto saved its persistence file and exited 0), every message
# it acknowledged must be there. --promise each: every acknowledged message must be there at
# any moment (mosquitto does not promise that: it saves at exit and every autosave_interval).
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--promise", choices=["exit", "each"], default="exit")
a = ap.parse_args()
printed = open(os.environ["FAULTLINE_STDOUT"]).read().splitlines()
acked = [w.split()[1] for w in printed if w.startswith("ok ")]
if a.promise == "exit" and "stopped" not in printed:
    acked = []

broker, port = mqtt.start(quiet=True)
try:
    got = mqtt.Client(port, "check").retained()
except OSError as e:
    broker.kill()
    print(f"mosquitto will not serve this state: {e} (status {broker.wait()})")
    sys.exit(1)
broker.kill()
broker.wait()
lost = [t for t in acked if got.get(t) != "v" + t[1:]]
if lost:
    print(f"{len(lost)} of {len(acked)} acknowledged retained messages lost: {' '.join(lost[:8])}")
    sys.exit(1)
