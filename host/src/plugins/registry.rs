//! Finding plugins: the built-in set linked into the host, and `.so` files loaded from directories.
//!
//! Loading follows the rule in `docs/abi.md`: the version of `marquee-plugin-api` the file was
//! built against is read first (another major, or a newer minor, is refused in one line before
//! any plugin code runs); then `abi_stable` checks the layout of every type the root module
//! reaches, with the plugin's layout as the expected one, so that the host's vtables may be longer
//! (methods appended in later minors, which an older plugin gets the default bodies of); then the
//! manifest's ABI is checked. Every failure becomes a typed [`LoadError`] naming the file, the
//! plugin if known, the host's ABI version and what to do; failures are collected, and the host
//! runs with what did load.
//!
//! Loaded libraries are never unloaded (`abi_stable` leaks them on purpose): objects made by a
//! plugin may outlive any handle to it, so unloading could leave code pointers dangling.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::plugins::fields::FactoryConfig;
use crate::plugins::scan::Scanner;
use abi_stable::StableAbi;
use abi_stable::abi_stability::check_layout_compatibility;
use abi_stable::library::{IsLayoutChecked, LibHeader, LibraryError, lib_header_from_path};
use abi_stable::sabi_types::VersionNumber;
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
    /// Each factory's config, in the manifest's order.
    pub configs: Vec<FactoryConfig>,
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

    /// The config of its factory of `kind`.
    pub fn config(&self, kind: PluginKind) -> Option<&FactoryConfig> {
        self.configs.iter().find(|c| c.kind == kind)
    }

    /// A plugin from its root module and the manifest it gave: each factory's config read and
    /// checked (`Err` gives the plugin's id and what it declares wrongly).
    fn new(module: PluginModRef, manifest: Manifest, origin: Origin) -> Result<Self, (String, String)> {
        let configs = manifest
            .factories
            .iter()
            .map(|f| FactoryConfig::read(&module, f))
            .collect::<Result<Vec<_>, _>>();
        match configs {
            Ok(configs) => Ok(LoadedPlugin {
                manifest,
                module,
                origin,
                configs,
            }),
            Err(why) => Err((manifest.id.to_string(), why)),
        }
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
    /// Loading it in a child process (the plugin scan) crashed or hung that process: its
    /// load-time code would have taken the host down.
    #[error("{} crashed the process that loaded it: {reason}; it was loaded in a child process first, so Marquee goes on without it (fix its load-time code, or remove it from the plugin directory)", path.display())]
    Crashed {
        /// The file.
        path: PathBuf,
        /// How the child ended.
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
    /// It was built against a `marquee-plugin-api` this host cannot drive (another major, or a
    /// newer minor), as recorded in the file.
    #[error("{} was built against marquee-plugin-api {built}, but this host speaks ABI {host}; {}", path.display(), abi_hint(*built, *host))]
    BuiltForAnother {
        /// The file.
        path: PathBuf,
        /// The API version it was built against.
        built: AbiVersion,
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
    /// A plugin directory holds no plugin library, but a Rust library built as an rlib only:
    /// the crate's `[lib]` lacks `crate-type = ["cdylib", ...]`.
    #[error("{} holds no plugin library (.{ext}), only {rlib}: the crate was built as an rlib only; add `crate-type = [\"cdylib\", \"rlib\"]` to its [lib] section and build it again", path.display(), ext = std::env::consts::DLL_EXTENSION)]
    OnlyRlib {
        /// The directory.
        path: PathBuf,
        /// The rlib found there.
        rlib: String,
    },
    /// Its manifest declares something it cannot mean (a default that does not fit its field).
    #[error("{} is plugin `{id}`, but {why}; fix the plugin's field list and rebuild it", path.display())]
    BadManifest {
        /// The file.
        path: PathBuf,
        /// The plugin's id.
        id: String,
        /// What is wrong.
        why: String,
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
            | LoadError::BuiltForAnother { path, .. }
            | LoadError::BadManifest { path, .. }
            | LoadError::OnlyRlib { path, .. }
            | LoadError::AbiMismatch { path, .. }
            | LoadError::Duplicate { path, .. }
            | LoadError::Crashed { path, .. } => path,
        }
    }
}

/// The built-in plugins' root modules, in listing order: the standard plugins, as
/// `plugins/standard/Cargo.toml` lists them (the one list of them).
pub fn builtin_modules() -> Vec<PluginModRef> {
    marquee_standard_plugins::modules().to_vec()
}

/// Loads one plugin file and checks that this host can drive it.
pub fn load_file(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let header = lib_header_from_path(path).map_err(|e| classify(path, e))?;
    let module = init_older_or_same(header, path)?;
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
    LoadedPlugin::new(module, manifest, Origin::File(path.to_path_buf())).map_err(|(id, why)| {
        LoadError::BadManifest {
            path: path.to_path_buf(),
            id,
            why,
        }
    })
}

/// The root module of the library `header`, once its API version and layouts are known to be
/// ones this host can drive (`docs/abi.md`).
fn init_older_or_same(header: &'static LibHeader, path: &Path) -> Result<PluginModRef, LoadError> {
    // 1. The API version, as `abi_stable` recorded it in the file: nothing of the plugin runs yet.
    let built = VersionNumber::new(header.version_strings())
        .map(|v| AbiVersion {
            major: v.major.try_into().unwrap_or(u16::MAX),
            minor: v.minor.try_into().unwrap_or(u16::MAX),
        })
        .map_err(|e| classify(path, e.into()))?;
    if !built.loads_in(ABI_VERSION) {
        return Err(LoadError::BuiltForAnother {
            path: path.to_path_buf(),
            built,
            host: ABI_VERSION,
        });
    }
    // 2. The layouts, with the plugin's as the expected one: the host's vtables may be longer.
    if let IsLayoutChecked::Yes(plugin) = header.root_mod_consts().layout() {
        check_layout_compatibility(plugin, <PluginModRef as StableAbi>::LAYOUT)
            .into_result()
            .map_err(|e| classify(path, LibraryError::AbiInstability(e)))?;
    }
    // SAFETY: every type the plugin's root module reaches was just checked against this host's:
    // the same fields, of the same types, in the same order, up to where the plugin's vtables
    // end; the host reads what lies past that end as absent (the methods' default bodies). A
    // library built with layout checking turned off is taken on trust, as `abi_stable`'s own
    // `init_root_module` does.
    #[allow(unsafe_code)]
    unsafe { header.init_root_module_with_unchecked_layout::<PluginModRef>() }.map_err(|e| classify(path, e))
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
    /// Canonical paths of the files tried so far.
    loaded_files: Vec<PathBuf>,
    /// Loads each file in a child process first, when set (`discover_scanned`).
    scanner: Option<Scanner>,
    /// Plugins left out on request, with where they came from and why.
    disabled: Vec<(String, Origin, String)>,
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

    /// [`Registry::discover`], each plugin file loaded first in a child process by `scanner`
    /// (`plugins::scan`), so that a file whose load-time code crashes is a failure, not the
    /// end of this process. Returns the registry and the scanner, its counts and cache updated.
    pub fn discover_scanned(dirs: &[PathBuf], scanner: Scanner) -> (Self, Scanner) {
        let mut r = Registry::builtin();
        r.scanner = Some(scanner);
        for dir in dirs {
            r.load_dir(dir);
        }
        let mut scanner = r.scanner.take().expect("set above");
        scanner.save();
        (r, scanner)
    }

    /// Leaves plugin `id` out (`--disable-plugin`), saying `why`; returns whether there was one.
    pub fn disable(&mut self, id: &str, why: &str) -> bool {
        let Some(i) = self.plugins.iter().position(|p| p.id() == id) else {
            return false;
        };
        let p = self.plugins.remove(i);
        self.disabled
            .push((id.to_string(), p.origin.clone(), why.to_string()));
        true
    }

    /// The plugins left out on request: id, origin, why.
    pub fn disabled(&self) -> &[(String, Origin, String)] {
        &self.disabled
    }

    /// The plugins loaded from files: id and file.
    pub fn file_plugins(&self) -> Vec<(String, PathBuf)> {
        self.plugins
            .iter()
            .filter_map(|p| match &p.origin {
                Origin::File(f) => Some((p.id().to_string(), f.clone())),
                Origin::BuiltIn => None,
            })
            .collect()
    }

    /// Adds a plugin from its root module (an rlib linked into this program).
    ///
    /// # Panics
    /// If the plugin declares a config it cannot mean (a default outside its own range): a
    /// mistake in a program's own code, which the test of every built-in finds.
    pub fn add_module(&mut self, module: PluginModRef, origin: Origin) {
        let plugin = LoadedPlugin::new(module, (module.manifest())(), origin)
            .unwrap_or_else(|(id, why)| panic!("linked-in plugin `{id}` is declared wrongly: {why}"));
        self.plugins.retain(|p| p.id() != plugin.id());
        self.plugins.push(Arc::new(plugin));
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
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        let has = |p: &Path, ext: &str| p.extension().is_some_and(|x| x == ext) && p.is_file();
        let files: Vec<PathBuf> = paths
            .iter()
            .filter(|p| has(p, std::env::consts::DLL_EXTENSION))
            .cloned()
            .collect();
        // Nothing loadable, but a Rust library: the crate was built without `cdylib`.
        if files.is_empty()
            && let Some(rlib) = paths.iter().find(|p| has(p, "rlib"))
        {
            self.failures.push(LoadError::OnlyRlib {
                path: dir.to_path_buf(),
                rlib: rlib
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            });
        }
        for file in files {
            self.load(&file);
        }
    }

    /// Loads one plugin file, recording a failure if it does not load. A file already loaded
    /// (the same directory named twice, or through a link) is skipped, not a conflict.
    pub fn load(&mut self, file: &Path) {
        let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        if self.loaded_files.contains(&canonical) {
            return;
        }
        self.loaded_files.push(canonical);
        if let Some(scanner) = &mut self.scanner
            && let Err(e) = scanner.check(file)
        {
            self.failures.push(e);
            return;
        }
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
