//! Playing a show: the player that makes its frames, and the live loop that paces them and
//! hands them to outputs.

pub mod live;
pub mod show;
