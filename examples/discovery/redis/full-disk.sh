#!/bin/sh
# redis-server with AOF on and RDB snapshots off, on a full disk: every write to the AOF fails
# with ENOSPC while drive.py writes one key and then asks for SHUTDOWN; then check.py starts
# redis on what is left. Run from anywhere; $FAULTLINE is the faultline to use.
#
#   full-disk.sh everysec   # ok k0, exit 0 ... 1 of 1 acknowledged keys lost: k0 (exit 1)
#   full-disk.sh always     # redis exits at the failed write, nothing acknowledged (exit 0)
set -u
here=$(cd "$(dirname "$0")" && pwd)
policy=${1:?usage: full-disk.sh everysec|always}
fl=$(command -v "${FAULTLINE:-faultline}") || { echo "no faultline: set FAULTLINE"; exit 2; }
case $fl in /*) ;; *) fl=$(pwd)/$fl ;; esac
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 2
"$fl" inject -q --exe redis-server \
    -r 'write:path=*/appendonlydir/appendonly.aof.1.incr.aof:errno=ENOSPC' -- \
    "$here/drive.py" --keys 1 -- --save '' --appendonly yes --appendfsync "$policy" > out.txt
status=$?
echo "drive.py: exit $status, printed: $(tr '\n' ' ' < out.txt)"
[ "$status" -le 1 ] || exit 2 # not a run of redis at all
FAULTLINE_STDOUT=out.txt "$here/check.py" -- --appendonly yes
