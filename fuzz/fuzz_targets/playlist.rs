//! Playlists with nesting: the input is up to three files separated by `----` lines, written as
//! `a.toml` (the playlist opened), `b.toml` and `c.toml`, which it may name as nested playlists
//! or scenes. Loading never panics and never expands past the entry cap.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marquee::model::playlist::{MAX_ENTRIES, Playlist};

fuzz_target!(|data: &[u8]| {
    let dir = marquee_fuzz::scratch();
    let files = marquee_fuzz::split_files(data, 3);
    for (name, text) in ["a.toml", "b.toml", "c.toml"].iter().zip(&files) {
        std::fs::write(dir.join(name), text).expect("scratch is writable");
    }
    for name in ["b.toml", "c.toml"].iter().skip(files.len() - 1) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    if let Ok(playlist) = Playlist::load(&dir.join("a.toml"), marquee_fuzz::registry()) {
        assert!(playlist.cycle_slots() <= MAX_ENTRIES as u64);
    }
});
