//! The window output under Xvfb (Mesa's software Vulkan or GL): `marquee run --output window`
//! shows a still scene, the X screen is read back with `xwd`, and the window's pixels are
//! compared with the frame the engine makes, scaled by the window's whole factor.
//!
//! Tolerance: every channel within 2 steps (the sRGB surface may round), on all pixels. On a
//! mismatch the screenshot and a difference image are written to a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;

use crate::util::root;

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on a free display; returns it and the display name.
fn xvfb() -> (Killed, String) {
    for n in (90 + std::process::id() % 50)..200 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (.ci/run installs the xvfb package)");
        let server = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return (server, display);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("Xvfb did not start");
}

/// The root window as RGB rows, read with `xwd` (ZPixmap, 32 bits per pixel).
fn screenshot(display: &str) -> (usize, usize, Vec<[u8; 3]>) {
    let out = Command::new("xwd")
        .args(["-root", "-silent", "-display", display])
        .output()
        .expect("xwd is installed (.ci/run installs the x11-apps package)");
    assert!(
        out.status.success(),
        "xwd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = out.stdout;
    let field = |i: usize| u32::from_be_bytes(d[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    let (header, width, height) = (field(0), field(4), field(5));
    let (byte_order, bits, line, colors) = (field(7), field(11), field(12), field(19));
    assert_eq!(bits, 32, "a 24-bit Xvfb screen has 32 bits per pixel");
    let data = &d[header + colors * 12..];
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let p = &data[y * line + x * 4..y * line + x * 4 + 4];
            pixels.push(if byte_order == 0 {
                [p[2], p[1], p[0]]
            } else {
                [p[1], p[2], p[3]]
            });
        }
    }
    (width, height, pixels)
}

fn save(path: &Path, w: usize, h: usize, rgb: &[[u8; 3]]) {
    let bytes: Vec<u8> = rgb.iter().flatten().copied().collect();
    image::save_buffer(path, &bytes, w as u32, h as u32, image::ExtendedColorType::Rgb8).unwrap();
}

#[test]
fn the_window_shows_the_frame_scaled_by_a_whole_factor() {
    let scene_path = root().join("host/tests/scenes/window.toml");
    let registry = Registry::builtin();
    let scene = Scene::load(&scene_path, &registry).unwrap();
    let frame = Engine::new(&scene, &EngineOptions::default())
        .unwrap()
        .step()
        .to_vec();
    let (fw, fh) = (64usize, 32usize);
    let k = marquee::output::window::first_scale(64, 32) as usize;
    assert_eq!(k, 16);

    let (_x, display) = xvfb();
    let runtime = tempfile::tempdir().unwrap();
    let run = Killed(
        Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args([
                "run",
                scene_path.to_str().unwrap(),
                "--output",
                "window",
                "--seconds",
                "30",
            ])
            .env("DISPLAY", &display)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );

    // Wait (bounded) until the window shows the frame's corner colour, then compare everything.
    let want = |x: usize, y: usize| {
        let i = ((y / k) * fw + x / k) * 4;
        [frame[i], frame[i + 1], frame[i + 2]]
    };
    let close = |a: [u8; 3], b: [u8; 3]| (0..3).all(|c| a[c].abs_diff(b[c]) <= 2);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (sw, sh, shot) = loop {
        let (sw, _, shot) = screenshot(&display);
        if close(shot[0], want(0, 0))
            && close(shot[(fh * k - 1) * sw + fw * k - 1], want(fw * k - 1, fh * k - 1))
        {
            // One more, so the whole surface has certainly been presented.
            std::thread::sleep(Duration::from_millis(300));
            break screenshot(&display);
        }
        assert!(Instant::now() < deadline, "the window never showed the frame");
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(run);

    let mut bad = 0;
    let mut diff = vec![[0u8; 3]; fw * k * fh * k];
    for y in 0..fh * k {
        for x in 0..fw * k {
            let (got, exp) = (shot[y * sw + x], want(x, y));
            if !close(got, exp) {
                bad += 1;
                diff[y * fw * k + x] = [255, 0, 255];
            }
        }
    }
    if bad > 0 {
        let dir: PathBuf = std::env::temp_dir().join(format!("marquee-window-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        save(&dir.join("actual.png"), sw, sh, &shot);
        save(&dir.join("difference.png"), fw * k, fh * k, &diff);
        panic!(
            "{bad} of {} window pixels differ from the frame by more than 2 steps; see {}",
            fw * k * fh * k,
            dir.display()
        );
    }
}
