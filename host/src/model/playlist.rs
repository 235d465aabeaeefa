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
//! engine. The same playlist, seed and calls to [`PlaylistPlayer::next_entry`] / `previous_entry` at the same
//! frames give the same frames, so playlists trace and verify like scenes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use marquee_plugin_api::Rng;
use marquee_plugin_api::rng::mix;
use serde::Deserialize;

use crate::engine::{Engine, EngineError, EngineOptions, Failure};
use crate::model::scene::{Scene, SceneError, Source, syntax_diag};
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
#[derive(Debug)]
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
}

impl Playlist {
    /// Reads and validates the playlist at `path`, loading every scene it names.
    pub fn load(path: &Path, registry: &Registry) -> Result<Playlist, SceneError> {
        Playlist::parse(path, crate::model::scene::read_source(path)?, registry)
    }

    /// Validates playlist `text` as if read from `path`.
    pub fn parse(path: &Path, text: String, registry: &Registry) -> Result<Playlist, SceneError> {
        let mut loader = Loader {
            registry,
            scenes: Vec::new(),
            scene_paths: Vec::new(),
            entries: Vec::new(),
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            stack: Vec::new(),
            files: Vec::new(),
        };
        let source = Source {
            path: path.to_path_buf(),
            text,
        };
        let file = loader.parse(&source)?;
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
            source,
        })
    }

    /// The hash as 16 hex digits.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
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

/// Whether `text` is a playlist rather than a scene: it has `[[entry]]` tables (or, when it is
/// not valid TOML, a line that starts one, so its syntax error is reported as a playlist's).
pub fn is_playlist(text: &str) -> bool {
    match toml::from_str::<toml::Table>(text) {
        Ok(table) => table.contains_key("entry"),
        Err(_) => text.lines().any(|l| l.trim_start().starts_with("[[entry]]")),
    }
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
    fn parse(&mut self, source: &Source) -> Result<PlaylistFile, SceneError> {
        self.hasher.update(source.text.as_bytes());
        self.files.push(source.path.clone());
        toml::from_str(&source.text)
            .map_err(|e| SceneError::Syntax(Box::new(syntax_diag(source, "playlist", &e))))
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
        let dir = source.path.parent().unwrap_or(Path::new("")).to_path_buf();
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
                    let index = self.scene(source, &dir, scene)?;
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
                    let path = dir.join(nested.get_ref());
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

    /// The index of the scene at `name` (relative to `dir`), loading it the first time.
    fn scene(&mut self, source: &Source, dir: &Path, name: &Spanned<String>) -> Result<usize, SceneError> {
        let path = dir.join(name.get_ref());
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

/// Writes into `out` frame `step` (0-based) of the `steps`-frame transition `kind` from `from`
/// to `to`, all `width × height` RGBA8. The new scene's share is `(step + 1) / (steps + 1)`:
/// neither end is shown whole, and the frame after the transition is the new scene alone.
pub fn blend_transition(
    kind: Transition,
    step: u64,
    steps: u64,
    (from, to): (&[u8], &[u8]),
    out: &mut [u8],
    width: usize,
    height: usize,
) {
    let share = (step + 1) as f64 / (steps + 1) as f64;
    let row = width * 4;
    match kind {
        Transition::Cut => out.copy_from_slice(to),
        Transition::Crossfade => {
            let a = (share * 256.0).round() as u32;
            for ((o, &f), &t) in out.iter_mut().zip(from).zip(to) {
                *o = ((f as u32 * (256 - a) + t as u32 * a + 128) >> 8) as u8;
            }
        }
        Transition::SlideLeft | Transition::SlideRight | Transition::Wipe => {
            let s = ((share * width as f64).round() as usize).min(width);
            for ((o, f), t) in out
                .chunks_exact_mut(row)
                .zip(from.chunks_exact(row))
                .zip(to.chunks_exact(row))
            {
                let (left, right) = o.split_at_mut((width - s) * 4);
                match kind {
                    Transition::SlideLeft => {
                        // The old row shifted left by s, the new row's left part entering.
                        left.copy_from_slice(&f[s * 4..]);
                        right.copy_from_slice(&t[..s * 4]);
                    }
                    Transition::SlideRight => {
                        let (left, right) = o.split_at_mut(s * 4);
                        left.copy_from_slice(&t[(width - s) * 4..]);
                        right.copy_from_slice(&f[..(width - s) * 4]);
                    }
                    _ => {
                        let (left, right) = o.split_at_mut(s * 4);
                        left.copy_from_slice(&t[..s * 4]);
                        right.copy_from_slice(&f[s * 4..]);
                    }
                }
            }
        }
        Transition::SlideUp | Transition::SlideDown => {
            let s = ((share * height as f64).round() as usize).min(height);
            let keep = (height - s) * row;
            if kind == Transition::SlideUp {
                out[..keep].copy_from_slice(&from[s * row..]);
                out[keep..].copy_from_slice(&to[..s * row]);
            } else {
                out[..s * row].copy_from_slice(&to[keep..]);
                out[s * row..].copy_from_slice(&from[..keep]);
            }
        }
    }
}

/// The engines making frames: the current one, and the outgoing one during a transition.
fn running<'a>(
    current: &'a mut Option<Engine>,
    outgoing: &'a mut Option<Engine>,
    in_transition: bool,
) -> impl Iterator<Item = &'a mut Engine> {
    current
        .as_mut()
        .into_iter()
        .chain(outgoing.as_mut().filter(|_| in_transition))
}

/// Plays a [`Playlist`]: one engine for the entry showing, and during a transition one more for
/// the entry going out.
pub struct PlaylistPlayer {
    playlist: Arc<Playlist>,
    options: EngineOptions,
    /// One engine per scene, built up front to check every scene starts; each is used for its
    /// scene's first play, later plays get a fresh one.
    ready: Vec<Option<Engine>>,
    current: Option<Engine>,
    outgoing: Option<Engine>,
    /// Play number, counting from 0 across times through the list.
    slot: u64,
    /// Frames shown of the current play.
    slot_frame: u64,
    entry: usize,
    order: Vec<usize>,
    order_cycle: u64,
    size: (u32, u32),
    mix: Vec<u8>,
    black: Vec<u8>,
    failures: Vec<Failure>,
    frames: u64,
    done: bool,
    recording: bool,
    epoch: u64,
}

impl std::fmt::Debug for PlaylistPlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaylistPlayer")
            .field("playlist", &self.playlist.name)
            .field("slot", &self.slot)
            .field("slot_frame", &self.slot_frame)
            .finish_non_exhaustive()
    }
}

