//! `blur`: box or gaussian blur of the frame, separable (a horizontal then a vertical pass), with
//! edges clamped, compiled for AVX2 where the CPU has it (`simd::widest`). Both passes run in
//! one sweep down the frame: each source row is blurred along itself into a small ring of rows
//! that stays in cache, and each output row is made from the ring's rows around it, so the
//! frame is read and written once. Gaussian (integer weights summing to 2¹⁶), 32 bytes (8
//! pixels) at a time with the sums in registers: each row padded by `radius` copies of its edge
//! pixels, then the weighted taps added; the vertical pass the same across rows. Box: window
//! sums, so the cost does not grow with the radius: across rows, running sums in 16-bit lanes,
//! one row added and one taken away per output row; along rows, prefix sums of each row with a
//! pixel's four channels in one `u64`, a window the difference of two. Means divide by a
//! multiply-high and a shift. The results are byte for byte those of the tap-by-tap definition
//! (a test holds them to it). All scratch space is allocated once.

use marquee_plugin_api::{
    DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin, declare_plugin,
    fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "blur",
    version: env!("CARGO_PKG_VERSION"),
    description: "box and gaussian blur",
    renderer: None,
    processor: Some(Factory {
        doc: "Blurs the frame by `radius` pixels; `kind = \"gaussian\"` weights by a bell curve of sigma radius/2, `box` evenly.",
        fields: fields_of::<Config>,
        new: new_processor,
    }),
    recorder: None,
};

/// The blur's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Bell-shaped weights.
    Gaussian,
    /// Equal weights.
    Box,
}

/// Config of a `blur` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The weights: a bell curve (sigma radius/2) or even.
    #[default(Kind::Gaussian)]
    pub kind: Kind,
    /// Pixels on each side; 0 leaves the frame.
    #[default(2)]
    #[schemars(range(min = 0, max = 64))]
    pub radius: i64,
}

/// Bytes worked on at once: 8 RGBA pixels, 32 lanes of a vector loop (4 AVX2 registers of
/// 32-bit sums).
const LANES: usize = 32;

/// A box window's mean, `⌊(sum + ⌊taps / 2⌋) / taps⌋`, for sums up to 255 × 129 in 16-bit
/// lanes: the high half of a 16-bit product and a shift (Granlund and Montgomery's division
/// by an invariant: with `ℓ = ⌈log₂ taps⌉` and `m = ⌈2^(15 + ℓ) / taps⌉`, which fits 16 bits,
/// `⌊x·m / 2^(15 + ℓ)⌋ = ⌊x / taps⌋` for every `x < 2¹⁵`; a test checks them all).
#[derive(Debug, Clone, Copy)]
struct Mean {
    half: u16,
    magic: u16,
    shift: u32,
}

impl Mean {
    /// The mean of `taps` (3 to 129) values.
    fn new(taps: usize) -> Mean {
        let l = usize::BITS - (taps - 1).leading_zeros();
        let magic = (1u64 << (15 + l)).div_ceil(taps as u64) as u16;
        Mean {
            half: (taps / 2) as u16,
            magic,
            shift: l - 1,
        }
    }

    #[inline(always)]
    fn of(self, sum: u16) -> u8 {
        // Both factors 16 bits wide: a multiply-high (`vpmulhuw`), though LLVM still widens
        // the lanes to 32 bits around it.
        ((((sum + self.half) as u32 * self.magic as u32) >> 16) as u16 >> self.shift) as u8
    }
}

/// The processor.
pub struct Blur {
    radius: usize,
    /// Weights from −radius to +radius, summing to 2¹⁶ (gaussian), or empty (box).
    weights: Vec<u32>,
    /// Source rows blurred along themselves, `2·radius + 4` of them (an even number), the
    /// row `y` in slot `y mod` that.
    ring: Vec<u8>,
    /// Gaussian: one padded row.
    line: Vec<u8>,
    /// Box: one row of running column sums (each at most 255 × 129, so 16 bits hold it).
    acc: Vec<u16>,
    /// Box: two padded rows' prefix sums, four 16-bit channels to a `u64`.
    prefix: Vec<u64>,
    /// Box: two padded rows, four 16-bit channels to a `u64`.
    wide: Vec<u64>,
    /// Box: one row's window sums, four 16-bit channels to a `u64`.
    sums: Vec<u64>,
}

