#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/crash.sh [BUILDDIR]: what `faultline crash` costs per crash state end to end (build
# the state of a 1 MiB trial directory, give the check its stdout, run the check, remove the
# state), beyond the check command itself. The check is /bin/true, so its own cost is one
# process start; the same number of /bin/true starts in a plain loop is the baseline, and so
# is one plain run of the target. Target: < 2 ms per state beyond the check.
set -eu
build=${1:-build}
fl="$build/faultline"
[ -x "$fl" ] || { echo "crash.sh: $fl not built (make build)" >&2; exit 3; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fl-bench-crash.XXXXXX")
trap 'rm -rf "$work"' EXIT
# 1 MiB: 16 files of 64 KiB; the target rewrites some in place, some by temp + rename, with
# and without fsyncs, so the model has many states to offer at most cuts
mkdir "$work/template"
for i in $(seq 0 15); do head -c 65536 /dev/urandom > "$work/template/f$i"; done
cat > "$work/writer.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
    char buf[8192], name[32], tmp[32];
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; i < 16; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        snprintf(tmp, sizeof(tmp), "f%d.tmp", i);
        int fd = open(i % 2 ? tmp : name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        for (int k = 0; k < 3; k++)
            if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
                return 1;
        if (i % 3 == 0)
            fsync(fd);
        close(fd);
        if (i % 2)
            rename(tmp, name);
        printf("saved %d\n", i);
    }
    return 0;
}
C
cc -O2 -o "$work/writer" "$work/writer.c"

# one check at a time for the per-state cost; then every CPU (-j's default), for throughput
"$fl" crash -q -j 1 --max-states 16 --dir "$work/template" --check /bin/true --json "$work/c.json" \
    -- "$work/writer" >/dev/null
states=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['states_checked'])" "$work/c.json")
secs=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds'])" "$work/c.json")
"$fl" crash -q --max-states 16 --dir "$work/template" --check /bin/true --json "$work/cj.json" \
    -- "$work/writer" >/dev/null
secs_j=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds'])" "$work/cj.json")

# the baselines: one plain run of the target in a copy, and $states starts of /bin/true
cp -r "$work/template" "$work/plain"
t0=$(date +%s.%N)
(cd "$work/plain" && "$work/writer" >/dev/null && /bin/true)
t1=$(date +%s.%N)
i=0
while [ "$i" -lt "$states" ]; do /bin/true; i=$((i + 1)); done
t2=$(date +%s.%N)
python3 - "$states" "$secs" "$t0" "$t1" "$t2" "$secs_j" "$(nproc)" <<'PY'
import sys
n, secs, t0, t1, t2, secs_j = int(sys.argv[1]), float(sys.argv[2]), *map(float, sys.argv[3:7])
cpus = int(sys.argv[7])
run, checks = t1 - t0, t2 - t1
per = (secs - run - checks) / n * 1000
print(f"states checked: {n}")
print(f"faultline crash: {secs:.2f} s ({secs / n * 1000:.2f} ms per state, check included)")
print(f"plain run of the target: {run * 1000:.1f} ms; {n} starts of /bin/true: {checks:.2f} s "
      f"({checks / n * 1000:.2f} ms each)")
print(f"faultline's own cost per state: {per:.2f} ms  (target: < 2 ms)")
print(f"with -j {cpus} (the default): {secs_j:.2f} s, {n / secs_j:.0f} states/s against "
      f"{n / secs:.0f} with -j 1 ({secs / secs_j:.2f}x)")
PY
