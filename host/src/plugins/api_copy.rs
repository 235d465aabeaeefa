//! The plugin API's sources, built into the `marquee` binary, so `marquee new-plugin` can give an
//! author's crate its own copy (`marquee-plugin-api/`, a path dependency relative to the crate):
//! the crate then builds anywhere, in the author's CI too, with nothing from a Marquee checkout.

/// The API crate's manifest, as written in the workspace (its `workspace = true` entries are
/// filled in by [`manifest`]).
const MANIFEST: &str = include_str!("../../../plugin-api/Cargo.toml");

/// The workspace manifest, for the versions and features the API crate inherits.
const WORKSPACE: &str = include_str!("../../../Cargo.toml");

/// The workspace's lockfile: the very dependency versions this host was built and tested with.
pub const LOCKFILE: &str = include_str!("../../../Cargo.lock");

/// The API crate's source files, by path within it (every file of `plugin-api/src`: a test
/// checks the list against the directory).
pub const SOURCES: &[(&str, &str)] = &[
    ("src/assets.rs", include_str!("../../../plugin-api/src/assets.rs")),
    ("src/author.rs", include_str!("../../../plugin-api/src/author.rs")),
    ("src/canvas.rs", include_str!("../../../plugin-api/src/canvas.rs")),
    ("src/config.rs", include_str!("../../../plugin-api/src/config.rs")),
    ("src/error.rs", include_str!("../../../plugin-api/src/error.rs")),
    ("src/files.rs", include_str!("../../../plugin-api/src/files.rs")),
    ("src/images.rs", include_str!("../../../plugin-api/src/images.rs")),
    ("src/lib.rs", include_str!("../../../plugin-api/src/lib.rs")),
    (
        "src/manifest.rs",
        include_str!("../../../plugin-api/src/manifest.rs"),
    ),
    ("src/module.rs", include_str!("../../../plugin-api/src/module.rs")),
    ("src/pixel.rs", include_str!("../../../plugin-api/src/pixel.rs")),
    ("src/rng.rs", include_str!("../../../plugin-api/src/rng.rs")),
    ("src/simd.rs", include_str!("../../../plugin-api/src/simd.rs")),
    ("src/types.rs", include_str!("../../../plugin-api/src/types.rs")),
];

/// The API crate's manifest, standalone: each `workspace = true` field and dependency replaced
/// by the workspace's, the workspace lints and the dev-dependencies (its tests are not copied)
/// left out.
pub fn manifest() -> String {
    let mut api: toml::Table = toml::from_str(MANIFEST).expect("plugin-api/Cargo.toml is TOML");
    let workspace: toml::Table = toml::from_str(WORKSPACE).expect("Cargo.toml is TOML");
    let shared = &workspace["workspace"];
    if let Some(package) = api.get_mut("package").and_then(|p| p.as_table_mut()) {
        for (key, value) in package.iter_mut() {
            if is_inherited(value) {
                *value = shared["package"][key.as_str()].clone();
            }
        }
    }
    if let Some(deps) = api.get_mut("dependencies").and_then(|d| d.as_table_mut()) {
        for (name, dep) in deps.iter_mut() {
            if !is_inherited(dep) {
                continue;
            }
            let mut resolved = match &shared["dependencies"][name.as_str()] {
                toml::Value::String(version) => {
                    let mut t = toml::Table::new();
                    t.insert("version".into(), version.clone().into());
                    t
                }
                toml::Value::Table(t) => t.clone(),
                other => panic!("workspace dependency {name} is {other:?}"),
            };
            // What the member adds (`optional`, more features) stays.
            for (key, value) in dep.as_table().into_iter().flatten() {
                if key == "features" {
                    let mut all = resolved
                        .get("features")
                        .and_then(|f| f.as_array())
                        .cloned()
                        .unwrap_or_default();
                    all.extend(value.as_array().into_iter().flatten().cloned());
                    resolved.insert("features".into(), all.into());
                } else if key != "workspace" {
                    resolved.insert(key.clone(), value.clone());
                }
            }
            *dep = resolved.into();
        }
    }
    api.remove("dev-dependencies");
    api.remove("lints");
    format!(
        "# A copy of marquee-plugin-api (ABI {}), written by `marquee new-plugin`. Once the crate is\n# on crates.io, depend on it by version instead and delete this directory.\n\n{}",
        marquee_plugin_api::ABI_VERSION,
        toml::to_string(&api).expect("a manifest serialises")
    )
}

/// Whether a manifest value says `workspace = true`.
fn is_inherited(value: &toml::Value) -> bool {
    value.get("workspace").and_then(|w| w.as_bool()) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_of_the_api_is_copied() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/src");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        files.sort();
        let copied: Vec<&str> = SOURCES.iter().map(|(p, _)| *p).collect();
        assert_eq!(copied, files);
    }

    #[test]
    fn the_manifest_stands_alone() {
        let text = manifest();
        assert!(!text.contains("workspace"), "{text}");
        let m: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(m["package"]["name"].as_str(), Some("marquee-plugin-api"));
        assert_eq!(m["package"]["rust-version"].as_str(), Some("1.95"));
        assert_eq!(
            m["dependencies"]["abi_stable"]["default-features"].as_bool(),
            Some(false)
        );
        assert_eq!(m["dependencies"]["image"]["optional"].as_bool(), Some(true));
        assert!(
            m["dependencies"]["schemars"]["features"]
                .as_array()
                .unwrap()
                .contains(&"derive".into())
        );
    }
}