impl Blur {
    /// A blur for `config`, with scratch space for frames `width` wide.
    pub fn new(config: &Config, width: u32) -> Self {
        let radius = config.radius as usize;
        let weights = match config.kind {
            Kind::Box => Vec::new(),
            Kind::Gaussian if radius == 0 => Vec::new(),
            Kind::Gaussian => {
                let sigma = radius as f64 / 2.0;
                let raw: Vec<f64> = (-(radius as i64)..=radius as i64)
                    .map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())
                    .collect();
                let total: f64 = raw.iter().sum();
                let mut w: Vec<u32> = raw.iter().map(|v| (v / total * 65536.0).round() as u32).collect();
                // Put the rounding remainder in the centre, so the weights sum to exactly 2¹⁶.
                let sum: u32 = w.iter().sum();
                w[radius] = (w[radius] as i64 + 65536 - sum as i64) as u32;
                w
            }
        };
        let w = width as usize;
        Blur {
            radius,
            weights,
            ring: vec![0; (2 * radius + 4) * w * 4],
            line: vec![0; (w + 2 * radius + 1) * 4],
            acc: vec![0; w * 4],
            prefix: vec![0; 2 * (w + 2 * radius + 1)],
            wide: vec![0; 2 * (w + 2 * radius)],
            sums: vec![0; w],
        }
    }
}

/// Gaussian along a padded line: `out[i] = (2¹⁵ + Σₖ line[i + 4k]·wₖ) >> 16`, 32 bytes at a
/// time with the sums in registers. The weights are symmetric, so each pair of taps at the same
/// distance is added first and multiplied once (`r + 1` multiplies, not `2r + 1`).
#[inline(always)]
fn gauss_line(line: &[u8], weights: &[u32], out: &mut [u8]) {
    let r = weights.len() / 2;
    let n = out.len();
    let full = n - n % LANES;
    let lane = |at: usize| -> &[u8; LANES] { line[at..at + LANES].try_into().expect("32 bytes") };
    for (i0, o) in (0..full).step_by(LANES).zip(out.chunks_exact_mut(LANES)) {
        let centre = lane(i0 + 4 * r);
        let mut acc: [u32; LANES] = std::array::from_fn(|j| 32768 + centre[j] as u32 * weights[r]);
        for (k, &wk) in weights[..r].iter().enumerate() {
            let (a, b) = (lane(i0 + 4 * k), lane(i0 + 4 * (2 * r - k)));
            for j in 0..LANES {
                acc[j] += (a[j] as u32 + b[j] as u32) * wk;
            }
        }
        for j in 0..LANES {
            o[j] = (acc[j] >> 16) as u8;
        }
    }
    for i in full..n {
        let a = weights
            .iter()
            .enumerate()
            .fold(32768u32, |a, (k, &wk)| a + line[i + 4 * k] as u32 * wk);
        out[i] = (a >> 16) as u8;
    }
}

/// Gaussian across rows: `out[i] = (2¹⁵ + Σₖ rows[k][i]·wₖ) >> 16`, 32 bytes at a time, pairs
/// of rows at the same distance added before their one multiply.
#[inline(always)]
fn gauss_rows(rows: &[&[u8]], weights: &[u32], out: &mut [u8]) {
    let r = weights.len() / 2;
    let n = out.len();
    let full = n - n % LANES;
    for (i0, o) in (0..full).step_by(LANES).zip(out.chunks_exact_mut(LANES)) {
        let lane = |k: usize| -> &[u8; LANES] { rows[k][i0..i0 + LANES].try_into().expect("32 bytes") };
        let centre = lane(r);
        let mut acc: [u32; LANES] = std::array::from_fn(|j| 32768 + centre[j] as u32 * weights[r]);
        for (k, &wk) in weights[..r].iter().enumerate() {
            let (a, b) = (lane(k), lane(2 * r - k));
            for j in 0..LANES {
                acc[j] += (a[j] as u32 + b[j] as u32) * wk;
            }
        }
        for j in 0..LANES {
            o[j] = (acc[j] >> 16) as u8;
        }
    }
    for i in full..n {
        let a = (rows.iter().zip(weights)).fold(32768u32, |a, (row, &wk)| a + row[i] as u32 * wk);
        out[i] = (a >> 16) as u8;
    }
}

