//! Scene files in two stages: [`SceneFile`], the serde mirror of the TOML, and [`Scene`], validated
//! with its plugins resolved. Every error is a [`Diagnostic`] naming file, line and column.
//!
//! ```toml
//! fps = 30
//! seed = 42
//! [canvas]
//! width = 256
//! height = 64
//! panels = [4, 1]          # the layout mirrored layers repeat their tile over
//! [[layer]]
//! plugin = "mandelbrot"
//! mode = "mirrored"        # or "full" (the default), or "rect" with rect = [x, y, w, h]
//! blend = "normal"         # add, multiply, screen, lighten, darken
//! opacity = 1.0
//! [layer.config]
//! max_iter = 100
//! [[processor]]
//! plugin = "color"
//! config = { gamma = 1.2 }
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use marquee_plugin_api::{FieldType, PluginKind, Rgba};
use serde::Deserialize;
use toml::de::DeTable;

use crate::model::budget::Buffers;
use crate::model::diag::{Diagnostic, nearest};
use crate::model::isolation::{IsolationFile, Limits};
use crate::model::recording::{ClipSpec, PLACEHOLDER, QueueSpec, WhenFull};
use crate::model::spanned::Spanned;
use crate::plugins::registry::{LoadedPlugin, Registry};

/// The largest frame accepted, in bytes (RGBA8): 256 MiB, e.g. 8192 × 8192.
pub const MAX_FRAME_BYTES: u64 = 256 << 20;
/// The largest side accepted, in pixels.
pub const MAX_SIDE: u64 = marquee_plugin_api::MAX_SIDE as u64;
/// The highest frame rate accepted.
pub const MAX_FPS: f64 = 1000.0;
/// The most layers, processors or recorders one scene may have (each list on its own).
pub const MAX_STAGES: usize = 1000;
/// The lowest frame rate accepted (one frame every 100 seconds): a frame's period must be a
/// time the clock can hold.
pub const MIN_FPS: f64 = 0.01;

/// The raw shape of a scene file. Unknown fields are refused.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    /// A name for listings; defaults to the file stem.
    pub name: Option<String>,
    /// Frames per second.
    #[schemars(range(min = MIN_FPS, max = MAX_FPS))]
    pub fps: Option<Spanned<f64>>,
    /// Scene seed; every plugin instance derives its own from it.
    pub seed: Option<u64>,
    /// Canvas geometry.
    pub canvas: Spanned<CanvasFile>,
    /// Layers, bottom first.
    #[serde(default, rename = "layer")]
    pub layers: Vec<Spanned<LayerFile>>,
    /// Processors, in order.
    #[serde(default, rename = "processor")]
    pub processors: Vec<Spanned<StageFile>>,
    /// Recorders.
    #[serde(default, rename = "recorder")]
    pub recorders: Vec<Spanned<RecorderFile>>,
    /// The LED rig to drive when the scene runs (relative to the scene file); `--rig` wins.
    pub rig: Option<String>,
    /// The watchdog's limits for instances that run isolated (`isolate = true`, `--isolate`).
    pub isolation: Option<Spanned<IsolationFile>>,
}

/// `[canvas]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanvasFile {
    /// Width in pixels.
    #[schemars(range(min = 1, max = MAX_SIDE))]
    pub width: Spanned<u64>,
    /// Height in pixels.
    #[schemars(range(min = 1, max = MAX_SIDE))]
    pub height: Spanned<u64>,
    /// Panel layout `[columns, rows]` for mirrored layers; default `[1, 1]`.
    pub panels: Option<Spanned<[u64; 2]>>,
    /// Colour under all layers; default opaque black.
    pub background: Option<Spanned<String>>,
}

/// How a layer's colour combines with the colour below, before mixing by the layer's alpha and
/// opacity (see `accumulator` for the arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Blend {
    /// The layer's colour: plain alpha-over.
    #[default]
    Normal,
    /// The sum, clamped to white: lights.
    Add,
    /// The product: shadows, tints.
    Multiply,
    /// The inverted product of the inverses: brightens.
    Screen,
    /// The lighter of the two, per channel.
    Lighten,
    /// The darker of the two, per channel.
    Darken,
}

/// Where a layer draws, as written in the scene file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One surface the size of the canvas.
    #[default]
    Full,
    /// One panel-sized tile, repeated on every panel of the layout.
    Mirrored,
    /// One surface the size of `rect`, placed there (one face of a cube, a corner).
    Rect,
}

