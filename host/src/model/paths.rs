//! Every path a data file names, resolved here. Inputs (a renderer's image, a playlist's
//! scenes) are relative to the file that names them ([`input`]). Outputs (a recorder's files)
//! are confined to the output directory ([`OutDir`]): absolute paths, paths that climb out of it
//! and paths that are not file names are refused unless the user allowed them, and no directory
//! below it may be a symbolic link ([`prepare_output`]); recorders then create their files new,
//! never through a link ([`marquee_plugin_api::files::PartialFile`]).

use std::path::{Component, Path, PathBuf};

use marquee_plugin_api::files::{self, parent_dir};

use crate::model::scene::{OutputField, Scene};

/// Where recorders may write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutDir {
    /// Relative output paths are resolved here; `None` means the scene file's own directory.
    pub dir: Option<PathBuf>,
    /// Let scenes write outside `dir` (absolute paths, `..`): the user's explicit choice.
    pub unconfined: bool,
}

/// Why an output path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputPathError {
    /// An absolute path while paths are confined.
    #[error("`{path}` is absolute, but recorders write inside the output directory {}", dir.display())]
    Absolute {
        /// The path as written.
        path: String,
        /// The output directory.
        dir: PathBuf,
    },
    /// A path whose `..` parts climb out of the output directory.
    #[error("`{path}` climbs out of the output directory {}", dir.display())]
    Escapes {
        /// The path as written.
        path: String,
        /// The output directory.
        dir: PathBuf,
    },
    /// A path that does not end in a file name (`.`, `..`, empty, or ending in `/`).
    #[error("`{path}` does not end in a file name")]
    NotAFileName {
        /// The path as written.
        path: String,
    },
    /// A directory on the way is a symbolic link or not a directory.
    #[error("`{path}`: {reason}")]
    Redirected {
        /// The path as written.
        path: String,
        /// What was found.
        reason: String,
    },
    /// The directory cannot be created or written.
    #[error("cannot write to {}: {reason}", dir.display())]
    Unwritable {
        /// The directory the file would go to.
        dir: PathBuf,
        /// What the system said.
        reason: String,
    },
}

impl OutputPathError {
    /// What the user can do about it.
    pub fn help(&self) -> &'static str {
        match self {
            OutputPathError::Absolute { .. } | OutputPathError::Escapes { .. } => {
                "write a path relative to the output directory, choose another with --out-dir, or pass --unconfined-paths to allow this one"
            }
            OutputPathError::NotAFileName { .. } => "name a file, such as \"recordings/show.gif\"",
            OutputPathError::Redirected { .. } => {
                "recorders never write through a symbolic link: remove the link, or choose another output directory with --out-dir"
            }
            OutputPathError::Unwritable { .. } => {
                "check the directory's permissions and free space, or choose another with --out-dir"
            }
        }
    }
}

/// The input path `raw` as named by the data file at `file`: relative to that file's directory
/// (absolute paths stay as they are), whatever the working directory.
pub fn input(file: &Path, raw: &str) -> PathBuf {
    file.parent().unwrap_or(Path::new("")).join(raw)
}

/// Resolves `raw` (as written in a scene) inside `dir`, refusing absolute paths and paths that
/// climb out unless `unconfined`, and paths that do not end in a file name. Purely lexical:
/// [`prepare_output`] then checks what is on the disk.
pub fn resolve_output(dir: &Path, raw: &str, unconfined: bool) -> Result<PathBuf, OutputPathError> {
    let path = Path::new(raw);
    if raw.ends_with('/') || !matches!(path.components().next_back(), Some(Component::Normal(_))) {
        return Err(OutputPathError::NotAFileName {
            path: raw.to_string(),
        });
    }
    if unconfined {
        return Ok(dir.join(path));
    }
    let mut kept: Vec<&std::ffi::OsStr> = Vec::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => kept.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if kept.pop().is_none() {
                    return Err(OutputPathError::Escapes {
                        path: raw.to_string(),
                        dir: dir.to_path_buf(),
                    });
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(OutputPathError::Absolute {
                    path: raw.to_string(),
                    dir: dir.to_path_buf(),
                });
            }
        }
    }
    Ok(kept.iter().fold(dir.to_path_buf(), |p, c| p.join(c)))
}

