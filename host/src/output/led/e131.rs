//! E1.31 (sACN, ANSI E1.31-2018), UDP port 5568: one data packet per universe of whole pixels,
//! sequence numbers per universe, a stable CID, priority, optional universe synchronisation, and
//! stream-terminated packets on exit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::model::rig::Protocol;

use super::packets::{Encoder, Packets, universes};

/// Bytes of a data packet before the slots (the start code included).
pub const HEADER: usize = 126;
/// Bytes of a synchronisation packet.
pub const SYNC_LEN: usize = 49;
/// The ACN packet identifier.
pub const ACN_ID: &[u8; 12] = b"ASC-E1.17\0\0\0";
/// Root layer vector: data.
pub const VECTOR_ROOT_DATA: u32 = 0x0000_0004;
/// Root layer vector: extended (synchronisation).
pub const VECTOR_ROOT_EXTENDED: u32 = 0x0000_0008;
/// Framing layer vector: data.
pub const VECTOR_FRAMING_DATA: u32 = 0x0000_0002;
/// Framing layer vector: synchronisation.
pub const VECTOR_FRAMING_SYNC: u32 = 0x0000_0001;
/// Options bit: stream terminated.
pub const STREAM_TERMINATED: u8 = 0x40;

/// The multicast group of `universe`: 239.255.hi.lo.
pub fn multicast_group(universe: u16) -> IpAddr {
    let [hi, lo] = universe.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(239, 255, hi, lo))
}

/// E1.31 from one source.
#[derive(Debug)]
pub struct E131 {
    to: Option<SocketAddr>,
    first: u16,
    /// Channel bytes per universe (whole pixels).
    per_universe: usize,
    priority: u8,
    sync: Option<u16>,
    cid: [u8; 16],
    name: [u8; 64],
    /// The last sequence number sent on each universe (index from the first), and the sync's.
    sequences: Vec<u8>,
    sync_sequence: u8,
}

impl E131 {
    /// E1.31 to `to` (or each universe's multicast group), from universe `first`, `per_universe`
    /// pixels of `channels` each, with `priority`, synchronised on `sync` if given; `cid`
    /// identifies the source and `name` names it.
    pub fn new(
        to: Option<SocketAddr>,
        (first, pixels_per_universe, channels): (u16, u16, usize),
        priority: u8,
        sync: Option<u16>,
        cid: [u8; 16],
        name: &str,
    ) -> E131 {
        let mut n = [0u8; 64];
        let bytes = name.as_bytes();
        // The name is null-terminated within 64 bytes; cut at a character boundary.
        let mut end = bytes.len().min(63);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        n[..end].copy_from_slice(&bytes[..end]);
        E131 {
            to,
            first,
            per_universe: pixels_per_universe as usize * channels,
            priority,
            sync,
            cid,
            name: n,
            sequences: Vec::new(),
            sync_sequence: 0,
        }
    }

    fn destination(&self, universe: u16) -> SocketAddr {
        self.to
            .unwrap_or_else(|| SocketAddr::new(multicast_group(universe), Protocol::E131.port()))
    }

    fn data(&mut self, data: &[u8], options: u8, out: &mut Packets) {
        let slices = universes(data, self.per_universe);
        self.sequences.resize(slices.len(), 0);
        for (i, slots) in slices.enumerate() {
            let universe = self.first + i as u16;
            self.sequences[i] = self.sequences[i].wrapping_add(1);
            let to = self.destination(universe);
            let p = out.push(to, HEADER + slots.len());
            root(p, VECTOR_ROOT_DATA, &self.cid);
            // Framing layer.
            let len = p.len();
            flags_length(&mut p[38..40], len - 38);
            p[40..44].copy_from_slice(&VECTOR_FRAMING_DATA.to_be_bytes());
            p[44..108].copy_from_slice(&self.name);
            p[108] = self.priority;
            p[109..111].copy_from_slice(&self.sync.unwrap_or(0).to_be_bytes());
            p[111] = self.sequences[i];
            p[112] = options;
            p[113..115].copy_from_slice(&universe.to_be_bytes());
            // DMP layer.
            flags_length(&mut p[115..117], len - 115);
            p[117] = 0x02;
            p[118] = 0xA1;
            p[119..121].copy_from_slice(&0u16.to_be_bytes());
            p[121..123].copy_from_slice(&1u16.to_be_bytes());
            p[123..125].copy_from_slice(&(1 + slots.len() as u16).to_be_bytes());
            p[125] = 0; // start code
            p[HEADER..].copy_from_slice(slots);
        }
    }
}

/// Writes the root layer: preamble, postamble, ACN id, flags and length, `vector`, CID.
fn root(p: &mut [u8], vector: u32, cid: &[u8; 16]) {
    p[0..2].copy_from_slice(&0x0010u16.to_be_bytes());
    p[2..4].copy_from_slice(&0u16.to_be_bytes());
    p[4..16].copy_from_slice(ACN_ID);
    let len = p.len() - 16;
    flags_length(&mut p[16..18], len);
    p[18..22].copy_from_slice(&vector.to_be_bytes());
    p[22..38].copy_from_slice(cid);
}

/// A PDU's flags (0x7) and length (12 bits).
fn flags_length(at: &mut [u8], len: usize) {
    at.copy_from_slice(&(0x7000 | (len as u16 & 0x0fff)).to_be_bytes());
}

impl Encoder for E131 {
    fn frame(&mut self, data: &[u8], out: &mut Packets) {
        self.data(data, 0, out);
        if let Some(sync) = self.sync {
            self.sync_sequence = self.sync_sequence.wrapping_add(1);
            let to = self.destination(sync);
            let p = out.push(to, SYNC_LEN);
            root(p, VECTOR_ROOT_EXTENDED, &self.cid);
            flags_length(&mut p[38..40], SYNC_LEN - 38);
            p[40..44].copy_from_slice(&VECTOR_FRAMING_SYNC.to_be_bytes());
            p[44] = self.sync_sequence;
            p[45..47].copy_from_slice(&sync.to_be_bytes());
            // 47..49: reserved, zero.
        }
    }

    fn finish(&mut self, data: &[u8], out: &mut Packets) {
        // Three times, as the standard asks, so a receiver that misses one still lets go.
        for _ in 0..3 {
            self.data(data, STREAM_TERMINATED, out);
        }
    }
}
