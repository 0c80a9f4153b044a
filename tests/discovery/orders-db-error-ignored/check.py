# SPDX-License-Identifier: MIT
"""orders's check: orders.db still holds the order it had (o-100), and every order that
orders.py printed as saved."""
import os
import sqlite3
import sys

out = open(os.environ["FAULTLINE_STDOUT"]).read().split("\n")
claimed = [line.split(" ", 1)[1] for line in out if line.startswith("saved ")]
try:
    con = sqlite3.connect("file:orders.db?mode=ro", uri=True)
    got = {r[0] for r in con.execute("SELECT id FROM orders")}
except sqlite3.Error as e:
    sys.exit(f"orders.db: {e}")
lost = [o for o in ["o-100"] + claimed if o not in got]
if lost:
    sys.exit(f"orders.db lacks {lost} (it holds {sorted(got)})")
