# SPDX-License-Identifier: MIT
"""orders: adds each ORDER (an id) to the table orders of the SQLite database DB, one
transaction per order, and prints "saved ORDER" for each. Usage: orders.py DB ORDER...
BUG: execute()'s False (a failed statement: a full disk) is ignored, and the order is said saved.
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
        execute(con, "INSERT INTO orders (id, state) VALUES (?, 'new')", (order,))
        print(f"saved {order}")
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
