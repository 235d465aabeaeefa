//! Pixels put together: the accumulator (layer buffers and the compositor).

pub mod accumulator;
