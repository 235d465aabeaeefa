//! Running live: reloading an edited scene in place.

use marquee::engine::{Engine, EngineOptions};

use crate::util::scene;

/// A persistent layer of dust that accumulates frame by frame (state a fresh instance would
/// lack), under a line of text.
fn dusty(text: &str) -> String {
    format!(
        "fps = 10\nseed = 5\n[canvas]\nwidth = 48\nheight = 16\n\
         [[layer]]\nid = \"dust\"\nplugin = \"random-pixels\"\npersist = true\nconfig = {{ count = 3 }}\n\
         [[layer]]\nid = \"title\"\nplugin = \"text\"\nconfig = {{ text = \"{text}\" }}\n"
    )
}

#[test]
fn reload_keeps_unchanged_instances_and_their_state() {
    let options = EngineOptions::default();
    let mut live = Engine::new(&scene(&dusty("AB")).unwrap(), &options).unwrap();
    for _ in 0..20 {
        live.step();
    }
    let kept = live.reload(&scene(&dusty("CD")).unwrap(), &options).unwrap();
    assert_eq!(kept, 1, "the dust layer is kept, the edited title is new");
    assert_eq!(live.next_frame(), 20, "the frame count goes on");
    // The same as running the edited scene from the start: the dust of frames 0–19 is still
    // there (a new dust layer would have started empty).
    let mut fresh = Engine::new(&scene(&dusty("CD")).unwrap(), &options).unwrap();
    for _ in 0..20 {
        fresh.step();
    }
    for frame in 20..25 {
        assert!(live.step() == fresh.step(), "frame {frame}");
    }
}

#[test]
fn a_scene_plays_as_one_entry_that_an_edit_changes_in_place_even_its_size() {
    use marquee::model::show::Show;
    use marquee::play::player::{Player, Reloaded};
    let options = EngineOptions::default();
    let mut player = Player::new(&Show::from(scene(&dusty("AB")).unwrap()), &options).unwrap();
    for _ in 0..3 {
        player.step().unwrap();
    }
    // A scene has no other entry: next and previous change nothing.
    let epoch = player.epoch();
    player.next_entry().unwrap();
    player.previous_entry().unwrap();
    assert_eq!(player.epoch(), epoch);
    assert!(!player.is_done());
    // Skipping far ahead is one step, not one per frame.
    player.skip(1_000_000_000).unwrap();
    assert_eq!(player.engine().unwrap().next_frame(), 1_000_000_003);
    // An edit to a bigger canvas changes every layer's surface, so both are made anew, and the
    // player makes frames of the new size from then on.
    let bigger = dusty("AB").replace("width = 48", "width = 64");
    let how = player
        .reload(&Show::from(scene(&bigger).unwrap()), &options)
        .unwrap();
    assert_eq!(how, Reloaded::InPlace { kept: 0 });
    assert_eq!(player.frame_size(), (64, 16));
    assert_eq!(player.step().unwrap().len(), 64 * 16 * 4);
}

#[test]
fn a_bad_edit_leaves_the_running_scene_alone() {
    let options = EngineOptions::default();
    let good = scene(&dusty("AB")).unwrap();
    let mut live = Engine::new(&good, &options).unwrap();
    let mut untouched = Engine::new(&good, &options).unwrap();
    for _ in 0..5 {
        live.step();
        untouched.step();
    }
    // The plugin refuses the value when it starts, after the scene file itself has been read
    // (the text passed the host's checks of its declared type; one line is the plugin's rule).
    let bad = scene(&dusty("A\\nB")).unwrap();
    let err = live.reload(&bad, &options).unwrap_err().to_string();
    assert!(err.contains("text"), "{err}");
    // A recorder the edit adds with a bad config is caught before anything is switched too.
    let bad_recorder = scene(&format!("{}[[recorder]]\nplugin = \"gif\"\n", dusty("CD"))).unwrap();
    let err = live.reload(&bad_recorder, &options).unwrap_err().to_string();
    assert!(err.contains("path"), "{err}");
    for frame in 5..10 {
        assert!(live.step() == untouched.step(), "frame {frame}");
    }
}