fn new_processor(json: &str, init: &InitCtx) -> Result<Box<dyn ProcessorPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Blur::new(&config, init.width)))
}

impl ProcessorPlugin for Blur {
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        if self.radius == 0 {
            return Ok(());
        }
        let (w, h) = (ctx.width as usize, ctx.height as usize);
        marquee_plugin_api::simd::widest(
            #[inline(always)]
            || self.blur(frame, w, h),
        );
        Ok(())
    }
}

impl Blur {
    /// Both passes in one sweep down the frame, in place: each source row is blurred along
    /// itself into a ring of `2·radius + 4` rows (small enough to stay in cache), and each
    /// output row is then made from the ring's rows around it. Output row `y` is written only
    /// once the source rows it or any later row needs (up to `y + radius + 1`) are in the ring,
    /// so the frame is read once and written once.
    #[inline(always)]
    fn blur(&mut self, frame: &mut [u8], w: usize, h: usize) {
        let (r, row) = (self.radius, w * 4);
        let mut ring = std::mem::take(&mut self.ring);
        let slots = ring.len() / row;
        let slot = |y: isize| (y.clamp(0, h as isize - 1) as usize % slots) * row;
        let boxed = self.weights.is_empty();
        let mean = Mean::new(2 * r + 1);
        if boxed {
            self.acc[..row].fill(0);
        }
        // The next source row to blur along itself; rows go in pairs from even rows, so a
        // pair's two slots are next to each other (`slots` is even).
        let mut next = 0;
        for y in 0..h {
            let needed = (y + r + 1).min(h - 1);
            while next <= needed {
                let pair = (h - next).min(2);
                let at = next % slots * row;
                let dst = &mut ring[at..at + 2 * row];
                if boxed {
                    self.box_rows(&frame[next * row..(next + pair) * row], dst, w, pair);
                } else {
                    self.gauss_rows(&frame[next * row..(next + pair) * row], dst, w, pair);
                }
                next += pair;
            }
            let out = &mut frame[y * row..(y + 1) * row];
            let y = y as isize;
            if boxed {
                if y == 0 {
                    for k in -(r as isize)..=r as isize {
                        add_row(&mut self.acc[..row], &ring[slot(k)..][..row]);
                    }
                }
                let (add, sub) = (
                    &ring[slot(y + r as isize + 1)..][..row],
                    &ring[slot(y - r as isize)..][..row],
                );
                box_row(&mut self.acc[..row], add, sub, mean, out);
            } else {
                let mut rows: [&[u8]; 2 * 64 + 1] = [&[]; 2 * 64 + 1];
                for (k, taps) in rows.iter_mut().enumerate().take(self.weights.len()) {
                    *taps = &ring[slot(y + k as isize - r as isize)..][..row];
                }
                gauss_rows(&rows[..self.weights.len()], &self.weights, out);
            }
        }
        self.ring = ring;
    }

    /// The horizontal gaussian of `h` rows: each row padded by `radius` copies of its edge
    /// pixels, then weighted.
    #[inline(always)]
    fn gauss_rows(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize) {
        let (r, row) = (self.radius, w * 4);
        let line = &mut self.line[..row + 8 * r];
        for (s, d) in src.chunks_exact(row).zip(dst.chunks_exact_mut(row)).take(h) {
            for i in 0..r {
                line[i * 4..i * 4 + 4].copy_from_slice(&s[..4]);
                line[(r + w + i) * 4..(r + w + i) * 4 + 4].copy_from_slice(&s[row - 4..]);
            }
            line[r * 4..r * 4 + row].copy_from_slice(s);
            gauss_line(line, &self.weights, d);
        }
    }

