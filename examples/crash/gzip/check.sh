#!/bin/sh
# After `gzip data.txt` and a power cut, the data must still exist: the original, or a
# complete data.txt.gz of it.
want=$(cat .data.sha256)
if [ -f data.txt ] && [ "$(sha256sum < data.txt)" = "$want" ]; then exit 0; fi
if [ -f data.txt.gz ] && [ "$(gzip -dc data.txt.gz 2>/dev/null | sha256sum)" = "$want" ]; then
    exit 0
fi
echo "data.txt lost: neither the original nor a complete data.txt.gz is left"
exit 1
