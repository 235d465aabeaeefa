#!/usr/bin/env python3
"""What sharding a trace costs, measured (docs/PERFORMANCE.md, "Sharded traces"):

    cargo build --release --bin marquee && python3 scripts/shard_figures.py [REPEATS] [SCENE]

A 120 s trace of SCENE (default the showcase) at 60 fps (7,200 frames), as 1, 2 and 4 shards
run one after another on this machine, each command timed from start to exit (median of
REPEATS runs, default 3); the merge timed the same way; the merged trace checked byte for byte
against the unsharded one; `verify` of the whole trace, and of its shards one after another.
From those: the sum of the shards (the work sharding adds: reaching each shard's first frame,
starting each process, the merge) and the wall time projected on n machines (the slowest shard,
then the merge). Prints a JSON object.
"""
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SCENE = sys.argv[2] if len(sys.argv) > 2 else "scenes/showcase.toml"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARQUEE = os.path.join(ROOT, "target/release/marquee")
TRACE = ["--seconds", "120", "--fps", "60"]


def timed(args):
    """Runs marquee ARGS in the workspace root; seconds from start to exit."""
    t0 = time.perf_counter()
    subprocess.run([MARQUEE, *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def median_of(f):
    return statistics.median(f() for _ in range(REPEATS))


def main():
    out = {"scene": SCENE, "frames": 7200, "repeats": REPEATS, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        whole = os.path.join(d, "whole")
        out["unsharded_s"] = median_of(lambda: timed(["trace", SCENE, *TRACE, "--out", whole]))
        out["verify_s"] = median_of(lambda: timed(["verify", whole, "--quiet"]))
        for n in (2, 4):
            shards = [os.path.join(d, f"{n}-{i}") for i in range(1, n + 1)]
            per = [median_of(lambda i=i: timed(["trace", SCENE, *TRACE, "--shard", f"{i}/{n}", "--out", shards[i - 1]]))
                   for i in range(1, n + 1)]
            merged = os.path.join(d, f"{n}-merged")
            merge = median_of(lambda: timed(["trace", "merge", *shards, "--out", merged]))
            same = all(filecmp.cmp(os.path.join(whole, f), os.path.join(merged, f), shallow=False)
                       for f in ("index.json", "trace.gif"))
            verify = [median_of(lambda i=i: timed(["verify", whole, "--quiet", "--shard", f"{i}/{n}"]))
                      for i in range(1, n + 1)]
            out[f"shards_{n}"] = {
                "per_shard_s": [round(s, 3) for s in per],
                "sum_s": round(sum(per), 3),
                "overhead_vs_unsharded": round(sum(per) / out["unsharded_s"] - 1, 4),
                "merge_s": round(merge, 3),
                "byte_identical": same,
                "projected_wall_s_on_n_machines": round(max(per) + merge, 3),
                "projected_speedup": round(out["unsharded_s"] / (max(per) + merge), 2),
                "verify_per_shard_s": [round(s, 3) for s in verify],
                "verify_projected_wall_s": round(max(verify), 3),
            }
        gif = os.path.getsize(os.path.join(whole, "trace.gif"))
        out["trace_gif_bytes"] = gif
    out["unsharded_s"] = round(out["unsharded_s"], 3)
    out["verify_s"] = round(out["verify_s"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
