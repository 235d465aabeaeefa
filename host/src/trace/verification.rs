//! Verification: a trace re-rendered and compared with its index frame by frame (the whole
//! trace, or one shard of its frames), and the PNGs written where a frame differs.

use std::path::{Path, PathBuf};

use super::gif_frames::standing_frames;
use super::shard::Shard;
use super::{GifFrames, INDEX_FILE, Run, TraceError, check_frames, hash_hex, plugin_infos, read_index};
use crate::engine::Failure;
use crate::model::show::Show;
use crate::play::player::Player;
use crate::plugins::registry::Registry;

/// The PNGs written beside a trace for a frame that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffImages {
    /// The frame as the trace's GIF stores it.
    pub expected: PathBuf,
    /// The frame as rendered now.
    pub actual: PathBuf,
    /// Where they differ: black where equal, the per-channel difference (boosted) elsewhere.
    pub difference: PathBuf,
}

/// The first frame that differs from the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Frame index.
    pub index: u64,
    /// Hash in the index.
    pub expected: String,
    /// Hash of the frame rendered now.
    pub actual: String,
    /// Pixels that differ from the GIF's version of the frame.
    pub differing_pixels: usize,
    /// The images written.
    pub images: DiffImages,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The first frame checked: 0, or where the shard checked starts.
    pub first: u64,
    /// Frames that matched, from `first`.
    pub matched: u64,
    /// Frames checked (all of the trace's, or the shard's).
    pub total: u64,
    /// The first frame that differs, if any.
    pub mismatch: Option<Mismatch>,
    /// Notes for people (plugin versions that changed, ...).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// Whether every frame matched.
    pub fn ok(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// Re-renders the trace in `dir` and compares it frame by frame; `on_frame(index, ok)` is called
/// for each frame checked. Stops at the first difference and writes expected / actual /
/// difference PNGs beside the trace. `scene_path` overrides the scene recorded in the index.
pub fn verify(
    dir: &Path,
    registry: &Registry,
    scene_path: Option<&Path>,
    run: impl Into<Run>,
    on_frame: impl FnMut(u64, bool),
) -> Result<VerifyReport, TraceError> {
    verify_shard(dir, registry, scene_path, None, run, on_frame)
}

/// [`verify`] of one shard of the trace's frames (all of them with `None`): the GIF is checked
/// against the index as far as the shard's last frame, and the rendering starts at the shard's
/// first frame, reached exactly ([`Player::seek_exact`]). The directory may itself be a shard
/// (`trace --shard`): its frames are then the ones cut.
pub fn verify_shard(
    dir: &Path,
    registry: &Registry,
    scene_path: Option<&Path>,
    shard: Option<Shard>,
    run: impl Into<Run>,
    mut on_frame: impl FnMut(u64, bool),
) -> Result<VerifyReport, TraceError> {
    let index = read_index(dir)?;
    let gif_path = dir.join(&index.gif.file);
    let (w, h) = (index.scene.width, index.scene.height);
    let damaged = |message: String| TraceError::BadTrace {
        path: dir.join(INDEX_FILE),
        message,
    };
    let too_big = w as u64 > crate::model::scene::MAX_SIDE
        || h as u64 > crate::model::scene::MAX_SIDE
        || w as u64 * h as u64 * 4 > crate::model::scene::MAX_FRAME_BYTES;
    if w == 0 || h == 0 || too_big {
        return Err(damaged(format!(
            "a {w}×{h} frame is not a size a scene can have; the trace is damaged, re-create it"
        )));
    }
    let held = check_frames(index.frames.len() as u64, "the trace")?;
    // A whole trace holds frames 0, 1, 2, ...; a shard its own share of them, its GIF `lead`
    // frames before them.
    let lead = index.shard.as_ref().map_or(0, |s| s.lead);
    let start = match &index.shard {
        None => 0,
        Some(s) => {
            let want = s
                .frames()
                .map_err(|why| damaged(format!("{why}; the trace is damaged, re-create it")))?;
            if want.end - want.start != held {
                return Err(damaged(format!(
                    "says it is shard {}/{} of {} frames but lists {held}; the trace is damaged, re-create it",
                    s.index, s.count, s.total
                )));
            }
            want.start
        }
    };
    if let Some((i, entry)) = index
        .frames
        .iter()
        .enumerate()
        .find(|(i, e)| e.index != start + *i as u64)
    {
        return Err(damaged(format!(
            "entry {i} of `frames` says it is frame {}; entries must be frames {start}, {}, {}, ... in order; the trace is damaged, re-create it",
            entry.index,
            start + 1,
            start + 2
        )));
    }
    // The frames checked: all, or the shard's share of them (as positions in `frames`).
    let range = match shard {
        None => 0..held,
        Some(s) => s.frames_checked(held).map_err(&damaged)?,
    };
    let (first, total) = (start + range.start, range.end - range.start);
    // The GIF's size is checked first and its frames counted without decoding, so a damaged
    // file is said before any rendering; then the frames checked are decoded (from the last
    // frame before them that stands alone) beside the rendering, which compares with the
    // index's hashes alone.
    GifFrames::open(&gif_path, (w, h))?;
    // Positions in the GIF: the index's entry `i` is its frame `lead + i`.
    let standing = standing_frames(&gif_path)?;
    if standing.total != lead + held {
        return Err(TraceError::BadTrace {
            path: gif_path,
            message: format!(
                "holds {} frames but the index lists {held} after {lead} before them; the trace is damaged, re-create it",
                standing.total
            ),
        });
    }
    // The frames checked are decoded on a thread of their own while the scene renders, from the
    // last key frame before them (the frames between compared too, but not those before the
    // index's first); a damaged GIF is said before any difference rendering finds.
    let check_gif = || -> Result<(), TraceError> {
        let at = standing.start_for(lead + range.start).max(lead);
        let mut gif = GifFrames::open_before(&gif_path, (w, h), &standing, at)?;
        for entry in &index.frames[(at - lead) as usize..range.end as usize] {
            match gif.next_frame()? {
                Some((g, delay)) if hash_hex(g) == entry.gif && delay == entry.delay => {}
                _ => {
                    return Err(TraceError::BadTrace {
                        path: gif_path.clone(),
                        message: format!(
                            "frame {} does not match index.json; the trace is damaged, re-create it",
                            entry.index
                        ),
                    });
                }
            }
        }
        Ok(())
    };
    let render = || -> Result<VerifyReport, TraceError> {
        let scene_file = scene_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(&index.scene.path));
        if scene_path.is_none() && !scene_file.exists() {
            return Err(TraceError::BadTrace {
                path: dir.join(INDEX_FILE),
                message: format!(
                    "the trace was made from scene {}, which is not found from here; run verify from the directory the trace was made in, or pass --scene PATH",
                    scene_file.display()
                ),
            });
        }
        let mut show = Show::load(&scene_file, registry)?;
        let mut notes = Vec::new();
        if show.fps() != index.scene.fps && show.set_fps(index.scene.fps) {
            notes.push(format!(
                "traced at {} fps, not the scene's own rate (trace --fps); verified at {} fps",
                index.scene.fps, index.scene.fps
            ));
        }
        if show.hash_hex() != index.scene.hash {
            notes.push(format!(
                "{} changed since the trace was made (hash {} now, {} then)",
                scene_file.display(),
                show.hash_hex(),
                index.scene.hash
            ));
        }
        for now in plugin_infos(&show, registry) {
            match index.plugins.iter().find(|p| p.id == now.id) {
                Some(then) if then.version != now.version => {
                    notes.push(format!(
                        "plugin `{}` is {} now, {} when traced",
                        now.id, now.version, then.version
                    ));
                }
                None => notes.push(format!("plugin `{}` was not used when traced", now.id)),
                _ => {}
            }
        }
        let refuse = |failures: Vec<Failure>| TraceError::PluginFailed {
            doing: "verifying",
            consequence: "the frames cannot be confirmed",
            failures,
        };
        let mut player = Player::new(&show, &run.into().engine())?;
        player.seek_exact(first)?;
        let failures = player.take_failures();
        if !failures.is_empty() {
            return Err(refuse(failures));
        }
        for entry in &index.frames[range.start as usize..range.end as usize] {
            let frame = player.step()?;
            let actual = hash_hex(frame);
            let ok = actual == entry.rgba;
            // Kept only for a mismatch's diff images (once: the first mismatch ends the run).
            let kept = (!ok).then(|| frame.to_vec());
            let failures = player.take_failures();
            if !failures.is_empty() {
                return Err(refuse(failures));
            }
            on_frame(entry.index, ok);
            if let Some(frame) = kept {
                let frame = frame.as_slice();
                // Only a mismatch needs the GIF's pixels (for the diff images): read again up to it.
                let at = lead + (entry.index - start);
                let mut gif = GifFrames::open_before(&gif_path, (w, h), &standing, at)?;
                let (g, _) = gif
                    .next_frame()?
                    .ok_or_else(|| damaged("the GIF changed while verifying".into()))?;
                if frame.len() != g.len() {
                    return Err(damaged(format!(
                        "the scene now makes frames of {} bytes, the trace's are {w}×{h}; re-create the trace",
                        frame.len()
                    )));
                }
                let images = write_diff_images(dir, entry.index, w, h, g, frame)?;
                let differing_pixels = g.chunks(4).zip(frame.chunks(4)).filter(|(a, b)| a != b).count();
                return Ok(VerifyReport {
                    first,
                    matched: entry.index - first,
                    total,
                    mismatch: Some(Mismatch {
                        index: entry.index,
                        expected: entry.rgba.clone(),
                        actual,
                        differing_pixels,
                        images,
                    }),
                    notes,
                });
            }
        }
        Ok(VerifyReport {
            first,
            matched: total,
            total,
            mismatch: None,
            notes,
        })
    };
    std::thread::scope(|scope| {
        let checking = scope.spawn(check_gif);
        let rendered = render();
        checking
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        rendered
    })
}

