//! Recorders as the host runs them: each on a thread of its own behind a bounded buffer pool,
//! clips around triggers in front of any recorder, and output paths confined to the output
//! directory.

pub mod clips;
pub mod paths;
pub mod thread;
