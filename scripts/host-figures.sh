#!/usr/bin/env bash
# The host's figures for two revisions, measured in one run, side by side:
#
#   scripts/host-figures.sh BEFORE [AFTER]      (revisions; AFTER defaults to HEAD)
#
# For each revision (a detached worktree under OUT with a target directory of its own: cargo
# gives a workspace's path crates the same artifact names in every checkout, so two checkouts
# sharing one target directory overwrite each other's): the release `marquee`, then, alternating
# between the two
# binaries for three rounds,
#   - `marquee bench scenes/showcase.toml --frames 3000` (median, p99, allocations per frame),
#   - the same on an empty 256×64 scene (the framework's own overhead);
# then per revision
#   - the `reload/showcase_one_layer` criterion bench (a one-layer edit parsed and applied),
#   - `scripts/reload_latency.py` (file write to the first frame of the edited scene, end to end,
#     through the live loop's 250 ms poll),
#   - build times of the host in the dev profile: cold (`cargo clean -p marquee-host`, then
#     `cargo build -p marquee-host --lib --bin marquee` with dependencies already built) and
#     incremental (the same after appending a comment to `host/src/lib.rs`),
#   - line counts of `host/src` per top-level module.
# Prints a Markdown report; the raw figures stay in OUT (default: a new temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
before=$(git rev-parse --short "${1:?usage: host-figures.sh BEFORE [AFTER]}")
after=$(git rev-parse --short "${2:-HEAD}")
out=${OUT:-$(mktemp -d /tmp/host-figures.XXXXXX)}
mkdir -p "$out"
empty="$out/empty.toml"
printf 'fps = 30\n[canvas]\nwidth = 256\nheight = 64\n' >"$empty"

for rev in "$before" "$after"; do
  tree="$out/tree-$rev"
  [ -d "$tree" ] || git worktree add --detach --quiet "$tree" "$rev"
  (cd "$tree" && CARGO_TARGET_DIR="$out/target-$rev" cargo build --quiet --release --bin marquee)
  cp "$out/target-$rev/release/marquee" "$out/marquee-$rev"
done

for round in 1 2 3; do
  for rev in "$before" "$after"; do
    tree="$out/tree-$rev"
    "$out/marquee-$rev" bench "$tree/scenes/showcase.toml" --frames 3000 --json "$out/showcase-$rev-$round.json" >/dev/null
    "$out/marquee-$rev" bench "$empty" --frames 20000 --json "$out/empty-$rev-$round.json" >/dev/null
  done
done

for rev in "$before" "$after"; do
  tree="$out/tree-$rev"
  export CARGO_TARGET_DIR="$out/target-$rev"
  (cd "$tree" && cargo bench --quiet -p marquee-host --bench showcase -- --noplot reload/ 2>/dev/null) \
    | grep -A1 '^reload/' | grep 'time:' >"$out/reload-$rev.txt" || true
  python3 scripts/reload_latency.py "$out/marquee-$rev" "$tree/scenes/showcase.toml" 30 >"$out/latency-$rev.json"
  (
    cd "$tree"
    cargo build --quiet -p marquee-host --lib --bin marquee
    cargo clean --quiet -p marquee-host
    s=$(date +%s.%N); cargo build --quiet -p marquee-host --lib --bin marquee; e=$(date +%s.%N)
    echo "$s $e" | awk '{printf "%.1f\n", $2 - $1}' >"$out/cold-$rev.txt"
    echo '// an edit' >>host/src/lib.rs
    s=$(date +%s.%N); cargo build --quiet -p marquee-host --lib --bin marquee; e=$(date +%s.%N)
    git checkout --quiet host/src/lib.rs
    echo "$s $e" | awk '{printf "%.1f\n", $2 - $1}' >"$out/incremental-$rev.txt"
  )
  (
    cd "$tree/host/src"
    for m in *; do
      n=$(find "$m" -name '*.rs' -print0 | xargs -0 cat | wc -l)
      echo "$n ${m%.rs}"
    done
  ) | sort -rn >"$out/lines-$rev.txt"
done

python3 - "$out" "$before" "$after" <<'PY'
import json, statistics, sys, glob, pathlib
out, revs = pathlib.Path(sys.argv[1]), sys.argv[2:]
def bench(kind, rev):
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{kind}-{rev}-*.json"))]
    med = statistics.median(r["median_ms"] for r in runs)
    p99 = statistics.median(r["p99_ms"] for r in runs)
    alloc = max(r.get("allocations_per_frame", 0) for r in runs)
    return med, p99, alloc
print("| figure | " + " | ".join(revs) + " |")
print("|---|" + "---|" * len(revs))
for kind in ("showcase", "empty"):
    rows = [bench(kind, r) for r in revs]
    print(f"| {kind}: median ms | " + " | ".join(f"{m:.4f}" for m, _, _ in rows) + " |")
    print(f"| {kind}: p99 ms | " + " | ".join(f"{p:.4f}" for _, p, _ in rows) + " |")
    print(f"| {kind}: allocations per frame | " + " | ".join(f"{a:g}" for _, _, a in rows) + " |")
def text(name, rev):
    p = out / f"{name}-{rev}.txt"
    return p.read_text().strip() if p.exists() else "?"
print("| reload, criterion [low mid high] | " + " | ".join(text("reload", r).replace("time:", "").strip() for r in revs) + " |")
lat = [json.load(open(out / f"latency-{r}.json")) for r in revs]
print("| reload, file write → first edited frame: median / p90 / min ms | " + " | ".join(f"{l['median_ms']} / {l['p90_ms']} / {l['min_ms']}" for l in lat) + " |")
print("| host build, cold s | " + " | ".join(text("cold", r) for r in revs) + " |")
print("| host build, incremental s | " + " | ".join(text("incremental", r) for r in revs) + " |")
for r in revs:
    print(f"\nLines of host/src per module at {r}:\n")
    print("```\n" + text("lines", r) + "\n```")
PY
for rev in "$before" "$after"; do git worktree remove --force "$out/tree-$rev"; done
