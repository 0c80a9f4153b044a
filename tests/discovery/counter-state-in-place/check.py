# SPDX-License-Identifier: MIT
"""counter's check: state.json still parses and holds the old count (41) or the new one (42),
and if the program printed "count 42" the file holds 42."""
import json
import os
import sys

out = open(os.environ["FAULTLINE_STDOUT"]).read()
try:
    with open("state.json") as f:
        count = json.load(f)["count"]
except (OSError, ValueError, KeyError, TypeError) as e:
    sys.exit(f"state.json is lost: {e!r}")
if count not in (41, 42):
    sys.exit(f"state.json holds count {count!r}, neither the old 41 nor the new 42")
if "count 42" in out.split("\n") and count != 42:
    sys.exit(f"the program acknowledged count 42 but state.json holds {count}")
