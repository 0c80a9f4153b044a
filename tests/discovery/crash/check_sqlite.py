#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_sqlite.py DB: the --check of the sqlite3 runs. DB must pass PRAGMA integrity_check
and table t must hold every row acknowledged on stdout ("ack I" lines in $FAULTLINE_STDOUT:
the CLI prints one after each committed INSERT of row I). Exits 1 with one line saying what
is wrong."""
import os
import sqlite3
import sys


def acknowledged(prefix):
    acked = []
    with open(os.environ["FAULTLINE_STDOUT"], "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines(keepends=True):
            if line.endswith("\n") and line.startswith(prefix):
                acked.append(int(line[len(prefix):]))
    return acked


def main():
    db = sys.argv[1]
    acked = acknowledged("ack ")
    if not os.path.exists(db):
        print(f"{db} is missing")
        sys.exit(1)
    try:
        con = sqlite3.connect(db)
        ok = con.execute("PRAGMA integrity_check").fetchall()
        if ok != [("ok",)]:
            print(f"{db}: integrity_check says {ok[:3]}")
            sys.exit(1)
        have = {r[0] for r in con.execute("SELECT id FROM t")}
        con.close()
    except sqlite3.Error as e:
        print(f"{db}: {e}")
        sys.exit(1)
    missing = [i for i in acked if i not in have]
    if missing:
        print(f"{db}: rows {missing} were acknowledged but are missing (has {sorted(have)})")
        sys.exit(1)


main()
