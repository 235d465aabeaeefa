//! The `marquee` binary end to end: exit codes, listings and error rendering.

use crate::util::{marquee, marquee_test, so, text};

#[test]
fn run_headless_renders_the_requested_frames() {
    let out = marquee(&[
        "run",
        "scenes/showcase.toml",
        "--headless",
        "--frames",
        "20",
        "--unpaced",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("showcase: 20 frames of 256×64 (headless)"),
        "{}",
        text(&out)
    );
}

#[test]
fn plugins_lists_builtins_files_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    for lib in [
        "marquee_plugin_mandelbrot",
        "marquee_fixture_panicky",
        "marquee_fixture_abi_major_2",
    ] {
        let file = so(lib);
        std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("libjunk.so"), "junk").unwrap();
    // The same directory twice (a file is loaded once, never "conflicting with itself").
    let d = dir.path().to_str().unwrap();
    let out = marquee(&["plugins", "--plugin-dir", d, "--plugin-dir", d]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failed files fail the listing: {}",
        text(&out)
    );
    assert!(!stdout.contains("already loaded"), "{stdout}");
    let abi = marquee_plugin_api::ABI_VERSION;
    assert!(stdout.contains(&format!("host ABI {abi}")), "{stdout}");
    for line in [
        format!("random-pixels    0.1.0     renderer                     {abi}   built in"),
        format!("gif              0.1.0     recorder                     {abi}   built in"),
        "panicky          0.0.1     renderer".to_string(),
        "(built-in `mandelbrot` 0.1.0 is replaced by".to_string(),
        "2 plugin file(s) failed to load:".to_string(),
        format!("is plugin `from-the-future` 9.0.0 built for ABI 2.0, but this host speaks ABI {abi}"),
        "libjunk.so is not a loadable library".to_string(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in\n{stdout}");
    }
}

#[test]
fn a_bad_scene_exits_2_with_file_line_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("bad.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 64\nheight = 64\n[[layer]]\nplugin = \"mandelbrott\"\n",
    )
    .unwrap();
    let out = marquee(&["run", scene.to_str().unwrap(), "--headless", "--frames", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("error: unknown renderer plugin `mandelbrott`"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.toml:5:10"), "{stderr}");
    assert!(stderr.contains("did you mean `mandelbrot`?"), "{stderr}");
}

#[test]
fn a_missing_scene_exits_2() {
    let out = marquee(&["run", "no/such/scene.toml", "--headless"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read scene no/such/scene.toml"),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_reports_ok_per_frame_then_names_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("s.toml");
    let trace_dir = dir.path().join("t");
    let text_of = |count: u32| {
        format!(
            "seed = 5\n[canvas]\nwidth = 16\nheight = 8\n[[layer]]\nplugin = \"random-pixels\"\nconfig = {{ count = {count} }}\n"
        )
    };
    std::fs::write(&scene, text_of(10)).unwrap();
    let out = marquee(&[
        "trace",
        scene.to_str().unwrap(),
        "--frames",
        "6",
        "--out",
        trace_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = marquee(&["verify", trace_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout.contains("frame     0 ok")
            && stdout.contains("frame     5 ok")
            && stdout.contains("ok: all 6 frames"),
        "{stdout}"
    );

    std::fs::write(&scene, text_of(11)).unwrap();
    let out = marquee(&["verify", trace_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout.contains("FAILED: frame 0"), "{stdout}");
    assert!(trace_dir.join("difference-00000.png").exists());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed since the trace was made"),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_of_a_damaged_trace_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.json"), "{\"format\": 1}").unwrap();
    let out = marquee(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a trace index"),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_from_elsewhere_explains_how_to_find_the_scene() {
    let dir = tempfile::tempdir().unwrap();
    let trace_dir = dir.path().join("t");
    let out = marquee(&[
        "trace",
        "scenes/showcase.toml",
        "--frames",
        "2",
        "--out",
        trace_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["verify", trace_dir.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pass --scene PATH"),
        "{}",
        text(&out)
    );
}

#[test]
fn recorder_paths_are_relative_to_the_scene_file() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("rec.toml");
    std::fs::write(&scene, "[canvas]\nwidth = 8\nheight = 8\n[[layer]]\nplugin = \"random-pixels\"\n[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"out.gif\" }\n").unwrap();
    let out = marquee(&[
        "run",
        scene.to_str().unwrap(),
        "--headless",
        "--frames",
        "5",
        "--unpaced",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let gif = std::fs::read(dir.path().join("out.gif")).unwrap();
    assert_eq!(&gif[..6], b"GIF89a");
    // Finished cleanly: no temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn trace_refuses_empty_or_negative_lengths() {
    for args in [["--frames", "0"], ["--seconds", "-2"], ["--seconds", "nan"]] {
        let out = marquee(&[
            "trace",
            "scenes/showcase.toml",
            args[0],
            args[1],
            "--out",
            "/tmp/never-written",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(!std::path::Path::new("/tmp/never-written").exists());
    }
}

#[test]
fn plugins_describe_and_json() {
    let out = marquee(&["plugins", "describe", "color"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout.contains("gamma") && stdout.contains("0.1 to 10") && stdout.contains("[[processor]]"),
        "{stdout}"
    );

    let out = marquee(&["plugins", "describe", "mandelbrott"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did you mean `mandelbrot`?"),
        "{}",
        text(&out)
    );

    let out = marquee(&["plugins", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let builtin = marquee::plugins::registry::Registry::builtin();
    let expected: Vec<&str> = builtin.plugins().iter().map(|p| p.id()).collect();
    assert_eq!(ids, expected);

    let out = marquee(&["plugins", "describe", "gif", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["factories"][0]["kind"], "recorder");
}

#[test]
fn run_feeds_several_outputs_and_says_which_it_chose_and_why() {
    let out = marquee(&[
        "run",
        "scenes/showcase.toml",
        "--output",
        "headless",
        "--output",
        "auto",
        "--frames",
        "6",
        "--unpaced",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("output: headless (asked for)"), "{err}");
    // Under the test runner stdout is a pipe: auto explains why it fell back to headless.
    assert!(
        err.contains("output: headless (window:") && err.contains("stdout is not a terminal"),
        "{err}"
    );
    assert_eq!(err.matches("6 frames of 256×64 (headless)").count(), 2, "{err}");
}

#[test]
fn trace_at_another_frame_rate_and_verify_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("t");
    let out = marquee(&[
        "trace",
        "scenes/showcase.toml",
        "--fps",
        "60",
        "--frames",
        "12",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["scene"]["fps"], 60.0);
    let out = marquee(&["verify", out_dir.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("traced at 60 fps"),
        "{}",
        text(&out)
    );
    let out = marquee(&[
        "trace",
        "scenes/tour.toml",
        "--fps",
        "60",
        "--frames",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn marquee_test_writes_then_matches_then_names_the_divergent_frame() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("tests");
    std::fs::create_dir_all(&tests).unwrap();
    let scene = "seed = 1\n[canvas]\nwidth = 16\nheight = 8\n[[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 9 }\n";
    std::fs::write(tests.join("dots.toml"), scene).unwrap();
    // Under CI a missing trace fails, and nothing is written.
    let (code, shown) = marquee_test(dir.path(), &["--frames", "12"], true);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("no stored trace"), "{shown}");
    assert!(!tests.join("traces/dots/index.json").exists());
    // Locally the first run writes it (the default path is `tests`), the second matches.
    let (code, shown) = marquee_test(dir.path(), &["--frames", "12"], false);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("written  tests/dots.toml"), "{shown}");
    assert!(tests.join("traces/dots/index.json").exists());
    let (code, shown) = marquee_test(dir.path(), &["tests/dots.toml", "--frames", "12"], true);
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("ok       tests/dots.toml (12 frames match"),
        "{shown}"
    );
    // A change in what the scene makes fails, naming the frame, until accepted with --update.
    std::fs::write(tests.join("dots.toml"), scene.replace("seed = 1", "seed = 2")).unwrap();
    let (code, shown) = marquee_test(dir.path(), &["--frames", "12"], true);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("diverges from the trace") && shown.contains("at frame 0"),
        "{shown}"
    );
    assert!(shown.contains("marquee test --update"), "{shown}");
    let (code, shown) = marquee_test(dir.path(), &["--frames", "12", "--update"], true);
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(marquee_test(dir.path(), &["--frames", "12"], true).0, Some(0));
    // Not a scene: a usage error.
    let (code, shown) = marquee_test(dir.path(), &["nowhere"], false);
    assert_eq!(code, Some(2), "{shown}");
}

#[test]
fn exit_codes_follow_the_one_map_stated_in_help() {
    let help = text(&marquee(&["--help"]));
    assert!(
        help.contains("Exit status: 0 done; 1 a check failed")
            && help.contains("2 bad input")
            && help.contains("3 an I/O or environment failure"),
        "{help}"
    );
    let dir = tempfile::tempdir().unwrap();
    let scene = crate::util::root().join("scenes/showcase.toml");
    let scene = scene.to_str().unwrap();
    // Bad input: a scene that is not there.
    let out = marquee(&["trace", "no-such-scene.toml", "--frames", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // An I/O failure while tracing (the output directory cannot be made: a file is in its way)
    // is the machine's, not the input's.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let out_dir = blocker.join("trace");
    let out = marquee(&[
        "trace",
        scene,
        "--frames",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("cannot create trace directory"),
        "{}",
        text(&out)
    );
    // A check that fails: a trace verified against other frames.
    let good = dir.path().join("good");
    let out = marquee(&["trace", scene, "--frames", "2", "--out", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let index = good.join("index.json");
    let edited = std::fs::read_to_string(&index).unwrap();
    // The first frame's hash, one digit changed.
    let frames = edited.find("\"frames\": [").unwrap();
    let at = frames + edited[frames..].find("\"rgba\": \"").unwrap() + "\"rgba\": \"".len();
    let mut bytes = edited.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&index, bytes).unwrap();
    let out = marquee(&["verify", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
