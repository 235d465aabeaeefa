//! Recorders: every encoder's output read back by an independent decoder (ffprobe/ffmpeg), PNG
//! sequences pixel for pixel, pre-roll clips by frame, queues by counts, and every bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use marquee::engine::{Engine, EngineError, EngineOptions};
use marquee::model::paths::OutDir;
use marquee::model::scene::{Scene, SceneError};
use marquee::plugins::registry::{Origin, Registry};

use crate::util::{marquee, root, run_headless, text};

/// What ffprobe says of a file's first video stream.
#[derive(Debug, PartialEq)]
struct Probe {
    frames: u64,
    width: u64,
    height: u64,
    rate: String,
    codec: String,
}

fn ffprobe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,width,height,r_frame_rate,codec_name",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ffprobe: {e}; install ffmpeg (.ci/run does)"));
    assert!(out.status.success(), "ffprobe {}: {}", path.display(), text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    Probe {
        frames: s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        width: s["width"].as_u64().unwrap(),
        height: s["height"].as_u64().unwrap(),
        rate: s["r_frame_rate"].as_str().unwrap().to_string(),
        codec: s["codec_name"].as_str().unwrap().to_string(),
    }
}

const CANVAS: &str = "fps = 25\nseed = 3\n[canvas]\nwidth = 64\nheight = 32\n[[layer]]\nplugin = \"gradient\"\n[[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 300 }\n";

/// Parses `text` as `dir/scene.toml` (so that outputs go to `dir`).
fn scene_in(dir: &Path, text: &str, registry: &Registry) -> Result<Scene, SceneError> {
    Scene::parse(&dir.join("scene.toml"), text.to_string(), registry)
}

fn engine_in(dir: &Path, text: &str) -> Engine {
    let scene = scene_in(dir, text, &Registry::builtin()).unwrap_or_else(|e| panic!("{e}"));
    Engine::new(&scene, &EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The scene error `text` gives when loaded in `dir` with `out`, as shown to people.
fn refused(dir: &Path, text: &str, out: OutDir) -> (SceneError, String) {
    let e = match scene_in(dir, text, &Registry::builtin()) {
        Err(e) => e,
        Ok(scene) => match Engine::new(
            &scene,
            &EngineOptions {
                out_dir: out,
                ..EngineOptions::default()
            },
        ) {
            Ok(_) => panic!("expected the scene to be refused:\n{text}"),
            Err(EngineError::Scene(e)) => e,
            Err(e) => panic!("unexpected {e}"),
        },
    };
    let shown = e.to_string();
    (e, shown)
}

#[test]
fn every_encoder_decodes_to_the_expected_frames_size_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{CANVAS}\
         [[recorder]]\nid = \"h264\"\nplugin = \"video\"\nconfig = {{ path = \"v/a.mp4\" }}\n\
         [[recorder]]\nid = \"mpeg4\"\nplugin = \"video\"\nconfig = {{ path = \"v/b.mkv\", codecs = [\"mpeg4\"] }}\n\
         [[recorder]]\nid = \"mjpeg\"\nplugin = \"video\"\nconfig = {{ path = \"v/c.avi\", codecs = [\"mjpeg\"], crf = 10 }}\n\
         [[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"d.gif\" }}\n\
         [[recorder]]\nplugin = \"png-sequence\"\nconfig = {{ path = \"png/f-{{n}}.png\", every = 3 }}\n"
    );
    let mut engine = engine_in(dir.path(), &text);
    let mut frames = Vec::new();
    for _ in 0..30 {
        frames.push(engine.step().to_vec());
    }
    let failures = engine.finish();
    assert!(failures.is_empty(), "{failures:?}");
    let d = dir.path();
    for (file, codec) in [("v/a.mp4", "h264"), ("v/b.mkv", "mpeg4"), ("v/c.avi", "mjpeg")] {
        let p = ffprobe(&d.join(file));
        assert_eq!(
            (p.frames, p.width, p.height, p.rate.as_str(), p.codec.as_str()),
            (30, 64, 32, "25/1", codec),
            "{file}"
        );
    }
    let gif = ffprobe(&d.join("d.gif"));
    assert_eq!((gif.frames, gif.width, gif.height), (30, 64, 32));
    // Frames 0, 3, ..., 27, each decoding to exactly the frame made.
    let names = names_in(&d.join("png"));
    let expected: Vec<String> = (0..30).step_by(3).map(|i| format!("f-{i:06}.png")).collect();
    assert_eq!(names, expected);
    for i in (0..30).step_by(3) {
        let decoded = image::open(d.join(format!("png/f-{i:06}.png")))
            .unwrap()
            .to_rgba8();
        assert!(decoded.as_raw() == &frames[i], "png frame {i} differs");
    }
    // Nothing left under a temporary name.
    assert_eq!(partials(d), 0);
}

