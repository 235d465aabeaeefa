//! The processor chain, built like a pipeline: planned once when the scene is built (which
//! processors fuse into one per-pixel pass, which run alone, which resize), run per frame.

use marquee_plugin_api::abi_stable::std_types::{ROption, RResult, RSlice, RSliceMut};
use marquee_plugin_api::{FrameCtx, InitCtx, PixelOp, PluginError, PluginKind, ProcessorBox};

use super::EngineOptions;
use super::instances::{Slot, instance, instance_seed, isolated, plugin_error, start_error};
use crate::compose::accumulator::Accumulator;
use crate::isolate;
use crate::model::scene::{MAX_FRAME_BYTES, MAX_SIDE, Scene, SceneError, StageSpec};

/// Bytes of frame a fused run of per-pixel processors works on at a time: small enough to stay
/// in the first-level cache while every processor of the run passes over it.
pub const BAND_BYTES: usize = 32 * 1024;

/// One pass of the processor chain over the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Processor `.0` transforms the whole frame in place (`process`).
    Whole(usize),
    /// Per-pixel processors `range`, fused into one pass. Each frame, the operations of those
    /// that describe themselves as a [`PixelOp`] are composed (neighbouring lookup tables become
    /// one table); then the frame goes through band by band (`rows` rows at a time), each band
    /// through every composed operation and every other member's `process_rows` while it is in
    /// cache.
    Fused {
        /// Indices of the processors.
        range: std::ops::Range<usize>,
        /// Rows per band.
        rows: usize,
    },
    /// Processor `member` reads the current frame and writes `buffer`, of another size, which
    /// becomes the current frame (`process_into`).
    Resize {
        /// Position of the processor in the chain.
        member: usize,
        /// Index of its output buffer in [`Processors::buffers`].
        buffer: usize,
    },
}

/// One step of a fused pass over a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Apply composed operation `.0` of the program.
    Op(usize),
    /// Call processor `.0`'s `process_rows`.
    Rows(usize),
}

/// The working memory of one fused pass, allocated when the chain is built: an operation
/// buffer per member, the steps of the current frame, and the buffer members write into.
#[derive(Debug)]
pub(super) struct Program {
    pub(super) ops: Vec<Box<PixelOp>>,
    pub(super) steps: Vec<Step>,
    pub(super) scratch: Box<PixelOp>,
}

impl Program {
    pub(super) fn new(members: usize) -> Self {
        Program {
            ops: (0..members).map(|_| Box::default()).collect(),
            steps: Vec::with_capacity(members),
            scratch: Box::default(),
        }
    }

    /// Asks each member for this frame's operation and composes neighbours where it can.
    pub(super) fn plan(&mut self, members: &mut impl Members, range: std::ops::Range<usize>, index: u64) {
        self.steps.clear();
        let mut ops = 0;
        for i in range {
            let slot = members.member(i);
            if slot.failed.is_some() {
                continue;
            }
            let ctx = FrameCtx::new(&slot.init, index);
            match slot.object.pixel_op(&ctx, &mut self.scratch) {
                RResult::ROk(true) => {
                    let merged =
                        matches!(self.steps.last(), Some(Step::Op(k)) if self.ops[*k].then(&self.scratch));
                    if !merged {
                        self.ops[ops].assign(&self.scratch);
                        self.steps.push(Step::Op(ops));
                        ops += 1;
                    }
                }
                RResult::ROk(false) => self.steps.push(Step::Rows(i)),
                RResult::RErr(e) => {
                    slot.settle::<()>(RResult::RErr(e));
                }
            }
        }
    }
}

/// Where the chain's instances live, by position in the chain: processor entities in the
/// engine, a plain list in benches.
pub trait Members {
    /// The instance at `position` (0 is the first processor of the scene).
    fn member(&mut self, position: usize) -> &mut Slot<ProcessorBox>;
}

impl Members for Vec<Slot<ProcessorBox>> {
    fn member(&mut self, position: usize) -> &mut Slot<ProcessorBox> {
        &mut self[position]
    }
}

/// What the planner needs to know of a processor: the frame size it outputs, if it resizes,
/// and whether it works pixel by pixel (so it may fuse with its neighbours).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) output: Option<(u32, u32)>,
    pub(super) pointwise: bool,
}

