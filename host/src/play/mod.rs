//! Playing a show: the player that makes its frames, and the live loop that paces them and
//! hands them to outputs.

pub mod bench;
pub mod control;
pub mod handoff;
pub mod live;
pub mod player;
pub mod signals;
