//! The showcase in a real terminal: `marquee run` under tmux, the screen read back with
//! `capture-pane -e`, and every cell's colours compared with the frame the engine makes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::Scene;
use marquee::output::Output;
use marquee::output::terminal::Terminal;
use marquee::plugins::registry::Registry;

use crate::util::root;

/// One character cell: its foreground and background colours (`None`: the terminal's default).
type Cell = (Option<[u8; 3]>, Option<[u8; 3]>);

/// Reads the `▀` cells of screen text with SGR colour sequences, row by row.
fn cells(text: &str) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    let (mut fg, mut bg) = (None, None);
    for line in text.split('\n') {
        let mut row = Vec::new();
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if let Some(r) = rest.strip_prefix("\x1b[") {
                let end = r
                    .find(|c: char| c.is_ascii_alphabetic())
                    .expect("a complete escape sequence");
                if &r[end..=end] == "m" {
                    let params: Vec<u16> = r[..end].split(';').map(|p| p.parse().unwrap_or(0)).collect();
                    let mut i = 0;
                    while i < params.len() {
                        match params[i] {
                            0 => (fg, bg) = (None, None),
                            39 => fg = None,
                            49 => bg = None,
                            p @ (38 | 48) if params.get(i + 1) == Some(&2) => {
                                let rgb = [params[i + 2] as u8, params[i + 3] as u8, params[i + 4] as u8];
                                if p == 38 {
                                    fg = Some(rgb)
                                } else {
                                    bg = Some(rgb)
                                }
                                i += 4;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                }
                rest = &r[end + 1..];
            } else {
                if c == '▀' {
                    row.push((fg, bg));
                }
                rest = &rest[c.len_utf8()..];
            }
        }
        if !row.is_empty() {
            rows.push(row);
        }
    }
    rows
}

/// The `▀` cells a terminal shows after `bytes`, read by the `vt100` emulator, row by row.
fn drawn(bytes: &[u8]) -> Vec<Vec<Cell>> {
    let size = |n: u16| std::num::NonZeroU16::new(n).expect("not zero");
    let mut parser = vt100::Parser::new(size(40), size(140), 0);
    parser.process(bytes);
    let color = |c: vt100::Color| match c {
        vt100::Color::Rgb(r, g, b) => Some([r, g, b]),
        _ => None,
    };
    (0..40)
        .map(|r| {
            (0..140)
                .filter_map(|c| parser.screen().cell(r, c).filter(|cell| cell.contents() == "▀"))
                .map(|cell| (color(cell.fgcolor()), color(cell.bgcolor())))
                .collect::<Vec<Cell>>()
        })
        .filter(|row| !row.is_empty())
        .collect()
}

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Server(String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.0, "kill-server"]).output();
    }
}

#[test]
fn the_showcase_shows_in_a_truecolor_terminal_cell_for_cell() {
    const FRAMES: u64 = 15;
    let server = Server(format!("marquee-test-{}", std::process::id()));
    let command = format!(
        "cd '{}' && COLORTERM=truecolor '{}' run scenes/showcase.toml --output terminal --unpaced --frames {FRAMES}; sleep 60",
        root().display(),
        env!("CARGO_BIN_EXE_marquee")
    );
    tmux(
        &server.0,
        &["new-session", "-d", "-s", "t", "-x", "140", "-y", "40", &command],
    );

    // Wait (bounded) for the run's closing summary, printed after the last frame.
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let screen = tmux(&server.0, &["capture-pane", "-p", "-e", "-t", "t"]);
        if screen.contains(&format!("showcase: {FRAMES} frames of 256×64 (terminal)")) {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish in time; screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    // The last frame, drawn the same way for a 140-column terminal.
    let registry = Registry::builtin();
    let scene = Scene::load(&root().join(Path::new("scenes/showcase.toml")), &registry).unwrap();
    let mut engine = Engine::new(&scene, &EngineOptions::default()).unwrap();
    let mut frame = Vec::new();
    for _ in 0..FRAMES {
        frame = engine.step().to_vec();
    }
    let mut expected = Terminal::new(Vec::new(), 140);
    expected.show(&frame, 256, 64, "").unwrap();
    let expected = drawn(expected.writer());

    let shown = cells(&screen);
    assert_eq!(expected.len(), 16, "256×64 at scale 2 is 128×16 cells");
    assert_eq!(shown.len(), expected.len(), "screen:\n{screen}");
    for (r, (got, want)) in shown.iter().zip(&expected).enumerate() {
        assert_eq!(got.len(), 128, "row {r}");
        for (c, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "cell ({c}, {r})");
        }
    }
}

#[test]
fn the_c_key_triggers_a_clip_and_q_finishes_it() {
    let server = Server(format!("marquee-clip-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("clip.toml");
    std::fs::write(
        &scene,
        "fps = 30\n[canvas]\nwidth = 32\nheight = 8\n[[layer]]\nplugin = \"gradient\"\n\
         [[recorder]]\nplugin = \"gif\"\nconfig = { path = \"clip-{clip}.gif\" }\nclips = { pre_roll_ms = 300, post_roll_ms = 60000 }\n",
    )
    .unwrap();
    let command = format!(
        "'{}' run '{}' --output terminal --no-reload > '{}' 2>&1; sleep 60",
        env!("CARGO_BIN_EXE_marquee"),
        scene.display(),
        dir.path().join("log.txt").display()
    );
    tmux(
        &server.0,
        &["new-session", "-d", "-s", "t", "-x", "100", "-y", "30", &command],
    );
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let log = dir.path().join("log.txt");
    // Pre-roll to fill, then the key.
    std::thread::sleep(Duration::from_millis(600));
    tmux(&server.0, &["send-keys", "-t", "t", "c"]);
    wait("the clip to start", &|| {
        dir.path().join(".clip-0001.gif.partial").exists()
    });
    std::thread::sleep(Duration::from_millis(300));
    tmux(&server.0, &["send-keys", "-t", "t", "q"]);
    wait("the run to end", &|| {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("frames of 32×8 (terminal)"))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("clip triggered at frame"), "{text}");
    assert!(dir.path().join("clip-0001.gif").exists(), "{text}");
    assert!(!dir.path().join(".clip-0001.gif.partial").exists());
}
