//! The terminal output: truecolor half-block characters, two pixels per cell, or the 256-colour
//! palette where truecolor is not advertised; raw mode and keys when it is a TTY.

use std::io::{self, Write};
use std::time::Duration;

use super::{Control, Output};

/// How colours are written to a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    /// 24-bit `38;2;r;g;b` sequences.
    True,
    /// The nearest of the 256-colour palette (`38;5;n`).
    Palette256,
}

impl Colors {
    /// Truecolor when `$COLORTERM` says `truecolor` or `24bit`, else the 256-colour palette.
    pub fn detect() -> Colors {
        match std::env::var("COLORTERM") {
            Ok(v) if v.eq_ignore_ascii_case("truecolor") || v.eq_ignore_ascii_case("24bit") => Colors::True,
            _ => Colors::Palette256,
        }
    }
}

/// The index of the nearest colour of the xterm 256-colour palette: the 6×6×6 cube (16–231) or
/// the grey ramp (232–255).
pub fn palette256(rgb: [u8; 3]) -> u8 {
    const LEVELS: [i32; 6] = [0, 95, 135, 175, 215, 255];
    let nearest_level = |v: u8| (0..6).min_by_key(|&i| (LEVELS[i] - v as i32).abs()).unwrap_or(0);
    let [r, g, b] = rgb.map(nearest_level);
    let cube = [LEVELS[r], LEVELS[g], LEVELS[b]];
    let dist = |c: [i32; 3]| (0..3).map(|i| (c[i] - rgb[i] as i32).pow(2)).sum::<i32>();
    let mean = rgb.iter().map(|&v| v as i32).sum::<i32>() / 3;
    let grey_step = ((mean - 8).max(0) / 10).min(23);
    let grey = 8 + 10 * grey_step;
    if dist([grey; 3]) < dist(cube) {
        232 + grey_step as u8
    } else {
        16 + (36 * r + 6 * g + b) as u8
    }
}

/// Draws frames with `▀` cells: foreground the upper pixel, background the lower one, and a
/// status line below. Frames wider than `max_columns` are box-averaged down by a whole factor.
/// The text of a frame is built in a reused buffer and written with one `write_all`.
///
/// Made with [`Terminal::stdout`] it is interactive: raw mode, keys become [`Control`]s, it
/// follows resizes, and it restores the terminal on finish, on drop and on panic.
#[derive(Debug)]
pub struct Terminal<W: Write + Send> {
    out: W,
    max_columns: usize,
    text: String,
    started: bool,
    colors: Colors,
    interactive: bool,
    /// Scratch for averaging: column sums, and the upper and lower pixel rows of a cell row.
    sums: Vec<[u32; 4]>,
    top: Vec<[u8; 3]>,
    bottom: Vec<[u8; 3]>,
}

impl<W: Write + Send> Terminal<W> {
    /// A non-interactive truecolor terminal output writing to `out`, at most `max_columns` wide.
    pub fn new(out: W, max_columns: usize) -> Self {
        Terminal {
            out,
            max_columns: max_columns.max(1),
            text: String::new(),
            started: false,
            colors: Colors::True,
            interactive: false,
            sums: Vec::new(),
            top: Vec::new(),
            bottom: Vec::new(),
        }
    }

    /// The same, writing colours as `colors`.
    pub fn with_colors(mut self, colors: Colors) -> Self {
        self.colors = colors;
        self
    }

    /// The whole-number downscale factor for a frame `width` pixels wide.
    pub fn scale_for(&self, width: u32) -> usize {
        (width as usize).div_ceil(self.max_columns).max(1)
    }

    /// The writer, for tests.
    pub fn writer(&self) -> &W {
        &self.out
    }

    fn restore(&mut self) -> io::Result<()> {
        self.out.write_all(b"\x1b[0m\x1b[?25h")?;
        self.out.flush()?;
        if std::mem::take(&mut self.interactive) {
            crossterm::terminal::disable_raw_mode()?;
        }
        Ok(())
    }
}

impl Terminal<io::Stdout> {
    /// The process's terminal: its width, its colours (`$COLORTERM`), and, when standard input
    /// is a terminal too, raw mode for keys. A panic restores the terminal before it reports.
    pub fn stdout() -> io::Result<Self> {
        use std::io::IsTerminal;
        let mut t = Terminal::new(io::stdout(), terminal_columns()).with_colors(Colors::detect());
        if io::stdin().is_terminal() {
            crossterm::terminal::enable_raw_mode()?;
            t.interactive = true;
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = crossterm::terminal::disable_raw_mode();
                let _ = io::stdout().write_all(b"\x1b[0m\x1b[?25h\r\n");
                previous(info);
            }));
        }
        Ok(t)
    }
}

impl<W: Write + Send> Drop for Terminal<W> {
    fn drop(&mut self) {
        if self.interactive {
            let _ = self.restore();
        }
    }
}

