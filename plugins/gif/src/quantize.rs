//! Palettes and indices for one opaque frame (or any list of pixels): an exact palette up to the
//! most colours allowed, else a median cut (of the exact colours up to 4,096 of them, of a 15-bit
//! histogram beyond) or NeuQuant. Every table is reused from frame to frame.

use crate::Quant;

/// Slots of the colour table: a power of two comfortably above 256 colours.
const SLOTS: usize = 1024;
/// Entries of the NeuQuant memo.
const MEMO: usize = 4096;

/// Per-frame palette and indices, with the tables that find them, all reused.
pub struct Quantizer {
    /// Open-addressing set of `0xff000000 | rgb` keys (0: empty), and each key's palette index.
    keys: Vec<u32>,
    slots: Vec<u8>,
    colors: Vec<u32>,
    /// Direct-mapped memo of NeuQuant lookups: `(0xff000000 | rgb, index)`.
    memo: Vec<(u32, u8)>,
    /// The last pixels' palette indices.
    pub indices: Vec<u8>,
    /// The last pixels' palette, RGB.
    pub palette: Vec<u8>,
    /// Median cut: per 15-bit bin, pixel count and channel sums; the occupied bins; each bin's box.
    counts: Vec<u32>,
    sums: Vec<[u32; 3]>,
    bins: Vec<u16>,
    lut: Vec<u8>,
    /// Exact median cut: colour keys (0: empty), their pixel counts and palette indices, and
    /// the distinct colours with their counts.
    ekeys: Vec<u32>,
    ecounts: Vec<u32>,
    eindex: Vec<u8>,
    entries: Vec<(u32, u32)>,
}

/// Slots of the exact-colour table of the median cut (half full at most).
const EXACT_SLOTS: usize = 1 << 13;
/// Distinct colours the median cut works on exactly; beyond, it works on 15-bit bins.
const EXACT_MAX: usize = EXACT_SLOTS / 2;

/// Bins of the median cut histogram: 5 bits per channel.
const BINS: usize = 1 << 15;

fn bin_of(p: &[u8]) -> usize {
    ((p[0] as usize >> 3) << 10) | ((p[1] as usize >> 3) << 5) | (p[2] as usize >> 3)
}

/// The index of the palette colour (three arrays of 256) nearest to `rgb`, the first of equals.
#[inline(always)]
fn nearest(pal: &[[i32; 256]; 3], rgb: [i32; 3]) -> u8 {
    let mut d = [0i32; 256];
    for (i, d) in d.iter_mut().enumerate() {
        let (dr, dg, db) = (pal[0][i] - rgb[0], pal[1][i] - rgb[1], pal[2][i] - rgb[2]);
        *d = dr * dr + dg * dg + db * db;
    }
    let min = d.iter().copied().min().unwrap_or(0);
    d.iter().position(|&x| x == min).unwrap_or(0) as u8
}

/// A median-cut box's widest channel and its score, `count` (its pixels) × (that channel's
/// range)², 0 for a box of one item, which cannot be split: the box that most needs splitting
/// goes first. `channel(item, c)` is an item's value in channel `c` (0 to 2).
fn score<T>(items: &[T], count: u64, channel: impl Fn(&T, usize) -> u32) -> (usize, u64) {
    let (c, range) = (0..3)
        .map(|c| {
            let (lo, hi) = items.iter().fold((u32::MAX, 0), |(lo, hi), e| {
                (lo.min(channel(e, c)), hi.max(channel(e, c)))
            });
            (c, hi.saturating_sub(lo) as u64)
        })
        .max_by_key(|&(_, r)| r)
        .unwrap_or((0, 0));
    (c, if items.len() > 1 { count * range * range } else { 0 })
}

fn slot_of(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> 16) as usize & mask
}