mod running {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use marquee::engine::EngineOptions;
    use marquee::model::show::Show;
    use marquee::output::{Control, Output};
    use marquee::play::handoff::{Handoff, Taken};
    use marquee::play::live::{self, LiveOptions};
    use marquee::plugins::registry::Registry;

    #[test]
    fn the_handoff_keeps_the_newest_two_and_counts_the_rest() {
        let h = Handoff::new();
        for i in 0..10u8 {
            h.publish(i as u64, 1, 1, &[i, 0, 0, 255]);
        }
        assert_eq!((h.published(), h.dropped()), (10, 8));
        h.close();
        let mut got = Vec::new();
        while let Taken::Frame(f) = h.take(Duration::ZERO) {
            got.push((f.index, f.pixels[0]));
            h.recycle(f);
        }
        assert_eq!(got, vec![(8, 8), (9, 9)]);
        assert!(matches!(h.take(Duration::ZERO), Taken::Closed));
    }

    #[test]
    fn publishing_goes_on_while_the_output_holds_a_frame() {
        let h = Handoff::new();
        h.publish(0, 1, 1, &[0; 4]);
        // The output took a frame and is busy with it (never gives it back here): the producer
        // keeps publishing without waiting, dropping the oldest.
        let Taken::Frame(held) = h.take(Duration::ZERO) else {
            panic!("a frame was waiting")
        };
        for i in 1..=100 {
            h.publish(i, 1, 1, &[0; 4]);
        }
        assert_eq!(h.dropped(), 98);
        assert_eq!(held.index, 0);
    }

    /// An output that takes `delay` per frame, records what it saw, and asks for `controls`
    /// when it has shown a given number of frames.
    struct Probe {
        delay: Duration,
        seen: Arc<Mutex<Vec<Vec<u8>>>>,
        at: Vec<(usize, Control)>,
        sleep_after: Option<(usize, Duration)>,
    }

    impl Output for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn show(&mut self, frame: &[u8], _w: u32, _h: u32, _status: &str) -> io::Result<()> {
            std::thread::sleep(self.delay);
            let mut seen = self.seen.lock().unwrap();
            seen.push(frame[..4].to_vec());
            if let Some((n, pause)) = self.sleep_after
                && seen.len() == n
            {
                drop(seen);
                std::thread::sleep(pause);
            }
            Ok(())
        }
        fn poll(&mut self, controls: &mut Vec<Control>) -> io::Result<()> {
            let shown = self.seen.lock().unwrap().len();
            while self.at.first().is_some_and(|(n, _)| *n <= shown) {
                controls.push(self.at.remove(0).1);
            }
            Ok(())
        }
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn factory(p: Probe) -> marquee::output::OutputFactory {
        Box::new(move |_, _| Ok(Box::new(p) as Box<dyn Output>))
    }

    fn probe(delay_ms: u64) -> (Probe, Arc<Mutex<Vec<Vec<u8>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        (
            Probe {
                delay: Duration::from_millis(delay_ms),
                seen: seen.clone(),
                at: Vec::new(),
                sleep_after: None,
            },
            seen,
        )
    }

    fn options(limit: Option<u64>, paced: bool, reload: bool) -> LiveOptions {
        LiveOptions {
            engine: EngineOptions::default(),
            paced,
            limit,
            reload,
            screenshot_dir: std::env::temp_dir(),
            rig: None,
        }
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn solid(color: &str) -> String {
        format!(
            "fps = 30\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nid = \"fill\"\nplugin = \"solid\"\nconfig = {{ color = \"{color}\" }}\n"
        )
    }

    #[test]
    fn a_slow_output_never_stalls_rendering_and_its_drops_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::builtin();
        let show = Show::load(&write(dir.path(), "s.toml", &solid("#ff0000")), &registry).unwrap();
        let (slow, seen) = probe(15);
        let (fast, fast_seen) = probe(0);
        let report = live::run(
            show,
            &registry,
            vec![factory(slow), factory(fast)],
            &options(Some(60), false, false),
            live::Observe::default(),
        )
        .unwrap();
        assert_eq!(report.made, 60, "every frame was made");
        let slow_report = &report.outputs[0];
        assert_eq!(slow_report.shown as usize, seen.lock().unwrap().len());
        assert_eq!(
            slow_report.shown + slow_report.dropped,
            60,
            "each frame shown or counted as dropped"
        );
        assert!(slow_report.dropped > 0, "{slow_report:?}");
        assert_eq!(report.outputs[1].shown + report.outputs[1].dropped, 60);
        assert!(!fast_seen.lock().unwrap().is_empty());
    }

