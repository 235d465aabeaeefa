//! `marquee new-plugin`: generates a standalone plugin crate that builds, loads and passes its own
//! tests on the first try, anywhere: it holds its own copy of the plugin API (`api_copy`) and the
//! lockfile this host was built with, and no path outside itself. Its snapshot test is
//! `marquee test`, run by the `marquee` binary alone. The templates live in `host/templates/`.

use std::path::PathBuf;

use marquee_plugin_api::PluginKind;

use crate::plugins::api_copy;

/// What to generate.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// Plugin id and crate name: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
    /// The kind of plugin.
    pub kind: PluginKind,
    /// The directory to create.
    pub dir: PathBuf,
}

/// Why a crate could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NewPluginError {
    /// The name is not usable as a plugin id and crate name.
    #[error(
        "`{0}` is not a usable plugin name: use lowercase letters, digits and `-`, starting with a letter (e.g. `sparkle-trail`)"
    )]
    BadName(String),
    /// The target directory exists and is not empty.
    #[error("{} already exists and is not empty; choose another name or --dir", .0.display())]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 64
}

/// The files of the crate: path relative to the crate root, and contents.
pub fn files(p: &NewPlugin) -> Vec<(String, String)> {
    let kind = p.kind.as_str();
    let lib = p.name.replace('-', "_");
    let abi = marquee_plugin_api::ABI_VERSION;
    let fill = |t: &str| {
        t.replace("{{name}}", &p.name)
            .replace("{{lib}}", &lib)
            .replace("{{kind}}", kind)
            .replace("{{api_version}}", &format!("{}.{}", abi.major, abi.minor))
    };
    let (lib_rs, scene, test) = match p.kind {
        PluginKind::Renderer => (
            include_str!("../../templates/renderer/lib.rs.tmpl"),
            include_str!("../../templates/renderer/scene.toml.tmpl"),
            include_str!("../../templates/renderer/test.rs.tmpl"),
        ),
        PluginKind::Processor => (
            include_str!("../../templates/processor/lib.rs.tmpl"),
            include_str!("../../templates/processor/scene.toml.tmpl"),
            include_str!("../../templates/processor/test.rs.tmpl"),
        ),
        PluginKind::Recorder => (
            include_str!("../../templates/recorder/lib.rs.tmpl"),
            include_str!("../../templates/recorder/scene.toml.tmpl"),
            include_str!("../../templates/recorder/test.rs.tmpl"),
        ),
    };
    let mut files = vec![
        (
            "Cargo.toml".to_string(),
            fill(include_str!("../../templates/common/Cargo.toml.tmpl")),
        ),
        (
            "README.md".to_string(),
            fill(include_str!("../../templates/common/README.md.tmpl")),
        ),
        (
            ".gitignore".to_string(),
            "/target\ntimings.json\nexpected-*.png\nactual-*.png\ndifference-*.png\n".into(),
        ),
        ("src/lib.rs".to_string(), fill(lib_rs)),
        ("tests/scene.toml".to_string(), fill(scene)),
        (format!("tests/{kind}.rs"), fill(test)),
        ("Cargo.lock".to_string(), api_copy::LOCKFILE.to_string()),
        (format!("{API_DIR}/Cargo.toml"), api_copy::manifest()),
    ];
    for (path, text) in api_copy::SOURCES {
        files.push((format!("{API_DIR}/{path}"), text.to_string()));
    }
    files
}

/// Where in the crate its copy of the plugin API goes.
pub const API_DIR: &str = "marquee-plugin-api";

/// Writes the crate; returns the files written.
pub fn generate(p: &NewPlugin) -> Result<Vec<PathBuf>, NewPluginError> {
    if !valid_name(&p.name) {
        return Err(NewPluginError::BadName(p.name.clone()));
    }
    if p.dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(NewPluginError::Exists(p.dir.clone()));
    }
    let mut written = Vec::new();
    let write = |rel: &str, contents: &[u8], written: &mut Vec<PathBuf>| {
        let path = p.dir.join(rel);
        let io = |source| NewPluginError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("a file in the crate")).map_err(io)?;
        std::fs::write(&path, contents).map_err(io)?;
        written.push(path);
        Ok::<(), NewPluginError>(())
    };
    for (rel, contents) in files(p) {
        write(&rel, contents.as_bytes(), &mut written)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["sparkle", "sparkle-trail", "a1"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "Sparkle", "1a", "a_b", "a-", "a b", "a/b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for kind in [PluginKind::Renderer, PluginKind::Processor, PluginKind::Recorder] {
            let p = NewPlugin {
                name: "demo-x".into(),
                kind,
                dir: "/tmp/x".into(),
            };
            for (rel, text) in files(&p) {
                if rel.starts_with(API_DIR) || rel == "Cargo.lock" {
                    continue; // copied as they are
                }
                assert!(!text.contains("{{"), "{rel} of {kind}");
            }
        }
    }

    #[test]
    fn refuses_a_non_empty_directory_and_a_bad_name() {
        let dir = std::env::temp_dir().join(format!("marquee-newplugin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep"), "x").unwrap();
        let mut p = NewPlugin {
            name: "ok".into(),
            kind: PluginKind::Renderer,
            dir: dir.clone(),
        };
        assert!(matches!(generate(&p), Err(NewPluginError::Exists(_))));
        p.name = "Bad".into();
        assert!(matches!(generate(&p), Err(NewPluginError::BadName(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