/// The names of the files in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// How many files under `dir` are still under a temporary name.
fn partials(dir: &Path) -> usize {
    walk(dir)
        .iter()
        .filter(|p| p.to_string_lossy().contains(".partial"))
        .count()
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_codec_chain_skips_what_this_ffmpeg_lacks_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = engine_in(
        dir.path(),
        &format!(
            "{CANVAS}[[recorder]]\nplugin = \"video\"\nconfig = {{ path = \"a.mp4\", codecs = [\"marquee-no-such-codec\", \"mpeg4\"] }}\n"
        ),
    );
    let info = engine.recorder_info();
    let v: serde_json::Value = serde_json::from_str(&info[0].about).unwrap();
    assert_eq!(v["codec"], "mpeg4", "{v}");
    assert_eq!(v["container"], "mp4");
    assert_eq!(v["skipped"][0]["codec"], "marquee-no-such-codec");
    assert!(
        v["skipped"][0]["why"]
            .as_str()
            .unwrap()
            .contains("not an encoder"),
        "{v}"
    );
    for _ in 0..5 {
        engine.step();
    }
    assert!(engine.finish().is_empty());
    assert_eq!(ffprobe(&dir.path().join("a.mp4")).codec, "mpeg4");
}

/// A headless, unpaced run of `frames` frames with `$MARQUEE_FFMPEG` set to `ffmpeg`.
fn run_with_ffmpeg(scene: &Path, frames: u32, ffmpeg: &str) -> std::process::Output {
    run_headless(scene, frames, &[], &[("MARQUEE_FFMPEG", ffmpeg)])
}

#[test]
fn without_ffmpeg_video_is_refused_at_load_or_falls_back_to_gif() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.toml");
    let recorder = "[[recorder]]\nplugin = \"video\"\nconfig = { path = \"a.mp4\" }\n";
    std::fs::write(&scene, format!("{CANVAS}{recorder}")).unwrap();
    let out = run_with_ffmpeg(&scene, 20, "marquee-no-such-ffmpeg");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    // Not a config error: the scene points at the recorder that cannot start.
    assert!(shown.contains("scene.toml:12:"), "{shown}");
    assert!(
        shown.contains("no `marquee-no-such-ffmpeg` on the PATH"),
        "{shown}"
    );
    assert!(shown.contains("MARQUEE_FFMPEG"), "{shown}");
    assert!(shown.contains("fallback = { plugin = \"gif\""), "{shown}");

    // With a fallback, the host records with it instead, and says so.
    let fallback = format!("{recorder}fallback = {{ plugin = \"gif\", config = {{ path = \"a.gif\" }} }}\n");
    std::fs::write(&scene, format!("{CANVAS}{fallback}")).unwrap();
    let out = run_with_ffmpeg(&scene, 20, "marquee-no-such-ffmpeg");
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("recording with its fallback `gif` instead"),
        "{shown}"
    );
    assert_eq!(ffprobe(&dir.path().join("a.gif")).frames, 20);
    assert!(!dir.path().join("a.mp4").exists());
    // A config error is the scene's to fix: never a reason to fall back.
    let typo = fallback.replace("path = \"a.mp4\"", "path = \"a.mp4\", preset = \"fastest\"");
    std::fs::write(&scene, format!("{CANVAS}{typo}")).unwrap();
    let out = run_with_ffmpeg(&scene, 20, "marquee-no-such-ffmpeg");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_clip_starts_pre_roll_before_its_trigger_and_ends_post_roll_after() {
    let dir = tempfile::tempdir().unwrap();
    // At 25 fps: 400 ms = 10 frames before, 200 ms = 5 after.
    let mut engine = engine_in(
        dir.path(),
        &format!(
            "{CANVAS}\
             [[recorder]]\nid = \"mp4\"\nplugin = \"video\"\nconfig = {{ path = \"clips/c-{{clip}}.mp4\", codecs = [\"mpeg4\"] }}\nclips = {{ pre_roll_ms = 400, post_roll_ms = 200 }}\n\
             [[recorder]]\nid = \"png\"\nplugin = \"png-sequence\"\nconfig = {{ path = \"clips/p-{{clip}}/f-{{n}}.png\" }}\nclips = {{ pre_roll_ms = 400, post_roll_ms = 200 }}\n"
        ),
    );
    let mut frames = Vec::new();
    for i in 0..40 {
        if i == 20 {
            engine.trigger();
        }
        frames.push(engine.step().to_vec());
    }
    assert!(engine.finish().is_empty());
    assert_eq!(engine.triggers(), 1);
    let counters = engine.recorder_counters();
    let count = |id: &str, name: &str| {
        counters
            .iter()
            .find(|c| c.owner == id && c.name == name)
            .map(|c| c.value)
            .unwrap()
    };
    // The ring holds the window (10 frames and the trigger's own) and never more.
    assert_eq!((count("png", "held"), count("png", "capacity")), (11, 11));
    assert_eq!(count("png", "clip_frames"), 16);
    let clip = ffprobe(&dir.path().join("clips/c-0001.mp4"));
    assert_eq!(
        (clip.frames, clip.width, clip.height, clip.rate.as_str()),
        (16, 64, 32, "25/1")
    );
    let names = names_in(&dir.path().join("clips/p-0001"));
    assert_eq!(names.first().map(String::as_str), Some("f-000010.png"));
    assert_eq!(names.last().map(String::as_str), Some("f-000025.png"));
    let first = image::open(dir.path().join("clips/p-0001/f-000010.png"))
        .unwrap()
        .to_rgba8();
    assert!(
        first.as_raw() == &frames[10],
        "the clip's first frame is the one 400 ms before the trigger"
    );
}

