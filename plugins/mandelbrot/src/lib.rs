//! `mandelbrot`: an auto-zooming Mandelbrot set, coloured by escape count through a palette.
//!
//! The kernel iterates [`LANES`] pixels at once in plain arrays that the compiler vectorises;
//! every lane performs exactly the operations of the scalar definition ([`escape_count`]), in the
//! same order, so the counts are identical to it (a test checks whole frames).

use marquee_plugin_api::{
    Canvas, DerivedFields, Factory, FrameCtx, InitCtx, PluginDef, PluginError, RendererPlugin,
    declare_plugin, fields_of, parse_config,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// The plugin's definition.
pub const PLUGIN: PluginDef<DerivedFields> = PluginDef {
    id: "mandelbrot",
    version: env!("CARGO_PKG_VERSION"),
    description: "auto-zooming Mandelbrot set",
    renderer: Some(Factory {
        doc: "Zooms into `target` at `zoom_speed`, restarting every `loop_seconds`; colours escape counts with `palette`, the set itself black.",
        fields: fields_of::<Config>,
        new: new_renderer,
    }),
    processor: None,
    recorder: None,
};

/// Config of a `mandelbrot` layer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Iterations before a point counts as inside.
    #[default(100)]
    #[schemars(range(min = 1, max = 100000))]
    pub max_iter: u32,
    /// Zoom target [re, im].
    #[default([-0.743643887037151, 0.13182590420533])]
    #[schemars(inner(range(min = -4, max = 4)))]
    pub target: [f64; 2],
    /// Width of the view at the start of each loop.
    #[default(3.5)]
    #[schemars(range(min = 1e-12, max = 100))]
    pub start_width: f64,
    /// E-folds of zoom per second.
    #[default(0.5)]
    #[schemars(range(min = 0, max = 20))]
    pub zoom_speed: f64,
    /// The zoom restarts after this long.
    #[default(20.0)]
    #[schemars(range(min = 0.1, max = 3600))]
    pub loop_seconds: f64,
    /// The colours escape counts map to.
    #[default(Palette::Fire)]
    pub palette: Palette,
    /// Escape counts per palette cycle.
    #[default(32)]
    #[schemars(range(min = 1, max = 100000))]
    pub cycle: u32,
}

/// The colour schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Palette {
    /// Black, red, orange, yellow, white.
    Fire,
    /// Deep blue to cyan to white.
    Ocean,
    /// Full hue cycle.
    Rainbow,
    /// Black to white.
    Grey,
}

impl Palette {
    /// The colour at `t` in `[0, 1)`.
    fn at(self, t: f64) -> [u8; 3] {
        let ramp = |stops: &[[f64; 3]]| {
            let x = t * (stops.len() - 1) as f64;
            let i = (x as usize).min(stops.len() - 2);
            let f = x - i as f64;
            let c = |k: usize| ((stops[i][k] * (1.0 - f) + stops[i + 1][k] * f) * 255.0).round() as u8;
            [c(0), c(1), c(2)]
        };
        match self {
            Palette::Fire => ramp(&[
                [0.0, 0.0, 0.0],
                [0.7, 0.0, 0.0],
                [1.0, 0.5, 0.0],
                [1.0, 0.9, 0.2],
                [1.0, 1.0, 1.0],
                [0.0, 0.0, 0.0],
            ]),
            Palette::Ocean => ramp(&[
                [0.0, 0.02, 0.1],
                [0.0, 0.2, 0.6],
                [0.0, 0.8, 0.9],
                [1.0, 1.0, 1.0],
                [0.0, 0.02, 0.1],
            ]),
            Palette::Grey => ramp(&[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]),
            Palette::Rainbow => {
                let h = t * 6.0;
                let f = h - h.floor();
                let (r, g, b) = match h as u32 % 6 {
                    0 => (1.0, f, 0.0),
                    1 => (1.0 - f, 1.0, 0.0),
                    2 => (0.0, 1.0, f),
                    3 => (0.0, 1.0 - f, 1.0),
                    4 => (f, 0.0, 1.0),
                    _ => (1.0, 0.0, 1.0 - f),
                };
                [
                    (r * 255.0f64).round() as u8,
                    (g * 255.0f64).round() as u8,
                    (b * 255.0f64).round() as u8,
                ]
            }
        }
    }
}

