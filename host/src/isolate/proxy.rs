//! Isolated instances as the engine sees them: objects of the three plugin traits whose every
//! call goes through a [`Link`] to the child that holds the real instance. The engine drives
//! them exactly as in-process instances; only a frame made while the child is down differs
//! (a transparent layer, a skipped processor, a dropped recorder frame), counted.

use std::sync::Mutex;

use marquee_plugin_api::abi_stable::std_types::{ROption, RResult, RSlice, RSliceMut, RString, RVec};
use marquee_plugin_api::{
    Canvas, Counter, Events, FrameCtx, FrameMeta, PluginError, Processor, Recorder, Renderer, Size,
};

use super::link::{Link, Outcome};
use super::shm::SharedMemory;
use super::wire::{Reply, Request};

/// What an answer means for a call that expects `Ok`: the events, `None` if the instance is
/// down, or the error.
fn settle(outcome: Outcome) -> Result<Option<u32>, PluginError> {
    match outcome {
        Outcome::Reply(Reply::Ok(events)) => Ok(Some(events)),
        Outcome::Reply(Reply::Err(e)) => Err(e),
        Outcome::Reply(other) => Err(PluginError::frame(format!(
            "its process answered a call with {other:?}"
        ))),
        Outcome::Down => Ok(None),
        Outcome::Failed(e) => Err(e),
    }
}

fn rresult<T>(r: Result<T, PluginError>) -> RResult<T, PluginError> {
    r.into()
}

/// A frame's call through `link` (frame `index`): the events, `None` when the child is down
/// (the frame is counted missed), or the error.
fn frame_call(link: &mut Mutex<Link>, index: u64, request: &Request) -> Result<Option<u32>, PluginError> {
    let link = link.get_mut().unwrap_or_else(|e| e.into_inner());
    link.frame = index;
    let result = settle(link.call(request, false));
    if let Ok(None) = result {
        link.watch().missed();
    }
    result
}

/// A state call through `link`: the child's answer, else the last state kept.
fn snapshot(link: &Mutex<Link>) -> RResult<ROption<RVec<u8>>, PluginError> {
    let mut link = link.lock().unwrap_or_else(|e| e.into_inner());
    match link.call(&Request::Snapshot, false) {
        Outcome::Reply(Reply::State(s)) => {
            link.keep_snapshot(s.clone());
            RResult::ROk(s.map(RVec::from).into())
        }
        Outcome::Reply(Reply::Err(e)) | Outcome::Failed(e) => RResult::RErr(e),
        _ => RResult::ROk(link.snapshot().map(|s| RVec::from(s.to_vec())).into()),
    }
}

fn restore(link: &mut Mutex<Link>, state: RSlice<'_, u8>) -> RResult<(), PluginError> {
    let link = link.get_mut().unwrap_or_else(|e| e.into_inner());
    link.keep_snapshot(Some(state.to_vec()));
    rresult(settle(link.call(&Request::Restore(state.to_vec()), false)).map(drop))
}

fn counters(link: &Mutex<Link>) -> RVec<Counter> {
    let mut link = link.lock().unwrap_or_else(|e| e.into_inner());
    match link.call(&Request::Counters, false) {
        Outcome::Reply(Reply::Counters(list)) => list
            .into_iter()
            .map(|(name, value)| Counter {
                name: name.into(),
                value,
            })
            .collect(),
        _ => RVec::new(),
    }
}

/// An isolated renderer: its child draws straight into the layer's shared buffer.
pub struct IsolatedRenderer {
    pub(super) link: Mutex<Link>,
    pub(super) events: u32,
    /// Where that buffer is mapped in this process: the canvas `render` is given must be it.
    pub(super) pixels_at: usize,
}

impl Renderer for IsolatedRenderer {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> RResult<(), PluginError> {
        debug_assert_eq!(
            canvas.pixels().as_ptr() as usize,
            self.pixels_at,
            "an isolated renderer draws only into its layer's shared buffer"
        );
        match frame_call(&mut self.link, ctx.index, &Request::Render(*ctx)) {
            Ok(Some(events)) => {
                self.events = events;
                RResult::ROk(())
            }
            Ok(None) => {
                // Down: whatever a dying child left half drawn is not shown.
                canvas.pixels().fill(0);
                RResult::ROk(())
            }
            Err(e) => RResult::RErr(e),
        }
    }

    fn snapshot(&self) -> RResult<ROption<RVec<u8>>, PluginError> {
        snapshot(&self.link)
    }

    fn restore(&mut self, state: RSlice<'_, u8>) -> RResult<(), PluginError> {
        restore(&mut self.link, state)
    }

