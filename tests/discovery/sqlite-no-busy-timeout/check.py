# SPDX-License-Identifier: MIT
"""record's check: events.db holds every event of the run (login, upload, share, logout,
login), once each and in order, whatever record.py printed: a lock held for a moment by
another writer is no reason to lose one."""
import sqlite3
import sys

want = ["login", "upload", "share", "logout", "login"]
try:
    con = sqlite3.connect("file:events.db?mode=ro", uri=True)
    got = [r[0] for r in con.execute("SELECT name FROM events ORDER BY id")]
except sqlite3.Error as e:
    sys.exit(f"events.db: {e}")
if got != want:
    sys.exit(f"events.db holds {got}, not {want}")
