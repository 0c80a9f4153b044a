#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_spool.py: the --check of spool-link. Every message acknowledged on the program's
stdout ("saved I" in $FAULTLINE_STDOUT) must be in out/msg-I, holding "message I\\n" whole.
Exits 1 with one line saying what is wrong."""
from check_state import acknowledged, fail

acked = acknowledged("saved ")
for i in range(1, acked + 1):
    try:
        with open(f"out/msg-{i}", "rb") as f:
            body = f.read()
    except FileNotFoundError:
        fail(f"out/msg-{i} is missing (message {acked} was acknowledged)")
    if body != f"message {i}\n".encode():
        fail(f"out/msg-{i} holds {body[:40]!r}, not the message")