/// The average colours of row `by` of `k × k` blocks (black below the frame), one per block
/// column, into `out`; `sums` is scratch. One pass over the rows in order.
fn block_row(
    frame: &[u8],
    width: usize,
    height: usize,
    k: usize,
    by: usize,
    sums: &mut Vec<[u32; 4]>,
    out: &mut Vec<[u8; 3]>,
) {
    let cols = width.div_ceil(k);
    sums.clear();
    sums.resize(cols, [0; 4]);
    for y in by * k..((by + 1) * k).min(height) {
        let row = &frame[y * width * 4..(y + 1) * width * 4];
        for (s, block) in sums.iter_mut().zip(row.chunks(k * 4)) {
            for p in block.chunks_exact(4) {
                s[0] += p[0] as u32;
                s[1] += p[1] as u32;
                s[2] += p[2] as u32;
            }
            s[3] += (block.len() / 4) as u32;
        }
    }
    out.clear();
    out.extend(sums.iter().map(|s| match s[3] {
        0 => [0; 3],
        n => [0, 1, 2].map(|c| ((s[c] + n / 2) / n) as u8),
    }));
}

impl<W: Write + Send> Terminal<W> {
    fn color(&mut self, layer: u8, rgb: [u8; 3]) {
        use std::fmt::Write as _;
        let _ = match self.colors {
            Colors::True => write!(self.text, "\x1b[{layer};2;{};{};{}m", rgb[0], rgb[1], rgb[2]),
            Colors::Palette256 => write!(self.text, "\x1b[{layer};5;{}m", palette256(rgb)),
        };
    }
}

impl<W: Write + Send> Output for Terminal<W> {
    fn name(&self) -> &str {
        "terminal"
    }

    fn show(&mut self, frame: &[u8], width: u32, height: u32, status: &str) -> io::Result<()> {
        let (w, h) = (width as usize, height as usize);
        let k = self.scale_for(width);
        let (cols, rows) = (w.div_ceil(k), h.div_ceil(k).div_ceil(2));
        self.text.clear();
        if !self.started {
            self.text.push_str("\x1b[2J\x1b[?25l");
            self.started = true;
        }
        self.text.push_str("\x1b[H");
        for row in 0..rows {
            let (mut fg, mut bg) = (None, None);
            let (mut top, mut bottom) = (std::mem::take(&mut self.top), std::mem::take(&mut self.bottom));
            block_row(frame, w, h, k, row * 2, &mut self.sums, &mut top);
            block_row(frame, w, h, k, row * 2 + 1, &mut self.sums, &mut bottom);
            for (&upper, &lower) in top.iter().zip(&bottom).take(cols) {
                if fg != Some(upper) {
                    self.color(38, upper);
                    fg = Some(upper);
                }
                if bg != Some(lower) {
                    self.color(48, lower);
                    bg = Some(lower);
                }
                self.text.push('▀');
            }
            (self.top, self.bottom) = (top, bottom);
            self.text.push_str("\x1b[0m\r\n");
        }
        if !status.is_empty() {
            self.text.push_str("\x1b[K");
            self.text.extend(status.chars().take(self.max_columns));
            self.text.push_str("\r\n");
        }
        self.out.write_all(self.text.as_bytes())?;
        self.out.flush()
    }

    fn poll(&mut self, controls: &mut Vec<Control>) -> io::Result<()> {
        use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
        if !self.interactive {
            return Ok(());
        }
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => match key.code {
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        controls.push(Control::Quit)
                    }
                    KeyCode::Esc => controls.push(Control::Quit),
                    KeyCode::Char(c) => controls.extend(Control::for_key(c.to_ascii_lowercase())),
                    _ => {}
                },
                Event::Resize(columns, _) => {
                    self.max_columns = (columns as usize).max(1);
                    self.started = false;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.restore()
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
                match (&r[end..end + 1], nums.first(), nums.get(1)) {
                    ("m", Some(38), Some(2)) => fg = [nums[2], nums[3], nums[4]],
                    ("m", Some(48), Some(2)) => bg = [nums[2], nums[3], nums[4]],
                    ("m", Some(38), Some(5)) => fg = [nums[2], 0, 0],
                    ("m", Some(48), Some(5)) => bg = [nums[2], 0, 0],
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
        t.show(&frame, 3, 3, "").unwrap();
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
        t.show(&frame, 8, 1, "").unwrap();
        let got = cells(std::str::from_utf8(t.writer()).unwrap());
        assert_eq!(got, vec![vec![([100, 50, 25], [0, 0, 0]); 4]]);
    }

    #[test]
    fn the_palette_picks_the_nearest_cube_colour_or_grey() {
        assert_eq!(palette256([0, 0, 0]), 16);
        assert_eq!(palette256([255, 255, 255]), 231);
        assert_eq!(palette256([255, 0, 0]), 196);
        assert_eq!(palette256([0, 95, 255]), 16 + 6 + 5);
        // Mid grey is nearer a step of the ramp than any cube colour.
        assert_eq!(palette256([128, 128, 128]), 232 + 12);
    }

    #[test]
    fn without_truecolor_cells_use_the_palette() {
        let frame = [255u8, 0, 0, 255, 0, 0, 255, 255];
        let mut t = Terminal::new(Vec::new(), 80).with_colors(Colors::Palette256);
        t.show(&frame, 1, 2, "status").unwrap();
        let text = std::str::from_utf8(t.writer()).unwrap();
        assert!(
            text.contains("\x1b[38;5;196m") && text.contains("\x1b[48;5;21m"),
            "{text:?}"
        );
        assert!(text.contains("status"), "{text:?}");
        let got = cells(text.split("\x1b[K").next().unwrap());
        assert_eq!(got, vec![vec![([196, 0, 0], [21, 0, 0])]]);
    }
}
