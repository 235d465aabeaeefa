//! Isolated instances: a renderer, processor or recorder run in a child process (the `marquee`
//! binary in its plugin-host mode), so that a plugin that hangs, aborts, segfaults or leaks
//! costs the show a few frames of one layer instead of the show.
//!
//! Frames travel through shared memory ([`shm`]: an isolated renderer's child draws straight
//! into the layer's buffer); a small control channel ([`wire`] over [`channel`]) carries calls,
//! answers, errors and counters. Every call has a deadline; the watchdog ([`link`]) kills a
//! child that misses one or dies, restarts it with backoff (re-created from its config and
//! restored from its last snapshot), and disables the instance after too many failures. What
//! it saw is kept per instance ([`watch`]) for the log, the summary and the metrics stream.
//! The engine sees ordinary plugin objects ([`proxy`]).

pub mod channel;
pub mod child;
pub mod link;
pub mod proxy;
pub mod shm;
pub mod watch;
pub mod wire;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use marquee_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use marquee_plugin_api::module::{Processor_TO, Recorder_TO, Renderer_TO};
use marquee_plugin_api::{InitCtx, PluginKind, ProcessorBox, RecorderBox, RendererBox};

use crate::model::isolation::Limits;
use crate::plugins::registry::{LoadedPlugin, Origin};
use child::Source;
use link::{Link, Policy, Spec, StartError};
use proxy::{IsolatedProcessor, IsolatedRecorder, IsolatedRenderer};
use shm::SharedMemory;
use watch::Watch;

/// Which instances run isolated. What a scene says of an instance (`isolate = true` or
/// `false`) wins over `Marked` and `Files`; `--isolate all` and `--isolate PLUGIN` win over it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Choice {
    /// Only those the scene marks `isolate = true` (traces, benchmarks, library users).
    #[default]
    Marked,
    /// Also every instance of a plugin loaded from a file (`marquee run`'s default: the show
    /// runs unattended, and code from a plugin directory is what may hang or crash it).
    Files,
    /// Every instance (`--isolate all`).
    All,
    /// Every instance of these plugins (`--isolate PLUGIN`, repeatable).
    Plugins(Vec<String>),
}

impl Choice {
    /// Whether an instance of `plugin` (loaded from a file or not) runs isolated, the scene
    /// having said `marked` of it.
    pub fn covers(&self, plugin: &str, from_file: bool, marked: Option<bool>) -> bool {
        match self {
            Choice::All => true,
            Choice::Plugins(ids) if ids.iter().any(|id| id == plugin) => true,
            _ => marked.unwrap_or(*self == Choice::Files && from_file),
        }
    }

    /// The choice `--isolate` arguments make (`all`, `files`, `none`, plugin ids), `default`
    /// when there are none.
    pub fn from_args(args: &[String], default: Choice) -> Choice {
        if args.iter().any(|a| a == "all") {
            Choice::All
        } else if args.iter().any(|a| a == "files") {
            Choice::Files
        } else if args.iter().any(|a| a == "none") {
            Choice::Marked
        } else if args.is_empty() {
            default
        } else {
            Choice::Plugins(args.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Choice;

    #[test]
    fn the_scene_wins_over_the_default_and_the_command_line_over_the_scene() {
        let plugins = Choice::Plugins(vec!["life".into()]);
        let cases = [
            // (choice, plugin, from a file, scene says, isolated)
            (Choice::Marked, "life", true, None, false),
            (Choice::Marked, "life", false, Some(true), true),
            (Choice::Files, "life", true, None, true),
            (Choice::Files, "life", false, None, false),
            (Choice::Files, "life", true, Some(false), false),
            (Choice::All, "life", false, Some(false), true),
            (plugins.clone(), "life", false, Some(false), true),
            (plugins.clone(), "solid", true, None, false),
            (plugins, "solid", false, Some(true), true),
        ];
        for (choice, plugin, file, marked, isolated) in cases {
            assert_eq!(
                choice.covers(plugin, file, marked),
                isolated,
                "{choice:?} {plugin} {file} {marked:?}"
            );
        }
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Choice::from_args(&[], Choice::Files), Choice::Files);
        assert_eq!(Choice::from_args(&args(&["none"]), Choice::Files), Choice::Marked);
        assert_eq!(
            Choice::from_args(&args(&["all", "life"]), Choice::Marked),
            Choice::All
        );
        assert_eq!(
            Choice::from_args(&args(&["life"]), Choice::Marked),
            Choice::Plugins(vec!["life".into()])
        );
    }
}

/// How a run isolates instances.
#[derive(Debug, Clone, Default)]
pub struct Isolation {
    /// The `marquee` program children are started from; `None`: isolation is unavailable
    /// (a library user who never set it), and an instance asked to run isolated is an error.
    pub exe: Option<PathBuf>,
    /// Which instances run isolated.
    pub choice: Choice,
    /// Restart failed children (live runs); otherwise the first failure fails the instance
    /// (traces and verification: a frame made without it is never recorded as its frame).
    pub recover: bool,
}

/// Where a child finds `plugin`.
pub fn source(plugin: &LoadedPlugin) -> Source {
    match &plugin.origin {
        Origin::BuiltIn => Source::BuiltIn(plugin.id().to_string()),
        Origin::File(path) => Source::File(path.clone()),
    }
}

/// An isolated instance's identity: its kind, id and plugin, with how to make it.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    /// The layer or stage id.
    pub id: &'a str,
    /// The plugin.
    pub plugin: &'a LoadedPlugin,
    /// Its config as JSON text.
    pub config: &'a str,
    /// What it is created with.
    pub init: InitCtx,
}

impl Instance<'_> {
    fn spec(&self, kind: PluginKind) -> (Spec, Arc<Watch>) {
        (
            Spec {
                kind,
                source: source(self.plugin),
                config: self.config.to_string(),
                init: self.init,
            },
            Arc::new(Watch::new(kind, self.id, self.plugin.id())),
        )
    }
}

