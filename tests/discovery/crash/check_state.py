#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_state.py STATE [--fresh]: the --check of the state writers. Holds a crash state to
what the writer had acknowledged on stdout ("saved I" lines, in $FAULTLINE_STDOUT): STATE must
hold one whole {"count": C} with C at least the last I acknowledged. With --fresh the run
started without STATE, so a missing STATE is right until the first "saved". Exits 1 with one
line saying what is wrong."""
import os
import sys


def acknowledged(prefix):
    """The last number printed after PREFIX on a whole line of the program's stdout."""
    last = 0
    path = os.environ.get("FAULTLINE_STDOUT")
    if not path:
        return 0
    with open(path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines(keepends=True):
            if line.endswith("\n") and line.startswith(prefix):
                last = int(line[len(prefix):])
    return last


def fail(msg):
    print(msg)
    sys.exit(1)


def read_count(state, acked):
    """C of the one whole {"count": C} that STATE holds (fails when it holds none)."""
    with open(state, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    head, tail = '{"count": ', "}\n"
    body = text[len(head):-len(tail)] if text.startswith(head) and text.endswith(tail) else ""
    if not body.isdigit():
        fail(f"{state} holds no whole count: {text[:40]!r} (count {acked} was acknowledged)")
    return int(body)


def main():
    state, fresh = sys.argv[1], "--fresh" in sys.argv[2:]
    acked = acknowledged("saved ")
    try:
        count = read_count(state, acked)
    except FileNotFoundError:
        if fresh and acked == 0:
            return
        fail(f"{state} is missing (count {acked} was acknowledged)")
    if count < acked:
        fail(f"{state} holds count {count} but count {acked} was acknowledged")


if __name__ == "__main__":
    main()
