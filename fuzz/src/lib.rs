//! What the fuzz targets share: the built-in registry, made once, and a scratch directory of
//! this process for the files a target writes before the host reads them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use marquee::plugins::registry::Registry;

/// The built-in plugins, loaded once per process.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::builtin)
}

/// A directory of this process's own, in memory where the machine has `/dev/shm` (writing a
/// file there is several times faster than on a disk): targets overwrite their files.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("marquee-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

/// Splits `data` at each line `----` into at most `n` files' texts (the first is the file the
/// target opens; the others are files it may name).
pub fn split_files(data: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    text.splitn(n, "\n----\n").map(str::to_string).collect()
}
