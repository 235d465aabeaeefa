//! The host's side of one isolated instance: its child process, the calls into it against
//! deadlines, and the watchdog that kills, restarts with backoff, and finally disables it.
//!
//! A call either comes back ([`Outcome::Reply`]), finds the instance down while its child
//! restarts ([`Outcome::Down`]: the caller makes that frame without it), or finds it failed for
//! good ([`Outcome::Failed`]: disabled after too many failures, or any failure where the run
//! may not recover, as in a trace). Restarts never block a frame: a new child is spawned when
//! its backoff has passed and polled on later calls until it answers.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use marquee_plugin_api::{ErrorKind, InitCtx, PluginError, PluginKind};

use super::channel::{HostEnd, Silence};
use super::child::Source;
use super::watch::{Watch, What};
use super::wire::{Reply, Request, Writer};
use crate::model::isolation::Limits;

/// The first backoff after a failure; each failure in a row doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait before a restart.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often an up renderer's or processor's plugin file is looked at for a new build, and its
/// state saved.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);

/// What an isolated instance is: enough to make it again in a new process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its kind.
    pub kind: PluginKind,
    /// Where the child finds the plugin.
    pub source: Source,
    /// Its config (output paths resolved, for recorders).
    pub config: String,
    /// What it is created with.
    pub init: InitCtx,
}

/// How a link runs: the program to start, the limits, and whether failures are survived.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The `marquee` program, started as `marquee __plugin-host`.
    pub exe: PathBuf,
    /// Deadlines, failures forgiven, memory.
    pub limits: Limits,
    /// Restart after a failure (live runs); otherwise every failure fails the instance (traces:
    /// a frame made without it is never a frame of the trace).
    pub recover: bool,
}

/// The answer to a call.
#[derive(Debug)]
pub enum Outcome {
    /// The child answered.
    Reply(Reply),
    /// The child is down (restarting): make this frame without it.
    Down,
    /// The instance has failed for good.
    Failed(PluginError),
}

/// A running child.
#[derive(Debug)]
struct Process {
    child: Child,
    end: HostEnd,
    spawned: Instant,
    /// The CPU the child is kept on: the one its caller last ran on.
    cpu: Option<usize>,
}

impl Process {
    /// Keeps the child on the CPU the calling thread runs on, and the caller there until the
    /// answer comes (its own CPUs restored after: [`Pinned`]). A call is synchronous (the caller
    /// waits), so the child running there costs the caller nothing, and the two wake each
    /// other with a local context switch instead of a cross-CPU wake-up, several times dearer
    /// on a virtual machine (docs/PERFORMANCE.md); the frame the child writes is in that CPU's
    /// caches when the caller reads it.
    fn follow(&mut self) -> Pinned {
        let here = rustix::thread::sched_getcpu();
        let mut one = rustix::thread::CpuSet::new();
        one.set(here);
        if self.cpu != Some(here) {
            let pid = rustix::process::Pid::from_raw(self.child.id() as i32);
            // Where the child cannot be moved, it runs wherever the scheduler puts it.
            let _ = rustix::thread::sched_setaffinity(pid, &one);
            self.cpu = Some(here);
        }
        // The caller's own CPUs, read once per thread. A caller kept on one CPU already (a show
        // run under `taskset -c N`) is left as it is: no system call at all.
        thread_local! {
            static OWN: Option<rustix::thread::CpuSet> = rustix::thread::sched_getaffinity(None)
                .ok()
                .filter(|own| own.count() > 1);
        }
        let own = OWN.with(|own| *own);
        if own.is_some() {
            let _ = rustix::thread::sched_setaffinity(None, &one);
        }
        Pinned(own)
    }

    /// Kills the child (if it still runs) and says how it ended.
    fn end(mut self) -> String {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be waited for ({e})"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Reap the child: kill it if `end` was not called (the host is done with it).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The calling thread kept on one CPU for a call; its own set of CPUs comes back on drop.
struct Pinned(Option<rustix::thread::CpuSet>);

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(own) = &self.0 {
            let _ = rustix::thread::sched_setaffinity(None, own);
        }
    }
}

