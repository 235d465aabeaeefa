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
/// Only the cells that changed since the last frame are written (a cursor move where the next
/// changed cell does not follow the last one written), so the bytes of a frame grow with the
/// cells that changed; the first frame, and the first after a resize, are drawn whole. The text
/// of a frame is built in a reused buffer and written with one `write_all`.
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
    /// What the screen shows: each cell's upper and lower colour, row by row, `shown_size`
    /// (columns, rows) of them, and the status line.
    shown: Vec<([u8; 3], [u8; 3])>,
    shown_size: (usize, usize),
    shown_status: String,
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
            shown: Vec::new(),
            shown_size: (0, 0),
            shown_status: String::new(),
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
        if self.started {
            // Below the status line, where what is printed next belongs.
            self.text.clear();
            self.move_to(self.shown_size.1 + 1, 0);
            self.out.write_all(self.text.as_bytes())?;
        }
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

/// Appends `n` in decimal.
fn push_number(text: &mut String, n: usize) {
    text.push_str(itoa::Buffer::new().format(n));
}

impl<W: Write + Send> Terminal<W> {
    /// Sets the upper (`fg`) and lower (`bg`) colours of the cells written next, those that
    /// are given, in one SGR sequence.
    fn colors(&mut self, fg: Option<[u8; 3]>, bg: Option<[u8; 3]>) {
        if fg.is_none() && bg.is_none() {
            return;
        }
        self.text.push_str("\x1b[");
        if let Some(rgb) = fg {
            self.color(38, rgb);
        }
        if let Some(rgb) = bg {
            if fg.is_some() {
                self.text.push(';');
            }
            self.color(48, rgb);
        }
        self.text.push('m');
    }

    /// The parameters of an SGR colour: `38;2;r;g;b` or `38;5;n` (`48` for the background).
    fn color(&mut self, layer: u8, rgb: [u8; 3]) {
        push_number(&mut self.text, layer as usize);
        match self.colors {
            Colors::True => {
                self.text.push_str(";2");
                for v in rgb {
                    self.text.push(';');
                    push_number(&mut self.text, v as usize);
                }
            }
            Colors::Palette256 => {
                self.text.push_str(";5;");
                push_number(&mut self.text, palette256(rgb) as usize);
            }
        }
    }

