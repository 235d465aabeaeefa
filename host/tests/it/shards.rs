//! Sharded traces: shards traced apart and merged are byte-identical to one unsharded trace (a
//! scene, a playlist with a shard starting inside a transition, a stateful plugin); bad sets
//! of shards are refused; verification by shard.

use std::path::{Path, PathBuf};

use marquee::model::show::Show;
use marquee::play::player::Player;
use marquee::plugins::registry::Registry;
use marquee::trace::merge::merge;
use marquee::trace::shard::Shard;
use marquee::trace::{self, TraceError, hash_hex};

use crate::util::{marquee, root, text};

/// A scene of `scenes/` by name (its path recorded relative, as a user types it), or a file.
fn show(name: &str, registry: &Registry) -> Show {
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        cwd,
        root().join("host"),
        "integration tests run in the host crate"
    );
    let path = if Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        PathBuf::from(format!("../scenes/{name}"))
    };
    Show::load(&path, registry).unwrap()
}

/// Life at 600 generations a second (more than it catches up with in one frame after a jump of
/// two seconds) under sparkles on a persistent layer (its pixels are state).
const STATEFUL: &str = r##"
name = "stateful"
fps = 30
seed = 5
[canvas]
width = 128
height = 32
[[layer]]
id = "life"
plugin = "life"
config = { density = 0.3, generations_per_second = 600.0 }
[[layer]]
id = "trail"
plugin = "random-pixels"
persist = true
config = { count = 3, random_color = true }
"##;

/// Traces `name` whole into `dir/whole` and as `count` shards into `dir/1`, `dir/2`...
/// (traced last shard first); merges them, given in a scrambled order, into `dir/merged`.
/// Returns the shard outcomes.
fn whole_and_merged(name: &str, frames: u64, count: u32, dir: &Path) -> Vec<trace::TraceOutcome> {
    let registry = Registry::builtin();
    let show = show(name, &registry);
    trace::trace(&show, &registry, &dir.join("whole"), frames, 1).unwrap();
    let mut outcomes = Vec::new();
    for index in (1..=count).rev() {
        let shard = Shard { index, count };
        let out = dir.join(index.to_string());
        outcomes.push(trace::trace_shard(&show, &registry, &out, frames, Some(shard), 1, |_| {}).unwrap());
    }
    outcomes.reverse();
    let mut shards: Vec<PathBuf> = (1..=count).map(|i| dir.join(i.to_string())).collect();
    shards.rotate_left(count as usize / 2);
    let merged = merge(&shards, &dir.join("merged")).unwrap();
    assert_eq!(merged.shards, count as usize);
    for file in [trace::INDEX_FILE, trace::GIF_FILE] {
        let (a, b) = (dir.join("whole").join(file), dir.join("merged").join(file));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{name}: merged {file} differs from the unsharded one"
        );
    }
    outcomes
}

#[test]
fn the_showcase_in_shards_merges_into_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for count in [2, 3] {
        let dir = dir.path().join(count.to_string());
        let outcomes = whole_and_merged("showcase.toml", 200, count, &dir);
        // The second shard starts at frame 100 or 66; its GIF starts at the key frame before
        // (60), to which every instance jumps, since nothing in the showcase keeps state.
        let start = outcomes[1].index.frames[0].index;
        assert_eq!(start, 200 / count as u64);
        let lead = outcomes[1].index.shard.as_ref().unwrap().lead;
        assert_eq!(lead, start - trace::KEY_FRAME_INTERVAL);
        let reach = &outcomes[1].reached[0];
        assert_eq!(reach.frames, trace::KEY_FRAME_INTERVAL);
        assert!(
            reach
                .instances
                .iter()
                .all(|(_, _, r)| *r == marquee::engine::Reach::Jumped),
            "{reach:?}"
        );
    }
}

