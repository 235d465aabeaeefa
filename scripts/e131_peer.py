#!/usr/bin/env python3
"""A peer for Marquee's E1.31 output: the `sacn` package (PyPI) building and sending the packets
of one 256x64 RGB frame (97 universes of 170 pixels) to a loopback socket nobody reads, timed
per frame. Marquee's figure beside it is `output_thread_e131` of `cargo bench --bench leds`
(which also maps and colour-converts the frame).

    pip install sacn && python3 scripts/e131_peer.py [FRAMES]
"""
import json
import socket
import statistics
import sys
import time

from sacn.messages.data_packet import DataPacket

frames = int(sys.argv[1]) if len(sys.argv) > 1 else 600
width, height, per_universe = 256, 64, 170
pixels = width * height
universes = -(-pixels // per_universe)
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 0))
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
to = sink.getsockname()
cid = tuple(range(16))
packets = [DataPacket(cid, "peer", u + 1, priority=100) for u in range(universes)]
frame = [(i * 2654435761 >> 13) & 0xFF for i in range(pixels * 3)]
times = []
for f in range(frames):
    t0 = time.perf_counter()
    for u, p in enumerate(packets):
        p.dmxData = tuple(frame[u * per_universe * 3:(u + 1) * per_universe * 3])
        p.sequence_increase()
        out.sendto(bytearray(p.getBytes()), to)
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({
    "sender": "python sacn " + __import__("importlib.metadata").metadata.version("sacn"),
    "frame": f"{width}x{height}",
    "packets_per_frame": universes,
    "median_ms": round(statistics.median(times) * 1e3, 4),
    "p99_ms": round(times[int(len(times) * 0.99)] * 1e3, 4),
}))
