//! Isolated instances (`isolate = true`, `--isolate`): the same frames as in process, and a
//! plugin that hangs, aborts, segfaults, exits, leaks or writes garbage costs the show a few
//! frames of one instance, reported, counted and restarted, then disabled after too many.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::{root, so, text, wait_bounded};

/// A plugin directory holding the `wayward` fixture, and a cache directory of its own.
struct Dirs {
    dir: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::create_dir(dir.path().join("cache")).unwrap();
        std::fs::copy(
            so("marquee_fixture_wayward"),
            dir.path().join("plugins/libwayward.so"),
        )
        .unwrap();
        Dirs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `marquee --plugin-dir PLUGINS ARGS`, children quiet about their crashes.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_marquee"));
        cmd.arg("--plugin-dir")
            .arg(self.plugins())
            .args(args)
            .current_dir(root())
            .env("MARQUEE_CACHE_DIR", self.path().join("cache"))
            .env("RUST_BACKTRACE", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs `scene` headless, paced, for `frames`, with the metrics stream in `metrics.jsonl`:
    /// what it printed and the stream's lines.
    fn run(&self, scene: &Path, frames: u32, extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
        let metrics = self.path().join("metrics.jsonl");
        let mut args = vec![
            "run",
            scene.to_str().unwrap(),
            "--output",
            "headless",
            "--no-reload",
            "--metrics",
            metrics.to_str().unwrap(),
        ];
        let n = frames.to_string();
        args.extend(["--frames", &n]);
        args.extend(extra);
        let child = self.command(&args).spawn().unwrap();
        let out = wait_bounded(child, Duration::from_secs(60), "an isolated run");
        let lines = std::fs::read_to_string(&metrics)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (out, lines)
    }
}

/// The watchdog lines of `id`, as `event` names in order.
fn events(lines: &[serde_json::Value], kind: &str, id: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["type"] == "watchdog" && l["kind"] == kind && l["id"] == id)
        .map(|l| l["event"].as_str().unwrap().to_string())
        .collect()
}

/// A scene with one instance of each kind of `wayward`, isolated, each misbehaving in `mode`
/// on its fifth call: the renderer and the recorder once (a file marks it done), the processor
/// in every process it gets.
fn wayward_scene(dirs: &Dirs, mode: &str) -> PathBuf {
    let once = |name: &str| dirs.path().join(name).display().to_string();
    let (r, c) = (once("r.once"), once("c.once"));
    dirs.write(
        "wayward.toml",
        &format!(
            r#"
fps = 100
[canvas]
width = 16
height = 8
[isolation]
frame_ms = 100
create_ms = 5000
max_failures = 2
window_s = 60
memory_mb = 128
[[layer]]
id = "r"
plugin = "wayward"
isolate = true
config = {{ fail = "{mode}", after = 5, once = "{r}" }}
[[processor]]
id = "p"
plugin = "wayward"
isolate = true
config = {{ fail = "{mode}", after = 5 }}
[[recorder]]
id = "c"
plugin = "wayward"
isolate = true
config = {{ fail = "{mode}", after = 5, once = "{c}" }}
"#
        ),
    )
}