impl Shape {
    pub(super) fn of(object: &ProcessorBox) -> Shape {
        Shape {
            output: match object.output_size() {
                ROption::RSome(size) => Some((size.width, size.height)),
                ROption::RNone => None,
            },
            pointwise: object.pointwise(),
        }
    }
}

/// The processor chain's plan: the passes its members run as, and the output buffers of the
/// processors that change the frame size. The members themselves live elsewhere ([`Members`]).
#[derive(Debug, Default)]
pub struct Processors {
    /// How they run.
    pub passes: Vec<Pass>,
    /// One buffer per resizing processor, with its size; the last is the final frame.
    pub buffers: Vec<(u32, u32, Vec<u8>)>,
    /// One per fused pass, in order.
    pub(super) programs: Vec<Program>,
}

impl Processors {
    /// Runs every pass for frame `index` over `frame` (the composited canvas), in scene order.
    /// A failed instance is skipped from then on; a failed resizer outputs opaque black, since
    /// later stages expect its size.
    pub fn run(&mut self, members: &mut impl Members, index: u64, frame: &mut [u8]) {
        let Processors {
            passes,
            buffers,
            programs,
        } = self;
        // The frame the next pass works on: the canvas, or after a resize that buffer.
        let mut current: Option<usize> = None;
        let mut programs = programs.iter_mut();
        for pass in passes.iter() {
            match pass {
                Pass::Whole(i) => {
                    let slot = members.member(*i);
                    if slot.failed.is_none() {
                        let frame = current.map_or(&mut *frame, |k| &mut buffers[k].2);
                        let ctx = FrameCtx::new(&slot.init, index);
                        let result = slot.object.process(&ctx, RSliceMut::from_mut_slice(frame));
                        slot.settle(result);
                    }
                }
                Pass::Fused { range, rows } => {
                    let Some(program) = programs.next() else { continue };
                    program.plan(members, range.clone(), index);
                    let frame = current.map_or(&mut *frame, |k| &mut buffers[k].2);
                    let width = members.member(range.start).init.width as usize;
                    for (band, pixels) in frame.chunks_mut(rows * (width * 4).max(1)).enumerate() {
                        let first_row = band * rows;
                        for step in &program.steps {
                            match *step {
                                Step::Op(k) => program.ops[k].apply(pixels, width, first_row),
                                Step::Rows(i) => {
                                    let slot = members.member(i);
                                    if slot.failed.is_none() {
                                        let ctx = FrameCtx::new(&slot.init, index);
                                        let pixels = RSliceMut::from_mut_slice(pixels);
                                        let result = slot.object.process_rows(&ctx, first_row as u32, pixels);
                                        slot.settle(result);
                                    }
                                }
                            }
                        }
                    }
                }
                Pass::Resize { member, buffer } => {
                    let slot = members.member(*member);
                    let (src, dst): (&[u8], &mut [u8]) = match current {
                        None => (frame, &mut buffers[*buffer].2),
                        Some(k) => {
                            let (before, after) = buffers.split_at_mut(*buffer);
                            (&before[k].2, &mut after[0].2)
                        }
                    };
                    let ok = slot.failed.is_none() && {
                        let ctx = FrameCtx::new(&slot.init, index);
                        let (src, dst) = (RSlice::from_slice(src), RSliceMut::from_mut_slice(dst));
                        let result = slot.object.process_into(&ctx, src, dst);
                        slot.settle(result)
                    };
                    if !ok {
                        for px in dst.chunks_exact_mut(4) {
                            px.copy_from_slice(&[0, 0, 0, 255]);
                        }
                    }
                    current = Some(*buffer);
                }
            }
        }
    }

    /// The final frame and its size: the last resized buffer, or the accumulator's frame.
    pub fn final_frame<'a>(&'a self, acc: &'a Accumulator) -> (&'a [u8], u32, u32) {
        match self.buffers.last() {
            Some((w, h, buf)) => (buf, *w, *h),
            None => (acc.frame(), acc.canvas().width, acc.canvas().height),
        }
    }
}

impl Processors {
    /// The size of the frames the chain outputs when it starts from a `canvas`-sized frame.
    pub fn final_size(&self, canvas: (u32, u32)) -> (u32, u32) {
        self.buffers.last().map_or(canvas, |&(w, h, _)| (w, h))
    }

