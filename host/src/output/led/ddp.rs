//! DDP (Distributed Display Protocol, 3waylabs), UDP port 4048: a 10-byte header, then at most
//! 1440 bytes of channel data at a byte offset; the last packet of each frame carries the push
//! flag (also when the frame is an exact multiple of 1440 bytes).

use std::net::SocketAddr;

use super::packets::{Encoder, Packets};

/// Data bytes per packet at most: 480 RGB or 360 RGBW pixels.
pub const MAX_DATA: usize = 1440;
/// Header bytes.
pub const HEADER: usize = 10;
/// Version 1 in the flags byte.
pub const VERSION_1: u8 = 0x40;
/// The push flag: display now.
pub const PUSH: u8 = 0x01;
/// The data type byte for 8-bit RGB (type 001, size 011).
pub const RGB8: u8 = 0x0B;
/// The data type byte for 8-bit RGBW (type 011, size 011).
pub const RGBW8: u8 = 0x1B;
/// The default output id.
pub const DEFAULT_ID: u8 = 1;

/// DDP to one controller.
#[derive(Debug)]
pub struct Ddp {
    to: SocketAddr,
    data_type: u8,
    /// Byte offset of this output's first channel on the controller.
    offset: u32,
    /// The last sequence number sent (1–15).
    sequence: u8,
}

impl Ddp {
    /// DDP to `to`, `channels` per LED, starting `start` LEDs into the controller's strip.
    pub fn new(to: SocketAddr, channels: usize, start: u64) -> Ddp {
        Ddp {
            to,
            data_type: if channels == 4 { RGBW8 } else { RGB8 },
            offset: (start * channels as u64) as u32,
            sequence: 0,
        }
    }
}

impl Encoder for Ddp {
    fn frame(&mut self, data: &[u8], out: &mut Packets) {
        let count = data.len().div_ceil(MAX_DATA).max(1);
        for (i, chunk) in data.chunks(MAX_DATA).enumerate() {
            self.sequence = self.sequence % 15 + 1;
            let p = out.push(self.to, HEADER + chunk.len());
            p[0] = VERSION_1 | if i + 1 == count { PUSH } else { 0 };
            p[1] = self.sequence;
            p[2] = self.data_type;
            p[3] = DEFAULT_ID;
            let offset = self.offset + (i * MAX_DATA) as u32;
            p[4..8].copy_from_slice(&offset.to_be_bytes());
            p[8..10].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
            p[HEADER..].copy_from_slice(chunk);
        }
    }
}
