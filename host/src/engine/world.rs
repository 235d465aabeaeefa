//! The engine's components and resources: what a running scene's world holds.
//!
//! Every plugin instance is an entity: a layer (`Layer`, `Order`, `RendererSlot`, `LayerTarget`,
//! `RenderTime`), a processor (`Order`, `ProcessorSlot`) or a recorder (`Order`, `RecorderSlot`).
//! Order is a component: positions `0..n` within each kind, rewritten by every build or reload.

use std::time::Duration;

use bevy_ecs::prelude::*;
use marquee_plugin_api::{DrawQueue, ProcessorBox, RendererBox};

use super::report::Failure;

use super::chain::Processors;
use super::instances::Slot;
use super::schedule::FrameSet;
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

/// An instance's position among those of its kind: layers bottom first, processors in chain
/// order, recorders in scene order. Dense (`0..n`) after every build or reload.
#[derive(Debug, Component, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Order(pub u32);

/// How a layer is composited. Layers are entities with this, an [`Order`], a [`RendererSlot`],
/// a [`LayerTarget`] and a [`RenderTime`].
#[derive(Debug, Component, Clone, PartialEq)]
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

/// A processor of the chain; the [`Chain`] resource says how the processors run.
#[derive(Component, Debug)]
pub struct ProcessorSlot(pub Slot<ProcessorBox>);

/// A recorder, on a thread of its own behind a bounded queue.
#[derive(Component, Debug)]
pub struct RecorderSlot(pub Slot<RecorderThread>);

/// The processor chain as planned when the scene was built or reloaded: how its members run,
/// and the members (processor entities) in [`Order`].
#[derive(Resource, Debug, Default)]
pub struct Chain {
    /// The passes and their buffers.
    pub plan: Processors,
    /// The processor entities, in chain order: the plan's positions index this.
    pub members: Vec<Entity>,
}

/// A layer's pixels and queued draw commands.
#[derive(Component, Debug)]
pub struct LayerTarget {
    /// Surface width.
    pub width: u32,
    /// Surface height.
    pub height: u32,
    /// RGBA8 pixels: on the heap, or shared with the child process of an isolated renderer.
    pub pixels: crate::isolate::shm::Pixels,
    /// Commands queued by the renderer this frame.
    pub queue: DrawQueue,
}

/// How long each [`FrameSet`] took in the last frame, indexed by the set. Each set's system
/// measures itself; [`Engine::step`](super::Engine::step) measures the whole frame.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq)]
pub struct SetTimes([Duration; FrameSet::ALL.len()]);

impl std::ops::Index<FrameSet> for SetTimes {
    type Output = Duration;
    fn index(&self, set: FrameSet) -> &Duration {
        &self.0[set as usize]
    }
}

impl std::ops::IndexMut<FrameSet> for SetTimes {
    fn index_mut(&mut self, set: FrameSet) -> &mut Duration {
        &mut self.0[set as usize]
    }
}

impl SetTimes {
    /// Each set with its time, in run order.
    pub fn iter(&self) -> impl Iterator<Item = (FrameSet, Duration)> + '_ {
        FrameSet::ALL.into_iter().map(|set| (set, self[set]))
    }
}

/// How long a layer's renderer took in the last frame (drawing and its queued commands).
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct RenderTime(pub Duration);

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
