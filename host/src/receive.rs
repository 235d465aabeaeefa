//! The receiving end of the LED outputs, for testing a rig without hardware (`marquee
//! receive`): listens for DDP, E1.31 and Art-Net on UDP, decodes each packet from the protocols'
//! descriptions (not from the senders in `output::led`), places its pixels in one frame, and
//! counts per source: frames, packets, sequence gaps and late (out-of-order) packets. (HUB75
//! is a stream to a driver process, not received here.)

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

pub use crate::model::rig::Protocol;

/// What one source (a protocol from one address) sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceCounts {
    /// Frames completed (DDP push, E1.31 sync, ArtSync; without sync, a packet of the first
    /// universe).
    pub frames: u64,
    /// Packets decoded.
    pub packets: u64,
    /// Sequence numbers skipped (packets lost or not sent).
    pub gaps: u64,
    /// Packets older than one already received on their universe (late, out of order):
    /// counted and not shown.
    pub late: u64,
    /// Packets that were not the protocol's (wrong header, bad length): counted, ignored.
    pub malformed: u64,
}

/// Where a receiver listens and how it lays pixels out.
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    /// The address to listen on.
    pub listen: IpAddr,
    /// DDP, E1.31 and Art-Net ports.
    pub ports: [u16; 3],
    /// The frame shown: width and height; pixels fill it row by row.
    pub size: (u32, u32),
    /// The E1.31 universe and Art-Net port address of the first pixel.
    pub universe: (u16, u16),
    /// Pixels per universe.
    pub pixels_per_universe: u16,
}

/// The last sequence number on one universe (or one DDP source).
#[derive(Debug, Default)]
struct Sequence(Option<u8>);

impl Sequence {
    /// Takes `seq`, on a ring of `ring` numbers (`1..=ring` where 0 means "not used", as DDP
    /// and Art-Net number; `0..ring` for E1.31, `zero_used`), and says whether it is late;
    /// counts gaps in `c`. Late: up to 20 behind the last (half the ring, for DDP's 15), as
    /// E1.31 receivers judge.
    fn take(&mut self, seq: u8, ring: u16, zero_used: bool, c: &mut SourceCounts) -> bool {
        if seq == 0 && !zero_used {
            return false;
        }
        let Some(last) = self.0 else {
            self.0 = Some(seq);
            return false;
        };
        let span = ring as i32;
        // How far ahead of the last, on a ring of 1..=max.
        let ahead = (seq as i32 - last as i32).rem_euclid(span);
        if ahead == 0 || ahead > span - 20.min(span / 2) {
            c.late += 1;
            return true;
        }
        c.gaps += (ahead - 1) as u64;
        self.0 = Some(seq);
        false
    }
}

/// A receiver: three sockets, one frame, counts per source.
#[derive(Debug)]
pub struct Receiver {
    sockets: [(Protocol, UdpSocket); 3],
    options: ReceiveOptions,
    /// RGBA8, `size`.
    frame: Vec<u8>,
    counts: BTreeMap<(Protocol, SocketAddr), SourceCounts>,
    sequences: BTreeMap<(Protocol, SocketAddr, u16), Sequence>,
    /// Art-Net sources that send ArtSync: their frames are counted by it.
    artnet_synced: std::collections::BTreeSet<SocketAddr>,
    buf: Vec<u8>,
}

