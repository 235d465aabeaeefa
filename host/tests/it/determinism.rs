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
    // Decode with the gif crate's decoder directly, compositing frames onto the logical screen.
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::fs::File::open(dir.path().join("trace.gif")).unwrap())
        .unwrap();
    assert_eq!((decoder.width() as u32, decoder.height() as u32), (256, 64));
    let mut screen = vec![0u8; 256 * 64 * 4];
    let mut n = 0;
    let mut centis = 0u64;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!(
            (frame.left, frame.top, frame.width, frame.height),
            (0, 0, 256, 64)
        );
        screen.copy_from_slice(&frame.buffer);
        let entry = &index.frames[n];
        assert_eq!(hash_hex(&screen), entry.gif, "frame {n}");
        assert_eq!(frame.delay, entry.delay);
        centis += frame.delay as u64;
        n += 1;
    }
    assert_eq!(n as u64, FRAMES);
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
