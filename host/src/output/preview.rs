//! The remote control's live preview: an output (on its own thread, behind a handoff like every
//! output: a slow one drops frames, counted, and never slows the show) that encodes at most
//! [`PREVIEW_FPS`] frames a second as PNG into a [`PreviewFeed`] that viewers wait on.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

use super::Output;

/// Frames a second the preview encodes at most.
pub const PREVIEW_FPS: f64 = 10.0;

/// The latest preview frame, for any number of viewers.
#[derive(Debug, Default)]
pub struct PreviewFeed {
    latest: Mutex<Latest>,
    fresh: Condvar,
}

#[derive(Debug, Default)]
struct Latest {
    /// Frames published so far: the number of the one held.
    seq: u64,
    png: Arc<Vec<u8>>,
    closed: bool,
}

impl PreviewFeed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `png` the latest frame and wakes the viewers.
    pub fn publish(&self, png: Vec<u8>) {
        let mut latest = self.lock();
        latest.seq += 1;
        latest.png = Arc::new(png);
        self.fresh.notify_all();
    }

    /// The latest frame and its number, if one was published.
    pub fn latest(&self) -> Option<(u64, Arc<Vec<u8>>)> {
        let latest = self.lock();
        (latest.seq > 0).then(|| (latest.seq, Arc::clone(&latest.png)))
    }

    /// A frame newer than number `seen`, waiting up to `timeout` for one; `None` on time out,
    /// or once the feed is closed.
    pub fn next_after(&self, seen: u64, timeout: Duration) -> Option<(u64, Arc<Vec<u8>>)> {
        let latest = self.lock();
        let (latest, _) = self
            .fresh
            .wait_timeout_while(latest, timeout, |l| l.seq <= seen && !l.closed)
            .unwrap_or_else(|e| e.into_inner());
        (latest.seq > seen && !latest.closed).then(|| (latest.seq, Arc::clone(&latest.png)))
    }

    /// Ends every viewer's wait (the show is over).
    pub fn close(&self) {
        self.lock().closed = true;
        self.fresh.notify_all();
    }

    /// Whether the feed has been closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// The preview output.
#[derive(Debug)]
pub struct Preview {
    feed: Arc<PreviewFeed>,
    period: Duration,
    last: Option<Instant>,
}

impl Preview {
    /// A preview feeding `feed`.
    pub fn new(feed: Arc<PreviewFeed>) -> Preview {
        Preview {
            feed,
            period: Duration::from_secs_f64(1.0 / PREVIEW_FPS),
            last: None,
        }
    }
}

/// `frame` (RGBA8) as a PNG, fast rather than small.
pub fn png(frame: &[u8], width: u32, height: u32) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(frame.len() / 2);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Sub)
        .write_image(frame, width, height, image::ExtendedColorType::Rgba8)
        .map_err(io::Error::other)?;
    Ok(out)
}

impl Output for Preview {
    fn name(&self) -> &str {
        "preview"
    }

    fn show(&mut self, frame: &[u8], width: u32, height: u32, _status: &str) -> io::Result<()> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < self.period) {
            return Ok(());
        }
        self.last = Some(now);
        self.feed.publish(png(frame, width, height)?);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.feed.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_get_each_new_frame_and_a_closed_feed_ends_their_wait() {
        let feed = Arc::new(PreviewFeed::default());
        assert!(feed.latest().is_none());
        let mut preview = Preview::new(Arc::clone(&feed));
        let frame = [255u8, 0, 0, 255].repeat(4 * 2);
        preview.show(&frame, 4, 2, "").unwrap();
        let (seq, first) = feed.latest().unwrap();
        assert_eq!(seq, 1);
        let decoded = image::load_from_memory(&first).unwrap().to_rgba8();
        assert_eq!((decoded.width(), decoded.height()), (4, 2));
        assert_eq!(decoded.as_raw(), &frame);
        // Within the period, frames are not encoded again.
        preview.show(&frame, 4, 2, "").unwrap();
        assert_eq!(feed.latest().unwrap().0, 1);
        assert!(feed.next_after(1, Duration::from_millis(10)).is_none());
        let waiter = {
            let feed = Arc::clone(&feed);
            std::thread::spawn(move || feed.next_after(1, Duration::from_secs(10)).map(|(s, _)| s))
        };
        feed.publish(vec![1, 2, 3]);
        assert_eq!(waiter.join().unwrap(), Some(2));
        let waiter = {
            let feed = Arc::clone(&feed);
            std::thread::spawn(move || feed.next_after(2, Duration::from_secs(10)))
        };
        preview.finish().unwrap();
        assert!(waiter.join().unwrap().is_none());
        assert!(feed.is_closed());
    }
}
