//! Playlists: scenes in sequence, each for a duration and a number of repeats, entered through a
//! transition (cut, crossfade, slide, wipe); the list may loop, and shuffle with a seed.
//!
//! A playlist is a TOML file with `[[entry]]` tables; an entry names a `scene` file, or another
//! `playlist` whose entries are spliced in its place (a playlist that comes back to itself is an
//! error). Every scene of a playlist must make frames of the same size at the same rate.
//!
//! Timing is in frames, from the frame index: entry `k` starts when entry `k − 1` has shown its
//! `duration`; its transition takes the first `transition_seconds` of it, while the scene before
//! keeps running underneath. Every play of an entry starts its scene from frame 0 on a fresh
//! engine. The same playlist, seed and calls to `next_entry` / `previous_entry` of its player
//! (`play::playlist`) at the same frames give the same frames, so playlists trace and verify like
//! scenes.

use std::path::{Path, PathBuf};

use marquee_plugin_api::Rng;
use marquee_plugin_api::rng::mix;
use serde::Deserialize;

use crate::model::paths::input;
use crate::model::scene::{Scene, SceneError, Source, parse_file};
use crate::model::spanned::Spanned;
use crate::plugins::registry::Registry;

/// Longest entry accepted, in seconds (a day).
pub const MAX_DURATION: f64 = 86_400.0;
/// Most repeats of one entry.
pub const MAX_REPEAT: u32 = 10_000;
/// Most entries after splicing nested playlists.
pub const MAX_ENTRIES: usize = 10_000;

/// How a playlist file is written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaylistFile {
    /// Display name (default: the file's stem).
    pub name: Option<String>,
    /// Seed of the shuffle.
    pub seed: Option<u64>,
    /// Start again after the last entry, forever.
    #[serde(rename = "loop")]
    pub looped: Option<bool>,
    /// Play the entries in a seeded random order (a new order each time round).
    pub shuffle: Option<bool>,
    /// The entries, in order.
    #[serde(default)]
    pub entry: Vec<Spanned<EntryFile>>,
    /// The LED rig to drive while it plays (relative to the playlist file); `--rig` wins, and
    /// the playlist's rig is the one driven, whatever its scenes name.
    pub rig: Option<String>,
}

/// One `[[entry]]` as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryFile {
    /// A scene file, relative to the playlist.
    pub scene: Option<Spanned<String>>,
    /// Or a playlist file whose entries go here.
    pub playlist: Option<Spanned<String>>,
    /// Seconds the scene shows (scene entries only).
    pub duration: Option<Spanned<f64>>,
    /// Times the entry plays in a row (default 1).
    pub repeat: Option<Spanned<u32>>,
    /// How the entry comes in (default `cut`).
    pub transition: Option<Spanned<Transition>>,
    /// Length of the transition in seconds (default 1, none for `cut`).
    pub transition_seconds: Option<Spanned<f64>>,
}

/// How an entry replaces the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// At once.
    Cut,
    /// The new scene fades in over the old.
    Crossfade,
    /// The new scene pushes the old out to the left, entering from the right.
    SlideLeft,
    /// The new scene pushes the old out to the right, entering from the left.
    SlideRight,
    /// The new scene pushes the old out upwards, entering from the bottom.
    SlideUp,
    /// The new scene pushes the old out downwards, entering from the top.
    SlideDown,
    /// A vertical edge sweeps left to right, the new scene behind it.
    Wipe,
}

/// One entry, validated, with nested playlists spliced in.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Index into [`Playlist::scenes`].
    pub scene: usize,
    /// Frames each play shows.
    pub frames: u64,
    /// Plays in a row.
    pub repeat: u32,
    /// How it comes in.
    pub transition: Transition,
    /// Frames the transition takes (0 for a cut).
    pub transition_frames: u64,
}

/// A validated playlist.
#[derive(Debug, Clone)]
pub struct Playlist {
    /// The playlist file.
    pub source: Source,
    /// xxh3-64 over the playlist file and every scene and nested playlist it names.
    pub hash: u64,
    /// Display name.
    pub name: String,
    /// Shuffle seed.
    pub seed: u64,
    /// Whether it starts again after the last entry.
    pub looped: bool,
    /// Whether the order is shuffled.
    pub shuffle: bool,
    /// Each distinct scene file once.
    pub scenes: Vec<Scene>,
    /// The entries, nested playlists spliced in.
    pub entries: Vec<Entry>,
    /// Frames per second, shared by every scene.
    pub fps: f64,
    /// Every file read: this playlist, the playlists it nests, their scenes.
    pub files: Vec<PathBuf>,
    /// The LED rig it names (resolved).
    pub rig: Option<PathBuf>,
}

