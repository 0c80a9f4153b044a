# A state file rewritten in place, then the process leaves the way argv[1] says: "exit"
# (atexit handlers run), "_exit" (none run) or "exec" (the image is replaced). The audit must
# see the rewrite however the process left.
import os, sys
with open("state.json", "w") as f:
    f.write('{"counter": 2}\n')
    f.flush(); os.fsync(f.fileno())
how = sys.argv[1]
if how == "_exit":
    os._exit(0)
if how == "exec":
    os.execv("/bin/true", ["true"])
sys.exit(0)