    /// The horizontal box, a row at a time, by prefix sums: each pixel's four channels widened
    /// to 16-bit fields of one `u64` and summed along the row, padded by `radius` copies of its
    /// edge pixels at both ends; each window's sum is then the difference of two prefix sums.
    /// The sums wrap, and a field overflows into the next, but a difference is exact: it is
    /// the four window sums in their fields, each under 2¹⁶ (at most 255 × 129). Widening,
    /// differences and divisions run 16 or 32 lanes at a time; only the running sum is serial,
    /// one 64-bit add a pixel.
    #[inline(always)]
    fn box_rows(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize) {
        let (r, row) = (self.radius, w * 4);
        let (taps, n) = (2 * r + 1, w + 2 * r);
        let mean = Mean::new(taps);
        // Two rows at a time (two running sums in flight): pixel k of a padded row in `wide[k]`,
        // the sum of the pixels before it in `prefix[k]`, the second row's after the first's.
        let (wide, prefix, sums) = (
            &mut self.wide[..2 * n],
            &mut self.prefix[..2 * (n + 1)],
            &mut self.sums[..w],
        );
        let mut y = 0;
        while y < h {
            let pair = (h - y).min(2);
            for k in 0..2 {
                let s = &src[(y + k.min(pair - 1)) * row..][..row];
                let padded = &mut wide[k * n..(k + 1) * n];
                let lanes: &mut [u16] = bytemuck::cast_slice_mut(&mut padded[r..r + w]);
                for (l, &v) in lanes.iter_mut().zip(s) {
                    *l = v as u16;
                }
                let (first, last) = (padded[r], padded[r + w - 1]);
                padded[..r].fill(first);
                padded[r + w..].fill(last);
            }
            let (p0, p1) = prefix.split_at_mut(n + 1);
            let (mut a0, mut a1) = (0u64, 0u64);
            p0[0] = 0;
            p1[0] = 0;
            for ((q0, q1), (&v0, &v1)) in p0[1..]
                .iter_mut()
                .zip(&mut p1[1..])
                .zip(wide[..n].iter().zip(&wide[n..]))
            {
                a0 = a0.wrapping_add(v0);
                a1 = a1.wrapping_add(v1);
                *q0 = a0;
                *q1 = a1;
            }
            for (k, p) in [&*p0, &*p1].into_iter().enumerate().take(pair) {
                for ((o, end), start) in sums.iter_mut().zip(&p[taps..]).zip(&p[..w]) {
                    *o = end.wrapping_sub(*start);
                }
                let lanes: &[u16] = bytemuck::cast_slice(sums);
                for (o, &v) in dst[(y + k) * row..][..row].iter_mut().zip(lanes) {
                    *o = mean.of(v);
                }
            }
            y += pair;
        }
    }
}

/// Adds a row of bytes into 16-bit sums.
#[inline(always)]
fn add_row(acc: &mut [u16], row: &[u8]) {
    for (a, &v) in acc.iter_mut().zip(row) {
        *a += v as u16;
    }
}