impl Playlist {
    /// Reads and validates the playlist at `path`, loading every scene it names.
    pub fn load(path: &Path, registry: &Registry) -> Result<Playlist, SceneError> {
        Playlist::parse(path, crate::model::scene::read_source(path)?, registry)
    }

    /// Validates playlist `text` as if read from `path`.
    pub fn parse(path: &Path, text: String, registry: &Registry) -> Result<Playlist, SceneError> {
        let source = Source {
            path: path.to_path_buf(),
            text,
        };
        let file = parse_file(&source, "playlist")?;
        Playlist::from_file(source, file, registry)
    }

    /// Validates `file`, read from `source`, loading every scene it names.
    pub(crate) fn from_file(
        source: Source,
        file: PlaylistFile,
        registry: &Registry,
    ) -> Result<Playlist, SceneError> {
        let path = source.path.clone();
        let path = path.as_path();
        let mut loader = Loader {
            registry,
            scenes: Vec::new(),
            scene_paths: Vec::new(),
            entries: Vec::new(),
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            stack: Vec::new(),
            files: Vec::new(),
        };
        loader.begin(&source);
        loader.splice(&source, &file, None)?;
        let invalid = |message: String| SceneError::Invalid(Box::new(source.diag(message, None)));
        let Some(first) = loader.scenes.first() else {
            return Err(invalid(
                "the playlist has no entries; add at least one [[entry]] with a scene and a duration".into(),
            ));
        };
        let fps = first.fps;
        Ok(Playlist {
            name: file.name.clone().unwrap_or_else(|| stem(path)),
            seed: file.seed.unwrap_or(0),
            looped: file.looped.unwrap_or(false),
            shuffle: file.shuffle.unwrap_or(false),
            hash: loader.hasher.digest(),
            scenes: loader.scenes,
            entries: loader.entries,
            files: loader.files,
            fps,
            rig: file.rig.as_deref().map(|r| crate::model::paths::input(path, r)),
            source,
        })
    }

    /// `scene` as a sequence of one entry that plays forever: how a scene is played, through
    /// the same player as a playlist.
    pub fn single(scene: Scene) -> Playlist {
        Playlist {
            source: scene.source.clone(),
            hash: scene.hash,
            name: scene.name.clone(),
            seed: scene.seed,
            looped: true,
            shuffle: false,
            entries: vec![Entry {
                scene: 0,
                frames: u64::MAX,
                repeat: 1,
                transition: Transition::Cut,
                transition_frames: 0,
            }],
            fps: scene.fps,
            files: vec![scene.source.path.clone()],
            rig: scene.rig.clone(),
            scenes: vec![scene],
        }
    }

    /// Frames in one time through the list: every entry's frames times its repeats.
    pub fn cycle_frames(&self) -> u64 {
        self.entries.iter().map(|e| e.frames * e.repeat as u64).sum()
    }

    /// Plays in one time through the list.
    pub fn cycle_slots(&self) -> u64 {
        self.entries.iter().map(|e| e.repeat as u64).sum()
    }

    /// The entry order of time `cycle` through the list: file order, or shuffled with the seed.
    pub fn order(&self, cycle: u64, out: &mut Vec<usize>) {
        out.clear();
        out.extend(0..self.entries.len());
        if self.shuffle {
            let mut rng = Rng::new(mix(self.seed ^ mix(cycle)));
            for i in (1..out.len()).rev() {
                out.swap(i, rng.below(i as u32 + 1) as usize);
            }
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "playlist".into())
}

/// Whether `text`, which is not valid TOML, looks like a playlist (a line starts an `[[entry]]`
/// table), so that its syntax error is reported as a playlist's.
pub(crate) fn looks_like_playlist(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("[[entry]]"))
}

