//! Frames stored as differences from what is already shown: only the rectangle around the pixels
//! that need drawing, the others inside it transparent (GIF disposal "keep" leaves what was
//! shown), with a palette of just the colours those pixels need.
//!
//! A pixel needs drawing where the colour shown differs from the frame's by more than a
//! tolerance: none for a frame of at most 256 colours, which stays exact; a little for a frame of
//! more, which is quantised anyway. What is shown depends on the frames since the last one
//! written whole (the first, every key frame, and the one after a frame with transparent pixels),
//! so a frame's bytes depend on those frames alone, which is what lets a trace be made in shards
//! that join byte for byte.

/// A colour as stored in `shown`: `0xff000000 | rgb`, so that 0 never matches a colour.
fn key(p: &[u8]) -> u32 {
    0xff00_0000 | (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32
}

/// The squared distance between two colour keys.
fn distance(a: u32, b: u32) -> u32 {
    let d = |s: u32| ((a >> s & 255) as i32 - (b >> s & 255) as i32).unsigned_abs();
    let (r, g, b) = (d(16), d(8), d(0));
    r * r + g * g + b * b
}

/// The part of the screen a frame covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub left: usize,
    /// Top edge.
    pub top: usize,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
}

/// What the decoder shows, and the buffers a difference frame is built in (all reused).
#[derive(Default)]
pub struct Delta {
    /// The colour shown at each pixel after the last frame written; empty when nothing is
    /// known (before the first frame, after one with transparent pixels).
    shown: Vec<u32>,
    /// Per pixel of the last frame [selected](Delta::select): whether it needs drawing.
    need: Vec<bool>,
    /// The rectangle selected.
    rect: Rect,
    /// The pixels to quantise, RGBA8, row by row over the rectangle: those that need drawing,
    /// or all of them for [`Delta::opaque`].
    pub pixels: Vec<u8>,
    /// The frame's indices, row by row over the rectangle.
    pub indices: Vec<u8>,
    /// The frame's palette, RGB.
    pub palette: Vec<u8>,
}

impl Delta {
    /// Forgets what is shown: the next frame must be written whole.
    pub fn forget(&mut self) {
        self.shown.clear();
    }

    /// Whether what is shown is known for frames of `pixels` pixels.
    pub fn knows(&self, pixels: usize) -> bool {
        self.shown.len() == pixels && pixels > 0
    }

    /// Records that a whole frame of `indices` into `palette` (RGB) was written.
    pub fn shown_whole(&mut self, indices: &[u8], palette: &[u8]) {
        let table = table(palette);
        self.shown.clear();
        self.shown.extend(indices.iter().map(|&i| table[i as usize]));
    }

    /// A frame where nothing needs drawing: one transparent pixel (index 0), in
    /// [`Delta::indices`] and [`Delta::palette`], which keeps the frame and its delay.
    pub fn unchanged(&mut self) -> Rect {
        self.indices.clear();
        self.indices.push(0);
        self.palette.clear();
        self.palette.extend_from_slice(&[0; 6]);
        Rect {
            left: 0,
            top: 0,
            width: 1,
            height: 1,
        }
    }

