//! Pixels put together: the accumulator (the final frame and the compositor), the transitions
//! between two scenes, and the brightness the outputs get.

pub mod accumulator;
pub mod brightness;
pub mod transition;