#[test]
fn a_playlist_sharded_inside_a_transition_merges_into_the_same_bytes() {
    // The tour: showcase for 240 frames, then the ticker sliding in over frames 240–262, then
    // life (stateful) from 420. Five shards of 625 frames start at 125, 250 (inside the slide),
    // 375 and 500 (life, 80 frames in); each encodes from the key frame before (120, 240,
    // 360, 480).
    let dir = tempfile::tempdir().unwrap();
    let outcomes = whole_and_merged("tour.toml", 625, 5, dir.path());
    let starts: Vec<u64> = outcomes.iter().map(|o| o.index.frames[0].index).collect();
    assert_eq!(starts, [0, 125, 250, 375, 500]);
    let leads: Vec<u64> = outcomes
        .iter()
        .map(|o| o.index.shard.as_ref().unwrap().lead)
        .collect();
    assert_eq!(leads, [0, 5, 10, 15, 20]);
    // At the slide's first frame both the outgoing play and the incoming one were brought there.
    assert_eq!(outcomes[2].reached.len(), 2, "{:?}", outcomes[2].reached);
    assert_eq!(outcomes[2].reached[0].frames, 240, "the showcase's play");
    assert_eq!(
        outcomes[2].reached[1].frames, 0,
        "the ticker's play, at its start"
    );
    // Inside the slide, reached exactly: what `verify --shard` does from any frame.
    let registry = Registry::builtin();
    let whole = trace::read_index(&dir.path().join("whole")).unwrap();
    let mut player = Player::new(&show("tour.toml", &registry), &Default::default()).unwrap();
    let reached = player.seek_exact(250).unwrap();
    assert_eq!((reached[0].frames, reached[1].frames), (250, 10));
    assert_eq!(hash_hex(player.step().unwrap()), whole.frames[250].rgba);
    let life = &outcomes[4].reached[0];
    assert_eq!(
        life.frames, 60,
        "life's play, from frame 420 to the key frame at 480"
    );
    assert_eq!(life.instances[0].2, marquee::engine::Reach::Stepped, "{life:?}");
}

#[test]
fn stateful_plugins_in_shards_merge_into_the_same_bytes_and_need_stepping() {
    let dir = tempfile::tempdir().unwrap();
    let outcomes = whole_and_merged("life.toml", 120, 4, &dir.path().join("life"));
    assert_eq!(outcomes[3].reached[0].frames, 60, "the key frame before frame 90");
    let scene = write_scene(dir.path(), "stateful.toml", STATEFUL);
    let outcomes = whole_and_merged(scene.to_str().unwrap(), 120, 4, dir.path());
    let how: Vec<_> = outcomes[3].reached[0]
        .instances
        .iter()
        .map(|(_, id, r)| (id.as_str(), *r))
        .collect();
    use marquee::engine::Reach::Stepped;
    assert_eq!(how, [("life", Stepped), ("trail", Stepped)]);
    // Jumping there instead (as a live run behind its clock does) makes another frame: the
    // stepping is what makes the merge exact.
    let registry = Registry::builtin();
    let show = show(scene.to_str().unwrap(), &registry);
    let whole = trace::read_index(&dir.path().join("whole")).unwrap();
    let mut jumped = Player::new(&show, &Default::default()).unwrap();
    jumped.skip(90).unwrap();
    assert_ne!(hash_hex(jumped.step().unwrap()), whole.frames[90].rgba);
    let mut stepped = Player::new(&show, &Default::default()).unwrap();
    stepped.seek_exact(90).unwrap();
    assert_eq!(hash_hex(stepped.step().unwrap()), whole.frames[90].rgba);
}

/// A processor with state, as an author would write one: each frame is blended half and half
/// with the frame it made before (an echo), so every frame depends on all earlier ones.
mod echo {
    use marquee_plugin_api::{
        DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin, declare_plugin,
        fields_of,
    };

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Config {}

    pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
        id: "echo",
        version: "0.0.1",
        description: "blends each frame with the one before",
        renderer: None,
        processor: Some(Factory {
            doc: "Each frame half and half with the one made before.",
            fields: fields_of::<Config>,
            new,
        }),
        recorder: None,
    };

    struct Echo(Vec<u8>);

    fn new(_: &str, init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
        Ok(Box::new(Echo(vec![
            0;
            init.width as usize * init.height as usize * 4
        ])))
    }

    impl ProcessorPlugin for Echo {
        fn process(&mut self, _: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
            for (p, q) in frame.iter_mut().zip(&mut self.0) {
                *p = ((*p as u16 + *q as u16) / 2) as u8;
                *q = *p;
            }
            Ok(())
        }
        fn snapshot(&self) -> Result<Option<Vec<u8>>, PluginError> {
            Ok(Some(self.0.clone()))
        }
        fn restore(&mut self, state: &[u8]) -> Result<(), PluginError> {
            self.0.copy_from_slice(state);
            Ok(())
        }
    }

    declare_plugin!(PLUGIN);
}

