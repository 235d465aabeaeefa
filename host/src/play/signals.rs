//! Signals a live run answers: Ctrl-C and SIGTERM end it cleanly, SIGUSR1 triggers a clip.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C (SIGINT) and SIGTERM once a live run has installed its handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Set by SIGUSR1 once a live run has installed its handler: a clip trigger from outside
/// (`kill -USR1 <pid>`).
static TRIGGERED: std::sync::LazyLock<std::sync::Arc<AtomicBool>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(AtomicBool::new(false)));

/// Makes Ctrl-C and SIGTERM end live runs cleanly (recorders finished, terminal restored)
/// instead of killing the process, and SIGUSR1 trigger a clip. Safe to call more than once.
pub fn handle_interrupts() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // If another handler is already installed, Ctrl-C keeps its old meaning.
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
        #[cfg(unix)]
        let _ = signal_hook::flag::register(signal_hook::consts::SIGUSR1, std::sync::Arc::clone(&TRIGGERED));
    });
}

/// Whether Ctrl-C or SIGTERM has arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Whether SIGUSR1 has arrived since the last call.
pub(crate) fn take_trigger() -> bool {
    TRIGGERED.swap(false, Ordering::SeqCst)
}
