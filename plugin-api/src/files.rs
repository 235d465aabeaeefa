//! Files that appear whole or not at all: recorders write under a temporary name beside the
//! final one and rename it into place when complete, so a crash, a kill or a full disk never
//! leaves a truncated file under the name a user looks for.

use std::path::{Path, PathBuf};

use crate::error::PluginError;

/// The temporary name `path` is written under until complete: `.NAME.partial` in the same
/// directory (hidden, and on the same file system, so the rename is atomic).
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// The directory `path` is in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Syncs the finished temporary file to disk and renames it to `path`.
pub fn commit(partial: &Path, path: &Path) -> Result<(), PluginError> {
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("cannot sync", partial, e))?;
    std::fs::rename(partial, path).map_err(|e| io_error("cannot rename into", path, e))
}

/// Writes `bytes` to `path` whole: to its temporary name first, then renamed into place.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let partial = partial_path(path);
    std::fs::write(&partial, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io_error("cannot write", &partial, e)
    })?;
    std::fs::rename(&partial, path).map_err(|e| io_error("cannot rename into", path, e))
}

/// An I/O error about `path`, worded for people: `"{what} {path}: {e}"`.
pub fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::io(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_are_hidden_siblings() {
        assert_eq!(
            partial_path(Path::new("out/clip-0001.mp4")),
            PathBuf::from("out/.clip-0001.mp4.partial")
        );
    }

    #[test]
    fn whole_files_appear_only_complete() {
        let dir = std::env::temp_dir().join(format!("marquee-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.bin");
        write_whole(&path, b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert!(!partial_path(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
