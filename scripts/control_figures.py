#!/usr/bin/env python3
"""What the remote control costs the show, measured (docs/PERFORMANCE.md, "Remote control"):

    cargo build --release --bin marquee && python3 scripts/control_figures.py [SECONDS]

- the showcase's frame times (the `ms` of every `--metrics` frame line) over SECONDS of a paced
  run with `--serve`, without viewers and with 20 preview viewers reading `/api/preview` (a
  thread each), with the show's skipped frames and its outputs' drops;
- requests per second for `GET /api/status` from 4 clients on kept-alive connections;
- the latency from `POST /api/next` (answered 202) to the first status that shows the next entry;
- how long the HTTP and OSC crates take to build (dev profile, a target directory of their own).
"""
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARQUEE = os.path.join(ROOT, "target/release/marquee")


def start(scene, metrics):
    """Starts a paced headless run with --serve; returns the process and the server's address."""
    p = subprocess.Popen(
        [MARQUEE, "run", scene, "--output", "headless", "--no-reload", "--serve", "127.0.0.1:0",
         "--metrics", metrics],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"remote control: http://([\d.]+):(\d+)/", line)
        if m:
            # Keep reading what it says, so that it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, (m.group(1), int(m.group(2)))
    raise SystemExit("marquee did not start its remote control")


def stop(p):
    p.terminate()
    p.wait(timeout=30)


def status(addr):
    c = http.client.HTTPConnection(*addr, timeout=10)
    c.request("GET", "/api/status")
    return json.loads(c.getresponse().read())


def viewer(addr, until):
    c = http.client.HTTPConnection(*addr, timeout=10)
    c.request("GET", "/api/preview")
    r = c.getresponse()
    while time.monotonic() < until:
        if not r.read(65536):
            break


def pct(ms, q):
    return ms[min(len(ms) - 1, round((len(ms) - 1) * q))]


def with_viewers(viewers, tmp):
    metrics = os.path.join(tmp, f"viewers-{viewers}.jsonl")
    p, addr = start("scenes/showcase.toml", metrics)
    time.sleep(1)
    until = time.monotonic() + SECONDS
    threads = [threading.Thread(target=viewer, args=(addr, until)) for _ in range(viewers)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, until - time.monotonic()))
    for t in threads:
        t.join()
    s = status(addr)
    stop(p)
    ms = sorted(l["ms"] for l in map(json.loads, open(metrics)) if l["type"] == "frame")
    return ms, s


def main():
    tmp = tempfile.mkdtemp(prefix="control-figures.")
    print(f"Remote control figures ({SECONDS:.0f} s per case, release build, the showcase 256×64 at 30 fps)\n")
    print("| case | frame p50 | frame p99 | frames | skipped | headless dropped | preview dropped |")
    print("|---|---|---|---|---|---|---|")
    for viewers in (0, 20):
        ms, s = with_viewers(viewers, tmp)
        out = {o["name"]: o for o in s["outputs"]}
        print(f"| {viewers} preview viewers | {pct(ms, 0.5):.3f} ms | {pct(ms, 0.99):.3f} ms | {len(ms)} "
              f"| {s['skipped']} | {out['headless']['dropped']} | {out['preview']['dropped']} |")

    p, addr = start("scenes/tour.toml", os.path.join(tmp, "tour.jsonl"))
    time.sleep(1)
    served = [0] * 4
    until = time.monotonic() + SECONDS

    def reader(i):
        c = http.client.HTTPConnection(*addr, timeout=10)
        while time.monotonic() < until:
            c.request("GET", "/api/status")
            c.getresponse().read()
            served[i] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\nGET /api/status, 4 clients, kept-alive connections: {sum(served) / SECONDS:.0f} requests/s")

    latencies = []
    for _ in range(20):
        before = status(addr)["entry"]
        c = http.client.HTTPConnection(*addr, timeout=10)
        t0 = time.monotonic()
        c.request("POST", "/api/next")
        if c.getresponse().status != 202:
            raise SystemExit("POST /api/next was refused")
        while status(addr)["entry"] == before:
            pass
        latencies.append((time.monotonic() - t0) * 1e3)
        time.sleep(0.2)
    stop(p)
    latencies.sort()
    print(f"POST /api/next to the first status showing the next entry, 20 times: "
          f"median {statistics.median(latencies):.1f} ms, max {latencies[-1]:.1f} ms")

    for crate in ("tiny_http", "rosc"):
        target = os.path.join(tmp, f"build-{crate}")
        t0 = time.monotonic()
        subprocess.run(["cargo", "build", "--quiet", "-p", crate], cwd=ROOT, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": target})
        print(f"`cargo build -p {crate}` (with its dependencies, dev profile, from nothing): "
              f"{time.monotonic() - t0:.1f} s")
        shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


main()