/// Where a layer draws, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The whole canvas.
    Full,
    /// A panel-sized tile on every panel.
    Mirrored,
    /// A rectangle inside the canvas: left, top, width, height.
    Rect(u32, u32, u32, u32),
}

/// `[[layer]]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    /// Unique id; defaults to the plugin id, numbered if repeated.
    pub id: Option<String>,
    /// The renderer plugin's id.
    pub plugin: Spanned<String>,
    /// Config handed to the plugin.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub config: Option<Spanned<toml::Table>>,
    /// Blend mode.
    pub blend: Option<Blend>,
    /// Opacity, 0 to 1.
    #[schemars(range(min = 0, max = 1))]
    pub opacity: Option<Spanned<f64>>,
    /// Full canvas, mirrored tile, or a rectangle.
    pub mode: Option<Mode>,
    /// With `mode = "rect"`: `[x, y, width, height]` inside the canvas.
    pub rect: Option<Spanned<[u64; 4]>>,
    /// Keep last frame's pixels instead of clearing to transparent.
    pub persist: Option<bool>,
    /// Run this instance in a child process of its own: a hang, crash or leak in it costs a
    /// few frames of this instance (counted, reported), never the show. `marquee run` does so
    /// by default for plugins loaded from files; `false` keeps it in process.
    pub isolate: Option<bool>,
}

/// `[[processor]]` or `[[recorder]]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    /// Unique id; defaults to the plugin id.
    pub id: Option<String>,
    /// The plugin's id.
    pub plugin: Spanned<String>,
    /// Config handed to the plugin.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub config: Option<Spanned<toml::Table>>,
    /// Run this instance in a child process of its own: a hang, crash or leak in it costs a
    /// few frames of this instance (counted, reported), never the show. `marquee run` does so
    /// by default for plugins loaded from files; `false` keeps it in process.
    pub isolate: Option<bool>,
}

/// `[[recorder]]`: a stage plus its queue.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecorderFile {
    /// Unique id; defaults to the plugin id.
    pub id: Option<String>,
    /// The plugin's id.
    pub plugin: Spanned<String>,
    /// Config handed to the plugin.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub config: Option<Spanned<toml::Table>>,
    /// Frames the recorder may hold queued (1 to 64).
    #[schemars(range(min = 1, max = QueueSpec::MAX_FRAMES))]
    pub queue: Option<Spanned<i64>>,
    /// `"drop"` (count and go on) or `"wait"` (keep every frame) when the queue is full.
    #[schemars(extend("enum" = ["drop", "wait"]))]
    pub when_full: Option<Spanned<String>>,
    /// Clips around triggers: keep the last `pre_roll_ms` of frames and, on each trigger, write
    /// them and the next `post_roll_ms` through a new instance of this recorder, `{clip}` in its
    /// output paths replaced by the clip's number.
    pub clips: Option<Spanned<ClipSpec>>,
    /// The recorder to write with instead when this one cannot start here (its factory fails
    /// with anything but a config error, as `video` does without ffmpeg).
    pub fallback: Option<Spanned<FallbackFile>>,
    /// Run this instance in a child process of its own: a hang, crash or leak in it costs a
    /// few frames of this instance (counted, reported), never the show. `marquee run` does so
    /// by default for plugins loaded from files; `false` keeps it in process.
    pub isolate: Option<bool>,
}

/// A recorder's `fallback`: another recorder plugin and its config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackFile {
    /// The plugin's id.
    pub plugin: Spanned<String>,
    /// Config handed to the plugin.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub config: Option<Spanned<toml::Table>>,
}

/// Why a scene could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SceneError {
    /// The file could not be read.
    #[error("cannot read scene {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, or not the shape of a scene (unknown field, wrong type).
    #[error("{0}")]
    Syntax(Box<Diagnostic>),
    /// Well-formed, but a value is unacceptable (unknown plugin, absurd canvas, ...).
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    /// A plugin refused its config or failed to start.
    #[error("{0}")]
    Plugin(Box<Diagnostic>),
}

impl SceneError {
    /// The diagnostic, where there is one.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            SceneError::Read { .. } => None,
            SceneError::Syntax(d) | SceneError::Invalid(d) | SceneError::Plugin(d) => Some(d),
        }
    }
}

/// The scene file's text, kept for hashing and for pointing errors at lines.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its contents.
    pub text: String,
}

impl Source {
    /// A diagnostic about this file at `span`.
    pub fn diag(&self, message: impl Into<String>, span: Option<Range<usize>>) -> Diagnostic {
        Diagnostic::new(message, &self.path, &self.text, span)
    }

