//! `marquee trace merge`: trace shards joined into the one trace an unsharded run writes, byte
//! for byte: the index's frames in order (its `shard` dropped), the GIF's frames copied after
//! the first shard's header. Shards of another scene or settings, missing, repeated or
//! overlapping frames are refused before anything is written; every shard's GIF is checked
//! against the hash of its bytes its index recorded (without decoding a frame), so a shard
//! damaged on its way never becomes a reference: the merged file is committed only after.

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use marquee_plugin_api::files::{PartialFile, open_regular};

use super::gif_blocks::{GifBlocks, TRAILER_BYTE};
use super::{
    GIF_FILE, HashingReader, INDEX_FILE, TIMINGS_FILE, TraceError, TraceIndex, index_json, read_index,
};

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    /// The whole trace's index.
    pub index: TraceIndex,
    /// Shards joined.
    pub shards: usize,
    /// Milliseconds the merge took, checks included.
    pub ms: f64,
}

/// A shard given to merge: its directory and index.
struct Part {
    dir: PathBuf,
    index: TraceIndex,
}

impl Part {
    fn first(&self) -> u64 {
        self.index.frames.first().map_or(0, |f| f.index)
    }
    fn end(&self) -> u64 {
        self.index.frames.last().map_or(0, |f| f.index + 1)
    }
    fn label(&self) -> String {
        match &self.index.shard {
            Some(s) => format!("shard {}/{} ({})", s.index, s.count, self.dir.display()),
            None => self.dir.display().to_string(),
        }
    }
}

fn refuse(dir: &Path, message: String) -> TraceError {
    TraceError::BadTrace {
        path: dir.join(INDEX_FILE),
        message,
    }
}

/// "frames 10–19", "frame 10".
fn span(first: u64, end: u64) -> String {
    if end == first + 1 {
        format!("frame {first}")
    } else {
        format!("frames {first}–{}", end - 1)
    }
}

