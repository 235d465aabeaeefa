//! GIF's variable-width LZW, encoded with one hash-table probe per pixel (the `gif` crate's own
//! encoder, `weezl`, walks a tree and took half of the recorder's time). Its output is handed to
//! `gif::Encoder::write_lzw_pre_encoded_frame`; any GIF decoder reads it (tests decode it with
//! the `gif` crate, traces' tests with Pillow).
//!
//! The code width starts one bit above the minimum code size and grows when the next code to
//! assign reaches the width's limit; when code 4095 would be assigned, a clear code is sent and
//! the table starts again, as decoders expect.

/// The largest code GIF allows (12 bits), at which the table is cleared.
const MAX_CODE: u32 = (1 << 12) - 1;
/// Slots of the hash table (at most 4,094 entries: under a quarter full).
const SLOTS: usize = 1 << 14;
/// An empty slot. (A real entry never is: its prefix code is at most 4094.)
const EMPTY: u32 = u32::MAX;

/// The encoder's table, reused from frame to frame.
pub struct Lzw {
    /// `(prefix << 8 | symbol) << 12 | code` per slot (an array, so that a masked slot needs no
    /// bounds check).
    table: Box<[u32; SLOTS]>,
}

impl Default for Lzw {
    fn default() -> Self {
        Lzw {
            table: Box::new([EMPTY; SLOTS]),
        }
    }
}

/// Codes packed least significant bit first.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    len: u32,
}

impl Bits<'_> {
    #[inline(always)]
    fn put(&mut self, code: u32, width: u32) {
        self.acc |= (code as u64) << self.len;
        self.len += width;
        if self.len >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.len -= 32;
        }
    }

    fn finish(mut self) {
        while self.len > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.len = self.len.saturating_sub(8);
        }
    }
}

/// The minimum code size for a palette of `colours` entries: the bits an index needs, at
/// least 2 (GIF's smallest).
pub fn min_code_size(colours: usize) -> u8 {
    (colours.max(4).next_power_of_two().trailing_zeros() as u8).min(8)
}

impl Lzw {
    /// Appends to `out` the minimum code size `size` (2 to 8), then the LZW codes of `indices`,
    /// each below `1 << size`, ending with the end-of-information code.
    pub fn encode(&mut self, indices: &[u8], size: u8, out: &mut Vec<u8>) {
        debug_assert!((2..=8).contains(&size));
        debug_assert!(indices.iter().all(|&i| (i as u32) < 1 << size));
        out.push(size);
        let size = size as u32;
        let clear = 1u32 << size;
        let end = clear + 1;
        let mut bits = Bits { out, acc: 0, len: 0 };
        let (mut width, mut next, mut limit) = (size + 1, end, 1u32 << (size + 1));
        self.table.fill(EMPTY);
        bits.put(clear, width);
        let Some((&first, rest)) = indices.split_first() else {
            bits.put(end, width);
            bits.finish();
            return;
        };
        let mask = SLOTS - 1;
        let mut code = first as u32;
        'pixels: for &symbol in rest {
            let key = code << 8 | symbol as u32;
            let mut slot = (key.wrapping_mul(0x9E37_79B1) >> 18) as usize & mask;
            loop {
                let entry = self.table[slot];
                if entry == EMPTY {
                    break;
                }
                if entry >> 12 == key {
                    code = entry & MAX_CODE;
                    continue 'pixels;
                }
                slot = (slot + 1) & mask;
            }
            // `code + symbol` is new: send `code`, and give the new string the next code.
            bits.put(code, width);
            code = symbol as u32;
            next += 1;
            if next == limit {
                width += 1;
                limit <<= 1;
            }
            if next == MAX_CODE {
                bits.put(clear, width);
                (width, next, limit) = (size + 1, end, 1u32 << (size + 1));
                self.table.fill(EMPTY);
            } else {
                self.table[slot] = key << 12 | next;
            }
        }
        bits.put(code, width);
        // The decoder adds an entry on reading that code, which may widen the end code.
        if next + 1 == limit && width < 12 {
            width += 1;
        }
        bits.put(end, width);
        bits.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `indices`, LZW-encoded by [`Lzw`], as a GIF frame with the `gif` crate.
    fn roundtrip(indices: &[u8], size: u8, width: u16) -> Vec<u8> {
        let mut data = Vec::new();
        Lzw::default().encode(indices, size, &mut data);
        let height = (indices.len() / width as usize) as u16;
        let colours = 1usize << size;
        let frame = gif::Frame {
            width,
            height,
            buffer: std::borrow::Cow::Owned(data),
            palette: Some((0..colours * 3).map(|i| i as u8).collect()),
            ..gif::Frame::default()
        };
        let mut file = Vec::new();
        {
            let mut e = gif::Encoder::new(&mut file, width, height, &[]).unwrap();
            e.write_lzw_pre_encoded_frame(&frame).unwrap();
        }
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut d = options.read_info(&file[..]).unwrap();
        d.read_next_frame().unwrap().unwrap().buffer.to_vec()
    }

    /// A deterministic stream of pseudo-random numbers.
    fn noise(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn decoders_read_back_what_was_encoded() {
        let mut next = noise(7);
        // Runs, noise, few and many symbols, and lengths that cross the table's clear (4,095
        // codes) several times and end on every side of a width change.
        for (size, len) in [
            (2, 1),
            (2, 7),
            (2, 5000),
            (3, 40_000),
            (4, 1),
            (5, 333),
            (7, 65_536),
            (8, 1),
            (8, 4093),
            (8, 4094),
            (8, 4095),
            (8, 4096),
            (8, 200_000),
        ] {
            for runs in [false, true] {
                let mut v = 0u8;
                let indices: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next();
                        if !runs || r.is_multiple_of(13) {
                            v = (r >> 8) as u8 & ((1u16 << size) - 1) as u8;
                        }
                        v
                    })
                    .collect();
                let width = 1.max((len as f64).sqrt() as usize);
                let whole = len / width * width;
                assert_eq!(
                    roundtrip(&indices[..whole], size, width as u16),
                    indices[..whole],
                    "size {size}, {len} indices, runs {runs}"
                );
            }
        }
    }

    #[test]
    fn every_small_input_round_trips() {
        // Every sequence of up to 8 symbols over 4 values: the width changes and the end code.
        for len in 1..=8u32 {
            for n in 0..4u32.pow(len) {
                let indices: Vec<u8> = (0..len).map(|i| (n >> (2 * i) & 3) as u8).collect();
                assert_eq!(roundtrip(&indices, 2, len as u16), indices, "{indices:?}");
            }
        }
    }

    #[test]
    fn code_sizes_fit_the_palette() {
        assert_eq!(
            [1, 2, 4, 5, 16, 17, 128, 129, 256].map(min_code_size),
            [2, 2, 2, 3, 4, 5, 7, 8, 8]
        );
    }
}
