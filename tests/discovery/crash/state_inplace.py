#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""state_inplace.py STATE_FILE N: saves a counter N times into STATE_FILE ({"count": I}),
printing "saved I" once save I returned.
BUG: the state is rewritten in place (open "w" truncates, then write and fsync): a power loss
between the truncate and the fsync leaves it empty."""
import os
import sys


def save(path, count):
    with open(path, "w") as f:
        f.write('{"count": %d}\n' % count)
        f.flush()
        os.fsync(f.fileno())


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    for i in range(1, n + 1):
        save(path, i)
        print(f"saved {i}", flush=True)


main()