impl Quantizer {
    /// Empty tables.
    pub fn new() -> Self {
        Quantizer {
            keys: vec![0; SLOTS],
            slots: vec![0; SLOTS],
            colors: Vec::with_capacity(257),
            memo: vec![(0, 0); MEMO],
            indices: Vec::new(),
            palette: Vec::with_capacity(768),
            counts: vec![0; BINS],
            sums: vec![[0; 3]; BINS],
            bins: Vec::new(),
            lut: vec![0; BINS],
            ekeys: vec![0; EXACT_SLOTS],
            ecounts: vec![0; EXACT_SLOTS],
            eindex: vec![0; EXACT_SLOTS],
            entries: Vec::with_capacity(EXACT_MAX),
        }
    }

    /// The slot of colour key `k` in the exact table: its own, or the empty one it would take.
    fn eslot(&self, k: u32) -> usize {
        let mask = EXACT_SLOTS - 1;
        let mut i = slot_of(k, mask);
        while self.ekeys[i] != 0 && self.ekeys[i] != k {
            i = (i + 1) & mask;
        }
        i
    }

    /// Median cut on the frame's exact colours (up to [`EXACT_MAX`] of them; returns false
    /// beyond, having filled the 15-bit histogram for [`Quantizer::median_cut`]): boxes split at
    /// the count-weighted median of their widest channel, the box with
    /// the largest count × width² first; each colour then maps to the nearest palette colour.
    fn exact_cut(&mut self, rgba: &[u8], max: usize) -> bool {
        let key = |p: &[u8]| 0xff00_0000 | (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
        self.ekeys.fill(0);
        self.entries.clear();
        // The 15-bit histogram is filled in the same pass, for when there are too many colours.
        self.counts.fill(0);
        self.sums.fill([0; 3]);
        let (mut last, mut run) = (0u32, 0u32);
        let mut exact = true;
        let flush = |q: &mut Self, k: u32, run: u32, exact: &mut bool| {
            if run == 0 {
                return;
            }
            let b = ((k >> 9) & 0x7c00 | (k >> 6) & 0x3e0 | (k >> 3) & 0x1f) as usize;
            q.counts[b] += run;
            let s = &mut q.sums[b];
            s[0] += (k >> 16 & 255) * run;
            s[1] += (k >> 8 & 255) * run;
            s[2] += (k & 255) * run;
            if !*exact {
                return;
            }
            let i = q.eslot(k);
            if q.ekeys[i] == 0 {
                if q.entries.len() == EXACT_MAX {
                    *exact = false;
                    return;
                }
                q.ekeys[i] = k;
                q.ecounts[i] = 0;
                q.entries.push((k, 0));
            }
            q.ecounts[i] += run;
        };
        for p in rgba.chunks_exact(4) {
            let k = key(p);
            if k == last {
                run += 1;
                continue;
            }
            flush(self, last, run, &mut exact);
            (last, run) = (k, 1);
        }
        flush(self, last, run, &mut exact);
        if !exact {
            return false;
        }
        for e in self.entries.iter_mut() {
            let i = {
                let mask = EXACT_SLOTS - 1;
                let mut i = slot_of(e.0, mask);
                while self.ekeys[i] != e.0 {
                    i = (i + 1) & mask;
                }
                i
            };
            e.1 = self.ecounts[i];
        }
        let ch = |k: u32, c: usize| (k >> (16 - 8 * c)) & 255;
        let entries = &mut self.entries;
        let total: u64 = entries.iter().map(|e| e.1 as u64).sum();
        let score = |slice: &[(u32, u32)], count: u64| score(slice, count, |e, c| ch(e.0, c));
        let first = score(entries, total);
        // Boxes as ranges of `entries`: (start, end, pixels, widest channel, score).
        let mut boxes: Vec<(usize, usize, u64, usize, u64)> =
            vec![(0, entries.len(), total, first.0, first.1)];
        while boxes.len() < max {
            let Some(k) = (0..boxes.len())
                .filter(|&k| boxes[k].4 > 0)
                .max_by_key(|&k| boxes[k].4)
            else {
                break;
            };
            let (lo, hi, count, c, _) = boxes[k];
            let slice = &mut entries[lo..hi];
            slice.sort_unstable_by_key(|e| ch(e.0, c));
            let mut acc = 0u64;
            let mut cut = slice.len() / 2;
            for (i, e) in slice.iter().enumerate() {
                acc += e.1 as u64;
                if acc * 2 >= count {
                    cut = (i + 1).clamp(1, slice.len() - 1);
                    break;
                }
            }
            let left: u64 = slice[..cut].iter().map(|e| e.1 as u64).sum();
            let (a, b) = (score(&slice[..cut], left), score(&slice[cut..], count - left));
            boxes[k] = (lo, lo + cut, left, a.0, a.1);
            boxes.push((lo + cut, hi, count - left, b.0, b.1));
        }
        // Palette: each box's count-weighted mean, kept as three arrays for the nearest search.
        let mut pal = [[0i32; 256]; 3];
        for (n, &(lo, hi, count, _, _)) in boxes.iter().enumerate() {
            let mut sum = [0u64; 3];
            for e in &entries[lo..hi] {
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += ch(e.0, c) as u64 * e.1 as u64;
                }
            }
            for c in 0..3 {
                pal[c][n] = ((sum[c] + count.max(1) / 2) / count.max(1)) as i32;
            }
        }
        let n = boxes.len();
        self.palette.clear();
        let [reds, greens, blues] = &pal;
        for ((&r, &g), &b) in reds.iter().zip(greens).zip(blues).take(n) {
            self.palette.extend([r as u8, g as u8, b as u8]);
        }
        // Each colour to its nearest palette colour: distances to all 256 entries in one
        // vectorisable loop (unused entries sit far away), then the first smallest.
        for c in &mut pal {
            c[n..].fill(4096);
        }
        for e in entries.iter() {
            let rgb = [ch(e.0, 0) as i32, ch(e.0, 1) as i32, ch(e.0, 2) as i32];
            let best = marquee_plugin_api::simd::widest(|| nearest(&pal, rgb));
            let mask = EXACT_SLOTS - 1;
            let mut i = slot_of(e.0, mask);
            while self.ekeys[i] != e.0 {
                i = (i + 1) & mask;
            }
            self.eindex[i] = best;
        }
        self.indices.clear();
        let (mut last, mut idx) = (0u32, 0u8);
        for p in rgba.chunks_exact(4) {
            let k = key(p);
            if k != last {
                last = k;
                idx = self.eindex[self.eslot(k)];
            }
            self.indices.push(idx);
        }
        true
    }

