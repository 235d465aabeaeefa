//! A crash-proof plugin scan: before a plugin file is loaded into this process, a child process
//! (the `marquee` binary itself, `marquee __scan-plugin FILE`) loads it through the same loader
//! and checks. A file whose load-time code aborts, overflows its stack, segfaults or hangs
//! becomes one failure line ([`LoadError::Crashed`]) instead of a dead host. What the scan found
//! is cached by path, size and modification time (GStreamer's registry is the model), so
//! start-up pays for it once per changed file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::plugins::registry::LoadError;

/// How long loading a plugin may take in the child before it is killed.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(10);
/// The name of the cache file in the cache directory.
pub const CACHE_FILE: &str = "plugin-scan.json";

/// What the scan learned of one file, with the size and modification time it had then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Entry {
    size: u64,
    modified_ns: u128,
    /// Why loading it crashed the child; `None`: it loads (or fails cleanly) in-process.
    crashed: Option<String>,
}

/// Scans plugin files in child processes, remembering what it found.
#[derive(Debug)]
pub struct Scanner {
    exe: PathBuf,
    cache: Option<PathBuf>,
    entries: BTreeMap<PathBuf, Entry>,
    changed: bool,
    /// Files loaded in a child this time.
    pub scanned: usize,
    /// Files known from the cache.
    pub cached: usize,
}

impl Scanner {
    /// A scanner that runs `exe __scan-plugin FILE` and keeps what it finds in `cache_dir`
    /// (none: nothing kept).
    pub fn new(exe: PathBuf, cache_dir: Option<PathBuf>) -> Scanner {
        let cache = cache_dir.map(|d| d.join(CACHE_FILE));
        let entries = cache
            .as_ref()
            .and_then(|p| marquee_plugin_api::files::read_text_bounded(p, 16 << 20).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Scanner {
            exe,
            cache,
            entries,
            changed: false,
            scanned: 0,
            cached: 0,
        }
    }

    /// Whether `file` may be loaded into this process: what the cache says if the file is
    /// unchanged, else what loading it in a child shows.
    pub fn check(&mut self, file: &Path) -> Result<(), LoadError> {
        let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let stamp = std::fs::metadata(&key).ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), modified)
        });
        let known = match (self.entries.get(&key), stamp) {
            (Some(e), Some((size, modified_ns))) if e.size == size && e.modified_ns == modified_ns => {
                Some(e.crashed.clone())
            }
            _ => None,
        };
        let crashed = match known {
            Some(crashed) => {
                self.cached += 1;
                crashed
            }
            None => {
                self.scanned += 1;
                let Some(crashed) = self.scan(file) else {
                    // Not known either way: load here, and remember nothing.
                    return Ok(());
                };
                if let Some((size, modified_ns)) = stamp {
                    self.entries.insert(
                        key,
                        Entry {
                            size,
                            modified_ns,
                            crashed: crashed.clone(),
                        },
                    );
                    self.changed = true;
                }
                crashed
            }
        };
        match crashed {
            None => Ok(()),
            Some(reason) => Err(LoadError::Crashed {
                path: file.to_path_buf(),
                reason,
            }),
        }
    }

    /// Loads `file` in a child: `Some(None)` if it came back, `Some(Some(how))` if it ended
    /// otherwise, `None` if no child could be started.
    fn scan(&self, file: &Path) -> Option<Option<String>> {
        let child = Command::new(&self.exe)
            .arg("__scan-plugin")
            .arg(file)
            .env_remove("MARQUEE_PLUGIN_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                // No child can be started here (a sandbox, a limit): load in this process as
                // before the scan existed, and say so, rather than refuse every plugin.
                tracing::warn!(
                    "cannot start {} to scan {} in a child ({e}); loading it in this process",
                    self.exe.display(),
                    file.display()
                );
                return None;
            }
        };
        Some(self.wait(child))
    }

    /// How the scan's child ends: `None` if it came back, else how.
    fn wait(&self, mut child: std::process::Child) -> Option<String> {
        let deadline = Instant::now() + SCAN_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return None,
                Ok(Some(status)) => return Some(ended(status)),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Some(format!("it did not finish loading within {SCAN_TIMEOUT:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Some(format!("waiting for the scan failed: {e}")),
            }
        }
    }

    /// Writes what was learned to the cache (best effort: a cache that cannot be written only
    /// means the next start scans again).
    pub fn save(&mut self) {
        let (Some(path), true) = (&self.cache, self.changed) else {
            return;
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(text) = serde_json::to_string_pretty(&self.entries) {
            let tmp = path.with_extension("json.partial");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
        self.changed = false;
    }
}

/// How a child that did not exit cleanly ended, in words.
fn ended(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGABRT => "SIGABRT, an abort",
                libc::SIGSEGV => "SIGSEGV, a bad memory access",
                libc::SIGBUS => "SIGBUS, a bad memory access",
                libc::SIGILL => "SIGILL, an illegal instruction",
                libc::SIGFPE => "SIGFPE, an arithmetic fault",
                libc::SIGKILL => "SIGKILL",
                _ => "a signal",
            };
            format!("loading it killed the process ({name}, signal {signal})")
        }
        None => format!(
            "loading it ended the process with status {}",
            status.code().unwrap_or(-1)
        ),
    }
}

/// Where the scan's cache lives: `$MARQUEE_CACHE_DIR`, else `$XDG_CACHE_HOME/marquee`, else
/// `~/.cache/marquee`; `None` if none of them is set.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("MARQUEE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("marquee")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("marquee")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_program_to_scan_with_files_load_as_before_and_nothing_is_cached() {
        let cache = std::env::temp_dir().join(format!("marquee-scan-test-{}", std::process::id()));
        let mut scanner = Scanner::new("/nonexistent/marquee".into(), Some(cache.clone()));
        let file = std::env::current_exe().unwrap();
        assert!(scanner.check(&file).is_ok(), "no child could start: not a crash");
        assert_eq!((scanner.scanned, scanner.cached), (1, 0));
        scanner.save();
        assert!(
            !cache.join(CACHE_FILE).exists(),
            "an unknown result is not remembered"
        );
    }
}