#[test]
fn a_plugin_event_triggers_a_clip() {
    let dir = tempfile::tempdir().unwrap();
    // Random pixels change a fifth of the picture each frame: the motion processor sees it at
    // frame 1 (frame 0 has nothing to compare with) and then cools down for the whole run.
    let mut engine = engine_in(
        dir.path(),
        "fps = 25\n[canvas]\nwidth = 32\nheight = 16\n[[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 100 }\n\
         [[processor]]\nplugin = \"motion\"\nconfig = { threshold = 0.02, step = 1, cooldown_ms = 100000 }\n\
         [[recorder]]\nplugin = \"gif\"\nconfig = { path = \"c-{clip}.gif\" }\nclips = { pre_roll_ms = 1000, post_roll_ms = 120 }\n",
    );
    for _ in 0..20 {
        engine.step();
    }
    assert!(engine.finish().is_empty());
    assert_eq!(engine.triggers(), 1);
    // Frames 0 and 1 (all there was of pre-roll), then 3 frames of post-roll.
    let p = ffprobe(&dir.path().join("c-0001.gif"));
    assert_eq!((p.frames, p.width, p.height), (5, 32, 16));
    assert!(!dir.path().join("c-0002.gif").exists());
}

#[test]
fn a_so_that_replaces_video_writes_every_video_and_every_clip() {
    // No plugin links another: a recording, clips around triggers and a fallback are all made
    // by the host through the registry, so the replacement in the plugin directory is used.
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        crate::util::so("marquee_fixture_replacement_video"),
        plugins.join("libreplacement.so"),
    )
    .unwrap();
    let registry = Registry::discover(&[plugins]);
    assert!(matches!(registry.get("video").unwrap().origin, Origin::File(_)));
    let text = format!(
        "{CANVAS}\
         [[recorder]]\nid = \"whole\"\nplugin = \"video\"\nconfig = {{ path = \"whole.mp4\" }}\n\
         [[recorder]]\nid = \"clips\"\nplugin = \"video\"\nconfig = {{ path = \"clips/c-{{clip}}.mp4\" }}\nclips = {{ pre_roll_ms = 200, post_roll_ms = 120 }}\n\
         [[recorder]]\nid = \"spare\"\nplugin = \"video\"\nconfig = {{ path = \"spare.mp4\", unavailable = true }}\nfallback = {{ plugin = \"gif\", config = {{ path = \"spare.gif\" }} }}\n"
    );
    let scene = scene_in(dir.path(), &text, &registry).unwrap_or_else(|e| panic!("{e}"));
    let mut engine = Engine::new(&scene, &EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..40 {
        if i == 10 || i == 30 {
            engine.trigger();
        }
        engine.step();
    }
    assert!(engine.finish().is_empty());
    let listed = |name: &str| -> Vec<u64> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(listed("whole.mp4"), (0..40).collect::<Vec<_>>());
    // At 25 fps: 200 ms = 5 frames before each trigger, 120 ms = 3 after.
    assert_eq!(listed("clips/c-0001.mp4"), (5..=13).collect::<Vec<_>>());
    assert_eq!(listed("clips/c-0002.mp4"), (25..=33).collect::<Vec<_>>());
    // The replacement's factory failed as `video` does without ffmpeg: the fallback recorded.
    assert_eq!(ffprobe(&dir.path().join("spare.gif")).frames, 40);
    assert!(!dir.path().join("spare.mp4").exists());
}