/// Runs the wayward scene in `mode`: the show makes every frame; each failure is one watchdog
/// line of the expected kind; the renderer and the recorder come back; the processor, failing
/// again and again, is disabled after two failures; the summary counts it all.
fn survives(mode: &str, failure: &str) {
    let dirs = Dirs::new();
    let scene = wayward_scene(&dirs, mode);
    let (out, lines) = dirs.run(&scene, 200, &[]);
    let shown = text(&out);
    assert!(out.status.code().is_some(), "the host itself died: {shown}");
    // The show went on to its end (a hang costs its deadline: frames behind the clock are
    // skipped, and counted).
    assert!(
        shown.contains("frames of 16×8 (headless)"),
        "the show went on: {shown}"
    );
    assert_eq!(events(&lines, "renderer", "r"), [failure, "restarted"], "{shown}");
    assert_eq!(events(&lines, "recorder", "c"), [failure, "restarted"], "{shown}");
    assert_eq!(
        events(&lines, "processor", "p"),
        [failure, "restarted", failure, "disabled"],
        "{shown}"
    );
    let counter = match failure {
        "hung" => "hangs",
        "garbled" => "garbled",
        _ => "crashes",
    };
    for expected in [
        format!("r.isolation.{counter}=1"),
        "r.isolation.restarts=1".into(),
        format!("p.isolation.{counter}=2"),
        "p.isolation.disabled=1".into(),
        format!("c.isolation.{counter}=1"),
    ] {
        assert!(shown.contains(&expected), "{expected}: {shown}");
    }
    // Said once each, and never silent: the disabled processor is a failure of the run, and so
    // are the frames the recorder lost.
    assert!(
        shown.contains("processor `p` (plugin `wayward`) failed")
            && shown.contains("disabled by the watchdog"),
        "{shown}"
    );
    assert!(
        shown.contains("frame(s) were dropped while its process was down"),
        "{shown}"
    );
    assert_eq!(out.status.code(), Some(1), "{shown}");
    // Every child is gone with the run.
    let line = lines.iter().find(|l| l["type"] == "end");
    assert!(line.is_some(), "the metrics stream ended: {lines:?}");
}

#[test]
fn an_isolated_instance_that_loops_forever_is_killed_at_its_deadline() {
    survives("loop", "hung");
}

#[test]
fn an_isolated_instance_that_aborts_is_restarted() {
    survives("abort", "died");
}

#[test]
fn an_isolated_instance_that_segfaults_is_restarted() {
    survives("segfault", "died");
}

#[test]
fn an_isolated_instance_that_exits_the_process_is_restarted() {
    survives("exit", "died");
}

#[test]
fn an_isolated_instance_that_leaks_dies_at_its_memory_cap_alone() {
    survives("leak", "died");
}

#[test]
fn an_isolated_instance_that_writes_garbage_on_its_channel_is_killed() {
    survives("garbage", "garbled");
}

#[test]
fn an_isolated_factory_that_hangs_leaves_the_show_running_and_is_disabled() {
    let dirs = Dirs::new();
    let scene = dirs.write(
        "create.toml",
        r#"
fps = 100
[canvas]
width = 16
height = 8
[isolation]
create_ms = 200
max_failures = 3
[[layer]]
plugin = "solid"
[[layer]]
id = "stuck"
plugin = "wayward"
isolate = true
config = { fail = "loop", in_create = true }
"#,
    );
    let (out, lines) = dirs.run(&scene, 100, &[]);
    let shown = text(&out);
    assert!(shown.contains("100 frames of 16×8"), "{shown}");
    assert_eq!(
        events(&lines, "renderer", "stuck"),
        ["hung", "hung", "hung", "disabled"],
        "{shown}"
    );
    assert!(shown.contains("`create` gave no answer within 200 ms"), "{shown}");
    // Creation is retried in the background: the frames kept their pace.
    assert!(shown.contains("0 skipped behind the clock"), "{shown}");
}

#[test]
fn a_panic_is_an_error_in_process_and_isolated_alike() {
    for isolate in ["false", "true"] {
        let dirs = Dirs::new();
        let scene = dirs.write(
            "panic.toml",
            &format!(
                "fps = 100\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nid = \"w\"\nplugin = \"wayward\"\nisolate = {isolate}\nconfig = {{ fail = \"panic\", after = 4 }}\n"
            ),
        );
        let (out, lines) = dirs.run(&scene, 20, &[]);
        let shown = text(&out);
        assert!(shown.contains("20 frames of 8×4"), "{shown}");
        assert!(
            shown.contains("renderer `w` (plugin `wayward`) failed at frame")
                && shown.contains("wayward was told to panic"),
            "{shown}"
        );
        // A caught panic is the plugin's error, not the watchdog's business: no restart.
        assert!(events(&lines, "renderer", "w").is_empty(), "{shown}");
    }
}

