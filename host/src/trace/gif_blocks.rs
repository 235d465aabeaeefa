//! A GIF cut at its frame boundaries without decoding a pixel: the header (signature, screen
//! descriptor, global colour table, the extensions before the first frame such as the loop
//! count), then each frame's bytes (its extensions and its image), then the trailer. Merging
//! trace shards copies frames this way, so the merged file is the shards' bytes in order.
//!
//! The input is data: every length is read from the file and followed only as far as the file
//! goes; a header is at most [`MAX_HEADER`] bytes; anything that is not a GIF block, or bytes
//! after the trailer, is refused.

use std::io::{self, BufRead, Read, Write};

/// The most bytes of header read (a global colour table is at most 768).
pub const MAX_HEADER: usize = 1 << 16;

const EXTENSION: u8 = 0x21;
const GRAPHIC_CONTROL: u8 = 0xF9;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn byte(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8];
    r.read_exact(&mut b).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            invalid("the GIF ends in the middle of a block".into())
        } else {
            e
        }
    })?;
    Ok(b[0])
}

fn copy_exact(r: &mut impl Read, out: &mut impl Write, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), out)?;
    if copied != n {
        return Err(invalid("the GIF ends in the middle of a block".into()));
    }
    Ok(())
}

/// Copies data sub-blocks up to and including their zero-length terminator.
fn copy_sub_blocks(r: &mut impl Read, out: &mut impl Write) -> io::Result<()> {
    loop {
        let len = byte(r)?;
        out.write_all(&[len])?;
        if len == 0 {
            return Ok(());
        }
        copy_exact(r, out, len as u64)?;
    }
}

/// A GIF being read frame by frame.
pub struct GifBlocks<R> {
    reader: R,
    /// The first byte of the next block, already read.
    next: u8,
    /// A graphic-control extension's label read with it (the frame's first block).
    next_label: Option<u8>,
    frames: u64,
    /// The logical screen's width and height.
    screen: (u16, u16),
    /// Whether the last frame copied covers the whole screen with no transparent colour.
    whole: bool,
}

impl<R: BufRead> GifBlocks<R> {
    /// Reads the header of the GIF `reader` gives; returns it with the reader, at the first frame.
    pub fn open(mut reader: R) -> io::Result<(GifBlocks<R>, Vec<u8>)> {
        let mut header = vec![0u8; 13];
        reader
            .read_exact(&mut header)
            .map_err(|_| invalid("not a GIF: too short".into()))?;
        if &header[..6] != b"GIF89a" && &header[..6] != b"GIF87a" {
            return Err(invalid("not a GIF: no GIF87a/GIF89a signature".into()));
        }
        let flags = header[10];
        if flags & 0x80 != 0 {
            let table = 3u64 << ((flags & 7) + 1);
            copy_exact(&mut reader, &mut header, table)?;
        }
        loop {
            let b = byte(&mut reader)?;
            let screen = (
                u16::from_le_bytes([header[6], header[7]]),
                u16::from_le_bytes([header[8], header[9]]),
            );
            if b != EXTENSION {
                return Ok((GifBlocks::at(reader, b, None, screen), header));
            }
            let label = byte(&mut reader)?;
            if label == GRAPHIC_CONTROL {
                return Ok((GifBlocks::at(reader, b, Some(label), screen), header));
            }
            header.extend_from_slice(&[b, label]);
            copy_sub_blocks(&mut reader, &mut header)?;
            if header.len() > MAX_HEADER {
                return Err(invalid(format!("the GIF's header runs past {MAX_HEADER} bytes")));
            }
        }
    }

    fn at(reader: R, next: u8, next_label: Option<u8>, screen: (u16, u16)) -> GifBlocks<R> {
        GifBlocks {
            reader,
            next,
            next_label,
            frames: 0,
            screen,
            whole: false,
        }
    }

    /// Copies the next frame (its extensions and image) to `out`; `false` at the trailer, after
    /// which the file must end.
    pub fn copy_frame(&mut self, out: &mut impl Write) -> io::Result<bool> {
        let r = &mut self.reader;
        let mut started = false;
        let mut transparent = false;
        loop {
            match self.next {
                EXTENSION => {
                    let label = match self.next_label.take() {
                        Some(l) => l,
                        None => byte(r)?,
                    };
                    out.write_all(&[EXTENSION, label])?;
                    if label == GRAPHIC_CONTROL {
                        // Its first sub-block's first byte holds the transparency flag (bit 0).
                        let len = byte(r)?;
                        out.write_all(&[len])?;
                        if len > 0 {
                            let mut block = [0u8; 255];
                            r.read_exact(&mut block[..len as usize])
                                .map_err(|_| invalid("the GIF ends in a graphic control block".into()))?;
                            out.write_all(&block[..len as usize])?;
                            transparent |= block[0] & 1 != 0;
                            copy_sub_blocks(r, out)?;
                        }
                    } else {
                        copy_sub_blocks(r, out)?;
                    }
                    started = true;
                }
                IMAGE => {
                    let mut descriptor = [0u8; 10];
                    descriptor[0] = IMAGE;
                    r.read_exact(&mut descriptor[1..])
                        .map_err(|_| invalid("the GIF ends in an image descriptor".into()))?;
                    out.write_all(&descriptor)?;
                    let at = |i: usize| u16::from_le_bytes([descriptor[i], descriptor[i + 1]]);
                    self.whole = !transparent && (at(1), at(3)) == (0, 0) && (at(5), at(7)) == self.screen;
                    let flags = descriptor[9];
                    if flags & 0x80 != 0 {
                        copy_exact(r, out, 3u64 << ((flags & 7) + 1))?;
                    }
                    let min_code = byte(r)?;
                    out.write_all(&[min_code])?;
                    copy_sub_blocks(r, out)?;
                    self.next = byte(r)?;
                    self.frames += 1;
                    return Ok(true);
                }
                TRAILER if !started => {
                    let mut rest = [0u8; 1];
                    if r.read(&mut rest)? != 0 {
                        return Err(invalid("bytes after the GIF's trailer".into()));
                    }
                    return Ok(false);
                }
                TRAILER => {
                    return Err(invalid(
                        "the GIF ends between a frame's extensions and its image".into(),
                    ));
                }
                other => {
                    return Err(invalid(format!(
                        "byte 0x{other:02x} where a GIF block should start (after frame {})",
                        self.frames
                    )));
                }
            }
            self.next = byte(r)?;
        }
    }