/// Writes `expected-NNNNN.png`, `actual-NNNNN.png` and `difference-NNNNN.png` into `dir`.
pub fn write_diff_images(
    dir: &Path,
    index: u64,
    w: u32,
    h: u32,
    expected: &[u8],
    actual: &[u8],
) -> Result<DiffImages, TraceError> {
    let name = |kind: &str| dir.join(format!("{kind}-{index:05}.png"));
    let images = DiffImages {
        expected: name("expected"),
        actual: name("actual"),
        difference: name("difference"),
    };
    let diff: Vec<u8> = expected
        .chunks_exact(4)
        .zip(actual.chunks_exact(4))
        .flat_map(|(e, a)| {
            if e == a {
                [0, 0, 0, 255]
            } else {
                let d = |c: usize| (e[c].abs_diff(a[c]) as u32 * 4).clamp(64, 255) as u8;
                [d(0), d(1), d(2), 255]
            }
        })
        .collect();
    for (path, data) in [
        (&images.expected, expected),
        (&images.actual, actual),
        (&images.difference, &diff[..]),
    ] {
        image::save_buffer(path, data, w, h, image::ExtendedColorType::Rgba8).map_err(|e| {
            TraceError::Io {
                what: "cannot write",
                path: path.clone(),
                source: std::io::Error::other(e),
            }
        })?;
    }
    Ok(images)
}
