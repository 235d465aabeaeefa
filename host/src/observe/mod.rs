//! How a run reports on itself: the metrics stream and the allocation counter.

pub mod alloc_count;
pub mod metrics;
