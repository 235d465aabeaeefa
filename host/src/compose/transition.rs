//! Transitions between two scenes' frames: crossfade, slides and wipe, in integer arithmetic.

use crate::model::playlist::Transition;

/// Writes into `out` frame `step` (0-based) of the `steps`-frame transition `kind` from `from`
/// to `to`, all `width × height` RGBA8. The new scene's share is `(step + 1) / (steps + 1)`:
/// neither end is shown whole, and the frame after the transition is the new scene alone.
pub fn blend_transition(
    kind: Transition,
    step: u64,
    steps: u64,
    (from, to): (&[u8], &[u8]),
    out: &mut [u8],
    width: usize,
    height: usize,
) {
    let share = (step + 1) as f64 / (steps + 1) as f64;
    let row = width * 4;
    match kind {
        Transition::Cut => out.copy_from_slice(to),
        Transition::Crossfade => {
            let a = (share * 256.0).round() as u32;
            for ((o, &f), &t) in out.iter_mut().zip(from).zip(to) {
                *o = ((f as u32 * (256 - a) + t as u32 * a + 128) >> 8) as u8;
            }
        }
        Transition::SlideLeft | Transition::SlideRight | Transition::Wipe => {
            let s = ((share * width as f64).round() as usize).min(width);
            for ((o, f), t) in out
                .chunks_exact_mut(row)
                .zip(from.chunks_exact(row))
                .zip(to.chunks_exact(row))
            {
                let (left, right) = o.split_at_mut((width - s) * 4);
                match kind {
                    Transition::SlideLeft => {
                        // The old row shifted left by s, the new row's left part entering.
                        left.copy_from_slice(&f[s * 4..]);
                        right.copy_from_slice(&t[..s * 4]);
                    }
                    Transition::SlideRight => {
                        let (left, right) = o.split_at_mut(s * 4);
                        left.copy_from_slice(&t[(width - s) * 4..]);
                        right.copy_from_slice(&f[..(width - s) * 4]);
                    }
                    _ => {
                        let (left, right) = o.split_at_mut(s * 4);
                        left.copy_from_slice(&t[..s * 4]);
                        right.copy_from_slice(&f[s * 4..]);
                    }
                }
            }
        }
        Transition::SlideUp | Transition::SlideDown => {
            let s = ((share * height as f64).round() as usize).min(height);
            let keep = (height - s) * row;
            if kind == Transition::SlideUp {
                out[..keep].copy_from_slice(&from[s * row..]);
                out[keep..].copy_from_slice(&to[..s * row]);
            } else {
                out[..s * row].copy_from_slice(&to[keep..]);
                out[s * row..].copy_from_slice(&from[..keep]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4×2 frames: `from` is all 0, `to` all 200 (alpha included, to see every byte move).
    fn frames() -> (Vec<u8>, Vec<u8>) {
        (vec![0; 32], vec![200; 32])
    }

    fn row(out: &[u8], y: usize) -> Vec<u8> {
        out[y * 16..(y + 1) * 16].chunks(4).map(|p| p[0]).collect()
    }

    #[test]
    fn crossfade_is_a_weighted_mean_with_neither_end_shown() {
        let (f, t) = frames();
        let mut out = vec![0; 32];
        // Step 0 of 1: share ½, so 100.
        blend_transition(Transition::Crossfade, 0, 1, (&f, &t), &mut out, 4, 2);
        assert!(out.iter().all(|&v| v == 100));
        // Step 2 of 3: share ¾ → 150.
        blend_transition(Transition::Crossfade, 2, 3, (&f, &t), &mut out, 4, 2);
        assert!(out.iter().all(|&v| v == 150));
    }

    #[test]
    fn slides_and_wipe_move_by_the_share_of_the_width_or_height() {
        // Distinct columns and rows so the direction shows: from = x, to = 10 + x (+ 100·y).
        let f: Vec<u8> = (0..8).flat_map(|i| [(i % 4 + 100 * (i / 4)) as u8; 4]).collect();
        let t: Vec<u8> = (0..8)
            .flat_map(|i| [(10 + i % 4 + 100 * (i / 4)) as u8; 4])
            .collect();
        let mut out = vec![0; 32];
        // Step 0 of 1: share ½ → 2 of 4 columns, 1 of 2 rows.
        blend_transition(Transition::SlideLeft, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(row(&out, 0), vec![2, 3, 10, 11]);
        blend_transition(Transition::SlideRight, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(row(&out, 0), vec![12, 13, 0, 1]);
        blend_transition(Transition::Wipe, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(row(&out, 0), vec![10, 11, 2, 3]);
        blend_transition(Transition::SlideUp, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(
            (row(&out, 0), row(&out, 1)),
            (vec![100, 101, 102, 103], vec![10, 11, 12, 13])
        );
        blend_transition(Transition::SlideDown, 0, 1, (&f, &t), &mut out, 4, 2);
        assert_eq!(
            (row(&out, 0), row(&out, 1)),
            (vec![110, 111, 112, 113], vec![0, 1, 2, 3])
        );
    }
}