/// A scene of the playlist would not start, or makes frames of another size.
fn size_error(playlist: &Playlist, scene: &Scene, got: (u32, u32), want: (u32, u32)) -> EngineError {
    EngineError::Scene(SceneError::Invalid(Box::new(
        playlist
            .source
            .diag(
                format!(
                    "scene {} makes {}×{} frames after its processors, the playlist's first scene {}×{}",
                    scene.source.path.display(),
                    got.0,
                    got.1,
                    want.0,
                    want.1
                ),
                None,
            )
            .help(
                "every scene of a playlist makes frames of one size; a `transform` processor can scale one",
            ),
    )))
}

impl PlaylistPlayer {
    /// Starts every scene once (to find errors before the show) and gets the first entry ready.
    pub fn new(playlist: Arc<Playlist>, options: &EngineOptions) -> Result<Self, EngineError> {
        let mut ready = Vec::with_capacity(playlist.scenes.len());
        let mut size = None;
        for scene in &playlist.scenes {
            let engine = Engine::new(scene, options)?;
            let got = engine.frame_size();
            match size {
                None => size = Some(got),
                Some(want) if want != got => return Err(size_error(&playlist, scene, got, want)),
                _ => {}
            }
            ready.push(Some(engine));
        }
        let size = size.unwrap_or((1, 1));
        let len = size.0 as usize * size.1 as usize * 4;
        let black: Vec<u8> = (0..len).map(|i| if i % 4 == 3 { 255 } else { 0 }).collect();
        let mut player = PlaylistPlayer {
            options: options.clone(),
            ready,
            current: None,
            outgoing: None,
            slot: 0,
            slot_frame: 0,
            entry: 0,
            order: Vec::with_capacity(playlist.entries.len()),
            playlist: playlist.clone(),
            order_cycle: u64::MAX,
            size,
            mix: vec![0; len],
            black,
            failures: Vec::new(),
            frames: 0,
            done: false,
            recording: true,
            epoch: 0,
        };
        player.start(0)?;
        Ok(player)
    }

