//! Playing a show: [`Player`] makes the frames of a playlist (a scene is a sequence of one
//! entry), one engine for the entry showing, one more for the entry going out during a
//! transition, the frames of both blended by `compose::transition`. `marquee run`, `trace`,
//! `verify` and `bench` all play through it.

use std::sync::Arc;

use crate::compose::transition::blend_transition;
use crate::engine::{Counter, Engine, EngineError, EngineOptions, Failure, Forwarded, RecorderReport};
use crate::isolate::watch::Event;
use crate::model::playlist::Playlist;
use crate::model::scene::{Scene, SceneError};
use crate::model::show::Show;
use crate::play::control::LayerView;
use marquee_plugin_api::{FieldType, PluginKind};

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

/// Plays a [`Show`] as a sequence: one engine for the entry showing, and during a transition
/// one more for the entry going out. A scene is a sequence of one entry that plays forever.
pub struct Player {
    playlist: Arc<Playlist>,
    /// The show is one scene: there is no next or previous entry, and an edit reloads in place.
    single: bool,
    options: EngineOptions,
    /// One engine per scene, built up front to check every scene starts; each is used for its
    /// scene's first play, later plays get a fresh one.
    ready: Vec<Option<Engine>>,
    current: Option<Engine>,
    outgoing: Option<Engine>,
    /// Play number, counting from 0 across times through the list.
    play: u64,
    /// Frames shown of the current play.
    play_frame: u64,
    entry: usize,
    order: Vec<usize>,
    order_cycle: u64,
    size: (u32, u32),
    mix: Vec<u8>,
    black: Vec<u8>,
    failures: Vec<Failure>,
    /// What the watchdog saw of isolated instances, not yet taken.
    watchdog: Vec<Event>,
    frames: u64,
    done: bool,
    recording: bool,
    epoch: u64,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("playlist", &self.playlist.name)
            .field("play", &self.play)
            .field("play_frame", &self.play_frame)
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

impl Player {
    /// Starts `show`: every scene once (to find errors before the show), then the first entry.
    pub fn new(show: &Show, options: &EngineOptions) -> Result<Self, EngineError> {
        let playlist = show.sequence();
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
        let mut player = Player {
            single: matches!(show, Show::Scene(_)),
            options: options.clone(),
            ready,
            current: None,
            outgoing: None,
            play: 0,
            play_frame: 0,
            entry: 0,
            order: Vec::with_capacity(playlist.entries.len()),
            playlist: playlist.clone(),
            order_cycle: u64::MAX,
            size,
            mix: Vec::new(),
            black: Vec::new(),
            failures: Vec::new(),
            watchdog: Vec::new(),
            frames: 0,
            done: false,
            recording: true,
            epoch: 0,
        };
        player.resize(size);
        player.start(0)?;
        Ok(player)
    }

    /// The entry index of play `play`.
    fn entry_of(&mut self, play: u64) -> usize {
        let per_cycle = self.playlist.cycle_slots().max(1);
        let (cycle, mut at) = (play / per_cycle, play % per_cycle);
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

    /// Begins play `play`: the current engine goes out under the new entry's transition.
    fn start(&mut self, play: u64) -> Result<(), EngineError> {
        self.epoch += 1;
        let entry = self.entry_of(play);
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
        self.play = play;
        self.play_frame = 0;
        Ok(())
    }

    /// Makes frames of `size` from now on: the transition and black frames sized to match.
    fn resize(&mut self, size: (u32, u32)) {
        let len = size.0 as usize * size.1 as usize * 4;
        self.size = size;
        self.mix = vec![0; len];
        self.black = (0..len).map(|i| if i % 4 == 3 { 255 } else { 0 }).collect();
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
            engine.take_watchdog_events(&mut self.watchdog);
        }
        let entry = &self.playlist.entries[self.entry];
        if in_transition {
            let from = self.outgoing.as_ref().map_or(&self.black[..], |e| e.frame());
            let to = self.current.as_ref().map_or(&self.black[..], |e| e.frame());
            let (w, h) = (self.size.0 as usize, self.size.1 as usize);
            blend_transition(
                entry.transition,
                self.play_frame,
                entry.transition_frames,
                (from, to),
                &mut self.mix,
                w,
                h,
            );
        }
        self.count_frames(1);
        Ok(if in_transition {
            &self.mix
        } else {
            self.current.as_ref().map_or(&self.black[..], |c| c.frame())
        })
    }

