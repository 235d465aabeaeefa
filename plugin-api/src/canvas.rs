//! The surface a renderer draws on: direct pixel access plus batched draw commands.
//!
//! A renderer may write pixels directly through [`Canvas::pixels`] or queue commands
//! ([`Canvas::fill`], [`Canvas::blit`], [`Canvas::set_pixel`]). Commands are recorded into a
//! host-owned [`DrawQueue`] (one boundary crossing for any number of them) and executed by the host
//! after `render` returns, in the order they were queued, on top of whatever was written directly.
//! The queue's vectors keep their capacity from frame to frame, so steady-state drawing does not
//! allocate.

use abi_stable::std_types::{RSliceMut, RVec};
use abi_stable::StableAbi;

use crate::types::{Rect, Rgba};

/// Bytes per pixel of every surface: RGBA8, straight alpha, rows top to bottom.
pub const BYTES_PER_PIXEL: usize = 4;

/// The largest side of a frame, in pixels: of a canvas a host makes, and of the output a
/// resizing processor may ask for.
pub const MAX_SIDE: u32 = 16384;

/// What a [`DrawCmd`] does.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawOp {
    /// Replace every pixel of `rect` with `color`.
    Fill,
    /// Alpha-over `rect.w × rect.h` RGBA8 pixels from the byte arena at `rect.x, rect.y`.
    Blit,
    /// Replace the pixels listed in the point arena.
    SetPixels,
}

/// One queued drawing command. Its payload, if any, lives in the [`DrawQueue`]'s arenas.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawCmd {
    /// What to do.
    pub op: DrawOp,
    /// Where: the filled or blitted rectangle (unused by `SetPixels`).
    pub rect: Rect,
    /// Fill colour (unused otherwise).
    pub color: Rgba,
    /// First element of the payload in its arena.
    pub start: u32,
    /// Number of payload elements (bytes for `Blit`, points for `SetPixels`).
    pub len: u32,
}

/// One pixel to set: position and colour.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
    /// Colour written there (replaces what was there).
    pub color: Rgba,
}

/// Host-owned storage for one layer's queued commands. Cleared, not freed, after each frame.
#[repr(C)]
#[derive(StableAbi, Debug, Default)]
pub struct DrawQueue {
    commands: RVec<DrawCmd>,
    points: RVec<Point>,
    bytes: RVec<u8>,
}

impl DrawQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of queued commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Drops every queued command, keeping the capacity.
    pub fn clear(&mut self) {
        self.commands.clear();
        self.points.clear();
        self.bytes.clear();
    }

    /// Executes every queued command on `pixels` (`width × height` RGBA8) in order, then empties
    /// the queue, keeping its capacity.
    pub fn execute(&mut self, width: u32, height: u32, pixels: &mut [u8]) {
        debug_assert_eq!(pixels.len(), width as usize * height as usize * BYTES_PER_PIXEL);
        for cmd in self.commands.iter() {
            match cmd.op {
                DrawOp::Fill => fill(width, height, pixels, cmd.rect, cmd.color),
                DrawOp::Blit => {
                    let data = &self.bytes[cmd.start as usize..(cmd.start + cmd.len) as usize];
                    blit_over(width, height, pixels, cmd.rect, data);
                }
                DrawOp::SetPixels => {
                    let points = &self.points[cmd.start as usize..(cmd.start + cmd.len) as usize];
                    for p in points {
                        if p.x >= 0 && p.y >= 0 && (p.x as u32) < width && (p.y as u32) < height {
                            let at = (p.y as usize * width as usize + p.x as usize) * BYTES_PER_PIXEL;
                            pixels[at..at + 4].copy_from_slice(&p.color.to_array());
                        }
                    }
                }
            }
        }
        self.clear();
    }
}

/// Maps the red, green and blue bytes of every RGBA8 pixel of `frame` through `lut`, leaving
/// alpha: the one pass of every per-channel lookup-table processor.
pub fn map_rgb(frame: &mut [u8], lut: &[u8; 256]) {
    crate::simd::map_rgb(frame, [lut; 3]);
}

