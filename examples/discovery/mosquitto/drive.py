#!/usr/bin/python3
# Start mosquitto in the foreground with persistence in the current directory, publish N
# retained messages at QoS 1 (t0..), print "ok TOPIC" for each one the broker acknowledged
# (PUBACK), then stop it with SIGTERM (mosquitto saves its persistence file then) and print
# "stopped" once it has exited 0.
#
#   drive.py [--messages N]
import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtt  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--messages", type=int, default=5)
a = ap.parse_args()

broker, port = mqtt.start()
try:
    c = mqtt.Client(port, "drive")
    for i in range(a.messages):
        if not c.publish_retained(f"t{i}", f"v{i}", i + 1):
            raise OSError(f"no PUBACK for t{i}")
        print(f"ok t{i}", flush=True)
except OSError as e:
    print(f"drive: {e}", file=sys.stderr)
    broker.kill()
    broker.wait()
    sys.exit(1)
broker.send_signal(signal.SIGTERM)
status = broker.wait(timeout=5)
if status != 0:
    print(f"drive: mosquitto exited with status {status}", file=sys.stderr)
    sys.exit(1)
print("stopped", flush=True)