/// One output row of the vertical box: each column's window mean, then the window moved down
/// a row (`add` in, `sub` out), in one pass.
#[inline(always)]
fn box_row(acc: &mut [u16], add: &[u8], sub: &[u8], mean: Mean, out: &mut [u8]) {
    for (((o, a), v), u) in out.iter_mut().zip(acc.iter_mut()).zip(add).zip(sub) {
        *o = mean.of(*a);
        *a = *a + *v as u16 - *u as u16;
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    fn blur(config: Config, w: u32, h: u32, frame: &mut [u8]) {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 10.0,
            seed: 0,
        };
        let mut b = Blur::new(&config, w);
        b.process(&FrameCtx::new(&init, 0), frame).unwrap();
    }

    fn dot(w: u32, h: u32) -> Vec<u8> {
        let mut f: Vec<u8> = [0, 0, 0, 255].repeat((w * h) as usize);
        let c = ((h / 2 * w + w / 2) * 4) as usize;
        f[c..c + 3].copy_from_slice(&[255, 255, 255]);
        f
    }

    #[test]
    fn a_dot_spreads_symmetrically_and_keeps_its_energy() {
        for kind in [Kind::Box, Kind::Gaussian] {
            let mut f = dot(9, 9);
            blur(Config { kind, radius: 2 }, 9, 9, &mut f);
            let v = |x: usize, y: usize| f[(y * 9 + x) * 4] as i32;
            assert_eq!(v(3, 4), v(5, 4), "{kind:?}");
            assert_eq!(v(4, 3), v(4, 5), "{kind:?}");
            assert!(v(4, 4) > v(3, 4) || kind == Kind::Box, "{kind:?}");
            assert_eq!(v(0, 0), 0, "{kind:?}: outside the radius");
            let total: i32 = (0..81).map(|i| f[i * 4] as i32).sum();
            assert!((total - 255).abs() <= 25, "{kind:?}: {total}");
            assert!(f.chunks(4).all(|p| p[3] == 255), "alpha stays opaque");
        }
    }

    #[test]
    fn flat_frames_and_radius_zero_are_unchanged() {
        let flat: Vec<u8> = [40, 90, 200, 255].repeat(35);
        for kind in [Kind::Box, Kind::Gaussian] {
            let mut f = flat.clone();
            blur(Config { kind, radius: 3 }, 7, 5, &mut f);
            assert_eq!(f, flat, "{kind:?}");
        }
        let mut f = dot(5, 5);
        blur(
            Config {
                kind: Kind::Gaussian,
                radius: 0,
            },
            5,
            5,
            &mut f,
        );
        assert_eq!(f, dot(5, 5));
    }

    #[test]
    fn the_portable_kernels_agree_with_the_dispatched_ones() {
        // `process` runs the kernels through `simd::widest` (AVX2 where the CPU has it); called
        // directly here they are compiled for the baseline CPU.
        let mut rng = marquee_plugin_api::Rng::new(9);
        let (w, h) = (45, 13);
        let frame: Vec<u8> = (0..w * h * 4).map(|_| rng.below(256) as u8).collect();
        for kind in [Kind::Box, Kind::Gaussian] {
            for radius in [1, 3, 8] {
                let config = Config { kind, radius };
                let mut dispatched = frame.clone();
                blur(config.clone(), w as u32, h as u32, &mut dispatched);
                let mut b = Blur::new(&config, w as u32);
                let mut portable = frame.clone();
                b.blur(&mut portable, w, h);
                assert!(portable == dispatched, "{kind:?} r{radius}");
            }
        }
    }

    #[test]
    fn the_mean_is_exact_for_every_window_sum() {
        for taps in (3..=129).step_by(2) {
            let mean = Mean::new(taps);
            // The largest sum is a window of 255s.
            for sum in 0..=255 * taps {
                assert_eq!(
                    mean.of(sum as u16) as usize,
                    (sum + taps / 2) / taps,
                    "{sum} / {taps}"
                );
            }
        }
    }

    /// The blur as first written, tap by tap with clamped indexes: what the kernels must give,
    /// byte for byte.
    fn reference(config: &Config, w: usize, h: usize, frame: &[u8]) -> Vec<u8> {
        let b = Blur::new(config, w as u32);
        let r = b.radius as isize;
        let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
            let mut out = vec![0u8; src.len()];
            for y in 0..h as isize {
                for x in 0..w as isize {
                    for c in 0..4 {
                        let at = |k: isize| {
                            let (xx, yy) = if horizontal { (x + k, y) } else { (x, y + k) };
                            let (xx, yy) = (xx.clamp(0, w as isize - 1), yy.clamp(0, h as isize - 1));
                            src[(yy as usize * w + xx as usize) * 4 + c] as u32
                        };
                        let v = if b.weights.is_empty() {
                            let span = (2 * r + 1) as u32;
                            ((-r..=r).map(at).sum::<u32>() + span / 2) / span
                        } else {
                            ((-r..=r).map(|k| at(k) * b.weights[(k + r) as usize]).sum::<u32>() + 32768) >> 16
                        };
                        out[(y as usize * w + x as usize) * 4 + c] = v as u8;
                    }
                }
            }
            out
        };
        pass(&pass(frame, true), false)
    }

    #[test]
    fn the_kernels_give_the_reference_bytes() {
        let mut rng = marquee_plugin_api::Rng::new(7);
        for (w, h) in [(1, 1), (3, 2), (9, 17), (37, 11), (64, 9)] {
            let frame: Vec<u8> = (0..w * h * 4).map(|_| rng.below(256) as u8).collect();
            for kind in [Kind::Box, Kind::Gaussian] {
                for radius in [1, 2, 5, 8, 64] {
                    let config = Config { kind, radius };
                    let mut f = frame.clone();
                    blur(config.clone(), w as u32, h as u32, &mut f);
                    assert!(
                        f == reference(&config, w, h, &frame),
                        "{kind:?} r{radius} {w}×{h}"
                    );
                }
            }
        }
    }

    #[test]
    fn absurd_radius_is_refused() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 10.0,
            seed: 0,
        };
        // Ranges are the host's to check (declared on `Config`); parsing refuses the rest.
        for bad in [r#"{"radius": 2.5}"#, r#"{"kind": "motion"}"#] {
            assert!(new_processor(bad, &init).is_err(), "{bad}");
        }
    }
}
