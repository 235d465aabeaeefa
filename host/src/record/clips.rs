//! Clips around triggers, for any recorder: a fixed ring of the last frames in front of it and,
//! on each trigger, a fresh instance of that recorder (from whichever plugin provides it, a `.so`
//! that replaces a built-in included) fed the pre-roll, then the frames that follow, then
//! finished. `{clip}` in the recorder's output paths becomes the clip's number.
//!
//! The ring is sized once, from the frame rate: `P = round(pre_roll_ms × fps / 1000)` frames of
//! pre-roll plus one for the trigger's own frame (a trigger delivered after its frame still
//! finds it), allocated at creation and counted in the scene's memory budget; it never grows. A
//! trigger at frame `T` starts a clip at frame `T − P` (or the oldest frame held, early in a run)
//! that runs through frame `T + Q`, `Q = round(post_roll_ms × fps / 1000)`. A trigger while a clip
//! is being written extends it to its own `T + Q` instead of starting another, and a clip never
//! repeats frames an earlier clip holds.

use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice, RString, RVec};
use marquee_plugin_api::{Counter, FrameMeta, PluginError, Recorder, RecorderBox};

use crate::model::recording::ClipSpec;

/// A fixed ring of frames: `capacity` buffers allocated at creation, oldest overwritten.
pub struct Ring {
    frames: Vec<(FrameMeta, Vec<u8>)>,
    /// Index of the oldest held frame.
    head: usize,
    len: usize,
}

impl Ring {
    /// `capacity` frames of `bytes` each, allocated now.
    pub fn new(capacity: usize, bytes: usize) -> Ring {
        let meta = FrameMeta {
            index: 0,
            time: 0.0,
            fps: 1.0,
            width: 0,
            height: 0,
        };
        Ring {
            frames: (0..capacity).map(|_| (meta, vec![0u8; bytes])).collect(),
            head: 0,
            len: 0,
        }
    }

    /// Frames it can hold.
    pub fn capacity(&self) -> usize {
        self.frames.len()
    }

    /// Frames it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `frame` in, over the oldest when full.
    pub fn push(&mut self, meta: &FrameMeta, frame: &[u8]) {
        let cap = self.frames.len();
        if cap == 0 {
            return;
        }
        let at = (self.head + self.len) % cap;
        let slot = &mut self.frames[at];
        slot.0 = *meta;
        slot.1.clear();
        slot.1.extend_from_slice(frame);
        if self.len == cap {
            self.head = (self.head + 1) % cap;
        } else {
            self.len += 1;
        }
    }

    /// The held frames, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(FrameMeta, Vec<u8>)> {
        let cap = self.frames.len();
        (0..self.len).map(move |k| &self.frames[(self.head + k) % cap])
    }
}

/// Makes the recorder instance that writes clip `n` (its output paths resolved for `n`).
pub type OpenClip = Box<dyn FnMut(u64) -> Result<RecorderBox, PluginError> + Send + Sync>;

/// The clip being written.
struct Clip {
    writer: RecorderBox,
    /// Its last frame.
    end: u64,
    /// The last frame written to it.
    last: Option<u64>,
}

/// A recorder that writes clips around triggers through instances of another recorder.
pub struct ClipRecorder {
    ring: Ring,
    pre: u64,
    post: u64,
    open: OpenClip,
    /// The instance for the next clip, made ahead so a trigger starts writing at once (the
    /// first one when the scene loads, so a recorder that cannot start refuses the scene; each
    /// next one when a clip closes).
    next: Option<RecorderBox>,
    /// What the first instance said about itself.
    first_describe: String,
    clip: Option<Clip>,
    /// The last frame of the last clip written.
    last_end: Option<u64>,
    clips: u64,
    triggers: u64,
    extended: u64,
    clip_frames: u64,
}

impl ClipRecorder {
    /// Clips of `spec` at `fps` for frames of `frame_bytes`, written by instances `open` makes;
    /// clip 1's instance is made now, so an error refuses the scene.
    pub fn create(
        spec: ClipSpec,
        fps: f64,
        frame_bytes: usize,
        mut open: OpenClip,
    ) -> Result<Self, PluginError> {
        let first = open(1)?;
        Ok(ClipRecorder {
            ring: Ring::new(spec.ring_frames(fps), frame_bytes),
            pre: ClipSpec::frames(spec.pre_roll_ms, fps),
            post: ClipSpec::frames(spec.post_roll_ms, fps),
            first_describe: first.describe().to_string(),
            next: Some(first),
            open,
            clip: None,
            last_end: None,
            clips: 0,
            triggers: 0,
            extended: 0,
            clip_frames: 0,
        })
    }

