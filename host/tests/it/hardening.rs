//! Hardening: scene files are data. They may not run a program, write outside the output
//! directory (through `..`, an absolute path or a symbolic link), block the host on a FIFO or
//! make it read without end; and no failure of a run is silent. One test per class of hole.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::util::{marquee, run_headless, text, wait_bounded};

const CANVAS: &str =
    "fps = 25\nseed = 3\n[canvas]\nwidth = 32\nheight = 16\n[[layer]]\nplugin = \"gradient\"\n";

/// Writes `CANVAS` plus `rest` to `dir/scene.toml` and returns its path.
fn scene(dir: &Path, rest: &str) -> std::path::PathBuf {
    let path = dir.join("scene.toml");
    std::fs::write(&path, format!("{CANVAS}{rest}")).unwrap();
    path
}

/// A headless, unpaced run of `frames` frames, then `extra`.
fn run(scene: &Path, frames: u32, extra: &[&str]) -> Output {
    run_headless(scene, frames, extra, &[])
}

/// Runs `marquee` with `args`, killed if it takes longer than `limit`.
fn bounded(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, limit, &format!("marquee {args:?}"))
}

/// Runs `path` (a scene or a playlist) headless for two frames, then `extra`, and returns what
/// was printed, after checking that it was refused as bad input (exit 2) within 20 seconds.
fn refused(path: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        path.to_str().unwrap(),
        "--output",
        "headless",
        "--frames",
        "2",
    ];
    args.extend(extra);
    let out = bounded(&args, Duration::from_secs(20));
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    shown
}

/// Writes `text` as `dir/scene.toml` and returns what [`refused`] printed for it.
fn refused_at_load(dir: &Path, text_of_scene: &str) -> String {
    let path = dir.join("scene.toml");
    std::fs::write(&path, text_of_scene).unwrap();
    refused(&path, &[])
}

