//! Playlists: timing, transitions, repeat, loop, shuffle, next / previous, tracing and verifying,
//! and every way a playlist file can be wrong.

use std::path::Path;

use marquee::engine::EngineOptions;
use marquee::model::playlist::Playlist;
use marquee::model::scene::SceneError;
use marquee::model::show::Show;
use marquee::play::player::Player;
use marquee::plugins::registry::Registry;
use marquee::trace;

use crate::util::{marquee, root, text};

/// A one-pixel-high 4×1 scene at 10 fps filled with `color`.
fn solid(color: &str) -> String {
    format!(
        "fps = 10\n[canvas]\nwidth = 4\nheight = 1\n[[layer]]\nplugin = \"solid\"\nconfig = {{ color = \"{color}\" }}\n"
    )
}

/// A temporary directory holding scenes `red`, `green`, `blue` (solid colours) and the given
/// extra files.
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, color) in [("red", "#ff0000"), ("green", "#00ff00"), ("blue", "#0000ff")] {
        std::fs::write(dir.path().join(format!("{name}.toml")), solid(color)).unwrap();
    }
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

fn load(dir: &Path, name: &str) -> Result<Playlist, SceneError> {
    Playlist::load(&dir.join(name), &Registry::builtin())
}

/// The colours of the first and the last pixel for `n` frames: enough to tell red, green, blue,
/// blends and slides apart.
fn play(player: &mut Player, n: usize) -> Vec<[u8; 6]> {
    (0..n)
        .map(|_| {
            let f = player.step().unwrap();
            [f[0], f[1], f[2], f[12], f[13], f[14]]
        })
        .collect()
}

const RED: [u8; 6] = [255, 0, 0, 255, 0, 0];
const GREEN: [u8; 6] = [0, 255, 0, 0, 255, 0];
const BLUE: [u8; 6] = [0, 0, 255, 0, 0, 255];

#[test]
fn entries_play_for_their_duration_and_crossfade_over_the_first_frames_of_the_next() {
    let list = "[[entry]]\nscene = \"red.toml\"\nduration = 0.3\n\
        [[entry]]\nscene = \"blue.toml\"\nduration = 0.4\ntransition = \"crossfade\"\ntransition_seconds = 0.2\n";
    let dir = dir_with(&[("p.toml", list)]);
    let playlist = load(dir.path(), "p.toml").unwrap();
    assert_eq!(playlist.cycle_frames(), 7);
    let mut player = Player::new(&Show::from(playlist), &EngineOptions::default()).unwrap();
    let frames = play(&mut player, 7);
    // Shares 1/3 and 2/3 of blue: round(255·(256 − 85)/256) = 170, and so on.
    assert_eq!(
        frames,
        vec![
            RED,
            RED,
            RED,
            [170, 0, 85, 170, 0, 85],
            [85, 0, 170, 85, 0, 170],
            BLUE,
            BLUE
        ]
    );
    assert!(player.is_done());
    assert!(player.take_failures().is_empty());
}

#[test]
fn repeat_loop_and_slides_follow_the_file() {
    let list = "loop = true\n\
        [[entry]]\nscene = \"red.toml\"\nduration = 0.2\nrepeat = 2\n\
        [[entry]]\nscene = \"green.toml\"\nduration = 0.2\ntransition = \"slide-left\"\ntransition_seconds = 0.1\n";
    let dir = dir_with(&[("p.toml", list)]);
    let playlist = load(dir.path(), "p.toml").unwrap();
    let mut player = Player::new(&Show::from(playlist), &EngineOptions::default()).unwrap();
    let frames = play(&mut player, 10);
    // The slide's one frame has share ½: the left two pixels are red, the right two green.
    let slide = [255, 0, 0, 0, 255, 0];
    assert_eq!(frames, vec![RED, RED, RED, RED, slide, GREEN, RED, RED, RED, RED]);
    assert!(!player.is_done());
}

#[test]
fn shuffle_is_seeded_and_reshuffles_each_time_round() {
    let entries: String = ["red", "green", "blue"]
        .iter()
        .map(|c| format!("[[entry]]\nscene = \"{c}.toml\"\nduration = 0.1\n"))
        .collect();
    let dir = dir_with(&[
        (
            "a.toml",
            &format!("loop = true\nshuffle = true\nseed = 9\n{entries}"),
        ),
        (
            "b.toml",
            &format!("loop = true\nshuffle = true\nseed = 9\n{entries}"),
        ),
        (
            "c.toml",
            &format!("loop = true\nshuffle = true\nseed = 10\n{entries}"),
        ),
    ]);
    let run = |name: &str| {
        let playlist = load(dir.path(), name).unwrap();
        let mut player = Player::new(&Show::from(playlist), &EngineOptions::default()).unwrap();
        play(&mut player, 30)
    };
    let (a, b, c) = (run("a.toml"), run("b.toml"), run("c.toml"));
    assert_eq!(a, b, "same seed, same order");
    assert_ne!(a, c, "another seed, another order");
    // Every time round shows each colour once.
    for round in a.chunks(3) {
        let mut sorted = round.to_vec();
        sorted.sort();
        let mut all = vec![RED, GREEN, BLUE];
        all.sort();
        assert_eq!(sorted, all);
    }
    assert!(
        a.chunks(3).any(|r| r != &a[..3]),
        "the order changes between rounds"
    );
}

