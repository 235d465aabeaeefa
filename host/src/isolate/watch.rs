//! What the watchdog saw of one isolated instance: its counts, and each event (a hang, a
//! death, garbage on the channel, a restart, a swap, the instance disabled) once, for the log,
//! the summary and the metrics stream.

use std::sync::Mutex;
use std::time::Duration;

use marquee_plugin_api::PluginKind;

/// An isolated instance's counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Calls that passed their deadline (the child was killed).
    pub hangs: u64,
    /// Children that died (a signal, an exit) during or between calls.
    pub crashes: u64,
    /// Children killed for writing something that is not a message on the control channel.
    pub garbled: u64,
    /// Children started again after one of the above.
    pub restarts: u64,
    /// Children restarted because the plugin file was rebuilt.
    pub swaps: u64,
    /// Frames the instance missed while its child was down: drawn transparent (renderers),
    /// left unprocessed (processors), dropped (recorders).
    pub missed: u64,
    /// Whether the instance was disabled for the run (too many failures too fast).
    pub disabled: bool,
}

impl Counts {
    /// The counts as named counters (the summary's and [`crate::engine::Counter`]'s names).
    pub fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("isolation.hangs", self.hangs),
            ("isolation.crashes", self.crashes),
            ("isolation.garbled", self.garbled),
            ("isolation.restarts", self.restarts),
            ("isolation.swaps", self.swaps),
            ("isolation.missed", self.missed),
            ("isolation.disabled", self.disabled as u64),
        ]
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A call passed its deadline; the child was killed.
    Hung {
        /// The call.
        call: &'static str,
        /// Its deadline.
        deadline: Duration,
    },
    /// The child died.
    Died {
        /// The call in flight, if any.
        call: &'static str,
        /// How it ended (a signal, an exit status).
        how: String,
    },
    /// The child wrote garbage on the control channel and was killed.
    Garbled {
        /// The call in flight.
        call: &'static str,
        /// What was wrong.
        why: String,
    },
    /// A new child serves the instance.
    Restarted {
        /// From spawning it to its first answer.
        took: Duration,
        /// Whether it was restored from a snapshot.
        restored: bool,
    },
    /// The plugin file changed: a child of the new build replaces the old one.
    Swapped,
    /// Too many failures too fast: the instance is off for the run.
    Disabled {
        /// Failures counted.
        failures: u32,
        /// Within this long.
        window: Duration,
    },
}

/// One event of one isolated instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The kind of instance.
    pub kind: PluginKind,
    /// The layer or stage id.
    pub id: String,
    /// The plugin's id.
    pub plugin: String,
    /// The frame being made.
    pub frame: u64,
    /// What happened.
    pub what: What,
    /// The counts after it.
    pub counts: Counts,
    /// When the watchdog tries again (after a failure, while the instance is not disabled).
    pub retry_in: Option<Duration>,
}

impl Event {
    /// The event's name, as the metrics stream writes it.
    pub fn name(&self) -> &'static str {
        match self.what {
            What::Hung { .. } => "hung",
            What::Died { .. } => "died",
            What::Garbled { .. } => "garbled",
            What::Restarted { .. } => "restarted",
            What::Swapped => "swapped",
            What::Disabled { .. } => "disabled",
        }
    }

    /// Whether this event is a failure (the others are recoveries).
    pub fn is_failure(&self) -> bool {
        matches!(
            self.what,
            What::Hung { .. } | What::Died { .. } | What::Garbled { .. } | What::Disabled { .. }
        )
    }
}

impl Event {
    /// What happened, without whose it is or what comes of it.
    pub fn what_text(&self) -> String {
        match &self.what {
            What::Hung { call, deadline } => {
                format!("`{call}` gave no answer within {} ms", deadline.as_millis())
            }
            What::Died { call, how } => format!("its process {how} during `{call}`"),
            What::Garbled { call, why } => {
                format!("its process wrote garbage on the control channel during `{call}` ({why})")
            }
            What::Restarted { took, restored } => format!(
                "a new process serves it ({:.1} ms to start{})",
                took.as_secs_f64() * 1e3,
                if *restored {
                    ", restored from its last snapshot"
                } else {
                    ""
                }
            ),
            What::Swapped => {
                "its plugin file changed; a process of the new build replaces the old one".into()
            }
            What::Disabled { failures, window } => format!(
                "{failures} failures within {} s: disabled for the rest of the run",
                window.as_secs()
            ),
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "isolated {} `{}` (plugin `{}`) at frame {}: {}",
            self.kind,
            self.id,
            self.plugin,
            self.frame,
            self.what_text()
        )?;
        let lost = match self.kind {
            PluginKind::Renderer => "its layer is drawn transparent",
            PluginKind::Processor => "it is skipped",
            PluginKind::Recorder => "its frames are dropped",
        };
        match (&self.what, self.retry_in) {
            (What::Disabled { .. }, _) => {
                write!(f, " ({lost}); raise `[isolation] max_failures` or fix the plugin")
            }
            (What::Hung { .. } | What::Garbled { .. }, Some(d)) => write!(
                f,
                "; its process was killed, and {lost} until a new one starts (in {} ms)",
                d.as_millis()
            ),
            (What::Died { .. }, Some(d)) => {
                write!(f, "; {lost} until a new process starts (in {} ms)", d.as_millis())
            }
            (What::Hung { .. } | What::Garbled { .. }, None) => f.write_str("; its process was killed"),
            _ => Ok(()),
        }
    }
}

/// The watchdog's record of one isolated instance, shared by the instance and the engine.
#[derive(Debug)]
pub struct Watch {
    /// The kind of instance.
    pub kind: PluginKind,
    /// The layer or stage id.
    pub id: String,
    /// The plugin's id.
    pub plugin: String,
    state: Mutex<(Counts, Vec<Event>)>,
}

impl Watch {
    /// A record with nothing in it yet.
    pub fn new(kind: PluginKind, id: &str, plugin: &str) -> Watch {
        Watch {
            kind,
            id: id.to_string(),
            plugin: plugin.to_string(),
            state: Mutex::new((Counts::default(), Vec::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Counts, Vec<Event>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.lock().0
    }

    /// Counts one missed frame.
    pub fn missed(&self) {
        self.lock().0.missed += 1;
    }

    /// Records `what` at `frame`, counting it, and logs it once.
    pub fn event(&self, frame: u64, what: What, retry_in: Option<Duration>) -> Event {
        let mut state = self.lock();
        let counts = &mut state.0;
        match &what {
            What::Hung { .. } => counts.hangs += 1,
            What::Died { .. } => counts.crashes += 1,
            What::Garbled { .. } => counts.garbled += 1,
            What::Restarted { .. } => counts.restarts += 1,
            What::Swapped => counts.swaps += 1,
            What::Disabled { .. } => counts.disabled = true,
        }
        let event = Event {
            kind: self.kind,
            id: self.id.clone(),
            plugin: self.plugin.clone(),
            frame,
            what,
            counts: *counts,
            retry_in,
        };
        state.1.push(event.clone());
        event
    }

    /// The events since the last call, oldest first.
    pub fn take_events(&self) -> Vec<Event> {
        let mut state = self.lock();
        if state.1.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut state.1)
    }
}
