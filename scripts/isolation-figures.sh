#!/usr/bin/env bash
# What isolating an instance in a child process costs, measured in one run (docs/PERFORMANCE.md,
# "Isolated instances"):
#
#   scripts/isolation-figures.sh [ROUNDS]      (default 3 rounds)
#
# - per frame, alternating in-process and isolated for ROUNDS rounds (`marquee bench`, release):
#   the showcase (256×64) with its Mandelbrot isolated, and one 1920×1080 renderer (`gradient`)
#   isolated; beside them the peer: one copy of a 1080p frame (`membw` from ../shared/peers,
#   memcpy of 8,294,400 bytes), the bound the issue sets on isolation's cost at 1080p;
# - a hung call: the `wayward` fixture loops in `render` at frame 50 with `frame_ms = 100`; the
#   hung frame's time (from the metrics stream) less the deadline is what killing and moving on
#   costs;
# - restart time: spawn to first answer of a new child, from the watchdog's `restarted` lines
#   (a segfault at frames 50, 100, 150, 200, at 1000 fps: a restart is seen at the next frame's
#   call, so this is at most 1 ms late; `cargo bench --bench isolation`'s `start` has it exactly);
# - memory per child: RSS and PSS of each child while the showcase runs with `--isolate all`.
# Prints a Markdown report; the raw figures stay in OUT (default: a new temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
out=${OUT:-$(mktemp -d /tmp/isolation-figures.XXXXXX)}
mkdir -p "$out/plugins"
cargo build --quiet --release --bin marquee
cargo build --quiet --release -p marquee-fixture-wayward
bin=target/release/marquee
cp target/release/libmarquee_fixture_wayward.so "$out/plugins/"
export MARQUEE_CACHE_DIR="$out/cache" RUST_BACKTRACE=0
gcc -O3 -march=native -fopenmp -o "$out/membw" ../shared/peers/membw.c

printf 'fps = 60\n[canvas]\nwidth = 1920\nheight = 1080\n[[layer]]\nplugin = "gradient"\n' >"$out/hd.toml"
for round in $(seq "$rounds"); do
  for case in "showcase scenes/showcase.toml mandelbrot" "hd $out/hd.toml gradient"; do
    set -- $case
    frames=3000; [ "$1" = hd ] && frames=600
    "$bin" bench "$2" --frames $frames --warmup 60 --json "$out/$1-here-$round.json" >/dev/null 2>&1
    "$bin" bench "$2" --frames $frames --warmup 60 --isolate "$3" --json "$out/$1-isolated-$round.json" >/dev/null 2>&1
  done
  OMP_NUM_THREADS=1 "$out/membw" 8294400 1 200 >"$out/membw-$round.txt"
done

cat >"$out/hang.toml" <<'TOML'
fps = 30
[canvas]
width = 64
height = 16
[isolation]
frame_ms = 100
[[layer]]
plugin = "wayward"
isolate = true
config = { fail = "loop", at = [50] }
TOML
"$bin" --plugin-dir "$out/plugins" run "$out/hang.toml" --output headless --no-reload --frames 120 \
  --metrics "$out/hang.jsonl" >/dev/null 2>&1 || true
sed 's/"loop", at = \[50\]/"segfault", at = [50, 100, 150, 200]/; s/frame_ms = 100/max_failures = 10/; s/fps = 30/fps = 1000/' \
  "$out/hang.toml" >"$out/crash.toml"
"$bin" --plugin-dir "$out/plugins" run "$out/crash.toml" --output headless --no-reload --frames 260 \
  --metrics "$out/crash.jsonl" >/dev/null 2>&1 || true

"$bin" run scenes/showcase.toml --output headless --no-reload --frames 150 --isolate all >/dev/null 2>&1 &
host=$!
sleep 3
: >"$out/children.txt"
for child in $(cat /proc/$host/task/*/children 2>/dev/null); do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$child/status)
  pss=$(awk '/^Pss:/ {print $2}' /proc/$child/smaps_rollup)
  echo "$child $rss $pss $(tr '\0' ' ' </proc/$child/cmdline | sed 's/.*--builtin \([^ ]*\).*/\1/')" >>"$out/children.txt"
done
host_rss=$(awk '/^VmRSS/ {print $2}' /proc/$host/status)
wait $host || true

python3 - "$out" "$rounds" "$host_rss" <<'PY'
import json, re, statistics, sys
out, rounds, host_rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def med(case, how, key):
    return statistics.median(json.load(open(f"{out}/{case}-{how}-{r}.json"))[key] for r in range(1, rounds + 1))
copy_gbs = statistics.median(
    float(re.search(r"memcpy.*median ([\d.]+) GB/s", open(f"{out}/membw-{r}.txt").read()).group(1)) for r in range(1, rounds + 1))
copy_ms = 8294400 / (copy_gbs * 1e9) * 1e3
print(f"Isolation figures, {rounds} rounds alternating, medians of the per-round medians (release, 1 thread)\n")
print("| case | in process | isolated | cost per frame | allocations/frame (isolated) |")
print("|---|---|---|---|---|")
for case, name in [("showcase", "showcase 256×64, Mandelbrot isolated"), ("hd", "1920×1080 `gradient`, isolated")]:
    here, iso = med(case, "here", "median_ms"), med(case, "isolated", "median_ms")
    print(f"| {name} | {here:.4f} ms | {iso:.4f} ms | {iso - here:+.4f} ms ({(iso / here - 1) * 100:+.1f} %) | {med(case, 'isolated', 'allocations_per_frame'):.2f} |")
print(f"\nPeer: one copy of a 1080p frame (membw memcpy, {copy_gbs:.2f} GB/s): {copy_ms:.3f} ms\n")
lines = [json.loads(l) for l in open(f"{out}/hang.jsonl")]
hung = next(l for l in lines if l["type"] == "frame" and l["frame"] == 50)
print(f"Hung `render` (deadline 100 ms): the frame took {hung['ms']:.1f} ms, {hung['ms'] - 100:.2f} ms past the deadline to kill the child and move on")
crash = [json.loads(l) for l in open(f"{out}/crash.jsonl")]
took = [float(re.search(r"\(([\d.]+) ms to start", l["text"]).group(1)) for l in crash if l["type"] == "watchdog" and l["event"] == "restarted"]
print(f"Restart (spawn to first answer, seen within 1 ms), {len(took)} restarts: median {statistics.median(took):.1f} ms, max {max(took):.1f} ms")
kids = [l.split() for l in open(f"{out}/children.txt")]
print(f"\nMemory per child (showcase, `--isolate all`, host RSS {host_rss / 1024:.1f} MiB):\n")
print("| instance | RSS | PSS |")
print("|---|---|---|")
for pid, rss, pss, what in kids:
    print(f"| {what} | {int(rss) / 1024:.1f} MiB | {int(pss) / 1024:.1f} MiB |")
PY
echo
echo "raw figures: $out"