#[test]
fn next_and_previous_jump_at_once_through_the_transition() {
    let list = "[[entry]]\nscene = \"red.toml\"\nduration = 10.0\n\
        [[entry]]\nscene = \"green.toml\"\nduration = 10.0\ntransition = \"wipe\"\ntransition_seconds = 0.1\n\
        [[entry]]\nscene = \"blue.toml\"\nduration = 10.0\n";
    let dir = dir_with(&[("p.toml", list)]);
    let playlist = load(dir.path(), "p.toml").unwrap();
    let mut player = Player::new(&Show::from(playlist), &EngineOptions::default()).unwrap();
    assert_eq!(play(&mut player, 2), vec![RED, RED]);
    player.next_entry().unwrap();
    // The wipe's one frame: green on the left half, red on the right.
    assert_eq!(play(&mut player, 2), vec![[0, 255, 0, 255, 0, 0], GREEN]);
    assert_eq!(player.position(), (1, 2));
    player.next_entry().unwrap();
    assert_eq!(play(&mut player, 1), vec![BLUE]);
    player.previous_entry().unwrap();
    assert_eq!(play(&mut player, 2), vec![[0, 255, 0, 0, 0, 255], GREEN]);
    player.next_entry().unwrap();
    player.next_entry().unwrap();
    assert!(
        player.is_done(),
        "next after the last entry ends a playlist that does not loop"
    );
}

#[test]
fn a_nested_playlist_is_spliced_in_with_its_repeats() {
    let inner = "[[entry]]\nscene = \"green.toml\"\nduration = 0.1\n[[entry]]\nscene = \"blue.toml\"\nduration = 0.1\n";
    let outer =
        "[[entry]]\nscene = \"red.toml\"\nduration = 0.1\n[[entry]]\nplaylist = \"inner.toml\"\nrepeat = 2\n";
    let dir = dir_with(&[("inner.toml", inner), ("outer.toml", outer)]);
    let playlist = load(dir.path(), "outer.toml").unwrap();
    assert_eq!(playlist.entries.len(), 5);
    let mut player = Player::new(&Show::from(playlist), &EngineOptions::default()).unwrap();
    assert_eq!(play(&mut player, 5), vec![RED, GREEN, BLUE, GREEN, BLUE]);
}

#[test]
fn the_tour_traces_and_verifies_like_a_scene() {
    let registry = Registry::builtin();
    let show = Show::load(&root().join("scenes/tour.toml"), &registry).unwrap();
    let out = tempfile::tempdir().unwrap();
    // 8 s of showcase, then into the ticker's slide: 9 s covers a transition.
    let frames = trace::frames_for(9.0, show.fps());
    let first = trace::trace(&show, &registry, out.path(), frames, 1).unwrap();
    let again = tempfile::tempdir().unwrap();
    let second = trace::trace(&show, &registry, again.path(), frames, 1).unwrap();
    assert_eq!(first.index, second.index);
    assert_eq!(
        std::fs::read(out.path().join(trace::GIF_FILE)).unwrap(),
        std::fs::read(again.path().join(trace::GIF_FILE)).unwrap()
    );
    let report = trace::verify(out.path(), &registry, None, 1, |_, _| {}).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.matched, frames);
}

#[test]
fn every_transition_matches_its_stored_trace() {
    marquee::testing::check_trace(
        root().join("host/tests/playlists/transitions.toml"),
        48,
        root().join("host/tests/traces/transitions"),
        &Registry::builtin(),
    );
}

