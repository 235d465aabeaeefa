#!/usr/bin/env python3
"""Peers for Marquee's LED outputs: existing Python senders building and sending one 256x64 RGB
frame to a loopback socket nobody reads, timed per frame (median and p99 over FRAMES frames).
Marquee's figures beside them are the `output_thread_*` ones of `cargo bench --bench leds`
(which also map and colour-convert the frame); run this right after it, on the same machine.

    pip install sacn stupidartnet ledfx-senders && python3 scripts/led_peers.py [FRAMES]

- DDP: ledfx-senders' DDPSender (LedFx's sender: 1440-byte chunks, push, sequence 1-15).
- E1.31: sacn's DataPacket, one per universe of 170 pixels (97), sent on a UDP socket.
- Art-Net: stupidartnet, one StupidArtnet per universe of 170 pixels (97), `show()` each.
"""
import importlib.metadata as meta
import json
import socket
import statistics
import sys
import time

frames = int(sys.argv[1]) if len(sys.argv) > 1 else 600
width, height, per_universe = 256, 64, 170
pixels = width * height
universes = -(-pixels // per_universe)
frame = bytes((i * 2654435761 >> 13) & 0xFF for i in range(pixels * 3))
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 0))
host, port = sink.getsockname()


def timed(name, version, send_frame):
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        send_frame()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({
        "protocol": name,
        "sender": version,
        "frame": f"{width}x{height}",
        "median_ms": round(statistics.median(times) * 1e3, 4),
        "p99_ms": round(times[int(len(times) * 0.99)] * 1e3, 4),
    }))


def ddp():
    from ledfx_senders import DDPSender
    sender = DDPSender(pixels * 3, destination=host, port=port)
    timed("ddp", "ledfx-senders " + meta.version("ledfx-senders"), lambda: sender.send(frame))


def e131():
    from sacn.messages.data_packet import DataPacket
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packets = [DataPacket(tuple(range(16)), "peer", u + 1) for u in range(universes)]
    chunk = per_universe * 3

    def send():
        for u, p in enumerate(packets):
            p.dmxData = tuple(frame[u * chunk:(u + 1) * chunk])
            p.sequence_increase()
            out.sendto(bytearray(p.getBytes()), (host, port))
    timed("e131", "sacn " + meta.version("sacn"), send)


def artnet():
    from stupidArtnet import StupidArtnet
    chunk = per_universe * 3
    parts = [frame[u * chunk:(u + 1) * chunk] for u in range(universes)]
    nodes = [StupidArtnet(host, u, len(parts[u]), 60, True, False, port=port) for u in range(universes)]

    def send():
        for u, node in enumerate(nodes):
            node.set(frame[u * chunk:u * chunk + len(parts[u])])
            node.show()
    timed("artnet", "stupidartnet " + meta.version("stupidartnet"), send)


ddp()
e131()
artnet()
