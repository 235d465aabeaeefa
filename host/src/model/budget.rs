//! The memory budget of a scene's frame buffers: what the host allocates for a scene, added up
//! and checked against [`MEMORY_BUDGET`] at load, before any plugin is created.

use crate::model::scene::{CanvasSpec, LayerSpec, RecorderSpec, Scene};

/// The most memory one scene's frame buffers may take, in bytes: 4 GiB. Counted are the
/// composited frame, every layer's buffer, every resizing processor's output, every recorder's
/// queue (frames of the final size) and the frames a live output holds. A show in a transition
/// holds two scenes.
pub const MEMORY_BUDGET: u64 = 4 << 30;

/// Frame buffers a live output holds (its handoff's): two frames waiting, the one being shown
/// and the one being filled.
pub const OUTPUT_BUFFERS: usize = 4;

/// A scene's frame buffers, in bytes, by what holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Buffers {
    /// The composited frame.
    pub canvas: u64,
    /// Every layer's buffer.
    pub layers: u64,
    /// The outputs of processors that resize.
    pub processors: u64,
    /// Every recorder's queue, and clip recorders' rings.
    pub recorders: u64,
    /// Frames held for a live output.
    pub output: u64,
}

/// The scene needs more than [`MEMORY_BUDGET`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this scene's frame buffers need {} MiB, more than the {} MiB budget (canvas {} MiB, layers {} MiB, resizing processors {} MiB, recorder queues and clip rings {} MiB, output {} MiB)",
    mib(buffers.total()),
    mib(MEMORY_BUDGET),
    mib(buffers.canvas),
    mib(buffers.layers),
    mib(buffers.processors),
    mib(buffers.recorders),
    mib(buffers.output)
)]
pub struct OverBudget {
    /// What was counted.
    pub buffers: Buffers,
}

impl OverBudget {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        "use a smaller canvas, fewer or smaller (mode = \"rect\" or \"mirrored\") layers, a shorter recorder `queue` or a shorter `clips` pre-roll"
    }
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

fn rgba(width: u32, height: u32) -> u64 {
    width as u64 * height as u64 * 4
}

impl Buffers {
    /// The buffers of a scene with `canvas`, `layers` and `recorders`, whose processors resize
    /// into `resized` (each output's size) and end at frames of `final_size`.
    pub fn of(
        canvas: &CanvasSpec,
        layers: &[LayerSpec],
        resized: &[(u32, u32)],
        final_size: (u32, u32),
        (recorders, fps): (&[RecorderSpec], f64),
    ) -> Buffers {
        let frame = rgba(final_size.0, final_size.1);
        let surface = |l: &LayerSpec| {
            let (w, h) = Scene::surface_of(canvas, l.placement);
            rgba(w, h)
        };
        Buffers {
            canvas: rgba(canvas.width, canvas.height),
            layers: layers.iter().map(surface).sum(),
            processors: resized.iter().map(|&(w, h)| rgba(w, h)).sum(),
            recorders: recorders.iter().map(|r| r.held_frames(fps) as u64 * frame).sum(),
            output: OUTPUT_BUFFERS as u64 * frame,
        }
    }

    /// Everything counted.
    pub fn total(&self) -> u64 {
        self.canvas + self.layers + self.processors + self.recorders + self.output
    }

    /// Refuses buffers over [`MEMORY_BUDGET`].
    pub fn check(self) -> Result<Buffers, OverBudget> {
        if self.total() > MEMORY_BUDGET {
            return Err(OverBudget { buffers: self });
        }
        Ok(self)
    }
}
