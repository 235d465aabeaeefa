#!/usr/bin/env bash
# Soak: the showcase with recorders for many frames, its memory and open files sampled.
#
#   scripts/soak.sh [FRAMES] [OUT_DIR]      (defaults: 1000000 frames, a new temporary folder)
#
# Runs `marquee run` (release build) on scenes/showcase.toml with three recorders attached (an
# ffmpeg video of every frame, a PNG every 10,000th, pre-roll clips around a trigger sent with
# SIGUSR1 every 10 seconds), headless and unpaced. Every 2 seconds it samples the process's
# resident memory (VmRSS) and its open file descriptors into OUT_DIR/samples.csv, then prints
# the first, lowest, highest and last of each and the run's own summary. Exits non-zero if the
# run failed, or if the last sample holds more file descriptors than the first sample after the
# start (a leak).
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-1000000}
out=${2:-$(mktemp -d /tmp/marquee-soak.XXXXXX)}
mkdir -p "$out"

cargo build --release --bin marquee --quiet
scene="$out/soak.toml"
cat scenes/showcase.toml - >"$scene" <<'TOML'

[[recorder]]
id = "video"
plugin = "video"
[recorder.config]
path = "soak.mp4"

[[recorder]]
id = "stills"
plugin = "png-sequence"
[recorder.config]
path = "stills/frame-{n}.png"
every = 10000

[[recorder]]
id = "clips"
plugin = "preroll"
[recorder.config]
path = "clips/clip-{n}.mp4"
pre_roll_ms = 1000
post_roll_ms = 500
TOML

target/release/marquee run "$scene" --output headless --unpaced --no-reload \
    --frames "$frames" --out-dir "$out" >"$out/run.log" 2>&1 &
pid=$!
echo "seconds,rss_kib,fds" >"$out/samples.csv"
start=$SECONDS
last_trigger=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
    if [ -n "$rss" ]; then
        echo "$((SECONDS - start)),$rss,$fds" >>"$out/samples.csv"
    fi
    if [ $((SECONDS - last_trigger)) -ge 10 ]; then
        kill -USR1 "$pid" 2>/dev/null || true
        last_trigger=$SECONDS
    fi
    sleep 2
done
status=0
wait "$pid" || status=$?

echo "soak: $frames frames in $((SECONDS - start)) s, exit status $status; files in $out"
awk -F, 'NR == 2 { fr = $2; ff = $3; lr = $2; hr = $2; lf = $3; hf = $3 }
    NR > 2 && NR == 3 { ff = $3 }
    NR > 1 { if ($2 < lr) lr = $2; if ($2 > hr) hr = $2; if ($3 < lf) lf = $3; if ($3 > hf) hf = $3; r = $2; f = $3; n++ }
    END { printf "samples %d; RSS KiB first %d, lowest %d, highest %d, last %d; open fds after start %d, lowest %d, highest %d, last %d\n", n, fr, lr, hr, r, ff, lf, hf, f
          if (f > ff) { print "error: more file descriptors open at the end than at the start"; exit 1 } }' \
    "$out/samples.csv"
grep -E "frames recorded|clips|frames of|failure|error" "$out/run.log" || true
exit "$status"