impl Receiver {
    /// Binds the three sockets.
    pub fn bind(options: ReceiveOptions) -> io::Result<Receiver> {
        let bind = |port| -> io::Result<UdpSocket> {
            let s = UdpSocket::bind((options.listen, port))?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        let sockets = [
            (Protocol::Ddp, bind(options.ports[0])?),
            (Protocol::E131, bind(options.ports[1])?),
            (Protocol::Artnet, bind(options.ports[2])?),
        ];
        let (w, h) = options.size;
        let mut frame = vec![0u8; w as usize * h as usize * 4];
        for px in frame.chunks_exact_mut(4) {
            px[3] = 255;
        }
        Ok(Receiver {
            sockets,
            options,
            frame,
            counts: BTreeMap::new(),
            sequences: BTreeMap::new(),
            artnet_synced: std::collections::BTreeSet::new(),
            buf: vec![0; 65_536],
        })
    }

    /// Decodes every packet waiting now; returns how many there were.
    pub fn poll(&mut self) -> io::Result<usize> {
        let mut n = 0;
        for i in 0..self.sockets.len() {
            loop {
                let (protocol, socket) = &self.sockets[i];
                let protocol = *protocol;
                match socket.recv_from(&mut self.buf) {
                    Ok((len, from)) => {
                        n += 1;
                        let packet = std::mem::take(&mut self.buf);
                        self.decode(protocol, from, &packet[..len]);
                        self.buf = packet;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }

    /// The frame as received so far (RGBA8).
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// The counts of every source seen.
    pub fn counts(&self) -> &BTreeMap<(Protocol, SocketAddr), SourceCounts> {
        &self.counts
    }

    /// Places `rgb` (whole pixels) at pixel `first` of the frame, row by row; what falls outside
    /// is left out.
    fn place(&mut self, first: usize, rgb: &[u8]) {
        let pixels = self.frame.len() / 4;
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let at = first + i;
            if at >= pixels {
                break;
            }
            self.frame[at * 4..at * 4 + 3].copy_from_slice(px);
        }
    }

    fn decode(&mut self, protocol: Protocol, from: SocketAddr, p: &[u8]) {
        let mut c = self.counts.get(&(protocol, from)).copied().unwrap_or_default();
        let ok = match protocol {
            Protocol::Ddp => self.ddp(from, p, &mut c),
            Protocol::E131 => self.e131(from, p, &mut c),
            Protocol::Artnet => self.artnet(from, p, &mut c),
            Protocol::Hub75 => unreachable!("no socket listens for it: a stream, not datagrams"),
        };
        if ok {
            c.packets += 1;
        } else {
            c.malformed += 1;
        }
        self.counts.insert((protocol, from), c);
    }

    /// DDP: flags (version 1; push; timecode adds 4 header bytes), sequence, type, id, offset,
    /// length, data. Data at a byte offset; the push flag ends a frame.
    fn ddp(&mut self, from: SocketAddr, p: &[u8], c: &mut SourceCounts) -> bool {
        if p.len() < 10 || p[0] >> 6 != 1 {
            return false;
        }
        let header = if p[0] & 0x10 != 0 { 14 } else { 10 };
        let offset = u32::from_be_bytes([p[4], p[5], p[6], p[7]]) as usize;
        let len = u16::from_be_bytes([p[8], p[9]]) as usize;
        if p.len() < header + len {
            return false;
        }
        let seq = p[1] & 0x0f;
        let key = (Protocol::Ddp, from, 0);
        if self.sequences.entry(key).or_default().take(seq, 15, false, c) {
            return true;
        }
        // Whole pixels only: a packet's data starts on a pixel boundary when offsets do.
        let data = &p[header..header + len];
        let skip = (3 - offset % 3) % 3;
        if skip < data.len() {
            self.place(offset.div_ceil(3), &data[skip..]);
        }
        if p[0] & 0x01 != 0 {
            c.frames += 1;
        }
        true
    }

    /// E1.31: the root layer (ACN id, vector 4 data or 8 extended), the framing layer (universe,
    /// sequence; for a sync packet, its sequence), the DMP layer (property count, start code 0).
    fn e131(&mut self, from: SocketAddr, p: &[u8], c: &mut SourceCounts) -> bool {
        if p.len() < 22 || &p[4..16] != b"ASC-E1.17\0\0\0" {
            return false;
        }
        match u32::from_be_bytes([p[18], p[19], p[20], p[21]]) {
            0x0000_0008 if p.len() >= 49 => {
                // A synchronisation packet: a frame ends.
                let universe = u16::from_be_bytes([p[45], p[46]]);
                let key = (Protocol::E131, from, universe | 0x8000);
                if !self.sequences.entry(key).or_default().take(p[44], 256, true, c) {
                    c.frames += 1;
                }
                true
            }
            0x0000_0004 if p.len() >= 126 => {
                let universe = u16::from_be_bytes([p[113], p[114]]);
                let count = u16::from_be_bytes([p[123], p[124]]) as usize;
                if count == 0 || p.len() < 125 + count || p[125] != 0 {
                    return false;
                }
                let key = (Protocol::E131, from, universe);
                if self.sequences.entry(key).or_default().take(p[111], 256, true, c) {
                    return true;
                }
                let slots = &p[126..125 + count];
                let Some(index) = universe.checked_sub(self.options.universe.0) else {
                    return true;
                };
                self.place(index as usize * self.options.pixels_per_universe as usize, slots);
                // Without synchronisation (no sync address), the first universe marks frames.
                let sync_address = u16::from_be_bytes([p[109], p[110]]);
                if sync_address == 0 && index == 0 {
                    c.frames += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// Art-Net: "Art-Net\0", OpCode (little-endian) ArtDmx 0x5000 (sequence, SubUni, Net,
    /// length big-endian, data) or ArtSync 0x5200.
    fn artnet(&mut self, from: SocketAddr, p: &[u8], c: &mut SourceCounts) -> bool {
        if p.len() < 12 || &p[0..8] != b"Art-Net\0" {
            return false;
        }
        match u16::from_le_bytes([p[8], p[9]]) {
            0x5200 => {
                // The frame this ends was counted by its first universe until the first sync.
                if !self.artnet_synced.insert(from) {
                    c.frames += 1;
                }
                true
            }
            0x5000 if p.len() >= 18 => {
                let address = u16::from_le_bytes([p[14], p[15] & 0x7f]);
                let len = u16::from_be_bytes([p[16], p[17]]) as usize;
                if p.len() < 18 + len {
                    return false;
                }
                let key = (Protocol::Artnet, from, address);
                if self.sequences.entry(key).or_default().take(p[12], 255, false, c) {
                    return true;
                }
                let Some(index) = address.checked_sub(self.options.universe.1) else {
                    return true;
                };
                let ppu = self.options.pixels_per_universe as usize;
                let whole = (len / 3).min(ppu) * 3;
                self.place(index as usize * ppu, &p[18..18 + whole]);
                // Without ArtSync, the first universe marks frames.
                if index == 0 && !self.artnet_synced.contains(&from) {
                    c.frames += 1;
                }
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_count_gaps_and_late_packets() {
        let mut c = SourceCounts::default();
        let mut s = Sequence::default();
        for seq in [1, 2, 3, 5, 6] {
            assert!(!s.take(seq, 256, true, &mut c));
        }
        assert_eq!(c.gaps, 1, "4 never came");
        assert!(s.take(4, 256, true, &mut c), "4 after 6 is late");
        assert!(s.take(6, 256, true, &mut c), "a repeat is late");
        assert_eq!(c.late, 2);
        // E1.31 wraps through 0; Art-Net skips it (0 is "off").
        let mut s = Sequence(Some(255));
        assert!(!s.take(0, 256, true, &mut c) && !s.take(1, 256, true, &mut c));
        let mut s = Sequence(Some(255));
        assert!(!s.take(1, 255, false, &mut c));
        assert_eq!(c.gaps, 1);
        // DDP's 1–15 ring.
        let mut s = Sequence(Some(15));
        assert!(!s.take(1, 15, false, &mut c));
        assert!(!s.take(3, 15, false, &mut c));
        assert_eq!(c.gaps, 2, "2 never came");
    }
}