    /// Selects the pixels of `frame` (opaque RGBA8, `width` pixels a row) that need drawing:
    /// those whose colour is further than `tolerance` (a squared distance) from the one shown.
    /// Returns their bounding rectangle, with their colours in [`Delta::pixels`]; `None` when
    /// none does. What is shown must be [known](Delta::knows).
    pub fn select(&mut self, frame: &[u8], width: usize, tolerance: u32) -> Option<Rect> {
        debug_assert!(self.knows(frame.len() / 4));
        let height = frame.len() / 4 / width;
        self.need.clear();
        let (mut x0, mut x1, mut y0, mut y1) = (width, 0, height, 0);
        for (y, (row, shown)) in frame
            .chunks_exact(width * 4)
            .zip(self.shown.chunks_exact(width))
            .enumerate()
        {
            let at = self.need.len();
            if tolerance == 0 {
                self.need
                    .extend(row.chunks_exact(4).zip(shown).map(|(p, &s)| key(p) != s));
            } else {
                self.need.extend(
                    row.chunks_exact(4)
                        .zip(shown)
                        .map(|(p, &s)| distance(key(p), s) > tolerance),
                );
            }
            let need = &self.need[at..];
            if let Some(first) = need.iter().position(|&n| n) {
                let last = need.iter().rposition(|&n| n).unwrap_or(first);
                (x0, x1) = (x0.min(first), x1.max(last + 1));
                (y0, y1) = (y0.min(y), y + 1);
            }
        }
        if y0 >= y1 {
            return None;
        }
        self.rect = Rect {
            left: x0,
            top: y0,
            width: x1 - x0,
            height: y1 - y0,
        };
        self.pixels.clear();
        for y in y0..y1 {
            let (row, need) = (
                &frame[(y * width + x0) * 4..(y * width + x1) * 4],
                &self.need[y * width + x0..y * width + x1],
            );
            for (p, _) in row.chunks_exact(4).zip(need).filter(|(_, n)| **n) {
                self.pixels.extend_from_slice(p);
            }
        }
        Some(self.rect)
    }

    /// The difference frame, once the selected pixels were quantised to `indices` into
    /// `palette` (at most 255 colours): those pixels drawn, the rest of the rectangle
    /// transparent, in [`Delta::indices`] and [`Delta::palette`]. Returns the transparent index.
    /// What is shown becomes the frame drawn.
    pub fn compose(&mut self, width: usize, indices: &[u8], palette: &[u8]) -> u8 {
        let colours = palette.len() / 3;
        debug_assert!(colours < 256);
        let transparent = colours as u8;
        let table = table(palette);
        self.palette.clear();
        self.palette.extend_from_slice(palette);
        self.palette.extend_from_slice(&[0; 3]);
        self.indices.clear();
        let r = self.rect;
        let mut next = indices.iter();
        for y in r.top..r.top + r.height {
            let span = y * width + r.left..y * width + r.left + r.width;
            for (&need, shown) in self.need[span.clone()].iter().zip(&mut self.shown[span]) {
                if need {
                    let i = *next.next().expect("an index for every pixel selected");
                    self.indices.push(i);
                    *shown = table[i as usize];
                } else {
                    self.indices.push(transparent);
                }
            }
        }
        transparent
    }

    /// Puts every pixel of the selected rectangle of `frame` in [`Delta::pixels`], to be
    /// quantised and drawn whole with [`Delta::opaque`] (when the pixels that need drawing use
    /// all 256 colours, leaving no index to be transparent).
    pub fn select_all(&mut self, frame: &[u8], width: usize) {
        let r = self.rect;
        self.pixels.clear();
        for y in r.top..r.top + r.height {
            self.pixels
                .extend_from_slice(&frame[(y * width + r.left) * 4..(y * width + r.left + r.width) * 4]);
        }
    }

    /// The rectangle drawn whole, once its pixels ([`Delta::select_all`]) were quantised to
    /// `indices` into `palette`. What is shown becomes the frame drawn.
    pub fn opaque(&mut self, width: usize, indices: &[u8], palette: &[u8]) {
        let table = table(palette);
        self.palette.clear();
        self.palette.extend_from_slice(palette);
        self.indices.clear();
        self.indices.extend_from_slice(indices);
        let r = self.rect;
        for (y, row) in (r.top..r.top + r.height).zip(indices.chunks_exact(r.width)) {
            let shown = &mut self.shown[y * width + r.left..y * width + r.left + r.width];
            for (s, &i) in shown.iter_mut().zip(row) {
                *s = table[i as usize];
            }
        }
    }
}