    /// The span of `key = ...` inside `within`, or `within` itself if the key is not found there.
    pub fn key_span(&self, key: &str, within: Range<usize>) -> Range<usize> {
        let head = key.split(['.', '[']).next().unwrap_or(key);
        if head.is_empty() {
            // `"" = 1`: nothing to look for (searching for "" would find it everywhere, forever).
            return within;
        }
        // A `[layer.config]` header spans only the header: its keys follow, up to the next header.
        let within = if self.text[within.clone()].starts_with('[') {
            let end = self.text[within.end..]
                .find("\n[")
                .map_or(self.text.len(), |i| within.end + i);
            within.start..end
        } else {
            within
        };
        let region = &self.text[within.clone()];
        let mut from = 0;
        while let Some(i) = region[from..].find(head) {
            let at = from + i;
            let before_ok = at == 0
                || !region.as_bytes()[at - 1].is_ascii_alphanumeric() && region.as_bytes()[at - 1] != b'_';
            let rest = region[at + head.len()..].trim_start_matches([' ', '\t', '"']);
            if before_ok && rest.starts_with('=') {
                let line_end = region[at..].find('\n').map_or(region.len(), |e| at + e);
                return within.start + at..within.start + line_end;
            }
            from = at + head.len();
        }
        within
    }
}

/// The canvas: size, panel layout, background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanvasSpec {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Panel columns and rows.
    pub panels: (u32, u32),
    /// Colour under all layers (opaque).
    pub background: Rgba,
}

impl CanvasSpec {
    /// The size of one panel (the tile a mirrored layer draws).
    pub fn tile(&self) -> (u32, u32) {
        (self.width / self.panels.0, self.height / self.panels.1)
    }
}

/// A plugin instance to create: which plugin, with which JSON config, and where its text is.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// Unique id within its kind.
    pub id: String,
    /// The plugin.
    pub plugin: Arc<LoadedPlugin>,
    /// Its config as JSON text.
    pub config_json: String,
    /// The span of the `plugin = ...` value.
    pub plugin_span: Range<usize>,
    /// The span of the config table, if there is one.
    pub config_span: Option<Range<usize>>,
    /// What the scene says of running it in a child process of its own (`isolate = true`, or
    /// `false` to keep it in process); `None`: as the run decides.
    pub isolate: Option<bool>,
}

/// A recorder: the stage, its queue, and the output paths its config names.
#[derive(Debug, Clone)]
pub struct RecorderSpec {
    /// The recorder to create.
    pub stage: StageSpec,
    /// Its queue.
    pub queue: QueueSpec,
    /// Its config's path fields, as written; the engine resolves them in the output directory.
    pub outputs: Vec<OutputField>,
    /// Clips around triggers instead of one recording, if the scene asks for them.
    pub clips: Option<ClipSpec>,
    /// What records instead when this recorder cannot start (same id, queue and clips).
    pub fallback: Option<Box<RecorderSpec>>,
}

impl RecorderSpec {
    /// The frames it holds besides the one being made at `fps`: its queue's buffers and, for
    /// clips, its ring.
    pub fn held_frames(&self, fps: f64) -> usize {
        QueueSpec::buffers(self.queue.frames) + self.clips.map_or(0, |c| c.ring_frames(fps))
    }

    /// What makes two of them the same recorder across a reload: the config, the clips and the
    /// fallback.
    pub fn identity(&self) -> String {
        let fallback = self
            .fallback
            .as_ref()
            .map(|f| format!("{}:{}", f.stage.plugin.id(), f.stage.config_json));
        format!("{}|{:?}|{:?}", self.stage.config_json, self.clips, fallback)
    }
}

/// A path field of a recorder's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputField {
    /// The config key.
    pub key: String,
    /// The path as written in the scene.
    pub raw: String,
    /// Where it is written.
    pub span: Range<usize>,
}

/// A layer: a renderer instance plus how it is composited.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// The renderer to create.
    pub stage: StageSpec,
    /// Blend mode.
    pub blend: Blend,
    /// Opacity, 0 to 1.
    pub opacity: f32,
    /// Where it draws.
    pub placement: Placement,
    /// Keep pixels from frame to frame.
    pub persist: bool,
}

