//! Shards: a trace's frames cut into `n` contiguous shares, so that `n` machines (a CI matrix,
//! a Kubernetes Indexed Job, GNU parallel) each trace or verify one (`docs/scale-out.md`).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The most shards a trace is cut into.
pub const MAX_SHARDS: u32 = 10_000;

/// Shard `index` of `count`, counted from 1 (`--shard 2/4`), as Playwright and Jest count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// Which share, 1 to `count`.
    pub index: u32,
    /// How many shares.
    pub count: u32,
}

impl Shard {
    /// Shard `index` of `count`, if that is one: `index` from 1 to `count`, `count` at most
    /// [`MAX_SHARDS`].
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (count <= MAX_SHARDS && (1..=count).contains(&index)).then_some(Shard { index, count })
    }

    /// The frames of this shard of a `total`-frame trace: shard `i` of `n` gets frames
    /// `⌊(i−1)·total/n⌋` up to `⌊i·total/n⌋`, so the shares tile the trace and differ in size by
    /// one frame at most.
    pub fn frames(self, total: u64) -> Range<u64> {
        let at = |i: u32| (total as u128 * i as u128 / self.count as u128) as u64;
        at(self.index - 1)..at(self.index)
    }

    /// The frames of this shard, refused when it would have none.
    pub fn frames_checked(self, total: u64) -> Result<Range<u64>, String> {
        let range = self.frames(total);
        if range.is_empty() {
            return Err(format!(
                "shard {self} of a {total}-frame trace would have no frames; cut it into at most {total} shards"
            ));
        }
        Ok(range)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "`{s}` is not a shard: write INDEX/COUNT, counted from 1 (1/4 is the first of four), COUNT at most {MAX_SHARDS}"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(index, count).ok_or_else(bad)
    }
}

/// What a shard's `index.json` says of it (absent from a whole trace's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// Which share, from 1.
    pub index: u32,
    /// How many shares the trace was cut into.
    pub count: u32,
    /// Frames of the whole trace.
    pub total: u64,
    /// xxh3-64 of the shard's GIF file, byte for byte: `merge` checks what it copies against it
    /// (a shard damaged on its way from the machine that traced it), without decoding a frame.
    pub gif_bytes: String,
    /// Frames its GIF holds before its first: those since the last key frame
    /// ([`super::KEY_FRAME_INTERVAL`]), which its first frame is stored as a difference from,
    /// so that its bytes are those of the whole trace. `merge` leaves them out. Absent (0) in
    /// shards traced before GIF frames were differences.
    #[serde(default)]
    pub lead: u64,
}

impl ShardInfo {
    /// The shard this describes.
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }

    /// The frames this shard holds, or why an index's `shard` (data) cannot be a shard: an
    /// index outside 1 to `count`, a count over [`MAX_SHARDS`], a whole trace over
    /// [`super::MAX_FRAMES`].
    pub fn frames(&self) -> Result<Range<u64>, String> {
        let Some(shard) = Shard::new(self.index, self.count) else {
            return Err(format!(
                "says it is shard {}/{}, which no trace is cut into",
                self.index, self.count
            ));
        };
        if self.total > super::MAX_FRAMES {
            return Err(format!(
                "says its whole trace has {} frames, more than a trace can",
                self.total
            ));
        }
        let frames = shard.frames(self.total);
        if self.lead > frames.start || self.lead >= super::KEY_FRAME_INTERVAL {
            return Err(format!(
                "says its GIF holds {} frames before its first (frame {}), but at most {} can be (the frames since a key frame)",
                self.lead,
                frames.start,
                frames.start.min(super::KEY_FRAME_INTERVAL - 1)
            ));
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_trace() {
        for total in [1u64, 2, 7, 100, 7200, 1_000_000] {
            for count in [1u32, 2, 3, 4, 7, 16] {
                let mut next = 0;
                for index in 1..=count {
                    let r = Shard { index, count }.frames(total);
                    assert_eq!(r.start, next, "{index}/{count} of {total}");
                    assert!(r.end - r.start <= total / count as u64 + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
        assert_eq!(Shard { index: 2, count: 4 }.frames(7200), 1800..3600);
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("3/4".parse(), Ok(Shard { index: 3, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "4", "a/b", "1/10001", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let empty = Shard { index: 1, count: 8 }.frames_checked(4).unwrap_err();
        assert!(empty.contains("at most 4 shards"), "{empty}");
    }
}
