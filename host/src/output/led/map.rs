//! Where each LED's colour comes from, and what colour it gets: the frame pixels an output
//! sends, in the controller's order (panels chained, LEDs wired, each panel turned and
//! mirrored), and the conversion of each into the controller's channels (order, white, gamma,
//! brightness cap, current limit). Both are computed once; per frame it is one pass.

use crate::model::rig::{ColorSpec, Flip, Layout, Order, Orientation, Rect, White};

/// The cell at position `k` of `order` on a `w × h` grid, as (column, row).
pub fn cell(order: Order, k: u32, w: u32, h: u32) -> (u32, u32) {
    match order {
        Order::Rows => (k % w, k / w),
        Order::RowsSerpentine => {
            let (c, r) = (k % w, k / w);
            (if r % 2 == 1 { w - 1 - c } else { c }, r)
        }
        Order::Columns => (k / h, k % h),
        Order::ColumnsSerpentine => {
            let (c, r) = (k / h, k % h);
            (c, if c % 2 == 1 { h - 1 - r } else { r })
        }
    }
}

/// Where LED `k` of a panel whose footprint in the frame is `w × h` lands in that footprint,
/// the panel turned and mirrored as `o` says. `wiring` is the LED order in the panel's own
/// orientation, whose grid is `h × w` when it is turned a quarter.
pub fn panel_pixel(k: u32, (w, h): (u32, u32), wiring: Order, o: Orientation) -> (u32, u32) {
    let quarter = o.quarter_turns % 2 == 1;
    let (nw, nh) = if quarter { (h, w) } else { (w, h) };
    let (u, v) = cell(wiring, k, nw, nh);
    let (x, y) = match o.quarter_turns % 4 {
        0 => (u, v),
        1 => (w - 1 - v, u),
        2 => (w - 1 - u, h - 1 - v),
        _ => (v, h - 1 - u),
    };
    match o.flip {
        Flip::None => (x, y),
        Flip::Horizontal => (w - 1 - x, y),
        Flip::Vertical => (x, h - 1 - y),
    }
}

/// The byte offset in an RGBA frame `frame_width` wide of every LED of an output showing
/// `region` laid out as `layout` (default: one panel, wired by rows), in the controller's order.
pub fn led_order(frame_width: u32, region: Rect, layout: Option<&Layout>) -> Vec<u32> {
    let whole = Layout {
        panel: (region.width, region.height),
        columns: 1,
        rows: 1,
        chain: Order::Rows,
        wiring: Order::Rows,
        panels: vec![Orientation::default()],
    };
    let l = layout.unwrap_or(&whole);
    let (pw, ph) = l.panel;
    let mut out = Vec::with_capacity((pw * ph * l.columns * l.rows) as usize);
    for (c, orientation) in l.panels.iter().enumerate() {
        let (pc, pr) = cell(l.chain, c as u32, l.columns, l.rows);
        for k in 0..pw * ph {
            let (x, y) = panel_pixel(k, (pw, ph), l.wiring, *orientation);
            let fx = region.x + pc * pw + x;
            let fy = region.y + pr * ph + y;
            out.push((fy * frame_width + fx) * 4);
        }
    }
    out
}

/// The colour conversion of one output, prepared: one table for gamma and brightness, the
/// channel order, the white channel and the current limit.
#[derive(Debug, Clone)]
pub struct ColorPipeline {
    table: [u8; 256],
    order: [usize; 3],
    white: White,
    /// Milliamps per unit of channel value (mA at full / 255), and the budget.
    current: Option<(f64, f64)>,
}

impl ColorPipeline {
    /// Prepares `spec`.
    pub fn new(spec: &ColorSpec) -> ColorPipeline {
        let mut table = [0u8; 256];
        for (v, t) in table.iter_mut().enumerate() {
            let x = (v as f64 / 255.0).powf(spec.gamma) * spec.brightness;
            *t = (x * 255.0).round().clamp(0.0, 255.0) as u8;
        }
        ColorPipeline {
            table,
            order: spec.order.indices(),
            white: spec.white,
            current: spec.current.map(|(ma, budget)| (ma / 255.0, budget)),
        }
    }

    /// Channels per LED.
    pub fn channels(&self) -> usize {
        match self.white {
            White::Off => 3,
            White::Min => 4,
        }
    }

    /// Fills `out` (`leds.len() × channels` bytes) with the LEDs' channels from `frame`.
    /// Returns whether the current limit scaled the frame down.
    pub fn convert(&self, frame: &[u8], leds: &[u32], out: &mut [u8]) -> bool {
        let t = &self.table;
        let [o0, o1, o2] = self.order;
        // One loop per channel count, so the common one (RGB) has no branch inside.
        match self.white {
            White::Off => {
                for (&at, px) in leds.iter().zip(out.chunks_exact_mut(3)) {
                    let p = &frame[at as usize..at as usize + 3];
                    let rgb = [t[p[0] as usize], t[p[1] as usize], t[p[2] as usize]];
                    px.copy_from_slice(&[rgb[o0], rgb[o1], rgb[o2]]);
                }
            }
            White::Min => {
                for (&at, px) in leds.iter().zip(out.chunks_exact_mut(4)) {
                    let p = &frame[at as usize..at as usize + 3];
                    let mut rgb = [t[p[0] as usize], t[p[1] as usize], t[p[2] as usize]];
                    let w = rgb[0].min(rgb[1]).min(rgb[2]);
                    for c in &mut rgb {
                        *c -= w;
                    }
                    px.copy_from_slice(&[rgb[o0], rgb[o1], rgb[o2], w]);
                }
            }
        }
        let Some((ma_per_unit, budget)) = self.current else {
            return false;
        };
        let sum: u64 = out.iter().map(|&v| v as u64).sum();
        let drawn = sum as f64 * ma_per_unit;
        if drawn <= budget {
            return false;
        }
        // Scale every channel by budget / drawn, rounding down so the result stays within.
        let scale = ((budget / drawn) * 65536.0) as u32;
        for v in out.iter_mut() {
            *v = ((*v as u32 * scale) >> 16) as u8;
        }
        true
    }