    /// Starts the next entry when this one has shown all its frames, and retires the outgoing
    /// scene once its transition is over; returns whether a transition is running.
    fn advance(&mut self) -> Result<bool, EngineError> {
        if self.play_frame >= self.playlist.entries[self.entry].frames && !self.done {
            self.start(self.play + 1)?;
        }
        let in_transition = self.play_frame < self.playlist.entries[self.entry].transition_frames;
        if !in_transition && let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        Ok(in_transition)
    }

    /// Counts `n` frames shown of the current play; a playlist that does not loop is done after
    /// its last.
    fn count_frames(&mut self, n: u64) {
        self.play_frame += n;
        self.frames += n;
        let last = !self.playlist.looped && self.play + 1 >= self.playlist.cycle_slots();
        if last && self.play_frame >= self.playlist.entries[self.entry].frames {
            self.done = true;
        }
    }

    /// Skips `frames` frames without making them, as if they had been shown (a live run that
    /// falls behind the clock), entering later entries as their time comes.
    pub fn skip(&mut self, mut frames: u64) -> Result<(), EngineError> {
        while frames > 0 {
            let in_transition = self.advance()?;
            // Within a play and out of a transition, skip to its end at once.
            let n = if in_transition {
                1
            } else {
                let left = self.playlist.entries[self.entry]
                    .frames
                    .saturating_sub(self.play_frame);
                frames.min(left.max(1))
            };
            for engine in running(&mut self.current, &mut self.outgoing, in_transition) {
                let next = engine.next_frame() + n;
                engine.seek(next);
            }
            self.count_frames(n);
            frames -= n;
        }
        Ok(())
    }

