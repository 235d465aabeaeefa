//! Finding plugins: the built-in set linked into the host, and `.so` files loaded from directories.
//!
//! Loading goes through `abi_stable` (`lib_header_from_path`, then `init_root_module`, which
//! checks the layouts of every type in the root module), then our own ABI version check. Every
//! failure becomes a typed [`LoadError`] naming the file, the plugin if known, the host's ABI
//! version and what to do; failures are collected, and the host runs with what did load.
//!
//! Loaded libraries are never unloaded (`abi_stable` leaks them on purpose): objects made by a
//! plugin may outlive any handle to it, so unloading could leave code pointers dangling.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::library::{LibraryError, lib_header_from_path};
use marquee_plugin_api::{ABI_VERSION, AbiVersion, Manifest, PluginKind, PluginModRef};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Linked into the host as an rlib.
    BuiltIn,
    /// Loaded from this file.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built in"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A plugin ready to make objects.
pub struct LoadedPlugin {
    /// What it says about itself.
    pub manifest: Manifest,
    /// Its root module.
    pub module: PluginModRef,
    /// Where it came from.
    pub origin: Origin,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.id())
            .field("version", &self.manifest.version)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The plugin's id.
    pub fn id(&self) -> &str {
        self.manifest.id.as_str()
    }

    /// Whether it offers a factory of `kind`.
    pub fn provides(&self, kind: PluginKind) -> bool {
        self.manifest.factory(kind).is_some()
    }
}

/// Why a plugin file did not load.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A plugin directory could not be read.
    #[error("cannot read plugin directory {}: {reason}; check --plugin-dir and $MARQUEE_PLUGIN_PATH", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The file is not a loadable library at all.
    #[error("{} is not a loadable library: {reason}; remove it from the plugin directory or rebuild it as a cdylib for host ABI {host}", path.display(), host = ABI_VERSION)]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// A library, but it exports no Marquee root module.
    #[error("{} is a library but not a Marquee plugin (it exports no root module); plugins call `marquee_plugin_api::export_plugin!` (host ABI {host})", path.display(), host = ABI_VERSION)]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// Its types do not match this host's (built against an incompatible `marquee-plugin-api`).
    #[error("{} was built against an incompatible marquee-plugin-api (host ABI {host}): {detail}; rebuild it against this host's plugin API", path.display())]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// What `abi_stable` found.
        detail: String,
        /// The host's ABI version.
        host: AbiVersion,
    },
    /// It declares an ABI version this host cannot drive.
    #[error("{} is plugin `{id}` {version} built for ABI {plugin_abi}, but this host speaks ABI {host}; {}", path.display(), abi_hint(*plugin_abi, *host))]
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// The plugin's id.
        id: String,
        /// The plugin's version.
        version: String,
        /// The ABI it was built for.
        plugin_abi: AbiVersion,
        /// The host's ABI version.
        host: AbiVersion,
    },
    /// Another file already provided this id.
    #[error("{} is plugin `{id}` {version} (host ABI {host}), but `{id}` was already loaded from {first}; remove one of them", path.display(), host = ABI_VERSION)]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The id.
        id: String,
        /// This file's version.
        version: String,
        /// Where the first one came from.
        first: Origin,
    },
}

fn abi_hint(plugin: AbiVersion, host: AbiVersion) -> &'static str {
    if plugin.major != host.major {
        "a different major version is incompatible: rebuild the plugin against this host's marquee-plugin-api"
    } else {
        "the plugin needs a newer host: upgrade marquee, or rebuild the plugin against this host's marquee-plugin-api"
    }
}

impl LoadError {
    /// The file (or directory) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Directory { path, .. }
            | LoadError::NotALibrary { path, .. }
            | LoadError::NotAPlugin { path }
            | LoadError::Incompatible { path, .. }
            | LoadError::AbiMismatch { path, .. }
            | LoadError::Duplicate { path, .. } => path,
        }
    }
}

/// The built-in plugins' root modules, in listing order.
pub fn builtin_modules() -> [PluginModRef; 19] {
    [
        marquee_mandelbrot::module(),
        marquee_random_pixels::module(),
        marquee_solid::module(),
        marquee_gradient::module(),
        marquee_life::module(),
        marquee_text::module(),
        marquee_image::module(),
        marquee_spritesheet::module(),
        marquee_image_sequence::module(),
        marquee_color::module(),
        marquee_blur::module(),
        marquee_quantize::module(),
        marquee_fade::module(),
        marquee_transform::module(),
        marquee_motion::module(),
        marquee_gif::module(),
        marquee_png_sequence::module(),
        marquee_video::module(),
        marquee_preroll::module(),
    ]
}

