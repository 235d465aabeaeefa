//! How a run reports on itself: the metrics stream, `marquee bench`, and the allocation counter.

pub mod alloc_count;
pub mod bench;
pub mod metrics;
