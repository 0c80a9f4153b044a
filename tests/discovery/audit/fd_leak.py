# Opens files and never closes them (or, with an argument, closes each one).
import os
import sys
import time

keep = []
for i in range(60):
    f = open(os.devnull)
    if len(sys.argv) > 1:
        f.close()
    else:
        keep.append(f)
    time.sleep(0.01)
