# Asks malloc for N blocks of 1 MiB (python gives blocks this large to malloc; its small
# objects come from its own arenas), in this process or in a forked child, and leaves by
# exit or by _exit: `allocates.py N [self|child] [exit|_exit] [huge]`. "huge" also asks for
# one block no machine has, which fails (MemoryError). The audit must count the volume
# whoever asked and however the process left.
import os, sys

n = int(sys.argv[1])
where = sys.argv[2] if len(sys.argv) > 2 else "self"
how = sys.argv[3] if len(sys.argv) > 3 else "exit"


def allocate():
    for _ in range(n):
        block = bytearray(1 << 20)
        del block
    if "huge" in sys.argv:
        try:
            bytearray(1 << 62)
        except MemoryError:
            pass


def leave():
    sys.stdout.flush()
    if how == "_exit":
        os._exit(0)
    sys.exit(0)


if where == "child":
    pid = os.fork()
    if pid == 0:
        allocate()
        leave()
    os.waitpid(pid, 0)
else:
    allocate()
leave()
