//! Pixels put together: the accumulator (the final frame and the compositor) and the transitions
//! between two scenes.

pub mod accumulator;
pub mod transition;
