//! The shared frame accumulator: a pool of reused layer buffers and the compositor that stacks
//! layers into the final RGBA8 frame.
//!
//! Compositing rule (`normal` blend, straight alpha, over an opaque canvas): with
//! `a = round(alpha · opacity)` in 0..=255, each channel becomes `(src·a + dst·(255 − a) + 127) / 255`
//! (integer division, i.e. rounded to nearest), and the frame stays opaque. `a = 0` leaves the
//! pixel and `a = 255` copies the source, exactly.

use bevy_ecs::resource::Resource;
use marquee_plugin_api::Rgba;

use crate::scene::{CanvasSpec, Mode};

/// Reusable byte buffers, so that layers created after start-up (reloads, new scenes) reuse
/// memory instead of allocating.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
    fresh: usize,
}

impl BufferPool {
    /// A zeroed buffer of `len` bytes: a pooled one if any is big enough, else a new one.
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        match self.free.iter().position(|b| b.capacity() >= len) {
            Some(i) => {
                let mut b = self.free.swap_remove(i);
                b.clear();
                b.resize(len, 0);
                b
            }
            None => {
                self.fresh += 1;
                vec![0; len]
            }
        }
    }

    /// Returns a buffer to the pool.
    pub fn give(&mut self, buf: Vec<u8>) {
        self.free.push(buf);
    }

    /// How many buffers the pool ever had to allocate.
    pub fn allocated(&self) -> usize {
        self.fresh
    }

    /// How many buffers wait for reuse.
    pub fn idle(&self) -> usize {
        self.free.len()
    }
}

/// The final frame being built, plus the buffer pool. An ECS resource.
#[derive(Debug, Resource)]
pub struct Accumulator {
    canvas: CanvasSpec,
    frame: Vec<u8>,
    /// Layer buffers, reused across scene changes.
    pub pool: BufferPool,
}

impl Accumulator {
    /// An accumulator for `canvas`.
    pub fn new(canvas: CanvasSpec) -> Self {
        Accumulator {
            canvas,
            frame: vec![0; canvas.width as usize * canvas.height as usize * 4],
            pool: BufferPool::default(),
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

    /// Composites one layer's `pixels` (its surface for `mode`) at `opacity` onto the frame.
    pub fn composite(&mut self, mode: Mode, opacity: f32, pixels: &[u8]) {
        let op = (opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
        if op == 0 {
            return;
        }
        let stride = self.canvas.width as usize * 4;
        match mode {
            Mode::Full => over(&mut self.frame, pixels, op),
            Mode::Mirrored => {
                let (tw, th) = self.canvas.tile();
                let (cols, rows) = self.canvas.panels;
                let trow = tw as usize * 4;
                for r in 0..rows as usize {
                    for c in 0..cols as usize {
                        for y in 0..th as usize {
                            let d = (r * th as usize + y) * stride + c * trow;
                            over(
                                &mut self.frame[d..d + trow],
                                &pixels[y * trow..(y + 1) * trow],
                                op,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Straight-alpha "over" of `src` onto opaque `dst`, with opacity `op` (0..=255).
pub fn over(dst: &mut [u8], src: &[u8], op: u32) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let a = (s[3] as u32 * op + 127) / 255;
        match a {
            0 => {}
            255 => {
                d[..3].copy_from_slice(&s[..3]);
                d[3] = 255;
            }
            _ => {
                let na = 255 - a;
                d[0] = ((s[0] as u32 * a + d[0] as u32 * na + 127) / 255) as u8;
                d[1] = ((s[1] as u32 * a + d[1] as u32 * na + 127) / 255) as u8;
                d[2] = ((s[2] as u32 * a + d[2] as u32 * na + 127) / 255) as u8;
                d[3] = 255;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: u32, h: u32, panels: (u32, u32)) -> CanvasSpec {
        CanvasSpec {
            width: w,
            height: h,
            panels,
            background: Rgba::rgb(10, 20, 30),
        }
    }

    #[test]
    fn over_matches_float_reference_within_rounding() {
        let mut rng = marquee_plugin_api::Rng::new(9);
        for _ in 0..10_000 {
            let s: [u8; 4] = (rng.next_u64() as u32).to_le_bytes();
            let d0: [u8; 4] = [
                rng.below(256) as u8,
                rng.below(256) as u8,
                rng.below(256) as u8,
                255,
            ];
            let op = rng.below(256);
            let mut d = d0;
            over(&mut d, &s, op);
            let a = (s[3] as f64 * op as f64 / 255.0).round() / 255.0;
            for c in 0..3 {
                let want = s[c] as f64 * a + d0[c] as f64 * (1.0 - a);
                assert!(
                    (d[c] as f64 - want).abs() <= 0.5 + 1e-9,
                    "{s:?} over {d0:?} at {op}: {d:?}"
                );
            }
            assert_eq!(d[3], 255);
        }
    }

    #[test]
    fn mirrored_layer_repeats_its_tile_on_every_panel() {
        let mut acc = Accumulator::new(canvas(4, 2, (2, 1)));
        acc.begin();
        // 2×2 tile: one opaque red pixel at (1, 0).
        let mut tile = vec![0u8; 16];
        tile[4..8].copy_from_slice(&[255, 0, 0, 255]);
        acc.composite(Mode::Mirrored, 1.0, &tile);
        let f = acc.frame();
        let px = |x: usize, y: usize| &f[(y * 4 + x) * 4..(y * 4 + x) * 4 + 4];
        assert_eq!(px(1, 0), [255, 0, 0, 255]);
        assert_eq!(px(3, 0), [255, 0, 0, 255]);
        assert_eq!(px(0, 0), [10, 20, 30, 255]);
        assert_eq!(px(2, 1), [10, 20, 30, 255]);
    }

    #[test]
    fn pool_reuses_buffers() {
        let mut pool = BufferPool::default();
        let a = pool.take(64);
        pool.give(a);
        let b = pool.take(32);
        assert_eq!(b.len(), 32);
        assert_eq!(pool.allocated(), 1);
    }
}
