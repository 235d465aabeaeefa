//! What a plugin says about itself: id, version, ABI version, and the factories it offers.

use std::fmt;

use abi_stable::std_types::{ROption, RString, RVec};
use abi_stable::StableAbi;

/// The ABI version a plugin was built against, or the host speaks.
///
/// A plugin loads when its `major` equals the host's and its `minor` is not greater: minor
/// versions only ever append (functions at the end of the root module, methods at the end of a
/// trait), so a newer host can drive an older plugin, never the other way round.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiVersion {
    /// Bumped on any incompatible change.
    pub major: u16,
    /// Bumped when capabilities are appended.
    pub minor: u16,
}

/// The ABI version of this build of `marquee-plugin-api`: the crate's own major and minor
/// version (`Cargo.toml`), which `abi_stable` also records in every plugin built with it.
/// What each minor appended, and the compatibility rule, are in `docs/abi.md`.
pub const ABI_VERSION: AbiVersion = AbiVersion {
    major: parse_u16(env!("CARGO_PKG_VERSION_MAJOR")),
    minor: parse_u16(env!("CARGO_PKG_VERSION_MINOR")),
};

/// A decimal number, at compile time.
const fn parse_u16(digits: &str) -> u16 {
    let bytes = digits.as_bytes();
    let mut i = 0;
    let mut n: u16 = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "a version number is decimal");
        n = n * 10 + (bytes[i] - b'0') as u16;
        i += 1;
    }
    n
}

impl AbiVersion {
    /// Whether a plugin built for `self` can be driven by a host that speaks `host`.
    pub fn loads_in(self, host: AbiVersion) -> bool {
        self.major == host.major && self.minor <= host.minor
    }
}

impl fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The three kinds of plugin object.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    /// Draws one layer per frame.
    Renderer,
    /// Transforms the composited frame in place.
    Processor,
    /// Receives each finished frame read-only.
    Recorder,
}

impl PluginKind {
    /// The lowercase name used in scene files and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Renderer => "renderer",
            PluginKind::Processor => "processor",
            PluginKind::Recorder => "recorder",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a config field, as documented to users (the plugin does the real validation).
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `true` / `false`.
    Bool,
    /// A whole number.
    Int,
    /// A number.
    Float,
    /// Text.
    String,
    /// A colour, `"#rrggbb"` or `"#rrggbbaa"`.
    Color,
    /// A list of values.
    List,
    /// A file path: a renderer's or processor's is read, relative to the scene file; a
    /// recorder's is written, relative to the output directory and confined to it.
    Path,
}

impl FieldType {
    /// The name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Bool => "bool",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::String => "string",
            FieldType::Color => "color",
            FieldType::List => "list",
            FieldType::Path => "path",
        }
    }
}

/// One config field a factory accepts.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// The key in the scene file.
    pub name: RString,
    /// Its type.
    pub ty: FieldType,
    /// Its default, as JSON text.
    pub default: RString,
    /// Smallest accepted value, for numbers.
    pub min: ROption<f64>,
    /// Largest accepted value, for numbers.
    pub max: ROption<f64>,
    /// One line for people.
    pub doc: RString,
}

/// One factory: it makes objects of `kind` from a JSON config.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct FactorySpec {
    /// What the factory makes.
    pub kind: PluginKind,
    /// What the objects do.
    pub doc: RString,
    /// The config fields accepted.
    pub fields: RVec<FieldSpec>,
}

/// Everything a plugin says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Unique id, as scene files name it (`mandelbrot`).
    pub id: RString,
    /// The plugin's own version (semver).
    pub version: RString,
    /// The ABI version it was built against.
    pub abi: AbiVersion,
    /// One line for people.
    pub description: RString,
    /// At most one factory per kind.
    pub factories: RVec<FactorySpec>,
}

impl Manifest {
    /// The factory of `kind`, if the plugin offers one.
    pub fn factory(&self, kind: PluginKind) -> Option<&FactorySpec> {
        self.factories.iter().find(|f| f.kind == kind)
    }

    /// The kinds offered, in order.
    pub fn kinds(&self) -> Vec<PluginKind> {
        self.factories.iter().map(|f| f.kind).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_major_and_older_or_equal_minor_loads() {
        let host = AbiVersion { major: 1, minor: 2 };
        let v = |major, minor| AbiVersion { major, minor };
        assert!(v(1, 0).loads_in(host));
        assert!(v(1, 2).loads_in(host));
        assert!(!v(1, 3).loads_in(host), "a plugin needing newer capabilities");
        assert!(!v(0, 9).loads_in(host));
        assert!(!v(2, 0).loads_in(host));
    }
}
