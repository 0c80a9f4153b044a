# SPDX-License-Identifier: MIT
"""wordcount's check: the job's real output, counts.json, exists and holds the right word
count of every input file, whatever happened to its log on the way."""
import json
import sys

want = {"a.txt": 3, "b.txt": 5, "c.txt": 0, "d.txt": 8}
try:
    with open("counts.json") as f:
        got = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"counts.json: {e}")
if got != want:
    sys.exit(f"counts.json holds {got}, not {want}")