/// Sends SIGTERM to `child` and waits for it, at most 10 seconds.
fn terminate(child: std::process::Child, what: &str) -> Output {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_bounded(child, Duration::from_secs(10), what)
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn a_scene_cannot_choose_a_program_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.sh");
    let marker = dir.path().join("ran");
    std::fs::write(
        &evil,
        format!("#!/bin/sh\ntouch '{}'\nexec ffmpeg \"$@\"\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    // One video, and clips made by instances of the video recorder.
    for clips in ["", "clips = { pre_roll_ms = 100 }\n"] {
        let path = scene(
            dir.path(),
            &format!(
                "[[recorder]]\nplugin = \"video\"\nconfig = {{ path = \"a-{{clip}}.mp4\", ffmpeg = \"./evil.sh\" }}\n{clips}"
            ),
        );
        let out = run(&path, 5, &[]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{shown}");
        assert!(shown.contains("scene.toml:10:"), "{shown}");
        assert!(shown.contains("`ffmpeg`"), "{shown}");
        assert!(!marker.exists(), "{clips}: the scene ran its own program");
    }
    // The user's environment names the program, and it is used.
    let path = scene(
        dir.path(),
        "[[recorder]]\nplugin = \"video\"\nconfig = { path = \"a.mkv\", codecs = [\"mpeg4\"] }\n",
    );
    let out = run_headless(&path, 5, &[], &[("MARQUEE_FFMPEG", evil.to_str().unwrap())]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(marker.exists(), "$MARQUEE_FFMPEG is the program");
}

#[test]
fn recorders_never_write_through_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let precious = outside.join("precious.txt");
    std::fs::write(&precious, "precious").unwrap();
    let pack = dir.path().join("pack");
    std::fs::create_dir(&pack).unwrap();
    // Links at the temporary and final names of each recorder's file.
    for name in [
        ".a.gif.partial",
        "a.gif",
        ".f-000000.png.partial",
        ".v.mkv.partial",
        "v.mkv",
    ] {
        symlink(&precious, pack.join(name)).unwrap();
    }
    let path = scene(
        &pack,
        "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"a.gif\" }\n\
         [[recorder]]\nplugin = \"png-sequence\"\nconfig = { path = \"f-{n}.png\" }\n\
         [[recorder]]\nplugin = \"video\"\nconfig = { path = \"v.mkv\", codecs = [\"mpeg4\"] }\n",
    );
    let out = run(&path, 5, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
    for name in ["a.gif", "f-000000.png", "v.mkv"] {
        let meta = std::fs::symlink_metadata(pack.join(name)).unwrap();
        assert!(meta.is_file() && meta.len() > 0, "{name} is a new regular file");
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing new outside"
    );
}

#[test]
fn output_paths_are_file_names_under_the_root_without_links() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let pack = dir.path().join("pack");
    std::fs::create_dir(&pack).unwrap();
    symlink(&outside, pack.join("link")).unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("link/x.gif", &["symbolic link", "scene.toml:10:"]),
        ("link/deeper/x.gif", &["symbolic link"]),
        (".", &["does not end in a file name"]),
        ("frames/", &["does not end in a file name"]),
        ("a/..", &["does not end in a file name"]),
        ("../x.gif", &["climbs out"]),
    ];
    for (raw, needles) in cases {
        let path = scene(
            &pack,
            &format!("[[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"{raw}\" }}\n"),
        );
        let out = run(&path, 3, &[]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{raw}: {shown}");
        for n in *needles {
            assert!(shown.contains(n), "{raw}: missing {n:?} in {shown}");
        }
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert!(!dir.path().join(".pack.partial").exists());
}

#[test]
fn files_named_by_a_scene_must_be_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A FIFO as the scene itself, as a playlist's entry, and as an image: refused at once.
    mkfifo(&d.join("fifo.toml"));
    std::fs::write(
        d.join("list.toml"),
        "[[entry]]\nscene = \"fifo.toml\"\nduration = 1.0\n",
    )
    .unwrap();
    for file in ["fifo.toml", "list.toml"] {
        let path = d.join(file);
        let out = bounded(
            &["run", path.to_str().unwrap(), "--output", "headless"],
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(2), "{file}: {}", text(&out));
        assert!(text(&out).contains("FIFO"), "{file}: {}", text(&out));
    }

    mkfifo(&d.join("pipe.png"));
    symlink("/dev/zero", d.join("zero.jpg")).unwrap();
    for (file, what) in [("pipe.png", "FIFO"), ("zero.jpg", "character device")] {
        let path = scene(
            d,
            &format!("[[layer]]\nplugin = \"image\"\nconfig = {{ path = \"{file}\" }}\n"),
        );
        let shown = refused(&path, &[]);
        assert!(
            shown.contains(what) && shown.contains("scene.toml:10:"),
            "{shown}"
        );
    }

    // A trace directory whose files are FIFOs.
    let trace = d.join("trace");
    std::fs::create_dir(&trace).unwrap();
    mkfifo(&trace.join("index.json"));
    let out = bounded(&["verify", trace.to_str().unwrap()], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("FIFO"), "{}", text(&out));

    // --metrics to a FIFO nobody reads, or to a device.
    let path = scene(d, "");
    mkfifo(&d.join("metrics"));
    for target in [d.join("metrics").to_str().unwrap(), "/dev/full"] {
        let shown = refused(&path, &["--metrics", target]);
        assert!(shown.contains("not a regular file"), "{shown}");
    }
}

#[test]
fn an_edit_that_swaps_the_scene_for_a_fifo_leaves_the_show_running_and_stoppable() {
    let dir = tempfile::tempdir().unwrap();
    let path = scene(dir.path(), "");
    let child = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["run", path.to_str().unwrap(), "--output", "headless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&path).unwrap();
    mkfifo(&path);
    // The reload poll (every 250 ms) meets the FIFO; give it time, then ask the show to end.
    std::thread::sleep(Duration::from_millis(1200));
    let out = terminate(child, "the show after SIGTERM");
    let shown = text(&out);
    assert!(
        shown.contains("FIFO") && shown.contains("still showing the last good version"),
        "{shown}"
    );
}

#[test]
fn a_recorder_that_fails_at_the_end_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // The final name is taken by a directory: the rename at the end cannot happen.
    std::fs::create_dir(dir.path().join("a.gif")).unwrap();
    let path = scene(
        dir.path(),
        "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"a.gif\" }\n\
         [[recorder]]\nplugin = \"gif\"\nid = \"other\"\nconfig = { path = \"b.gif\" }\n",
    );
    let out = run(&path, 10, &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("error: 1 failure during the run"), "{shown}");
    assert!(
        shown.contains("recorder `gif`") && shown.contains("cannot rename into"),
        "{shown}"
    );
    assert!(
        !dir.path().join(".a.gif.partial").exists(),
        "the temporary file is cleaned up"
    );
    assert!(dir.path().join("b.gif").is_file(), "the other recorder finished");
}

#[test]
fn metrics_write_errors_are_reported_counted_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = scene(dir.path(), "");
    let metrics = dir.path().join("m.jsonl");
    // A 4 KiB file size limit stands in for a full disk (the signal it would send is ignored).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 8; exec '{}' run '{}' --output headless --unpaced --frames 400 --metrics '{}'",
            env!("CARGO_BIN_EXE_marquee"),
            path.display(),
            metrics.display()
        ))
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("the metrics stream failed") && shown.contains("File too large"),
        "{shown}"
    );
    assert!(shown.contains("lines dropped after it"), "{shown}");
}

