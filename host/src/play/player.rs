//! A running show: [`Player`] makes the frames of a scene (its engine) or a playlist (its
//! player), behind the one interface `marquee run`, `trace` and `verify` use.

use crate::engine::{Engine, EngineError, EngineOptions, Failure};
use crate::model::show::Show;
use crate::play::playlist::PlaylistPlayer;
use crate::record::thread::RecorderSample;

/// A running [`Show`].
#[derive(Debug)]
pub enum Player {
    /// A scene's engine.
    Scene(Box<Engine>),
    /// A playlist's player.
    Playlist(Box<PlaylistPlayer>),
}

impl Player {
    /// Starts `show`.
    pub fn new(show: &Show, options: &EngineOptions) -> Result<Player, EngineError> {
        Ok(match show {
            Show::Scene(s) => Player::Scene(Box::new(Engine::new(s, options)?)),
            Show::Playlist(p) => Player::Playlist(Box::new(PlaylistPlayer::new(p.clone(), options)?)),
        })
    }

    /// Makes the next frame.
    pub fn step(&mut self) -> Result<&[u8], EngineError> {
        match self {
            Player::Scene(e) => Ok(e.step()),
            Player::Playlist(p) => p.step(),
        }
    }

    /// The size of the frames.
    pub fn frame_size(&self) -> (u32, u32) {
        match self {
            Player::Scene(e) => e.frame_size(),
            Player::Playlist(p) => p.frame_size(),
        }
    }

    /// Failures since the last call.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        match self {
            Player::Scene(e) => e.take_failures(),
            Player::Playlist(p) => p.take_failures(),
        }
    }

    /// Finishes recorders; returns the failures not yet taken.
    pub fn finish(&mut self) -> Vec<Failure> {
        match self {
            Player::Scene(e) => e.finish(),
            Player::Playlist(p) => p.finish(),
        }
    }

    /// Whether it has ended by itself (only a playlist that does not loop does).
    pub fn is_done(&self) -> bool {
        match self {
            Player::Scene(_) => false,
            Player::Playlist(p) => p.is_done(),
        }
    }

    /// The layers' counters (`Engine::counters`) of the scene playing now.
    pub fn counters(&mut self) -> Vec<(String, String, u64)> {
        match self {
            Player::Scene(e) => e.counters(),
            Player::Playlist(p) => p.counters(),
        }
    }

    /// Asks the recorders of the scene showing now for a clip around the next frame.
    pub fn trigger(&mut self) {
        match self {
            Player::Scene(e) => e.trigger(),
            Player::Playlist(p) => {
                if let Some(e) = p.current_mut() {
                    e.trigger();
                }
            }
        }
    }

    /// Each recorder of the scene showing now, by id: frames written, dropped, queued.
    pub fn recorder_samples(&self) -> Vec<(String, RecorderSample)> {
        self.engine().map(|e| e.recorder_report()).unwrap_or_default()
    }

    /// The engine making frames now (a playlist's current entry).
    pub fn engine(&self) -> Option<&Engine> {
        match self {
            Player::Scene(e) => Some(e),
            Player::Playlist(p) => p.current(),
        }
    }

    /// Changes whenever the scene showing changes (a playlist's next entry).
    pub fn epoch(&self) -> u64 {
        match self {
            Player::Scene(_) => 0,
            Player::Playlist(p) => p.epoch(),
        }
    }

    /// Skips `frames` frames without making them (a live run behind the clock).
    pub fn skip(&mut self, frames: u64) -> Result<(), EngineError> {
        match self {
            Player::Scene(e) => {
                let next = e.next_frame() + frames;
                e.seek(next);
                Ok(())
            }
            Player::Playlist(p) => p.skip(frames),
        }
    }

    /// Turns delivery of frames to recorders on or off.
    pub fn set_recording(&mut self, on: bool) {
        match self {
            Player::Scene(e) => e.set_recording(on),
            Player::Playlist(p) => p.set_recording(on),
        }
    }

    /// Skips to the next playlist entry (a scene has none: nothing happens).
    pub fn next_entry(&mut self) -> Result<(), EngineError> {
        match self {
            Player::Scene(_) => Ok(()),
            Player::Playlist(p) => p.next_entry(),
        }
    }

    /// Goes back to the previous playlist entry (a scene has none: nothing happens).
    pub fn previous_entry(&mut self) -> Result<(), EngineError> {
        match self {
            Player::Scene(_) => Ok(()),
            Player::Playlist(p) => p.previous_entry(),
        }
    }
}
