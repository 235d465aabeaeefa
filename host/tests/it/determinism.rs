//! The same scene and seed give byte-identical traces: run to run, with built-in or `.so` plugins,
//! on one or two worker threads, and in debug or release builds. The GIF decodes to exactly the
//! frames whose hashes the index records.

use std::path::{Path, PathBuf};

use marquee::plugins::registry::Registry;
use marquee::trace::{self, hash_hex};

use crate::util::{marquee, root, showcase, so_registry, text};

const FRAMES: u64 = 45;

/// The bytes of `index.json` and `trace.gif` in `dir`.
fn files(dir: &Path) -> (String, Vec<u8>) {
    (
        std::fs::read_to_string(dir.join("index.json")).unwrap(),
        std::fs::read(dir.join("trace.gif")).unwrap(),
    )
}

fn lib_trace(registry: &Registry, dir: &Path) -> (String, Vec<u8>) {
    trace::trace(&showcase(registry).into(), registry, dir, FRAMES, 1).unwrap();
    files(dir)
}

#[track_caller]
fn assert_same(a: &(String, Vec<u8>), b: &(String, Vec<u8>), what: &str) {
    assert!(a.0 == b.0, "index.json differs between {what}");
    assert!(a.1 == b.1, "trace.gif differs between {what}");
}

#[test]
fn run_to_run() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = Registry::builtin();
    assert_same(&lib_trace(&r, d1.path()), &lib_trace(&r, d2.path()), "two runs");
}

#[test]
fn builtin_and_so_plugins() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let builtin = lib_trace(&Registry::builtin(), d1.path());
    let dynamic = lib_trace(&so_registry(), d2.path());
    assert_same(&builtin, &dynamic, "built-in and .so plugins");
}

fn cli_trace(binary: &Path, dir: &Path, threads: usize) -> (String, Vec<u8>) {
    let out = std::process::Command::new(binary)
        .args([
            "trace",
            "scenes/showcase.toml",
            "--frames",
            &FRAMES.to_string(),
            "--threads",
            &threads.to_string(),
            "--out",
        ])
        .arg(dir)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    files(dir)
}

/// Traces with two (binary, threads) runs in separate processes and compares the bytes.
fn compare_cli(a: (&Path, usize), b: (&Path, usize), what: &str) {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_same(
        &cli_trace(a.0, d1.path(), a.1),
        &cli_trace(b.0, d2.path(), b.1),
        what,
    );
}

#[test]
fn one_and_two_threads() {
    // Separate processes: the worker pool is global to a process.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_marquee"));
    compare_cli((&bin, 1), (&bin, 2), "1 and 2 threads");
}

#[test]
fn debug_and_release_builds() {
    let release = crate::util::lib_dir()
        .parent()
        .unwrap()
        .join("release")
        .join(format!("marquee{}", std::env::consts::EXE_SUFFIX));
    assert!(
        release.exists(),
        "{} is missing: build it with `cargo build --release --bin marquee` before the tests (the README's test command does)",
        release.display()
    );
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_marquee"));
    compare_cli((&bin, 1), (&release, 1), "debug and release builds");
}

