//! An output's delay line: each frame's channel bytes held until `delay` after it arrived, then
//! sent, in order. Buffers are recycled, so a steady show allocates nothing; the line holds at
//! most [`MAX_HELD`] frames, beyond which the oldest are dropped and counted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most frames a delay line holds (10 s at 100 fps).
pub const MAX_HELD: usize = 1000;

/// Frames waiting to be sent.
#[derive(Debug, Default)]
pub struct DelayLine {
    delay: Duration,
    held: VecDeque<(Instant, Vec<u8>)>,
    free: Vec<Vec<u8>>,
    dropped: u64,
}

impl DelayLine {
    /// A line that holds each frame for `delay`.
    pub fn new(delay: Duration) -> DelayLine {
        DelayLine {
            delay,
            ..DelayLine::default()
        }
    }

    /// Holds a copy of `data`, which arrived at `now`.
    pub fn push(&mut self, now: Instant, data: &[u8]) {
        if self.held.len() >= MAX_HELD
            && let Some((_, old)) = self.held.pop_front()
        {
            self.dropped += 1;
            self.free.push(old);
        }
        let mut buf = self.free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        self.held.push_back((now + self.delay, buf));
    }

    /// The oldest frame due at `now`, if any; give it back with [`DelayLine::recycle`].
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.held.front() {
            Some((due, _)) if *due <= now => self.held.pop_front().map(|(_, buf)| buf),
            _ => None,
        }
    }

    /// Takes back a buffer [`DelayLine::pop_due`] gave.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.free.push(buf);
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.front().map(|(due, _)| *due)
    }

    /// Frames held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Frames dropped because the line was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_in_order_a_delay_after_they_went_in() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut line = DelayLine::new(ms(100));
        for i in 0..5u8 {
            line.push(t0 + ms(i as u64 * 30), &[i]);
        }
        assert_eq!(line.next_due(), Some(t0 + ms(100)));
        assert!(line.pop_due(t0 + ms(99)).is_none(), "not before its time");
        let mut out = Vec::new();
        for at in [100, 129, 130, 200, 300] {
            while let Some(buf) = line.pop_due(t0 + ms(at)) {
                out.push((at, buf[0]));
                line.recycle(buf);
            }
        }
        assert_eq!(out, [(100, 0), (130, 1), (200, 2), (200, 3), (300, 4)]);
        assert!(line.is_empty());
    }

    #[test]
    fn a_full_line_drops_the_oldest_and_counts_it() {
        let t0 = Instant::now();
        let mut line = DelayLine::new(Duration::from_secs(60));
        for i in 0..MAX_HELD + 3 {
            line.push(t0, &(i as u32).to_le_bytes());
        }
        assert_eq!((line.len(), line.dropped()), (MAX_HELD, 3));
        let first = line.pop_due(t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(first, 3u32.to_le_bytes());
    }
}