/// The palette as 256 colour keys (entries past its end never match a pixel).
fn table(palette: &[u8]) -> [u32; 256] {
    let mut table = [0u32; 256];
    for (t, rgb) in table.iter_mut().zip(palette.chunks_exact(3)) {
        *t = key(rgb);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws the frame in `delta` (its rectangle `r`, transparent index `t`) over `screen`.
    fn draw(screen: &mut [u32], width: usize, delta: &Delta, r: Rect, t: Option<u8>) {
        for y in 0..r.height {
            for x in 0..r.width {
                let i = delta.indices[y * r.width + x];
                if Some(i) != t {
                    screen[(r.top + y) * width + r.left + x] = key(&delta.palette[i as usize * 3..]);
                }
            }
        }
    }

    fn keys(rgba: &[u8]) -> Vec<u32> {
        rgba.chunks_exact(4).map(key).collect()
    }

    /// Quantises `pixels` exactly (they have at most 255 colours here).
    fn exact(pixels: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut colours: Vec<u32> = keys(pixels);
        colours.sort_unstable();
        colours.dedup();
        let palette = colours
            .iter()
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, *c as u8])
            .collect();
        let indices = keys(pixels)
            .iter()
            .map(|k| colours.binary_search(k).unwrap() as u8)
            .collect();
        (indices, palette)
    }

    #[test]
    fn drawn_over_what_was_shown_a_difference_shows_the_frame() {
        let (w, h) = (8, 4);
        let a: Vec<u8> = (0..w * h).flat_map(|i| [(i % 5) as u8 * 40, 7, 9, 255]).collect();
        let mut b = a.clone();
        b[(w + 2) * 4] = 250;
        b[(2 * w + 5) * 4 + 1] = 99;
        let mut delta = Delta::default();
        assert!(!delta.knows(w * h), "nothing is shown before the first frame");
        let (ia, pa) = exact(&a);
        delta.shown_whole(&ia, &pa);
        assert!(delta.knows(w * h));
        let mut screen = keys(&a);
        let r = delta.select(&b, w, 0).unwrap();
        assert_eq!(
            r,
            Rect {
                left: 2,
                top: 1,
                width: 4,
                height: 2
            }
        );
        assert_eq!(delta.pixels.len(), 2 * 4, "just the two pixels that changed");
        let (ib, pb) = exact(&delta.pixels.clone());
        let t = delta.compose(w, &ib, &pb);
        assert_eq!(t, 2);
        assert_eq!(
            delta.palette.len(),
            3 * 3,
            "the two colours used, then the transparent one"
        );
        draw(&mut screen, w, &delta, r, Some(t));
        assert_eq!(screen, keys(&b));
        assert_eq!(delta.select(&b, w, 0), None, "nothing changed");
        delta.forget();
        assert!(!delta.knows(w * h));
    }

    #[test]
    fn a_tolerance_leaves_near_colours_shown() {
        let (w, h) = (4, 2);
        let a = vec![100u8; w * h * 4];
        let mut b = a.clone();
        b[0] = 102; // distance 4
        b[4] = 110; // distance 100
        let mut delta = Delta::default();
        delta.shown_whole(&[0; 8], &[100, 100, 100]);
        let r = delta.select(&b, w, 8).unwrap();
        assert_eq!((r.left, r.width, delta.pixels.len()), (1, 1, 4));
        let r = delta.select(&b, w, 0).unwrap();
        assert_eq!((r.left, r.width, delta.pixels.len()), (0, 2, 8));
    }

    #[test]
    fn with_all_256_colours_needed_the_rectangle_is_drawn_whole() {
        let (w, h) = (32, 16);
        let a = vec![0u8; w * h * 4];
        let b: Vec<u8> = (0..w * h).flat_map(|i| [(i % 256) as u8, 1, 2, 255]).collect();
        let mut delta = Delta::default();
        delta.shown_whole(&vec![0; w * h], &[0, 0, 0]);
        let mut screen = keys(&a);
        let r = delta.select(&b, w, 0).unwrap();
        delta.select_all(&b, w);
        assert_eq!(delta.pixels.len(), r.width * r.height * 4);
        let (mut colours, pixels) = (keys(&delta.pixels), delta.pixels.clone());
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), 256);
        let palette: Vec<u8> = colours
            .iter()
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, *c as u8])
            .collect();
        let indices: Vec<u8> = keys(&pixels)
            .iter()
            .map(|k| colours.binary_search(k).unwrap() as u8)
            .collect();
        delta.opaque(w, &indices, &palette);
        draw(&mut screen, w, &delta, r, None);
        assert_eq!(screen, keys(&b));
        assert_eq!(delta.select(&b, w, 0), None, "what is shown is the frame");
    }
}
