//! `marquee new-plugin`: generates a standalone plugin crate that builds, loads and passes its own
//! snapshot test on the first try. The templates live in `host/templates/`.

use std::path::{Path, PathBuf};

use marquee_plugin_api::PluginKind;

/// What to generate.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// Plugin id and crate name: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
    /// The kind of plugin.
    pub kind: PluginKind,
    /// The directory to create.
    pub dir: PathBuf,
    /// The Marquee checkout whose `plugin-api/` and `host/` the crate depends on.
    pub marquee: PathBuf,
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
    /// The Marquee sources to depend on were not found.
    #[error("no Marquee checkout at {} (it needs plugin-api/ and host/); pass --marquee PATH", .0.display())]
    NoMarquee(PathBuf),
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The Marquee checkout this binary was built from.
pub fn default_marquee_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 64
}

/// The files of the crate: path relative to the crate root, and contents.
pub fn files(p: &NewPlugin) -> Vec<(&'static str, String)> {
    let kind = p.kind.as_str();
    let lib = p.name.replace('-', "_");
    let api = p.marquee.join("plugin-api");
    let host = p.marquee.join("host");
    let fill = |t: &str| {
        t.replace("{{name}}", &p.name)
            .replace("{{lib}}", &lib)
            .replace("{{kind}}", kind)
            .replace("{{api_path}}", &api.to_string_lossy())
            .replace("{{host_path}}", &host.to_string_lossy())
    };
    let (lib_rs, scene, test_name, test) = match p.kind {
        PluginKind::Renderer => (
            include_str!("../templates/renderer/lib.rs.tmpl"),
            include_str!("../templates/renderer/scene.toml.tmpl"),
            "tests/trace.rs",
            include_str!("../templates/common/trace_test.rs.tmpl"),
        ),
        PluginKind::Processor => (
            include_str!("../templates/processor/lib.rs.tmpl"),
            include_str!("../templates/processor/scene.toml.tmpl"),
            "tests/trace.rs",
            include_str!("../templates/common/trace_test.rs.tmpl"),
        ),
        PluginKind::Recorder => (
            include_str!("../templates/recorder/lib.rs.tmpl"),
            include_str!("../templates/recorder/scene.toml.tmpl"),
            "tests/record.rs",
            include_str!("../templates/recorder/record_test.rs.tmpl"),
        ),
    };
    vec![
        (
            "Cargo.toml",
            fill(include_str!("../templates/common/Cargo.toml.tmpl")),
        ),
        (
            "README.md",
            fill(include_str!("../templates/common/README.md.tmpl")),
        ),
        (
            ".gitignore",
            "/target\ntimings.json\nexpected-*.png\nactual-*.png\ndifference-*.png\n".into(),
        ),
        ("src/lib.rs", fill(lib_rs)),
        ("tests/scene.toml", fill(scene)),
        (test_name, fill(test)),
    ]
}

/// Writes the crate; returns the files written. The Marquee checkout's `Cargo.lock` is copied
/// too, so the crate builds with the very dependency versions the host was built with.
pub fn generate(p: &NewPlugin) -> Result<Vec<PathBuf>, NewPluginError> {
    if !valid_name(&p.name) {
        return Err(NewPluginError::BadName(p.name.clone()));
    }
    if !p.marquee.join("plugin-api/Cargo.toml").is_file() || !p.marquee.join("host/Cargo.toml").is_file() {
        return Err(NewPluginError::NoMarquee(p.marquee.clone()));
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
        write(rel, contents.as_bytes(), &mut written)?;
    }
    if let Ok(lock) = std::fs::read(p.marquee.join("Cargo.lock")) {
        write("Cargo.lock", &lock, &mut written)?;
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
                marquee: "/m".into(),
            };
            for (rel, text) in files(&p) {
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
            marquee: default_marquee_root(),
        };
        assert!(matches!(generate(&p), Err(NewPluginError::Exists(_))));
        p.name = "Bad".into();
        assert!(matches!(generate(&p), Err(NewPluginError::BadName(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
