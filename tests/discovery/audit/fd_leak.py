# Opens files and never closes them; with "close", closes each one at once; with "spike",
# holds them all for a while, closes them and goes on working (a burst, not a leak).
import os
import sys
import time

how = sys.argv[1] if len(sys.argv) > 1 else "leak"
keep = []
for i in range(60):
    f = open(os.devnull)
    if how == "close":
        f.close()
    else:
        keep.append(f)
    time.sleep(0.01)
if how == "spike":
    for f in keep:
        f.close()
    keep = []
    time.sleep(0.6)