/// A recorder that holds every frame until the test opens its gate: a writer as slow as can be.
mod gate {
    use std::sync::{Condvar, Mutex};

    use marquee_plugin_api::{
        Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    };

    pub static OPEN: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    pub fn open() {
        *OPEN.0.lock().unwrap() = true;
        OPEN.1.notify_all();
    }

    pub const PLUGIN: PluginDef = PluginDef {
        id: "gate",
        version: "0.0.0",
        description: "holds frames until released (a test recorder)",
        renderer: None,
        processor: None,
        recorder: Some(Factory {
            doc: "test",
            fields: &[],
            new: |_, _: &InitCtx| Ok(Box::new(Gate(0))),
        }),
    };

    struct Gate(u64);

    impl RecorderPlugin for Gate {
        fn record(&mut self, _: &FrameMeta, _: &[u8]) -> Result<(), PluginError> {
            let mut open = OPEN.0.lock().unwrap();
            while !*open {
                open = OPEN.1.wait(open).unwrap();
            }
            self.0 += 1;
            Ok(())
        }
        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }
    }

    declare_plugin!(PLUGIN);
}

#[test]
fn a_stuck_recorder_drops_and_counts_frames_while_rendering_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::builtin();
    registry.add_module(gate::module(), Origin::BuiltIn);
    let scene = scene_in(
        dir.path(),
        &format!("{CANVAS}[[recorder]]\nplugin = \"gate\"\nqueue = 4\nwhen_full = \"drop\"\n"),
        &registry,
    )
    .unwrap();
    let mut engine = Engine::new(&scene, &EngineOptions::default()).unwrap();
    // The recorder takes frame 0 and never returns; rendering must not wait for it.
    for _ in 0..50 {
        engine.step();
    }
    let mut samples = Vec::new();
    engine.recorder_samples(&mut samples);
    assert_eq!(samples[0].written, 0);
    assert_eq!(samples[0].queue, 4, "the pool bounds what it holds");
    assert_eq!(
        samples[0].dropped, 46,
        "every frame beyond the pool is dropped and counted"
    );
    gate::open();
    assert!(engine.finish().is_empty());
    let report = &engine.recorder_report()[0];
    assert_eq!(
        (report.id.as_str(), report.sample.written, report.sample.dropped),
        ("gate", 4, 46)
    );
}

/// A recorder hung for good: its first `record` never returns.
mod hung {
    use marquee_plugin_api::{
        Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    };

    pub const PLUGIN: PluginDef = PluginDef {
        id: "hung",
        version: "0.0.0",
        description: "never returns from record (a test recorder)",
        renderer: None,
        processor: None,
        recorder: Some(Factory {
            doc: "test",
            fields: &[],
            new: |_, _: &InitCtx| Ok(Box::new(Hung)),
        }),
    };

    struct Hung;

    impl RecorderPlugin for Hung {
        fn record(&mut self, _: &FrameMeta, _: &[u8]) -> Result<(), PluginError> {
            loop {
                std::thread::park();
            }
        }
        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }
    }

    declare_plugin!(PLUGIN);
}

#[test]
fn a_hung_recorder_cannot_hold_up_the_end_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::builtin();
    registry.add_module(hung::module(), Origin::BuiltIn);
    let scene = scene_in(
        dir.path(),
        &format!(
            "{CANVAS}[[recorder]]\nplugin = \"hung\"\nqueue = 2\nwhen_full = \"wait\"\n\
             [[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"b.gif\" }}\n"
        ),
        &registry,
    )
    .unwrap();
    let options = EngineOptions {
        finish_deadline: std::time::Duration::from_millis(300),
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&scene, &options).unwrap();
    // Two frames fill its queue (it holds the first forever); a third would wait for ever.
    engine.step();
    engine.step();
    let failures = engine.finish();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let shown = failures[0].to_string();
    assert!(
        shown.contains("recorder `hung`") && shown.contains("left unfinished"),
        "{shown}"
    );
    // The other recorder finished as usual.
    assert_eq!(ffprobe(&dir.path().join("b.gif")).frames, 2);
}

/// A recorder that takes 100 ms over every frame: five times slower than a 50 fps show.
mod slow {
    use marquee_plugin_api::{
        Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    };

    pub const PLUGIN: PluginDef = PluginDef {
        id: "slow",
        version: "0.0.0",
        description: "100 ms a frame (a test recorder)",
        renderer: None,
        processor: None,
        recorder: Some(Factory {
            doc: "test",
            fields: &[],
            new: |_, _: &InitCtx| Ok(Box::new(Slow)),
        }),
    };

