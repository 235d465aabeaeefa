//! Decoding image files a scene names, bounded: a regular file of limited size whose pixels,
//! read from its header before anything is decoded, fit the memory the caller allows. Behind the
//! `images` feature (it brings in the `image` crate). Also how a decoded image is placed on a
//! layer ([`Fit`], [`placement`], [`copy_clipped`]), shared by the plugins that show images.

use std::path::Path;

use serde::{Deserialize, Serialize};

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

/// How the image is sized to the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// As large as fits whole, aspect kept, centred.
    Fit,
    /// As small as covers the layer, aspect kept, centred and cropped.
    Fill,
    /// Exactly the layer's size, aspect not kept.
    Stretch,
    /// Unscaled, centred.
    Center,
}

/// Copies the `sw × sh` RGBA8 image `src` onto the `lw × lh` RGBA8 surface `dst` with its
/// top-left corner at `(x, y)`, clipped to the surface (pixels replaced, not blended).
#[allow(clippy::too_many_arguments)]
pub fn copy_clipped(src: &[u8], sw: i64, sh: i64, x: i64, y: i64, dst: &mut [u8], lw: i64, lh: i64) {
    let (from_x, to_x) = ((-x).max(0), (lw - x).min(sw));
    if from_x >= to_x {
        return;
    }
    for row in (-y).max(0)..(lh - y).min(sh) {
        let s = ((row * sw + from_x) * 4) as usize;
        let d = (((y + row) * lw + x + from_x) * 4) as usize;
        let n = ((to_x - from_x) * 4) as usize;
        dst[d..d + n].copy_from_slice(&src[s..s + n]);
    }
}

/// The size and position of a `w × h` image on a `lw × lh` layer under `fit`.
pub fn placement(fit: Fit, w: u32, h: u32, lw: u32, lh: u32) -> (u32, u32, i64, i64) {
    let (sw, sh) = match fit {
        Fit::Center => (w, h),
        Fit::Stretch => (lw, lh),
        Fit::Fit | Fit::Fill => {
            let (kx, ky) = (lw as f64 / w as f64, lh as f64 / h as f64);
            let k = if fit == Fit::Fit { kx.min(ky) } else { kx.max(ky) };
            (
                ((w as f64 * k).round() as u32).max(1),
                ((h as f64 * k).round() as u32).max(1),
            )
        }
    };
    (sw, sh, (lw as i64 - sw as i64) / 2, (lh as i64 - sh as i64) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements() {
        assert_eq!(placement(Fit::Fit, 100, 50, 64, 64), (64, 32, 0, 16));
        assert_eq!(placement(Fit::Fill, 100, 50, 64, 64), (128, 64, -32, 0));
        assert_eq!(placement(Fit::Stretch, 100, 50, 64, 64), (64, 64, 0, 0));
        assert_eq!(placement(Fit::Center, 10, 6, 64, 64), (10, 6, 27, 29));
    }

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