/// A validated scene, plugins resolved.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The file it came from.
    pub source: Source,
    /// xxh3-64 of the file's bytes.
    pub hash: u64,
    /// Display name.
    pub name: String,
    /// Frames per second.
    pub fps: f64,
    /// Scene seed.
    pub seed: u64,
    /// Geometry.
    pub canvas: CanvasSpec,
    /// Layers, bottom first.
    pub layers: Vec<LayerSpec>,
    /// Processors, in order.
    pub processors: Vec<StageSpec>,
    /// Recorders.
    pub recorders: Vec<RecorderSpec>,
    /// The LED rig the scene names (resolved), which `marquee run` drives unless `--rig` says
    /// another.
    pub rig: Option<PathBuf>,
    /// The watchdog's limits for its isolated instances.
    pub isolation: Limits,
}

/// The largest scene or playlist file read, in bytes (a scene is a page of TOML; this bounds
/// what a mistaken or hostile path can make the host read).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads the scene or playlist file at `path`: a regular file (never a FIFO or a device, which
/// could block or never end) of at most [`MAX_FILE_BYTES`], as UTF-8 text.
pub fn read_source(path: &Path) -> Result<String, SceneError> {
    marquee_plugin_api::files::read_text_bounded(path, MAX_FILE_BYTES).map_err(|source| SceneError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Scene {
    /// Reads and validates the scene at `path`.
    pub fn load(path: &Path, registry: &Registry) -> Result<Scene, SceneError> {
        Scene::parse(path, read_source(path)?, registry)
    }

    /// Validates scene `text` as if read from `path`.
    pub fn parse(path: &Path, text: String, registry: &Registry) -> Result<Scene, SceneError> {
        let source = Source {
            path: path.to_path_buf(),
            text,
        };
        let file = parse_file(&source, "scene")?;
        Scene::from_file(source, file, registry)
    }

    /// Validates `file`, read from `source`.
    pub(crate) fn from_file(
        source: Source,
        file: SceneFile,
        registry: &Registry,
    ) -> Result<Scene, SceneError> {
        validate(source, file, registry).map_err(|d| SceneError::Invalid(Box::new(d)))
    }

    /// The surface size of a layer placed by `placement`.
    pub fn surface(&self, placement: Placement) -> (u32, u32) {
        Scene::surface_of(&self.canvas, placement)
    }

    /// The size of the surface a layer placed by `placement` on `canvas` draws.
    pub fn surface_of(canvas: &CanvasSpec, placement: Placement) -> (u32, u32) {
        match placement {
            Placement::Full => (canvas.width, canvas.height),
            Placement::Mirrored => canvas.tile(),
            Placement::Rect(_, _, w, h) => (w, h),
        }
    }
}

/// The TOML document of `source`, parsed once (a file of kind `what`, "scene" or "playlist", for
/// the error): what tells a scene from a playlist, and what either is then read from.
pub(crate) fn document<'s>(source: &'s Source, what: &str) -> Result<toml::Spanned<DeTable<'s>>, SceneError> {
    DeTable::parse(&source.text).map_err(|e| SceneError::Syntax(Box::new(syntax_diag(source, what, &e))))
}

/// The file struct `T` (a `SceneFile`, a `PlaylistFile`) read from `source`, a file of kind `what`.
pub(crate) fn parse_file<T: serde::de::DeserializeOwned>(
    source: &Source,
    what: &str,
) -> Result<T, SceneError> {
    file_of(source, what, document(source, what)?)
}

/// The file struct `T` (a `SceneFile`, a `PlaylistFile`) from the parsed `document` of `source`.
pub(crate) fn file_of<T: serde::de::DeserializeOwned>(
    source: &Source,
    what: &str,
    document: toml::Spanned<DeTable<'_>>,
) -> Result<T, SceneError> {
    T::deserialize(toml::de::Deserializer::from(document))
        .map_err(|e| SceneError::Syntax(Box::new(syntax_diag(source, what, &e))))
}

/// A TOML or shape error in `source`, a file of kind `what` ("scene", "playlist"), with the
/// nearest valid field suggested for unknown ones.
pub(crate) fn syntax_diag(source: &Source, what: &str, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let mut d = source.diag(format!("invalid {what}: {message}"), e.span());
    // "unknown field `fsp`, expected one of `name`, `fps`, ..." → suggest the nearest.
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            if let Some(near) = nearest(field, valid.iter().copied()) {
                d = d.help(format!("did you mean `{near}`?"));
            }
            if !valid.is_empty() {
                d = d.help(format!("valid fields here: {}", valid.join(", ")));
            }
        }
    } else if message.starts_with("missing field") {
        d = d.help(if what == "playlist" {
            "see scenes/tour.toml for a complete example"
        } else {
            "see scenes/showcase.toml for a complete example"
        });
    }
    d
}

