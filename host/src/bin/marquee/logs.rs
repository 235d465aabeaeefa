//! Where log lines go: standard error, except while a terminal output owns the screen, when they
//! wait in a buffer that is written out once the terminal is restored; and progress bars.

use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static HELD: AtomicBool = AtomicBool::new(false);
static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Holds log lines back (the terminal shows frames) or lets them through and writes out what
/// was held.
pub fn hold(on: bool) {
    HELD.store(on, Ordering::SeqCst);
    if !on {
        let held = std::mem::take(&mut *BUFFER.lock().unwrap_or_else(|e| e.into_inner()));
        let _ = io::stderr().write_all(&held);
    }
}

/// A writer for `tracing_subscriber`.
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if HELD.load(Ordering::SeqCst) {
            BUFFER
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        } else {
            io::stderr().write(buf)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Sets up `tracing`: human-readable lines, or JSON objects with `json`.
pub fn init(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_writer(|| Writer)
        .with_target(false)
        .with_max_level(tracing::Level::INFO);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder
            .without_time()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// A progress bar on standard error, redrawn at most ten times a second, and silent when
/// standard error is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} frames, {per_sec}, {eta} left")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}
