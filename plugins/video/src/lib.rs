//! `video`: frames piped as raw RGBA to an `ffmpeg` child process, with the codec chosen from a
//! fallback chain that is probed before use.
//!
//! At creation the recorder asks ffmpeg for its encoders, then tries each codec of `codecs` in
//! turn with a two-frame trial encode into the real container; the first that works is used,
//! and why each one before it was skipped goes into [`Probed::describe`] (the host logs
//! it and writes it to the metrics stream). Without ffmpeg at all the factory fails with an
//! `Unsupported` error naming what to install; a scene that gives the recorder a `fallback`
//! (another recorder, such as `gif`) then gets that one from the host instead.
//!
//! ffmpeg writes to a temporary name beside `path` (`.NAME.partial`, the container given with
//! `-f`), a file this recorder creates itself (new, never through a symbolic link) and hands
//! to ffmpeg as its stdout; `finish` closes its input, waits for it, and renames the file into
//! place only if it exited cleanly. Dropped unfinished, the recorder kills ffmpeg and removes
//! the temporary file.
//!
//! The ffmpeg program is the user's choice, never a scene's: [`FFMPEG_ENV`] names it, else
//! `ffmpeg` is looked up on the `PATH`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use marquee_plugin_api::files::{PartialFile, commit, io_error, parent_dir};
use marquee_plugin_api::{
    DerivedFields, Factory, FrameMeta, InitCtx, PluginDef, PluginError, RecorderPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "video",
    version: env!("CARGO_PKG_VERSION"),
    description: "video through ffmpeg",
    renderer: None,
    processor: None,
    recorder: Some(Factory {
        doc: "Pipes every frame to ffmpeg, encoding with the first codec of `codecs` that works here (probed at load).",
        fields: fields_of::<Config>,
        new: new_recorder,
    }),
};

/// The fallback chain unless a scene gives one: best compression first, MJPEG last (every
/// ffmpeg build has it).
pub const DEFAULT_CODECS: [&str; 4] = ["libx264", "libopenh264", "mpeg4", "mjpeg"];

/// The x264/x265 preset unless a scene sets one.
pub const DEFAULT_PRESET: &str = "veryfast";

/// The presets x264 and x265 know, fastest first.
pub const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// The environment variable that names the ffmpeg program; without it, `ffmpeg` is looked up
/// on the `PATH`. The program is the user's choice, never a scene's: a scene file is data.
pub const FFMPEG_ENV: &str = "MARQUEE_FFMPEG";

/// The ffmpeg program to run: `$MARQUEE_FFMPEG`, else `ffmpeg` from the `PATH`.
pub fn ffmpeg_program() -> String {
    std::env::var(FFMPEG_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ffmpeg".into())
}

/// Config of a `video` recorder.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The video to write; .mp4, .mkv, .mov or .avi (required).
    #[default(PathBuf::new())]
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// The ffmpeg encoders to try, in order; the first that works is used.
    #[default(DEFAULT_CODECS.iter().map(|c| c.to_string()).collect())]
    pub codecs: Vec<String>,
    /// Quality, 0 best to 51 worst (x264's scale; mapped onto each codec's own).
    #[default(23)]
    #[schemars(range(min = 0, max = 51))]
    pub crf: i64,
    /// The x264/x265 speed preset, from ultrafast to placebo (checked at load: a typo is an
    /// error, never a reason to fall back to another codec).
    #[default(DEFAULT_PRESET.into())]
    #[schemars(extend("enum" = PRESETS))]
    pub preset: String,
}

/// A codec passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The encoder's name.
    pub codec: String,
    /// Why it was not used.
    pub why: String,
}

/// Settings checked and probed once; [`Probed::start`] then opens a video with them.
#[derive(Debug, Clone)]
pub struct Probed {
    config: Config,
    /// The ffmpeg program.
    program: String,
    muxer: &'static str,
    width: u32,
    height: u32,
    fps: f64,
    /// The encoder chosen.
    pub codec: String,
    /// Those tried before it, and why each was passed over.
    pub skipped: Vec<Skipped>,
}

/// The ffmpeg muxer for a file name's extension.
fn muxer_for(path: &Path) -> Result<&'static str, PluginError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "mp4" | "m4v" => "mp4",
        "mkv" => "matroska",
        "mov" => "mov",
        "avi" => "avi",
        _ => {
            return Err(PluginError::config(
                "path",
                format!(
                    "`{}` does not end in .mp4, .mkv, .mov or .avi, so the container is unknown",
                    path.display()
                ),
            ));
        }
    })
}

