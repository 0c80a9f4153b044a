#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_snap.py: the --check of snap-exchange. snap/a and snap/b must each hold one whole
{"count": C}, the same C in both (a snapshot is all or nothing), with C at least the last
"saved I" on the program's stdout ($FAULTLINE_STDOUT). Exits 1 with one line saying what is
wrong."""
from check_state import acknowledged, fail, read_count

acked = acknowledged("saved ")
try:
    counts = [read_count(f"snap/{name}", acked) for name in ("a", "b")]
except FileNotFoundError as e:
    fail(f"{e.filename} is missing (count {acked} was acknowledged)")
if counts[0] != counts[1]:
    fail(f"snap/ is torn: a holds count {counts[0]}, b count {counts[1]}")
if counts[0] < acked:
    fail(f"snap/ holds count {counts[0]} but count {acked} was acknowledged")
