//! The plugin-host mode of the `marquee` binary (`marquee __plugin-host`): loads one plugin
//! through the same loader and checks as the host, makes one instance of it, and serves the
//! host's calls on the control channel (its standard input) until the host closes it.
//!
//! The child dies with its host (`PR_SET_PDEATHSIG`), in a process group of its own (a Ctrl-C
//! meant for the show is the host's to handle), with its heap capped (`RLIMIT_DATA`) so that a
//! plugin that leaks dies alone instead of taking the machine's memory.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use marquee_plugin_api::abi_stable::std_types::{RSlice, RSliceMut};
use marquee_plugin_api::{
    Canvas, DrawQueue, ErrorKind, PluginError, PluginKind, ProcessorBox, RecorderBox, RendererBox,
};

use super::channel::ChildEnd;
use super::shm::SharedMemory;
use super::wire::{Reply, Request, Writer};
use crate::plugins::registry::{LoadedPlugin, Registry, load_file};

/// Where the child finds its plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A built-in plugin, by id.
    BuiltIn(String),
    /// A plugin file (loaded fresh by every child: a rebuilt file is the new build).
    File(std::path::PathBuf),
}

/// The one instance a child serves.
enum Instance {
    Renderer(RendererBox, DrawQueue),
    Processor(ProcessorBox),
    Recorder(RecorderBox),
}

/// Serves one isolated instance of the plugin `source` names on standard input, with the heap
/// capped at `memory_mb` MiB. Returns when the host closes the channel (or it fails).
pub fn serve(source: &Source, memory_mb: u64) -> io::Result<()> {
    // Die with the host; and if it is already gone, go now.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return Ok(());
    }
    let bytes = memory_mb.saturating_mul(1 << 20);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Data,
        rustix::process::Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    );
    let stream = UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?);
    let mut channel = ChildEnd::new(stream);
    let mut out = Writer::default();
    let plugin = load(source);
    let mut instance = None;
    let mut memory: Option<SharedMemory> = None;
    while let Some(request) = channel.receive()? {
        let reply = match request {
            Request::Create { kind, init, config } => match (&plugin, &instance) {
                (_, Some(_)) => Reply::Err(PluginError::unsupported("this child already serves an instance")),
                (Err(e), None) => Reply::Err(e.clone()),
                (Ok(plugin), None) => match create(plugin, kind, &config, &init) {
                    Ok(made) => {
                        let reply = created(&made);
                        instance = Some(made);
                        reply
                    }
                    Err(e) => Reply::Err(e),
                },
            },
            Request::Map { len } => match channel.take_fd().map(SharedMemory::map) {
                Some(Ok(m)) if m.len() as u64 == len => {
                    memory = Some(m);
                    Reply::Ok(0)
                }
                Some(Ok(m)) => Reply::Err(PluginError::new(
                    ErrorKind::Io,
                    format!("shared memory of {} bytes, {len} announced", m.len()),
                )),
                Some(Err(e)) => Reply::Err(PluginError::new(
                    ErrorKind::Io,
                    format!("cannot map shared memory: {e}"),
                )),
                None => Reply::Err(PluginError::new(
                    ErrorKind::Io,
                    "no shared memory came with the message",
                )),
            },
            request => match (&mut instance, &mut memory) {
                (Some(i), Some(m)) => call(i, m, request),
                (Some(i), None) => call(i, &mut [], request),
                (None, _) => Reply::Err(PluginError::unsupported("no instance or no shared memory yet")),
            },
        };
        channel.send(out.reply(&reply))?;
    }
    Ok(())
}

/// The plugin `source` names, loaded here, or why not (as the answer to the first call).
fn load(source: &Source) -> Result<std::sync::Arc<LoadedPlugin>, PluginError> {
    match source {
        Source::BuiltIn(id) => Registry::builtin()
            .get(id)
            .cloned()
            .ok_or_else(|| PluginError::unsupported(format!("no built-in plugin `{id}`"))),
        Source::File(path) => load_file(Path::new(path))
            .map(std::sync::Arc::new)
            .map_err(|e| PluginError::new(ErrorKind::Io, e.to_string())),
    }
}

fn create(
    plugin: &LoadedPlugin,
    kind: PluginKind,
    config: &str,
    init: &marquee_plugin_api::InitCtx,
) -> Result<Instance, PluginError> {
    let module = &plugin.module;
    Ok(match kind {
        PluginKind::Renderer => Instance::Renderer(
            (module.new_renderer())(config.into(), init).into_result()?,
            DrawQueue::new(),
        ),
        PluginKind::Processor => {
            Instance::Processor((module.new_processor())(config.into(), init).into_result()?)
        }
        PluginKind::Recorder => {
            Instance::Recorder((module.new_recorder())(config.into(), init).into_result()?)
        }
    })
}

