//! Per-pixel operations as data: a colour matrix followed by lookup tables that may depend on the
//! pixel's 4×4 position cell. A processor that can describe its frame this way hands the host a
//! [`PixelOp`]; the host composes the tables of neighbouring processors into one and runs the
//! chain as a single pass. Plugins use the same [`PixelOp::apply`] for their own `process`, so
//! fused and unfused runs give the same bytes.

use abi_stable::StableAbi;

use crate::author::ProcessorPlugin;
use crate::error::PluginError;
use crate::types::FrameCtx;

/// Fixed-point scale of [`PixelOp::matrix`]: 4096 stands for 1.0.
pub const MATRIX_ONE: i32 = 1 << 12;

/// Tables per operation at most: one per cell of a 4×4 pattern (ordered dithering).
pub const MAX_CELLS: usize = 16;

/// What one processor does to every pixel of one frame, alpha untouched:
/// 1. if `has_matrix`, `(r, g, b) ← clamp(round(matrix · (r, g, b)))` (row-major, fixed point);
/// 2. then each channel `c ← tables[cell][channel][c]`, where `cell` is 0 when `cells` is 1,
///    else `(y % 4) * 4 + x % 4` for the pixel at `(x, y)` of the frame.
///
/// It lives in a host-owned buffer the processor fills each frame: no allocation.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct PixelOp {
    /// Whether the matrix applies.
    pub has_matrix: bool,
    /// How many of `tables` are used: 1, or 16 for a 4×4 pattern.
    pub cells: u8,
    /// Row-major 3×3 colour matrix in fixed point ([`MATRIX_ONE`] = 1.0).
    pub matrix: [i32; 9],
    /// Per cell, per channel (r, g, b), a table of 256 values.
    pub tables: [[[u8; 256]; 3]; MAX_CELLS],
}

impl std::fmt::Debug for PixelOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelOp")
            .field("has_matrix", &self.has_matrix)
            .field("cells", &self.cells)
            .finish_non_exhaustive()
    }
}

const IDENTITY: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

impl Default for PixelOp {
    fn default() -> Self {
        PixelOp::identity()
    }
}

impl PixelOp {
    /// The operation that changes nothing.
    pub fn identity() -> Self {
        PixelOp {
            has_matrix: false,
            cells: 1,
            matrix: [MATRIX_ONE, 0, 0, 0, MATRIX_ONE, 0, 0, 0, MATRIX_ONE],
            tables: [[IDENTITY; 3]; MAX_CELLS],
        }
    }

    /// Makes `self` the identity again (without touching the tables past the first).
    pub fn reset(&mut self) {
        self.set_table(&IDENTITY);
    }

    /// Sets one table for every channel and cell, and no matrix.
    pub fn set_table(&mut self, table: &[u8; 256]) {
        self.has_matrix = false;
        self.cells = 1;
        self.tables[0] = [*table; 3];
    }

    /// Makes `self` do what `from` does, copying only the tables in use.
    pub fn assign(&mut self, from: &PixelOp) {
        let n = from.cell_count();
        self.has_matrix = from.has_matrix;
        self.cells = n as u8;
        self.matrix = from.matrix;
        self.tables[..n].copy_from_slice(&from.tables[..n]);
    }

    /// The number of cells in use, 1 or 16 (anything else is read as 16).
    pub fn cell_count(&self) -> usize {
        if self.cells <= 1 {
            1
        } else {
            MAX_CELLS
        }
    }

    /// Appends `next` after `self`, when the result is still one `PixelOp` (that is, when `next`
    /// has no matrix): each table becomes `next`'s table of its output. Returns whether it did;
    /// applying the result equals applying `self` then `next`, exactly.
    pub fn then(&mut self, next: &PixelOp) -> bool {
        if next.has_matrix {
            return false;
        }
        let cells = self.cell_count().max(next.cell_count());
        for cell in (0..cells).rev() {
            let mine = self.tables[cell % self.cell_count()];
            let theirs = &next.tables[cell % next.cell_count()];
            for (c, table) in self.tables[cell].iter_mut().enumerate() {
                *table = std::array::from_fn(|v| theirs[c][mine[c][v] as usize]);
            }
        }
        self.cells = cells as u8;
        true
    }

    /// Applies the operation to whole rows of RGBA8 pixels, `width` to a row, the first of which
    /// is row `first_row` of the frame.
    pub fn apply(&self, rows: &mut [u8], width: usize, first_row: usize) {
        self.apply_on(rows, width, first_row, crate::simd::has_byte_permutes());
    }

