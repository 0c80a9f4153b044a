# SPDX-License-Identifier: MIT
"""publish's check: settings.json parses and holds version 1 (the old one, mode safe) or 2
(the new one, mode fast); if the program printed "published version 2", it holds 2."""
import json
import os
import sys

out = open(os.environ["FAULTLINE_STDOUT"]).read()
try:
    with open("settings.json") as f:
        s = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"settings.json is lost: {e!r}")
if s not in ({"version": 1, "mode": "safe"}, {"version": 2, "mode": "fast"}):
    sys.exit(f"settings.json holds {s}, neither version 1 nor version 2")
if "published version 2\n" in out and s["version"] != 2:
    sys.exit(f"the program said it published version 2, but settings.json holds {s}")