fn created(instance: &Instance) -> Reply {
    match instance {
        Instance::Renderer(..) => Reply::Created {
            output: None,
            about: String::new(),
        },
        Instance::Processor(p) => Reply::Created {
            output: p.output_size().into_option().map(|s| (s.width, s.height)),
            about: String::new(),
        },
        Instance::Recorder(r) => Reply::Created {
            output: None,
            about: r.describe().into_string(),
        },
    }
}

/// The bytes of a `width × height` frame at `at` in `memory`, if they fit.
fn frame(memory: &mut [u8], at: usize, width: u32, height: u32) -> Result<&mut [u8], PluginError> {
    let n = width as usize * height as usize * 4;
    let len = memory.len();
    memory.get_mut(at..at + n).ok_or_else(|| {
        PluginError::new(
            ErrorKind::Frame,
            format!("a {width}×{height} frame does not fit in {len} bytes of shared memory"),
        )
    })
}

/// Serves one call of `instance` over the frames in `memory`.
fn call(instance: &mut Instance, memory: &mut [u8], request: Request) -> Reply {
    let done = |r: Result<u32, PluginError>| match r {
        Ok(events) => Reply::Ok(events),
        Err(e) => Reply::Err(e),
    };
    match (instance, request) {
        (Instance::Renderer(r, queue), Request::Render(ctx)) => done((|| {
            let pixels = frame(memory, 0, ctx.width, ctx.height)?;
            let result = r.render(&ctx, &mut Canvas::new(ctx.width, ctx.height, pixels, queue));
            if let Err(e) = result.into_result() {
                queue.clear();
                return Err(e);
            }
            queue.execute(ctx.width, ctx.height, pixels);
            Ok(r.events().0)
        })()),
        (Instance::Processor(p), Request::Process(ctx)) => done((|| {
            let pixels = frame(memory, 0, ctx.width, ctx.height)?;
            p.process(&ctx, RSliceMut::from_mut_slice(pixels)).into_result()?;
            Ok(p.events().0)
        })()),
        (Instance::Processor(p), Request::ProcessInto(ctx)) => done((|| {
            let n = ctx.width as usize * ctx.height as usize * 4;
            let size = p
                .output_size()
                .into_option()
                .ok_or_else(|| PluginError::unsupported("this processor does not resize"))?;
            frame(memory, 0, ctx.width, ctx.height)?;
            frame(memory, n, size.width, size.height)?;
            let (src, dst) = memory.split_at_mut(n);
            let dst = &mut dst[..size.width as usize * size.height as usize * 4];
            p.process_into(&ctx, RSlice::from_slice(src), RSliceMut::from_mut_slice(dst))
                .into_result()?;
            Ok(p.events().0)
        })()),
        (Instance::Recorder(r), Request::Record(meta)) => done((|| {
            let pixels = frame(memory, 0, meta.width, meta.height)?;
            r.record(&meta, RSlice::from_slice(pixels)).into_result()?;
            Ok(0)
        })()),
        (Instance::Recorder(r), Request::Trigger(meta)) => done(r.trigger(&meta).into_result().map(|()| 0)),
        (Instance::Recorder(r), Request::Finish) => done(r.finish().into_result().map(|()| 0)),
        (i, Request::Snapshot) => {
            let state = match i {
                Instance::Renderer(r, _) => r.snapshot(),
                Instance::Processor(p) => p.snapshot(),
                Instance::Recorder(_) => return Reply::State(None),
            };
            match state.into_result() {
                Ok(s) => Reply::State(s.into_option().map(|v| v.into_vec())),
                Err(e) => Reply::Err(e),
            }
        }
        (i, Request::Restore(state)) => {
            let state = RSlice::from_slice(&state);
            done(
                match i {
                    Instance::Renderer(r, _) => r.restore(state),
                    Instance::Processor(p) => p.restore(state),
                    Instance::Recorder(_) => {
                        return Reply::Err(PluginError::unsupported("recorders keep no state"));
                    }
                }
                .into_result()
                .map(|()| 0),
            )
        }
        (i, Request::Counters) => {
            let list = match i {
                Instance::Renderer(r, _) => r.counters(),
                Instance::Processor(_) => Default::default(),
                Instance::Recorder(r) => r.counters(),
            };
            Reply::Counters(
                list.into_iter()
                    .map(|c| (c.name.into_string(), c.value))
                    .collect(),
            )
        }
        (_, request) => Reply::Err(PluginError::unsupported(format!(
            "{request:?} is not a call this instance takes"
        ))),
    }
}
