//! What `marquee run`, `trace` and `verify` play: one scene or a playlist, behind one interface.

use std::path::Path;
use std::sync::Arc;

use crate::engine::{Engine, EngineError, EngineOptions, Failure};
use crate::model::playlist::{Playlist, PlaylistPlayer, is_playlist};
use crate::model::scene::{Scene, SceneError};
use crate::plugins::registry::Registry;
use crate::record::thread::RecorderSample;

/// A scene or a playlist, loaded and validated.
#[derive(Debug)]
pub enum Show {
    /// One scene.
    Scene(Box<Scene>),
    /// Scenes in sequence.
    Playlist(Arc<Playlist>),
}

impl Show {
    /// Loads the file at `path`: a playlist if it has `[[entry]]` tables, else a scene.
    pub fn load(path: &Path, registry: &Registry) -> Result<Show, SceneError> {
        let text = crate::model::scene::read_source(path)?;
        Ok(if is_playlist(&text) {
            Show::Playlist(Arc::new(Playlist::parse(path, text, registry)?))
        } else {
            Show::Scene(Box::new(Scene::parse(path, text, registry)?))
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        match self {
            Show::Scene(s) => &s.source.path,
            Show::Playlist(p) => &p.source.path,
        }
    }

    /// Display name.
    pub fn name(&self) -> &str {
        match self {
            Show::Scene(s) => &s.name,
            Show::Playlist(p) => &p.name,
        }
    }

    /// The seed (the scene's, or the playlist's shuffle seed).
    pub fn seed(&self) -> u64 {
        match self {
            Show::Scene(s) => s.seed,
            Show::Playlist(p) => p.seed,
        }
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        match self {
            Show::Scene(s) => s.fps,
            Show::Playlist(p) => p.fps,
        }
    }

    /// Runs a scene at `fps` instead of its own rate (up to the scene limit); returns false for
    /// a playlist, whose scenes keep theirs.
    pub fn set_fps(&mut self, fps: f64) -> bool {
        match self {
            Show::Scene(s) if fps > 0.0 && fps <= crate::model::scene::MAX_FPS => {
                s.fps = fps;
                true
            }
            _ => false,
        }
    }

    /// The hash recorded in traces: of the scene file, or of the playlist and all it names.
    pub fn hash_hex(&self) -> String {
        match self {
            Show::Scene(s) => s.hash_hex(),
            Show::Playlist(p) => p.hash_hex(),
        }
    }

    /// The scenes it plays.
    pub fn scenes(&self) -> Vec<&Scene> {
        match self {
            Show::Scene(s) => vec![s],
            Show::Playlist(p) => p.scenes.iter().collect(),
        }
    }

    /// The files it was read from: the scene, or the playlist, the playlists it nests and their
    /// scenes. Editing any of them changes the show.
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        match self {
            Show::Scene(s) => vec![s.source.path.clone()],
            Show::Playlist(p) => p.files.clone(),
        }
    }

    /// How many frames it lasts, if it ends by itself (a playlist that does not loop).
    pub fn length(&self) -> Option<u64> {
        match self {
            Show::Playlist(p) if !p.looped => Some(p.cycle_frames()),
            _ => None,
        }
    }

    /// Starts it.
    pub fn player(&self, options: &EngineOptions) -> Result<Player, EngineError> {
        Ok(match self {
            Show::Scene(s) => Player::Scene(Box::new(Engine::new(s, options)?)),
            Show::Playlist(p) => Player::Playlist(Box::new(PlaylistPlayer::new(p.clone(), options)?)),
        })
    }
}

/// A running [`Show`].
#[derive(Debug)]
pub enum Player {
    /// A scene's engine.
    Scene(Box<Engine>),
    /// A playlist's player.
    Playlist(Box<PlaylistPlayer>),
}

impl Player {
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

impl From<Scene> for Show {
    fn from(scene: Scene) -> Self {
        Show::Scene(Box::new(scene))
    }
}

impl From<Playlist> for Show {
    fn from(playlist: Playlist) -> Self {
        Show::Playlist(Arc::new(playlist))
    }
}
