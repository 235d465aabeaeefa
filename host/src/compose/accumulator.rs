//! The shared frame accumulator: the final RGBA8 frame and the compositor that stacks layers
//! into it.
//!
//! Compositing rule (straight alpha, over an opaque canvas), all in integers:
//! 1. `op = round(opacity · 255)` once per layer, and per pixel `a = round(alpha · op / 255)`,
//!    so a pixel's effective alpha has 8 bits;
//! 2. the blend mode gives a colour `r` from the layer's `s` and the canvas's `d` per channel:
//!    normal `s`; add `min(s + d, 255)`; multiply `round(s·d / 255)`;
//!    screen `255 − round((255 − s)(255 − d) / 255)`; lighten `max(s, d)`; darken `min(s, d)`;
//! 3. the channel becomes `round((r·a + d·(255 − a)) / 255)`, and the frame stays opaque.
//!
//! Every `round(x / 255)` is exact round-to-nearest (`(x + 128 + ((x + 128) >> 8)) >> 8`, valid up
//! to 255·255). `a = 0` leaves the pixel and `a = 255` gives `r`, exactly. Given the 8-bit
//! effective alpha, results are within one step of the same formulas in real numbers (a test
//! checks random inputs). The portable loops are branch-free so the compiler vectorises them; on
//! CPUs with AVX2 a kernel written in AVX2 instructions gives the same bytes at twice the speed
//! (a test compares the two).

// `unsafe`: running the AVX2 build of the blend kernel after detecting AVX2, and the `normal`
// kernel's unaligned 32-byte loads and stores.
#![allow(unsafe_code)]

use bevy_ecs::resource::Resource;
use marquee_plugin_api::Rgba;

use crate::model::scene::{Blend, CanvasSpec, Placement};

/// The final frame being built. An ECS resource.
#[derive(Debug, Resource)]
pub struct Accumulator {
    canvas: CanvasSpec,
    frame: Vec<u8>,
}

impl Accumulator {
    /// An accumulator for `canvas`.
    pub fn new(canvas: CanvasSpec) -> Self {
        Accumulator {
            canvas,
            frame: vec![0; canvas.width as usize * canvas.height as usize * 4],
        }
    }

    /// The canvas geometry.
    pub fn canvas(&self) -> &CanvasSpec {
        &self.canvas
    }

    /// The frame, RGBA8, opaque.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// The frame, for processors.
    pub fn frame_mut(&mut self) -> &mut [u8] {
        &mut self.frame
    }

    /// Starts a frame: fills it with the background colour.
    pub fn begin(&mut self) {
        let bg = Rgba {
            a: 255,
            ..self.canvas.background
        }
        .to_array();
        for px in self.frame.chunks_exact_mut(4) {
            px.copy_from_slice(&bg);
        }
    }

    /// Composites one layer's `pixels` (its surface for `placement`) onto the frame with `blend`
    /// at `opacity`.
    pub fn composite(&mut self, placement: Placement, blend: Blend, opacity: f32, pixels: &[u8]) {
        let op = (opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
        if op == 0 {
            return;
        }
        let stride = self.canvas.width as usize * 4;
        match placement {
            Placement::Full => blend_row(blend, &mut self.frame, pixels, op),
            Placement::Mirrored => {
                let (tw, th) = self.canvas.tile();
                let (cols, rows) = self.canvas.panels;
                let trow = tw as usize * 4;
                for r in 0..rows as usize {
                    for c in 0..cols as usize {
                        for y in 0..th as usize {
                            let d = (r * th as usize + y) * stride + c * trow;
                            blend_row(
                                blend,
                                &mut self.frame[d..d + trow],
                                &pixels[y * trow..(y + 1) * trow],
                                op,
                            );
                        }
                    }
                }
            }
            Placement::Rect(x, y, w, h) => {
                let row = w as usize * 4;
                for j in 0..h as usize {
                    let d = (y as usize + j) * stride + x as usize * 4;
                    blend_row(
                        blend,
                        &mut self.frame[d..d + row],
                        &pixels[j * row..(j + 1) * row],
                        op,
                    );
                }
            }
        }
    }
}

/// `round(x / 255)` for `x <= 255 · 255`, exactly.
#[inline(always)]
pub fn div255(x: u32) -> u32 {
    let x = x + 128;
    (x + (x >> 8)) >> 8
}

/// [`div255`] in 16 bits: `(x + 128) · 257 >> 16`, the high half of a 16-bit product (one
/// `pmulhuw` per 16 lanes), equal to it for every `x <= 255 · 255` (a test checks them all).
#[inline(always)]
fn div255_16(x: u16) -> u16 {
    (((x + 128) as u32 * 257) >> 16) as u16
}

/// Blends `src` (straight-alpha RGBA8) onto opaque `dst` with `blend` at opacity `op` (0..=255).
///
/// On x86-64 CPUs with AVX2 (checked once at run time, then cached) the same kernel runs compiled
/// for AVX2, twice as wide; the arithmetic is integer, so the result is bit-identical either way.
pub fn blend_row(blend: Blend, dst: &mut [u8], src: &[u8], op: u32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: `blend_row_avx2` needs nothing but AVX2 support, which was just detected.
        unsafe { blend_row_avx2(blend, dst, src, op) };
        return;
    }
    blend_row_portable(blend, dst, src, op);
}