    #[test]
    fn controls_from_an_output_reach_the_show() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::builtin();
        for c in ["red", "blue"] {
            let color = if c == "red" { "#ff0000" } else { "#0000ff" };
            write(dir.path(), &format!("{c}.toml"), &solid(color));
        }
        let list = "[[entry]]\nscene = \"red.toml\"\nduration = 100.0\n[[entry]]\nscene = \"blue.toml\"\nduration = 100.0\n";
        let show = Show::load(&write(dir.path(), "p.toml", list), &registry).unwrap();
        let (mut out, seen) = probe(1);
        out.at = vec![(3, Control::Screenshot), (5, Control::Next), (40, Control::Quit)];
        // No frame limit: the run ends only because the output asked to quit.
        let report = live::run(
            show,
            &registry,
            vec![factory(out)],
            &options(None, false, false),
            live::Observe::default(),
        )
        .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], vec![255, 0, 0, 255]);
        assert_eq!(
            seen.last().unwrap(),
            &vec![0, 0, 255, 255],
            "n moved on to the blue entry"
        );
        let saved = report
            .log
            .iter()
            .find(|l| l.text.starts_with("saved "))
            .expect("a screenshot");
        assert_eq!(saved.severity, live::Severity::Info);
        let path = saved.text.trim_start_matches("saved ");
        assert!(std::path::Path::new(path).exists(), "{path}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn editing_the_scene_applies_within_a_second_and_a_bad_edit_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::builtin();
        let path = write(dir.path(), "s.toml", &solid("#ff0000"));
        let show = Show::load(&path, &registry).unwrap();
        let (out, seen) = probe(0);
        let editor = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::write(&path, solid("#00ff00")).unwrap();
                std::thread::sleep(Duration::from_millis(1000));
                std::fs::write(
                    &path,
                    "[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"nope\"\n",
                )
                .unwrap();
            })
        };
        // 3 s at 30 fps, paced: the edits land at 0.3 s and 1.3 s.
        let report = live::run(
            show,
            &registry,
            vec![factory(out)],
            &options(Some(90), true, true),
            live::Observe::default(),
        )
        .unwrap();
        editor.join().unwrap();
        assert!(
            report.log.iter().any(|l| l.severity == live::Severity::Info
                && l.text.contains("reloaded")
                && l.text.contains("kept 0 instances")),
            "{:?}",
            report.log
        );
        assert!(
            report.log.iter().any(|l| l.severity == live::Severity::Error
                && l.to_string().starts_with("error: ")
                && l.text.contains("nope")
                && l.text.contains("last good")),
            "{:?}",
            report.log
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], vec![255, 0, 0, 255]);
        assert_eq!(
            seen.last().unwrap(),
            &vec![0, 255, 0, 255],
            "the good edit stays on after the bad one"
        );
        assert_eq!(report.made + report.skipped, 90);
    }
}

#[test]
fn publishing_into_a_reserved_handoff_never_allocates() {
    use marquee::play::handoff::{Handoff, Taken};
    use std::time::Duration;
    let h = Handoff::new();
    h.reserve(Handoff::BUFFERS, 64);
    let frame = [7u8; 64];
    let before = marquee::observe::alloc_count::allocations();
    // The worst case: the output holds one frame while two wait and a fourth is published.
    h.publish(0, 4, 4, &frame);
    let Taken::Frame(held) = h.take(Duration::ZERO) else {
        panic!("a frame was waiting")
    };
    for i in 1..=10 {
        h.publish(i, 4, 4, &frame);
    }
    h.recycle(held);
    // Only counted where the counting allocator is installed (the `alloc` module does).
    assert_eq!(marquee::observe::alloc_count::allocations() - before, 0);
}
