#!/usr/bin/env python3
"""Size and PSNR of trace.gif beside ffmpeg's GIF (and gifski's, when installed), on the same frames.

Usage: scripts/gif_size.py [WORKDIR]   (needs ffmpeg, Pillow and numpy: Debian python3-pil
python3-numpy; run with /usr/bin/python3 where another python3 comes first on the PATH)

Footage: ffmpeg's `testsrc2` at 256×256, 30 fps, 10 s (300 frames), written as PNGs and traced
through the `image-sequence` plugin; a photograph panned across, the same way (see `photo`; its
PNGs are what `PHOTO_FRAMES` of the `gif` bench reads); a smooth moving gradient at 256×256 (the `gradient` plugin,
10 s); and the 10 s showcase trace, whose frames the peers get as PNGs. For each GIF: its size, and the PSNR of every decoded frame (Pillow, RGB) against the
source frames, over the whole clip. Prints one JSON object.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARQUEE = os.environ.get("MARQUEE", os.path.join(ROOT, "target/release/marquee"))
# gifski 1.7.1 has a Linux binary in its npm package: `npm install gifski`, then
# GIFSKI=node_modules/gifski/bin/debian/gifski.
GIFSKI = os.environ.get("GIFSKI", "gifski")


def run(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def gif_frames(path):
    """Every frame of the GIF as Pillow shows it (disposal and transparency applied), RGB, with
    its duration in milliseconds."""
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            yield np.asarray(im.convert("RGB"), dtype=np.float64), im.info.get("duration", 0)


def psnr(path, sources, fps=30.0):
    """PSNR over the clip of the GIF against `sources`, each source frame compared with the GIF
    frame showing at the middle of its time (an encoder may merge still frames into one longer
    one; delays are whole centiseconds)."""
    se, n, i, start = 0.0, 0, 0, 0.0
    for frame, duration in gif_frames(path):
        end = start + duration
        while i < len(sources) and ((i + 0.5) * 1000.0 / fps < end or duration == 0):
            se += float(((frame - sources[i]) ** 2).sum())
            n += frame.size
            i += 1
            if duration == 0:
                break
        start = end
    assert i == len(sources), f"{path}: covers {i} of {len(sources)} frames"
    return 10 * np.log10(255.0**2 / (se / n)) if se else float("inf")


def sources_of(pngs):
    return [np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) for p in pngs]


def traced_pngs(work, name, frames):
    """Our trace of the PNGs in `frames` (f0001.png ...) through `image-sequence`, beside the
    peers' GIFs of the same PNGs."""
    pngs = sorted(os.path.join(frames, f) for f in os.listdir(frames) if f.endswith(".png"))
    scene = os.path.join(work, f"{name}.toml")
    with open(scene, "w") as f:
        f.write(f'name = "{name}"\nfps = 30\n[canvas]\nwidth = 256\nheight = 256\n'
                '[[layer]]\nplugin = "image-sequence"\n'
                f'config = {{ path = "{frames}", fps = 30.0, wait = true }}\n')
    trace = os.path.join(work, f"marquee-{name}")
    run(MARQUEE, "trace", scene, "--seconds", "10", "--out", trace)
    return peers(work, name, os.path.join(trace, "trace.gif"), pngs, sources_of(pngs))