/// The kernel in AVX2 instructions, for CPUs that have them (the portable kernel, compiled by
/// the compiler's own vectorisation, widened and narrowed bytes across 128-bit halves and ran
/// at half this speed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blend_row_avx2(blend: Blend, dst: &mut [u8], src: &[u8], op: u32) {
    use std::arch::x86_64::*;
    let c255 = _mm256_set1_epi16(255);
    // Whole steps of 8 pixels here, the last few by the portable kernel.
    let whole = dst.len().min(src.len()) / 32 * 32;
    let ((dst, dst_tail), (src, src_tail)) = (dst.split_at_mut(whole), src.split_at(whole));
    match blend {
        Blend::Normal => mix_row_avx2(dst, src, op, |s, _| s),
        Blend::Add => mix_row_avx2(dst, src, op, |s, d| {
            _mm256_min_epu16(_mm256_add_epi16(s, d), c255)
        }),
        Blend::Multiply => mix_row_avx2(dst, src, op, |s, d| div255_avx2(_mm256_mullo_epi16(s, d))),
        Blend::Screen => mix_row_avx2(dst, src, op, |s, d| {
            _mm256_sub_epi16(
                c255,
                div255_avx2(_mm256_mullo_epi16(
                    _mm256_sub_epi16(c255, s),
                    _mm256_sub_epi16(c255, d),
                )),
            )
        }),
        Blend::Lighten => mix_row_avx2(dst, src, op, |s, d| _mm256_max_epu16(s, d)),
        Blend::Darken => mix_row_avx2(dst, src, op, |s, d| _mm256_min_epu16(s, d)),
    }
    blend_row_portable(blend, dst_tail, src_tail, op);
}

/// [`div255_16`] on 16 lanes: the high half of `(x + 128) · 257`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn div255_avx2(x: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_mulhi_epu16(
        _mm256_add_epi16(x, _mm256_set1_epi16(128)),
        _mm256_set1_epi16(257),
    )
}

/// [`mix_row`] in AVX2 instructions over whole steps of 8 pixels, bit for bit the same rule: bytes widened
/// to 16 bits within each 128-bit half (so that narrowing them again needs no lane fix-up), each
/// pixel's alpha spread over its channels by a byte shuffle, `round(x / 255)` as the high half
/// of `(x + 128) · 257`. `colour` gets the layer's and the frame's words (alpha words included;
/// the frame's alpha comes out opaque whatever it gives there).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn mix_row_avx2(
    dst: &mut [u8],
    src: &[u8],
    op: u32,
    colour: impl Fn(std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i,
) {
    use std::arch::x86_64::*;
    debug_assert!(dst.len() == src.len() && dst.len().is_multiple_of(32));
    let zero = _mm256_setzero_si256();
    let c255 = _mm256_set1_epi16(255);
    let opacity = _mm256_set1_epi16(op as i16);
    let opaque = _mm256_set1_epi32(0xff00_0000_u32 as i32);
    // Words 3 and 7 of each half (the alphas of its two pixels) copied to that pixel's 4 words.
    let spread = _mm256_setr_epi8(
        6, 7, 6, 7, 6, 7, 6, 7, 14, 15, 14, 15, 14, 15, 14, 15, 6, 7, 6, 7, 6, 7, 6, 7, 14, 15, 14, 15, 14,
        15, 14, 15,
    );
    let mix = |s: __m256i, d: __m256i| {
        let mut a = _mm256_shuffle_epi8(s, spread);
        if op != 255 {
            a = div255_avx2(_mm256_mullo_epi16(a, opacity));
        }
        div255_avx2(_mm256_add_epi16(
            _mm256_mullo_epi16(colour(s, d), a),
            _mm256_mullo_epi16(d, _mm256_sub_epi16(c255, a)),
        ))
    };
    for (d, s) in dst.chunks_exact_mut(32).zip(src.chunks_exact(32)) {
        // SAFETY: each chunk is exactly 32 bytes, read and written unaligned.
        let (vs, vd) = unsafe {
            (
                _mm256_loadu_si256(s.as_ptr().cast()),
                _mm256_loadu_si256(d.as_ptr().cast()),
            )
        };
        let lo = mix(_mm256_unpacklo_epi8(vs, zero), _mm256_unpacklo_epi8(vd, zero));
        let hi = mix(_mm256_unpackhi_epi8(vs, zero), _mm256_unpackhi_epi8(vd, zero));
        let out = _mm256_or_si256(_mm256_packus_epi16(lo, hi), opaque);
        // SAFETY: as above.
        unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), out) };
    }
}

