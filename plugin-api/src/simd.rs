//! Runs a closure compiled for the widest vector instructions the CPU has, chosen at run time, so
//! plugins gain AVX2 without `unsafe` and the binaries stay portable (baseline x86-64 elsewhere).
//!
//! Only integer and plain floating-point arithmetic is affected: Rust never fuses multiply-adds
//! on its own, so results are bit-identical whichever version runs.
//!
//! Byte tables ([`map_rgb`]) have a kernel of their own for CPUs with AVX-512 VBMI, whose byte
//! permutes look up 64 bytes at once where a compiler can only gather.

// The `unsafe` here: entering the AVX2- and AVX-512-compiled functions after detecting those
// features, and the byte kernel's unaligned 64-byte loads and stores.
#![allow(unsafe_code)]

/// Runs `f`, compiled for AVX2 when the CPU supports it. Mark the closure itself
/// `#[inline(always)]` (`widest(#[inline(always)] || kernel(...))`, with `kernel` and what it
/// calls `#[inline(always)]` too), so its body is compiled inside the AVX2 wrapper: a closure
/// left to the inliner's judgement stays a function of its own, compiled for the baseline CPU,
/// once its body is large (the blur's kernels ran 4× slower that way).
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: `avx2` needs nothing but AVX2 support, which was just detected.
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Whether [`map_rgb`] and [`map_rgb_columns`] run their AVX-512 VBMI kernel on this CPU.
#[cfg(target_arch = "x86_64")]
pub fn has_byte_permutes() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vbmi")
}

/// Whether [`map_rgb`] and [`map_rgb_columns`] run an AVX-512 VBMI kernel: never off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub fn has_byte_permutes() -> bool {
    false
}

/// Maps the red, green and blue bytes of RGBA8 pixels through `tables` (one per channel),
/// alpha untouched: 64 bytes at a time with AVX-512 VBMI where the CPU has it, a byte at a time
/// otherwise (the same bytes either way; a test holds them to it).
pub fn map_rgb(pixels: &mut [u8], tables: [&[u8; 256]; 3]) {
    map_rgb_columns(pixels, [one_if_equal(tables); 4]);
}

/// `tables`, or the first for all three channels when their contents are equal: the byte-permute
/// kernel looks up a table given twice (the same reference) once.
pub(crate) fn one_if_equal(tables: [&[u8; 256]; 3]) -> [&[u8; 256]; 3] {
    let [r, g, b] = tables;
    if r == g && g == b {
        [r; 3]
    } else {
        tables
    }
}

/// [`map_rgb`] with tables that depend on the pixel's column: pixel `x` of `row` (counted from
/// its start, which should be a column that is a multiple of 4) goes through `tables[x % 4]`,
/// as a 4×4 ordered dither's row does.
pub fn map_rgb_columns(row: &mut [u8], tables: [[&[u8; 256]; 3]; 4]) {
    #[cfg(target_arch = "x86_64")]
    if has_byte_permutes() {
        // SAFETY: `map_rgb_vbmi` needs AVX-512 F, BW and VBMI, which were just detected.
        unsafe { map_rgb_vbmi(row, tables) };
        return;
    }
    map_rgb_portable(row, tables);
}

/// [`map_rgb_columns`] a byte at a time.
fn map_rgb_portable(row: &mut [u8], tables: [[&[u8; 256]; 3]; 4]) {
    for (x, px) in row.chunks_exact_mut(4).enumerate() {
        let [r, g, b] = tables[x % 4];
        px[0] = r[px[0] as usize];
        px[1] = g[px[1] as usize];
        px[2] = b[px[2] as usize];
    }
}

