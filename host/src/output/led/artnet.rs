//! Art-Net 4, UDP port 6454: one ArtDmx packet per universe of whole pixels (15-bit port
//! address, sequence numbers per universe), and ArtSync after each frame when asked for.

use std::net::SocketAddr;

use super::packets::{Encoder, Packets, universes};

/// The packet id.
pub const ID: &[u8; 8] = b"Art-Net\0";
/// OpDmx.
pub const OP_DMX: u16 = 0x5000;
/// OpSync.
pub const OP_SYNC: u16 = 0x5200;
/// Protocol version 14.
pub const PROTOCOL_VERSION: u16 = 14;
/// Bytes of an ArtDmx header.
pub const HEADER: usize = 18;

/// Art-Net to one node.
#[derive(Debug)]
pub struct ArtNet {
    to: SocketAddr,
    first: u16,
    per_universe: usize,
    sync: bool,
    /// The last sequence number sent on each universe (1–255; 0 means "not used").
    sequences: Vec<u8>,
}

impl ArtNet {
    /// Art-Net to `to` from port address `first`, `pixels_per_universe` pixels of `channels`
    /// each, with ArtSync after each frame if `sync`.
    pub fn new(
        to: SocketAddr,
        (first, pixels_per_universe, channels): (u16, u16, usize),
        sync: bool,
    ) -> ArtNet {
        ArtNet {
            to,
            first,
            per_universe: pixels_per_universe as usize * channels,
            sync,
            sequences: Vec::new(),
        }
    }
}

impl Encoder for ArtNet {
    fn frame(&mut self, data: &[u8], out: &mut Packets) {
        let slices = universes(data, self.per_universe);
        self.sequences.resize(slices.len(), 0);
        for (i, slots) in slices.enumerate() {
            // The length is even, 2 to 512: an odd count gets a zero slot after it.
            let len = (slots.len() + slots.len() % 2).max(2);
            self.sequences[i] = self.sequences[i] % 255 + 1;
            let address = self.first + i as u16;
            let p = out.push(self.to, HEADER + len);
            p[0..8].copy_from_slice(ID);
            p[8..10].copy_from_slice(&OP_DMX.to_le_bytes());
            p[10..12].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
            p[12] = self.sequences[i];
            p[13] = 0; // physical
            p[14] = (address & 0xff) as u8; // SubUni: sub-net and universe
            p[15] = (address >> 8) as u8 & 0x7f; // Net
            p[16..18].copy_from_slice(&(len as u16).to_be_bytes());
            p[HEADER..HEADER + slots.len()].copy_from_slice(slots);
        }
        if self.sync {
            let p = out.push(self.to, 14);
            p[0..8].copy_from_slice(ID);
            p[8..10].copy_from_slice(&OP_SYNC.to_le_bytes());
            p[10..12].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        }
    }
}
