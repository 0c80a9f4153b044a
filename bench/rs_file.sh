#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/rs_file.sh [BUILDDIR] [N]: what libresilience's atomic replace of a 4 KiB file costs
# against a plain rewrite (open O_TRUNC, write, close) and a plain rewrite with an fsync, in
# the same run, on the file system of TMPDIR (default /tmp: a real disk, where the fsyncs are
# what costs). Prints microseconds per save and the ratios.
set -eu
build=${1:-build}
n=${2:-300}
loop="$build/bench/rs-file-loop"
[ -x "$loop" ] || { echo "rs_file.sh: $loop not built (make build)" >&2; exit 3; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fl-bench-rs.XXXXXX")
trap 'rm -rf "$work"' EXIT
plain=$("$loop" plain "$n" "$work/state")
synced=$("$loop" plain-fsync "$n" "$work/state")
replace=$("$loop" replace "$n" "$work/state")
python3 - "$plain" "$synced" "$replace" "$n" "$(df -T "$work" | awk 'NR==2 {print $2}')" <<'PY'
import sys
plain, synced, replace = map(float, sys.argv[1:4])
print(f"{sys.argv[4]} saves of 4 KiB on {sys.argv[5]}:")
print(f"  plain rewrite:           {plain:8.1f} us (torn by a crash, not durable)")
print(f"  plain rewrite + fsync:   {synced:8.1f} us (durable, still torn by a crash mid-write)")
print(f"  rs_file_replace + .bak:  {replace:8.1f} us (never torn: old or new)")
print(f"  ratio replace / plain: {replace / plain:.1f}x, replace / plain+fsync: {replace / synced:.2f}x")
PY
