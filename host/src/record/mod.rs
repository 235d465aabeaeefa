//! Recorders as the host runs them: each on a thread of its own behind a bounded buffer pool,
//! and clips around triggers in front of any recorder.

pub mod clips;
pub mod thread;
