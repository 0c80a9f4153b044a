#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/sweep.sh [BUILDDIR] [JOBS]: the trial rate of `faultline sweep` on a small C target
# (bench/sweep-target.c, about 100 calls, no sleeps), and of a plain shell loop that runs the
# same setup, target and check the same number of times with the same parallelism, no
# faultline at all: the floor of what running those processes costs. Targets: >= 300
# trials/s on 2 cores, and >= 0.8x the shell loop's rate (faultline's own cost under 25%).
set -eu
build=${1:-build}
jobs=${2:-2}
fl="$build/faultline"
[ -x "$fl" ] || { echo "sweep.sh: $fl not built (make build)" >&2; exit 3; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fl-bench-sweep.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/target" "$(dirname "$0")/sweep-target.c"
mkdir "$work/template"
printf 'lines=30\n' > "$work/template/config"
check='test -s report.txt'

# faultline sweep: its own clock covers the trials only (not the two baseline runs)
FAULTLINE_STATE_DIR="$work/state" "$fl" sweep -q -j "$jobs" --seed 1 --dir "$work/template" \
    --check "$check" --json "$work/sweep.json" -- "$work/target" >/dev/null || true
trials=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['trials'])" "$work/sweep.json")
secs=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['elapsed_s'])" "$work/sweep.json")

# the shell loop: copy the template, run the target, run the check, remove the directory
start=$(date +%s.%N)
seq "$trials" | xargs -P "$jobs" -I{} sh -c '
    d="$1/loop{}"; mkdir "$d" && cp -r "$1/template/." "$d" && cd "$d" &&
    "$1/target" >/dev/null 2>&1; test -s report.txt; cd / && rm -rf "$d"' sh "$work"
end=$(date +%s.%N)
python3 - "$trials" "$secs" "$start" "$end" <<'PY'
import sys
trials, secs, start, end = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
loop = end - start
fr, lr = trials / secs, trials / loop
print(f"trials: {trials}")
print(f"faultline sweep: {secs:.2f} s, {fr:.0f} trials/s")
print(f"shell loop:      {loop:.2f} s, {lr:.0f} trials/s")
print(f"ratio sweep/loop: {fr / lr:.2f}x  (targets: >= 300 trials/s, >= 0.8x)")
PY