/// The clipped column and row ranges of `rect` on a `width × height` surface.
fn clip(width: u32, height: u32, rect: Rect) -> Option<(usize, usize, usize, usize)> {
    let x0 = rect.x.max(0) as i64;
    let y0 = rect.y.max(0) as i64;
    let x1 = (rect.x as i64 + rect.w as i64).min(width as i64);
    let y1 = (rect.y as i64 + rect.h as i64).min(height as i64);
    (x0 < x1 && y0 < y1).then_some((x0 as usize, x1 as usize, y0 as usize, y1 as usize))
}

fn fill(width: u32, height: u32, pixels: &mut [u8], rect: Rect, color: Rgba) {
    let Some((x0, x1, y0, y1)) = clip(width, height, rect) else {
        return;
    };
    let c = color.to_array();
    let stride = width as usize * BYTES_PER_PIXEL;
    for y in y0..y1 {
        let row = &mut pixels[y * stride + x0 * 4..y * stride + x1 * 4];
        for px in row.chunks_exact_mut(4) {
            px.copy_from_slice(&c);
        }
    }
}

/// Straight-alpha "over" of one channel, rounded to nearest: `(s·a + d·(255−a)) / 255`.
#[inline]
fn over(s: u8, d: u8, a: u32) -> u8 {
    let v = s as u32 * a + d as u32 * (255 - a);
    ((v + 127) / 255) as u8
}

fn blit_over(width: u32, height: u32, pixels: &mut [u8], rect: Rect, data: &[u8]) {
    let Some((x0, x1, y0, y1)) = clip(width, height, rect) else {
        return;
    };
    let stride = width as usize * BYTES_PER_PIXEL;
    let src_stride = rect.w as usize * BYTES_PER_PIXEL;
    for y in y0..y1 {
        let sy = (y as i64 - rect.y as i64) as usize;
        for x in x0..x1 {
            let sx = (x as i64 - rect.x as i64) as usize;
            let s = &data[sy * src_stride + sx * 4..sy * src_stride + sx * 4 + 4];
            let d = &mut pixels[y * stride + x * 4..y * stride + x * 4 + 4];
            let a = s[3] as u32;
            match a {
                0 => {}
                255 => d.copy_from_slice(s),
                _ => {
                    d[0] = over(s[0], d[0], a);
                    d[1] = over(s[1], d[1], a);
                    d[2] = over(s[2], d[2], a);
                    d[3] = (a + (d[3] as u32 * (255 - a) + 127) / 255) as u8;
                }
            }
        }
    }
}

/// A renderer's view of its layer for one frame.
#[repr(C)]
#[derive(StableAbi)]
pub struct Canvas<'a> {
    width: u32,
    height: u32,
    pixels: RSliceMut<'a, u8>,
    queue: &'a mut DrawQueue,
}