/// How a process ended, for people.
fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(sig) = status.signal() {
        let name = match sig {
            6 => " (SIGABRT)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            7 => " (SIGBUS)",
            4 => " (SIGILL)",
            _ => "",
        };
        format!("was killed by signal {sig}{name}")
    } else {
        match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "ended".into(),
        }
    }
}

#[derive(Debug)]
enum State {
    Up(Process),
    /// Spawned; `Create` and `Map` sent; `answers` of them received.
    Starting {
        process: Process,
        answers: u8,
    },
    Down {
        retry_at: Instant,
    },
    Disabled(PluginError),
}

/// The host's side of one isolated instance.
#[derive(Debug)]
pub struct Link {
    spec: Spec,
    policy: Policy,
    /// The memory file the child maps, and its length.
    memory: (OwnedFd, u64),
    /// The output size the instance had when first made (resizing processors).
    output: Option<(u32, u32)>,
    state: State,
    failures: VecDeque<Instant>,
    in_a_row: u32,
    snapshot: Option<Vec<u8>>,
    watch: Arc<Watch>,
    out: Writer,
    /// The plugin file's size and time when its child was started.
    stamp: Option<(u64, SystemTime)>,
    looked: Instant,
    /// The frame being made, for events.
    pub frame: u64,
}

/// Why an isolated instance could not be made at first.
#[derive(Debug)]
pub enum StartError {
    /// The plugin refused (its config) or could not be loaded: as for an in-process instance.
    Plugin(PluginError),
    /// Its process could not be started.
    Spawn(io::Error),
}

/// What a child said when its instance was made.
#[derive(Debug, Clone, Default)]
pub struct Created {
    /// A resizing processor's output size.
    pub output: Option<(u32, u32)>,
    /// A recorder's description of itself.
    pub about: String,
}

impl Link {
    /// Starts a child for `spec` and makes the instance, waiting for it (up to the creation
    /// deadline); then maps the memory `memory(output)` gives. A child that hangs or dies while
    /// making it leaves the link down and restarting where the policy recovers (the show goes
    /// on without it for now), and is a failure otherwise.
    pub fn start(
        spec: Spec,
        policy: Policy,
        watch: Arc<Watch>,
        memory: impl FnOnce(Option<(u32, u32)>) -> io::Result<OwnedFd>,
    ) -> Result<(Link, Created), StartError> {
        let stamp = file_stamp(&spec.source);
        let mut out = Writer::default();
        let mut process = spawn(&spec, &policy).map_err(StartError::Spawn)?;
        let deadline = Instant::now() + policy.limits.create;
        let create = Request::Create {
            kind: spec.kind,
            init: spec.init,
            config: spec.config.clone(),
        };
        let first = process
            .end
            .send(out.request(&create), None, deadline)
            .and_then(|()| process.end.receive(deadline));
        let (created, failure) = match first {
            Ok(Reply::Created { output, about }) => (Created { output, about }, None),
            Ok(Reply::Err(e)) => {
                process.end();
                return Err(StartError::Plugin(e));
            }
            Ok(other) => (
                Created::default(),
                Some(Silence::Garbled(super::wire::Garbled(format!(
                    "{other:?} answered `create`"
                )))),
            ),
            Err(s) => (Created::default(), Some(s)),
        };
        let fd = memory(created.output).map_err(StartError::Spawn)?;
        let len = rustix::fs::fstat(&fd)
            .map(|s| s.st_size as u64)
            .map_err(|e| StartError::Spawn(e.into()))?;
        let mut link = Link {
            spec,
            policy,
            memory: (fd, len),
            output: created.output,
            state: State::Down {
                retry_at: Instant::now(),
            },
            failures: VecDeque::new(),
            in_a_row: 0,
            snapshot: None,
            watch,
            out,
            stamp,
            looked: Instant::now(),
            frame: 0,
        };
        let failure = match failure {
            Some(f) => Some(f),
            None => link.map(&mut process, deadline).err(),
        };
        match failure {
            None => link.state = State::Up(process),
            Some(silence) => {
                if let Outcome::Failed(e) = link.fail(process, "create", silence) {
                    return Err(StartError::Plugin(e));
                }
            }
        }
        Ok((link, created))
    }