    /// The ring (for tests).
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    fn write(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        let Some(clip) = &mut self.clip else { return Ok(()) };
        if clip.last.is_some_and(|l| meta.index <= l) || meta.index > clip.end {
            return Ok(());
        }
        clip.writer
            .record(meta, RSlice::from_slice(frame))
            .into_result()?;
        clip.last = Some(meta.index);
        self.clip_frames += 1;
        if meta.index >= clip.end {
            self.close(true)?;
        }
        Ok(())
    }

    /// Finishes the clip being written, if any, and (`make_next`) makes the next clip's
    /// instance ahead.
    fn close(&mut self, make_next: bool) -> Result<(), PluginError> {
        if let Some(mut clip) = self.clip.take() {
            self.last_end = clip.last.or(self.last_end);
            clip.writer.finish().into_result()?;
            if make_next && self.next.is_none() {
                self.next = Some((self.open)(self.clips + 1)?);
            }
        }
        Ok(())
    }

    fn start(&mut self, meta: &FrameMeta) -> Result<(), PluginError> {
        let mut start = meta.index.saturating_sub(self.pre);
        if let Some(last) = self.last_end {
            start = start.max(last + 1);
        }
        self.clips += 1;
        let writer = match self.next.take() {
            Some(made) => made,
            None => (self.open)(self.clips)?,
        };
        self.clip = Some(Clip {
            writer,
            end: meta.index + self.post,
            last: None,
        });
        // The pre-roll: held frames from `start` on, oldest first. The ring is taken out while
        // they are written (writing borrows `self`) and put back whatever happens.
        let ring = std::mem::replace(&mut self.ring, Ring::new(0, 0));
        let mut result = Ok(());
        for (m, pixels) in ring.iter().filter(|(m, _)| m.index >= start) {
            result = self.write(m, pixels);
            if result.is_err() || self.clip.is_none() {
                break;
            }
        }
        self.ring = ring;
        result
    }
}

impl Recorder for ClipRecorder {
    fn record(&mut self, meta: &FrameMeta, frame: RSlice<'_, u8>) -> RResult<(), PluginError> {
        let result = (|| {
            if let Some(clip) = &self.clip
                && meta.index > clip.end
            {
                // Frames up to the end were dropped before reaching us: the clip ends here.
                self.close(true)?;
            }
            self.ring.push(meta, frame.as_slice());
            self.write(meta, frame.as_slice())
        })();
        result.into()
    }

    fn finish(&mut self) -> RResult<(), PluginError> {
        // A clip still open keeps what it has; an instance made ahead and never used is dropped
        // unfinished, which abandons its temporary files.
        self.next = None;
        self.close(false).into()
    }

    fn trigger(&mut self, meta: &FrameMeta) -> RResult<(), PluginError> {
        self.triggers += 1;
        if let Some(clip) = &mut self.clip {
            clip.end = clip.end.max(meta.index + self.post);
            self.extended += 1;
            return RResult::ROk(());
        }
        self.start(meta).into()
    }

    fn describe(&self) -> RString {
        let frame_bytes = self.ring.frames.first().map_or(0, |f| f.1.len());
        serde_json::json!({
            "ring_frames": self.ring.capacity(),
            "ring_bytes": self.ring.capacity() * frame_bytes,
            "pre_roll_frames": self.pre,
            "post_roll_frames": self.post,
            "clips": serde_json::from_str::<serde_json::Value>(&self.first_describe).unwrap_or_default(),
        })
        .to_string()
        .into()
    }