    /// The entry index of play `slot`.
    fn entry_of(&mut self, slot: u64) -> usize {
        let per_cycle = self.playlist.cycle_slots().max(1);
        let (cycle, mut at) = (slot / per_cycle, slot % per_cycle);
        if cycle != self.order_cycle {
            self.playlist.order(cycle, &mut self.order);
            self.order_cycle = cycle;
        }
        for &i in &self.order {
            let r = self.playlist.entries[i].repeat as u64;
            if at < r {
                return i;
            }
            at -= r;
        }
        self.order.last().copied().unwrap_or(0)
    }

    /// Begins play `slot`: the current engine goes out under the new entry's transition.
    fn start(&mut self, slot: u64) -> Result<(), EngineError> {
        self.epoch += 1;
        let entry = self.entry_of(slot);
        let scene = &self.playlist.scenes[self.playlist.entries[entry].scene];
        let mut engine = match self.ready[self.playlist.entries[entry].scene].take() {
            Some(e) => e,
            None => Engine::new(scene, &self.options)?,
        };
        engine.set_recording(self.recording);
        if engine.frame_size() != self.size {
            return Err(size_error(&self.playlist, scene, engine.frame_size(), self.size));
        }
        if let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        self.outgoing = self.current.replace(engine);
        if self.playlist.entries[entry].transition_frames == 0
            && let Some(old) = self.outgoing.take()
        {
            self.retire(old);
        }
        self.entry = entry;
        self.slot = slot;
        self.slot_frame = 0;
        Ok(())
    }

    fn retire(&mut self, mut engine: Engine) {
        self.failures.extend(engine.finish());
    }

    /// Makes the next frame. With the last frame of a playlist that does not loop,
    /// [`Self::is_done`] turns true; frames made after that keep running the last scene.
    pub fn step(&mut self) -> Result<&[u8], EngineError> {
        let in_transition = self.advance()?;
        for engine in running(&mut self.current, &mut self.outgoing, in_transition) {
            engine.step();
            self.failures.extend(engine.take_failures());
        }
        let entry = &self.playlist.entries[self.entry];
        if in_transition {
            let from = self.outgoing.as_ref().map_or(&self.black[..], |e| e.frame());
            let to = self.current.as_ref().map_or(&self.black[..], |e| e.frame());
            let (w, h) = (self.size.0 as usize, self.size.1 as usize);
            blend_transition(
                entry.transition,
                self.slot_frame,
                entry.transition_frames,
                (from, to),
                &mut self.mix,
                w,
                h,
            );
        }
        self.count_frame();
        Ok(if in_transition {
            &self.mix
        } else {
            self.current.as_ref().map_or(&self.black[..], |c| c.frame())
        })
    }

    /// Starts the next entry when this one has shown all its frames, and retires the outgoing
    /// scene once its transition is over; returns whether a transition is running.
    fn advance(&mut self) -> Result<bool, EngineError> {
        if self.slot_frame >= self.playlist.entries[self.entry].frames && !self.done {
            self.start(self.slot + 1)?;
        }
        let in_transition = self.slot_frame < self.playlist.entries[self.entry].transition_frames;
        if !in_transition && let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        Ok(in_transition)
    }

    /// Counts a frame shown; a playlist that does not loop is done after its last.
    fn count_frame(&mut self) {
        self.slot_frame += 1;
        self.frames += 1;
        let last = !self.playlist.looped && self.slot + 1 >= self.playlist.cycle_slots();
        if last && self.slot_frame >= self.playlist.entries[self.entry].frames {
            self.done = true;
        }
    }

    /// Skips `frames` frames without making them, as if they had been shown (a live run that
    /// falls behind the clock), entering later entries as their time comes.
    pub fn skip(&mut self, frames: u64) -> Result<(), EngineError> {
        for _ in 0..frames {
            let in_transition = self.advance()?;
            for engine in running(&mut self.current, &mut self.outgoing, in_transition) {
                let next = engine.next_frame() + 1;
                engine.seek(next);
            }
            self.count_frame();
        }
        Ok(())
    }