    /// Sends `Map` with the memory file and waits for its answer.
    fn map(&mut self, process: &mut Process, deadline: Instant) -> Result<(), Silence> {
        let map = Request::Map { len: self.memory.1 };
        process
            .end
            .send(self.out.request(&map), Some(self.memory.0.as_fd()), deadline)?;
        match process.end.receive(deadline)? {
            Reply::Ok(_) => Ok(()),
            other => Err(unexpected("map", &other)),
        }
    }

    /// The shared record of this instance.
    pub fn watch(&self) -> &Arc<Watch> {
        &self.watch
    }

    /// Calls into the instance, against the frame deadline unless `long` (then against
    /// creation's, for `finish`).
    pub fn call(&mut self, request: &Request, long: bool) -> Outcome {
        if let Err(outcome) = self.ready() {
            return outcome;
        }
        self.call_up(request, long)
    }

    /// The up process, starting or finishing a restart first where one is due; otherwise what
    /// the call comes to.
    fn ready(&mut self) -> Result<(), Outcome> {
        let now = Instant::now();
        if matches!(self.state, State::Up(_)) && now.duration_since(self.looked) >= LOOK_EVERY {
            self.looked = now;
            self.look();
        }
        match &mut self.state {
            State::Up(_) => {}
            State::Disabled(e) => return Err(Outcome::Failed(e.clone())),
            State::Down { retry_at } => {
                if now < *retry_at {
                    return Err(Outcome::Down);
                }
                self.restart()?;
            }
            State::Starting { .. } => self.progress()?,
        }
        match &self.state {
            State::Up(_) => Ok(()),
            _ => Err(Outcome::Down),
        }
    }

    /// Saves the instance's state now and then, and swaps in a new build of its plugin file.
    /// Not for recorders: they keep no state, and a new process would start their recording
    /// over; a recorder takes a new build at the next start.
    fn look(&mut self) {
        if self.spec.kind == PluginKind::Recorder {
            return;
        }
        if let Outcome::Reply(Reply::State(s)) = self.call_up(&Request::Snapshot, false) {
            self.snapshot = s;
        }
        let stamp = file_stamp(&self.spec.source);
        if stamp.is_some() && stamp != self.stamp {
            self.stamp = stamp;
            if let State::Up(process) = std::mem::replace(
                &mut self.state,
                State::Down {
                    retry_at: Instant::now(),
                },
            ) {
                process.end();
            }
            self.watch.event(self.frame, What::Swapped, None);
        }
    }

    /// A call on the up process (none: [`Outcome::Down`]), against the frame deadline unless
    /// `long`.
    fn call_up(&mut self, request: &Request, long: bool) -> Outcome {
        let State::Up(process) = &mut self.state else {
            return Outcome::Down;
        };
        let pinned = process.follow();
        let limits = self.policy.limits;
        let deadline = Instant::now() + if long { limits.create } else { limits.frame };
        let result = process
            .end
            .send(self.out.request(request), None, deadline)
            .and_then(|()| process.end.receive(deadline));
        drop(pinned);
        match result {
            Ok(reply) => {
                self.in_a_row = 0;
                Outcome::Reply(reply)
            }
            Err(silence) => {
                let State::Up(process) = std::mem::replace(
                    &mut self.state,
                    State::Down {
                        retry_at: Instant::now(),
                    },
                ) else {
                    unreachable!("matched above")
                };
                self.fail(process, call_name(request), silence)
            }
        }
    }

