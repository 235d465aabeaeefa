//! Decoding image files a scene names, bounded: a regular file of limited size whose pixels,
//! read from its header before anything is decoded, fit the memory the caller allows. Behind the
//! `images` feature (it brings in the `image` crate).

use std::path::Path;

/// The largest image file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The most one decoded image may take as RGBA8, in bytes (8192 × 8192). Checked from the
/// file's header before decoding; decoding then takes at most three times as much at its peak
/// (16-bit pixels as the decoder gives them, plus their RGBA8 copy). The size an image is scaled
/// to on its layer counts against it too.
pub const MAX_DECODED_BYTES: u64 = 256 << 20;

/// Decodes the image file `path` (its format from its contents) to RGBA8: a regular file of at
/// most [`MAX_FILE_BYTES`] (never a FIFO or a device) whose pixels take at most `max_bytes` as
/// RGBA8 (read from its header before anything is decoded).
pub fn decode(path: &Path, max_bytes: u64) -> Result<image::RgbaImage, String> {
    use std::io::{BufReader, Seek};
    let file = crate::files::open_regular(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "it is {len} bytes, more than the {MAX_FILE_BYTES} allowed"
        ));
    }
    let reader = || image::ImageReader::new(BufReader::new(&file)).with_guessed_format();
    let (w, h) = reader()
        .and_then(|r| r.into_dimensions().map_err(std::io::Error::other))
        .map_err(|e| e.to_string())?;
    check_size("it", w, h, max_bytes)?;
    (&file).rewind().map_err(|e| e.to_string())?;
    let mut r = reader().map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    // The decoder's own buffer: up to 16 bytes a pixel for the widest formats.
    limits.max_alloc = Some(max_bytes.saturating_mul(4));
    r.limits(limits);
    Ok(r.decode().map_err(|e| e.to_string())?.into_rgba8())
}

/// Refuses `what`, a `w × h` image, if it takes more than `max_bytes` as RGBA8.
pub fn check_size(what: &str, w: u32, h: u32, max_bytes: u64) -> Result<(), String> {
    let bytes = w as u64 * h as u64 * 4;
    if bytes > max_bytes {
        return Err(format!(
            "{what} is {w}×{h} pixels, {} MiB as RGBA, more than the {} MiB one image may take; scale it down first",
            bytes.div_ceil(1 << 20),
            max_bytes >> 20
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of a header declaring `w × h` RGBA8 pixels (and no pixel data).
    fn header_only_png(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(w.to_be_bytes());
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(&ihdr);
        png.extend(crc32fast::hash(&ihdr).to_be_bytes());
        // An empty IDAT: the decoder reads the header up to the first one.
        png.extend(0u32.to_be_bytes());
        png.extend(b"IDAT");
        png.extend(crc32fast::hash(b"IDAT").to_be_bytes());
        png
    }

    #[test]
    fn sizes_are_refused_from_the_header_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = dir.path().join("bomb.png");
        std::fs::write(&bomb, header_only_png(65535, 65535)).unwrap();
        let err = decode(&bomb, MAX_DECODED_BYTES).unwrap_err();
        assert!(
            err.contains("65535×65535 pixels, 16384 MiB as RGBA, more than the 256 MiB"),
            "{err}"
        );
        // A real image over the caller's own limit, and the same under it.
        let small = dir.path().join("small.png");
        image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
            .save(&small)
            .unwrap();
        let err = decode(&small, 255).unwrap_err();
        assert!(err.contains("8×8 pixels"), "{err}");
        let img = decode(&small, 256).unwrap();
        assert_eq!(img.dimensions(), (8, 8));
        assert_eq!(img.get_pixel(7, 7).0, [1, 2, 3, 255], "RGB comes back as RGBA8");
    }

    #[test]
    fn scaled_sizes_are_checked_with_the_same_rule() {
        assert!(check_size("it", 8192, 8192, MAX_DECODED_BYTES).is_ok());
        let err = check_size("scaled, it", 8192, 8193, MAX_DECODED_BYTES).unwrap_err();
        assert!(err.starts_with("scaled, it is 8192×8193 pixels"), "{err}");
    }
}