fn policy(exe: &std::path::Path, limits: Limits, recover: bool) -> Policy {
    Policy {
        exe: exe.to_path_buf(),
        limits,
        recover,
    }
}

fn frame_bytes(width: u32, height: u32) -> usize {
    width as usize * height as usize * 4
}

/// Starts an isolated renderer: the object, the layer buffer its child draws into, and its
/// watchdog record.
pub fn renderer(
    instance: &Instance<'_>,
    exe: &std::path::Path,
    limits: Limits,
    recover: bool,
) -> Result<(RendererBox, SharedMemory, Arc<Watch>), StartError> {
    let (spec, watch) = instance.spec(PluginKind::Renderer);
    let len = frame_bytes(spec.init.width, spec.init.height);
    let memory = SharedMemory::create(instance.id, len).map_err(StartError::Spawn)?;
    let fd = memory.try_clone_fd().map_err(StartError::Spawn)?;
    let (link, _) = Link::start(spec, policy(exe, limits, recover), Arc::clone(&watch), |_| Ok(fd))?;
    let object = IsolatedRenderer {
        link: Mutex::new(link),
        events: 0,
        pixels_at: memory.as_ptr() as usize,
    };
    Ok((Renderer_TO::from_value(object, TD_Opaque), memory, watch))
}

/// Starts an isolated processor: the object and its watchdog record. Its frames are copied
/// into memory shared with the child (the input, then a resized output after it).
pub fn processor(
    instance: &Instance<'_>,
    exe: &std::path::Path,
    limits: Limits,
    recover: bool,
) -> Result<(ProcessorBox, Arc<Watch>), StartError> {
    let (spec, watch) = instance.spec(PluginKind::Processor);
    let input = frame_bytes(spec.init.width, spec.init.height);
    let mut made = None;
    let (link, created) = Link::start(spec, policy(exe, limits, recover), Arc::clone(&watch), |output| {
        let out = output.map_or(0, |(w, h)| frame_bytes(w, h));
        let memory = SharedMemory::create(instance.id, input + out)?;
        let fd = memory.try_clone_fd()?;
        made = Some(memory);
        Ok(fd)
    })?;
    let object = IsolatedProcessor {
        link: Mutex::new(link),
        memory: made.expect("Link::start maps the memory"),
        output: created.output,
        events: 0,
    };
    Ok((Processor_TO::from_value(object, TD_Opaque), watch))
}

/// Starts an isolated recorder, kept in `watch` (one record may serve several instances in
/// turn: a clip recorder's).
pub fn recorder(
    instance: &Instance<'_>,
    exe: &std::path::Path,
    limits: Limits,
    recover: bool,
    watch: Arc<Watch>,
) -> Result<RecorderBox, StartError> {
    let (spec, _) = instance.spec(PluginKind::Recorder);
    let memory = SharedMemory::create(instance.id, frame_bytes(spec.init.width, spec.init.height))
        .map_err(StartError::Spawn)?;
    let fd = memory.try_clone_fd().map_err(StartError::Spawn)?;
    let (link, created) = Link::start(spec, policy(exe, limits, recover), Arc::clone(&watch), |_| Ok(fd))?;
    let object = IsolatedRecorder {
        link: Mutex::new(link),
        memory,
        about: created.about,
    };
    Ok(Recorder_TO::from_value(object, TD_Opaque))
}