    fn counters(&self) -> RVec<Counter> {
        [
            ("held", self.ring.len() as u64),
            ("capacity", self.ring.capacity() as u64),
            ("triggers", self.triggers),
            ("extended", self.extended),
            ("clips", self.clips),
            ("clip_frames", self.clip_frames),
        ]
        .into_iter()
        .map(|(name, value)| Counter {
            name: name.into(),
            value,
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use marquee_plugin_api::abi_stable::sabi_trait::TD_Opaque;
    use marquee_plugin_api::module::Recorder_TO;

    use super::*;

    const FPS: f64 = 50.0;

    /// What the clip instances received: per clip number, the frame indices and whether it
    /// was finished.
    type Log = Arc<Mutex<Vec<(Vec<u64>, bool)>>>;

    /// A recorder instance that logs the frames it gets into its clip's entry.
    struct Logger {
        log: Log,
        n: usize,
    }

    impl Recorder for Logger {
        fn record(&mut self, meta: &FrameMeta, frame: RSlice<'_, u8>) -> RResult<(), PluginError> {
            assert_eq!(frame.as_slice(), &pixels(meta.index)[..], "frame {}", meta.index);
            self.log.lock().unwrap()[self.n - 1].0.push(meta.index);
            RResult::ROk(())
        }
        fn finish(&mut self) -> RResult<(), PluginError> {
            self.log.lock().unwrap()[self.n - 1].1 = true;
            RResult::ROk(())
        }
    }

    fn meta(index: u64) -> FrameMeta {
        FrameMeta {
            index,
            time: index as f64 / FPS,
            fps: FPS,
            width: 2,
            height: 2,
        }
    }

    fn pixels(index: u64) -> Vec<u8> {
        (0..16)
            .map(|k| (index as u8).wrapping_mul(3).wrapping_add(k))
            .collect()
    }

    /// Clips of `pre_ms` and `post_ms` at 50 fps, logging what each instance gets.
    fn clips(pre_ms: u64, post_ms: u64) -> (ClipRecorder, Log) {
        let log: Log = Arc::default();
        let made = Arc::clone(&log);
        let open: OpenClip = Box::new(move |n| {
            let mut list = made.lock().unwrap();
            assert_eq!(list.len() as u64 + 1, n, "clips are numbered in order");
            list.push((Vec::new(), false));
            Ok(Recorder_TO::from_value(
                Logger {
                    log: Arc::clone(&made),
                    n: n as usize,
                },
                TD_Opaque,
            ))
        });
        let spec = ClipSpec {
            pre_roll_ms: pre_ms,
            post_roll_ms: post_ms,
        };
        (ClipRecorder::create(spec, FPS, 16, open).unwrap(), log)
    }

    fn run(c: &mut ClipRecorder, frames: std::ops::Range<u64>, triggers: &[u64]) {
        for i in frames {
            if triggers.contains(&i) {
                c.trigger(&meta(i)).unwrap();
            }
            c.record(&meta(i), RSlice::from_slice(&pixels(i))).unwrap();
        }
    }

    fn counter(c: &ClipRecorder, name: &str) -> u64 {
        c.counters()
            .iter()
            .find(|k| k.name.as_str() == name)
            .unwrap()
            .value
    }

    #[test]
    fn the_ring_holds_exactly_the_window_and_never_more() {
        // 200 ms at 50 fps: 10 frames of pre-roll, plus the trigger's own frame.
        let (mut c, _) = clips(200, 0);
        assert_eq!(c.ring().capacity(), 11);
        run(&mut c, 0..5, &[]);
        assert_eq!(c.ring().len(), 5);
        run(&mut c, 5..500, &[]);
        assert_eq!(c.ring().len(), 11);
        let held: Vec<u64> = c.ring().iter().map(|(m, _)| m.index).collect();
        assert_eq!(held, (489..500).collect::<Vec<_>>());
        assert!(c.ring().iter().all(|(m, px)| *px == pixels(m.index)));
    }

    #[test]
    fn a_clip_starts_pre_roll_before_the_trigger_and_runs_post_roll_after() {
        let (mut c, log) = clips(200, 100);
        run(&mut c, 0..100, &[60]);
        c.finish().unwrap();
        // 200 ms = 10 frames before frame 60, 100 ms = 5 frames after it.
        let log = log.lock().unwrap();
        // Clip 2's instance was made ahead when clip 1 closed, and dropped unfinished.
        assert_eq!(*log, vec![((50..=65).collect(), true), (Vec::new(), false)]);
        assert_eq!(counter(&c, "clips"), 1);
    }

    #[test]
    fn overlapping_triggers_extend_the_clip_and_clips_never_share_frames() {
        let (mut c, log) = clips(200, 100);
        // 60 and 63 overlap (one clip to 68); 72 comes after that clip ended, its pre-roll
        // reaching back into it (a second clip from 69); 150 stands alone.
        run(&mut c, 0..200, &[60, 63, 72, 150]);
        c.finish().unwrap();
        let log = log.lock().unwrap();
        let clips: Vec<Vec<u64>> = log.iter().take(3).map(|(f, _)| f.clone()).collect();
        assert_eq!(
            clips,
            vec![
                (50..=68).collect::<Vec<_>>(),
                (69..=77).collect(),
                (140..=155).collect()
            ]
        );
        assert!(log.iter().take(3).all(|(_, finished)| *finished));
        // Clip 4's instance was made ahead and is dropped unfinished: it wrote nothing.
        assert_eq!(log.get(3), Some(&(Vec::new(), false)));
        assert_eq!(
            (
                counter(&c, "triggers"),
                counter(&c, "extended"),
                counter(&c, "clips")
            ),
            (4, 1, 3)
        );
    }

    #[test]
    fn a_trigger_early_in_a_run_takes_what_there_is() {
        let (mut c, log) = clips(200, 40);
        run(&mut c, 0..2, &[]);
        run(&mut c, 2..10, &[2]);
        c.finish().unwrap();
        assert_eq!(log.lock().unwrap()[0], ((0..=4).collect(), true));
        assert_eq!(log.lock().unwrap().len(), 2, "the next instance is made ahead");
    }

    #[test]
    fn an_unused_first_instance_is_dropped_unfinished() {
        let (mut c, log) = clips(200, 40);
        run(&mut c, 0..30, &[]);
        c.finish().unwrap();
        assert_eq!(*log.lock().unwrap(), vec![(Vec::new(), false)]);
    }
}
