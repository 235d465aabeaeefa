//! The compositor at 1920×1080: one layer with varied alpha onto an opaque frame, for every blend
//! mode, in pixels per second. Compare with `../shared/peers/composite.c` run in the same session.
//! Run: `cargo bench -p marquee-host --bench composite`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marquee::compose::accumulator::blend_row;
use marquee::model::scene::Blend;
use marquee_plugin_api::Rng;

fn composite(c: &mut Criterion) {
    let (w, h) = (1920usize, 1080usize);
    let mut rng = Rng::new(3);
    let src: Vec<u8> = (0..w * h * 4).map(|_| rng.below(256) as u8).collect();
    let base: Vec<u8> = (0..w * h * 4)
        .map(|i| if i % 4 == 3 { 255 } else { rng.below(256) as u8 })
        .collect();
    let mut dst = base.clone();
    let mut group = c.benchmark_group("composite_1920x1080");
    group.throughput(Throughput::Elements((w * h) as u64));
    for (name, blend) in [
        ("normal", Blend::Normal),
        ("add", Blend::Add),
        ("multiply", Blend::Multiply),
        ("screen", Blend::Screen),
        ("lighten", Blend::Lighten),
        ("darken", Blend::Darken),
    ] {
        group.bench_function(name, |b| b.iter(|| blend_row(blend, &mut dst, &src, 204)));
    }
    // At opacity 1, as the peer's `blend_opaque_avx2` blends (per-pixel alpha only).
    group.bench_function("normal_opacity_1", |b| {
        b.iter(|| blend_row(Blend::Normal, &mut dst, &src, 255))
    });
    group.finish();
}

criterion_group!(benches, composite);
criterion_main!(benches);