/// Resolves `raw` in `dir` ([`resolve_output`]), creates its directories and proves them
/// writable, so that a scene whose recorder could never write is refused when it loads, not
/// frames later. Returns the path to hand the recorder: the output directory made canonical,
/// then the scene's part, which may contain no symbolic link (unless `unconfined`, where the
/// user chose to allow anything and the whole directory is made canonical). Directories whose
/// names are templates (`clip-{n}`) are left for the recorder to make as it writes.
pub fn prepare_output(dir: &Path, raw: &str, unconfined: bool) -> Result<PathBuf, OutputPathError> {
    let path = resolve_output(dir, raw, unconfined)?;
    let unwritable = |d: &Path, e: std::io::Error| OutputPathError::Unwritable {
        dir: d.to_path_buf(),
        reason: e.to_string(),
    };
    let name = path
        .file_name()
        .expect("resolve_output ends in a file name")
        .to_owned();
    let parent = parent_dir(&path);
    if unconfined {
        std::fs::create_dir_all(parent).map_err(|e| unwritable(parent, e))?;
        let real = std::fs::canonicalize(parent).map_err(|e| unwritable(parent, e))?;
        files::probe_writable(&real).map_err(|e| unwritable(&real, e))?;
        return Ok(real.join(name));
    }
    // The output directory is the user's choice (a link there is theirs to make): made
    // canonical. What the scene adds below it is walked without following any link.
    std::fs::create_dir_all(dir).map_err(|e| unwritable(dir, e))?;
    let root = std::fs::canonicalize(dir).map_err(|e| unwritable(dir, e))?;
    let below = parent.strip_prefix(dir).unwrap_or(Path::new(""));
    let made: PathBuf = below
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains('{'))
        .collect();
    let real_parent = root.join(below);
    files::probe_writable(&root.join(&made)).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => OutputPathError::Redirected {
            path: raw.to_string(),
            reason: e.to_string(),
        },
        _ => unwritable(&root.join(&made), e),
    })?;
    Ok(real_parent.join(name))
}

/// Where a scene's recorders write: the output directory, or the scene's own.
pub fn out_dir(scene: &Scene, out: &OutDir) -> PathBuf {
    match &out.dir {
        Some(dir) => dir.clone(),
        None => parent_dir(&scene.source.path).to_path_buf(),
    }
}

/// `config_json` with each of `outputs` resolved in `dir` (for clip `clip`, if given: its
/// `{clip}` replaced by the number), its directory created and proved writable; `Err` names
/// the field refused and why.
pub fn outputs_config<'f>(
    config_json: &str,
    outputs: &'f [OutputField],
    dir: &Path,
    unconfined: bool,
    clip: Option<u64>,
) -> Result<String, (&'f OutputField, OutputPathError)> {
    if outputs.is_empty() {
        return Ok(config_json.to_string());
    }
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(config_json).expect("the scene wrote this JSON");
    for field in outputs {
        let raw = match clip {
            Some(n) => crate::model::recording::clip_path(&field.raw, n),
            None => field.raw.clone(),
        };
        let path = prepare_output(dir, &raw, unconfined).map_err(|e| (field, e))?;
        config.insert(
            field.key.clone(),
            serde_json::Value::String(path.to_string_lossy().into_owned()),
        );
    }
    Ok(serde_json::Value::Object(config).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_relative_to_the_file_that_names_them() {
        assert_eq!(
            input(Path::new("s/scene.toml"), "a.png"),
            PathBuf::from("s/a.png")
        );
        assert_eq!(input(Path::new("scene.toml"), "a.png"), PathBuf::from("a.png"));
        assert_eq!(
            input(Path::new("s/scene.toml"), "/abs/a.png"),
            PathBuf::from("/abs/a.png")
        );
    }

    #[test]
    fn paths_stay_inside_the_output_directory() {
        let dir = Path::new("/out");
        assert_eq!(
            resolve_output(dir, "a/b.gif", false),
            Ok(PathBuf::from("/out/a/b.gif"))
        );
        assert_eq!(
            resolve_output(dir, "./a/../b.gif", false),
            Ok(PathBuf::from("/out/b.gif"))
        );
        assert!(matches!(
            resolve_output(dir, "../../etc/passwd", false),
            Err(OutputPathError::Escapes { .. })
        ));
        assert!(matches!(
            resolve_output(dir, "a/../../b", false),
            Err(OutputPathError::Escapes { .. })
        ));
        assert!(matches!(
            resolve_output(dir, "/etc/passwd", false),
            Err(OutputPathError::Absolute { .. })
        ));
        assert_eq!(
            resolve_output(dir, "/tmp/x.gif", true),
            Ok(PathBuf::from("/tmp/x.gif"))
        );
        assert_eq!(
            resolve_output(dir, "../x.gif", true),
            Ok(PathBuf::from("/out/../x.gif"))
        );
        for not_a_file in [".", "", "a/..", "a/", "..", "/"] {
            assert!(
                matches!(
                    resolve_output(dir, not_a_file, false),
                    Err(OutputPathError::NotAFileName { .. })
                ),
                "{not_a_file:?}"
            );
        }
    }
}