fn validate(source: Source, file: SceneFile, registry: &Registry) -> Result<Scene, Diagnostic> {
    let fps = match &file.fps {
        Some(f) => {
            let v = *f.get_ref();
            if !(MIN_FPS..=MAX_FPS).contains(&v) {
                return Err(source
                    .diag(
                        format!("fps must be from {MIN_FPS} to {MAX_FPS}, found {v}"),
                        Some(f.span()),
                    )
                    .help("LED matrices typically run at 30 to 120 fps"));
            }
            v
        }
        None => 30.0,
    };
    let canvas = validate_canvas(&source, &file.canvas)?;
    let counts = [
        ("layers", file.layers.get(MAX_STAGES).map(|l| l.span())),
        ("processors", file.processors.get(MAX_STAGES).map(|p| p.span())),
        ("recorders", file.recorders.get(MAX_STAGES).map(|r| r.span())),
    ];
    for (what, past) in counts {
        if let Some(span) = past {
            return Err(source
                .diag(format!("a scene has at most {MAX_STAGES} {what}"), Some(span))
                .help("split the scene, or combine what these do"));
        }
    }

    let mut layers = Vec::new();
    for layer in &file.layers {
        let l = layer.get_ref();
        let mut stage = resolve_stage(
            &source,
            registry,
            PluginKind::Renderer,
            l.id.as_deref(),
            &l.plugin,
            &l.config,
            &layers
                .iter()
                .map(|l: &LayerSpec| l.stage.id.clone())
                .collect::<Vec<_>>(),
        )?;
        let opacity = match &l.opacity {
            Some(o) if !(0.0..=1.0).contains(o.get_ref()) => {
                return Err(source.diag(
                    format!("opacity must be from 0 to 1, found {}", o.get_ref()),
                    Some(o.span()),
                ));
            }
            Some(o) => *o.get_ref() as f32,
            None => 1.0,
        };
        stage.isolate = l.isolate;
        layers.push(LayerSpec {
            stage,
            blend: l.blend.unwrap_or_default(),
            opacity,
            placement: validate_placement(&source, &canvas, layer, l.mode.unwrap_or_default(), &l.rect)?,
            persist: l.persist.unwrap_or(false),
        });
    }
    let processors = resolve_stages(&source, registry, PluginKind::Processor, &file.processors)?;
    let recorders = resolve_recorders(&source, registry, &file.recorders)?;
    // Recorders are counted at the canvas size here; the engine counts again once resizing
    // processors have said their sizes.
    let size = (canvas.width, canvas.height);
    if let Err(e) = Buffers::of(&canvas, &layers, &[], size, (&recorders, fps)).check() {
        return Err(source
            .diag(e.to_string(), Some(file.canvas.span()))
            .help(e.help()));
    }
    let name = file.name.clone().unwrap_or_else(|| {
        source
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scene".into())
    });
    let isolation = match &file.isolation {
        None => Limits::default(),
        Some(i) => i.get_ref().limits().map_err(|(_, why)| {
            source
                .diag(why, Some(i.span()))
                .help("see `[isolation]` in docs/isolation.md for what each limit does")
        })?,
    };
    let source_path = source.path.clone();
    Ok(Scene {
        isolation,
        hash: xxhash_rust::xxh3::xxh3_64(source.text.as_bytes()),
        source,
        name,
        fps,
        seed: file.seed.unwrap_or(0),
        canvas,
        layers,
        processors,
        recorders,
        rig: file
            .rig
            .as_deref()
            .map(|r| crate::model::paths::input(&source_path, r)),
    })
}

