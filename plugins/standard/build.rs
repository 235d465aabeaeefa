//! Turns this crate's `[dependencies]` into `modules()`: every `marquee-*` dependency but the
//! plugin API is a standard plugin, built in, in the order the manifest lists them.

use std::fmt::Write;

fn main() {
    let manifest = std::fs::read_to_string("Cargo.toml").expect("the crate's own Cargo.toml");
    println!("cargo::rerun-if-changed=Cargo.toml");
    let mut in_dependencies = false;
    let mut crates = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let key = key.strip_suffix(".workspace").unwrap_or(key);
        if in_dependencies && key.starts_with("marquee-") && key != "marquee-plugin-api" {
            crates.push(key.replace('-', "_"));
        }
    }
    assert!(
        !crates.is_empty(),
        "no standard plugin in plugins/standard/Cargo.toml"
    );
    let mut code = String::new();
    writeln!(
        code,
        "/// The standard plugins' root modules, in the order `Cargo.toml` lists them."
    )
    .unwrap();
    writeln!(
        code,
        "pub fn modules() -> [marquee_plugin_api::PluginModRef; {}] {{",
        crates.len()
    )
    .unwrap();
    writeln!(code, "    [").unwrap();
    for c in &crates {
        writeln!(code, "        {c}::module(),").unwrap();
    }
    writeln!(code, "    ]\n}}").unwrap();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("modules.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
