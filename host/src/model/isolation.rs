//! What a scene asks of its isolated instances (`[isolation]`): the watchdog's deadlines, how
//! many failures it forgives, and each child's memory. Read by scene validation, carried out by
//! `isolate/`. Every default and range is stated here once.

use std::time::Duration;

use serde::Deserialize;

/// `[isolation]`, as written: every field optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsolationFile {
    /// Milliseconds a frame call (render, process, record) of an isolated instance may take
    /// before its process is killed and the frame goes on without it (default 500).
    #[schemars(range(min = 1, max = 60000))]
    pub frame_ms: Option<u64>,
    /// Milliseconds creating an isolated instance (loading its plugin in a new process,
    /// running its factory) may take (default 10000).
    #[schemars(range(min = 1, max = 600000))]
    pub create_ms: Option<u64>,
    /// Failures (hangs, deaths) within `window_s` that disable an instance for the run
    /// (default 5).
    #[schemars(range(min = 1, max = 1000))]
    pub max_failures: Option<u32>,
    /// Seconds over which failures are counted (default 60).
    #[schemars(range(min = 1, max = 86400))]
    pub window_s: Option<u64>,
    /// Heap of each isolated instance's process, in MiB: one that leaks past it dies alone
    /// (default 2048).
    #[schemars(range(min = 64, max = 1048576))]
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
        Limits {
            frame: Duration::from_millis(500),
            create: Duration::from_secs(10),
            max_failures: 5,
            window: Duration::from_secs(60),
            memory_mb: 2048,
        }
    }
}

impl IsolationFile {
    /// The limits this asks for (defaults where it is silent), or the field out of range and
    /// what it must be.
    pub fn limits(&self) -> Result<Limits, (&'static str, String)> {
        let d = Limits::default();
        let check = |name: &'static str, v: Option<u64>, min: u64, max: u64, default: u64| match v {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(v),
            Some(v) => Err((name, format!("`{name}` must be from {min} to {max}, found {v}"))),
        };
        Ok(Limits {
            frame: Duration::from_millis(check(
                "frame_ms",
                self.frame_ms,
                1,
                60_000,
                d.frame.as_millis() as u64,
            )?),
            create: Duration::from_millis(check(
                "create_ms",
                self.create_ms,
                1,
                600_000,
                d.create.as_millis() as u64,
            )?),
            max_failures: check(
                "max_failures",
                self.max_failures.map(u64::from),
                1,
                1000,
                d.max_failures.into(),
            )? as u32,
            window: Duration::from_secs(check("window_s", self.window_s, 1, 86_400, d.window.as_secs())?),
            memory_mb: check("memory_mb", self.memory_mb, 64, 1 << 20, d.memory_mb)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_gives_the_defaults_and_each_range_is_checked() {
        let none = IsolationFile {
            frame_ms: None,
            create_ms: None,
            max_failures: None,
            window_s: None,
            memory_mb: None,
        };
        assert_eq!(none.limits().unwrap(), Limits::default());
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
