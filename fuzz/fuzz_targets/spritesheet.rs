//! Sprite sheets: Aseprite JSON beside a small PNG. Reading and checking a sheet never panics,
//! whatever frame rectangles, durations and tags it declares.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = marquee_fuzz::scratch().join("sheet");
    let png = dir.join("sheet.png");
    if !png.exists() {
        std::fs::create_dir_all(&dir).expect("scratch is writable");
        // A 4×2 sheet: the JSON may name it (`"image": "sheet.png"`) or anything else.
        std::fs::write(&png, SHEET_PNG).expect("scratch is writable");
    }
    let json = dir.join("sheet.json");
    std::fs::write(&json, data).expect("scratch is writable");
    let _ = marquee_spritesheet::load(&json);
});

/// A 4×2 RGBA PNG.
const SHEET_PNG: &[u8] = include_bytes!("../seeds/sheet.png");