    struct Slow;

    impl RecorderPlugin for Slow {
        fn record(&mut self, _: &FrameMeta, _: &[u8]) -> Result<(), PluginError> {
            std::thread::sleep(std::time::Duration::from_millis(100));
            Ok(())
        }
        fn finish(&mut self) -> Result<(), PluginError> {
            Ok(())
        }
    }

    declare_plugin!(PLUGIN);
}

#[test]
fn a_slow_recorder_in_a_live_run_drops_and_counts_while_every_frame_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::builtin();
    registry.add_module(slow::module(), Origin::BuiltIn);
    let path = dir.path().join("slow.toml");
    std::fs::write(
        &path,
        "fps = 50\n[canvas]\nwidth = 64\nheight = 32\n[[layer]]\nplugin = \"gradient\"\n[[recorder]]\nplugin = \"slow\"\nqueue = 2\n",
    )
    .unwrap();
    let show = marquee::model::show::Show::load(&path, &registry).unwrap();
    let report = marquee::play::live::run(
        show,
        &registry,
        vec![Box::new(|_, _| {
            Ok(Box::new(marquee::output::headless::Headless) as Box<dyn marquee::output::Output>)
        })],
        &marquee::play::live::LiveOptions {
            engine: EngineOptions::default(),
            paced: true,
            limit: Some(60),
            reload: false,
            screenshot_dir: dir.path().to_path_buf(),
            rig: None,
        },
        marquee::play::live::Observe::default(),
    )
    .unwrap();
    assert_eq!(report.made + report.skipped, 60, "the show went on to its end");
    let marquee::engine::RecorderReport { id, sample: r } = &report.recorders[0];
    assert_eq!(id, "slow");
    // A real-time run drops by default: 1.2 s of show gives a 100 ms writer time for about 12.
    assert!(r.dropped > 0, "{r:?}");
    assert_eq!(
        r.written + r.dropped,
        report.made,
        "each frame recorded or counted as dropped"
    );
    assert_eq!(r.queue, 0, "finished: nothing left queued");
}

#[test]
fn output_paths_stay_in_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let gif =
        |path: &str| format!("{CANVAS}[[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"{path}\" }}\n");
    let (e, shown) = refused(dir.path(), &gif("../../etc/x.gif"), OutDir::default());
    assert!(matches!(e, SceneError::Invalid(_)));
    assert!(shown.contains("scene.toml:13:"), "{shown}");
    assert!(shown.contains("climbs out of the output directory"), "{shown}");
    assert!(shown.contains("--unconfined-paths"), "{shown}");
    let (_, shown) = refused(dir.path(), &gif("/tmp/x.gif"), OutDir::default());
    assert!(shown.contains("is absolute"), "{shown}");
    // An output directory given on the command line is where paths go.
    let out = dir.path().join("out");
    let scene = scene_in(dir.path(), &gif("sub/a.gif"), &Registry::builtin()).unwrap();
    let options = EngineOptions {
        out_dir: OutDir {
            dir: Some(out.clone()),
            unconfined: false,
        },
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&scene, &options).unwrap();
    engine.step();
    assert!(engine.finish().is_empty());
    assert!(out.join("sub/a.gif").exists());
    // The user may allow any path explicitly.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("b.gif");
    let scene = scene_in(dir.path(), &gif(target.to_str().unwrap()), &Registry::builtin()).unwrap();
    let options = EngineOptions {
        out_dir: OutDir {
            dir: None,
            unconfined: true,
        },
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&scene, &options).unwrap();
    engine.step();
    assert!(engine.finish().is_empty());
    assert!(target.exists());
}

