//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use marquee::model::scene::{Scene, SceneError};
use marquee::plugins::registry::Registry;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The directory holding this build's libraries (`target/<profile>`).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The path of a workspace `cdylib` by library name, checked to exist.
pub fn so(lib: &str) -> PathBuf {
    let file = lib_dir().join(format!(
        "{}{lib}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        file.exists(),
        "{} is missing: run `cargo build --workspace` before the tests (the README's test command does)",
        file.display()
    );
    file
}

/// The `.so` file of every built-in plugin.
pub fn standard_sos() -> Vec<PathBuf> {
    Registry::builtin()
        .plugins()
        .iter()
        .map(|p| so(&format!("marquee_plugin_{}", p.id().replace('-', "_"))))
        .collect()
}

/// A registry whose standard plugins all come from their `.so` files.
pub fn so_registry() -> Registry {
    let mut r = Registry::builtin();
    for file in standard_sos() {
        r.load(&file);
    }
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    r
}

/// Parses `text` as a scene named `test.toml`.
pub fn scene(text: &str) -> Result<Scene, SceneError> {
    Scene::parse(Path::new("test.toml"), text.to_string(), &Registry::builtin())
}

/// The showcase scene.
pub fn showcase(registry: &Registry) -> Scene {
    Scene::load(&root().join("scenes/showcase.toml"), registry).unwrap()
}

/// Runs the `marquee` binary in the workspace root.
pub fn marquee(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// Runs `marquee test ARGS` in `dir`, with `CI` set (as an author's CI runs it) or not; its exit
/// code and output.
pub fn marquee_test(dir: &Path, args: &[&str], ci: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marquee"));
    cmd.arg("test").args(args).current_dir(dir).env_remove("CI");
    if ci {
        cmd.env("CI", "true");
    }
    let out = cmd.output().unwrap();
    (out.status.code(), text(&out))
}

/// The command `marquee run SCENE --output headless --unpaced --no-reload --frames N`, then
/// `extra`, run in the workspace root.
pub fn headless(scene: &Path, frames: u32, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marquee"));
    cmd.args([
        "run",
        scene.to_str().unwrap(),
        "--output",
        "headless",
        "--unpaced",
        "--no-reload",
    ])
    .args(["--frames", &frames.to_string()])
    .args(extra)
    .current_dir(root());
    cmd
}

/// [`headless`], run to its end with the environment variables `env` added.
pub fn run_headless(scene: &Path, frames: u32, extra: &[&str], env: &[(&str, &str)]) -> Output {
    headless(scene, frames, extra)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Waits for `child` (its stdout and stderr piped) and returns what it printed; kills it and
/// fails the test if it runs longer than `limit`, so a hang is a failure, not a stuck test run.
pub fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{what} did not end within {limit:?}:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
