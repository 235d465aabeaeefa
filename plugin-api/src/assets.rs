//! A cache of decoded assets shared by every instance of a plugin, so a file used by many layers
//! is read and decoded once, never per frame or per instance.
//!
//! The cache holds weak references: an asset lives as long as some instance holds its `Arc`, and
//! is decoded again only after every user is gone. Declare one per asset type as a `static`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use crate::error::PluginError;

/// Decoded assets of type `T`, keyed by file path.
#[derive(Debug)]
pub struct AssetCache<T> {
    entries: Mutex<Vec<(Key, Weak<T>)>>,
}

/// A file as the cache tells it apart: its canonical path and when it was last modified, so an
/// edited file is decoded afresh.
type Key = (PathBuf, Option<std::time::SystemTime>);

impl<T> Default for AssetCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> AssetCache<T> {
    /// An empty cache; usable in a `static`.
    pub const fn new() -> Self {
        AssetCache {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The asset at `path`: shared if some instance already holds it, else made by `load`.
    ///
    /// Paths are compared after `canonicalize`, so `a/../b.png` and `b.png` are one asset, and
    /// with their modification time, so a file edited since it was decoded is decoded again. The
    /// lock is held while loading, so two instances asking at once decode the file once.
    pub fn get_or_load(
        &self,
        path: &Path,
        load: impl FnOnce(&Path) -> Result<T, PluginError>,
    ) -> Result<Arc<T>, PluginError> {
        let key = (
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        );
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(asset) = entries
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(asset);
        }
        let asset = Arc::new(load(path)?);
        entries.push((key, Arc::downgrade(&asset)));
        Ok(asset)
    }

    /// How many assets are alive in the cache.
    pub fn len(&self) -> usize {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.iter().filter(|(_, w)| w.strong_count() > 0).count()
    }

    /// Whether no asset is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn loads_once_while_held_and_again_after_release() {
        static CACHE: AssetCache<String> = AssetCache::new();
        let loads = AtomicUsize::new(0);
        let load = |p: &Path| {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(p.display().to_string())
        };
        let a = CACHE.get_or_load(Path::new("/nonexistent/a.png"), load).unwrap();
        let b = CACHE.get_or_load(Path::new("/nonexistent/a.png"), load).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let _c = CACHE.get_or_load(Path::new("/nonexistent/c.png"), load).unwrap();
        assert_eq!((loads.load(Ordering::SeqCst), CACHE.len()), (2, 2));
        drop((a, b));
        assert_eq!(CACHE.len(), 1);
        let _a = CACHE.get_or_load(Path::new("/nonexistent/a.png"), load).unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_failed_load_is_not_cached() {
        let cache: AssetCache<u8> = AssetCache::new();
        let err = cache
            .get_or_load(Path::new("x"), |_| Err(PluginError::io("nope")))
            .unwrap_err();
        assert_eq!(err.message.as_str(), "nope");
        assert!(cache.is_empty());
    }
}
