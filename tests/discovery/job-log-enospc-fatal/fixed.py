# SPDX-License-Identifier: MIT
"""wordcount: a batch job. Counts the words of each input file, logs its progress to LOG
(one line per file), and writes the counts to OUT as JSON ({"file": words, ...}), then prints
"counted N files". Usage: wordcount.py LOG OUT FILE...
FIXED: a failed log write is reported once on stderr, and the job goes on without its log.
"""
import json
import os
import sys
import time


class Log:
    """A progress log, appended line by line and written at once (unbuffered)."""

    def __init__(self, path):
        self.f = open(path, "ab", buffering=0)
        self.path = path

    def write(self, msg):
        if self.f is None:
            return
        try:
            self.f.write(f"{time.strftime('%H:%M:%S')} {msg}\n".encode())
        except OSError as e:
            print(f"wordcount: {self.path}: {e.strerror}; going on without a log", file=sys.stderr)
            self.f = None


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: wordcount.py LOG OUT FILE...")
    log, out, files = Log(sys.argv[1]), sys.argv[2], sys.argv[3:]
    log.write(f"start: {len(files)} files")
    counts = {}
    for path in files:
        with open(path) as f:
            counts[path] = len(f.read().split())
        log.write(f"{path}: {counts[path]} words")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(counts, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    log.write("done")
    print(f"counted {len(counts)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