/// Traces `scene` into a new directory, with `extra` arguments: the trace's GIF.
fn trace(dirs: &Dirs, scene: &Path, out: &str, extra: &[&str]) -> Vec<u8> {
    let dir = dirs.path().join(out);
    let mut args = vec![
        "trace",
        scene.to_str().unwrap(),
        "--frames",
        "24",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = dirs.command(&args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read(dir.join("trace.gif")).unwrap()
}

#[test]
fn isolated_renderers_and_processors_trace_byte_identical_and_verify() {
    let dirs = Dirs::new();
    let scene = dirs.write(
        "calm.toml",
        r#"
fps = 30
seed = 5
[canvas]
width = 64
height = 16
[[layer]]
plugin = "mandelbrot"
[[layer]]
plugin = "wayward"
opacity = 0.5
[[processor]]
plugin = "wayward"
[[processor]]
plugin = "color"
config = { brightness = 0.8 }
"#,
    );
    let here = trace(&dirs, &scene, "in-process", &[]);
    let isolated = trace(&dirs, &scene, "isolated", &["--isolate", "all"]);
    assert!(
        here == isolated,
        "an isolated trace differs from the in-process one"
    );
    let one = trace(&dirs, &scene, "one", &["--isolate", "wayward"]);
    assert!(here == one);
    // The in-process trace verifies with every instance isolated.
    let verify = dirs
        .command(&[
            "verify",
            dirs.path().join("in-process").to_str().unwrap(),
            "--isolate",
            "all",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("all 24 frames"), "{}", text(&verify));
}

#[test]
fn an_isolated_recorder_writes_the_same_file() {
    let dirs = Dirs::new();
    let scene = dirs.write(
        "rec.toml",
        r#"
fps = 30
[canvas]
width = 32
height = 8
[[layer]]
plugin = "mandelbrot"
[[recorder]]
plugin = "gif"
config = { path = "out.gif" }
"#,
    );
    let mut files = Vec::new();
    for (dir, extra) in [("here", None), ("isolated", Some("gif"))] {
        let out_dir = dirs.path().join(dir);
        let mut args = vec![
            "run",
            scene.to_str().unwrap(),
            "--output",
            "headless",
            "--unpaced",
            "--no-reload",
            "--frames",
            "20",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ];
        if let Some(p) = extra {
            args.extend(["--isolate", p]);
        }
        let out = dirs.command(&args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        files.push(std::fs::read(out_dir.join("out.gif")).unwrap());
    }
    assert!(files[0] == files[1], "the isolated recorder wrote another file");
}

#[test]
fn a_trace_with_an_isolated_instance_that_crashes_is_refused() {
    let dirs = Dirs::new();
    let scene = dirs.write(
        "crash.toml",
        "fps = 30\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"wayward\"\nisolate = true\nconfig = { fail = \"abort\", at = [3] }\n",
    );
    let dir = dirs.path().join("t");
    let out = dirs
        .command(&[
            "trace",
            scene.to_str().unwrap(),
            "--frames",
            "10",
            "--out",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("killed by signal 6 (SIGABRT) during `render`"),
        "{shown}"
    );
    assert!(shown.contains("the trace was not written"), "{shown}");
    assert!(!dir.join("index.json").exists());
}

#[test]
fn rebuilding_an_isolated_plugin_file_swaps_in_the_new_build() {
    let dirs = Dirs::new();
    let scene = dirs.write(
        "swap.toml",
        "fps = 50\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nid = \"w\"\nplugin = \"wayward\"\nisolate = true\n",
    );
    let file = dirs.plugins().join("libwayward.so");
    let rebuilt = dirs.plugins().join("libwayward.so.new");
    let swapper = {
        let (file, rebuilt) = (file.clone(), rebuilt.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1000));
            // As a build does: a new file renamed over the old (the host keeps the old mapped).
            std::fs::copy(so("marquee_fixture_wayward"), &rebuilt).unwrap();
            std::fs::rename(&rebuilt, &file).unwrap();
        })
    };
    let (out, lines) = dirs.run(&scene, 150, &[]);
    swapper.join().unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(
        events(&lines, "renderer", "w"),
        ["swapped", "restarted"],
        "{shown}"
    );
    assert!(shown.contains("restored from its last snapshot"), "{shown}");
    assert!(shown.contains("w.isolation.swaps=1"), "{shown}");
}

#[test]
fn an_isolated_run_without_the_plugin_program_says_so() {
    // The library refuses isolation it cannot provide, pointing at the scene line.
    let registry = marquee::plugins::registry::Registry::builtin();
    let scene = marquee::model::scene::Scene::parse(
        Path::new("s.toml"),
        "[canvas]\nwidth = 4\nheight = 4\n[[layer]]\nplugin = \"solid\"\nisolate = true\n".into(),
        &registry,
    )
    .unwrap();
    let e = marquee::engine::Engine::new(&scene, &marquee::engine::EngineOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("should run isolated, but no program"),
        "{e}"
    );
}

#[test]
fn an_isolated_instance_allocates_nothing_per_frame() {
    let dirs = Dirs::new();
    let json = dirs.path().join("bench.json");
    let out = dirs
        .command(&[
            "bench",
            "scenes/showcase.toml",
            "--frames",
            "100",
            "--warmup",
            "10",
            "--isolate",
            "mandelbrot",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["allocations_per_frame"], 0.0, "{report}");
}

#[test]
fn a_scene_cannot_start_more_than_the_isolated_instances_allowed() {
    use marquee::model::isolation::MAX_ISOLATED;
    let mut text = String::from("[canvas]\nwidth = 4\nheight = 4\n");
    for _ in 0..=MAX_ISOLATED {
        text.push_str("[[layer]]\nplugin = \"solid\"\nisolate = true\n");
    }
    let registry = marquee::plugins::registry::Registry::builtin();
    let scene = marquee::model::scene::Scene::parse(Path::new("many.toml"), text, &registry).unwrap();
    let options = marquee::engine::EngineOptions {
        isolation: marquee::isolate::Isolation {
            exe: Some(env!("CARGO_BIN_EXE_marquee").into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = marquee::engine::Engine::new(&scene, &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("more than {MAX_ISOLATED} instances would run isolated")),
        "{e}"
    );
    assert!(e.contains(&format!("many.toml:{}:", 5 + 3 * MAX_ISOLATED)), "{e}");
}

#[test]
fn the_children_die_with_a_killed_host() {
    let dirs = Dirs::new();
    let scene = dirs.write(
        "long.toml",
        "fps = 30\n[isolation]\nframe_ms = 60000\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"wayward\"\nconfig = { fail = \"loop\", at = [3] }\n[[processor]]\nplugin = \"wayward\"\n",
    );
    // A live run isolates plugins from files by default.
    let mut host = dirs
        .command(&[
            "run",
            scene.to_str().unwrap(),
            "--output",
            "headless",
            "--no-reload",
        ])
        .spawn()
        .unwrap();
    let children = |pid: u32| -> Vec<u32> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
            .flat_map(|c| {
                c.split_whitespace()
                    .map(|p| p.parse().unwrap())
                    .collect::<Vec<u32>>()
            })
            // The instances' children, not the plugin scan's.
            .filter(|child| {
                std::fs::read(format!("/proc/{child}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__plugin-host"))
            })
            .collect()
    };
    let t0 = std::time::Instant::now();
    let mut kids = Vec::new();
    while kids.len() < 2 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
        kids = children(host.id());
    }
    assert_eq!(kids.len(), 2, "a child per isolated instance");
    // The renderer's child now spins in `render` (frame 3) and reads nothing: only the
    // parent-death signal can end it when its host dies.
    std::thread::sleep(Duration::from_millis(500));
    host.kill().unwrap();
    host.wait().unwrap();
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
    };
    let t0 = std::time::Instant::now();
    while kids.iter().any(alive) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !kids.iter().any(alive),
        "children outlived their killed host: {kids:?}"
    );
}