#[test]
fn bad_recorder_input_is_a_clear_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &[&str])] = &[
        (
            "[[recorder]]\nplugin = \"video\"\nconfig = { path = \"a.mp4\", codecs = [\"nope264\"] }\n",
            &[
                "scene.toml:15:",
                "`codecs`",
                "nope264: not an encoder of this ffmpeg build",
                "libx264",
            ],
        ),
        (
            "[[recorder]]\nplugin = \"video\"\nconfig = { path = \"a.webm\" }\n",
            &["scene.toml:15:", "container is unknown"],
        ),
        (
            // One file for two recorders: one's work would be lost.
            "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"out/a.gif\" }\n\
             [[recorder]]\nplugin = \"video\"\nconfig = { path = \"x.mp4\" }\nfallback = { plugin = \"gif\", config = { path = \"./out/a.gif\" } }\n",
            &[
                "scene.toml:19:",
                "recorders `gif` and `video` would both write `out/a.gif`",
            ],
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"c.gif\" }\nclips = { pre_roll_ms = 100 }\n",
            &["scene.toml:16:", "none of its output paths has {clip}"],
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"c-{clip}.gif\" }\nclips = { post_roll_ms = 99999999 }\n",
            &["scene.toml:16:", "`post_roll_ms` must be from 0 to 3600000"],
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"c-{clip}.gif\" }\nclips = { pre_roll_ms = -100 }\n",
            &["scene.toml:16:", "pre_roll_ms"],
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nconfig = { path = \"blocked/a.gif\" }\n",
            &["scene.toml:15:", "cannot write to", "blocked"],
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nqueue = 0\nconfig = { path = \"a.gif\" }\n",
            &["scene.toml:15:", "queue of 0 frames is out of range"],
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nwhen_full = \"sometimes\"\nconfig = { path = \"a.gif\" }\n",
            &["scene.toml:15:", "not a choice", "\"wait\""],
        ),
        (
            "[[recorder]]\nplugin = \"png-sequence\"\nconfig = { path = \"frames.png\" }\n",
            &["scene.toml:15:", "{n}"],
        ),
    ];
    // A file where a directory should be: no directory can be made there, root or not.
    std::fs::write(d.join("blocked"), "").unwrap();
    for (recorder, needles) in cases {
        let text = format!("{CANVAS}\n\n{recorder}");
        let (_, shown) = refused(d, &text, OutDir::default());
        for n in *needles {
            assert!(shown.contains(n), "missing {n:?} in:\n{shown}");
        }
    }
}

/// Starts `marquee run` on `scene` headless until told to stop; returns the child.
fn spawn_run(scene: &Path, out_dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args([
            "run",
            scene.to_str().unwrap(),
            "--output",
            "headless",
            "--no-reload",
            "--out-dir",
        ])
        .arg(out_dir)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed().as_secs() < 60, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

const RECORDING: &str = "fps = 30\n[canvas]\nwidth = 64\nheight = 32\n[[layer]]\nplugin = \"gradient\"\n\
    [[recorder]]\nplugin = \"video\"\nwhen_full = \"wait\"\nconfig = { path = \"a.mp4\" }\n\
    [[recorder]]\nplugin = \"gif\"\nwhen_full = \"wait\"\nconfig = { path = \"b.gif\" }\n\
    [[recorder]]\nplugin = \"video\"\nconfig = { path = \"clip-{clip}.mp4\" }\nclips = { pre_roll_ms = 500, post_roll_ms = 60000 }\n";

#[test]
fn killing_the_process_mid_recording_leaves_no_file_under_a_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("rec.toml");
    std::fs::write(&scene, RECORDING).unwrap();
    let out = dir.path().join("out");
    let mut child = spawn_run(&scene, &out);
    wait_for("the recorders to start", || out.join(".a.mp4.partial").exists());
    signal(&child, "USR1");
    wait_for("the clip to start", || {
        out.join(".clip-0001.mp4.partial").exists()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    for name in ["a.mp4", "b.gif", "clip-0001.mp4"] {
        assert!(!out.join(name).exists(), "{name} exists after a kill");
    }
    assert!(out.join(".b.gif.partial").exists());
}

#[test]
fn ctrl_c_finishes_every_recording_and_a_signal_triggers_a_clip() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("rec.toml");
    std::fs::write(&scene, RECORDING).unwrap();
    let out = dir.path().join("out");
    let child = spawn_run(&scene, &out);
    wait_for("the recorders to start", || out.join(".a.mp4.partial").exists());
    // Long enough for the 500 ms pre-roll ring to fill (the temporary file is made before
    // the first frame), so the clip starts after the video does.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    signal(&child, "USR1");
    wait_for("the clip to start", || {
        out.join(".clip-0001.mp4.partial").exists()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(&child, "INT");
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", text(&done));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("clip triggered at frame"), "{stderr}");
    assert!(
        stderr.contains("\"codec\":\"libx264\""),
        "the chosen codec is logged: {stderr}"
    );
    let a = ffprobe(&out.join("a.mp4"));
    let b = ffprobe(&out.join("b.gif"));
    assert_eq!((a.width, a.height, a.rate.as_str()), (64, 32, "30/1"));
    assert_eq!(a.frames, b.frames, "both recorders got every frame");
    // The clip: 500 ms (15 frames) of pre-roll, then until the end.
    let clip = ffprobe(&out.join("clip-0001.mp4"));
    assert!(clip.frames > 15 && clip.frames < a.frames, "{clip:?} of {a:?}");
    assert_eq!(partials(&out), 0);
}

#[test]
fn the_metrics_stream_says_what_each_recorder_chose_and_how_full_its_queue_is() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("m.toml");
    std::fs::write(
        &scene,
        format!(
            "{CANVAS}[[recorder]]\nplugin = \"video\"\nconfig = {{ path = \"a.mkv\", codecs = [\"marquee-no-such-codec\", \"mpeg4\"] }}\n\
             [[recorder]]\nplugin = \"gif\"\nqueue = 3\nconfig = {{ path = \"b.gif\" }}\n"
        ),
    )
    .unwrap();
    let metrics = dir.path().join("m.jsonl");
    let out = marquee(&[
        "run",
        scene.to_str().unwrap(),
        "--output",
        "headless",
        "--unpaced",
        "--frames",
        "20",
        "--out-dir",
        dir.path().join("out").to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let recorders = lines.iter().find(|l| l["type"] == "recorders").unwrap();
    let video = &recorders["recorders"][0];
    assert_eq!(video["id"], "video");
    assert_eq!(video["info"]["codec"], "mpeg4", "{recorders}");
    assert_eq!(video["info"]["skipped"][0]["codec"], "marquee-no-such-codec");
    assert_eq!(recorders["recorders"][1]["info"], serde_json::json!({}));
    let frames: Vec<_> = lines.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 20);
    for f in &frames {
        let r = f["recorders"].as_array().unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[1]["queue"].as_u64().unwrap() <= 3, "{f}");
        // Unpaced, the recorders set the pace: nothing is dropped.
        assert_eq!(r[0]["dropped"], 0);
        assert_eq!(r[1]["dropped"], 0);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recorder `gif`: 20 frames recorded, 0 dropped"),
        "{stderr}"
    );
    assert_eq!(ffprobe(&dir.path().join("out/a.mkv")).frames, 20);
}

#[test]
fn when_ffmpeg_dies_the_recorder_reports_it_and_stops_while_the_scene_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // An ffmpeg that passes the probe (it runs the real one for that: its stdout is then the
    // trial file) and then dies mid-video.
    let fake = dir.path().join("dying-ffmpeg");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$*\" in *-encoders*) exec ffmpeg \"$@\" ;; esac\n\
         case \"$(readlink /proc/$$/fd/1)\" in *marquee-trial*) exec ffmpeg \"$@\" ;; esac\n\
         head -c 20000 >/dev/null\necho 'simulated crash' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scene = dir.path().join("scene.toml");
    std::fs::write(
        &scene,
        format!(
            "{CANVAS}[[recorder]]\nplugin = \"video\"\nconfig = {{ path = \"a.mp4\", codecs = [\"mpeg4\"] }}\n\
             [[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"b.gif\" }}\n"
        ),
    )
    .unwrap();
    let out = run_with_ffmpeg(&scene, 40, fake.to_str().unwrap());
    let shown = text(&out);
    // Reported once, with ffmpeg's own words, and the run says it failed.
    assert_eq!(out.status.code(), Some(1), "{shown}");
    // Said as it happened and again in the summary, never per frame.
    assert_eq!(shown.matches("simulated crash").count(), 2, "{shown}");
    assert!(shown.contains("recorder `video`"), "{shown}");
    assert!(shown.contains("records nothing more"), "{shown}");
    assert!(shown.contains("1 failure"), "{shown}");
    // The scene went on: the other recorder got every frame; the dead one left no file at all.
    assert_eq!(ffprobe(&dir.path().join("b.gif")).frames, 40);
    assert!(!dir.path().join("a.mp4").exists());
    assert!(!dir.path().join(".a.mp4.partial").exists());
}

#[test]
fn an_edit_while_recording_keeps_an_unchanged_recorder_writing_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = |color: &str, repeat: bool| {
        format!(
            "fps = 25\n[canvas]\nwidth = 16\nheight = 8\n[[layer]]\nplugin = \"solid\"\nconfig = {{ color = \"{color}\" }}\n\
             [[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"a.gif\", repeat = {repeat} }}\n"
        )
    };
    let registry = Registry::builtin();
    let load = |t: String| scene_in(dir.path(), &t, &registry).unwrap();
    let options = EngineOptions::default();
    let mut engine = Engine::new(&load(text("#ff0000", true)), &options).unwrap();
    for _ in 0..10 {
        engine.step();
    }
    // A layer edit: the recorder is unchanged and goes on with the same file.
    assert_eq!(engine.reload(&load(text("#00ff00", true)), &options).unwrap(), 1);
    for _ in 0..10 {
        engine.step();
    }
    // A bad layer edit (an image that is not there: the plugin refuses it when it starts)
    // changes nothing, the recording included.
    let bad = text("#00ff00", true)
        .replace("plugin = \"solid\"", "plugin = \"image\"")
        .replace("color = \"#00ff00\"", "path = \"missing.png\"");
    assert!(engine.reload(&load(bad), &options).is_err());
    for _ in 0..5 {
        engine.step();
    }
    assert!(engine.take_failures().is_empty());
    // Recording paused (the `r` key) stays paused across an edit.
    engine.set_recording(false);
    engine.reload(&load(text("#0000ff", true)), &options).unwrap();
    for _ in 0..4 {
        engine.step();
    }
    engine.set_recording(true);
    // An edit of the recorder itself: the old file is finished, a new one starts on the path.
    engine.reload(&load(text("#00ff00", false)), &options).unwrap();
    assert!(engine.take_failures().is_empty());
    assert_eq!(ffprobe(&dir.path().join("a.gif")).frames, 25);
    for _ in 0..7 {
        engine.step();
    }
    assert!(engine.finish().is_empty());
    assert_eq!(ffprobe(&dir.path().join("a.gif")).frames, 7);
    assert_eq!(partials(dir.path()), 0);
}

#[test]
fn a_full_disk_stops_the_recorder_that_hit_it_and_the_show_goes_on() {
    // A file size limit stands in for a full disk: writes past it fail with EFBIG (the signal
    // that would otherwise kill the process is ignored, as a full disk sends none).
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("full.toml");
    std::fs::write(
        &scene,
        format!(
            "{CANVAS}[[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"big.gif\" }}\n\
             [[recorder]]\nplugin = \"png-sequence\"\nconfig = {{ path = \"f-{{n}}.png\", every = 20 }}\n"
        ),
    )
    .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 40; exec '{}' run '{}' --output headless --unpaced --frames 200",
            env!("CARGO_BIN_EXE_marquee"),
            scene.display()
        ))
        .output()
        .unwrap();
    // The show goes on, and the run still says it lost a recording: exit 1 with a summary.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: 1 failure during the run"), "{stderr}");
    assert!(
        stderr.contains("recorder `gif` (plugin `gif`) failed at frame"),
        "{stderr}"
    );
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(
        stderr.contains("0 dropped because its queue was full; it failed and stopped"),
        "frames after the failure are not counted as drops: {stderr}"
    );
    assert!(
        stderr.contains("200 frames of 64×32"),
        "the show went on: {stderr}"
    );
    assert!(!dir.path().join("big.gif").exists());
    assert!(
        !dir.path().join(".big.gif.partial").exists(),
        "a failed recorder cleans up"
    );
    // The other recorder was not affected: every 20th frame, all 10 files.
    let pngs = walk(dir.path())
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .count();
    assert_eq!(pngs, 10, "{stderr}");
}

