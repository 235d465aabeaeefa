//! `life`: Conway's Game of Life on the layer's pixel grid, seeded, wrapping at the edges, and
//! reseeded when it goes stale.
//!
//! The generation shown at a frame is `floor(time · generations_per_second)`, so the pace is the
//! same at any frame rate. The board is state: it is carried by `snapshot`/`restore`, and a frame
//! further on than the board is reached by stepping, at most [`MAX_CELL_UPDATES_PER_FRAME`] cells'
//! worth per frame: a board that cannot keep up (a huge one at a high rate, a live show that
//! skipped far ahead) runs behind its generation instead of stalling the show, and the frames it
//! ran behind are counted (`behind`). Stale means: the population died out, or the
//! board repeated one of its last four states (still lifes and short oscillators) for
//! `stale_generations` generations in a row. The new board comes from the instance seed and the
//! generation, so reseeding is deterministic too.

use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin, Rgba, Rng,
    declare_plugin, fields_of, parse_config, rng::mix,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "life",
    version: env!("CARGO_PKG_VERSION"),
    description: "Conway's Game of Life",
    renderer: Some(Factory {
        doc: "One cell per pixel: live cells in `alive`, dead ones in `dead`; reseeds with `density` when the board goes stale.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Config of a `life` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Share of cells alive after a (re)seed.
    #[default(0.3)]
    #[schemars(range(min = 0, max = 1))]
    pub density: f64,
    /// Pace of the simulation.
    #[default(10.0)]
    #[schemars(range(min = 0, max = 1000))]
    pub generations_per_second: f64,
    /// Colour of live cells.
    #[default(Rgba::rgb(0x40, 0xff, 0x80))]
    pub alive: Rgba,
    /// Colour of dead cells (transparent by default).
    #[default(Rgba::TRANSPARENT)]
    pub dead: Rgba,
    /// Edges wrap around (a torus); otherwise outside is dead.
    #[default(true)]
    pub wrap: bool,
    /// Reseed after this many repetitive generations.
    #[default(30)]
    #[schemars(range(min = 1, max = 1000000))]
    pub stale_generations: u32,
}

/// The simulation: two boards (current and scratch) allocated once.
/// The most cell updates one frame may make (about 0.2 s of stepping on one core): a `w × h` board steps at
/// most `max(1, this / (w · h))` generations per frame.
pub const MAX_CELL_UPDATES_PER_FRAME: u64 = 1 << 24;

/// The renderer: the board, its generation and its recent history.
pub struct Life {
    config: Config,
    seed: u64,
    width: usize,
    height: usize,
    cells: Vec<u8>,
    next: Vec<u8>,
    /// Column sums of the row being stepped.
    cols: Vec<u8>,
    /// The generation `cells` shows; `None` before the first seed.
    generation: Option<u64>,
    /// Hashes of the last four boards.
    recent: [u64; 4],
    /// Consecutive generations that repeated a recent board.
    stale_for: u32,
    /// Frames whose board was short of the generation due.
    behind: u64,
}

impl Life {
    /// A board of `width × height` for `config`, seeded from `seed`.
    pub fn new(config: Config, width: u32, height: u32, seed: u64) -> Self {
        let n = width as usize * height as usize;
        Life {
            config,
            seed,
            width: width as usize,
            height: height as usize,
            cells: vec![0; n],
            next: vec![0; n],
            cols: vec![0; width as usize],
            generation: None,
            recent: [0; 4],
            stale_for: 0,
            behind: 0,
        }
    }

    /// The board: 1 alive, 0 dead, row-major.
    pub fn cells(&self) -> &[u8] {
        &self.cells
    }

    fn seed_board(&mut self, generation: u64) {
        let mut rng = Rng::new(mix(self.seed ^ mix(generation)));
        let threshold = (self.config.density * (1u64 << 32) as f64) as u64;
        for c in &mut self.cells {
            *c = ((rng.next_u64() >> 32) < threshold) as u8;
        }
        self.recent = [0; 4];
        self.stale_for = 0;
    }

    fn hash(&self) -> u64 {
        self.cells.chunks(8).fold(0x9E37_79B9_7F4A_7C15, |h, c| {
            let mut word = 0u64;
            for (i, &b) in c.iter().enumerate() {
                word |= (b as u64) << (i * 8);
            }
            mix(h ^ word)
        })
    }

    /// Advances one generation (reseeding if the board went stale).
    ///
    /// Per row, the three-cell column sums are taken once; each cell's neighbour count is then
    /// the sum of three adjacent column sums less the cell itself.
    pub fn step(&mut self) {
        let (w, h) = (self.width, self.height);
        let wrap = self.config.wrap;
        for y in 0..h {
            let up = if y > 0 {
                Some(y - 1)
            } else if wrap {
                Some(h - 1)
            } else {
                None
            };
            let down = if y + 1 < h {
                Some(y + 1)
            } else if wrap {
                Some(0)
            } else {
                None
            };
            let row = &self.cells[y * w..(y + 1) * w];
            for (x, col) in self.cols.iter_mut().enumerate() {
                *col = row[x]
                    + up.map_or(0, |u| self.cells[u * w + x])
                    + down.map_or(0, |d| self.cells[d * w + x]);
            }
            let next = &mut self.next[y * w..(y + 1) * w];
            for x in 0..w {
                let left = if x > 0 {
                    self.cols[x - 1]
                } else if wrap {
                    self.cols[w - 1]
                } else {
                    0
                };
                let right = if x + 1 < w {
                    self.cols[x + 1]
                } else if wrap {
                    self.cols[0]
                } else {
                    0
                };
                let me = row[x];
                let n = left + self.cols[x] + right - me;
                next[x] = (n == 3 || (me == 1 && n == 2)) as u8;
            }
        }
        std::mem::swap(&mut self.cells, &mut self.next);
        let generation = self.generation.map_or(0, |g| g + 1);
        self.generation = Some(generation);
        let hash = self.hash();
        if self.recent.contains(&hash) {
            self.stale_for += 1;
        } else {
            self.stale_for = 0;
        }
        self.recent.rotate_right(1);
        self.recent[0] = hash;
        if self.stale_for >= self.config.stale_generations || self.cells.iter().all(|&c| c == 0) {
            self.seed_board(generation);
        }
    }

    /// Brings the board to `target`, seeding first if needed. Going back in time restarts.
    pub fn advance_to(&mut self, target: u64) {
        self.advance_toward(target, u64::MAX);
    }

    /// Brings the board toward `target` by at most `steps` generations; true if it got there.
    pub fn advance_toward(&mut self, target: u64, steps: u64) -> bool {
        if self.generation.is_none_or(|g| g > target) {
            self.seed_board(0);
            self.generation = Some(0);
        }
        for _ in 0..steps {
            if self.generation.is_none_or(|g| g >= target) {
                break;
            }
            self.step();
        }
        self.generation == Some(target)
    }
}

fn new_renderer(json: &str, init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Life::new(config, init.width, init.height, init.seed)))
}

