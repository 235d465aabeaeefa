//! Trace shards: two shard directories (each an `index.json` and its GIF; the input is the four,
//! separated by `----` lines) merged, as `marquee trace merge` does. Reading, checking and
//! copying them never panics, and a merge that succeeds writes a trace whose index lists every
//! frame of its shards.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = marquee_fuzz::scratch().join("merge");
    let mut parts = Vec::new();
    let mut rest = data;
    for _ in 0..3 {
        match rest.windows(6).position(|w| w == b"\n----\n") {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + 6..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts.resize(4, &[][..]);
    let dirs: Vec<_> = (0..2).map(|i| root.join(format!("shard-{i}"))).collect();
    for (i, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir).expect("scratch is writable");
        std::fs::write(dir.join("index.json"), parts[2 * i]).expect("scratch is writable");
        std::fs::write(dir.join("trace.gif"), parts[2 * i + 1]).expect("scratch is writable");
    }
    let out = root.join("out");
    let _ = std::fs::remove_dir_all(&out);
    if let Ok(merged) = marquee::trace::merge::merge(&dirs, &out) {
        let held: usize = dirs
            .iter()
            .map(|d| marquee::trace::read_index(d).map_or(0, |i| i.frames.len()))
            .sum();
        assert_eq!(merged.index.frames.len(), held);
    }
});
