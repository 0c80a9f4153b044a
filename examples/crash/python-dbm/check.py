#!/usr/bin/python3
# The key that was there before must still be readable, and the new one too once the writer
# had acknowledged it.
import dbm.dumb
import os
import sys

acked = "stored b" in open(os.environ["FAULTLINE_STDOUT"]).read()
try:
    db = dbm.dumb.open("db", "r")
    a, b = db.get(b"a"), db.get(b"b")
except Exception as e:
    print(f"db unreadable: {e}")
    sys.exit(1)
if a != b"1" or (acked and b != b"2"):
    print(f"lost: a={a!r} b={b!r} (b acknowledged: {acked})")
    sys.exit(1)
