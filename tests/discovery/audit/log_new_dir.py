# A log in a directory made for it: the file and the new directory are fsynced, but not the
# parent that holds the directory's name (redis's appendonlydir); "parent" fsyncs it too.
import os
import sys
os.mkdir("logs")
fd = os.open("logs/log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b"record 1\n"); os.fsync(fd); os.close(fd)
d = os.open("logs", os.O_RDONLY); os.fsync(d); os.close(d)
if sys.argv[1:] == ["parent"]:
    d = os.open(".", os.O_RDONLY); os.fsync(d); os.close(d)
print("logged 1", flush=True)
