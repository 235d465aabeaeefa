//! What the engine reports about its instances, typed: failures, counters, recorders.

use marquee_plugin_api::{PluginError, PluginKind};

use crate::record::thread::RecorderSample;

/// One instance failure, reported once.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What kind of instance.
    pub kind: PluginKind,
    /// The instance's id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// The frame at which it failed.
    pub frame: u64,
    /// Why.
    pub error: PluginError,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let then = match self.kind {
            PluginKind::Renderer => "its layer is drawn transparent from now on",
            PluginKind::Processor => "it is skipped from now on",
            PluginKind::Recorder => "it records nothing more",
        };
        write!(
            f,
            "{} `{}` (plugin `{}`) failed at frame {}: {}; {then}",
            self.kind, self.id, self.plugin, self.frame, self.error
        )
    }
}

/// One counter an instance keeps (an image sequence's missed frames, a recorder's clips).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Counter {
    /// The layer or recorder id.
    pub owner: String,
    /// The counter's name.
    pub name: String,
    /// Its value.
    pub value: u64,
}

/// What a recorder said about itself when it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderInfo {
    /// The recorder's id.
    pub id: String,
    /// Its plugin.
    pub plugin: String,
    /// What it said about itself (a JSON object as text), or empty.
    pub about: String,
}

/// A recorder's counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderReport {
    /// The recorder's id.
    pub id: String,
    /// Its queue and counts.
    pub sample: RecorderSample,
}
