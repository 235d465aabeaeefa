//! Scene files: parsing and validation (plugins resolved, configs checked, budget counted)
//! never panic, whatever the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marquee::model::scene::Scene;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = marquee_fuzz::scratch().join("scene.toml");
    let _ = Scene::parse(&path, text.to_string(), marquee_fuzz::registry());
});