fn validate_placement(
    source: &Source,
    canvas: &CanvasSpec,
    layer: &Spanned<LayerFile>,
    mode: Mode,
    rect: &Option<Spanned<[u64; 4]>>,
) -> Result<Placement, Diagnostic> {
    match (mode, rect) {
        (Mode::Full, None) => Ok(Placement::Full),
        (Mode::Mirrored, None) => Ok(Placement::Mirrored),
        (Mode::Rect, None) => Err(source
            .diag(
                "`mode = \"rect\"` needs `rect = [x, y, width, height]`",
                Some(layer.span()),
            )
            .help("for the second 64×64 face of a 256×64 cube: rect = [64, 0, 64, 64]")),
        (_, Some(r)) if mode != Mode::Rect => Err(source
            .diag("`rect` is only used with `mode = \"rect\"`", Some(r.span()))
            .help("add mode = \"rect\", or remove rect")),
        (_, Some(r)) => {
            let [x, y, w, h] = *r.get_ref();
            if w == 0 || h == 0 || x + w > canvas.width as u64 || y + h > canvas.height as u64 {
                return Err(source
                    .diag(
                        format!(
                            "rect [{x}, {y}, {w}, {h}] must be non-empty and inside the {}×{} canvas",
                            canvas.width, canvas.height
                        ),
                        Some(r.span()),
                    )
                    .help("x + width must not pass the canvas width, y + height its height"));
            }
            Ok(Placement::Rect(x as u32, y as u32, w as u32, h as u32))
        }
    }
}

fn validate_canvas(source: &Source, c: &Spanned<CanvasFile>) -> Result<CanvasSpec, Diagnostic> {
    let cf = c.get_ref();
    for side in [&cf.width, &cf.height] {
        let v = *side.get_ref();
        if v == 0 || v > MAX_SIDE {
            return Err(source
                .diag(
                    format!("canvas sides must be from 1 to {MAX_SIDE} pixels, found {v}"),
                    Some(side.span()),
                )
                .help("a 4×1 cube of 64×64 panels is width = 256, height = 64"));
        }
    }
    let (w, h) = (*cf.width.get_ref(), *cf.height.get_ref());
    if w * h * 4 > MAX_FRAME_BYTES {
        return Err(source
            .diag(
                format!(
                    "a {w}×{h} canvas needs {} MiB per frame; the cap is {} MiB",
                    (w * h * 4) >> 20,
                    MAX_FRAME_BYTES >> 20
                ),
                Some(c.span()),
            )
            .help("use a smaller canvas, e.g. 1920×1080"));
    }
    let panels = match &cf.panels {
        Some(p) => {
            let [pc, pr] = *p.get_ref();
            if pc == 0 || pr == 0 || w % pc != 0 || h % pr != 0 {
                return Err(source
                    .diag(
                        format!(
                            "panels = [{pc}, {pr}] must divide the {w}×{h} canvas into equal whole panels"
                        ),
                        Some(p.span()),
                    )
                    .help("for a 256×64 canvas of 64×64 panels, panels = [4, 1]"));
            }
            (pc as u32, pr as u32)
        }
        None => (1, 1),
    };
    let background = match &cf.background {
        Some(b) => match Rgba::parse(b.get_ref()) {
            Some(c) => Rgba { a: 255, ..c },
            None => {
                return Err(source
                    .diag(format!("`{}` is not a colour", b.get_ref()), Some(b.span()))
                    .help("write colours as \"#rrggbb\""));
            }
        },
        None => Rgba::BLACK,
    };
    Ok(CanvasSpec {
        width: w as u32,
        height: h as u32,
        panels,
        background,
    })
}

fn resolve_stages(
    source: &Source,
    registry: &Registry,
    kind: PluginKind,
    stages: &[Spanned<StageFile>],
) -> Result<Vec<StageSpec>, Diagnostic> {
    let mut out: Vec<StageSpec> = Vec::new();
    for s in stages {
        let s = s.get_ref();
        let taken: Vec<String> = out.iter().map(|s| s.id.clone()).collect();
        let mut stage = resolve_stage(
            source,
            registry,
            kind,
            s.id.as_deref(),
            &s.plugin,
            &s.config,
            &taken,
        )?;
        stage.isolate = s.isolate;
        out.push(stage);
    }
    Ok(out)
}

