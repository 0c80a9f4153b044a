# SPDX-License-Identifier: MIT
"""orders: adds each ORDER (an id) to the table orders of the SQLite database DB, one
transaction per order, and prints "saved ORDER" for each. Usage: orders.py DB ORDER...
FIXED: when execute() returns False, the order is reported as not saved and it exits 1.
"""
import logging
import sqlite3
import sys

log = logging.getLogger("orders")


def execute(con, sql, params=()):
    """Runs one statement in a transaction of its own; False if the database refused it."""
    try:
        with con:
            con.execute(sql, params)
    except sqlite3.Error as e:
        log.debug("database error: %s", e)
        return False
    return True


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: orders.py DB ORDER...")
    con = sqlite3.connect(sys.argv[1])
    for order in sys.argv[2:]:
        if not execute(con, "INSERT INTO orders (id, state) VALUES (?, 'new')", (order,)):
            sys.exit(f"orders: {order}: not saved (the database refused it)")
        print(f"saved {order}")
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
