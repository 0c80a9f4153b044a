# SPDX-License-Identifier: MIT
"""stock's check: inventory.txt still holds the items it had before (apple 3, pear 5), and
if the program printed "kiwi 2 (...)", kiwi 2 as well."""
import os
import sys

out = open(os.environ["FAULTLINE_STDOUT"]).read()
try:
    with open("inventory.txt") as f:
        inv = dict((name, int(count)) for name, count in (line.split() for line in f))
except (OSError, ValueError) as e:
    sys.exit(f"inventory.txt is unreadable: {e!r}")
for name, count in (("apple", 3), ("pear", 5)):
    if inv.get(name) != count:
        sys.exit(f"inventory.txt lost {name} {count}: it holds {inv}")
if out.startswith("kiwi 2 ") and inv.get("kiwi") != 2:
    sys.exit(f"the program said it stored kiwi 2, but inventory.txt holds {inv}")
