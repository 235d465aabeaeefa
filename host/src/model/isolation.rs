//! What a scene asks of its isolated instances (`[isolation]`): the watchdog's deadlines, how
//! many failures it forgives, and each child's memory. Read by scene validation, carried out by
//! `isolate/`. Every default and range is stated here once.

use std::time::Duration;

use serde::Deserialize;

/// The most instances of one scene that may run isolated: each is a process (about 5 MiB of
/// memory of its own, `docs/PERFORMANCE.md`), and a scene file may not make the host start
/// thousands.
pub const MAX_ISOLATED: usize = 64;

/// A limit as `[isolation]` takes it: its range and its default.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The least value taken.
    pub min: u64,
    /// The greatest value taken.
    pub max: u64,
    /// The value when the scene is silent.
    pub default: u64,
}

/// `frame_ms`: milliseconds.
pub const FRAME_MS: Bound = Bound {
    min: 1,
    max: 60_000,
    default: 500,
};
/// `create_ms`: milliseconds.
pub const CREATE_MS: Bound = Bound {
    min: 1,
    max: 600_000,
    default: 10_000,
};
/// `max_failures`.
pub const MAX_FAILURES: Bound = Bound {
    min: 1,
    max: 1000,
    default: 5,
};
/// `window_s`: seconds.
pub const WINDOW_S: Bound = Bound {
    min: 1,
    max: 86_400,
    default: 60,
};
/// `memory_mb`: MiB.
pub const MEMORY_MB: Bound = Bound {
    min: 64,
    max: 1 << 20,
    default: 2048,
};

/// `[isolation]`, as written: every field optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsolationFile {
    /// Milliseconds a frame call (render, process, record) of an isolated instance may take
    /// before its process is killed and the frame goes on without it (default 500).
    #[schemars(range(min = FRAME_MS.min, max = FRAME_MS.max))]
    pub frame_ms: Option<u64>,
    /// Milliseconds creating an isolated instance (loading its plugin in a new process,
    /// running its factory) may take (default 10000).
    #[schemars(range(min = CREATE_MS.min, max = CREATE_MS.max))]
    pub create_ms: Option<u64>,
    /// Failures (hangs, deaths) within `window_s` that disable an instance for the run
    /// (default 5).
    #[schemars(range(min = MAX_FAILURES.min, max = MAX_FAILURES.max))]
    pub max_failures: Option<u64>,
    /// Seconds over which failures are counted (default 60).
    #[schemars(range(min = WINDOW_S.min, max = WINDOW_S.max))]
    pub window_s: Option<u64>,
    /// Heap of each isolated instance's process, in MiB: one that leaks past it dies alone
    /// (default 2048).
    #[schemars(range(min = MEMORY_MB.min, max = MEMORY_MB.max))]
    pub memory_mb: Option<u64>,
}

/// The watchdog's limits, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deadline of a frame call.
    pub frame: Duration,
    /// Deadline of creating an instance (and of a recorder's `finish`).
    pub create: Duration,
    /// Failures within `window` that disable the instance.
    pub max_failures: u32,
    /// The window failures are counted over.
    pub window: Duration,
    /// Each child's heap, in MiB.
    pub memory_mb: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        IsolationFile::default()
            .limits()
            .expect("the defaults are in range")
    }
}

impl IsolationFile {
    /// The limits this asks for (defaults where it is silent), or the field out of range and
    /// what it must be.
    pub fn limits(&self) -> Result<Limits, (&'static str, String)> {
        let check = |name: &'static str, v: Option<u64>, b: Bound| match v {
            None => Ok(b.default),
            Some(v) if (b.min..=b.max).contains(&v) => Ok(v),
            Some(v) => Err((
                name,
                format!("`{name}` must be from {} to {}, found {v}", b.min, b.max),
            )),
        };
        Ok(Limits {
            frame: Duration::from_millis(check("frame_ms", self.frame_ms, FRAME_MS)?),
            create: Duration::from_millis(check("create_ms", self.create_ms, CREATE_MS)?),
            max_failures: check("max_failures", self.max_failures, MAX_FAILURES)? as u32,
            window: Duration::from_secs(check("window_s", self.window_s, WINDOW_S)?),
            memory_mb: check("memory_mb", self.memory_mb, MEMORY_MB)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_gives_the_defaults_and_each_range_is_checked() {
        let none = IsolationFile::default();
        let d = Limits::default();
        assert_eq!(
            (d.frame, d.create),
            (Duration::from_millis(500), Duration::from_secs(10))
        );
        assert_eq!(
            (d.max_failures, d.window, d.memory_mb),
            (5, Duration::from_secs(60), 2048)
        );
        let bad = IsolationFile {
            frame_ms: Some(0),
            ..none
        };
        assert_eq!(bad.limits().unwrap_err().0, "frame_ms");
        let bad = IsolationFile {
            memory_mb: Some(1),
            ..none
        };
        assert_eq!(bad.limits().unwrap_err().0, "memory_mb");
        let good = IsolationFile {
            frame_ms: Some(50),
            max_failures: Some(2),
            ..none
        };
        let l = good.limits().unwrap();
        assert_eq!((l.frame, l.max_failures), (Duration::from_millis(50), 2));
    }
}
