//! Rig files: any text, checked against frames of any size. Parsing and checking never panic;
//! a rig that passes both maps every LED of every output inside the frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marquee::model::rig::Rig;
use marquee::output::led::map::led_order;

fuzz_target!(|data: &[u8]| {
    let (size, text) = data.split_at(data.len().min(4));
    let side = |b: Option<&u8>| 1 + b.copied().unwrap_or(0) as u32;
    let (width, height) = (
        side(size.first()) * side(size.get(1)),
        side(size.get(2)) * side(size.get(3)),
    );
    let Ok(rig) = Rig::parse(
        std::path::Path::new("rig.toml"),
        String::from_utf8_lossy(text).into_owned(),
    ) else {
        return;
    };
    let Ok(regions) = rig.check_frame(width, height) else {
        return;
    };
    let frame_bytes = width as u64 * height as u64 * 4;
    for (spec, region) in rig.outputs.iter().zip(regions) {
        for at in led_order(width, region, spec.layout.as_ref()) {
            assert!((at as u64) + 4 <= frame_bytes, "an LED outside the frame");
        }
    }
});