/// The arguments that turn raw RGBA on stdin into `codec` in `muxer` on stdout. Stdout is the
/// temporary file, opened by us (new, never through a link); ffmpeg reopens it as
/// `/dev/stdout`, which is seekable, as MP4 and MOV need, where `pipe:1` is not.
fn encode_args(
    config: &Config,
    codec: &str,
    (width, height, fps): (u32, u32, f64),
    muxer: &str,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgba",
        "-s",
        &format!("{width}x{height}"),
        "-framerate",
        &format!("{fps}"),
        "-i",
        "pipe:0",
        "-an",
        "-c:v",
        codec,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let crf = config.crf;
    // Each codec's own quality knob, from the one CRF scale.
    let q = (2 + (crf * 29 + 25) / 51).to_string();
    let quality: Vec<String> = match codec {
        "libx264" | "libx265" => vec![
            "-crf".into(),
            crf.to_string(),
            "-preset".into(),
            config.preset.clone(),
        ],
        "libvpx-vp9" | "libaom-av1" | "libsvtav1" => {
            vec!["-crf".into(), crf.to_string(), "-b:v".into(), "0".into()]
        }
        "libopenh264" => {
            // No constant-quality mode: a bitrate from bits per pixel, halving every 6 CRF.
            let bpp = 0.1 * 2f64.powf((23 - crf) as f64 / 6.0);
            let rate = (bpp * width as f64 * height as f64 * fps).max(10_000.0) as u64;
            vec!["-b:v".into(), rate.to_string()]
        }
        _ => vec!["-q:v".into(), q],
    };
    a.extend(quality);
    let pix_fmt = if codec == "mjpeg" { "yuvj420p" } else { "yuv420p" };
    a.extend(["-pix_fmt".into(), pix_fmt.into()]);
    if width % 2 == 1 || height % 2 == 1 {
        // 4:2:0 needs even sides: pad by one pixel of the edge colour.
        a.extend(["-vf".into(), "pad=ceil(iw/2)*2:ceil(ih/2)*2".into()]);
    }
    a.extend(["-f".into(), muxer.into(), "-y".into(), "/dev/stdout".into()]);
    a
}

/// The encoders this ffmpeg has, or why it cannot be run.
fn encoders(ffmpeg: &str) -> Result<Vec<String>, String> {
    let out = Command::new(ffmpeg)
        .args(["-hide_banner", "-encoders"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("no `{ffmpeg}` on the PATH"),
            _ => format!("cannot run `{ffmpeg}`: {e}"),
        })?;
    if !out.status.success() {
        return Err(format!("`{ffmpeg} -encoders` failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // Lines like " V....D libx264   libx264 H.264 ...", after a "------" separator.
    Ok(text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("---"))
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let flags = words.next()?;
            flags.starts_with('V').then(|| words.next().map(str::to_string))?
        })
        .collect())
}

/// Last lines of ffmpeg's complaints, for messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(2);
    let t = lines[start..].join(" / ");
    if t.is_empty() { "no message".into() } else { t }
}

/// Encodes two black frames with `codec` into a throwaway file of the real container, in the
/// directory the video goes to (removed when done).
fn trial(probed: &Probed, codec: &str, size: (u32, u32, f64), dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".marquee-trial-{codec}"));
    let file = PartialFile::create(&probe).map_err(|e| e.to_string())?;
    let mut child = ffmpeg_into(probed, codec, size, &file).map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    let frame = vec![0u8; size.0 as usize * size.1 as usize * 4];
    if let Some(mut stdin) = child.stdin.take() {
        // ffmpeg may refuse before reading: its exit status says why.
        let _ = stdin.write_all(&frame).and_then(|_| stdin.write_all(&frame));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string());
    file.abandon();
    let out = out?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "trial encode failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr))
        ))
    }
}

impl Probed {
    /// Checks `config` and finds what to encode frames of `init` with, running
    /// [`ffmpeg_program`].
    pub fn probe(config: Config, init: &InitCtx) -> Result<Probed, PluginError> {
        Probed::probe_with(config, init, ffmpeg_program())
    }

