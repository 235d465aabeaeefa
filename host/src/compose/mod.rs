//! Pixels put together: the accumulator (layer buffers and the compositor) and the transitions
//! between two scenes.

pub mod accumulator;
pub mod transition;
