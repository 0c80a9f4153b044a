#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""state_atomic.py STATE_FILE N: saves a counter N times into STATE_FILE ({"count": I}),
printing "saved I" once save I returned. STATE_FILE is named relative to the working directory.
FIXED: write a temporary file, fsync it, os.replace it over the state, fsync the directory."""
import os
import sys


def save(path, count):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write('{"count": %d}\n' % count)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    for i in range(1, n + 1):
        save(path, i)
        print(f"saved {i}", flush=True)


main()