#[test]
fn a_processor_with_state_makes_whole_frames_up_to_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::builtin();
    registry.add_module(echo::module(), marquee::plugins::registry::Origin::BuiltIn);
    let path = write_scene(
        dir.path(),
        "echo.toml",
        "name = \"echo\"\nseed = 3\n[canvas]\nwidth = 64\nheight = 16\n\
         [[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 40, random_color = true }\n\
         [[processor]]\nplugin = \"echo\"\n",
    );
    let show = Show::load(&path, &registry).unwrap();
    let d = dir.path();
    trace::trace(&show, &registry, &d.join("whole"), 120, 1).unwrap();
    let mut shards = Vec::new();
    for index in 1..=3 {
        let out = d.join(index.to_string());
        let outcome = trace::trace_shard(
            &show,
            &registry,
            &out,
            120,
            Some(Shard { index, count: 3 }),
            1,
            |_| {},
        )
        .unwrap();
        if index == 3 {
            let how: Vec<_> = outcome.reached[0].instances.iter().map(|(_, _, r)| *r).collect();
            assert_eq!(how, [marquee::engine::Reach::Whole; 2]);
        }
        shards.push(out);
    }
    merge(&shards, &d.join("merged")).unwrap();
    for file in [trace::INDEX_FILE, trace::GIF_FILE] {
        assert!(
            std::fs::read(d.join("whole").join(file)).unwrap()
                == std::fs::read(d.join("merged").join(file)).unwrap()
        );
    }
    // Without the frames before, the echo of frame 40 is another frame.
    let whole = trace::read_index(&d.join("whole")).unwrap();
    let mut jumped = Player::new(&show, &Default::default()).unwrap();
    jumped.skip(40).unwrap();
    assert_ne!(hash_hex(jumped.step().unwrap()), whole.frames[40].rgba);
}

/// The message of a refused merge, checking that nothing was written.
fn refused(shards: &[PathBuf], out: &Path) -> String {
    match merge(shards, out) {
        Err(TraceError::BadTrace { message, .. }) => {
            assert!(!out.join(trace::GIF_FILE).exists() && !out.join(trace::INDEX_FILE).exists());
            message
        }
        other => panic!("merge should refuse, got {other:?}"),
    }
}

