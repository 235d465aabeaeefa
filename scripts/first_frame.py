#!/usr/bin/env python3
"""Start to first frame, measured (docs/PERFORMANCE.md, "Start to first frame"):

    cargo build --release --bin marquee && python3 scripts/first_frame.py [RUNS]

`marquee run scenes/showcase.toml --output headless --frames 1` from process start to exit
(every standard plugin is built in and registered), median and minimum of RUNS (default 21);
then the same with `--plugin-dir target/release`, where each standard plugin's `.so` is also
scanned and loaded. Prints a JSON object; `true` as `peer_true_ms`: `/bin/true` timed the same
way, the floor of starting any process here.
"""
import json
import os
import statistics
import subprocess
import sys
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 21
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARQUEE = os.path.join(ROOT, "target/release/marquee")


def timed(args):
    t0 = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1e3


def figure(args):
    ts = [timed(args) for _ in range(RUNS)]
    return {"median_ms": round(statistics.median(ts), 2), "min_ms": round(min(ts), 2)}


run = ["run", "scenes/showcase.toml", "--output", "headless", "--frames", "1"]
sos = sorted(f for f in os.listdir(os.path.join(ROOT, "target/release")) if f.endswith(".so"))
print(json.dumps({
    "runs": RUNS,
    "built_in": figure([MARQUEE, *run]),
    "with_plugin_dir": figure([MARQUEE, "--plugin-dir", "target/release", *run]),
    "plugin_files": len(sos),
    "peer_true_ms": figure(["/bin/true"]),
}, indent=2))
