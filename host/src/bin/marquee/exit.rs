//! How a command ends: the one map from what went wrong to the exit status, stated in `--help`.

use marquee::trace;

/// A write to stdout failed: a reader that went away (a pipe closed early) is no error of
/// ours, so the command ends with what it had shown; anything else is reported.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Exit(Outcome::Ok).into()
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// How a command ended: the one map from outcome to exit status, stated in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done as asked.
    Ok = 0,
    /// A check failed: a trace differs, a snapshot test failed, a bench regressed, a plugin
    /// failed while running or did not load.
    CheckFailed = 1,
    /// Bad input: a scene, playlist, trace or argument that cannot be used as given.
    BadInput = 2,
    /// An I/O or environment failure: a file that cannot be written, a socket that cannot be
    /// opened, something this build or machine lacks.
    Environment = 3,
}

/// The exit statuses, for `--help`.
pub const EXIT_HELP: &str = "Exit status: 0 done; 1 a check failed (a trace differs, a test or a bench regressed, \
a plugin failed or did not load); 2 bad input (a scene, playlist, trace or argument); 3 an I/O or \
environment failure (a file or socket that cannot be opened or written, a missing program).";

/// An error already shown to the user in full, carrying how the command ended.
#[derive(Debug)]
pub struct Exit(pub Outcome);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0 as u8)
    }
}

impl std::error::Error for Exit {}

/// How an error ends the command: the first cause in its chain that says.
pub fn outcome(e: &anyhow::Error) -> Outcome {
    use marquee::engine::EngineError;
    use marquee::model::scene::SceneError;
    use marquee::plugins::new_plugin::NewPluginError;
    use trace::TraceError;
    e.chain()
        .find_map(|c| {
            if let Some(Exit(o)) = c.downcast_ref::<Exit>() {
                Some(*o)
            } else if let Some(t) = c.downcast_ref::<TraceError>() {
                match t {
                    // A plugin that failed while tracing or verifying is a failed check.
                    TraceError::PluginFailed { .. } => Some(Outcome::CheckFailed),
                    TraceError::Io { .. } | TraceError::Recorder(_) | TraceError::NoGifPlugin => {
                        Some(Outcome::Environment)
                    }
                    TraceError::Engine(e) => Some(engine_outcome(e)),
                    _ => Some(Outcome::BadInput),
                }
            } else if let Some(e) = c.downcast_ref::<EngineError>() {
                Some(engine_outcome(e))
            } else if c.is::<SceneError>() {
                Some(Outcome::BadInput)
            } else if let Some(n) = c.downcast_ref::<NewPluginError>() {
                Some(match n {
                    NewPluginError::Io { .. } => Outcome::Environment,
                    _ => Outcome::BadInput,
                })
            } else if c.is::<std::io::Error>() {
                Some(Outcome::Environment)
            } else {
                None
            }
        })
        .unwrap_or(Outcome::CheckFailed)
}

/// A scene an engine cannot be built from is bad input; a schedule it cannot build is the host's.
fn engine_outcome(e: &marquee::engine::EngineError) -> Outcome {
    match e {
        marquee::engine::EngineError::Scene(_) => Outcome::BadInput,
        // A plugin's `snapshot` failed: a plugin failure, as in any other call.
        marquee::engine::EngineError::Keyframe(_) => Outcome::CheckFailed,
        _ => Outcome::Environment,
    }
}