    /// The current `channels` (wire bytes) would draw, in milliamps, if there is a limit.
    pub fn milliamps(&self, channels: &[u8]) -> Option<f64> {
        let (ma_per_unit, _) = self.current?;
        Some(channels.iter().map(|&v| v as f64).sum::<f64>() * ma_per_unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rig::ColorOrder;

    fn o(quarter_turns: u8, flip: Flip) -> Orientation {
        Orientation { quarter_turns, flip }
    }

    #[test]
    fn serpentine_rows_run_back_on_odd_rows() {
        let got: Vec<_> = (0..6).map(|k| cell(Order::RowsSerpentine, k, 3, 2)).collect();
        assert_eq!(got, [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]);
        let got: Vec<_> = (0..6).map(|k| cell(Order::ColumnsSerpentine, k, 2, 3)).collect();
        assert_eq!(got, [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]);
    }

    #[test]
    fn a_panel_turned_a_quarter_starts_at_its_top_right() {
        // A 3×2 footprint holding a panel that is 2×3 in its own orientation, turned 90°.
        let at = |k, t, f| panel_pixel(k, (3, 2), Order::Rows, o(t, f));
        assert_eq!(at(0, 1, Flip::None), (2, 0));
        // Its first row (two LEDs) runs down the right edge; its second down the middle.
        assert_eq!(at(1, 1, Flip::None), (2, 1));
        assert_eq!(at(2, 1, Flip::None), (1, 0));
        // Half a turn of a 3×2 panel: the first LED at the bottom right.
        let at = |k, t, f| panel_pixel(k, (3, 2), Order::Rows, o(t, f));
        assert_eq!(at(0, 2, Flip::None), (2, 1));
        assert_eq!(at(0, 3, Flip::None), (0, 1));
        assert_eq!(at(0, 0, Flip::Horizontal), (2, 0));
        assert_eq!(at(0, 0, Flip::Vertical), (0, 1));
    }

    #[test]
    fn every_layout_visits_each_pixel_of_its_region_once() {
        let region = Rect {
            x: 2,
            y: 1,
            width: 8,
            height: 6,
        };
        for chain in [
            Order::Rows,
            Order::RowsSerpentine,
            Order::Columns,
            Order::ColumnsSerpentine,
        ] {
            for turns in 0..4 {
                let layout = Layout {
                    panel: (4, 3),
                    columns: 2,
                    rows: 2,
                    chain,
                    wiring: Order::ColumnsSerpentine,
                    panels: vec![o(turns, Flip::Horizontal); 4],
                };
                let mut got = led_order(12, region, Some(&layout));
                got.sort_unstable();
                let want: Vec<u32> = (1..7)
                    .flat_map(|y| (2..10).map(move |x| (y * 12 + x) * 4))
                    .collect();
                assert_eq!(got, want, "{chain:?} {turns}");
            }
        }
    }

    #[test]
    fn colour_order_white_gamma_and_brightness() {
        let spec = |order, white, gamma, brightness| ColorSpec {
            order,
            white,
            gamma,
            brightness,
            current: None,
        };
        let frame = [200, 100, 50, 255];
        let mut out = [0u8; 4];
        ColorPipeline::new(&spec(ColorOrder::Grb, White::Off, 1.0, 1.0)).convert(&frame, &[0], &mut out[..3]);
        assert_eq!(out[..3], [100, 200, 50]);
        ColorPipeline::new(&spec(ColorOrder::Bgr, White::Min, 1.0, 1.0)).convert(&frame, &[0], &mut out);
        assert_eq!(out, [0, 50, 150, 50]);
        ColorPipeline::new(&spec(ColorOrder::Rgb, White::Off, 2.0, 0.5)).convert(&frame, &[0], &mut out[..3]);
        // (200/255)² × 0.5 × 255 = 78.4; (100/255)² × 127.5 = 19.6; (50/255)² × 127.5 = 4.9.
        assert_eq!(out[..3], [78, 20, 5]);
    }

    #[test]
    fn a_white_frame_over_the_budget_is_scaled_within_it() {
        let spec = ColorSpec {
            order: ColorOrder::Rgb,
            white: White::Off,
            gamma: 1.0,
            brightness: 1.0,
            current: Some((20.0, 1000.0)),
        };
        let p = ColorPipeline::new(&spec);
        // 100 white LEDs at 60 mA each would draw 6 A.
        let frame = vec![255u8; 100 * 4];
        let leds: Vec<u32> = (0..100).map(|i| i * 4).collect();
        let mut out = vec![0u8; 300];
        assert!(p.convert(&frame, &leds, &mut out));
        let ma = p.milliamps(&out).unwrap();
        // Within the budget, and not far under it (each channel rounds down by under one step).
        assert!(ma <= 1000.0 && ma > 950.0, "{ma}");
        // A dim frame within the budget is left alone.
        let frame = vec![10u8; 100 * 4];
        assert!(!p.convert(&frame, &leds, &mut out));
        assert!(out.iter().all(|&v| v == 10));
    }
}