def photo(work):
    """A photograph panned across (NASA's public-domain astronaut portrait, 512×512, from
    Debian's python3-skimage package, fetched with `apt-get download`, not installed): 300
    frames of 256×256, each a window moving right and swaying up and down, as PNGs; the
    directory."""
    image = os.path.join(work, "astronaut.png")
    if not os.path.exists(image):
        run("apt-get", "download", "python3-skimage", cwd=work)
        deb = next(f for f in os.listdir(work) if f.startswith("python3-skimage_"))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", os.path.join(work, deb)], check=True,
                             capture_output=True).stdout
        member = "./usr/lib/python3/dist-packages/skimage/data/astronaut.png"
        png = subprocess.run(["tar", "-x", "-O", member], input=tar, check=True, capture_output=True).stdout
        with open(image, "wb") as f:
            f.write(png)
    frames = os.path.join(work, "photo")
    os.makedirs(frames, exist_ok=True)
    run("ffmpeg", "-y", "-v", "error", "-loop", "1", "-i", image, "-vf",
        "crop=256:256:'min(256,25.6*t)':'128+96*sin(0.6*t)',format=rgb24", "-t", "10", "-r", "30",
        os.path.join(frames, "f%04d.png"))
    return frames


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gif-size-")
    frames = os.path.join(work, "testsrc2")
    os.makedirs(frames, exist_ok=True)
    run("ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=256x256:rate=30:duration=10",
        os.path.join(frames, "f%04d.png"))
    out = {"testsrc2": traced_pngs(work, "testsrc2", frames)}
    out["photo"] = traced_pngs(work, "photo", photo(work))

    # A smooth moving gradient (thousands of colours a frame), its exact frames written as PNGs
    # by a `png-sequence` recorder, then traced.
    grad = os.path.join(work, "gradient")
    shutil.rmtree(grad, ignore_errors=True)
    os.makedirs(grad)
    scene = os.path.join(work, "gradient.toml")
    layer = ('name = "gradient"\nfps = 30\n[canvas]\nwidth = 256\nheight = 256\n[[layer]]\n'
             'plugin = "gradient"\nconfig = { colors = ["#ff0000", "#00ff80", "#2000ff"], angle = 30.0, speed = 0.3 }\n')
    with open(scene, "w") as f:
        f.write(layer + '[[recorder]]\nplugin = "png-sequence"\nconfig = { path = "gradient/f{n}.png", digits = 4 }\n')
    run(MARQUEE, "run", scene, "--output", "headless", "--unpaced", "--frames", "300", cwd=work)
    pngs = sorted(os.path.join(grad, f) for f in os.listdir(grad) if f.endswith(".png"))
    # png-sequence numbers from 0; the peers read f%04d.png from 1.
    for i, p in reversed(list(enumerate(pngs))):
        os.replace(p, os.path.join(grad, f"f{i + 1:04d}.png"))
    pngs = [os.path.join(grad, f"f{i + 1:04d}.png") for i in range(len(pngs))]
    with open(scene, "w") as f:
        f.write(layer)
    trace = os.path.join(work, "marquee-gradient")
    run(MARQUEE, "trace", scene, "--seconds", "10", "--out", trace)
    out["gradient"] = peers(work, "gradient", os.path.join(trace, "trace.gif"), pngs, sources_of(pngs))

    # The showcase, whose frames have at most 256 colours: the trace's GIF is exact (checked
    # against the index), so its frames are the peers' source.
    show = os.path.join(work, "marquee-showcase")
    run(MARQUEE, "trace", os.path.join(ROOT, "scenes/showcase.toml"), "--seconds", "10", "--out", show,
        cwd=ROOT)
    with open(os.path.join(show, "index.json")) as f:
        index = json.load(f)
    assert all(e["rgba"] == e["gif"] for e in index["frames"]), "showcase frames over 256 colours"
    frames = os.path.join(work, "showcase")
    os.makedirs(frames, exist_ok=True)
    gif = os.path.join(show, "trace.gif")
    pngs = []
    for i, (frame, _) in enumerate(gif_frames(gif)):
        pngs.append(os.path.join(frames, f"f{i + 1:04d}.png"))
        Image.fromarray(frame.astype(np.uint8)).save(pngs[-1])
    out["showcase"] = peers(work, "showcase", gif, pngs, sources_of(pngs))
    print(json.dumps(out, indent=2))


def peers(work, name, ours, pngs, sources):
    """Size and PSNR of our GIF, ffmpeg's palettegen + paletteuse and gifski --fast."""
    out = {"marquee": {"bytes": os.path.getsize(ours), "psnr": psnr(ours, sources)}}
    peer = os.path.join(work, f"{name}-ffmpeg-palette.gif")
    pattern = os.path.join(os.path.dirname(pngs[0]), "f%04d.png")
    run("ffmpeg", "-y", "-v", "error", "-framerate", "30", "-i", pattern,
        "-filter_complex", "[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse", peer)
    out["ffmpeg_palette"] = {"bytes": os.path.getsize(peer), "psnr": psnr(peer, sources)}
    ski = os.path.join(work, f"{name}-gifski.gif")
    try:
        size = Image.open(pngs[0]).size
        run(GIFSKI, "--fast", "--quiet", "-r", "30", "-W", str(size[0]), "-H", str(size[1]), "-o", ski, *pngs)
        out["gifski_fast"] = {"bytes": os.path.getsize(ski), "psnr": psnr(ski, sources)}
    except FileNotFoundError:
        out["gifski_fast"] = None
    return out


if __name__ == "__main__":
    main()
