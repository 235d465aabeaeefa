//! The engine's components and resources: what a running scene's world holds.

use std::time::Duration;

use bevy_ecs::prelude::*;
use marquee_plugin_api::{DrawQueue, PluginError, PluginKind, RendererBox};

use super::instances::Slot;
use crate::model::scene::{Blend, Placement};
use crate::record::thread::RecorderThread;

/// Which frame is being made.
#[derive(Debug, Resource, Clone, Copy)]
pub struct Clock {
    /// Index of the current frame.
    pub index: u64,
    /// Index of the next frame to make.
    pub next: u64,
    /// Frames per second.
    pub fps: f64,
}

/// How a layer is composited. Layers are entities with this, a [`RendererSlot`] and a [`LayerTarget`].
#[derive(Debug, Component, Clone)]
pub struct Layer {
    /// The layer's id.
    pub id: String,
    /// Blend mode.
    pub blend: Blend,
    /// Opacity, 0 to 1.
    pub opacity: f32,
    /// Where it draws.
    pub placement: Placement,
    /// Keep pixels between frames.
    pub persist: bool,
}

/// The renderer of a layer.
#[derive(Component, Debug)]
pub struct RendererSlot(pub Slot<RendererBox>);

/// A layer's pixels and queued draw commands.
#[derive(Component, Debug)]
pub struct LayerTarget {
    /// Surface width.
    pub width: u32,
    /// Surface height.
    pub height: u32,
    /// RGBA8 pixels.
    pub pixels: Vec<u8>,
    /// Commands queued by the renderer this frame.
    pub queue: DrawQueue,
}

/// How long each [`FrameSet`](super::FrameSet) took in the last frame, in set order (Tick first). Each set's
/// system measures itself; [`Engine::step`](super::Engine::step) measures the whole frame.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct SetTimes(pub [Duration; 6]);

/// The names of the [`FrameSet`](super::FrameSet)s in [`SetTimes`] order, as metrics print them.
pub const SET_NAMES: [&str; 6] = ["tick", "render", "composite", "process", "output", "metrics"];

/// How long a layer's renderer took in the last frame (drawing and its queued commands).
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct RenderTime(pub Duration);

/// Layer entities, bottom first.
#[derive(Resource, Debug, Default)]
pub struct LayerOrder(pub Vec<Entity>);

/// The recorders, each on a thread of its own behind a bounded queue.
#[derive(Resource, Debug, Default)]
pub struct Recorders(pub Vec<Slot<RecorderThread>>);

/// Whether recorders receive frames now (live runs toggle it; on by default).
#[derive(Resource, Debug, Clone, Copy)]
pub struct Recording(pub bool);

/// Clip triggers: asked for from outside ([`Engine::trigger`](super::Engine::trigger)) or raised by plugins
/// ([`Events::TRIGGER`](marquee_plugin_api::Events::TRIGGER)); delivered to every recorder before the frame they belong to.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct Triggers {
    /// A trigger asked for since the last frame.
    pub requested: bool,
    /// Triggers delivered so far.
    pub delivered: u64,
}

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

/// Failures not yet taken by the driver.
#[derive(Resource, Debug, Default)]
pub struct Failures(pub Vec<Failure>);

/// Frames made so far.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Completed frames.
    pub frames: u64,
}

/// Worker threads for the schedule and for rendering layers.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Threads(pub usize);
