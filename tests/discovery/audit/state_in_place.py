# A state file rewritten in place (truncate, write, fsync).
import os, sys
# rewrite state.json in place, then acknowledge
with open("state.json", "w") as f:
    f.write('{"counter": 2, "pad": "' + "x"*100 + '"}\n')
    f.flush(); os.fsync(f.fileno())
print("saved 2", flush=True)
