//! What `marquee run`, `trace` and `verify` play, as read: one scene or a playlist (told apart
//! by its `[[entry]]` tables), read once.

use std::path::Path;
use std::sync::Arc;

use crate::model::hex;
use toml::de::DeTable;

use crate::model::playlist::{Playlist, looks_like_playlist};
use crate::model::scene::{Scene, SceneError, Source, file_of, read_source, syntax_diag};
use crate::plugins::registry::Registry;

/// A scene or a playlist, loaded and validated.
#[derive(Debug)]
pub enum Show {
    /// One scene.
    Scene(Box<Scene>),
    /// Scenes in sequence.
    Playlist(Arc<Playlist>),
}

impl Show {
    /// Loads the file at `path`, parsed once: a playlist if it has `[[entry]]` tables, else a
    /// scene.
    pub fn load(path: &Path, registry: &Registry) -> Result<Show, SceneError> {
        let source = Source {
            path: path.to_path_buf(),
            text: read_source(path)?,
        };
        let what = |playlist| if playlist { "playlist" } else { "scene" };
        let doc = match DeTable::parse(&source.text) {
            Ok(doc) => doc,
            // Not TOML: say so in the words of what it looks like.
            Err(e) => {
                let diag = syntax_diag(&source, what(looks_like_playlist(&source.text)), &e);
                return Err(SceneError::Syntax(Box::new(diag)));
            }
        };
        Ok(if doc.get_ref().contains_key("entry") {
            let file = file_of(&source, what(true), doc)?;
            Show::Playlist(Arc::new(Playlist::from_file(source, file, registry)?))
        } else {
            let file = file_of(&source, what(false), doc)?;
            Show::Scene(Box::new(Scene::from_file(source, file, registry)?))
        })
    }

    /// What a player plays: the playlist, or the scene as a sequence of one entry.
    pub fn sequence(&self) -> Arc<Playlist> {
        match self {
            Show::Scene(s) => Arc::new(Playlist::single(Scene::clone(s))),
            Show::Playlist(p) => Arc::clone(p),
        }
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
            Show::Scene(s) => hex(s.hash),
            Show::Playlist(p) => hex(p.hash),
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

    /// The LED rig the scene or playlist names, if any (a playlist's own, not its scenes').
    pub fn rig(&self) -> Option<&Path> {
        match self {
            Show::Scene(s) => s.rig.as_deref(),
            Show::Playlist(p) => p.rig.as_deref(),
        }
    }

    /// How many frames it lasts, if it ends by itself (a playlist that does not loop).
    pub fn length(&self) -> Option<u64> {
        match self {
            Show::Playlist(p) if !p.looped => Some(p.cycle_frames()),
            _ => None,
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
