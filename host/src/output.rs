//! Where frames go when a scene runs live: a truecolor terminal (half-block characters, two
//! pixels per cell) or nowhere (headless), paced to the scene's frame rate.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// A live output. Each receives every finished frame (RGBA8, `width × height`).
pub trait Output {
    /// Shows one frame.
    fn show(&mut self, frame: &[u8], width: u32, height: u32) -> io::Result<()>;
    /// Restores whatever the output changed (colours, cursor).
    fn finish(&mut self) -> io::Result<()>;
    /// A short name for logs.
    fn name(&self) -> &'static str;
}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct Headless;

impl Output for Headless {
    fn show(&mut self, _frame: &[u8], _width: u32, _height: u32) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "headless"
    }
}

/// Draws frames with `▀` cells: foreground the upper pixel, background the lower one. Frames wider
/// than `max_columns` are box-averaged down by a whole factor. The text of a frame is built in a
/// reused buffer and written with one `write_all`.
#[derive(Debug)]
pub struct Terminal<W: Write> {
    out: W,
    max_columns: usize,
    text: String,
    started: bool,
}

impl<W: Write> Terminal<W> {
    /// A terminal output writing to `out`, at most `max_columns` cells wide.
    pub fn new(out: W, max_columns: usize) -> Self {
        Terminal {
            out,
            max_columns: max_columns.max(1),
            text: String::new(),
            started: false,
        }
    }

    /// The whole-number downscale factor for a frame `width` pixels wide.
    pub fn scale_for(&self, width: u32) -> usize {
        (width as usize).div_ceil(self.max_columns).max(1)
    }

    /// The writer, for tests.
    pub fn writer(&self) -> &W {
        &self.out
    }
}

/// The average colour of the `k × k` block at `(bx, by)` (in blocks); black outside the frame.
fn block(frame: &[u8], width: usize, height: usize, k: usize, bx: usize, by: usize) -> [u8; 3] {
    let (mut sum, mut n) = ([0u32; 3], 0u32);
    for y in by * k..((by + 1) * k).min(height) {
        for x in bx * k..((bx + 1) * k).min(width) {
            let p = &frame[(y * width + x) * 4..];
            for c in 0..3 {
                sum[c] += p[c] as u32;
            }
            n += 1;
        }
    }
    if n == 0 {
        return [0; 3];
    }
    sum.map(|s| ((s + n / 2) / n) as u8)
}

impl<W: Write> Output for Terminal<W> {
    fn show(&mut self, frame: &[u8], width: u32, height: u32) -> io::Result<()> {
        use std::fmt::Write as _;
        let (w, h) = (width as usize, height as usize);
        let k = self.scale_for(width);
        let (cols, rows) = (w.div_ceil(k), h.div_ceil(k).div_ceil(2));
        self.text.clear();
        if !self.started {
            self.text.push_str("\x1b[2J");
            self.started = true;
        }
        self.text.push_str("\x1b[H");
        for row in 0..rows {
            let (mut fg, mut bg) = (None, None);
            for col in 0..cols {
                let top = block(frame, w, h, k, col, row * 2);
                let bottom = block(frame, w, h, k, col, row * 2 + 1);
                if fg != Some(top) {
                    let _ = write!(self.text, "\x1b[38;2;{};{};{}m", top[0], top[1], top[2]);
                    fg = Some(top);
                }
                if bg != Some(bottom) {
                    let _ = write!(self.text, "\x1b[48;2;{};{};{}m", bottom[0], bottom[1], bottom[2]);
                    bg = Some(bottom);
                }
                self.text.push('▀');
            }
            self.text.push_str("\x1b[0m\r\n");
        }
        self.out.write_all(self.text.as_bytes())?;
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.write_all(b"\x1b[0m")?;
        self.out.flush()
    }

    fn name(&self) -> &'static str {
        "terminal"
    }
}

