//! Safe mode, OBS's way: every run that loaded plugins from files leaves a marker (its process
//! id and those plugins) in the cache directory while it runs and removes it when it ends. A
//! marker whose process is gone means that run ended uncleanly (killed, crashed); the next start
//! says so, names the plugins that were live, and suggests `--safe-mode` (built-in plugins only)
//! or `--disable-plugin ID`.

use std::path::{Path, PathBuf};

/// The folder of run markers in the cache directory.
pub const RUNS_DIR: &str = "runs";

/// A plugin from a file that a run had loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LivePlugin {
    /// Its id.
    pub id: String,
    /// Its file.
    pub file: PathBuf,
}

/// What a marker says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    /// The run's process id.
    pub pid: u32,
    /// Its plugins from files.
    pub plugins: Vec<LivePlugin>,
}

/// The marker of this run: removed by [`RunMarker::end`] when the run ends cleanly.
#[derive(Debug)]
pub struct RunMarker {
    path: PathBuf,
}

impl RunMarker {
    /// Leaves a marker for this process in `cache_dir` naming `plugins` (none is written when
    /// there are none, or when it cannot be: safe mode is a help, never a reason to fail).
    pub fn begin(cache_dir: &Path, plugins: Vec<LivePlugin>) -> Option<RunMarker> {
        if plugins.is_empty() {
            return None;
        }
        let dir = cache_dir.join(RUNS_DIR);
        std::fs::create_dir_all(&dir).ok()?;
        let marker = Marker {
            pid: std::process::id(),
            plugins,
        };
        let path = dir.join(format!("{}.json", marker.pid));
        std::fs::write(&path, serde_json::to_string(&marker).ok()?).ok()?;
        Some(RunMarker { path })
    }

    /// The run ended cleanly: its marker goes.
    pub fn end(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The markers in `cache_dir` left by runs whose process is gone (each read once: they are
/// removed).
pub fn unclean_runs(cache_dir: &Path) -> Vec<Marker> {
    let Ok(entries) = std::fs::read_dir(cache_dir.join(RUNS_DIR)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let marker = marquee_plugin_api::files::read_text_bounded(&path, 1 << 20)
            .ok()
            .and_then(|text| serde_json::from_str::<Marker>(&text).ok());
        match marker {
            Some(m) if m.pid != std::process::id() && is_running(m.pid) => {}
            Some(m) if m.pid == std::process::id() => {}
            Some(m) => {
                let _ = std::fs::remove_file(&path);
                found.push(m);
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    found.sort_by_key(|m| m.pid);
    found
}

/// Whether process `pid` still runs.
fn is_running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_left_by_a_gone_process_is_found_once_and_ours_is_not() {
        let dir = tempfile_dir();
        let live = vec![LivePlugin {
            id: "plasma".into(),
            file: "/p/libplasma.so".into(),
        }];
        // Ours, while we run: not unclean.
        let ours = RunMarker::begin(&dir, live.clone()).unwrap();
        assert!(unclean_runs(&dir).is_empty());
        // One from a process that is gone (no process has so high an id).
        let gone = Marker {
            pid: u32::MAX - 1,
            plugins: live.clone(),
        };
        std::fs::write(
            dir.join(RUNS_DIR).join("gone.json"),
            serde_json::to_string(&gone).unwrap(),
        )
        .unwrap();
        assert_eq!(unclean_runs(&dir), vec![gone]);
        assert!(unclean_runs(&dir).is_empty(), "said once");
        ours.end();
        assert!(std::fs::read_dir(dir.join(RUNS_DIR)).unwrap().next().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("marquee-safe-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