struct Loader<'r> {
    registry: &'r Registry,
    scenes: Vec<Scene>,
    scene_paths: Vec<PathBuf>,
    entries: Vec<Entry>,
    hasher: xxhash_rust::xxh3::Xxh3,
    /// Canonical paths of the playlists being spliced, outermost first.
    stack: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Loader<'_> {
    /// Counts `source` as read: hashed, and among the files.
    fn begin(&mut self, source: &Source) {
        self.hasher.update(source.text.as_bytes());
        self.files.push(source.path.clone());
    }

    fn parse(&mut self, source: &Source) -> Result<PlaylistFile, SceneError> {
        self.begin(source);
        parse_file(source, "playlist")
    }

    /// Appends the entries of `file` (read from `source`); `first_transition` overrides the
    /// transition of the first entry spliced.
    fn splice(
        &mut self,
        source: &Source,
        file: &PlaylistFile,
        mut first_transition: Option<(Transition, f64)>,
    ) -> Result<(), SceneError> {
        let invalid = |message: String, span| SceneError::Invalid(Box::new(source.diag(message, Some(span))));
        let me = std::fs::canonicalize(&source.path).unwrap_or_else(|_| source.path.clone());
        self.stack.push(me);
        for spanned in &file.entry {
            let (span, e) = (spanned.span(), spanned.get_ref());
            let repeat = match &e.repeat {
                Some(r) if !(1..=MAX_REPEAT).contains(r.get_ref()) => {
                    return Err(invalid(
                        format!("repeat must be from 1 to {MAX_REPEAT}, found {}", r.get_ref()),
                        r.span(),
                    ));
                }
                Some(r) => *r.get_ref(),
                None => 1,
            };
            let transition = e.transition.as_ref().map_or(Transition::Cut, |t| *t.get_ref());
            let seconds = match &e.transition_seconds {
                Some(s) if !(0.0..=MAX_DURATION).contains(s.get_ref()) => {
                    return Err(invalid(
                        format!(
                            "transition_seconds must be from 0 to {MAX_DURATION}, found {}",
                            s.get_ref()
                        ),
                        s.span(),
                    ));
                }
                Some(s) => *s.get_ref(),
                None if transition == Transition::Cut => 0.0,
                None => 1.0,
            };
            let chosen = match (&e.transition, first_transition.take()) {
                (None, Some(outer)) => outer,
                _ => (transition, seconds),
            };
            match (&e.scene, &e.playlist) {
                (Some(scene), None) => {
                    let duration = e.duration.as_ref().ok_or_else(|| {
                        invalid("a scene entry needs `duration`, in seconds".into(), span.clone())
                    })?;
                    let d = *duration.get_ref();
                    if !(d > 0.0 && d <= MAX_DURATION) {
                        return Err(invalid(
                            format!("duration must be above 0 and at most {MAX_DURATION} seconds, found {d}"),
                            duration.span(),
                        ));
                    }
                    let index = self.scene(source, scene)?;
                    let fps = self.scenes[index].fps;
                    let frames = ((d * fps).round() as u64).max(1);
                    let transition_frames = (chosen.1 * fps).round() as u64;
                    if transition_frames > frames {
                        let at = e
                            .transition_seconds
                            .as_ref()
                            .map_or(duration.span(), |s| s.span());
                        return Err(invalid(
                            format!(
                                "the transition ({} s) is longer than the entry it brings in ({d} s)",
                                chosen.1
                            ),
                            at,
                        ));
                    }
                    if self.entries.len() >= MAX_ENTRIES {
                        return Err(invalid(
                            format!("more than {MAX_ENTRIES} entries after splicing nested playlists"),
                            span,
                        ));
                    }
                    self.entries.push(Entry {
                        scene: index,
                        frames,
                        repeat,
                        transition: if transition_frames == 0 {
                            Transition::Cut
                        } else {
                            chosen.0
                        },
                        transition_frames,
                    });
                }
                (None, Some(nested)) => {
                    if let Some(d) = &e.duration {
                        return Err(invalid(
                            "`duration` belongs to scene entries; a nested playlist's entries have their own"
                                .into(),
                            d.span(),
                        ));
                    }
                    let path = input(&source.path, nested.get_ref());
                    let canonical = std::fs::canonicalize(&path).map_err(|err| {
                        invalid(
                            format!("cannot read playlist {}: {err}", path.display()),
                            nested.span(),
                        )
                    })?;
                    if let Some(at) = self.stack.iter().position(|p| *p == canonical) {
                        let chain: Vec<String> = self.stack[at..]
                            .iter()
                            .chain(Some(&canonical))
                            .map(|p| p.display().to_string())
                            .collect();
                        return Err(SceneError::Invalid(Box::new(
                            source
                                .diag(
                                    format!("the playlist nests itself: {}", chain.join(" → ")),
                                    Some(nested.span()),
                                )
                                .help("a playlist may include others, but never one that leads back to it"),
                        )));
                    }
                    let text = crate::model::scene::read_source(&path).map_err(|err| {
                        let why = match &err {
                            SceneError::Read { source, .. } => source.to_string(),
                            other => other.to_string(),
                        };
                        invalid(
                            format!("cannot read playlist {}: {why}", path.display()),
                            nested.span(),
                        )
                    })?;
                    let inner_source = Source { path, text };
                    let inner = self.parse(&inner_source)?;
                    if inner.looped == Some(true) {
                        return Err(invalid(
                            format!(
                                "{} loops forever, so nothing after it would ever play; set `loop = false` there",
                                nested.get_ref()
                            ),
                            nested.span(),
                        ));
                    }
                    let start = self.entries.len();
                    self.splice(&inner_source, &inner, Some(chosen))?;
                    if inner.shuffle == Some(true) {
                        let mut order = Vec::new();
                        let nested_list = Playlist {
                            source: inner_source.clone(),
                            hash: 0,
                            name: String::new(),
                            seed: inner.seed.unwrap_or(0),
                            looped: false,
                            shuffle: true,
                            scenes: Vec::new(),
                            rig: None,
                            entries: self.entries[start..].to_vec(),
                            fps: 0.0,
                            files: Vec::new(),
                        };
                        nested_list.order(0, &mut order);
                        let block: Vec<Entry> =
                            order.iter().map(|&i| nested_list.entries[i].clone()).collect();
                        self.entries.splice(start.., block);
                    }
                    let block = self.entries[start..].to_vec();
                    // Checked before expanding: nested repeats multiply.
                    if start + block.len() * repeat as usize > MAX_ENTRIES {
                        return Err(invalid(
                            format!(
                                "{} entries × repeat {repeat} would make more than {MAX_ENTRIES} entries after splicing nested playlists",
                                block.len()
                            ),
                            e.repeat.as_ref().map_or(nested.span(), |r| r.span()),
                        ));
                    }
                    for _ in 1..repeat {
                        self.entries.extend(block.iter().cloned());
                    }
                }
                _ => {
                    return Err(SceneError::Invalid(Box::new(
                        source
                            .diag("an entry names exactly one of `scene` or `playlist`", Some(span))
                            .help("scene = \"scenes/showcase.toml\" with duration = 10.0"),
                    )));
                }
            }
        }
        self.stack.pop();
        Ok(())
    }

    /// The index of the scene at `name` (relative to the playlist `source`), loading it the
    /// first time.
    fn scene(&mut self, source: &Source, name: &Spanned<String>) -> Result<usize, SceneError> {
        let path = input(&source.path, name.get_ref());
        let canonical = std::fs::canonicalize(&path).map_err(|err| {
            SceneError::Invalid(Box::new(
                source
                    .diag(
                        format!("scene {} cannot be read: {err}", path.display()),
                        Some(name.span()),
                    )
                    .help("scene paths are relative to the playlist file"),
            ))
        })?;
        if let Some(i) = self.scene_paths.iter().position(|p| *p == canonical) {
            return Ok(i);
        }
        let scene = Scene::load(&path, self.registry)?;
        if let Some(first) = self.scenes.first() {
            let (a, b) = (&first.canvas, &scene.canvas);
            if (a.width, a.height) != (b.width, b.height) || first.fps != scene.fps {
                return Err(SceneError::Invalid(Box::new(
                    source
                        .diag(
                            format!(
                                "scene {} is {}×{} at {} fps, but the playlist's first scene is {}×{} at {} fps",
                                path.display(),
                                b.width,
                                b.height,
                                scene.fps,
                                a.width,
                                a.height,
                                first.fps
                            ),
                            Some(name.span()),
                        )
                        .help("every scene of a playlist makes frames of one size at one rate"),
                )));
            }
        }
        self.hasher.update(&scene.hash.to_le_bytes());
        self.files.push(path);
        self.scene_paths.push(canonical);
        self.scenes.push(scene);
        Ok(self.scenes.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation_that_changes_each_cycle() {
        let list = Playlist {
            source: Source {
                path: "p.toml".into(),
                text: String::new(),
            },
            hash: 0,
            name: "p".into(),
            seed: 5,
            looped: true,
            shuffle: true,
            rig: None,
            scenes: Vec::new(),
            entries: (0..8)
                .map(|scene| Entry {
                    scene,
                    frames: 1,
                    repeat: 1,
                    transition: Transition::Cut,
                    transition_frames: 0,
                })
                .collect(),
            fps: 30.0,
            files: Vec::new(),
        };
        let (mut a, mut b, mut again) = (Vec::new(), Vec::new(), Vec::new());
        list.order(0, &mut a);
        list.order(1, &mut b);
        list.order(0, &mut again);
        assert_eq!(a, again);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>());
    }
}