#[inline(always)]
fn blend_row_portable(blend: Blend, dst: &mut [u8], src: &[u8], op: u32) {
    match blend {
        Blend::Normal => mix_row(dst, src, op, |s, _| s),
        Blend::Add => mix_row(dst, src, op, |s, d| (s + d).min(255)),
        Blend::Multiply => mix_row(dst, src, op, |s, d| div255_16(s * d)),
        Blend::Screen => mix_row(dst, src, op, |s, d| 255 - div255_16((255 - s) * (255 - d))),
        Blend::Lighten => mix_row(dst, src, op, |s, d| s.max(d)),
        Blend::Darken => mix_row(dst, src, op, |s, d| s.min(d)),
    }
}

/// Pixels per block of the vectorised kernel.
const BLOCK: usize = 32;

/// The kernel. Per block of pixels it first spreads each pixel's effective alpha over its colour
/// bytes (and makes the alpha byte blend as opaque white onto opaque, which gives 255), then runs
/// one contiguous, branch-free loop of 16-bit arithmetic over all the bytes, which the compiler
/// turns into SIMD. Every intermediate fits 16 bits: `r·a + d·(255 − a) <= 255·255`.
#[inline(always)]
fn mix_row(dst: &mut [u8], src: &[u8], op: u32, colour: impl Fn(u16, u16) -> u16) {
    debug_assert_eq!(dst.len(), src.len());
    let mut d_blocks = dst.chunks_exact_mut(BLOCK * 4);
    let mut s_blocks = src.chunks_exact(BLOCK * 4);
    // The alpha byte of every pixel blends as opaque white: `s | 255 = 255` there.
    const ALPHA_BYTES: [u8; BLOCK * 4] = {
        let mut m = [0u8; BLOCK * 4];
        let mut k = 0;
        while k < BLOCK {
            m[4 * k + 3] = 255;
            k += 1;
        }
        m
    };
    let mut alpha = [0u16; BLOCK * 4];
    for (d, s) in (&mut d_blocks).zip(&mut s_blocks) {
        let mut pixel_alpha = [0u16; BLOCK];
        for (k, pa) in pixel_alpha.iter_mut().enumerate() {
            *pa = div255_16(s[4 * k + 3] as u16 * op as u16);
        }
        for (i, a) in alpha.iter_mut().enumerate() {
            *a = pixel_alpha[i / 4] | ALPHA_BYTES[i] as u16;
        }
        for i in 0..BLOCK * 4 {
            let (a, dc) = (alpha[i], d[i] as u16);
            let sc = (s[i] | ALPHA_BYTES[i]) as u16;
            d[i] = div255_16(colour(sc, dc) * a + dc * (255 - a)) as u8;
        }
    }
    for (d, s) in d_blocks
        .into_remainder()
        .chunks_exact_mut(4)
        .zip(s_blocks.remainder().chunks_exact(4))
    {
        let a = div255(s[3] as u32 * op) as u16;
        for c in 0..3 {
            let dc = d[c] as u16;
            d[c] = div255_16(colour(s[c] as u16, dc) * a + dc * (255 - a)) as u8;
        }
        d[3] = 255;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_BLENDS: [Blend; 6] = [
        Blend::Normal,
        Blend::Add,
        Blend::Multiply,
        Blend::Screen,
        Blend::Lighten,
        Blend::Darken,
    ];

    fn canvas(w: u32, h: u32, panels: (u32, u32)) -> CanvasSpec {
        CanvasSpec {
            width: w,
            height: h,
            panels,
            background: Rgba::rgb(10, 20, 30),
        }
    }

    #[test]
    fn div255_is_exact_rounding() {
        for x in 0..=255 * 255 {
            assert_eq!(div255(x), (x as f64 / 255.0).round() as u32, "{x}");
            assert_eq!(div255_16(x as u16) as u32, div255(x), "{x} in 16 bits");
        }
    }

    /// The blend formulas in real numbers, channels in 0..=1.
    fn reference(blend: Blend, s: f64, d: f64) -> f64 {
        match blend {
            Blend::Normal => s,
            Blend::Add => (s + d).min(1.0),
            Blend::Multiply => s * d,
            Blend::Screen => 1.0 - (1.0 - s) * (1.0 - d),
            Blend::Lighten => s.max(d),
            Blend::Darken => s.min(d),
        }
    }

    #[test]
    fn every_blend_is_within_one_step_of_the_real_formula() {
        let mut rng = marquee_plugin_api::Rng::new(11);
        for blend in ALL_BLENDS {
            for _ in 0..20_000 {
                let s: [u8; 4] = (rng.next_u64() as u32).to_le_bytes();
                let d0: [u8; 4] = [
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    255,
                ];
                let op = rng.below(256);
                let mut d = d0;
                blend_row(blend, &mut d, &s, op);
                // The documented 8-bit effective alpha.
                let a = (s[3] as f64 * op as f64 / 255.0).round() / 255.0;
                for c in 0..3 {
                    let (sf, df) = (s[c] as f64 / 255.0, d0[c] as f64 / 255.0);
                    let want = 255.0 * (reference(blend, sf, df) * a + df * (1.0 - a));
                    // Blends without a rounded intermediate (normal, add, lighten, darken) are
                    // within half a step; multiply and screen round once more.
                    let bound = if matches!(blend, Blend::Multiply | Blend::Screen) {
                        1.0
                    } else {
                        0.5
                    };
                    assert!(
                        (d[c] as f64 - want).abs() <= bound,
                        "{blend:?}: {s:?} onto {d0:?} at {op}: {d:?}, want {want}"
                    );
                }
                assert_eq!(d[3], 255);
            }
        }
    }

    #[test]
    fn the_dispatched_kernel_equals_the_portable_one() {
        let mut rng = marquee_plugin_api::Rng::new(21);
        // Lengths that exercise whole blocks and the per-pixel tail.
        for pixels in [1, 7, 8, 9, 31, 32, 33, 100, 1000] {
            let src: Vec<u8> = (0..pixels * 4).map(|_| rng.below(256) as u8).collect();
            let base: Vec<u8> = (0..pixels * 4)
                .map(|i| if i % 4 == 3 { 255 } else { rng.below(256) as u8 })
                .collect();
            for blend in ALL_BLENDS {
                for op in [0, 1, 128, 204, 255, rng.below(256)] {
                    let (mut a, mut b) = (base.clone(), base.clone());
                    blend_row(blend, &mut a, &src, op);
                    blend_row_portable(blend, &mut b, &src, op);
                    assert_eq!(a, b, "{blend:?} over {pixels} pixels at opacity {op}");
                }
            }
        }
    }

    #[test]
    fn transparent_leaves_and_opaque_replaces_exactly() {
        for blend in ALL_BLENDS {
            let mut d = [10, 200, 77, 255];
            blend_row(blend, &mut d, &[250, 3, 100, 0], 255);
            assert_eq!(d, [10, 200, 77, 255], "{blend:?}");
        }
        let mut d = [10, 200, 77, 255];
        blend_row(Blend::Add, &mut d, &[250, 3, 100, 255], 255);
        assert_eq!(d, [255, 203, 177, 255]);
        let mut d = [10, 200, 77, 255];
        blend_row(Blend::Darken, &mut d, &[250, 3, 100, 255], 255);
        assert_eq!(d, [10, 3, 77, 255]);
    }

    #[test]
    fn mirrored_layer_repeats_its_tile_on_every_panel() {
        let mut acc = Accumulator::new(canvas(4, 2, (2, 1)));
        acc.begin();
        // 2×2 tile: one opaque red pixel at (1, 0).
        let mut tile = vec![0u8; 16];
        tile[4..8].copy_from_slice(&[255, 0, 0, 255]);
        acc.composite(Placement::Mirrored, Blend::Normal, 1.0, &tile);
        let f = acc.frame();
        let px = |x: usize, y: usize| &f[(y * 4 + x) * 4..(y * 4 + x) * 4 + 4];
        assert_eq!(px(1, 0), [255, 0, 0, 255]);
        assert_eq!(px(3, 0), [255, 0, 0, 255]);
        assert_eq!(px(0, 0), [10, 20, 30, 255]);
        assert_eq!(px(2, 1), [10, 20, 30, 255]);
    }

    #[test]
    fn a_rect_layer_lands_in_its_rectangle() {
        let mut acc = Accumulator::new(canvas(4, 3, (1, 1)));
        acc.begin();
        let layer = [[255u8, 255, 255, 255]; 4].concat(); // 2×2 white
        acc.composite(Placement::Rect(1, 1, 2, 2), Blend::Normal, 1.0, &layer);
        let lit: Vec<usize> = acc
            .frame()
            .chunks(4)
            .enumerate()
            .filter(|(_, p)| p[0] == 255)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(lit, [5, 6, 9, 10]);
    }
}
