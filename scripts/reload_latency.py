#!/usr/bin/env python3
"""Hot-reload latency: from a one-layer edit of a scene file to the first frame of the edited scene.

    scripts/reload_latency.py MARQUEE SCENE [EDITS]

Copies SCENE into a temporary directory, runs `MARQUEE run COPY --headless --unpaced` with its
metrics streamed to a loopback TCP socket this script listens on, waits for frames, then EDITS
times rewrites the copy with the `opacity` of its first layer that states one changed (a
one-layer edit) and times each write to the `layers` line the host sends once it has made the
first frame of the edited scene. The live loop looks at its files every 250 ms, so each figure is
that poll's wait plus the reload itself. Edits are spaced by a random 300-550 ms so that they
land at every phase of the poll: the wait is then uniform over 0-250 ms, and the median over many
edits shows the reload's own cost as its offset from 125 ms (the `reload/` criterion bench
measures that cost alone). Prints one JSON object: every latency in
milliseconds, their median, the 90th percentile and the minimum.
"""

import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> int:
    binary, scene = sys.argv[1], sys.argv[2]
    edits = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    original = open(scene, encoding="utf-8").read()
    match = re.search(r"^opacity = ([0-9.]+)", original, re.M)
    if not match:
        print("the scene has no `opacity = ` line to edit", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(scene))
        shutil.copy(scene, copy)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        child = subprocess.Popen(
            [binary, "run", copy, "--headless", "--unpaced", "--metrics", f"tcp://127.0.0.1:{port}",
             "--metrics-every", "1000000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.settimeout(30)
        conn, _ = listener.accept()
        lines = conn.makefile("r", encoding="utf-8")
        # The first scene's `layers` line: it is running.
        for line in lines:
            if json.loads(line).get("type") == "layers":
                break
        latencies = []
        rng = random.Random(7)
        for i in range(edits):
            time.sleep(0.3 + 0.25 * rng.random())
            value = 0.5 + 0.01 * (i % 40)
            text = original[:match.start(1)] + f"{value:.2f}" + original[match.end(1):]
            with open(copy + ".new", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(copy + ".new", copy)
            t0 = time.monotonic()
            for line in lines:
                if json.loads(line).get("type") == "layers":
                    break
            latencies.append((time.monotonic() - t0) * 1000.0)
        child.terminate()
        child.wait(timeout=30)
    latencies.sort()
    print(json.dumps({
        "edits": edits,
        "median_ms": round(statistics.median(latencies), 2),
        "p90_ms": round(latencies[int(0.9 * (len(latencies) - 1))], 2),
        "min_ms": round(latencies[0], 2),
        "all_ms": [round(x, 2) for x in latencies],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