/// The terminal's width in columns: asked of the terminal, else `$COLUMNS`, else 80.
pub fn terminal_columns() -> usize {
    if let Ok((cols, _)) = crossterm::terminal::size() {
        return cols as usize;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(80)
}

/// Drift-free pacing: frame `n` is due at `start + n / fps`, whatever earlier frames took.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    period: Duration,
    frames: u64,
    /// Frames that finished after their deadline.
    pub overruns: u64,
}

impl Pacer {
    /// A pacer for `fps` starting now.
    pub fn new(fps: f64) -> Self {
        Pacer {
            start: Instant::now(),
            period: Duration::from_secs_f64(1.0 / fps),
            frames: 0,
            overruns: 0,
        }
    }

    /// Waits until the next frame is due. A frame that ends past its slot is counted as an
    /// overrun, and the schedule re-anchors so that a stall is not followed by a burst.
    pub fn wait(&mut self) {
        self.frames += 1;
        let due = self.start + self.period.mul_f64(self.frames as f64);
        let now = Instant::now();
        if now > due {
            self.overruns += 1;
            self.start = now;
            self.frames = 0;
        } else {
            std::thread::sleep(due - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the terminal text back into (fg, bg) colour per cell.
    fn cells(text: &str) -> Vec<Vec<([u8; 3], [u8; 3])>> {
        let mut rows = vec![];
        let (mut fg, mut bg, mut row) = ([0; 3], [0; 3], vec![]);
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("\x1b[") {
                let end = r.find(|c: char| c.is_ascii_alphabetic()).unwrap();
                let nums: Vec<u8> = r[..end].split(';').filter_map(|n| n.parse().ok()).collect();
                match (&r[end..end + 1], nums.first()) {
                    ("m", Some(38)) => fg = [nums[2], nums[3], nums[4]],
                    ("m", Some(48)) => bg = [nums[2], nums[3], nums[4]],
                    _ => {}
                }
                rest = &r[end + 1..];
            } else if let Some(r) = rest.strip_prefix('▀') {
                row.push((fg, bg));
                rest = r;
            } else if let Some(r) = rest.strip_prefix("\r\n") {
                rows.push(std::mem::take(&mut row));
                rest = r;
            } else {
                panic!("unexpected text {rest:?}");
            }
        }
        rows
    }

    #[test]
    fn cells_carry_the_frame_colours() {
        // 3×3 frame: pixel (x, y) = (x·80, y·80, 7).
        let frame: Vec<u8> = (0..9)
            .flat_map(|i| [(i % 3 * 80) as u8, (i / 3 * 80) as u8, 7, 255])
            .collect();
        let mut t = Terminal::new(Vec::new(), 80);
        t.show(&frame, 3, 3).unwrap();
        let got = cells(std::str::from_utf8(t.writer()).unwrap());
        assert_eq!(got.len(), 2);
        for (r, row) in got.iter().enumerate() {
            assert_eq!(row.len(), 3);
            for (x, &(fg, bg)) in row.iter().enumerate() {
                assert_eq!(fg, [(x * 80) as u8, (r * 160) as u8, 7]);
                let below = if r * 2 + 1 < 3 {
                    [(x * 80) as u8, ((r * 2 + 1) * 80) as u8, 7]
                } else {
                    [0, 0, 0]
                };
                assert_eq!(bg, below);
            }
        }
    }

    #[test]
    fn wide_frames_are_averaged_down() {
        let frame: Vec<u8> = [[0, 0, 0, 255], [200, 100, 50, 255]].repeat(4).concat(); // 8×1
        let mut t = Terminal::new(Vec::new(), 4);
        assert_eq!(t.scale_for(8), 2);
        t.show(&frame, 8, 1).unwrap();
        let got = cells(std::str::from_utf8(t.writer()).unwrap());
        assert_eq!(got, vec![vec![([100, 50, 25], [0, 0, 0]); 4]]);
    }
}