/// [`map_rgb_columns`] 16 pixels at a time: a 256-entry table is four 64-byte registers, two
/// `vpermi2b` look up the low and high halves (index bits 0 to 6) and the index's top bit picks
/// between them; each table's result is merged into its bytes by a mask (a channel is every
/// fourth byte, a column every fourth pixel's bytes). A table given twice (the same reference) is
/// looked up once.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn map_rgb_vbmi(row: &mut [u8], tables: [[&[u8; 256]; 3]; 4]) {
    use std::arch::x86_64::*;
    let quarters = |t: &[u8; 256]| -> [__m512i; 4] {
        std::array::from_fn(|q| {
            let quarter: &[u8; 64] = t[q * 64..q * 64 + 64].try_into().expect("64 bytes");
            // SAFETY: reads the 64 bytes of `quarter` (unaligned loads are allowed).
            unsafe { _mm512_loadu_si512(quarter.as_ptr().cast()) }
        })
    };
    // The distinct tables, each with the mask of the bytes it maps: byte `b` of a 64-byte block
    // is channel `b % 4` of column `b / 4 % 4`.
    let mut distinct: [(&[u8; 256], u64); 12] = [(tables[0][0], 0); 12];
    let mut n = 0;
    for (x, column) in tables.iter().enumerate() {
        for (c, &t) in column.iter().enumerate() {
            let mask = 0x0001_0001_0001_0001u64 << (4 * x + c);
            match distinct[..n].iter_mut().find(|(d, _)| std::ptr::eq(*d, t)) {
                Some((_, m)) => *m |= mask,
                None => {
                    distinct[n] = (t, mask);
                    n += 1;
                }
            }
        }
    }
    let registers: [([__m512i; 4], u64); 12] = distinct.map(|(t, m)| (quarters(t), m));
    let registers = &registers[..n];
    let mut chunks = row.chunks_exact_mut(64);
    for chunk in &mut chunks {
        // SAFETY: `chunk` is 64 bytes long; unaligned loads and stores are allowed.
        let v = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
        let high = _mm512_movepi8_mask(v);
        let mut out = v;
        for (q, mask) in registers {
            let low = _mm512_permutex2var_epi8(q[0], v, q[1]);
            let top = _mm512_permutex2var_epi8(q[2], v, q[3]);
            out = _mm512_mask_blend_epi8(*mask, out, _mm512_mask_blend_epi8(high, low, top));
        }
        // SAFETY: as the load above.
        unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), out) };
    }
    map_rgb_portable(chunks.into_remainder(), tables);
}

#[cfg(test)]
mod tests {
    #[test]
    fn returns_what_the_closure_returns() {
        let v: Vec<u64> = (0..1000).collect();
        let want: u64 = v.iter().map(|x| x * x).sum();
        assert_eq!(super::widest(|| v.iter().map(|x| x * x).sum::<u64>()), want);
    }

    #[test]
    fn byte_tables_give_the_portable_bytes() {
        let mut rng = crate::rng::Rng::new(5);
        let tables: Vec<[u8; 256]> = (0..13)
            .map(|_| std::array::from_fn(|_| rng.below(256) as u8))
            .collect();
        let pixels: Vec<u8> = tables[12]
            .into_iter()
            .chain(0..=255)
            .cycle()
            .take(4 * 301)
            .collect();
        let t = |i: usize| &tables[i];
        let columns = [
            [t(0), t(1), t(2)],
            [t(3), t(4), t(5)],
            [t(6), t(7), t(8)],
            [t(9), t(10), t(11)],
        ];
        let shared = [
            [t(0), t(0), t(1)],
            [t(0), t(2), t(1)],
            [t(0), t(0), t(1)],
            [t(3), t(0), t(1)],
        ];
        // Lengths around the 64-byte blocks, and whole pixels only.
        for len in [0, 4, 60, 64, 68, 128, 252, 1204] {
            for tables in [columns, shared, [[t(0), t(1), t(2)]; 4], [[t(0); 3]; 4]] {
                let mut fast = pixels[..len].to_vec();
                super::map_rgb_columns(&mut fast, tables);
                let mut portable = pixels[..len].to_vec();
                super::map_rgb_portable(&mut portable, tables);
                assert_eq!(fast, portable, "{len} bytes");
                let mut each = pixels[..len].to_vec();
                each.iter_mut().enumerate().for_each(|(i, v)| {
                    if i % 4 != 3 {
                        *v = tables[i / 4 % 4][i % 4][*v as usize];
                    }
                });
                assert_eq!(
                    fast, each,
                    "{len} bytes: each column and channel its own table, alpha kept"
                );
            }
        }
        eprintln!("AVX-512 VBMI kernel run: {}", super::has_byte_permutes());
    }
}