impl RendererPlugin for Life {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let target = (ctx.time * self.config.generations_per_second).floor() as u64;
        let steps = (MAX_CELL_UPDATES_PER_FRAME / self.cells.len().max(1) as u64).max(1);
        if !self.advance_toward(target, steps) {
            self.behind += 1;
        }
        let (alive, dead) = (self.config.alive.to_array(), self.config.dead.to_array());
        for (px, &c) in canvas.pixels().chunks_exact_mut(4).zip(&self.cells) {
            px.copy_from_slice(if c == 1 { &alive } else { &dead });
        }
        Ok(())
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![("behind", self.behind)]
    }

    /// Layout: generation + 1 (0 = unseeded) as u64, stale count as u32, four recent hashes as
    /// u64, then one byte per cell; all little-endian.
    fn snapshot(&self) -> Result<Option<Vec<u8>>, PluginError> {
        let mut out = Vec::with_capacity(8 + 4 + 32 + self.cells.len());
        out.extend_from_slice(&self.generation.map_or(0, |g| g + 1).to_le_bytes());
        out.extend_from_slice(&self.stale_for.to_le_bytes());
        for h in self.recent {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out.extend_from_slice(&self.cells);
        Ok(Some(out))
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), PluginError> {
        let header = 8 + 4 + 32;
        if state.len() != header + self.cells.len() {
            return Err(PluginError::state(format!(
                "a life board of {} cells needs {} bytes of state, got {}",
                self.cells.len(),
                header + self.cells.len(),
                state.len()
            )));
        }
        let u64_at = |i: usize| u64::from_le_bytes(state[i..i + 8].try_into().expect("8 bytes"));
        let g = u64_at(0);
        self.generation = g.checked_sub(1);
        self.stale_for = u32::from_le_bytes(state[8..12].try_into().expect("4 bytes"));
        for (k, h) in self.recent.iter_mut().enumerate() {
            *h = u64_at(12 + 8 * k);
        }
        if state[header..].iter().any(|&c| c > 1) {
            return Err(PluginError::state("cells must be 0 or 1"));
        }
        self.cells.copy_from_slice(&state[header..]);
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_steps_a_bounded_number_of_generations_and_counts_falling_behind() {
        let init = InitCtx::new(1024, 1024, 30.0, 5);
        let json = r#"{"generations_per_second": 1000.0}"#;
        let mut r = new_renderer(json, &init).unwrap();
        // A frame 10 s in wants generation 10,000: a 1024² board steps at most 16 a frame.
        let (mut px, mut q) = (vec![0u8; 1024 * 1024 * 4], marquee_plugin_api::DrawQueue::new());
        let mut canvas = Canvas::new(1024, 1024, &mut px, &mut q);
        r.render(&FrameCtx::new(&init, 300), &mut canvas).unwrap();
        r.render(&FrameCtx::new(&init, 301), &mut canvas).unwrap();
        assert_eq!(r.counters(), [("behind", 2)]);
        let snapshot = r.snapshot().unwrap().unwrap();
        let generation = u64::from_le_bytes(snapshot[..8].try_into().unwrap()) - 1;
        assert_eq!(generation, 32, "two frames of 16 generations each");
        // A small board keeps up with a second's 1,000 generations.
        let small = InitCtx::new(64, 64, 30.0, 5);
        let mut r = new_renderer(json, &small).unwrap();
        let (mut px, mut q) = (vec![0u8; 64 * 64 * 4], marquee_plugin_api::DrawQueue::new());
        let mut canvas = Canvas::new(64, 64, &mut px, &mut q);
        r.render(&FrameCtx::new(&small, 30), &mut canvas).unwrap();
        assert_eq!(r.counters(), [("behind", 0)]);
    }

    fn board(w: u32, h: u32, live: &[(usize, usize)], wrap: bool) -> Life {
        let mut l = Life::new(
            Config {
                wrap,
                stale_generations: 1000,
                ..Config::default()
            },
            w,
            h,
            1,
        );
        l.generation = Some(0);
        for &(x, y) in live {
            l.cells[y * w as usize + x] = 1;
        }
        l
    }

    fn live(l: &Life) -> Vec<(usize, usize)> {
        (0..l.cells.len())
            .filter(|&i| l.cells[i] == 1)
            .map(|i| (i % l.width, i / l.width))
            .collect()
    }

    /// The rule by definition: count the eight neighbours of every cell.
    fn naive_step(cells: &[u8], w: usize, h: usize, wrap: bool) -> Vec<u8> {
        let mut next = vec![0; cells.len()];
        for y in 0..h {
            for x in 0..w {
                let mut n = 0;
                for (dx, dy) in [
                    (-1i64, -1i64),
                    (0, -1),
                    (1, -1),
                    (-1, 0),
                    (1, 0),
                    (-1, 1),
                    (0, 1),
                    (1, 1),
                ] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    let (nx, ny) = if wrap {
                        (nx.rem_euclid(w as i64), ny.rem_euclid(h as i64))
                    } else if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    } else {
                        (nx, ny)
                    };
                    n += cells[ny as usize * w + nx as usize];
                }
                let alive = cells[y * w + x] == 1;
                next[y * w + x] = (n == 3 || (alive && n == 2)) as u8;
            }
        }
        next
    }

    #[test]
    fn step_matches_the_definition_on_random_boards() {
        let mut rng = Rng::new(5);
        for (w, h) in [(1, 1), (1, 5), (5, 1), (2, 2), (7, 3), (16, 9), (33, 20)] {
            for wrap in [false, true] {
                let mut l = Life::new(
                    Config {
                        wrap,
                        stale_generations: 1_000_000,
                        ..Config::default()
                    },
                    w,
                    h,
                    0,
                );
                l.generation = Some(0);
                for c in &mut l.cells {
                    *c = (rng.below(3) == 0) as u8;
                }
                for _ in 0..4 {
                    let want = naive_step(&l.cells, w as usize, h as usize, wrap);
                    if want.iter().all(|&c| c == 0) {
                        break; // the next step reseeds; nothing more to compare
                    }
                    l.step();
                    assert_eq!(l.cells, want, "{w}×{h} wrap={wrap}");
                }
            }
        }
    }

    #[test]
    fn blinker_oscillates() {
        let mut l = board(5, 5, &[(1, 2), (2, 2), (3, 2)], false);
        l.step();
        assert_eq!(live(&l), [(2, 1), (2, 2), (2, 3)]);
        l.step();
        assert_eq!(live(&l), [(1, 2), (2, 2), (3, 2)]);
    }

    #[test]
    fn glider_wraps_around_the_edges() {
        let start = [(1, 0), (2, 1), (0, 2), (1, 2), (2, 2)];
        let mut l = board(6, 6, &start, true);
        for _ in 0..24 {
            l.step(); // a glider moves one cell diagonally every 4 generations: 6 cells = 24
        }
        let mut got = live(&l);
        got.sort();
        let mut want = start.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn without_wrap_the_outside_is_dead() {
        let mut l = board(3, 3, &[(0, 0), (1, 0), (2, 0)], false);
        l.step();
        assert_eq!(live(&l), [(1, 0), (1, 1)]);
    }

    #[test]
    fn a_dead_board_is_reseeded_deterministically() {
        let mut a = board(8, 8, &[(0, 0)], false);
        let mut b = board(8, 8, &[(0, 0)], false);
        a.step();
        b.step();
        assert!(a.cells.contains(&1), "reseeded");
        assert_eq!(a.cells, b.cells);
    }

    #[test]
    fn a_still_life_goes_stale_and_is_reseeded() {
        let block = [(1, 1), (2, 1), (1, 2), (2, 2)];
        let mut l = board(6, 6, &block, false);
        l.config.stale_generations = 5;
        // The first generation is new; the next five repeat it; the fifth repetition reseeds.
        for _ in 0..5 {
            l.step();
            assert_eq!(live(&l), block);
        }
        l.step();
        assert_ne!(live(&l), block);
    }

    #[test]
    fn snapshot_restore_round_trip() {
        let mut a = Life::new(Config::default(), 16, 8, 9);
        a.advance_to(20);
        let state = a.snapshot().unwrap().unwrap();
        let mut b = Life::new(Config::default(), 16, 8, 9);
        b.restore(&state).unwrap();
        a.advance_to(40);
        b.advance_to(40);
        assert_eq!(a.cells, b.cells);
        assert!(b.restore(&state[1..]).is_err());
    }
}
