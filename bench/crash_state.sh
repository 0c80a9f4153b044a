#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/crash_state.sh [BUILDDIR] [ROUNDS]: ms to build one crash state of a 1 MiB trial
# directory (src/discovery), on the file system of $TMPDIR (or /tmp) and on /dev/shm (tmpfs),
# where `faultline crash` may build its states. Target: < 2 ms per state, the check excluded.
set -eu
build=${1:-build}
rounds=${2:-50}
bin="$build/bench/crash-state"
[ -x "$bin" ] || { echo "crash_state.sh: $bin not built (ninja -C $build)" >&2; exit 3; }
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 1"
for dir in "${TMPDIR:-/tmp}" /dev/shm; do
    [ -d "$dir" ] && [ -w "$dir" ] || continue
    printf '%s: %s\n' "$dir" "$(df -T "$dir" | awk 'NR == 2 { print $2 }')"
    $pin "$bin" "$dir" "$rounds"
done
