# The atomic recipe: temp file, fsync, rename over the old one, fsync the directory.
import os
data = '{"counter": 2, "pad": "' + "x"*100 + '"}\n'
fd = os.open("state.json.tmp", os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644)
os.write(fd, data.encode()); os.fsync(fd); os.close(fd)
os.rename("state.json.tmp", "state.json")
d = os.open(".", os.O_RDONLY); os.fsync(d); os.close(d)
print("saved 2", flush=True)
