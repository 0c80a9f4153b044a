# Temp file, fsync and rename, but no fsync of the directory.
import os
data = '{"counter": 2, "pad": "' + "x"*100 + '"}\n'
fd = os.open("state.json.tmp", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644)
os.write(fd, data.encode()); os.fsync(fd); os.close(fd)
os.rename("state.json.tmp", "state.json")
print("saved 2", flush=True)
