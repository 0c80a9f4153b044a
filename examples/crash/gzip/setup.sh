#!/bin/sh
# A file worth keeping, and its checksum, so the check can tell it survived in either form.
set -e
seq 1 50000 > data.txt
sha256sum < data.txt > .data.sha256