    /// [`PixelOp::apply`], with the tables of a matrix or of dither cells looked up by byte
    /// permutes (AVX-512 VBMI, which `permutes` says the CPU has) or else by gathers and loads.
    /// One table alone goes to [`simd::map_rgb`](crate::simd::map_rgb), which chooses for itself.
    fn apply_on(&self, rows: &mut [u8], width: usize, first_row: usize, permutes: bool) {
        let width = width.max(1);
        match (self.has_matrix, self.cell_count()) {
            (false, 1) => {
                let [r, g, b] = &self.tables[0];
                crate::simd::map_rgb(rows, [r, g, b]);
            }
            (false, _) if permutes => {
                let bands = self.bands();
                for (y, row) in rows.chunks_mut(width * 4).enumerate() {
                    crate::simd::map_rgb_columns(row, bands[(first_row + y) % 4]);
                }
            }
            (false, _) => {
                for (y, row) in rows.chunks_mut(width * 4).enumerate() {
                    let band = ((first_row + y) % 4) * 4;
                    for (x, px) in row.chunks_exact_mut(4).enumerate() {
                        let t = &self.tables[band + x % 4];
                        px[0] = t[0][px[0] as usize];
                        px[1] = t[1][px[1] as usize];
                        px[2] = t[2][px[2] as usize];
                    }
                }
            }
            (true, 1) if permutes => {
                // The matrix on 16 pixels at a time in vector lanes, then the tables 64 bytes at
                // a time by byte permutes, over runs of pixels that stay in the L1 cache.
                let [r, g, b] = &self.tables[0];
                for run in rows.chunks_mut(RUN * 4) {
                    matrix_in_place(&self.matrix, run);
                    crate::simd::map_rgb(run, [r, g, b]);
                }
            }
            (true, 1) => {
                // The tables widened to 32 bits, so the lookups of a block of pixels can be
                // vector gathers (built per call: 3 KB, a fraction of a microsecond).
                let wide: [[u32; 256]; 3] =
                    std::array::from_fn(|c| std::array::from_fn(|v| self.tables[0][c][v] as u32));
                crate::simd::widest(
                    #[inline(always)]
                    || {
                        in_blocks(
                            rows,
                            #[inline(always)]
                            |block| matrix_lookup_block(&self.matrix, &wide, block),
                        )
                    },
                )
            }
            (true, _) if permutes => {
                let bands = self.bands();
                for (y, row) in rows.chunks_mut(width * 4).enumerate() {
                    matrix_in_place(&self.matrix, row);
                    crate::simd::map_rgb_columns(row, bands[(first_row + y) % 4]);
                }
            }
            (true, _) => crate::simd::widest(
                #[inline(always)]
                || {
                    for (y, row) in rows.chunks_mut(width * 4).enumerate() {
                        let band = ((first_row + y) % 4) * 4;
                        for (i, chunk) in row.chunks_mut(CHUNK * 4).enumerate() {
                            let mut mixed = [[0u8; 3]; CHUNK];
                            matrix_chunk(&self.matrix, chunk, &mut mixed);
                            for (x, (px, m)) in chunk.chunks_exact_mut(4).zip(&mixed).enumerate() {
                                let t = &self.tables[band + (i * CHUNK + x) % 4];
                                px[0] = t[0][m[0] as usize];
                                px[1] = t[1][m[1] as usize];
                                px[2] = t[2][m[2] as usize];
                            }
                        }
                    }
                },
            ),
        }
    }
}

impl PixelOp {
    /// The tables of the pixels of a row by column mod 4, for each row mod 4 (all the same with
    /// one cell), a cell's three tables as one where they are equal, so that
    /// [`simd::map_rgb_columns`](crate::simd::map_rgb_columns) looks it up once.
    fn bands(&self) -> [[[&[u8; 256]; 3]; 4]; 4] {
        let n = self.cell_count();
        std::array::from_fn(|y| {
            std::array::from_fn(|x| {
                let [r, g, b] = &self.tables[(y * 4 + x) % n];
                crate::simd::one_if_equal([r, g, b])
            })
        })
    }
}

/// The matrix alone on RGBA8 pixels in place, 16 at a time in vector lanes (AVX2 where the CPU
/// has it).
fn matrix_in_place(m: &[i32; 9], pixels: &mut [u8]) {
    crate::simd::widest(
        #[inline(always)]
        || {
            in_blocks(
                pixels,
                #[inline(always)]
                |block| matrix_block(m, block),
            )
        },
    )
}