    /// Spawns a new child and sends it `Create` and `Map` without waiting for answers.
    fn restart(&mut self) -> Result<(), Outcome> {
        let mut process = match spawn(&self.spec, &self.policy) {
            Ok(p) => p,
            Err(e) => {
                let e = PluginError::new(ErrorKind::Io, format!("cannot start a process for it: {e}"));
                self.state = State::Disabled(e.clone());
                return Err(Outcome::Failed(e));
            }
        };
        self.stamp = file_stamp(&self.spec.source);
        let deadline = Instant::now() + self.policy.limits.frame;
        let create = Request::Create {
            kind: self.spec.kind,
            init: self.spec.init,
            config: self.spec.config.clone(),
        };
        let sent = process
            .end
            .send(self.out.request(&create), None, deadline)
            .and_then(|()| {
                let map = Request::Map { len: self.memory.1 };
                process
                    .end
                    .send(self.out.request(&map), Some(self.memory.0.as_fd()), deadline)
            });
        match sent {
            Ok(()) => {
                self.state = State::Starting { process, answers: 0 };
                self.progress()
            }
            Err(silence) => Err(self.fail(process, "create", silence)),
        }
    }

    /// Takes whatever answers a starting child has sent, without waiting; up once both came
    /// (and its last snapshot is restored).
    fn progress(&mut self) -> Result<(), Outcome> {
        let State::Starting { process, answers } = &mut self.state else {
            return Ok(());
        };
        let overdue = process.spawned.elapsed() > self.policy.limits.create;
        loop {
            match process.end.receive(Instant::now()) {
                Ok(Reply::Created { output, .. }) if *answers == 0 => {
                    if output != self.output {
                        let e = PluginError::new(
                            ErrorKind::Frame,
                            format!(
                                "its new process makes frames of {output:?}, not {:?} as before; disabled",
                                self.output
                            ),
                        );
                        self.state = State::Disabled(e.clone());
                        return Err(Outcome::Failed(e));
                    }
                    *answers = 1;
                }
                Ok(Reply::Ok(_)) if *answers == 1 => {
                    let took = process.spawned.elapsed();
                    let State::Starting { process, .. } = std::mem::replace(
                        &mut self.state,
                        State::Down {
                            retry_at: Instant::now(),
                        },
                    ) else {
                        unreachable!("matched above")
                    };
                    self.state = State::Up(process);
                    let mut restored = false;
                    if let Some(state) = self.snapshot.clone() {
                        match self.call_up(&Request::Restore(state), false) {
                            Outcome::Reply(Reply::Ok(_)) => restored = true,
                            Outcome::Reply(_) => {}
                            other => return Err(other),
                        }
                    }
                    self.watch
                        .event(self.frame, What::Restarted { took, restored }, None);
                    return Ok(());
                }
                Ok(Reply::Err(e)) => {
                    // The plugin refuses now what it took before (a new build, a changed
                    // file): as a plugin error in process, the instance fails.
                    let e = PluginError::new(
                        e.kind,
                        format!("its new process could not make it: {}", e.message),
                    );
                    self.state = State::Disabled(e.clone());
                    return Err(Outcome::Failed(e));
                }
                Ok(other) => {
                    let silence = unexpected("create", &other);
                    return Err(self.fail_starting("create", silence));
                }
                Err(Silence::TimedOut) if !overdue => return Err(Outcome::Down),
                Err(silence) => return Err(self.fail_starting("create", silence)),
            }
        }
    }

    fn fail_starting(&mut self, call: &'static str, silence: Silence) -> Outcome {
        let State::Starting { process, .. } = std::mem::replace(
            &mut self.state,
            State::Down {
                retry_at: Instant::now(),
            },
        ) else {
            unreachable!("called while starting")
        };
        self.fail(process, call, silence)
    }