#[test]
fn bench_with_recorders_reports_the_render_threads_share_and_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("b.toml");
    std::fs::write(
        &scene,
        format!("{CANVAS}[[recorder]]\nplugin = \"gif\"\nconfig = {{ path = \"b.gif\" }}\n"),
    )
    .unwrap();
    let json = dir.path().join("b.json");
    let args = |recorders: bool| {
        let mut a = vec![
            "bench".to_string(),
            scene.to_string_lossy().into_owned(),
            "--frames".into(),
            "50".into(),
            "--warmup".into(),
            "5".into(),
            "--json".into(),
            json.to_string_lossy().into_owned(),
        ];
        if recorders {
            a.extend([
                "--recorders".into(),
                "--out-dir".into(),
                dir.path().join("out").to_string_lossy().into_owned(),
            ]);
        }
        a
    };
    let run = |recorders: bool| {
        let a = args(recorders);
        let out = marquee(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&json).unwrap()).unwrap()
    };
    let with = run(true);
    let (median, p99) = (
        with["recording_ms"][0].as_f64().unwrap(),
        with["recording_ms"][1].as_f64().unwrap(),
    );
    assert!(median > 0.0 && p99 >= median, "{with}");
    let gif = &with["recorders"][0];
    assert_eq!(gif["id"], "gif");
    let (recorded, dropped) = (
        gif["recorded"].as_u64().unwrap(),
        gif["dropped"].as_u64().unwrap(),
    );
    assert_eq!(recorded + dropped, 55, "every frame recorded or counted: {with}");
    assert_eq!(ffprobe(&dir.path().join("out/b.gif")).frames, recorded);
    let without = run(false);
    assert!(without["recording_ms"].is_null());
    assert_eq!(without["recorders"], serde_json::json!([]));
}