#[test]
fn gif_decodes_to_the_recorded_frames_with_count_size_and_delays() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = trace::trace(
        &showcase(&Registry::builtin()).into(),
        &Registry::builtin(),
        dir.path(),
        FRAMES,
        1,
    )
    .unwrap();
    let index = outcome.index;
    // Decode with the gif crate's decoder directly, drawing each frame's rectangle onto the
    // logical screen (disposal "keep": transparent pixels leave what was there).
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::fs::File::open(dir.path().join("trace.gif")).unwrap())
        .unwrap();
    assert_eq!((decoder.width() as u32, decoder.height() as u32), (256, 64));
    let mut screen = vec![0u8; 256 * 64 * 4];
    let mut n = 0;
    let mut centis = 0u64;
    let mut differences = 0;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!(frame.dispose, gif::DisposalMethod::Keep);
        let (left, top, width) = (frame.left as usize, frame.top as usize, frame.width as usize);
        differences += u64::from(frame.transparent.is_some());
        for (y, row) in frame.buffer.chunks_exact(width * 4).enumerate() {
            for (x, px) in row.chunks_exact(4).enumerate() {
                if px[3] != 0 {
                    let at = ((top + y) * 256 + left + x) * 4;
                    screen[at..at + 4].copy_from_slice(px);
                }
            }
        }
        let entry = &index.frames[n];
        assert_eq!(hash_hex(&screen), entry.gif, "frame {n}");
        assert_eq!(frame.delay, entry.delay);
        centis += frame.delay as u64;
        n += 1;
    }
    assert_eq!(n as u64, FRAMES);
    // Frame 0 is whole (a key frame); the others store what changed, the rest transparent.
    assert_eq!(differences, FRAMES - 1);
    // 30 fps: delays 3, 3, 4 (rounded cumulative), summing to round(100 · 45 / 30) = 150.
    assert_eq!(centis, 150);
    assert_eq!(
        index.frames[..3].iter().map(|f| f.delay).collect::<Vec<_>>(),
        [3, 4, 3]
    );
    // The GIF stores a quantised frame; with more than 256 colours it differs from the exact one.
    assert!(
        index
            .frames
            .iter()
            .all(|f| f.rgba.len() == 16 && f.gif.len() == 16)
    );
}

#[test]
fn committed_showcase_trace_verifies() {
    let out = marquee(&["verify", "traces/showcase", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok: all 300 frames"),
        "{}",
        text(&out)
    );
}

/// Every frame of the GIF at `path` as Pillow shows it (disposal and transparency applied),
/// RGBA8, one after another: an independent decoder.
fn pillow_frames(path: &Path) -> Vec<u8> {
    const SCRIPT: &str = "import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1])\n\
        for i in range(im.n_frames):\n    im.seek(i)\n    sys.stdout.buffer.write(im.convert('RGBA').tobytes())\n";
    // Debian's python3-pil, which .ci/run installs, is for the system's Python.
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("/usr/bin/python3: {e}; install python3-pil (.ci/run does)"));
    assert!(
        out.status.success(),
        "Pillow: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn pillow_decodes_every_frame_to_the_recorded_hash() {
    // The showcase (at most 256 colours a frame: exact differences) and a moving gradient (more:
    // differences within the tolerance), past a key frame (every 60th).
    let gradient = "name = \"gradient\"\nfps = 30\n[canvas]\nwidth = 160\nheight = 80\n\
        [[layer]]\nplugin = \"gradient\"\n\
        config = { colors = [\"#ff0000\", \"#00ff80\", \"#2000ff\"], angle = 30.0, speed = 0.3 }\n";
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builtin();
    let scene = dir.path().join("gradient.toml");
    std::fs::write(&scene, gradient).unwrap();
    let shows = [
        showcase(&registry).into(),
        marquee::model::show::Show::load(&scene, &registry).unwrap(),
    ];
    for (name, show) in ["showcase", "gradient"].into_iter().zip(shows) {
        let out = dir.path().join(name);
        let index = trace::trace(&show, &registry, &out, 70, 1).unwrap().index;
        let (w, h) = (index.scene.width as usize, index.scene.height as usize);
        let frames = pillow_frames(&out.join(trace::GIF_FILE));
        assert_eq!(frames.len(), 70 * w * h * 4, "{name}: frame count");
        for (entry, frame) in index.frames.iter().zip(frames.chunks_exact(w * h * 4)) {
            assert_eq!(hash_hex(frame), entry.gif, "{name}: frame {}", entry.index);
        }
        let exact = index.frames.iter().filter(|e| e.rgba == e.gif).count();
        match name {
            "showcase" => assert_eq!(exact, 70, "at most 256 colours: every frame exact"),
            _ => assert!(
                exact < 35,
                "mostly over 256 colours: quantised, but {exact} frames exact"
            ),
        }
    }
}