fn resolve_recorders(
    source: &Source,
    registry: &Registry,
    recorders: &[Spanned<RecorderFile>],
) -> Result<Vec<RecorderSpec>, Diagnostic> {
    let mut out: Vec<RecorderSpec> = Vec::new();
    for r in recorders {
        let r = r.get_ref();
        let taken: Vec<String> = out.iter().map(|s| s.stage.id.clone()).collect();
        let mut stage = resolve_stage(
            source,
            registry,
            PluginKind::Recorder,
            r.id.as_deref(),
            &r.plugin,
            &r.config,
            &taken,
        )?;
        stage.isolate = r.isolate;
        let mut queue = QueueSpec::default();
        if let Some(q) = &r.queue {
            let n = *q.get_ref();
            if n < 1 || n > QueueSpec::MAX_FRAMES as i64 {
                return Err(source
                    .diag(format!("a queue of {n} frames is out of range"), Some(q.span()))
                    .help(format!(
                        "give 1 to {} frames (default {}); each holds one frame in memory",
                        QueueSpec::MAX_FRAMES,
                        QueueSpec::DEFAULT_FRAMES
                    )));
            }
            queue.frames = n as usize;
        }
        if let Some(w) = &r.when_full {
            queue.when_full = match w.get_ref().as_str() {
                "drop" => Some(WhenFull::Drop),
                "wait" => Some(WhenFull::Wait),
                other => {
                    return Err(source
                        .diag(format!("`when_full = \"{other}\"` is not a choice"), Some(w.span()))
                        .help("\"drop\" drops and counts frames the recorder cannot take (live runs); \"wait\" slows rendering to keep every frame (offline renders)"));
                }
            };
        }
        let outputs = output_fields(source, &stage, &r.config);
        let clips = r.clips.as_ref().map(|c| *c.get_ref());
        if let Some(c) = &r.clips {
            for (name, ms, max) in [
                ("pre_roll_ms", c.get_ref().pre_roll_ms, ClipSpec::MAX_PRE_ROLL_MS),
                (
                    "post_roll_ms",
                    c.get_ref().post_roll_ms,
                    ClipSpec::MAX_POST_ROLL_MS,
                ),
            ] {
                if ms > max {
                    return Err(source
                        .diag(
                            format!("`{name}` must be from 0 to {max}, found {ms}"),
                            Some(c.span()),
                        )
                        .help("milliseconds: a pre-roll up to ten minutes, a post-roll up to an hour"));
                }
            }
        }
        let fallback = match &r.fallback {
            None => None,
            Some(f) => {
                let f = f.get_ref();
                let mut fallback = resolve_stage(
                    source,
                    registry,
                    PluginKind::Recorder,
                    Some(&stage.id),
                    &f.plugin,
                    &f.config,
                    &[],
                )?;
                // Runs as the recorder it stands in for does.
                fallback.isolate = stage.isolate;
                let stage = fallback;
                Some(Box::new(RecorderSpec {
                    outputs: output_fields(source, &stage, &f.config),
                    stage,
                    queue,
                    clips,
                    fallback: None,
                }))
            }
        };
        let without_placeholder = std::iter::once(&outputs)
            .chain(fallback.as_ref().map(|f| &f.outputs))
            .any(|o| !o.iter().any(|o| o.raw.contains(PLACEHOLDER)));
        if let Some(c) = &r.clips
            && without_placeholder
        {
            return Err(source
                .diag(
                    format!(
                        "recorder `{}` writes clips, but none of its output paths has {} for the clip's number",
                        stage.id,
                        PLACEHOLDER
                    ),
                    Some(c.span()),
                )
                .help("write for instance `path = \"clips/clip-{clip}.mp4\"`: clip 1 goes to clips/clip-0001.mp4"));
        }
        let spec = RecorderSpec {
            stage,
            queue,
            outputs,
            clips,
            fallback,
        };
        if let Some(d) = shared_output(source, &out, &spec) {
            return Err(d);
        }
        out.push(spec);
    }
    Ok(out)
}

/// Two recorders writing one file would lose one's work (each writes its own temporary file and
/// the last rename wins): the diagnostic for `spec` writing a file one of `earlier` writes.
fn shared_output(source: &Source, earlier: &[RecorderSpec], spec: &RecorderSpec) -> Option<Diagnostic> {
    // Written as `a/./b.gif` or `a/b.gif`, it is one file.
    let key = |raw: &str| {
        Path::new(raw)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect::<PathBuf>()
    };
    let fields = |r: &RecorderSpec| -> Vec<(PathBuf, OutputField)> {
        std::iter::once(r)
            .chain(r.fallback.as_deref())
            .flat_map(|r| r.outputs.iter().map(|o| (key(&o.raw), o.clone())))
            .collect()
    };
    let mine = fields(spec);
    for other in earlier {
        for (path, _) in fields(other) {
            if let Some((_, field)) = mine.iter().find(|(p, _)| *p == path) {
                return Some(
                    source
                        .diag(
                            format!(
                                "recorders `{}` and `{}` would both write `{}`",
                                other.stage.id,
                                spec.stage.id,
                                path.display()
                            ),
                            Some(field.span.clone()),
                        )
                        .help("give each recorder (and each fallback) a file of its own"),
                );
            }
        }
    }
    None
}

