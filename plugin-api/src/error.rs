//! Errors that cross the plugin boundary: a kind, a message and, for config errors, the field.

use std::fmt;

use abi_stable::std_types::{RNone, ROption, RSome, RString};
use abi_stable::StableAbi;

/// What went wrong inside a plugin, as the host needs to know it.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The JSON config was rejected: wrong type, out of range, or an unknown field.
    Config,
    /// The plugin does not provide what was asked for (a kind, snapshots, ...).
    Unsupported,
    /// Drawing, processing or recording a frame failed.
    Frame,
    /// Reading or writing a file failed.
    Io,
    /// A snapshot could not be taken or restored.
    State,
    /// The plugin panicked; the wrapper caught it before it crossed the boundary.
    Panic,
}

impl ErrorKind {
    /// A short lowercase name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Frame => "frame",
            ErrorKind::Io => "io",
            ErrorKind::State => "state",
            ErrorKind::Panic => "panic",
        }
    }
}

/// An error returned by a plugin. Safe to pass across the boundary (all fields are ABI-stable).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A message for people: what was wrong and, where possible, what to do.
    pub message: RString,
    /// For [`ErrorKind::Config`]: the path of the offending field (`zoom.speed`), if known.
    pub field: ROption<RString>,
}

impl PluginError {
    /// An error of `kind` with `message` and no field.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: RString::from(message.into()),
            field: RNone,
        }
    }

    /// A config error about `field` (a dotted path; empty for the config as a whole).
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field: String = field.into();
        PluginError {
            kind: ErrorKind::Config,
            message: RString::from(message.into()),
            field: if field.is_empty() {
                RNone
            } else {
                RSome(RString::from(field))
            },
        }
    }

    /// The plugin does not support what was asked.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// A frame could not be drawn, processed or recorded.
    pub fn frame(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Frame, message)
    }

    /// An I/O failure, with the path it concerned in the message.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    /// A snapshot could not be taken or restored.
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::State, message)
    }

    /// A caught panic.
    pub fn panic(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Panic, message)
    }

    /// The offending field, for config errors.
    pub fn field(&self) -> Option<&str> {
        match &self.field {
            RSome(f) => Some(f.as_str()),
            RNone => None,
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field() {
            Some(field) => write!(f, "{} error in `{}`: {}", self.kind.as_str(), field, self.message),
            None => write!(f, "{} error: {}", self.kind.as_str(), self.message),
        }
    }
}

impl std::error::Error for PluginError {}