/// Runs `kernel` on each block of 16 pixels; the last, short block goes through a whole one and
/// back. Mark `kernel` `#[inline(always)]`, as `simd::widest`'s closures are: left to the inliner
/// it stayed a function compiled for the baseline CPU (4.6× slower).
#[inline(always)]
fn in_blocks(pixels: &mut [u8], kernel: impl Fn(&mut [u8; BLOCK * 4])) {
    let mut blocks = pixels.chunks_exact_mut(BLOCK * 4);
    for chunk in &mut blocks {
        kernel(chunk.try_into().expect("a whole block"));
    }
    let tail = blocks.into_remainder();
    let mut block = [0u8; BLOCK * 4];
    block[..tail.len()].copy_from_slice(tail);
    kernel(&mut block);
    tail.copy_from_slice(&block[..tail.len()]);
}

/// Pixels per chunk of the matrix kernel: its arithmetic runs over a chunk in vector registers,
/// then the table lookups follow.
const CHUNK: usize = 64;

/// Pixels of a block of [`matrix_lookup_block`].
const BLOCK: usize = 16;

/// Pixels the matrix runs over before their tables do, with byte permutes: 16 KB, in L1.
const RUN: usize = 4096;

/// The matrix for 16 pixels, every step lane by lane so that it all runs in vector registers:
/// the matrix's sums, the clamps, `then(channel, value)` on each result (a table lookup, or
/// nothing), and the pixels put back together, alpha kept.
#[inline(always)]
fn matrix_lanes(m: &[i32; 9], block: &mut [u8; BLOCK * 4], then: impl Fn(usize, i32) -> u32) {
    let half = MATRIX_ONE / 2;
    let mut px = [0u32; BLOCK];
    for (p, b) in px.iter_mut().zip(block.chunks_exact(4)) {
        *p = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    let channel = |c: u32| px.map(|p| ((p >> (8 * c)) & 255) as i32);
    let (r, g, b) = (channel(0), channel(1), channel(2));
    let mut out = px.map(|p| p & 0xff00_0000);
    for k in 0..3 {
        for i in 0..BLOCK {
            let v =
                ((m[3 * k] * r[i] + m[3 * k + 1] * g[i] + m[3 * k + 2] * b[i] + half) >> 12).clamp(0, 255);
            out[i] |= then(k, v) << (8 * k);
        }
    }
    for (o, p) in block.chunks_exact_mut(4).zip(out) {
        o.copy_from_slice(&p.to_le_bytes());
    }
}

/// The matrix then the tables (widened to 32 bits, so the lookups are vector gathers) for 16
/// pixels.
#[inline(always)]
fn matrix_lookup_block(m: &[i32; 9], tables: &[[u32; 256]; 3], block: &mut [u8; BLOCK * 4]) {
    matrix_lanes(m, block, |k, v| tables[k][v as usize]);
}

/// The matrix alone for 16 pixels.
#[inline(always)]
fn matrix_block(m: &[i32; 9], block: &mut [u8; BLOCK * 4]) {
    matrix_lanes(m, block, |_, v| v as u32);
}

/// `out[i] = clamp(round(m · rgb(pixel i)))` for the pixels of `chunk`, in integers.
#[inline(always)]
fn matrix_chunk(m: &[i32; 9], chunk: &[u8], out: &mut [[u8; 3]; CHUNK]) {
    let half = MATRIX_ONE / 2;
    for (px, o) in chunk.chunks_exact(4).zip(out.iter_mut()) {
        let (r, g, b) = (px[0] as i32, px[1] as i32, px[2] as i32);
        for (k, v) in o.iter_mut().enumerate() {
            *v = ((m[3 * k] * r + m[3 * k + 1] * g + m[3 * k + 2] * b + half) >> 12).clamp(0, 255) as u8;
        }
    }
}

/// A fixed `PixelOp` is itself a per-pixel processor: the same operation every frame, fusable,
/// and describing itself as that operation. Processors such as `color` and `quantize` build one
/// from their config and hand it to the host as it is.
impl ProcessorPlugin for PixelOp {
    fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
        self.process_rows(ctx, 0, frame)
    }

    fn pointwise(&self) -> bool {
        true
    }

    fn process_rows(&mut self, ctx: &FrameCtx, first_row: u32, rows: &mut [u8]) -> Result<(), PluginError> {
        self.apply(rows, ctx.width as usize, first_row as usize);
        Ok(())
    }

    fn pixel_op(&mut self, _ctx: &FrameCtx, op: &mut PixelOp) -> Result<bool, PluginError> {
        op.assign(self);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random_op(rng: &mut Rng) -> PixelOp {
        let mut op = PixelOp::identity();
        op.has_matrix = rng.below(3) == 0;
        op.matrix = std::array::from_fn(|_| rng.below(3 * 4096) as i32 - 4096);
        op.cells = if rng.below(2) == 0 { 1 } else { 16 };
        // Sometimes one table for the three channels (as brightness and dithers make), which
        // the byte-permute kernel looks up once.
        let shared = rng.below(3) == 0;
        for cell in &mut op.tables {
            for t in cell.iter_mut() {
                *t = std::array::from_fn(|_| rng.below(256) as u8);
            }
            if shared {
                *cell = [cell[0]; 3];
            }
        }
        op
    }

    #[test]
    fn composing_tables_equals_applying_one_after_the_other() {
        let mut rng = Rng::new(3);
        let (w, h) = (7, 9);
        for _ in 0..200 {
            let frame: Vec<u8> = (0..w * h * 4).map(|_| rng.below(256) as u8).collect();
            let a = random_op(&mut rng);
            let b = random_op(&mut rng);
            let mut expect = frame.clone();
            a.apply(&mut expect, w, 0);
            b.apply(&mut expect, w, 0);
            let mut ab = a.clone();
            if ab.then(&b) {
                let mut got = frame.clone();
                ab.apply(&mut got, w, 0);
                assert_eq!(got, expect);
                assert!(got.chunks(4).zip(frame.chunks(4)).all(|(g, f)| g[3] == f[3]));
            } else {
                assert!(b.has_matrix);
            }
        }
    }

    /// The operation as its docs define it, pixel by pixel.
    fn by_definition(op: &PixelOp, frame: &mut [u8], width: usize, first_row: usize) {
        for (i, px) in frame.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % width, first_row + i / width);
            let mut rgb = [px[0] as i32, px[1] as i32, px[2] as i32];
            if op.has_matrix {
                let m = &op.matrix;
                rgb = std::array::from_fn(|k| {
                    ((m[3 * k] * rgb[0] + m[3 * k + 1] * rgb[1] + m[3 * k + 2] * rgb[2] + MATRIX_ONE / 2)
                        >> 12)
                        .clamp(0, 255)
                });
            }
            let cell = if op.cell_count() == 1 {
                0
            } else {
                (y % 4) * 4 + x % 4
            };
            for c in 0..3 {
                px[c] = op.tables[cell][c][rgb[c] as usize];
            }
        }
    }

    #[test]
    fn every_path_gives_what_the_definition_says() {
        let mut rng = Rng::new(5);
        for width in [1, 3, 15, 16, 17, 40] {
            let h = 5;
            let frame: Vec<u8> = (0..width * h * 4).map(|_| rng.below(256) as u8).collect();
            for _ in 0..40 {
                let op = random_op(&mut rng);
                let mut want = frame.clone();
                by_definition(&op, &mut want, width, 2);
                // With byte permutes where the CPU has them, and the gathers and loads that
                // CPUs without them run.
                for permutes in [crate::simd::has_byte_permutes(), false] {
                    let mut got = frame.clone();
                    op.apply_on(&mut got, width, 2, permutes);
                    assert_eq!(
                        got, want,
                        "width {width}, matrix {}, cells {}, permutes {permutes}",
                        op.has_matrix, op.cells
                    );
                }
            }
        }
        // The block kernel compiled for the baseline CPU (not through `simd::widest`) agrees.
        let mut op = random_op(&mut rng);
        op.has_matrix = true;
        op.cells = 1;
        let wide: [[u32; 256]; 3] =
            std::array::from_fn(|c| std::array::from_fn(|v| op.tables[0][c][v] as u32));
        for _ in 0..100 {
            let mut block: [u8; BLOCK * 4] = std::array::from_fn(|_| rng.below(256) as u8);
            let mut want = block.to_vec();
            by_definition(&op, &mut want, BLOCK, 0);
            matrix_lookup_block(&op.matrix, &wide, &mut block);
            assert_eq!(block.to_vec(), want);
        }
    }

    #[test]
    fn rows_in_bands_give_the_same_as_the_whole_frame() {
        let mut rng = Rng::new(4);
        let (w, h) = (5, 11);
        let frame: Vec<u8> = (0..w * h * 4).map(|_| rng.below(256) as u8).collect();
        for _ in 0..50 {
            let op = random_op(&mut rng);
            let mut whole = frame.clone();
            op.apply(&mut whole, w, 0);
            let mut banded = frame.clone();
            for (i, band) in banded.chunks_mut(3 * w * 4).enumerate() {
                op.apply(band, w, i * 3);
            }
            assert_eq!(banded, whole);
        }
    }
}