    /// Median cut: boxes of occupied bins split at the count-weighted median of their widest
    /// channel, the box with the largest pixels × (its widest range)² first (as the exact cut
    /// does; by pixels alone, a panned photograph lost 1.2 dB), up to `max`; each bin maps to its box,
    /// whose colour is the mean of its pixels.
    /// (The histogram is filled by [`Quantizer::exact_cut`].)
    fn median_cut(&mut self, rgba: &[u8], max: usize) {
        self.bins.clear();
        self.bins
            .extend((0..BINS as u16).filter(|&b| self.counts[b as usize] > 0));
        let channel = |b: u16, c: usize| (b >> (10 - 5 * c)) & 31;
        let counts = &self.counts;
        let score = |slice: &[u16], count: u64| score(slice, count, |&b, c| channel(b, c) as u32);
        let total = rgba.len() as u64 / 4;
        let first = score(&self.bins, total);
        // Boxes as ranges of `bins`: (start, end, pixels, widest channel, score).
        let mut boxes: Vec<(usize, usize, u64, usize, u64)> =
            vec![(0, self.bins.len(), total, first.0, first.1)];
        while boxes.len() < max {
            let Some(k) = (0..boxes.len())
                .filter(|&k| boxes[k].4 > 0)
                .max_by_key(|&k| boxes[k].4)
            else {
                break;
            };
            let (lo, hi, total, widest, _) = boxes[k];
            let slice = &mut self.bins[lo..hi];
            slice.sort_unstable_by_key(|&b| channel(b, widest));
            let mut acc = 0u64;
            let mut cut = 1;
            for (i, &b) in slice.iter().enumerate() {
                acc += counts[b as usize] as u64;
                if acc * 2 >= total {
                    cut = (i + 1).clamp(1, slice.len() - 1);
                    break;
                }
            }
            let left: u64 = slice[..cut].iter().map(|&b| counts[b as usize] as u64).sum();
            let (a, b) = (score(&slice[..cut], left), score(&slice[cut..], total - left));
            boxes[k] = (lo, lo + cut, left, a.0, a.1);
            boxes.push((lo + cut, hi, total - left, b.0, b.1));
        }
        self.palette.clear();
        for (n, &(lo, hi, ..)) in boxes.iter().enumerate() {
            let (mut sum, mut count) = ([0u64; 3], 0u64);
            for &b in &self.bins[lo..hi] {
                let s = self.sums[b as usize];
                for c in 0..3 {
                    sum[c] += s[c] as u64;
                }
                count += self.counts[b as usize] as u64;
                self.lut[b as usize] = n as u8;
            }
            let count = count.max(1);
            self.palette.extend(sum.map(|v| ((v + count / 2) / count) as u8));
        }
        let lut = &self.lut;
        self.indices.clear();
        self.indices.extend(rgba.chunks_exact(4).map(|p| lut[bin_of(p)]));
    }