/// Why `part` is not a shard of the same trace as `base`, if it is not.
fn foreign(base: &TraceIndex, part: &TraceIndex) -> Option<String> {
    let (a, b) = (&base.scene, &part.scene);
    let differs =
        |what: &str, x: String, y: String| Some(format!("its {what} is {y}, the first shard's {x}"));
    if a.hash != b.hash {
        return differs("scene hash", a.hash.clone(), b.hash.clone());
    }
    if a.path != b.path {
        return differs("scene path", a.path.clone(), b.path.clone());
    }
    if a.seed != b.seed {
        return differs("seed", a.seed.to_string(), b.seed.to_string());
    }
    if a.fps != b.fps {
        return differs("frame rate", a.fps.to_string(), b.fps.to_string());
    }
    if (a.width, a.height, a.panels) != (b.width, b.height, b.panels) || a.name != b.name {
        return differs(
            "canvas",
            format!("{}×{} {:?} `{}`", a.width, a.height, a.panels, a.name),
            format!("{}×{} {:?} `{}`", b.width, b.height, b.panels, b.name),
        );
    }
    if base.plugins != part.plugins {
        let show = |i: &TraceIndex| {
            i.plugins
                .iter()
                .map(|p| format!("{} {}", p.id, p.version))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return differs("plugins", show(base), show(part));
    }
    if base.gif.file != part.gif.file {
        return differs("GIF file", base.gif.file.clone(), part.gif.file.clone());
    }
    let total = |i: &TraceIndex| i.shard.as_ref().map_or(0, |s| s.total);
    if total(base) != total(part) {
        return differs(
            "whole trace's length",
            format!("{} frames", total(base)),
            format!("{} frames", total(part)),
        );
    }
    None
}

/// Joins the shards in `dirs` (any order) into the whole trace in `out`: `index.json`,
/// `trace.gif` and, when every shard has one, `timings.json`. Nothing is written unless every
/// check passes; `out` may not be one of the shards.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, TraceError> {
    let t0 = Instant::now();
    if dirs.is_empty() {
        return Err(refuse(out, "no shards given to merge".into()));
    }
    let mut parts = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let index = read_index(dir)?;
        let Some(shard) = index.shard.clone() else {
            return Err(refuse(
                dir,
                "a whole trace, not a shard; merge joins the directories `marquee trace --shard I/N` writes"
                    .into(),
            ));
        };
        let want = shard
            .frames()
            .map_err(|why| refuse(dir, format!("{why}; the shard is damaged, trace it again")))?;
        let got: Vec<u64> = index.frames.iter().map(|f| f.index).collect();
        if got.len() as u64 != want.end - want.start || !got.iter().copied().eq(want.clone()) {
            return Err(refuse(
                dir,
                format!(
                    "shard {}/{} of {} frames should hold {}, but its index lists other frames; the shard is damaged, trace it again",
                    shard.index,
                    shard.count,
                    shard.total,
                    span(want.start, want.end.max(want.start + 1))
                ),
            ));
        }
        parts.push(Part {
            dir: dir.clone(),
            index,
        });
    }
    let out_abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    for part in &parts {
        let dir_abs = std::path::absolute(&part.dir).unwrap_or_else(|_| part.dir.clone());
        if dir_abs == out_abs {
            return Err(refuse(
                out,
                "the output directory is one of the shards; merge into a directory of its own".into(),
            ));
        }
        if let Some(why) = foreign(&parts[0].index, &part.index) {
            return Err(refuse(
                &part.dir,
                format!(
                    "{} is a shard of another trace than {}: {why}; trace every shard from the same scene, plugins and options",
                    part.label(),
                    parts[0].label()
                ),
            ));
        }
    }
    parts.sort_by_key(|p| (p.first(), p.end()));
    let total = parts[0].index.shard.as_ref().map_or(0, |s| s.total);
    let mut next = 0u64;
    for (i, part) in parts.iter().enumerate() {
        if i > 0
            && parts[i - 1].index.shard.as_ref().map(|s| s.shard())
                == part.index.shard.as_ref().map(|s| s.shard())
        {
            return Err(refuse(
                &part.dir,
                format!(
                    "{} and {} are the same shard given twice; give each once",
                    parts[i - 1].label(),
                    part.label()
                ),
            ));
        }
        if part.first() > next {
            return Err(refuse(
                &part.dir,
                format!(
                    "no shard given holds {}; the shards given end at frame {next} and {} starts at {}: add the missing shard",
                    span(next, part.first()),
                    part.label(),
                    part.first()
                ),
            ));
        }
        if part.first() < next {
            return Err(refuse(
                &part.dir,
                format!(
                    "{} and {} overlap ({}); give shards that were cut the same way, each once",
                    parts[i - 1].label(),
                    part.label(),
                    span(part.first(), next.min(part.end()))
                ),
            ));
        }
        next = part.end();
    }
    if next != total {
        let last = parts.last().expect("at least one");
        return Err(refuse(
            &last.dir,
            format!(
                "no shard given holds {} of the {total}-frame trace: add the missing shard",
                span(next, total)
            ),
        ));
    }

    fs::create_dir_all(out).map_err(super::io("cannot create trace directory", out))?;
    let gif_path = out.join(GIF_FILE);
    let write_err = |source: std::io::Error| TraceError::Io {
        what: "cannot write",
        path: gif_path.clone(),
        source,
    };
    let file = PartialFile::create(&gif_path).map_err(write_err)?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut first_header: Option<Vec<u8>> = None;
    for part in &parts {
        let path = part.dir.join(&part.index.gif.file);
        let file = open_regular(&path).map_err(super::read("cannot open", &path))?;
        let damaged = |e: std::io::Error| TraceError::BadTrace {
            path: path.clone(),
            message: format!("{e}; the shard is damaged, trace it again"),
        };
        let reader = BufReader::with_capacity(1 << 20, HashingReader::new(file));
        let (mut blocks, header) = GifBlocks::open(reader).map_err(damaged)?;
        match &first_header {
            None => {
                writer.write_all(&header).map_err(write_err)?;
                first_header = Some(header);
            }
            Some(h) if *h != header => {
                return Err(TraceError::BadTrace {
                    path: path.clone(),
                    message: format!(
                        "its GIF header differs from {}'s (another GIF writer or options); trace every shard with the same build",
                        parts[0].label()
                    ),
                });
            }
            Some(_) => {}
        }
        // The frames before its first (its lead) only served to encode that one.
        let lead = part.index.shard.as_ref().map_or(0, |s| s.lead);
        loop {
            let copied = if blocks.frames() < lead {
                blocks.copy_frame(&mut std::io::sink())
            } else {
                blocks.copy_frame(&mut writer)
            };
            if !copied.map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => damaged(e),
                _ => write_err(e),
            })? {
                break;
            }
        }
        if blocks.frames() != lead + part.index.frames.len() as u64 {
            return Err(damaged(std::io::Error::other(format!(
                "holds {} frames but its index lists {} after {lead} before them",
                blocks.frames(),
                part.index.frames.len()
            ))));
        }
        // Every byte of the file went through the hasher (the trailer check reads to its end).
        let got = blocks.into_inner().into_inner().hex();
        let want = part
            .index
            .shard
            .as_ref()
            .map(|s| s.gif_bytes.as_str())
            .unwrap_or_default();
        if got != want {
            return Err(damaged(std::io::Error::other(format!(
                "its bytes hash to {got}, not the {want} its index recorded when it was traced"
            ))));
        }
    }
    writer.write_all(&[TRAILER_BYTE]).map_err(write_err)?;
    let file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.commit().map_err(write_err)?;

    let mut index = parts[0].index.clone();
    index.shard = None;
    index.frames = parts
        .iter()
        .flat_map(|p| p.index.frames.iter().cloned())
        .collect();
    index.gif.file = GIF_FILE.into();
    index.gif.frames = total;
    index.gif.total_centis = index.frames.iter().map(|e| e.delay as u64).sum();
    let index_path = out.join(INDEX_FILE);
    fs::write(&index_path, index_json(&index)).map_err(super::io("cannot write", &index_path))?;
    merge_timings(&parts, out)?;
    Ok(Merged {
        index,
        shards: parts.len(),
        ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// The shards' `timings.json` joined, when every shard has a readable one (they are not part of
/// the trace proper: a missing one leaves the merged trace without, and says nothing).
fn merge_timings(parts: &[Part], out: &Path) -> Result<(), TraceError> {
    let mut all = Vec::new();
    for part in parts {
        let path = part.dir.join(TIMINGS_FILE);
        let Ok(text) = marquee_plugin_api::files::read_text_bounded(&path, super::MAX_INDEX_BYTES) else {
            return Ok(());
        };
        let Ok(t) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Ok(());
        };
        let Some(ms) = t.get("frame_ms").and_then(|v| v.as_array()) else {
            return Ok(());
        };
        all.extend(ms.iter().cloned());
    }
    let path = out.join(TIMINGS_FILE);
    let timings = serde_json::json!({ "frame_ms": all });
    fs::write(&path, format!("{timings:#}\n")).map_err(super::io("cannot write", &path))
}