#[test]
fn missing_repeated_overlapping_foreign_and_damaged_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let registry = Registry::builtin();
    let showcase = show("showcase.toml", &registry);
    let shard = |name: &str, show: &Show, frames: u64, index: u32, count: u32| {
        let out = d.join(name);
        trace::trace_shard(
            show,
            &registry,
            &out,
            frames,
            Some(Shard { index, count }),
            1,
            |_| {},
        )
        .unwrap();
        out
    };
    let (a1, a2, a3) = (
        shard("a1", &showcase, 30, 1, 3),
        shard("a2", &showcase, 30, 2, 3),
        shard("a3", &showcase, 30, 3, 3),
    );
    let out = d.join("out");
    let m = refused(&[a1.clone(), a3.clone()], &out);
    assert!(m.contains("no shard given holds frames 10–19"), "{m}");
    let m = refused(&[a1.clone(), a2.clone()], &out);
    assert!(m.contains("frames 20–29") && m.contains("missing"), "{m}");
    let m = refused(&[a1.clone(), a2.clone(), a2.clone(), a3.clone()], &out);
    assert!(m.contains("given twice"), "{m}");
    let b1 = shard("b1", &showcase, 30, 1, 2);
    let m = refused(&[b1.clone(), a2.clone(), a3.clone()], &out);
    assert!(m.contains("overlap") && m.contains("frames 10–14"), "{m}");
    // Another scene, another length, another seed.
    let life = show("life.toml", &registry);
    let m = refused(&[a1.clone(), shard("l2", &life, 30, 2, 3), a3.clone()], &out);
    assert!(m.contains("another trace") && m.contains("scene hash"), "{m}");
    let m = refused(&[a1.clone(), shard("c2", &showcase, 60, 2, 3), a3.clone()], &out);
    assert!(m.contains("another trace") && m.contains("length"), "{m}");
    let reseeded = Show::load(
        &write_scene(
            d,
            "reseeded.toml",
            &showcase_text().replace("seed = 42", "seed = 43"),
        ),
        &registry,
    )
    .unwrap();
    let r2 = shard("r2", &reseeded, 30, 2, 3);
    assert!(refused(&[a1.clone(), r2, a3.clone()], &out).contains("another trace"));
    // A whole trace is not a shard.
    trace::trace(&showcase, &registry, &d.join("whole"), 30, 1).unwrap();
    assert!(refused(&[d.join("whole")], &out).contains("not a shard"));
    // A damaged shard: one byte of a frame changed, or the file cut short.
    let gif = a2.join(trace::GIF_FILE);
    let good = std::fs::read(&gif).unwrap();
    let mut bad = good.clone();
    let at = bad.len() - 40;
    bad[at] ^= 0x55;
    std::fs::write(&gif, &bad).unwrap();
    let m = refused(&[a1.clone(), a2.clone(), a3.clone()], &out);
    assert!(m.contains("damaged") || m.contains("does not match"), "{m}");
    std::fs::write(&gif, &good[..good.len() / 2]).unwrap();
    let m = refused(&[a1.clone(), a2.clone(), a3.clone()], &out);
    assert!(m.contains("damaged") || m.contains("GIF"), "{m}");
    std::fs::write(&gif, &good).unwrap();
    // A shard's index that says an impossible shard (found by the `merge` fuzz target: it
    // divided by zero) is refused by merge and by verify.
    let index_path = a2.join(trace::INDEX_FILE);
    let good_index = std::fs::read_to_string(&index_path).unwrap();
    for (index, count) in [(0, 3), (2, 0), (4, 3)] {
        let mut v: serde_json::Value = serde_json::from_str(&good_index).unwrap();
        v["shard"]["index"] = index.into();
        v["shard"]["count"] = count.into();
        std::fs::write(&index_path, v.to_string()).unwrap();
        let m = refused(&[a1.clone(), a2.clone(), a3.clone()], &out);
        assert!(m.contains("which no trace is cut into"), "{m}");
        match trace::verify_shard(&a2, &registry, None, None, 1, |_, _| {}) {
            Err(TraceError::BadTrace { message, .. }) => {
                assert!(message.contains("no trace is cut into"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    // A lead the shard cannot have (a2 starts at frame 10, its GIF with frames 0–9), or one
    // that does not match its GIF's frames.
    for (lead, says) in [
        (11, "at most 10 can be"),
        (60, "at most 10 can be"),
        (3, "holds 20 frames"),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&good_index).unwrap();
        assert_eq!(v["shard"]["lead"], 10);
        v["shard"]["lead"] = lead.into();
        std::fs::write(&index_path, v.to_string()).unwrap();
        let m = refused(&[a1.clone(), a2.clone(), a3.clone()], &out);
        assert!(m.contains(says), "lead {lead}: {m}");
        assert!(trace::verify_shard(&a2, &registry, None, None, 1, |_, _| {}).is_err());
    }
    std::fs::write(&index_path, &good_index).unwrap();
    // The output directory may not be a shard.
    let before = std::fs::read(a1.join(trace::INDEX_FILE)).unwrap();
    match merge(&[a1.clone(), a2.clone(), a3.clone()], &a1) {
        Err(TraceError::BadTrace { message, .. }) => {
            assert!(message.contains("one of the shards"), "{message}")
        }
        other => panic!("merge into a shard should refuse, got {other:?}"),
    }
    assert_eq!(std::fs::read(a1.join(trace::INDEX_FILE)).unwrap(), before);
    // And once whole, the set merges.
    merge(&[a1, a2, a3], &out).unwrap();
}

fn showcase_text() -> String {
    std::fs::read_to_string(root().join("scenes/showcase.toml")).unwrap()
}

fn write_scene(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_trace_is_verified_shard_by_shard() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builtin();
    let show = show("tour.toml", &registry);
    let whole = dir.path().join("whole");
    trace::trace(&show, &registry, &whole, 300, 1).unwrap();
    let mut seen = Vec::new();
    for index in 1..=3 {
        let shard = Some(Shard { index, count: 3 });
        let report = trace::verify_shard(&whole, &registry, None, shard, 1, |i, _| seen.push(i)).unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!((report.first, report.total), ((index as u64 - 1) * 100, 100));
    }
    assert_eq!(
        seen,
        (0..300).collect::<Vec<u64>>(),
        "each frame checked once, in order"
    );
    // A frame of shard 2 recorded wrong: shard 2 finds it, the others pass.
    let index_path = whole.join(trace::INDEX_FILE);
    let mut index = trace::read_index(&whole).unwrap();
    index.frames[150].rgba = "0123456789abcdef".into();
    std::fs::write(&index_path, trace::index_json(&index)).unwrap();
    let shard = |index: u32| {
        trace::verify_shard(
            &whole,
            &registry,
            None,
            Some(Shard { index, count: 3 }),
            1,
            |_, _| {},
        )
    };
    let verify = |index: u32| shard(index).unwrap();
    assert!(verify(1).ok() && verify(3).ok());
    let report = verify(2);
    let m = report.mismatch.expect("frame 150 differs");
    assert_eq!((m.index, report.matched), (150, 50));
    assert!(m.images.difference.exists());
    // The GIF's hash of a frame recorded wrong: the trace is damaged, which the shard holding
    // that frame says (each shard decodes its own frames only).
    index.frames[250].gif = "fedcba9876543210".into();
    std::fs::write(&index_path, trace::index_json(&index)).unwrap();
    assert!(shard(1).is_ok());
    match shard(3) {
        Err(TraceError::BadTrace { message, .. }) => {
            assert!(message.contains("frame 250 does not match"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_command_line_traces_merges_and_verifies_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for i in 1..=2 {
        let out = marquee(&[
            "trace",
            "scenes/life.toml",
            "--frames",
            "160",
            "--shard",
            &format!("{i}/2"),
            "--out",
            &format!("{d}/s{i}"),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        if i == 2 {
            let t = text(&out);
            assert!(
                t.contains("shard 2/2: frames 80–159 of 160, encoded from key frame 60")
                    && t.contains("`life` stepped"),
                "{t}"
            );
        }
    }
    // A shard's index is what the published schema says.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/trace-index.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{d}/s2/index.json")).unwrap()).unwrap();
    let gif = std::fs::read(format!("{d}/s2/trace.gif")).unwrap();
    let want =
        serde_json::json!({ "index": 2, "count": 2, "total": 160, "gif_bytes": hash_hex(&gif), "lead": 20 });
    assert_eq!(index["shard"], want);
    assert!(
        validator.is_valid(&index),
        "{:?}",
        validator.iter_errors(&index).next()
    );
    // A shard verifies on its own, its GIF decoded from the key frame it starts with.
    let out = marquee(&["verify", &format!("{d}/s2"), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ok: all 80 frames"), "{}", text(&out));
    let out = marquee(&[
        "trace",
        "merge",
        &format!("{d}/s2"),
        &format!("{d}/s1"),
        "--out",
        &format!("{d}/m"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("merged 2 shards into 160 frames"),
        "{}",
        text(&out)
    );
    let out = marquee(&["verify", &format!("{d}/m"), "--shard", "2/2", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("ok: all 80 frames of shard 2/2"),
        "{}",
        text(&out)
    );
    // A shard left out is bad input (exit 2), said with what is missing.
    let out = marquee(&["trace", "merge", &format!("{d}/s2"), "--out", &format!("{d}/m2")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no shard given holds frames 0–79"),
        "{}",
        text(&out)
    );
    for bad in ["0/2", "3/2", "x"] {
        let out = marquee(&[
            "trace",
            "scenes/life.toml",
            "--frames",
            "4",
            "--shard",
            bad,
            "--out",
            d,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
    }
}

#[test]
fn a_shard_that_differs_shows_its_own_frame_as_expected() {
    // Shard 2/2 of 160 frames starts at frame 80; its GIF holds frames 60–79 before it.
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builtin();
    let show = show("showcase.toml", &registry);
    let out = dir.path().join("s2");
    trace::trace_shard(
        &show,
        &registry,
        &out,
        160,
        Some(Shard { index: 2, count: 2 }),
        1,
        |_| {},
    )
    .unwrap();
    let mut index = trace::read_index(&out).unwrap();
    assert_eq!(index.shard.as_ref().unwrap().lead, 20);
    index.frames[5].rgba = "0123456789abcdef".into();
    std::fs::write(out.join(trace::INDEX_FILE), trace::index_json(&index)).unwrap();
    let report = trace::verify(&out, &registry, None, 1, |_, _| {}).unwrap();
    let m = report.mismatch.expect("frame 85 recorded wrong");
    assert_eq!(m.index, 85);
    // The expected image is frame 85 as the GIF stores it, not a frame of the lead.
    let expected = image::open(&m.images.expected).unwrap().to_rgba8().into_raw();
    assert_eq!(hash_hex(&expected), index.frames[5].gif);
}