/// Pixels iterated together by the kernel.
pub const LANES: usize = 8;

/// The escape count of `c = re + i·im`: how many iterations of `z ← z² + c` from 0 keep `|z|² ≤ 4`,
/// at most `max_iter`. The plain definition the kernel must match exactly.
pub fn escape_count(re: f64, im: f64, max_iter: u32) -> u32 {
    let (mut zr, mut zi) = (0.0f64, 0.0f64);
    let mut n = 0;
    while n < max_iter {
        let zr2 = zr * zr;
        let zi2 = zi * zi;
        if zr2 + zi2 > 4.0 {
            break;
        }
        zi = 2.0 * zr * zi + im;
        zr = zr2 - zi2 + re;
        n += 1;
    }
    n
}

/// Escape counts of [`LANES`] points with real parts `re` and one imaginary part `im`.
#[inline(always)]
fn escape_lanes(re: &[f64; LANES], im: f64, max_iter: u32) -> [u32; LANES] {
    let mut zr = [0.0f64; LANES];
    let mut zi = [0.0f64; LANES];
    let mut count = [0u32; LANES];
    let mut active = [true; LANES];
    for _ in 0..max_iter {
        let mut any = false;
        for l in 0..LANES {
            let zr2 = zr[l] * zr[l];
            let zi2 = zi[l] * zi[l];
            active[l] &= zr2 + zi2 <= 4.0;
            count[l] += active[l] as u32;
            any |= active[l];
            let nzi = 2.0 * zr[l] * zi[l] + im;
            zr[l] = zr2 - zi2 + re[l];
            zi[l] = nzi;
        }
        if !any {
            break;
        }
    }
    count
}

/// The view of one frame: the complex point at pixel (0, 0) and the step per pixel along each axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Real part at column 0.
    pub re0: f64,
    /// Imaginary part at row 0.
    pub im0: f64,
    /// Change of the real part from one column to the next.
    pub step_re: f64,
    /// Change of the imaginary part from one row to the next (negative: up the screen).
    pub step_im: f64,
}

impl View {
    /// A view of `width_c` complex units across `width × height` square pixels, centred on
    /// `center`, with the imaginary axis pointing up.
    pub fn centred(center: [f64; 2], width_c: f64, width: u32, height: u32) -> View {
        let step = width_c / width as f64;
        View {
            re0: center[0] - (width as f64 / 2.0 - 0.5) * step,
            im0: center[1] + (height as f64 / 2.0 - 0.5) * step,
            step_re: step,
            step_im: -step,
        }
    }

    /// The point at pixel `(x, y)`.
    pub fn point(&self, x: u32, y: u32) -> (f64, f64) {
        (
            self.re0 + x as f64 * self.step_re,
            self.im0 + y as f64 * self.step_im,
        )
    }
}

/// Fills `out` (`width × height`, row-major) with the escape counts of `view`, using the widest
/// vector instructions the CPU has ([`marquee_plugin_api::simd::widest`]); the counts are the
/// same either way.
pub fn escape_counts(view: &View, width: u32, height: u32, max_iter: u32, out: &mut [u32]) {
    marquee_plugin_api::simd::widest(
        #[inline(always)]
        || escape_counts_portable(view, width, height, max_iter, out),
    )
}

/// [`escape_counts`] compiled for the baseline CPU only.
#[inline(always)]
pub fn escape_counts_portable(view: &View, width: u32, height: u32, max_iter: u32, out: &mut [u32]) {
    assert_eq!(out.len(), width as usize * height as usize);
    for y in 0..height {
        let row = &mut out[(y * width) as usize..((y + 1) * width) as usize];
        let im = view.point(0, y).1;
        let mut x = 0u32;
        for chunk in row.chunks_mut(LANES) {
            let mut re = [0.0f64; LANES];
            for (l, r) in re.iter_mut().enumerate() {
                *r = view.point(x + l as u32, y).0;
            }
            let counts = escape_lanes(&re, im, max_iter);
            chunk.copy_from_slice(&counts[..chunk.len()]);
            x += LANES as u32;
        }
    }
}

