#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""log_ack_early.py LOG N: appends N records ("record I\n") to an existing log, printing
"ack I" for each (print flushes with write(2) on fd 1, no stdio involved).
BUG: each record is fsynced, but only after "ack I" is printed: a power loss between the two
drops an acknowledged record. With --fixed, the fsync comes before the ack."""
import os
import sys


def main():
    path, n, fixed = sys.argv[1], int(sys.argv[2]), "--fixed" in sys.argv[3:]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    for i in range(1, n + 1):
        os.write(fd, b"record %d\n" % i)
        if fixed:
            os.fsync(fd)
        print(f"ack {i}", flush=True)
        if not fixed:
            os.fsync(fd)
    os.close(fd)


main()