    /// Frames copied so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether the last frame copied stands alone: it covers the whole screen and has no
    /// transparent colour, so decoding from it needs no frame before it.
    pub fn last_stands_alone(&self) -> bool {
        self.whole
    }

    /// The reader, where reading stopped.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// A GIF of `header` and the frames not yet copied: what a decoder reads to start at this
    /// frame (exact when the frame before the next [stood alone](Self::last_stands_alone)).
    pub fn into_gif_from_here(self, header: Vec<u8>) -> impl Read {
        let mut pending = vec![self.next];
        pending.extend(self.next_label);
        io::Cursor::new(header)
            .chain(io::Cursor::new(pending))
            .chain(self.reader)
    }
}

/// The byte that ends every GIF.
pub const TRAILER_BYTE: u8 = TRAILER;

#[cfg(test)]
mod tests {
    use super::*;

    fn gif(frames: &[[u8; 4]], repeat: bool) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = gif::Encoder::new(&mut out, 2, 1, &[]).unwrap();
            if repeat {
                e.set_repeat(gif::Repeat::Infinite).unwrap();
            }
            for (i, f) in frames.iter().enumerate() {
                let mut rgba = [f[0], f[1], f[2], 255, f[3], f[2], f[1], 255];
                let mut frame = gif::Frame::from_rgba(2, 1, &mut rgba);
                frame.delay = i as u16 + 3;
                e.write_frame(&frame).unwrap();
            }
        }
        out
    }

    fn cut(bytes: &[u8]) -> io::Result<(Vec<u8>, Vec<Vec<u8>>)> {
        let (mut blocks, header) = GifBlocks::open(bytes)?;
        let mut frames = Vec::new();
        loop {
            let mut f = Vec::new();
            if !blocks.copy_frame(&mut f)? {
                break;
            }
            frames.push(f);
        }
        assert_eq!(blocks.frames(), frames.len() as u64);
        Ok((header, frames))
    }

    #[test]
    fn header_frames_and_trailer_make_the_file_again() {
        let colours = [[1, 2, 3, 4], [9, 8, 7, 6], [200, 100, 50, 25]];
        for repeat in [false, true] {
            let whole = gif(&colours, repeat);
            let (header, frames) = cut(&whole).unwrap();
            assert_eq!(frames.len(), 3);
            let mut again = header.clone();
            frames.iter().for_each(|f| again.extend_from_slice(f));
            again.push(TRAILER_BYTE);
            assert_eq!(again, whole);
            // Frames of two files joined under one header are the file of all their frames.
            let (_, first) = cut(&gif(&colours[..1], repeat)).unwrap();
            assert_eq!(first[0], frames[0]);
        }
    }

    #[test]
    fn a_gif_starts_again_at_any_frame_that_stands_alone() {
        let colours = [[1, 2, 3, 4], [9, 8, 7, 6], [200, 100, 50, 25]];
        let whole = gif(&colours, true);
        let (mut blocks, header) = GifBlocks::open(&whole[..]).unwrap();
        blocks.copy_frame(&mut io::sink()).unwrap();
        assert!(blocks.last_stands_alone(), "an opaque frame of the whole screen");
        let mut rest = Vec::new();
        blocks
            .into_gif_from_here(header.clone())
            .read_to_end(&mut rest)
            .unwrap();
        let (h, frames) = cut(&rest).unwrap();
        let (_, all) = cut(&whole).unwrap();
        assert_eq!((h, &frames[..]), (header, &all[1..]));
        // A frame with a transparent colour does not stand alone.
        let mut out = Vec::new();
        {
            let mut e = gif::Encoder::new(&mut out, 2, 1, &[]).unwrap();
            let mut rgba = [1, 2, 3, 0, 4, 5, 6, 255];
            e.write_frame(&gif::Frame::from_rgba(2, 1, &mut rgba)).unwrap();
        }
        let (mut blocks, _) = GifBlocks::open(&out[..]).unwrap();
        blocks.copy_frame(&mut io::sink()).unwrap();
        assert!(!blocks.last_stands_alone());
    }

    #[test]
    fn damaged_files_are_refused() {
        let whole = gif(&[[1, 2, 3, 4], [5, 6, 7, 8]], true);
        for n in [0, 5, 13, 20, whole.len() - 1] {
            assert!(cut(&whole[..n]).is_err(), "truncated at {n}");
        }
        let mut extra = whole.clone();
        extra.push(0);
        assert!(cut(&extra).is_err(), "bytes after the trailer");
        let mut garbage = whole.clone();
        let at = whole.len() - 1;
        garbage[at] = 0x99;
        assert!(cut(&garbage).is_err(), "no trailer");
        assert!(cut(b"PNG89a-------").is_err());
    }
}
