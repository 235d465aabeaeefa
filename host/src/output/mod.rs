//! Where `marquee run` shows frames: the [`Output`] contract, which outputs exist
//! ([`OutputKind`]) and how `--output auto` picks one. Each output runs on a thread of its own
//! (the live loop hands it frames); the implementations are `terminal`, `headless` and, with the
//! `window` feature, `window`.

pub mod headless;
pub mod led;
pub mod preview;
pub mod terminal;
#[cfg(feature = "window")]
pub mod window;

use std::io;

/// What a person can ask of a running show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Pause, or go on.
    TogglePause,
    /// The next playlist entry.
    Next,
    /// The previous playlist entry.
    Previous,
    /// Save the frame as a PNG.
    Screenshot,
    /// Stop or resume delivering frames to recorders.
    ToggleRecording,
    /// Ask clip recorders (`clips = { ... }`) for a clip of this moment.
    Trigger,
    /// Stop, finishing every recorder.
    Quit,
}

impl Control {
    /// The control a key stands for: space, n, p, s, r, c, q (Esc and Ctrl-C are `Quit` too).
    pub fn for_key(key: char) -> Option<Control> {
        Some(match key {
            ' ' => Control::TogglePause,
            'n' => Control::Next,
            'p' => Control::Previous,
            's' => Control::Screenshot,
            'r' => Control::ToggleRecording,
            'c' => Control::Trigger,
            'q' => Control::Quit,
            _ => return None,
        })
    }
}

/// Where frames are shown. Each output is made on, and runs on, a thread of its own (so it need
/// not be `Send`: a window's event loop is not).
pub trait Output {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// Shows one frame (RGBA8, `width × height`) and a one-line status.
    fn show(&mut self, frame: &[u8], width: u32, height: u32, status: &str) -> io::Result<()>;
    /// Collects what the person asked for since the last call (keys, a closed window).
    fn poll(&mut self, _controls: &mut Vec<Control>) -> io::Result<()> {
        Ok(())
    }
    /// When the output wants to be called again (`poll`) without a new frame: an LED output
    /// with a delay, for its next held frame.
    fn wake_at(&self) -> Option<std::time::Instant> {
        None
    }
    /// What an output that sends over a network has put on the wire so far (LED outputs), for
    /// the metrics stream.
    fn wire(&self) -> Option<WireCounts> {
        None
    }
    /// What the output counted (an LED output's packets and failed sends), for the summary.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// Restores whatever the output changed. Called once, at the end, also after an error.
    fn finish(&mut self) -> io::Result<()>;
}

/// What an output has put on the wire so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounts {
    /// Packets sent (frames, for a stream).
    pub packets: u64,
    /// Bytes of payload sent.
    pub bytes: u64,
    /// Sends that failed.
    pub send_errors: u64,
}

/// Makes an output, on its own thread, for frames of the given size.
pub type OutputFactory = Box<dyn FnOnce(u32, u32) -> io::Result<Box<dyn Output>> + Send>;

/// The outputs `marquee run --output` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A desktop window (built with the `window` feature).
    Window,
    /// The terminal.
    Terminal,
    /// Nothing shown.
    Headless,
}

impl OutputKind {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Window => "window",
            OutputKind::Terminal => "terminal",
            OutputKind::Headless => "headless",
        }
    }
}

/// What `--output auto` can see of its surroundings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surroundings {
    /// This build has the window output.
    pub window_built: bool,
    /// `$DISPLAY` or `$WAYLAND_DISPLAY` is set.
    pub display: bool,
    /// Standard output is a terminal.
    pub tty: bool,
}

impl Surroundings {
    /// The surroundings of this process.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
        Surroundings {
            window_built: cfg!(feature = "window"),
            display: set("DISPLAY") || set("WAYLAND_DISPLAY"),
            tty: io::stdout().is_terminal(),
        }
    }
}

/// The output `--output auto` picks: a window where there is a display (and the build has one),
/// else the terminal on a TTY, else headless; with the reasons, for the log.
pub fn auto(s: Surroundings) -> (OutputKind, String) {
    let window = match (s.window_built, s.display) {
        (true, true) => return (OutputKind::Window, "window: a display is available".into()),
        (false, _) => "window: not in this build (feature `window`)",
        (true, false) => "window: no display ($DISPLAY and $WAYLAND_DISPLAY are unset)",
    };
    if s.tty {
        (
            OutputKind::Terminal,
            format!("{window}; terminal: stdout is a terminal"),
        )
    } else {
        (
            OutputKind::Headless,
            format!("{window}; terminal: stdout is not a terminal; so headless"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_a_window_then_the_terminal_then_headless() {
        let s = |window_built, display, tty| Surroundings {
            window_built,
            display,
            tty,
        };
        assert_eq!(auto(s(true, true, true)).0, OutputKind::Window);
        assert_eq!(auto(s(true, false, true)).0, OutputKind::Terminal);
        assert_eq!(auto(s(false, true, true)).0, OutputKind::Terminal);
        let (kind, why) = auto(s(true, false, false));
        assert_eq!(kind, OutputKind::Headless);
        assert!(
            why.contains("no display") && why.contains("not a terminal"),
            "{why}"
        );
        assert!(auto(s(false, true, false)).1.contains("not in this build"));
    }

    #[test]
    fn keys_map_to_controls() {
        assert_eq!(Control::for_key(' '), Some(Control::TogglePause));
        assert_eq!(Control::for_key('n'), Some(Control::Next));
        assert_eq!(Control::for_key('c'), Some(Control::Trigger));
        assert_eq!(Control::for_key('x'), None);
    }
}
