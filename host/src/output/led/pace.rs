//! Keeping an output to its `max_fps`: frames are let through on an even grid of the period,
//! the others skipped (and counted by the output), so a controller that takes 40 fps gets 40,
//! evenly spaced, whatever rate the show runs at.

use std::time::{Duration, Instant};

/// An even grid of send times.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    period: Duration,
    /// When the next frame is due (`None` until the first frame).
    next: Option<Instant>,
}

impl Pace {
    /// At most `fps` frames a second.
    pub fn new(fps: f64) -> Pace {
        Pace {
            period: Duration::from_secs_f64(1.0 / fps),
            next: None,
        }
    }

    /// Whether a frame arriving at `now` goes out: not if it is early by more than an eighth of
    /// a period (the slack for a show's jitter). A frame that goes out moves the grid on by a
    /// period from its slot, so the rate holds; when the show fell behind by more than a period,
    /// the grid starts again from now.
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.next {
            Some(due) if now + self.period / 8 < due => false,
            Some(due) => {
                let next = due + self.period;
                self.next = Some(if next < now { now + self.period } else { next });
                true
            }
            None => {
                self.next = Some(now + self.period);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times frames arriving at `show_fps` for one second go out at, with `max_fps`.
    fn sent(show_fps: f64, max_fps: f64) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut pace = Pace::new(max_fps);
        (0..show_fps as u32)
            .map(|i| Duration::from_secs_f64(i as f64 / show_fps))
            .filter(|&at| pace.admit(t0 + at))
            .collect()
    }

    #[test]
    fn a_40_fps_controller_gets_40_frames_a_second_evenly_spaced() {
        for show in [60.0, 120.0, 144.0, 1000.0] {
            let times = sent(show, 40.0);
            assert!(
                (39..=41).contains(&times.len()),
                "{show} fps: {} sent",
                times.len()
            );
            // Gaps stay within one show frame and the slack (an eighth) of the 25 ms period.
            for gap in times.windows(2).map(|w| w[1] - w[0]) {
                let off = (gap.as_secs_f64() - 0.025).abs();
                assert!(
                    off <= 1.0 / show + 0.025 / 8.0 + 1e-9,
                    "{show} fps: a gap of {gap:?}"
                );
            }
        }
    }

    #[test]
    fn a_show_slower_than_the_limit_passes_every_frame() {
        assert_eq!(sent(30.0, 40.0).len(), 30);
        assert_eq!(sent(40.0, 40.0).len(), 40);
    }
}