/// The output path fields `config` sets for the recorder `stage`, as written.
fn output_fields(
    source: &Source,
    stage: &StageSpec,
    config: &Option<Spanned<toml::Table>>,
) -> Vec<OutputField> {
    let spec = stage
        .plugin
        .config(PluginKind::Recorder)
        .expect("resolved as a recorder");
    let Some(config) = config else { return Vec::new() };
    spec.fields
        .iter()
        .filter(|f| f.ty == FieldType::Path)
        .filter_map(|field| match config.get_ref().get(field.name.as_str()) {
            Some(toml::Value::String(p)) if !p.is_empty() => Some(OutputField {
                key: field.name.to_string(),
                raw: p.clone(),
                span: source.key_span(field.name.as_str(), config.span()),
            }),
            _ => None,
        })
        .collect()
}

fn resolve_stage(
    source: &Source,
    registry: &Registry,
    kind: PluginKind,
    id: Option<&str>,
    plugin: &Spanned<String>,
    config: &Option<Spanned<toml::Table>>,
    taken: &[String],
) -> Result<StageSpec, Diagnostic> {
    let name = plugin.get_ref().as_str();
    let known = registry.ids_of(kind);
    let Some(found) = registry.get(name).filter(|p| p.provides(kind)) else {
        let mut d = match registry.get(name) {
            Some(p) => source.diag(
                format!(
                    "plugin `{name}` is not a {kind}; it provides: {}",
                    p.manifest
                        .kinds()
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(plugin.span()),
            ),
            None => source.diag(format!("unknown {kind} plugin `{name}`"), Some(plugin.span())),
        };
        if let Some(near) = nearest(name, known.iter().copied()) {
            d = d.help(format!("did you mean `{near}`?"));
        }
        d = d.help(format!("known {kind}s: {}", known.join(", ")));
        return Err(d.help("`marquee plugins` lists every plugin and where it came from"));
    };
    let spec = found.config(kind).expect("checked by provides()");
    let mut table = config.as_ref().map(|c| c.get_ref().clone()).unwrap_or_default();
    // Path fields are relative to the scene file: resolve them here, so plugins get usable paths
    // whatever the working directory. A recorder's are output paths: the engine resolves those
    // in the output directory.
    let inputs = if kind == PluginKind::Recorder {
        &[][..]
    } else {
        spec.fields.as_slice()
    };
    for field in inputs.iter().filter(|f| f.ty == FieldType::Path) {
        if let Some(toml::Value::String(p)) = table.get_mut(field.name.as_str())
            && !p.is_empty()
            && Path::new(p.as_str()).is_relative()
        {
            *p = crate::model::paths::input(&source.path, p)
                .to_string_lossy()
                .into_owned();
        }
    }
    for key in table.keys() {
        if spec.field(key).is_none() {
            let span = config.as_ref().map(|c| source.key_span(key, c.span()));
            let valid: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
            let mut d = source.diag(format!("plugin `{name}` has no config field `{key}`"), span);
            if let Some(near) = nearest(key, valid.iter().copied()) {
                d = d.help(format!("did you mean `{near}`?"));
            }
            return Err(d
                .help(format!("valid fields: {}", valid.join(", ")))
                .help(format!("`marquee plugins describe {name}` describes its fields")));
        }
    }
    // What the plugin declares is enforced here, before its factory sees the config.
    if let Err(e) = spec.check(&table) {
        let key = e.field.split(['.', '[']).next().unwrap_or(&e.field);
        let span = config.as_ref().map(|c| source.key_span(key, c.span()));
        let mut d = source.diag(format!("plugin `{name}`: {e}"), span);
        if let Some(field) = spec.field(key) {
            d = d.help(format!("`{}`: {}", field.name, field.doc));
        }
        return Err(d.help(format!("`marquee plugins describe {name}` describes its fields")));
    }
    let id = match id {
        Some(id) => id.to_string(),
        None => {
            let mut id = name.to_string();
            let mut n = 2;
            while taken.contains(&id) {
                id = format!("{name}-{n}");
                n += 1;
            }
            id
        }
    };
    if taken.contains(&id) {
        return Err(source
            .diag(format!("two {kind}s have the id `{id}`"), Some(plugin.span()))
            .help("give each one a unique `id`"));
    }
    Ok(StageSpec {
        id,
        plugin: found.clone(),
        config_json: serde_json::to_string(&table).expect("a TOML table always serialises to JSON"),
        plugin_span: plugin.span(),
        config_span: config.as_ref().map(|c| c.span()),
        isolate: None,
    })
}