/// The renderer: palette and count buffer are built once, at creation.
pub struct Mandelbrot {
    config: Config,
    /// RGBA for every escape count `0..=max_iter`; `max_iter` (inside the set) is black.
    lut: Vec<[u8; 4]>,
    counts: Vec<u32>,
}

impl Mandelbrot {
    /// A renderer for `config` on a `width × height` surface.
    pub fn new(config: Config, width: u32, height: u32) -> Self {
        let lut = (0..=config.max_iter)
            .map(|n| {
                if n == config.max_iter {
                    [0, 0, 0, 255]
                } else {
                    let t = (n % config.cycle) as f64 / config.cycle as f64;
                    let [r, g, b] = config.palette.at(t);
                    [r, g, b, 255]
                }
            })
            .collect();
        Mandelbrot {
            config,
            lut,
            counts: vec![0; width as usize * height as usize],
        }
    }

    /// The view at `time` seconds.
    pub fn view(&self, time: f64, width: u32, height: u32) -> View {
        let t = time % self.config.loop_seconds;
        let width_c = self.config.start_width * (-self.config.zoom_speed * t).exp();
        View::centred(self.config.target, width_c, width, height)
    }
}

fn new_renderer(json: &str, init: &InitCtx) -> Result<Box<dyn RendererPlugin>, PluginError> {
    let config: Config = parse_config(json)?;
    Ok(Box::new(Mandelbrot::new(config, init.width, init.height)))
}

impl RendererPlugin for Mandelbrot {
    fn render(&mut self, ctx: &FrameCtx, canvas: &mut Canvas<'_>) -> Result<(), PluginError> {
        let (w, h) = (canvas.width(), canvas.height());
        if self.counts.len() != w as usize * h as usize {
            return Err(PluginError::frame(format!(
                "canvas is {w}×{h}, but this instance was created for {} pixels",
                self.counts.len()
            )));
        }
        let view = self.view(ctx.time, w, h);
        escape_counts(&view, w, h, self.config.max_iter, &mut self.counts);
        for (px, &n) in canvas.pixels().chunks_exact_mut(4).zip(&self.counts) {
            px.copy_from_slice(&self.lut[n as usize]);
        }
        Ok(())
    }
}

declare_plugin!(PLUGIN);

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the kernel against the plain definition over a whole view, pixel by pixel.
    fn check(view: View, w: u32, h: u32, max_iter: u32) {
        let mut counts = vec![0; (w * h) as usize];
        escape_counts(&view, w, h, max_iter, &mut counts);
        for y in 0..h {
            for x in 0..w {
                let (re, im) = view.point(x, y);
                assert_eq!(
                    counts[(y * w + x) as usize],
                    escape_count(re, im, max_iter),
                    "pixel ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn kernel_matches_reference_on_whole_set() {
        check(View::centred([-0.75, 0.0], 3.5, 67, 31), 67, 31, 100);
    }

    #[test]
    fn kernel_matches_reference_deep_in_the_zoom() {
        let m = Mandelbrot::new(Config::default(), 64, 64);
        for t in [0.0, 3.3, 9.9, 19.9] {
            check(m.view(t, 64, 64), 64, 64, 500);
        }
    }

    #[test]
    fn the_dispatched_kernel_equals_the_portable_one() {
        let view = View::centred([-0.75, 0.0], 3.5, 61, 23);
        let (mut a, mut b) = (vec![0; 61 * 23], vec![0; 61 * 23]);
        escape_counts(&view, 61, 23, 300, &mut a);
        escape_counts_portable(&view, 61, 23, 300, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn known_counts() {
        assert_eq!(escape_count(0.0, 0.0, 100), 100);
        assert_eq!(escape_count(2.0, 2.0, 100), 1);
        assert_eq!(escape_count(-2.5, 0.0, 100), 1);
        assert_eq!(escape_count(1.0, 0.0, 100), 3); // 0, 1, 2, 5
    }

    #[test]
    fn rejects_bad_palette_and_range() {
        let init = InitCtx {
            width: 4,
            height: 4,
            fps: 30.0,
            seed: 0,
        };
        let err = new_renderer(r#"{"palette": "plaid"}"#, &init).err().unwrap();
        assert_eq!(err.field(), Some("palette"));
    }
}
