#!/bin/sh
# Traces a show in JOBS shards at once on one machine with GNU parallel, then merges them into
# one trace, byte-identical to `marquee trace` run alone (docs/scale-out.md).
#
#   scripts/trace-parallel.sh SCENE SECONDS JOBS OUT
#
# writes OUT/shards/1 ... OUT/shards/JOBS and the merged trace in OUT/trace. The marquee binary
# is $MARQUEE, or `marquee` from the PATH. A shard that fails stops the others (--halt) and the
# script exits non-zero; nothing is merged.
set -eu
if [ $# -ne 4 ]; then
    echo "usage: $0 SCENE SECONDS JOBS OUT" >&2
    exit 2
fi
scene=$1 seconds=$2 jobs=$3 out=$4
marquee=${MARQUEE:-marquee}
command -v parallel >/dev/null || { echo "$0: GNU parallel is not installed (apt-get install parallel)" >&2; exit 3; }
mkdir -p "$out/shards"
seq 1 "$jobs" | parallel --will-cite --halt now,fail=1 -j "$jobs" \
    "$marquee" trace "$scene" --seconds "$seconds" --shard "{}/$jobs" --out "$out/shards/{}"
"$marquee" trace merge "$out"/shards/* --out "$out/trace"
