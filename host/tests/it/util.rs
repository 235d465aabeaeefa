//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use marquee::registry::Registry;
use marquee::scene::{Scene, SceneError};

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

/// Runs the `marquee` binary in the workspace root with extra environment variables.
pub fn marquee_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .unwrap()
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