    /// [`Probed::probe`] with the ffmpeg program given (for tests).
    pub fn probe_with(config: Config, init: &InitCtx, program: String) -> Result<Probed, PluginError> {
        if config.path.as_os_str().is_empty() {
            return Err(PluginError::config(
                "path",
                "a path to write the video to is required",
            ));
        }
        let muxer = muxer_for(&config.path)?;
        if config.codecs.is_empty() {
            return Err(PluginError::config(
                "codecs",
                "list at least one codec, such as [\"libx264\", \"mjpeg\"]",
            ));
        }
        if let Some(bad) = config.codecs.iter().find(|c| {
            c.is_empty()
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
        }) {
            return Err(PluginError::config(
                "codecs",
                format!("`{bad}` is not an encoder name"),
            ));
        }
        if !PRESETS.contains(&config.preset.as_str()) {
            return Err(PluginError::config(
                "preset",
                format!(
                    "`{}` is not an x264 preset; choose one of {}",
                    config.preset,
                    PRESETS.join(", ")
                ),
            ));
        }
        let size = (init.width, init.height, init.fps);
        let mut probed = Probed {
            program,
            muxer,
            width: init.width,
            height: init.height,
            fps: init.fps,
            codec: String::new(),
            skipped: Vec::new(),
            config,
        };
        let known = encoders(&probed.program).map_err(|why| {
            PluginError::unsupported(format!(
                "{why}: video needs ffmpeg; install it (Debian: apt-get install ffmpeg) or name it in ${FFMPEG_ENV}, or give the recorder a fallback such as `fallback = {{ plugin = \"gif\", config = {{ path = \"out.gif\" }} }}`"
            ))
        })?;
        let dir = parent_dir(&probed.config.path).to_path_buf();
        let mut skipped = Vec::new();
        for codec in &probed.config.codecs {
            let why = if !known.contains(codec) {
                "not an encoder of this ffmpeg build".to_string()
            } else {
                match trial(&probed, codec, size, &dir) {
                    Ok(()) => {
                        probed.codec = codec.clone();
                        probed.skipped = skipped;
                        return Ok(probed);
                    }
                    Err(why) => why,
                }
            };
            skipped.push(Skipped {
                codec: codec.clone(),
                why,
            });
        }
        let tried: Vec<String> = skipped
            .iter()
            .map(|s| format!("{}: {}", s.codec, s.why))
            .collect();
        let some: Vec<&str> = DEFAULT_CODECS
            .iter()
            .copied()
            .filter(|c| known.iter().any(|k| k == c))
            .collect();
        Err(PluginError::config(
            "codecs",
            format!(
                "no codec of the list works with this ffmpeg ({}); it has for instance {}",
                tried.join("; "),
                some.join(", ")
            ),
        ))
    }

    /// What was decided, as a JSON object text.
    pub fn describe(&self) -> String {
        serde_json::json!({
            "encoder": "ffmpeg",
            "codec": self.codec,
            "container": self.muxer,
            "crf": self.config.crf,
            "skipped": self.skipped,
        })
        .to_string()
    }

    /// Starts writing a video at `path` with what was probed.
    pub fn start(&self, path: &Path) -> Result<VideoRecorder, PluginError> {
        VideoRecorder::spawn(self, &self.codec, path)
    }
}

/// One video being written by an ffmpeg child.
pub struct VideoRecorder {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    /// Reads ffmpeg's stderr until it closes.
    reader: Option<std::thread::JoinHandle<()>>,
    /// The temporary file ffmpeg writes (its stdout); committed by `finish`, removed if dropped.
    file: Option<PartialFile>,
    path: PathBuf,
    size: (u32, u32),
    frames: u64,
}

/// Starts ffmpeg encoding raw frames from its stdin with `codec` into `file`.
fn ffmpeg_into(
    probed: &Probed,
    codec: &str,
    size: (u32, u32, f64),
    file: &PartialFile,
) -> std::io::Result<Child> {
    Command::new(&probed.program)
        .args(encode_args(&probed.config, codec, size, probed.muxer))
        .stdin(Stdio::piped())
        .stdout(Stdio::from(file.try_clone_file()?))
        .stderr(Stdio::piped())
        .spawn()
}

impl VideoRecorder {
    fn spawn(probed: &Probed, codec: &str, path: &Path) -> Result<VideoRecorder, PluginError> {
        let file = PartialFile::create(path).map_err(|e| io_error("cannot write", path, e))?;
        let size = (probed.width, probed.height, probed.fps);
        let mut child = ffmpeg_into(probed, codec, size, &file)
            .map_err(|e| io_error("cannot start ffmpeg for", path, e))?;
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut reader = None;
        if let Some(mut pipe) = child.stderr.take() {
            // Keeps what ffmpeg says (bounded), so that a failure can say why.
            let keep = Arc::clone(&stderr);
            let thread = std::thread::Builder::new()
                .name("marquee-ffmpeg-stderr".into())
                .spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = pipe.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if let Ok(mut text) = keep.lock() {
                            text.push_str(&String::from_utf8_lossy(&buf[..n]));
                            if text.len() > 8192 {
                                let cut = text.len() - 4096;
                                let cut = (cut..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                                text.drain(..cut);
                            }
                        }
                    }
                })
                .map_err(|e| PluginError::io(format!("cannot start a thread: {e}")))?;
            reader = Some(thread);
        }
        Ok(VideoRecorder {
            child: Some(child),
            stdin,
            stderr,
            reader,
            file: Some(file),
            path: path.to_path_buf(),
            size: (probed.width, probed.height),
            frames: 0,
        })
    }

    /// ffmpeg's last words, once it has exited and its stderr is read to the end.
    fn complaint(&mut self) -> String {
        if let Some(child) = &mut self.child {
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        tail(&self.stderr.lock().map(|s| s.clone()).unwrap_or_default())
    }
}

