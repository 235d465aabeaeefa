//! Trace directories: an `index.json` and the GIF it names (the input is the two, separated by
//! a `----` line). Reading and checking them, as `marquee verify` does before rendering, never
//! panics and never allocates past the size the index declares.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = marquee_fuzz::scratch().join("trace");
    std::fs::create_dir_all(&dir).expect("scratch is writable");
    let (index, gif) = match data.windows(6).position(|w| w == b"\n----\n") {
        Some(at) => (&data[..at], &data[at + 6..]),
        None => (data, &[][..]),
    };
    std::fs::write(dir.join("index.json"), index).expect("scratch is writable");
    std::fs::write(dir.join("trace.gif"), gif).expect("scratch is writable");
    // The scene is not there: a trace whose GIF agrees with its index ends in a clean error.
    let _ = marquee::trace::verify(&dir, marquee_fuzz::registry(), None, 1, |_, _| {});
});
