//! The packets of one frame, built in place: one byte buffer and the range and destination of
//! each packet in it, both kept between frames so that building them allocates nothing once warm.

use std::net::SocketAddr;
use std::ops::Range;

/// What one frame's packets are.
#[derive(Debug, Default)]
pub struct Packets {
    bytes: Vec<u8>,
    packets: Vec<(Range<usize>, SocketAddr)>,
}

impl Packets {
    /// Forgets the last frame's packets (keeping the memory).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.packets.clear();
    }

    /// Starts a packet to `to` and returns its bytes to fill, `len` long and zeroed.
    pub fn push(&mut self, to: SocketAddr, len: usize) -> &mut [u8] {
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        self.packets.push((start..start + len, to));
        &mut self.bytes[start..]
    }

    /// Each packet with its destination, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.packets.iter().map(|(r, to)| (&self.bytes[r.clone()], *to))
    }

    /// How many packets.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Bytes of payload in all of them.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// The channel bytes of each universe of `per_universe` bytes, in order: E1.31's and
/// Art-Net's split of a frame (one empty universe when there is no data).
pub fn universes(data: &[u8], per_universe: usize) -> impl ExactSizeIterator<Item = &[u8]> {
    let count = data.len().div_ceil(per_universe).max(1);
    (0..count)
        .map(move |i| &data[(i * per_universe).min(data.len())..((i + 1) * per_universe).min(data.len())])
}

/// A protocol: how one frame of an output's channel bytes becomes packets.
pub trait Encoder: Send {
    /// Appends the packets of a frame whose channel bytes are `data`.
    fn frame(&mut self, data: &[u8], out: &mut Packets);
    /// Appends what to send when the output stops (E1.31: stream-terminated packets).
    fn finish(&mut self, _data: &[u8], _out: &mut Packets) {}
}