impl<'a> Canvas<'a> {
    /// A canvas over `pixels` (`width × height` RGBA8) that queues commands into `queue`.
    ///
    /// # Panics
    /// If `pixels` is not exactly `width × height × 4` bytes long.
    pub fn new(width: u32, height: u32, pixels: &'a mut [u8], queue: &'a mut DrawQueue) -> Self {
        assert_eq!(
            pixels.len(),
            width as usize * height as usize * BYTES_PER_PIXEL,
            "canvas pixel slice does not match its size"
        );
        Canvas {
            width,
            height,
            pixels: pixels.into(),
            queue,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The layer's pixels, RGBA8 straight alpha, row-major. The host cleared them to transparent
    /// before this frame unless the layer is configured to persist.
    pub fn pixels(&mut self) -> &mut [u8] {
        self.pixels.as_mut_slice()
    }

    /// Queues: replace every pixel of `rect` with `color`.
    pub fn fill(&mut self, rect: Rect, color: Rgba) {
        self.queue.commands.push(DrawCmd {
            op: DrawOp::Fill,
            rect,
            color,
            start: 0,
            len: 0,
        });
    }

    /// Queues: fill the whole surface with `color`.
    pub fn clear(&mut self, color: Rgba) {
        self.fill(Rect::new(0, 0, self.width, self.height), color);
    }

    /// Queues: alpha-over `w × h` RGBA8 pixels (`rgba.len() == w·h·4`) with their top-left corner
    /// at `x, y`. The pixels are copied, so `rgba` need not outlive the call.
    ///
    /// # Panics
    /// If `rgba` has the wrong length.
    pub fn blit(&mut self, x: i32, y: i32, w: u32, h: u32, rgba: &[u8]) {
        assert_eq!(
            rgba.len(),
            w as usize * h as usize * BYTES_PER_PIXEL,
            "blit size mismatch"
        );
        let start = self.queue.bytes.len() as u32;
        self.queue.bytes.extend_from_slice(rgba);
        self.queue.commands.push(DrawCmd {
            op: DrawOp::Blit,
            rect: Rect::new(x, y, w, h),
            color: Rgba::TRANSPARENT,
            start,
            len: rgba.len() as u32,
        });
    }

    /// Queues: set one pixel. Consecutive calls are batched into one command.
    pub fn set_pixel(&mut self, x: i32, y: i32, color: Rgba) {
        self.set_pixels(&[Point { x, y, color }]);
    }

    /// Queues: set many pixels, batched with an immediately preceding `set_pixel(s)` call.
    pub fn set_pixels(&mut self, points: &[Point]) {
        let start = self.queue.points.len() as u32;
        self.queue.points.extend_from_slice(points);
        if let Some(last) = self.queue.commands.last_mut() {
            if last.op == DrawOp::SetPixels && last.start + last.len == start {
                last.len += points.len() as u32;
                return;
            }
        }
        self.queue.commands.push(DrawCmd {
            op: DrawOp::SetPixels,
            rect: Rect::new(0, 0, 0, 0),
            color: Rgba::TRANSPARENT,
            start,
            len: points.len() as u32,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(w: u32, h: u32, draw: impl FnOnce(&mut Canvas<'_>)) -> Vec<u8> {
        let mut px = vec![0u8; (w * h * 4) as usize];
        let mut q = DrawQueue::new();
        draw(&mut Canvas::new(w, h, &mut px, &mut q));
        q.execute(w, h, &mut px);
        assert!(q.is_empty());
        px
    }

    #[test]
    fn fill_is_clipped() {
        let px = run(3, 2, |c| c.fill(Rect::new(-1, 1, 3, 5), Rgba::WHITE));
        let expect = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0,
        ];
        assert_eq!(px, expect);
    }

    #[test]
    fn set_pixels_batch_into_one_command() {
        let mut px = vec![0u8; 16];
        let mut q = DrawQueue::new();
        let mut c = Canvas::new(2, 2, &mut px, &mut q);
        c.set_pixel(0, 0, Rgba::WHITE);
        c.set_pixel(1, 1, Rgba::WHITE);
        c.set_pixel(5, 5, Rgba::WHITE);
        assert_eq!(q.len(), 1);
        q.execute(2, 2, &mut px);
        assert_eq!(&px[0..4], &[255; 4]);
        assert_eq!(&px[12..16], &[255; 4]);
        assert_eq!(&px[4..12], &[0; 8]);
    }

    #[test]
    fn blit_blends_over_and_commands_run_in_order() {
        let px = run(2, 1, |c| {
            c.clear(Rgba::rgb(0, 0, 200));
            c.blit(1, 0, 1, 1, &[255, 0, 0, 128]);
            c.blit(-1, 0, 1, 1, &[9, 9, 9, 255]); // fully clipped
        });
        assert_eq!(&px[0..4], &[0, 0, 200, 255]);
        // 255·128/255 = 128; 200·127/255 = 99.6 → 100
        assert_eq!(&px[4..8], &[128, 0, 100, 255]);
    }
}