    /// Turns delivery of frames to the scenes' recorders on or off (for every scene started
    /// from now on too).
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
        for engine in [self.current.as_mut(), self.outgoing.as_mut()]
            .into_iter()
            .flatten()
        {
            engine.set_recording(on);
        }
    }

    /// Moves on to the next entry now, through its transition (at the end of a playlist that
    /// does not loop, the playlist is done).
    pub fn next_entry(&mut self) -> Result<(), EngineError> {
        let next = self.slot + 1;
        if !self.playlist.looped && next >= self.playlist.cycle_slots() {
            self.done = true;
            return Ok(());
        }
        self.start(next)
    }

    /// Goes back to the entry before (or restarts the first), through that entry's transition.
    pub fn previous_entry(&mut self) -> Result<(), EngineError> {
        self.done = false;
        self.start(self.slot.saturating_sub(1))
    }

    /// Whether a playlist that does not loop has shown its last entry.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The size of the frames.
    pub fn frame_size(&self) -> (u32, u32) {
        self.size
    }

    /// Frames made so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The entry playing, and how many frames of it have been shown.
    pub fn position(&self) -> (usize, u64) {
        (self.entry, self.slot_frame)
    }

    /// The engine of the entry showing.
    pub fn current(&self) -> Option<&Engine> {
        self.current.as_ref()
    }

    /// The engine of the entry showing now, to act on.
    pub fn current_mut(&mut self) -> Option<&mut Engine> {
        self.current.as_mut()
    }

    /// Counts the entries started: it changes whenever the scene showing changes.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The counters of the scene playing now (`Engine::counters`).
    pub fn counters(&mut self) -> Vec<(String, String, u64)> {
        self.current.as_mut().map_or_else(Vec::new, |e| e.counters())
    }

    /// Failures since the last call.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// Finishes the engines still running; returns every failure not yet taken.
    pub fn finish(&mut self) -> Vec<Failure> {
        for engine in [self.outgoing.take(), self.current.take()].into_iter().flatten() {
            self.retire(engine);
        }
        self.take_failures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4×2 frames: `from` is all 0, `to` all 200 (alpha included, to see every byte move).
    fn frames() -> (Vec<u8>, Vec<u8>) {
        (vec![0; 32], vec![200; 32])
    }

    fn row(out: &[u8], y: usize) -> Vec<u8> {
        out[y * 16..(y + 1) * 16].chunks(4).map(|p| p[0]).collect()
    }

    #[test]
    fn crossfade_is_a_weighted_mean_with_neither_end_shown() {
        let (f, t) = frames();
        let mut out = vec![0; 32];
        // Step 0 of 1: share ½, so 100.
        blend_transition(Transition::Crossfade, 0, 1, (&f, &t), &mut out, 4, 2);
        assert!(out.iter().all(|&v| v == 100));
        // Step 2 of 3: share ¾ → 150.
        blend_transition(Transition::Crossfade, 2, 3, (&f, &t), &mut out, 4, 2);
        assert!(out.iter().all(|&v| v == 150));
    }

    #[test]
    fn slides_and_wipe_move_by_the_share_of_the_width_or_height() {
        // Distinct columns and rows so the direction shows: from = x, to = 10 + x (+ 100·y).
        let f: Vec<u8> = (0..8).flat_map(|i| [(i % 4 + 100 * (i / 4)) as u8; 4]).collect();
        let t: Vec<u8> = (0..8)
            .flat_map(|i| [(10 + i % 4 + 100 * (i / 4)) as u8; 4])
            .collect();
        let mut out = vec![0; 32];
        // Step 0 of 1: share ½ → 2 of 4 columns, 1 of 2 rows.
        blend_transition(Transition::SlideLeft, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(row(&out, 0), vec![2, 3, 10, 11]);
        blend_transition(Transition::SlideRight, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(row(&out, 0), vec![12, 13, 0, 1]);
        blend_transition(Transition::Wipe, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(row(&out, 0), vec![10, 11, 2, 3]);
        blend_transition(Transition::SlideUp, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(
            (row(&out, 0), row(&out, 1)),
            (vec![100, 101, 102, 103], vec![10, 11, 12, 13])
        );
        blend_transition(Transition::SlideDown, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(
            (row(&out, 0), row(&out, 1)),
            (vec![110, 111, 112, 113], vec![0, 1, 2, 3])
        );
    }

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