fn new_recorder(json: &str, init: &InitCtx) -> Result<Box<dyn RecorderPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    let path = config.path.clone();
    let probed = Probed::probe(config, init)?;
    let describe = probed.describe();
    Ok(Box::new(Described {
        inner: probed.start(&path)?,
        describe,
    }))
}

/// A video recorder with the probe's description.
struct Described {
    inner: VideoRecorder,
    describe: String,
}

impl RecorderPlugin for Described {
    fn record(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        self.inner.record(meta, frame)
    }
    fn finish(&mut self) -> Result<(), PluginError> {
        self.inner.finish()
    }
    fn describe(&self) -> String {
        self.describe.clone()
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.inner.counters()
    }
}

impl RecorderPlugin for VideoRecorder {
    fn record(&mut self, meta: &FrameMeta, frame: &[u8]) -> Result<(), PluginError> {
        if (meta.width, meta.height) != self.size {
            return Err(PluginError::frame(format!(
                "frames are {}×{}, not the {}×{} this video started with",
                meta.width, meta.height, self.size.0, self.size.1
            )));
        }
        let Some(stdin) = &mut self.stdin else {
            return Err(PluginError::frame("the video was already finished"));
        };
        if let Err(e) = stdin.write_all(frame) {
            self.stdin = None;
            let why = self.complaint();
            return Err(io_error(
                "ffmpeg stopped taking frames for",
                &self.path,
                format!("{e} ({why})"),
            ));
        }
        self.frames += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        // Closing its input tells ffmpeg the video is complete.
        self.stdin = None;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = child
            .wait()
            .map_err(|e| io_error("cannot wait for ffmpeg writing", &self.path, e))?;
        if !status.success() {
            self.child = Some(child);
            let why = self.complaint();
            self.child = None;
            self.file = None;
            return Err(io_error(
                "ffmpeg failed writing",
                &self.path,
                format!("{status}: {why}"),
            ));
        }
        match self.file.take() {
            Some(file) => commit(file),
            None => Ok(()),
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("frames", self.frames)]
    }
}

impl Drop for VideoRecorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Never finished: stop ffmpeg and leave nothing behind (dropping the
            // `PartialFile` removes the temporary file).
            self.stdin = None;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> InitCtx {
        InitCtx {
            width: 16,
            height: 8,
            fps: 25.0,
            seed: 0,
        }
    }

    #[test]
    fn a_preset_typo_is_an_error_not_a_fallback() {
        let config = Config {
            path: "out.mp4".into(),
            preset: "veryfsat".into(),
            ..Config::default()
        };
        let e = Probed::probe_with(config, &init(), "marquee-no-such-ffmpeg".into()).unwrap_err();
        assert_eq!(e.field(), Some("preset"));
        assert!(e.message.contains("veryfast"), "{}", e.message);
    }

    #[test]
    fn containers_come_from_the_extension() {
        assert_eq!(muxer_for(Path::new("a.mp4")).unwrap(), "mp4");
        assert_eq!(muxer_for(Path::new("a.MKV")).unwrap(), "matroska");
        assert_eq!(muxer_for(Path::new("a.webm")).unwrap_err().field(), Some("path"));
    }

    #[test]
    fn quality_maps_onto_each_codec() {
        let c = Config::default();
        let args = encode_args(&c, "libx264", (16, 8, 25.0), "mp4");
        let at = args.iter().position(|a| a == "-crf").unwrap();
        assert_eq!(args[at + 1], "23");
        let args = encode_args(&c, "mjpeg", (15, 8, 25.0), "mp4");
        assert!(args.contains(&"-q:v".to_string()));
        assert!(args.contains(&"yuvj420p".to_string()));
        assert!(args.iter().any(|a| a.starts_with("pad=")), "odd width is padded");
    }

    #[test]
    fn without_ffmpeg_the_factory_says_what_to_install_as_unsupported() {
        let dir = std::env::temp_dir().join(format!("marquee-video-noffmpeg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = Config {
            path: dir.join("out.mp4"),
            ..Config::default()
        };
        let e = Probed::probe_with(config, &init(), "marquee-no-such-ffmpeg".into()).unwrap_err();
        // Not a config error: the host falls back to the recorder's `fallback` on this kind.
        assert_eq!(e.kind, marquee_plugin_api::ErrorKind::Unsupported);
        assert!(e.message.contains(FFMPEG_ENV), "{}", e.message);
        assert!(
            e.message.contains("no `marquee-no-such-ffmpeg` on the PATH"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("fallback = { plugin = \"gif\""),
            "{}",
            e.message
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
