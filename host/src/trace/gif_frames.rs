//! Reading a trace's GIF: its frames counted and its key frames found without decoding
//! ([`standing_frames`]), decoded one at a time onto the screen they leave ([`GifFrames`]),
//! from the start or from any key frame, and every frame's hash for the index
//! ([`decode_hashes`], on two threads). The GIF is data: its sizes are checked before anything
//! is allocated.

use std::path::{Path, PathBuf};

use super::{TraceError, gif_blocks, hash_hex, read};

/// The error for a GIF at `path` whose blocks do not parse.
fn damaged(path: &Path) -> impl Fn(std::io::Error) -> TraceError + '_ {
    move |e| TraceError::BadTrace {
        path: path.to_path_buf(),
        message: format!("{e}; the trace is damaged, re-create it"),
    }
}

/// Each frame of the GIF at `path` decoded (the screen after it, `size`), as its delay and the
/// hash of the screen, checking that it holds `frames` frames. Two threads share the work when
/// the GIF has a frame that stands alone (a key frame) past its first: one decodes up to the one
/// nearest the middle, the other from there.
pub(crate) fn decode_hashes(
    path: &Path,
    size: (u32, u32),
    frames: u64,
) -> Result<Vec<(u16, String)>, TraceError> {
    let standing = standing_frames(path)?;
    if standing.total != frames {
        return Err(TraceError::BadTrace {
            path: path.to_path_buf(),
            message: format!(
                "the GIF holds {} frames, but {frames} were written",
                standing.total
            ),
        });
    }
    let middle = frames / 2;
    let split = (standing.alone.iter().copied())
        .filter(|&k| k > 0)
        .min_by_key(|&k| k.abs_diff(middle));
    // One span from 0, ending at the split if there is one; one from the split to the end.
    let starts = std::iter::once(0).chain(split);
    let ends = split.into_iter().chain(std::iter::once(frames));
    let decode = |span: std::ops::Range<u64>| -> Result<Vec<(u16, String)>, TraceError> {
        let mut gif = GifFrames::open_at(path, size, span.start)?;
        let mut out = Vec::with_capacity((span.end - span.start) as usize);
        for _ in span {
            let Some((screen, delay)) = gif.next_frame()? else {
                return Err(TraceError::BadTrace {
                    path: path.to_path_buf(),
                    message: "the GIF ends before the frames its blocks hold; it is damaged".into(),
                });
            };
            out.push((delay, hash_hex(screen)));
        }
        Ok(out)
    };
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (starts.zip(ends))
            .map(|(start, end)| scope.spawn(move || decode(start..end)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let mut all = Vec::with_capacity(frames as usize);
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

/// A GIF's frames counted without decoding: how many, and which stand alone (cover the whole
/// screen with no transparent colour, so decoding can start there).
pub(crate) struct Standing {
    /// Frames in the file.
    pub total: u64,
    /// Positions of the frames that stand alone, in order.
    pub alone: Vec<u64>,
}

impl Standing {
    /// Where decoding starts to reach frame `at`: the last frame at or before it that stands
    /// alone, or the first.
    pub fn start_for(&self, at: u64) -> u64 {
        self.alone.iter().copied().filter(|&k| k <= at).max().unwrap_or(0)
    }
}

/// Counts the frames of the GIF at `path` without decoding them ([`Standing`]).
pub(crate) fn standing_frames(path: &Path) -> Result<Standing, TraceError> {
    let file = marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?;
    let (mut blocks, _) =
        gif_blocks::GifBlocks::open(std::io::BufReader::new(file)).map_err(damaged(path))?;
    let mut alone = Vec::new();
    while blocks.copy_frame(&mut std::io::sink()).map_err(damaged(path))? {
        if blocks.last_stands_alone() {
            alone.push(blocks.frames() - 1);
        }
    }
    Ok(Standing {
        total: blocks.frames(),
        alone,
    })
}

/// The frames of a GIF, decoded one at a time onto one full-canvas RGBA8 buffer: memory is one
/// canvas whatever the length. The GIF's declared size is checked against the size expected
/// before anything is allocated, and the decoder's own allocations are bounded by it, so a
/// small hostile file cannot claim gigabytes.
pub struct GifFrames {
    decoder: gif::Decoder<Box<dyn std::io::Read>>,
    /// The global colour table (RGB), for frames without their own.
    global: Vec<u8>,
    canvas: Vec<u8>,
    size: (u32, u32),
    path: PathBuf,
    read: u64,
}

impl GifFrames {
    /// Opens the GIF at `path` (a regular file), which must be `width × height`.
    pub fn open(path: &Path, size: (u32, u32)) -> Result<GifFrames, TraceError> {
        let file = marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?;
        GifFrames::from_reader(Box::new(std::io::BufReader::new(file)), path, size)
    }

    /// Opens the GIF at `path` (a regular file, `width × height`) at its frame `from`, which
    /// must stand alone (or be 0): the frames before it are skipped without decoding.
    pub fn open_at(path: &Path, size: (u32, u32), from: u64) -> Result<GifFrames, TraceError> {
        if from == 0 {
            return GifFrames::open(path, size);
        }
        let file = marquee_plugin_api::files::open_regular(path).map_err(read("cannot open", path))?;
        let (mut skipping, header) =
            gif_blocks::GifBlocks::open(std::io::BufReader::new(file)).map_err(damaged(path))?;
        for _ in 0..from {
            skipping.copy_frame(&mut std::io::sink()).map_err(damaged(path))?;
        }
        GifFrames::from_reader(Box::new(skipping.into_gif_from_here(header)), path, size)
    }

    /// Opens the GIF at `path` so that its next frame is frame `at`: at the last key frame
    /// before it (from `standing`), the frames between decoded for what they leave showing.
    pub(crate) fn open_before(
        path: &Path,
        size: (u32, u32),
        standing: &Standing,
        at: u64,
    ) -> Result<GifFrames, TraceError> {
        let from = standing.start_for(at);
        let mut gif = GifFrames::open_at(path, size, from)?;
        for _ in from..at {
            gif.next_frame()?;
        }
        Ok(gif)
    }

    /// Decodes the GIF `reader` gives (read from `path`, which messages name), which must be
    /// `width × height`.
    pub fn from_reader(
        reader: Box<dyn std::io::Read>,
        path: &Path,
        (width, height): (u32, u32),
    ) -> Result<GifFrames, TraceError> {
        let bad = |message: String| TraceError::BadTrace {
            path: path.to_path_buf(),
            message,
        };
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        // A frame's buffer is at most the screen's, plus the decoder's own tables.
        let limit = (width as u64 * height as u64 * 4).max(1) + (1 << 20);
        options.set_memory_limit(gif::MemoryLimit::Bytes(limit.try_into().expect("above 0")));
        let decoder = options
            .read_info(reader)
            .map_err(|e| bad(format!("not a readable GIF: {e}")))?;
        let declared = (decoder.width() as u32, decoder.height() as u32);
        if declared != (width, height) {
            return Err(bad(format!(
                "the GIF is {}×{}, but the index says {width}×{height}; the trace is damaged, re-create it",
                declared.0, declared.1
            )));
        }
        Ok(GifFrames {
            global: decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default(),
            decoder,
            canvas: vec![0u8; width as usize * height as usize * 4],
            size: (width, height),
            path: path.to_path_buf(),
            read: 0,
        })
    }

    /// The next frame: the full canvas after it, RGBA8, and its delay in centiseconds.
    pub fn next_frame(&mut self) -> Result<Option<(&[u8], u16)>, TraceError> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        let read = self.read;
        let path = &self.path;
        let bad = |message: String| TraceError::BadTrace {
            path: path.clone(),
            message,
        };
        let Some(frame) = self
            .decoder
            .read_next_frame()
            .map_err(|e| bad(format!("damaged GIF frame {read}: {e}")))?
        else {
            return Ok(None);
        };
        let (fl, ft, fw, fh) = (
            frame.left as usize,
            frame.top as usize,
            frame.width as usize,
            frame.height as usize,
        );
        if fl + fw > w || ft + fh > h || frame.buffer.len() < fw * fh {
            return Err(bad(format!("frame {read} lies outside the {w}×{h} screen")));
        }
        // Each pixel's colour drawn over the screen, but where it is the transparent index (or
        // an index past the palette): disposal "keep", as traces are written.
        let palette = frame.palette.as_deref().unwrap_or(&self.global);
        let transparent = frame.transparent.map_or(256, usize::from);
        if fw > 0 {
            for (row, out) in frame.buffer[..fw * fh]
                .chunks_exact(fw)
                .zip(self.canvas.chunks_exact_mut(w * 4).skip(ft))
            {
                for (&i, d) in row.iter().zip(out[fl * 4..(fl + fw) * 4].chunks_exact_mut(4)) {
                    let i = i as usize;
                    if let Some(c) = palette.get(i * 3..i * 3 + 3).filter(|_| i != transparent) {
                        d.copy_from_slice(&[c[0], c[1], c[2], 255]);
                    }
                }
            }
        }
        let delay = frame.delay;
        self.read += 1;
        Ok(Some((&self.canvas, delay)))
    }

    /// Frames read so far.
    pub fn read(&self) -> u64 {
        self.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×1 GIF: a whole frame, then a frame of the middle two pixels, one transparent, and
    /// indices past its two-colour palette.
    fn gif() -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = gif::Encoder::new(&mut out, 4, 1, &[]).unwrap();
        let palette = vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120];
        let whole = gif::Frame {
            width: 4,
            height: 1,
            buffer: std::borrow::Cow::Owned(vec![0, 1, 2, 3]),
            palette: Some(palette),
            ..gif::Frame::default()
        };
        e.write_frame(&whole).unwrap();
        let part = gif::Frame {
            left: 1,
            width: 3,
            height: 1,
            transparent: Some(0),
            buffer: std::borrow::Cow::Owned(vec![0, 1, 3]),
            palette: Some(vec![0, 0, 0, 200, 201, 202]),
            ..gif::Frame::default()
        };
        e.write_frame(&part).unwrap();
        drop(e);
        out
    }

    #[test]
    fn frames_are_drawn_over_the_screen_leaving_transparent_and_unknown_indices() {
        let bytes = gif();
        let reader = Box::new(std::io::Cursor::new(bytes));
        let mut frames = GifFrames::from_reader(reader, Path::new("t.gif"), (4, 1)).unwrap();
        let (first, _) = frames.next_frame().unwrap().unwrap();
        assert_eq!(
            first,
            [
                10, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255, 100, 110, 120, 255
            ]
        );
        let (second, _) = frames.next_frame().unwrap().unwrap();
        // Pixel 1 transparent, pixel 2 drawn, pixel 3's index past the palette left as it was.
        assert_eq!(
            second,
            [
                10, 20, 30, 255, 40, 50, 60, 255, 200, 201, 202, 255, 100, 110, 120, 255
            ]
        );
        assert!(frames.next_frame().unwrap().is_none());
        assert_eq!(frames.read(), 2);
    }
}
