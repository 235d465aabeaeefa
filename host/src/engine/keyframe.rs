//! Keyframes: every instance's saved state, to resume a run at a given frame.

use bevy_ecs::prelude::*;
use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice};
use marquee_plugin_api::{PluginError, PluginKind};

use super::Engine;
use super::world::{Chain, Clock, Layer, LayerTarget, Order, ProcessorSlot, RendererSlot};

pub(super) fn from_result<T>(
    kind: PluginKind,
    id: &str,
    result: RResult<T, PluginError>,
) -> Result<T, KeyframeError> {
    match result {
        RResult::ROk(v) => Ok(v),
        RResult::RErr(error) => Err(KeyframeError::Plugin {
            kind,
            id: id.to_string(),
            error,
        }),
    }
}

pub(super) fn into_state(
    kind: PluginKind,
    id: &str,
    result: RResult<
        marquee_plugin_api::abi_stable::std_types::ROption<
            marquee_plugin_api::abi_stable::std_types::RVec<u8>,
        >,
        PluginError,
    >,
) -> Result<Option<Vec<u8>>, KeyframeError> {
    Ok(from_result(kind, id, result)?.into_option().map(|v| v.into_vec()))
}

/// The saved state of one plugin instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// What kind of instance.
    pub kind: PluginKind,
    /// Its id.
    pub id: String,
    /// What its `snapshot` returned (`None`: it keeps no state).
    pub state: Option<Vec<u8>>,
    /// For layers that persist between frames, their pixels.
    pub pixels: Option<Vec<u8>>,
}

/// A point a run can resume from: the next frame and every instance's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyframe {
    /// The frame the resumed run makes next.
    pub next_frame: u64,
    /// Every renderer and processor, in scene order.
    pub instances: Vec<InstanceState>,
}

/// Why a keyframe could not be taken or restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyframeError {
    /// A plugin's `snapshot` or `restore` failed.
    #[error("{kind} `{id}` could not save or restore its state: {error}")]
    Plugin {
        /// The kind of instance.
        kind: PluginKind,
        /// The instance.
        id: String,
        /// What the plugin said.
        error: PluginError,
    },
    /// The keyframe does not fit this scene.
    #[error("the keyframe does not fit this scene: {0}")]
    Mismatch(String),
}

impl Engine {
    /// Saves the state of every renderer and processor, and the pixels of persistent layers.
    pub fn keyframe(&mut self) -> Result<Keyframe, KeyframeError> {
        let next_frame = self.next_frame();
        let mut instances = Vec::new();
        let mut layers: Vec<_> = self
            .world
            .query::<(&Order, &Layer, &RendererSlot, &LayerTarget)>()
            .iter(&self.world)
            .collect();
        layers.sort_unstable_by_key(|(order, ..)| **order);
        for (_, layer, slot, target) in layers {
            let state = into_state(PluginKind::Renderer, &slot.0.id, slot.0.object.snapshot())?;
            instances.push(InstanceState {
                kind: PluginKind::Renderer,
                id: layer.id.clone(),
                state,
                pixels: layer.persist.then(|| target.pixels.to_vec()),
            });
        }
        for &entity in &self.world.resource::<Chain>().members {
            let Some(ProcessorSlot(slot)) = self.world.get::<ProcessorSlot>(entity) else {
                continue;
            };
            let state = into_state(PluginKind::Processor, &slot.id, slot.object.snapshot())?;
            instances.push(InstanceState {
                kind: PluginKind::Processor,
                id: slot.id.clone(),
                state,
                pixels: None,
            });
        }
        Ok(Keyframe {
            next_frame,
            instances,
        })
    }

    /// Restores a keyframe taken from an engine of the same scene; the next frame made is
    /// `keyframe.next_frame`.
    pub fn restore(&mut self, keyframe: &Keyframe) -> Result<(), KeyframeError> {
        let mut layers = self
            .world
            .query::<(&Layer, &mut RendererSlot, &mut LayerTarget)>();
        let mut layers: Vec<_> = layers.iter_mut(&mut self.world).collect();
        let mut processors = 0;
        for saved in &keyframe.instances {
            let missing =
                || KeyframeError::Mismatch(format!("no {} `{}` in this scene", saved.kind, saved.id));
            match saved.kind {
                PluginKind::Renderer => {
                    let (_, slot, target) = layers
                        .iter_mut()
                        .find(|(l, _, _)| l.id == saved.id)
                        .ok_or_else(missing)?;
                    if let Some(state) = &saved.state {
                        let result = slot.0.object.restore(RSlice::from_slice(state));
                        from_result(PluginKind::Renderer, &saved.id, result)?;
                    }
                    if let Some(pixels) = &saved.pixels {
                        if pixels.len() != target.pixels.len() {
                            return Err(KeyframeError::Mismatch(format!(
                                "layer `{}` changed size",
                                saved.id
                            )));
                        }
                        target.pixels.copy_from_slice(pixels);
                    }
                }
                PluginKind::Processor => processors += 1,
                PluginKind::Recorder => return Err(missing()),
            }
        }
        let mut chain = self.world.query::<&mut ProcessorSlot>();
        let present = chain.iter(&self.world).count();
        if processors != present {
            return Err(KeyframeError::Mismatch(format!(
                "{processors} processors saved, {present} in this scene"
            )));
        }
        for saved in keyframe
            .instances
            .iter()
            .filter(|s| s.kind == PluginKind::Processor)
        {
            let mut slot = chain
                .iter_mut(&mut self.world)
                .find(|s| s.0.id == saved.id)
                .ok_or_else(|| {
                    KeyframeError::Mismatch(format!("no processor `{}` in this scene", saved.id))
                })?;
            if let Some(state) = &saved.state {
                let result = slot.0.object.restore(RSlice::from_slice(state));
                from_result(PluginKind::Processor, &saved.id, result)?;
            }
        }
        let mut clock = self.world.resource_mut::<Clock>();
        clock.next = keyframe.next_frame;
        Ok(())
    }
}