    /// Creates the processors of `scene` in order, each for the frame size the one before it
    /// makes, and plans their passes (runs of two or more per-pixel processors fuse when `fuse`
    /// is set): the plan and the instances, in chain order.
    pub fn build(scene: &Scene, fuse: bool) -> Result<(Processors, Vec<Slot<ProcessorBox>>), SceneError> {
        let options = EngineOptions::default();
        Processors::plan(scene, fuse, |spec, init| {
            let slot = new_processor(scene, spec, init, &options)?;
            let shape = Shape::of(&slot.object);
            Ok((slot, shape))
        })
    }

    /// Plans the chain of `scene`: `member` gives the instance for a processor spec and what
    /// it is created with (kept from a running engine, or new) and its [`Shape`].
    pub(super) fn plan<M>(
        scene: &Scene,
        fuse: bool,
        mut member: impl FnMut(&StageSpec, InitCtx) -> Result<(M, Shape), SceneError>,
    ) -> Result<(Processors, Vec<M>), SceneError> {
        let (mut width, mut height) = (scene.canvas.width, scene.canvas.height);
        let mut chain = Processors::default();
        let mut members = Vec::with_capacity(scene.processors.len());
        // Start of the current run of per-pixel processors, if one is open.
        let mut run: Option<usize> = None;
        let close = |chain: &mut Processors, run: &mut Option<usize>, end: usize, width: u32| {
            if let Some(start) = run.take() {
                if end - start >= 2 {
                    let rows = (BAND_BYTES / (width as usize * 4).max(1)).max(1);
                    chain.passes.push(Pass::Fused {
                        range: start..end,
                        rows,
                    });
                    chain.programs.push(Program::new(end - start));
                } else {
                    chain.passes.push(Pass::Whole(start));
                }
            }
        };
        for (i, spec) in scene.processors.iter().enumerate() {
            let init = InitCtx {
                width,
                height,
                fps: scene.fps,
                seed: instance_seed(scene.seed, &spec.id),
            };
            let (made, shape) = member(spec, init)?;
            if let Some((w, h)) = shape.output {
                close(&mut chain, &mut run, i, width);
                let (w64, h64) = (w as u64, h as u64);
                if w == 0 || h == 0 || w64 > MAX_SIDE || h64 > MAX_SIDE || w64 * h64 * 4 > MAX_FRAME_BYTES {
                    let e = PluginError::new(
                        marquee_plugin_api::ErrorKind::Config,
                        format!(
                            "asks for a {w}×{h} output; sides must be 1 to {MAX_SIDE} pixels and the frame at most {} MiB",
                            MAX_FRAME_BYTES >> 20
                        ),
                    );
                    return Err(plugin_error(scene, spec, PluginKind::Processor, e));
                }
                chain.passes.push(Pass::Resize {
                    member: i,
                    buffer: chain.buffers.len(),
                });
                chain.buffers.push((w, h, vec![0; w as usize * h as usize * 4]));
                (width, height) = (w, h);
            } else if fuse && shape.pointwise {
                run.get_or_insert(i);
            } else {
                close(&mut chain, &mut run, i, width);
                chain.passes.push(Pass::Whole(i));
            }
            members.push(made);
        }
        close(&mut chain, &mut run, members.len(), width);
        Ok((chain, members))
    }
}

/// Creates processor `spec` through its plugin's factory: in this process, or in a child
/// process of its own.
pub(super) fn new_processor(
    scene: &Scene,
    spec: &StageSpec,
    init: InitCtx,
    options: &EngineOptions,
) -> Result<Slot<ProcessorBox>, SceneError> {
    if let Some(exe) = isolated(scene, spec, options, PluginKind::Processor)? {
        let (object, watch) = isolate::processor(
            &instance(spec, init),
            exe,
            scene.isolation,
            options.isolation.recover,
        )
        .map_err(|e| start_error(scene, spec, PluginKind::Processor, e))?;
        return Ok(Slot::new(spec, object, init).watched(Some(watch)));
    }
    match (spec.plugin.module.new_processor())(spec.config_json.as_str().into(), &init) {
        RResult::ROk(o) => Ok(Slot::new(spec, o, init)),
        RResult::RErr(e) => Err(plugin_error(scene, spec, PluginKind::Processor, e)),
    }
}