    /// Counts the colours of `rgba` (opaque RGBA8 pixels) into the exact table; true if there
    /// are at most `max`, false as soon as there are more.
    pub fn count_colours(&mut self, rgba: &[u8], max: usize) -> bool {
        let key = |p: &[u8]| 0xff00_0000 | (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
        self.keys.fill(0);
        self.colors.clear();
        let mask = SLOTS - 1;
        let mut last = 0;
        for p in rgba.chunks_exact(4) {
            let k = key(p);
            if k == last {
                continue;
            }
            last = k;
            let mut i = slot_of(k, mask);
            while self.keys[i] != 0 && self.keys[i] != k {
                i = (i + 1) & mask;
            }
            if self.keys[i] == 0 {
                if self.colors.len() == max {
                    return false;
                }
                self.keys[i] = k;
                self.colors.push(k);
            }
        }
        true
    }

    /// Fills `indices` and `palette` (at most `max` colours, 1 to 256) for opaque RGBA8 pixels;
    /// true when the palette is exact.
    pub fn quantize(&mut self, rgba: &[u8], speed: i32, method: Quant, max: usize) -> bool {
        let key = |p: &[u8]| 0xff00_0000 | (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
        let mask = SLOTS - 1;
        let exact = self.count_colours(rgba, max);
        self.indices.clear();
        self.palette.clear();
        if exact {
            // Sorted by (r, g, b), as the gif crate orders an exact palette.
            self.colors.sort_unstable();
            for (n, &c) in self.colors.iter().enumerate() {
                self.palette
                    .extend_from_slice(&[(c >> 16) as u8, (c >> 8) as u8, c as u8]);
                let mut i = slot_of(c, mask);
                while self.keys[i] != c {
                    i = (i + 1) & mask;
                }
                self.slots[i] = n as u8;
            }
            let (keys, slots) = (&self.keys, &self.slots);
            self.indices.extend(rgba.chunks_exact(4).map(|p| {
                let k = key(p);
                let mut i = slot_of(k, mask);
                while keys[i] != k {
                    i = (i + 1) & mask;
                }
                slots[i]
            }));
        } else if method == Quant::MedianCut {
            if !self.exact_cut(rgba, max) {
                self.median_cut(rgba, max);
            }
        } else {
            let nq = color_quant::NeuQuant::new(speed, max, rgba);
            self.palette.extend_from_slice(&nq.color_map_rgb());
            self.memo.fill((0, 0));
            let memo = &mut self.memo;
            self.indices.extend(rgba.chunks_exact(4).map(|p| {
                let k = key(p);
                let m = &mut memo[slot_of(k, MEMO - 1)];
                if m.0 != k {
                    *m = (k, nq.index_of(p) as u8);
                }
                m.1
            }));
        }
        exact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w × h` opaque frame: a smooth two-axis gradient with thousands of colours, or, with
    /// `few`, the same folded onto 200 colours.
    fn frame(w: usize, h: usize, few: bool) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let (r, g, b) = (
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x + y) * 127 / (w + h)) as u8,
                );
                if few {
                    [r / 52 * 52, g / 26 * 26, b / 64 * 64, 255]
                } else {
                    [r, g, b, 255]
                }
            })
            .collect()
    }

    fn decode(q: &Quantizer) -> Vec<u8> {
        q.indices
            .iter()
            .flat_map(|&i| {
                let c = &q.palette[i as usize * 3..i as usize * 3 + 3];
                [c[0], c[1], c[2], 255]
            })
            .collect()
    }

    #[test]
    fn exact_and_neuquant_palettes_match_the_gif_crate() {
        for few in [true, false] {
            let rgba = frame(64, 48, few);
            let mut q = Quantizer::new();
            q.quantize(&rgba, 10, Quant::Neuquant, 256);
            let theirs = gif::Frame::from_rgba_speed(64, 48, &mut rgba.clone(), 10);
            assert_eq!(q.palette, theirs.palette.clone().unwrap(), "few colours: {few}");
            assert_eq!(&q.indices[..], &theirs.buffer[..], "few colours: {few}");
            if few {
                assert_eq!(decode(&q), rgba, "under 256 colours the palette is exact");
            }
        }
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum::<f64>()
            / (a.len() as f64 * 3.0 / 4.0);
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }

    #[test]
    fn median_cut_is_at_least_as_close_as_neuquant_on_many_colours() {
        let rgba = frame(128, 96, false);
        let mut q = Quantizer::new();
        q.quantize(&rgba, 10, Quant::MedianCut, 256);
        assert!(
            q.palette.len() <= 768 && q.palette.len() > 600,
            "{}",
            q.palette.len()
        );
        assert!(q.indices.iter().all(|&i| (i as usize) * 3 < q.palette.len()));
        let cut = psnr(&decode(&q), &rgba);
        q.quantize(&rgba, 10, Quant::Neuquant, 256);
        let neuquant = psnr(&decode(&q), &rgba);
        assert!(
            cut > 33.0 && cut >= neuquant,
            "median cut {cut:.1} dB, NeuQuant {neuquant:.1} dB"
        );
    }

    #[test]
    fn a_few_thousand_colours_are_cut_exactly_and_mapped_to_the_nearest() {
        // 64×48 of the gradient: about 3,000 colours, under the exact cut's limit.
        let rgba = frame(64, 48, false);
        let mut q = Quantizer::new();
        q.quantize(&rgba, 10, Quant::MedianCut, 256);
        assert!(
            q.entries.len() > 256 && q.entries.len() <= EXACT_MAX,
            "{}",
            q.entries.len()
        );
        let cut = psnr(&decode(&q), &rgba);
        // Every pixel got the nearest palette colour.
        let pal: [[i32; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|i| q.palette.get(i * 3 + c).map_or(4096, |&v| v as i32))
        });
        for (p, &i) in rgba.chunks(4).zip(&q.indices) {
            assert_eq!(nearest(&pal, [p[0] as i32, p[1] as i32, p[2] as i32]), i);
        }
        q.quantize(&rgba, 10, Quant::Neuquant, 256);
        let neuquant = psnr(&decode(&q), &rgba);
        assert!(
            cut > 34.0 && cut > neuquant,
            "exact cut {cut:.1} dB, NeuQuant {neuquant:.1} dB"
        );
    }
}
