//! Frame time of the showcase scene at 256×64, headless, on one thread, and of an empty scene of
//! the same size (the framework's own overhead). Run: `cargo bench -p marquee-host --bench showcase`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use marquee::engine::{Engine, EngineOptions};
use marquee::registry::Registry;
use marquee::scene::Scene;

fn engine(scene: &Scene) -> Engine {
    let mut engine = Engine::new(scene, &EngineOptions::default()).expect("scene builds");
    for _ in 0..30 {
        engine.step();
    }
    engine
}

fn frames(c: &mut Criterion) {
    let registry = Registry::builtin();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let showcase = Scene::load(&root.join("scenes/showcase.toml"), &registry).expect("showcase loads");
    let empty_text = "fps = 30\n[canvas]\nwidth = 256\nheight = 64\n".to_string();
    let empty = Scene::parse(Path::new("empty.toml"), empty_text, &registry).expect("empty scene parses");

    let mut group = c.benchmark_group("frame");
    let mut e = engine(&showcase);
    group.bench_function("showcase_256x64", |b| b.iter(|| e.step().len()));
    let mut e = engine(&empty);
    group.bench_function("empty_256x64", |b| b.iter(|| e.step().len()));
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
