#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_log.py LOG: the --check of the log writers. LOG must hold "record 1\n", "record 2\n",
... in order, at least up to the last record acknowledged on stdout ("ack I" lines in
$FAULTLINE_STDOUT), possibly followed by a part of the next record (a reader drops a last line
with no newline). Exits 1 with one line saying what is wrong."""
import os
import sys


def acknowledged(prefix):
    last = 0
    with open(os.environ["FAULTLINE_STDOUT"], "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines(keepends=True):
            if line.endswith("\n") and line.startswith(prefix):
                last = int(line[len(prefix):])
    return last


def main():
    log = sys.argv[1]
    acked = acknowledged("ack ")
    try:
        with open(log, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        print(f"{log} is missing (record {acked} was acknowledged)")
        sys.exit(1)
    lines = data.split("\n")
    partial = lines.pop()  # "" when the log ends with a newline
    for i, line in enumerate(lines, 1):
        if line != f"record {i}":
            print(f"{log}: line {i} is {line[:40]!r}, expected 'record {i}'")
            sys.exit(1)
    if partial and not f"record {len(lines) + 1}\n".startswith(partial):
        print(f"{log}: its last line {partial[:40]!r} is not a part of record {len(lines) + 1}")
        sys.exit(1)
    if len(lines) < acked:
        print(f"{log} holds {len(lines)} whole records but record {acked} was acknowledged")
        sys.exit(1)


main()
