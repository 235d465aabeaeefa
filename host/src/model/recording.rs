//! What a scene asks of a recorder besides its plugin's config: its queue (how many frames, and
//! what happens when it is full) and clips around triggers. Read by scene validation, counted
//! by the memory budget, carried out by `record/`.

use serde::Deserialize;

/// What the render thread does when a recorder's queue is full. A scene that does not say
/// gets `Drop` in real-time runs (frames paced by the clock) and `Wait` otherwise (unpaced
/// offline renders, an engine stepped by a program).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhenFull {
    /// Drop the frame and count it: the render loop never waits for a disk or an encoder.
    Drop,
    /// Wait for the recorder: every frame is kept and rendering slows to the recorder's pace.
    Wait,
}

/// A recorder's queue: how many frames it may hold, and what happens beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    /// Frames queued or being recorded at most (each a buffer of the frame's size).
    pub frames: usize,
    /// What to do when all of them are taken; `None`: as suits the run (see [`WhenFull`]).
    pub when_full: Option<WhenFull>,
}

impl QueueSpec {
    /// Frames a recorder queues unless its scene says otherwise.
    pub const DEFAULT_FRAMES: usize = 8;
    /// The most frames a scene may ask for (a bound on memory: 64 frames of 1080p are 530 MB).
    pub const MAX_FRAMES: usize = 64;

    /// The frame buffers a recorder's pool holds for `frames` asked for: 1 to [`Self::MAX_FRAMES`].
    pub fn buffers(frames: usize) -> usize {
        frames.clamp(1, QueueSpec::MAX_FRAMES)
    }
}

impl Default for QueueSpec {
    fn default() -> Self {
        QueueSpec {
            frames: QueueSpec::DEFAULT_FRAMES,
            when_full: None,
        }
    }
}
/// The placeholder in a clip recorder's output paths for the clip's number.
pub const PLACEHOLDER: &str = "{clip}";

/// The file name of clip `n` from an output path containing [`PLACEHOLDER`].
pub fn clip_path(raw: &str, n: u64) -> String {
    raw.replace(PLACEHOLDER, &format!("{n:04}"))
}

/// What a scene's `clips = { ... }` asks of a recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipSpec {
    /// Milliseconds kept before a trigger.
    #[serde(default = "ClipSpec::default_pre")]
    #[schemars(range(max = ClipSpec::MAX_PRE_ROLL_MS))]
    pub pre_roll_ms: u64,
    /// Milliseconds recorded after it.
    #[serde(default = "ClipSpec::default_post")]
    #[schemars(range(max = ClipSpec::MAX_POST_ROLL_MS))]
    pub post_roll_ms: u64,
}

impl ClipSpec {
    /// The longest pre-roll (ten minutes; the memory budget usually says less).
    pub const MAX_PRE_ROLL_MS: u64 = 600_000;
    /// The longest post-roll (an hour).
    pub const MAX_POST_ROLL_MS: u64 = 3_600_000;

    fn default_pre() -> u64 {
        3000
    }

    fn default_post() -> u64 {
        2000
    }

    /// Frames in `ms` milliseconds at `fps`.
    pub fn frames(ms: u64, fps: f64) -> u64 {
        (ms as f64 * fps / 1000.0).round() as u64
    }

    /// The frames the ring holds at `fps`: the pre-roll and the trigger's own frame.
    pub fn ring_frames(&self, fps: f64) -> usize {
        Self::frames(self.pre_roll_ms, fps) as usize + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_numbers_go_into_the_placeholder() {
        assert_eq!(clip_path("clips/c-{clip}.mp4", 7), "clips/c-0007.mp4");
        assert_eq!(clip_path("p-{clip}/f-{n}.png", 12), "p-0012/f-{n}.png");
    }
}