    /// Makes frame `target` (counted from the show's first) the next one [`Self::step`] makes,
    /// exactly as if every frame before it had been made: the play showing then and, during its
    /// transition, the play going out are started and brought to their frames with
    /// [`Engine::fast_forward`]; the plays before them are passed over (each play starts its
    /// scene anew). Returns what each engine did, the outgoing one first. For a player that has
    /// made no frame yet (after that, frames already made cannot be taken back).
    pub fn seek_exact(&mut self, target: u64) -> Result<Vec<Forwarded>, EngineError> {
        debug_assert_eq!(
            self.frames, 0,
            "seek_exact is for a player that has made no frame"
        );
        if target == 0 {
            return Ok(Vec::new());
        }
        // Find the play showing frame `target`: whole times through the list at once (every
        // cycle has the same length, whatever its order), then play by play.
        let cycle = self.playlist.cycle_frames();
        let (mut play, mut at) = if self.playlist.looped && cycle > 0 {
            let cycles = target / cycle;
            (cycles * self.playlist.cycle_slots(), cycles * cycle)
        } else {
            (0, 0)
        };
        loop {
            let e = self.entry_of(play);
            let len = self.playlist.entries[e].frames;
            let last = !self.playlist.looped && play + 1 >= self.playlist.cycle_slots();
            if last || at.saturating_add(len) > target {
                break;
            }
            at += len;
            play += 1;
        }
        let offset = target - at;
        let entry = self.entry_of(play);
        let mut reached = Vec::with_capacity(2);
        if play > 0 && offset < self.playlist.entries[entry].transition_frames {
            // The play going out keeps making frames through the transition.
            let before = play - 1;
            let e = self.entry_of(before);
            let len = self.playlist.entries[e].frames;
            if before > 0 {
                self.start(before)?;
            }
            let engine = self.current.as_mut().expect("a play was started");
            reached.push(engine.fast_forward(len + offset)?);
            self.start(play)?;
        } else if play > 0 {
            self.start(play)?;
        }
        let engine = self.current.as_mut().expect("a play was started");
        reached.push(engine.fast_forward(offset)?);
        self.failures.extend(engine.take_failures());
        if let Some(out) = self.outgoing.as_mut() {
            self.failures.extend(out.take_failures());
        }
        self.play_frame = 0;
        self.frames = target - offset;
        self.count_frames(offset);
        Ok(reached)
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
    /// does not loop, the playlist is done; a scene has no other entry: nothing happens).
    pub fn next_entry(&mut self) -> Result<(), EngineError> {
        if self.single {
            return Ok(());
        }
        let next = self.play + 1;
        if !self.playlist.looped && next >= self.playlist.cycle_slots() {
            self.done = true;
            return Ok(());
        }
        self.start(next)
    }

    /// Goes back to the entry before (or restarts the first), through that entry's transition
    /// (a scene has no other entry: nothing happens).
    pub fn previous_entry(&mut self) -> Result<(), EngineError> {
        if self.single {
            return Ok(());
        }
        self.done = false;
        self.start(self.play.saturating_sub(1))
    }

    /// The layers of the scene playing: ids, plugins, configs and their plugins' schemas.
    pub fn layer_views(&self) -> Vec<LayerView> {
        let scene = &self.playlist.scenes[self.playlist.entries[self.entry].scene];
        scene
            .layers
            .iter()
            .map(|l| LayerView {
                id: l.stage.id.clone(),
                plugin: l.stage.plugin.id().to_string(),
                config: serde_json::from_str(&l.stage.config_json).unwrap_or_default(),
                schema: l
                    .stage
                    .plugin
                    .config(PluginKind::Renderer)
                    .map(|c| c.schema.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Changes `fields` of layer `layer` of the scene playing: each checked as a scene file's
    /// config is (the field exists, its type, range, choices, the plugin's whole schema), then
    /// applied through [`Engine::reload`] (the layer is made anew with the new config; every
    /// other instance keeps its state). The edit stays with the scene for the rest of the run.
    /// `Err` says why nothing changed. Path fields are not changed here: a file is named by
    /// the scene file, relative to it.
    pub fn configure(
        &mut self,
        layer: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), String> {
        let index = self.playlist.entries[self.entry].scene;
        let scene = &self.playlist.scenes[index];
        let Some(at) = scene.layers.iter().position(|l| l.stage.id == layer) else {
            let ids: Vec<&str> = scene.layers.iter().map(|l| l.stage.id.as_str()).collect();
            return Err(format!(
                "scene `{}` has no layer `{layer}`; its layers: {}",
                scene.name,
                ids.join(", ")
            ));
        };
        let stage = &scene.layers[at].stage;
        let name = stage.plugin.id();
        let factory = stage
            .plugin
            .config(PluginKind::Renderer)
            .ok_or_else(|| format!("plugin `{name}` states no config"))?;
        let mut config: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&stage.config_json).unwrap_or_default();
        for (key, value) in fields {
            let Some(field) = factory.field(key) else {
                let valid: Vec<&str> = factory.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(format!(
                    "plugin `{name}` has no config field `{key}`; valid fields: {}",
                    valid.join(", ")
                ));
            };
            if field.ty == FieldType::Path {
                return Err(format!(
                    "`{key}` names a file: change it in the scene file, where it is relative to the scene"
                ));
            }
            config.insert(key.clone(), value.clone());
        }
        let table: toml::Table = serde_json::from_value(serde_json::Value::Object(config.clone()))
            .map_err(|e| format!("plugin `{name}`: not a config table ({e})"))?;
        factory
            .check(&table)
            .map_err(|e| format!("plugin `{name}`: {e}"))?;
        let mut edited = scene.clone();
        edited.layers[at].stage.config_json =
            serde_json::to_string(&config).expect("a JSON object always serialises");
        if let Some(engine) = self.current.as_mut() {
            engine.reload(&edited, &self.options).map_err(|e| e.to_string())?;
        }
        Arc::make_mut(&mut self.playlist).scenes[index] = edited;
        // An engine made up front for this scene has the old config.
        self.ready[index] = None;
        Ok(())
    }

    /// The scene each playlist entry shows, by name, in the playlist's order.
    pub fn entry_names(&self) -> Vec<String> {
        let p = &self.playlist;
        p.entries.iter().map(|e| p.scenes[e.scene].name.clone()).collect()
    }

    /// Goes to entry `entry` now, through its transition: its first play in the current
    /// cycle of the playlist. `false` (nothing changes) for an entry that does not exist, or
    /// for a scene, which has no other entry.
    pub fn jump_to(&mut self, entry: usize) -> Result<bool, EngineError> {
        if self.single || entry >= self.playlist.entries.len() {
            return Ok(false);
        }
        let per_cycle = self.playlist.cycle_slots().max(1);
        let first = self.play / per_cycle * per_cycle;
        match (first..first + per_cycle).find(|&play| self.entry_of(play) == entry) {
            Some(play) => {
                self.done = false;
                self.start(play)?;
                Ok(true)
            }
            None => Ok(false),
        }
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

    /// The name of the scene playing.
    pub fn scene_name(&self) -> &str {
        &self.playlist.scenes[self.playlist.entries[self.entry].scene].name
    }

    /// The entry playing, and how many frames of it have been shown.
    pub fn position(&self) -> (usize, u64) {
        (self.entry, self.play_frame)
    }

    /// The engine making frames now: the entry showing (after [`Self::finish`], the finished
    /// one, whose recorders still give their final counts).
    pub fn engine(&self) -> Option<&Engine> {
        self.current.as_ref()
    }

    /// Counts the entries started: it changes whenever the scene showing changes.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The counters of the scene playing now ([`Engine::counters`]).
    pub fn counters(&self) -> Vec<Counter> {
        self.engine().map_or_else(Vec::new, |e| e.counters())
    }

    /// Each recorder of the scene showing now: frames written, dropped, queued.
    pub fn recorder_report(&self) -> Vec<RecorderReport> {
        self.engine().map(|e| e.recorder_report()).unwrap_or_default()
    }

    /// Asks the recorders of the scene showing now for a clip around the next frame.
    pub fn trigger(&mut self) {
        if let Some(e) = self.current.as_mut() {
            e.trigger();
        }
    }

    /// Failures since the last call.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// What the watchdog saw of isolated instances since the last call (hangs, deaths,
    /// restarts, instances disabled), in order. Allocates nothing when nothing happened.
    pub fn take_watchdog_events(&mut self) -> Vec<Event> {
        for engine in [&self.current, &self.outgoing].into_iter().flatten() {
            engine.take_watchdog_events(&mut self.watchdog);
        }
        std::mem::take(&mut self.watchdog)
    }

    /// Finishes the engines still running (the current one stays, finished, for its final
    /// counts); returns every failure not yet taken.
    pub fn finish(&mut self) -> Vec<Failure> {
        if let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        if let Some(current) = self.current.as_mut() {
            self.failures.extend(current.finish());
        }
        self.take_failures()
    }

    /// Applies `fresh`, the show re-read after an edit: a scene in place (unchanged instances
    /// keep their state, see [`Engine::reload`]), anything else from its start.
    pub fn reload(&mut self, fresh: &Show, options: &EngineOptions) -> Result<Reloaded, EngineError> {
        if let (true, Show::Scene(scene), Some(engine)) = (self.single, fresh, self.current.as_mut()) {
            let kept = engine.reload(scene, options)?;
            // The edit may change the frame size (a new canvas, a resizing processor).
            let size = engine.frame_size();
            if size != self.size {
                self.resize(size);
            }
            // The entry now plays the edited scene (a later restart builds from it).
            self.playlist = fresh.sequence();
            return Ok(Reloaded::InPlace { kept });
        }
        *self = Player::new(fresh, options)?;
        Ok(Reloaded::FromStart)
    }
}

/// How an edited show was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The scene was changed in place, keeping this many instances.
    InPlace {
        /// Instances kept with their state.
        kept: usize,
    },
    /// The show started again from its first entry.
    FromStart,
}
