#!/bin/sh
# mosquitto saving its persistence file on a full disk: a first session leaves mosquitto.db
# with one retained message; a second publishes three and is stopped with SIGTERM while the
# disk is full (every fflush of mosquitto.db.new fails with ENOSPC, as glibc's does when its
# one write(2) finds no room: a small database sits whole in stdio's buffer until then); then
# check.py starts mosquitto on what is left. Run from anywhere; $FAULTLINE is the faultline.
#
#   full-disk.sh        # drive.py: exit 0 ... mosquitto.db: 0 bytes ... 3 of 3 ... lost
#   full-disk.sh none   # the same without the fault: nothing lost (exit 0)
set -u
here=$(cd "$(dirname "$0")" && pwd)
fl=$(command -v "${FAULTLINE:-faultline}") || { echo "no faultline: set FAULTLINE"; exit 2; }
case $fl in /*) ;; *) fl=$(pwd)/$fl ;; esac
rule='fflush:path=*/mosquitto.db.new:errno=ENOSPC'
[ "${1:-}" = none ] && rule='fflush:path=*/no-such-file:errno=ENOSPC'
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 2
"$here/drive.py" --messages 1 > /dev/null 2>&1 || { echo "the first session failed"; exit 2; }
"$fl" inject -q --exe mosquitto -r "$rule" -- "$here/drive.py" --messages 3 > out.txt 2> err.txt
status=$?
echo "drive.py: exit $status, printed: $(tr '\n' ' ' < out.txt)"
echo "mosquitto.db: $(wc -c < mosquitto.db) bytes"
[ "$status" -le 1 ] || { cat err.txt; exit 2; }
FAULTLINE_STDOUT=out.txt "$here/check.py"