#[test]
fn a_reader_that_goes_away_ends_the_listing_quietly() {
    for args in [
        &["plugins"][..],
        &["plugins", "--json"],
        &["plugins", "describe", "text"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reading end closes before marquee writes a line (as `| head -0` would).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// Traces `CANVAS` plus `rest` for 6 frames into `dir/trace` and returns the trace directory.
fn small_trace(dir: &Path, rest: &str) -> std::path::PathBuf {
    let path = scene(dir, rest);
    let trace = dir.join("trace");
    let out = marquee(&[
        "trace",
        path.to_str().unwrap(),
        "--frames",
        "6",
        "--out",
        trace.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    trace
}

/// `marquee verify` on `trace`, bounded in time; returns what it showed and its exit code.
fn verify(trace: &Path) -> (Option<i32>, String) {
    let out = bounded(&["verify", trace.to_str().unwrap()], Duration::from_secs(30));
    (out.status.code(), text(&out))
}

#[test]
fn verify_refuses_hostile_traces_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let trace = small_trace(dir.path(), "");
    let index_path = trace.join("index.json");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    let good_gif = std::fs::read(trace.join("trace.gif")).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = index.clone();
        edit(&mut v);
        std::fs::write(&index_path, v.to_string()).unwrap();
    };

    // A 48-byte GIF that declares 65535×65535 (17 GB of pixels): refused before allocating.
    let mut bomb = b"GIF89a\xff\xff\xff\xff\x00\x00\x00".to_vec();
    bomb.extend_from_slice(b",\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x44\x01\x00;");
    bomb.resize(48, 0);
    std::fs::write(trace.join("trace.gif"), &bomb).unwrap();
    let (code, shown) = verify(&trace);
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("65535×65535") && shown.contains("32×16"),
        "{shown}"
    );
    std::fs::write(trace.join("trace.gif"), &good_gif).unwrap();

    // An index whose frame size does not match its frames, or that no scene could have.
    for (w, h, needle) in [
        (33, 16, "the GIF is 32×16"),
        (16384, 16384, "not a size"),
        (0, 16, "not a size"),
    ] {
        with(&|v| {
            v["scene"]["width"] = w.into();
            v["scene"]["height"] = h.into();
        });
        let (code, shown) = verify(&trace);
        assert_eq!(code, Some(2), "{shown}");
        assert!(shown.contains(needle), "{w}×{h}: {shown}");
        assert!(!shown.contains("panicked"), "{shown}");
    }

    // Frame numbers out of order or absurd.
    with(&|v| v["frames"][3]["index"] = u64::MAX.into());
    let (code, shown) = verify(&trace);
    assert_eq!(code, Some(2), "{shown}");
    assert!(shown.contains("entry 3 of `frames`"), "{shown}");

    // The untouched trace still verifies.
    with(&|_| {});
    let (code, shown) = verify(&trace);
    assert_eq!(code, Some(0), "{shown}");
}

#[test]
fn counts_and_rates_are_checked_against_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = scene(dir.path(), "");
    let p = path.to_str().unwrap();
    let out_dir = dir.path().join("t");
    let o = out_dir.to_str().unwrap();
    for args in [
        &["trace", p, "--out", o, "--frames", "1000000000000"][..],
        &["trace", p, "--out", o, "--frames", "18446744073709551615"],
        &["trace", p, "--out", o, "--seconds", "1e15"],
        &["trace", p, "--out", o, "--fps", "1e-21"],
        &["bench", p, "--frames", "1000000000000"],
    ] {
        let out = bounded(args, Duration::from_secs(20));
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {shown}");
        assert!(
            shown.contains("1000000") || shown.contains("0.01"),
            "{args:?}: {shown}"
        );
    }
    for fps in ["1e-21", "0.001", "1e9", "nan", "-1"] {
        std::fs::write(&path, CANVAS.replace("fps = 25", &format!("fps = {fps}"))).unwrap();
        let shown = refused(&path, &[]);
        assert!(
            shown.contains("fps must be from 0.01 to 1000"),
            "fps = {fps}: {shown}"
        );
    }
}

#[test]
fn nested_repeats_cannot_multiply_past_the_entry_cap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scene(d, "");
    // Four levels of 100 repeats would be 10^8 entries: refused before any is made.
    std::fs::write(
        d.join("l0.toml"),
        "[[entry]]\nscene = \"scene.toml\"\nduration = 0.1\nrepeat = 100\n",
    )
    .unwrap();
    for level in 1..4 {
        std::fs::write(
            d.join(format!("l{level}.toml")),
            format!("[[entry]]\nplaylist = \"l{}.toml\"\nrepeat = 100\n", level - 1),
        )
        .unwrap();
    }
    let shown = refused(&d.join("l3.toml"), &[]);
    assert!(shown.contains("more than 10000 entries"), "{shown}");
    assert!(shown.contains("l3.toml:3:"), "{shown}");
}