    /// The watchdog: `process` failed during `call`. Kills and reaps it, records the event, and
    /// either schedules a restart or fails the instance.
    fn fail(&mut self, process: Process, call: &'static str, silence: Silence) -> Outcome {
        let how = process.end();
        let limits = self.policy.limits;
        let what = match silence {
            Silence::TimedOut => What::Hung {
                call,
                deadline: if call == "create" || call == "finish" {
                    limits.create
                } else {
                    limits.frame
                },
            },
            Silence::Garbled(g) => What::Garbled { call, why: g.0 },
            Silence::Closed | Silence::Io(_) => What::Died { call, how },
        };
        let now = Instant::now();
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > limits.window)
        {
            self.failures.pop_front();
        }
        self.in_a_row += 1;
        let too_many = self.failures.len() as u32 >= limits.max_failures;
        if !self.policy.recover || too_many {
            let event = self.watch.event(self.frame, what, None);
            let message = if too_many {
                let failures = self.failures.len() as u32;
                let what = What::Disabled {
                    failures,
                    window: limits.window,
                };
                self.watch.event(self.frame, what, None);
                format!(
                    "disabled by the watchdog of isolated instances: {failures} failures within {} s, the last: {}",
                    limits.window.as_secs(),
                    event.what_text()
                )
            } else {
                event.to_string()
            };
            let e = PluginError::new(ErrorKind::Frame, message);
            self.state = State::Disabled(e.clone());
            return Outcome::Failed(e);
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (self.in_a_row - 1).min(16))
            .min(MAX_BACKOFF);
        self.watch.event(self.frame, what, Some(backoff));
        self.state = State::Down {
            retry_at: now + backoff,
        };
        Outcome::Down
    }

    /// The last state saved (by the engine, or now and then by the link).
    pub fn snapshot(&self) -> Option<&[u8]> {
        self.snapshot.as_deref()
    }

    /// Keeps `state` as the last snapshot.
    pub fn keep_snapshot(&mut self, state: Option<Vec<u8>>) {
        self.snapshot = state;
    }

    /// The process id of the child serving the instance now, if one is up.
    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            State::Up(p) | State::Starting { process: p, .. } => Some(p.child.id()),
            _ => None,
        }
    }
}

/// The call's name, for events.
fn call_name(request: &Request) -> &'static str {
    match request {
        Request::Create { .. } => "create",
        Request::Map { .. } => "map",
        Request::Render(_) => "render",
        Request::Process(_) | Request::ProcessInto(_) => "process",
        Request::Record(_) => "record",
        Request::Trigger(_) => "trigger",
        Request::Finish => "finish",
        Request::Snapshot => "snapshot",
        Request::Restore(_) => "restore",
        Request::Counters => "counters",
    }
}

fn unexpected(call: &str, reply: &Reply) -> Silence {
    Silence::Garbled(super::wire::Garbled(format!(
        "answered `{call}` with {}",
        match reply {
            Reply::Ok(_) => "ok",
            Reply::Err(_) => "an error",
            Reply::Created { .. } => "created",
            Reply::State(_) => "a state",
            Reply::Counters(_) => "counters",
        }
    )))
}

/// The plugin file's size and modification time, for a file plugin.
fn file_stamp(source: &Source) -> Option<(u64, SystemTime)> {
    match source {
        Source::File(path) => std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?))),
        Source::BuiltIn(_) => None,
    }
}

/// Starts `marquee __plugin-host` for `spec`, its control channel on its standard input.
fn spawn(spec: &Spec, policy: &Policy) -> io::Result<Process> {
    let (host, child) = UnixStream::pair()?;
    let mut command = Command::new(&policy.exe);
    command
        .arg("__plugin-host")
        .arg("--kind")
        .arg(spec.kind.to_string());
    match &spec.source {
        Source::BuiltIn(id) => command.arg("--builtin").arg(id),
        Source::File(path) => command.arg("--file").arg(path),
    };
    // What the plugin prints goes to the host's standard error, never into its output.
    let stdout: OwnedFd = io::stderr().as_fd().try_clone_to_owned()?;
    let process = command
        .arg("--memory-mb")
        .arg(policy.limits.memory_mb.to_string())
        .stdin(Stdio::from(OwnedFd::from(child)))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::inherit())
        .env_remove("MARQUEE_PLUGIN_PATH")
        .process_group(0)
        .spawn()?;
    Ok(Process {
        child: process,
        end: HostEnd::new(host)?,
        spawned: Instant::now(),
        cpu: None,
    })
}