    /// Moves the cursor to `row`, `column` (from 0).
    fn move_to(&mut self, row: usize, column: usize) {
        self.text.push_str("\x1b[");
        push_number(&mut self.text, row + 1);
        self.text.push(';');
        push_number(&mut self.text, column + 1);
        self.text.push('H');
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
        // The first frame, and the first of another size or after a resize, are drawn whole.
        let whole = !self.started || self.shown_size != (cols, rows);
        if whole {
            self.text.push_str("\x1b[0m\x1b[2J\x1b[?25l");
            self.started = true;
            self.shown.clear();
            self.shown.resize(cols * rows, ([0; 3], [0; 3]));
            self.shown_size = (cols, rows);
            self.shown_status.clear();
        }
        let (mut fg, mut bg) = (None, None);
        // Where the next cell written lands without a cursor move.
        let mut cursor = None;
        for row in 0..rows {
            let (mut top, mut bottom) = (std::mem::take(&mut self.top), std::mem::take(&mut self.bottom));
            block_row(frame, w, h, k, row * 2, &mut self.sums, &mut top);
            block_row(frame, w, h, k, row * 2 + 1, &mut self.sums, &mut bottom);
            for (col, (&upper, &lower)) in top.iter().zip(&bottom).take(cols).enumerate() {
                let at = row * cols + col;
                if !whole && self.shown[at] == (upper, lower) {
                    continue;
                }
                self.shown[at] = (upper, lower);
                if cursor != Some((row, col)) {
                    self.move_to(row, col);
                }
                let set_fg = (fg != Some(upper)).then_some(upper);
                let set_bg = (bg != Some(lower)).then_some(lower);
                self.colors(set_fg, set_bg);
                (fg, bg) = (Some(upper), Some(lower));
                self.text.push('▀');
                cursor = Some((row, col + 1));
            }
            (self.top, self.bottom) = (top, bottom);
        }
        if whole || status != self.shown_status {
            self.move_to(rows, 0);
            self.text.push_str("\x1b[0m\x1b[K");
            self.text.extend(status.chars().take(self.max_columns));
            self.shown_status.clear();
            self.shown_status.push_str(status);
        } else if fg.is_some() {
            self.text.push_str("\x1b[0m");
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

    /// What a terminal shows after `bytes` (read by the `vt100` emulator): the (fg, bg) colour
    /// of each `▀` cell, row by row from the top, up to the first row without one (an indexed
    /// colour `n` as `[n, 0, 0]`).
    pub(crate) fn screen(bytes: &[u8]) -> Vec<Vec<([u8; 3], [u8; 3])>> {
        let size = |n: u16| std::num::NonZeroU16::new(n).expect("not zero");
        let mut parser = vt100::Parser::new(size(100), size(300), 0);
        parser.process(bytes);
        let color = |c: vt100::Color| match c {
            vt100::Color::Rgb(r, g, b) => [r, g, b],
            vt100::Color::Idx(n) => [n, 0, 0],
            vt100::Color::Default => [0, 0, 0],
        };
        let mut rows = Vec::new();
        for r in 0..100 {
            let row: Vec<_> = (0..300)
                .map_while(|c| parser.screen().cell(r, c).filter(|cell| cell.contents() == "▀"))
                .map(|cell| (color(cell.fgcolor()), color(cell.bgcolor())))
                .collect();
            if row.is_empty() {
                break;
            }
            rows.push(row);
        }
        rows
    }

    fn cells(text: &str) -> Vec<Vec<([u8; 3], [u8; 3])>> {
        screen(text.as_bytes())
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
        assert!(text.contains("\x1b[38;5;196;48;5;21m"), "{text:?}");
        assert!(text.contains("status"), "{text:?}");
        let got = cells(text);
        assert_eq!(got, vec![vec![([196, 0, 0], [21, 0, 0])]]);
    }

    /// A frame: pixel (x, y) = (x·8 + shift, y·8, 7), `w × h`.
    fn ramp(w: usize, h: usize, shift: u8) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| [((i % w) * 8) as u8 ^ shift, ((i / w) * 8) as u8, 7, 255])
            .collect()
    }

    #[test]
    fn only_changed_cells_are_written_and_the_screen_follows_every_frame() {
        let (w, h) = (24, 10);
        let mut t = Terminal::new(Vec::new(), 80);
        t.show(&ramp(w, h, 0), w as u32, h as u32, "one").unwrap();
        let first = t.writer().len();
        // The same frame and status again: nothing but the colour reset.
        t.show(&ramp(w, h, 0), w as u32, h as u32, "one").unwrap();
        let unchanged = t.writer().len() - first;
        assert!(unchanged <= 8, "{unchanged} bytes for an unchanged frame");
        // One pixel changed: one cell written, with a cursor move and its colours.
        let mut one = ramp(w, h, 0);
        one[(3 * w + 5) * 4] = 255;
        let before = t.writer().len();
        t.show(&one, w as u32, h as u32, "one").unwrap();
        let written = std::str::from_utf8(&t.writer()[before..]).unwrap().to_string();
        assert_eq!(written.matches('▀').count(), 1, "{written:?}");
        assert!(written.len() < 60, "{written:?}");
        // Frames that change in places and in whole: the screen is always the last frame drawn whole.
        let mut sizes = Vec::new();
        for (n, frame) in [ramp(w, h, 3), ramp(w, h, 3), ramp(w, h, 64), one.clone()]
            .iter()
            .enumerate()
        {
            let before = t.writer().len();
            t.show(frame, w as u32, h as u32, &format!("frame {n}")).unwrap();
            sizes.push(t.writer().len() - before);
            let mut whole = Terminal::new(Vec::new(), 80);
            whole.show(frame, w as u32, h as u32, "").unwrap();
            assert_eq!(screen(t.writer()), screen(whole.writer()), "frame {n}");
        }
        // A frame like the one before costs only its new status line.
        assert!(sizes[1] < 30, "{sizes:?}");
        assert!(
            sizes[0] > first / 2,
            "every cell changed: {sizes:?}, first {first}"
        );
    }
}