#[test]
fn a_mismatch_shows_the_gif_frame_of_that_index() {
    let dir = tempfile::tempdir().unwrap();
    let trace = small_trace(
        dir.path(),
        "[[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 40 }\n",
    );
    // Frame 3's rendered hash no longer matches: verify must show the GIF's frame 3 beside it.
    let index_path = trace.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    index["frames"][3]["rgba"] = "0000000000000000".into();
    std::fs::write(&index_path, index.to_string()).unwrap();
    let (code, shown) = verify(&trace);
    assert_eq!(code, Some(1), "{shown}");
    // Frames differ from one another (random pixels move), so any other GIF frame would differ.
    assert!(
        shown.contains("FAILED: frame 3 of") && shown.contains("; 0 pixels differ"),
        "{shown}"
    );
    let expected = image::open(trace.join("expected-00003.png")).unwrap().to_rgba8();
    let actual = image::open(trace.join("actual-00003.png")).unwrap().to_rgba8();
    assert_eq!(expected, actual, "the GIF's frame 3 is the frame rendered as 3");
}

#[test]
fn a_scene_whose_buffers_pass_the_memory_budget_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let big = "fps = 25\n[canvas]\nwidth = 8192\nheight = 8192\n";
    // 40 full layers at 8192² would be 10 GiB; a recorder queue of 64 frames 16 GiB; a
    // processor scaling a small canvas up to 8192² multiplies the recorder's frames.
    let cases = [
        (
            format!("{big}{}", "[[layer]]\nplugin = \"solid\"\n".repeat(40)),
            "layers 10240 MiB",
        ),
        (
            format!("{big}[[recorder]]\nplugin = \"gif\"\nqueue = 64\nconfig = {{ path = \"a.gif\" }}\n"),
            "recorder queues and clip rings 16384 MiB",
        ),
        (
            // Ten minutes of pre-roll at 25 fps: 15,001 frames of 256 MiB held.
            format!(
                "{big}[[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"c-{{clip}}.gif\" }}\nclips = {{ pre_roll_ms = 600000 }}\n"
            ),
            "recorder queues and clip rings",
        ),
        (
            format!(
                "{CANVAS}[[processor]]\nplugin = \"transform\"\nconfig = {{ width = 8192, height = 8192 }}\n\
                 [[recorder]]\nplugin = \"gif\"\nqueue = 64\nconfig = {{ path = \"a.gif\" }}\n"
            ),
            "resizing processors 256 MiB, recorder queues and clip rings 16384 MiB",
        ),
    ];
    for (text_of_scene, part) in cases {
        let shown = refused_at_load(dir.path(), &text_of_scene);
        assert!(shown.contains("more than the 4096 MiB budget"), "{shown}");
        assert!(shown.contains(part), "{part}: {shown}");
        assert!(
            shown.contains("scene.toml:"),
            "the error points into the file: {shown}"
        );
        assert!(!dir.path().join("a.gif").exists());
    }
}

#[test]
fn a_scene_too_slow_for_its_clock_still_shows_frames_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.toml");
    std::fs::write(
        &path,
        "fps = 60\n[canvas]\nwidth = 4096\nheight = 4096\n[[layer]]\nplugin = \"life\"\n\
         config = { generations_per_second = 1000.0 }\n",
    )
    .unwrap();
    // Paced: the clock runs ahead of the frames from the first one on.
    let child = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args([
            "run",
            path.to_str().unwrap(),
            "--output",
            "headless",
            "--no-reload",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let out = terminate(child, "a slow scene after SIGTERM");
    let shown = text(&out);
    let made: u64 = shown
        .split_whitespace()
        .zip(shown.split_whitespace().skip(1))
        .find(|(_, w)| w.starts_with("frames"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count: {shown}"));
    assert!(made >= 2, "frames were shown while behind: {shown}");
}

#[test]
fn odd_keys_and_long_lists_are_refused_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // An empty config key once sent the error's key search into an endless loop.
        (
            format!("{CANVAS}config = {{ \"\" = 1 }}\n"),
            "has no config field ``",
        ),
        (
            format!("{CANVAS}{}", "[[layer]]\nplugin = \"solid\"\n".repeat(1000)),
            "a scene has at most 1000 layers",
        ),
    ];
    for (text_of_scene, expected) in cases {
        let shown = refused_at_load(dir.path(), &text_of_scene);
        assert!(shown.contains(expected), "{expected}: {shown}");
    }
}