    fn counters(&self) -> RVec<Counter> {
        counters(&self.link)
    }

    fn events(&mut self) -> Events {
        Events(std::mem::take(&mut self.events))
    }
}

/// An isolated processor: the frame is copied into memory shared with its child and back.
pub struct IsolatedProcessor {
    pub(super) link: Mutex<Link>,
    pub(super) memory: SharedMemory,
    pub(super) output: Option<(u32, u32)>,
    pub(super) events: u32,
}

impl Processor for IsolatedProcessor {
    fn process(&mut self, ctx: &FrameCtx, mut frame: RSliceMut<'_, u8>) -> RResult<(), PluginError> {
        let n = frame.len();
        let Some(shared) = self.memory.get_mut(..n) else {
            return RResult::RErr(PluginError::frame("the frame does not fit the shared memory"));
        };
        shared.copy_from_slice(&frame);
        match frame_call(&mut self.link, ctx.index, &Request::Process(*ctx)) {
            Ok(Some(events)) => {
                frame.copy_from_slice(&self.memory[..n]);
                self.events = events;
                RResult::ROk(())
            }
            // Down: the frame goes on unprocessed.
            Ok(None) => RResult::ROk(()),
            Err(e) => RResult::RErr(e),
        }
    }

    fn snapshot(&self) -> RResult<ROption<RVec<u8>>, PluginError> {
        snapshot(&self.link)
    }

    fn restore(&mut self, state: RSlice<'_, u8>) -> RResult<(), PluginError> {
        restore(&mut self.link, state)
    }

    fn output_size(&self) -> ROption<Size> {
        self.output.map(|(width, height)| Size { width, height }).into()
    }

    fn process_into(
        &mut self,
        ctx: &FrameCtx,
        src: RSlice<'_, u8>,
        mut dst: RSliceMut<'_, u8>,
    ) -> RResult<(), PluginError> {
        let (n, m) = (src.len(), dst.len());
        if self.memory.len() < n + m {
            return RResult::RErr(PluginError::frame("the frames do not fit the shared memory"));
        }
        self.memory[..n].copy_from_slice(&src);
        match frame_call(&mut self.link, ctx.index, &Request::ProcessInto(*ctx)) {
            Ok(Some(events)) => {
                dst.copy_from_slice(&self.memory[n..n + m]);
                self.events = events;
                RResult::ROk(())
            }
            Ok(None) => {
                // Down: nothing can stand for a resized frame; it is transparent.
                dst.fill(0);
                RResult::ROk(())
            }
            Err(e) => RResult::RErr(e),
        }
    }

    fn events(&mut self) -> Events {
        Events(std::mem::take(&mut self.events))
    }
}

/// An isolated recorder: each frame is copied into memory shared with its child.
pub struct IsolatedRecorder {
    pub(super) link: Mutex<Link>,
    pub(super) memory: SharedMemory,
    pub(super) about: String,
}

impl Recorder for IsolatedRecorder {
    fn record(&mut self, meta: &FrameMeta, frame: RSlice<'_, u8>) -> RResult<(), PluginError> {
        let n = frame.len();
        let Some(shared) = self.memory.get_mut(..n) else {
            return RResult::RErr(PluginError::frame("the frame does not fit the shared memory"));
        };
        shared.copy_from_slice(&frame);
        // Down: the frame is dropped (and counted).
        rresult(frame_call(&mut self.link, meta.index, &Request::Record(*meta)).map(drop))
    }

    fn finish(&mut self) -> RResult<(), PluginError> {
        let link = self.link.get_mut().unwrap_or_else(|e| e.into_inner());
        let missed = link.watch().counts().missed;
        match settle(link.call(&Request::Finish, true)) {
            Ok(Some(_)) if missed == 0 => RResult::ROk(()),
            Ok(Some(_)) => RResult::RErr(PluginError::frame(format!(
                "finished, but {missed} frame(s) were dropped while its process was down"
            ))),
            Ok(None) => RResult::RErr(PluginError::frame(
                "its process was down at the end: what it recorded since its last start is incomplete",
            )),
            Err(e) => RResult::RErr(e),
        }
    }

    fn trigger(&mut self, meta: &FrameMeta) -> RResult<(), PluginError> {
        let link = self.link.get_mut().unwrap_or_else(|e| e.into_inner());
        rresult(settle(link.call(&Request::Trigger(*meta), false)).map(drop))
    }

    fn describe(&self) -> RString {
        self.about.as_str().into()
    }

    fn counters(&self) -> RVec<Counter> {
        counters(&self.link)
    }
}
