//! The show's brightness (`POST /api/brightness`, OSC `/marquee/brightness`): what the outputs
//! get, dimmed, while the frame the engine made (and recorders keep) stays as it is.

/// Full brightness: frames go out as made.
pub const FULL: u8 = 255;

/// Writes `src` (RGBA8) into `dst` with its colours scaled by `level / 255`, rounded to the
/// nearest step; alpha is kept. Integer arithmetic: the same bytes on every machine.
pub fn dim(src: &[u8], level: u8, dst: &mut Vec<u8>) {
    dst.clear();
    dst.extend(src.chunks_exact(4).flat_map(|px| {
        let scale = |c: u8| ((c as u16 * level as u16 + 127) / 255) as u8;
        [scale(px[0]), scale(px[1]), scale(px[2]), px[3]]
    }));
}

/// The level a brightness from 0 to 1 stands for, or `None` outside that range.
pub fn level(brightness: f64) -> Option<u8> {
    (0.0..=1.0)
        .contains(&brightness)
        .then(|| (brightness * FULL as f64).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimming_scales_colour_and_keeps_alpha() {
        let src = [255, 128, 0, 255, 10, 20, 30, 200];
        let mut out = Vec::new();
        dim(&src, FULL, &mut out);
        assert_eq!(out, src);
        dim(&src, 0, &mut out);
        assert_eq!(out, [0, 0, 0, 255, 0, 0, 0, 200]);
        dim(&src, 128, &mut out);
        assert_eq!(out, [128, 64, 0, 255, 5, 10, 15, 200]);
        assert_eq!(level(0.5), Some(128));
        assert_eq!(level(1.0), Some(255));
        assert_eq!(level(1.01), None);
        assert_eq!(level(f64::NAN), None);
    }
}
