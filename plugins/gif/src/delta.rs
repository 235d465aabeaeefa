//! Frames stored as differences from what is already shown: only the rectangle around the pixels
//! drawn, the others inside it transparent (GIF disposal "keep" leaves what was shown), with a
//! palette of just the colours those pixels need.
//!
//! The pixels selected are those whose colour is not the one shown. For a frame of at most 256
//! colours all of them are drawn, so the frame stays exact. For a frame of more, quantised
//! anyway, one is drawn only where its new colour is closer to its own than the colour shown:
//! never worse than redrawing it, and still parts keep the colours they were drawn in. What is
//! shown depends on the frames since the last one written whole (the first, every key frame,
//! the one after a frame with transparent pixels, one that changes in half its pixels), so a
//! frame's bytes depend on those frames alone, which is what lets a trace be made in shards
//! that join byte for byte.

/// A colour as stored in `shown`: the pixel's bytes read little-endian with alpha set (a frame's
/// alpha is ignored), so that 0 never matches a colour and a whole row compares in vectors.
#[inline(always)]
fn key(p: &[u8]) -> u32 {
    u32::from_le_bytes([p[0], p[1], p[2], 255])
}

/// The squared distance between two colour keys.
#[inline(always)]
fn distance(a: u32, b: u32) -> u32 {
    let d = |s: u32| ((a >> s & 255) as i32 - (b >> s & 255) as i32).unsigned_abs();
    let (r, g, b) = (d(0), d(8), d(16));
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

    /// Records that a whole frame was written, as `indices` into `palette` (RGB).
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

    /// Selects the pixels of `frame` (opaque RGBA8, `width` pixels a row) whose colour is not
    /// the one shown. Returns how many there are and their bounding rectangle; `None` when there
    /// are none. What is shown must be [known](Delta::knows).
    pub fn select(&mut self, frame: &[u8], width: usize) -> Option<(usize, Rect)> {
        debug_assert!(self.knows(frame.len() / 4));
        let height = frame.len() / 4 / width;
        self.need.clear();
        self.need.resize(frame.len() / 4, false);
        let each = self.need.iter_mut().zip(frame.chunks_exact(4)).zip(&self.shown);
        marquee_plugin_api::simd::widest(
            #[inline(always)]
            || each.for_each(|((n, p), &s)| *n = key(p) != s),
        );
        let (mut x0, mut x1, mut y0, mut y1) = (width, 0, height, 0);
        let mut count = 0;
        for (y, need) in self.need.chunks_exact(width).enumerate() {
            if let Some(first) = need.iter().position(|&n| n) {
                count += need.iter().filter(|&&n| n).count();
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
        Some((count, self.rect))
    }

    /// Puts the colours of the pixels [selected](Delta::select) in [`Delta::pixels`], row by
    /// row, to be quantised and drawn with [`Delta::compose`].
    pub fn gather(&mut self, frame: &[u8], width: usize) {
        let r = self.rect;
        self.pixels.clear();
        for y in r.top..r.top + r.height {
            let span = y * width + r.left..y * width + r.left + r.width;
            let row = &frame[span.start * 4..span.end * 4];
            for (p, _) in row.chunks_exact(4).zip(&self.need[span]).filter(|(_, n)| **n) {
                self.pixels.extend_from_slice(p);
            }
        }
    }

    /// The difference frame, once the selected pixels were quantised to `indices` into
    /// `palette` (at most 255 colours), in [`Delta::indices`] and [`Delta::palette`]: the
    /// pixels drawn, the rest of their rectangle transparent. With `slack`, a selected pixel is
    /// drawn only if its new colour is closer to its own than the colour shown, by more than
    /// `slack` (squared distances); without, every one is. Returns the rectangle drawn and the
    /// transparent index; `None` when nothing is drawn. What is shown becomes the frame drawn.
    pub fn compose(
        &mut self,
        width: usize,
        indices: &[u8],
        palette: &[u8],
        slack: Option<u32>,
    ) -> Option<(Rect, u8)> {
        let colours = palette.len() / 3;
        debug_assert!(colours < 256);
        let transparent = colours as u8;
        let table = table(palette);
        self.palette.clear();
        self.palette.extend_from_slice(palette);
        self.palette.extend_from_slice(&[0; 3]);
        self.indices.clear();
        let r = self.rect;
        let mut next = indices.iter().zip(self.pixels.chunks_exact(4));
        // What is drawn, relative to the rectangle selected.
        let (mut x0, mut x1, mut y0, mut y1) = (r.width, 0, r.height, 0);
        for y in 0..r.height {
            let span = (r.top + y) * width + r.left..(r.top + y) * width + r.left + r.width;
            for (x, (&need, shown)) in self.need[span.clone()]
                .iter()
                .zip(&mut self.shown[span])
                .enumerate()
            {
                let mut out = transparent;
                if need {
                    let (&i, p) = next.next().expect("an index for every pixel selected");
                    let new = table[i as usize];
                    let better = match slack {
                        None => true,
                        Some(slack) => {
                            let own = key(p);
                            distance(*shown, own) > distance(new, own).saturating_add(slack)
                        }
                    };
                    if better {
                        out = i;
                        *shown = new;
                        (x0, x1, y0, y1) = (x0.min(x), x1.max(x + 1), y0.min(y), y + 1);
                    }
                }
                self.indices.push(out);
            }
        }
        if y0 >= y1 {
            return None;
        }
        // Only the rectangle drawn is written: its rows, moved up in place.
        let drawn = Rect {
            left: r.left + x0,
            top: r.top + y0,
            width: x1 - x0,
            height: y1 - y0,
        };
        if drawn != r {
            for (row, y) in (y0..y1).enumerate() {
                let from = y * r.width + x0;
                self.indices
                    .copy_within(from..from + drawn.width, row * drawn.width);
            }
            self.indices.truncate(drawn.width * drawn.height);
        }
        Some((drawn, transparent))
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
            .flat_map(|c| [*c as u8, (c >> 8) as u8, (c >> 16) as u8])
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
        let (count, r) = delta.select(&b, w).unwrap();
        assert_eq!(count, 2, "the two pixels that changed");
        delta.gather(&b, w);
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
        let (drawn, t) = delta.compose(w, &ib, &pb, None).unwrap();
        assert_eq!((drawn, t), (r, 2));
        assert_eq!(
            delta.palette.len(),
            3 * 3,
            "the two colours used, then the transparent one"
        );
        draw(&mut screen, w, &delta, r, Some(t));
        assert_eq!(screen, keys(&b));
        assert_eq!(delta.select(&b, w), None, "nothing changed");
        delta.forget();
        assert!(!delta.knows(w * h));
    }

    #[test]
    fn with_slack_a_pixel_is_redrawn_only_where_its_new_colour_is_closer() {
        // Shown: grey 100 everywhere. The frame: pixel 0 at 102, pixel 1 at 110, pixel 5 at 90;
        // the new palette has 104 and 90 only.
        let (w, h) = (4, 2);
        let mut b = vec![100u8; w * h * 4];
        b[0..3].fill(102);
        b[4..7].fill(110);
        b[20..23].fill(90);
        let mut delta = Delta::default();
        delta.shown_whole(&[0; 8], &[100, 100, 100]);
        let (_, r) = delta.select(&b, w).unwrap();
        delta.gather(&b, w);
        assert_eq!(
            (r.left, r.top, r.width, r.height, delta.pixels.len()),
            (0, 0, 2, 2, 12)
        );
        let (indices, palette) = ([0, 0, 1], [104, 104, 104, 90, 90, 90]);
        // Pixel 0: 104 is as far from 102 as 100 is, so it stays; pixel 1 (110): 104 is closer;
        // pixel 5 (90): exact. The rectangle drawn shrinks to pixels 1 and 5.
        let mut screen = vec![key(&[100, 100, 100]); w * h];
        let (drawn, t) = delta.compose(w, &indices, &palette, Some(0)).unwrap();
        assert_eq!(
            (drawn.left, drawn.top, drawn.width, drawn.height, t),
            (1, 0, 1, 2, 2)
        );
        assert_eq!(delta.indices, [0, 1]);
        draw(&mut screen, w, &delta, drawn, Some(t));
        let want: Vec<u32> = [100, 104, 100, 100, 100, 90, 100, 100]
            .iter()
            .map(|&v| key(&[v, v, v]))
            .collect();
        assert_eq!(screen, want);
        // With slack 300 nothing is worth redrawing (pixel 5 gains exactly 300).
        delta.shown_whole(&[0; 8], &[100, 100, 100]);
        delta.select(&b, w).unwrap();
        delta.gather(&b, w);
        assert_eq!(delta.compose(w, &indices, &palette, Some(300)), None);
    }

    #[test]
    fn with_all_256_colours_needed_the_rectangle_is_drawn_whole() {
        let (w, h) = (32, 16);
        let a = vec![0u8; w * h * 4];
        let b: Vec<u8> = (0..w * h).flat_map(|i| [(i % 256) as u8, 1, 2, 255]).collect();
        let mut delta = Delta::default();
        delta.shown_whole(&vec![0; w * h], &[0, 0, 0]);
        let mut screen = keys(&a);
        let (_, r) = delta.select(&b, w).unwrap();
        delta.select_all(&b, w);
        assert_eq!(delta.pixels.len(), r.width * r.height * 4);
        let (mut colours, pixels) = (keys(&delta.pixels), delta.pixels.clone());
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), 256);
        let palette: Vec<u8> = colours
            .iter()
            .flat_map(|c| [*c as u8, (c >> 8) as u8, (c >> 16) as u8])
            .collect();
        let indices: Vec<u8> = keys(&pixels)
            .iter()
            .map(|k| colours.binary_search(k).unwrap() as u8)
            .collect();
        delta.opaque(w, &indices, &palette);
        draw(&mut screen, w, &delta, r, None);
        assert_eq!(screen, keys(&b));
        assert_eq!(delta.select(&b, w), None, "what is shown is the frame");
    }
}