/// Loads one plugin file and checks that this host can drive it.
pub fn load_file(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let header = lib_header_from_path(path).map_err(|e| classify(path, e))?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| classify(path, e))?;
    let manifest = (module.manifest())();
    if !manifest.abi.loads_in(ABI_VERSION) {
        return Err(LoadError::AbiMismatch {
            path: path.to_path_buf(),
            id: manifest.id.to_string(),
            version: manifest.version.to_string(),
            plugin_abi: manifest.abi,
            host: ABI_VERSION,
        });
    }
    Ok(LoadedPlugin {
        manifest,
        module,
        origin: Origin::File(path.to_path_buf()),
    })
}

fn classify(path: &Path, e: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    match e {
        LibraryError::OpenError { err, .. } => LoadError::NotALibrary {
            path,
            reason: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        other => LoadError::Incompatible {
            path,
            detail: other.to_string().lines().take(6).collect::<Vec<_>>().join(" "),
            host: ABI_VERSION,
        },
    }
}

/// Every plugin found, and every file that failed to load.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: Vec<Arc<LoadedPlugin>>,
    failures: Vec<LoadError>,
    shadowed: Vec<(Arc<LoadedPlugin>, Origin)>,
}

impl Registry {
    /// A registry with the built-in plugins only.
    pub fn builtin() -> Self {
        let mut r = Registry::default();
        for module in builtin_modules() {
            r.add_module(module, Origin::BuiltIn);
        }
        r
    }

    /// The built-in plugins, then every plugin file in `dirs` (in order, files sorted by name).
    /// A file plugin with a built-in's id replaces the built-in.
    pub fn discover(dirs: &[PathBuf]) -> Self {
        let mut r = Registry::builtin();
        for dir in dirs {
            r.load_dir(dir);
        }
        r
    }

    /// Adds a plugin from its root module (an rlib linked into this program).
    pub fn add_module(&mut self, module: PluginModRef, origin: Origin) {
        let manifest = (module.manifest())();
        self.plugins.retain(|p| p.id() != manifest.id.as_str());
        self.plugins.push(Arc::new(LoadedPlugin {
            manifest,
            module,
            origin,
        }));
    }

    /// Loads every plugin file in `dir`, recording failures.
    pub fn load_dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.failures.push(LoadError::Directory {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                });
                return;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == std::env::consts::DLL_EXTENSION)
                    && p.is_file()
            })
            .collect();
        files.sort();
        for file in files {
            self.load(&file);
        }
    }

    /// Loads one plugin file, recording a failure if it does not load.
    pub fn load(&mut self, file: &Path) {
        match load_file(file) {
            Ok(plugin) => self.insert_file_plugin(plugin),
            Err(e) => self.failures.push(e),
        }
    }

    fn insert_file_plugin(&mut self, plugin: LoadedPlugin) {
        if let Some(i) = self.plugins.iter().position(|p| p.id() == plugin.id()) {
            let existing = &self.plugins[i];
            if existing.origin != Origin::BuiltIn {
                self.failures.push(LoadError::Duplicate {
                    path: match &plugin.origin {
                        Origin::File(p) => p.clone(),
                        Origin::BuiltIn => PathBuf::new(),
                    },
                    id: plugin.id().to_string(),
                    version: plugin.manifest.version.to_string(),
                    first: existing.origin.clone(),
                });
                return;
            }
            let old = self.plugins.remove(i);
            self.shadowed.push((old, plugin.origin.clone()));
        }
        self.plugins.push(Arc::new(plugin));
    }

    /// The plugin with `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.iter().find(|p| p.id() == id)
    }

    /// Every loaded plugin, built-ins first.
    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    /// Every failure, in the order met.
    pub fn failures(&self) -> &[LoadError] {
        &self.failures
    }

    /// Built-in plugins replaced by a file plugin of the same id, with the file that replaced them.
    pub fn shadowed(&self) -> &[(Arc<LoadedPlugin>, Origin)] {
        &self.shadowed
    }

    /// Ids of the plugins offering `kind`, sorted.
    pub fn ids_of(&self, kind: PluginKind) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .plugins
            .iter()
            .filter(|p| p.provides(kind))
            .map(|p| p.id())
            .collect();
        ids.sort_unstable();
        ids
    }
}