#[test]
fn the_binary_plays_a_playlist_to_its_end_and_wants_a_length_for_a_looping_one() {
    let out = marquee(&[
        "run",
        "host/tests/playlists/transitions.toml",
        "--headless",
        "--unpaced",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("48 frames"),
        "{}",
        text(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = marquee(&["trace", "scenes/tour.toml", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--seconds"),
        "{}",
        text(&out)
    );
}

/// Loads playlist `p.toml` (with `files` beside it), expecting an error whose rendering names
/// `file:line:` and contains every needle.
#[track_caller]
fn check_error(files: &[(&str, &str)], file: &str, line: usize, needles: &[&str]) {
    let dir = dir_with(files);
    let err = match load(dir.path(), "p.toml") {
        Ok(p) => match Player::new(&Show::from(p), &EngineOptions::default()) {
            Ok(_) => panic!("expected an error, the playlist loaded"),
            Err(marquee::engine::EngineError::Scene(e)) => e,
            Err(e) => panic!("unexpected engine error {e}"),
        },
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(err.diagnostic().and_then(|d| d.line()), Some(line), "{shown}");
    assert!(shown.contains(&format!("{file}:{line}:")), "{shown}");
    for n in needles {
        assert!(shown.contains(n), "missing {n:?} in:\n{shown}");
    }
}

#[test]
fn unknown_transition_lists_the_transitions() {
    check_error(
        &[(
            "p.toml",
            "[[entry]]\nscene = \"red.toml\"\nduration = 1.0\ntransition = \"dissolve\"\n",
        )],
        "p.toml",
        4,
        &[
            "invalid playlist",
            "unknown variant `dissolve`",
            "crossfade",
            "slide-left",
            "wipe",
        ],
    );
}

#[test]
fn missing_scene_names_the_entry_line() {
    check_error(
        &[(
            "p.toml",
            "[[entry]]\nscene = \"red.toml\"\nduration = 1.0\n[[entry]]\nscene = \"nowhere.toml\"\nduration = 1.0\n",
        )],
        "p.toml",
        5,
        &["nowhere.toml", "cannot be read", "relative to the playlist"],
    );
}

#[test]
fn a_playlist_that_nests_itself_is_refused() {
    let a = "[[entry]]\nscene = \"red.toml\"\nduration = 1.0\n[[entry]]\nplaylist = \"b.toml\"\n";
    let b = "[[entry]]\nplaylist = \"p.toml\"\n";
    check_error(
        &[("p.toml", a), ("b.toml", b)],
        "b.toml",
        2,
        &[
            "nests itself",
            "p.toml → ",
            "b.toml → ",
            "never one that leads back",
        ],
    );
    check_error(
        &[("p.toml", "[[entry]]\nplaylist = \"p.toml\"\n")],
        "p.toml",
        2,
        &["nests itself"],
    );
}

#[test]
fn other_bad_entries_point_at_their_line() {
    let cases: &[(&str, usize, &[&str])] = &[
        ("[[entry]]\nscene = \"red.toml\"\n", 1, &["needs `duration`"]),
        (
            "[[entry]]\nscene = \"red.toml\"\nduration = -1.0\n",
            3,
            &["duration must be above 0"],
        ),
        (
            "[[entry]]\nscene = \"red.toml\"\nduration = 1.0\nrepeat = 0\n",
            4,
            &["repeat must be from 1"],
        ),
        (
            "[[entry]]\nscene = \"red.toml\"\nduration = 1.0\ntransition = \"wipe\"\ntransition_seconds = 2.0\n",
            5,
            &["longer than the entry"],
        ),
        (
            "[[entry]]\nscene = \"red.toml\"\nplaylist = \"x.toml\"\nduration = 1.0\n",
            1,
            &["exactly one of `scene` or `playlist`"],
        ),
        (
            "[[entry]]\nscene = \"red.toml\"\nduraton = 1.0\n",
            3,
            &["unknown field `duraton`", "did you mean `duration`?"],
        ),
        (
            "[[entry]]\nscene = \"red.toml\"\nduration = 1.0\n[[entry]]\nscene = \"big.toml\"\nduration = 1.0\n",
            5,
            &["big.toml is 8×1", "4×1", "one size at one rate"],
        ),
    ];
    for (body, line, needles) in cases {
        check_error(
            &[
                ("p.toml", body),
                ("big.toml", &solid("#ffffff").replace("width = 4", "width = 8")),
            ],
            "p.toml",
            *line,
            needles,
        );
    }
}

#[test]
fn a_looping_nested_playlist_is_refused() {
    check_error(
        &[
            ("p.toml", "[[entry]]\nplaylist = \"l.toml\"\n"),
            (
                "l.toml",
                "loop = true\n[[entry]]\nscene = \"red.toml\"\nduration = 1.0\n",
            ),
        ],
        "p.toml",
        2,
        &["loops forever", "loop = false"],
    );
}

#[test]
fn a_scene_error_inside_a_playlist_names_the_scene_file() {
    let dir = dir_with(&[
        ("p.toml", "[[entry]]\nscene = \"bad.toml\"\nduration = 1.0\n"),
        (
            "bad.toml",
            "[canvas]\nwidth = 4\nheight = 1\n[[layer]]\nplugin = \"nope\"\n",
        ),
    ]);
    let shown = load(dir.path(), "p.toml").unwrap_err().to_string();
    assert!(shown.contains("bad.toml:5:"), "{shown}");
}

#[test]
fn a_syntax_error_in_a_playlist_is_reported_as_one() {
    let dir = dir_with(&[("p.toml", "[[entry]]\nscene = \"red.toml\nduration = 1.0\n")]);
    let shown = Show::load(&dir.path().join("p.toml"), &Registry::builtin())
        .unwrap_err()
        .to_string();
    assert!(
        shown.contains("invalid playlist") && shown.contains("p.toml:2:"),
        "{shown}"
    );
}
