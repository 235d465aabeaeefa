//! Frame time of the showcase scene at 256×64, headless, on one thread; of a small 64×64 scene
//! without fractals (three layers, two processors); of an empty scene (the framework's own
//! overhead); and of the showcase with every plugin loaded from its `.so` instead of built in (the
//! cost of calling through the ABI); and a hot reload of the showcase after a one-layer edit (the
//! edited file parsed and checked, then applied to the running engine). Run: `cargo build --release --workspace && cargo bench -p
//! marquee-host --bench showcase` (the `.so` case is skipped when the libraries are not built).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;

fn engine(scene: &Scene) -> Engine {
    let mut engine = Engine::new(scene, &EngineOptions::default()).expect("scene builds");
    for _ in 0..30 {
        engine.step();
    }
    engine
}

/// The standard plugins from the `.so` files of this profile, if they are all built.
fn so_registry() -> Option<Registry> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let mut registry = Registry::builtin();
    let ids: Vec<String> = registry
        .plugins()
        .iter()
        .map(|p| p.id().replace('-', "_"))
        .collect();
    for id in ids {
        let file = dir.join(format!("libmarquee_plugin_{id}.so"));
        if !file.exists() {
            return None;
        }
        registry.load(&file);
    }
    registry.failures().is_empty().then_some(registry)
}

fn frames(c: &mut Criterion) {
    let registry = Registry::builtin();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let showcase = Scene::load(&root.join("scenes/showcase.toml"), &registry).expect("showcase loads");
    let empty_text = "fps = 30\n[canvas]\nwidth = 256\nheight = 64\n".to_string();
    let empty = Scene::parse(Path::new("empty.toml"), empty_text, &registry).expect("empty scene parses");

    let small_text = "fps = 60\nseed = 3\n[canvas]\nwidth = 64\nheight = 64\n\
        [[layer]]\nplugin = \"gradient\"\nconfig = { speed = 0.2 }\n\
        [[layer]]\nplugin = \"text\"\nconfig = { text = \"LED\", scroll = \"left\" }\n\
        [[layer]]\nplugin = \"random-pixels\"\nconfig = { count = 40 }\n\
        [[processor]]\nplugin = \"color\"\nconfig = { gamma = 1.2 }\n\
        [[processor]]\nplugin = \"quantize\"\nconfig = { bits = 5, dither = \"ordered\" }\n"
        .to_string();
    let small = Scene::parse(Path::new("small.toml"), small_text, &registry).expect("small scene parses");

    let mut group = c.benchmark_group("frame");
    let mut e = engine(&showcase);
    group.bench_function("showcase_256x64", |b| b.iter(|| e.step().len()));
    let mut e = engine(&small);
    group.bench_function("small_64x64", |b| b.iter(|| e.step().len()));
    let mut e = engine(&empty);
    group.bench_function("empty_256x64", |b| b.iter(|| e.step().len()));
    match so_registry() {
        Some(so) => {
            let showcase = Scene::load(&root.join("scenes/showcase.toml"), &so).expect("showcase loads");
            let mut e = engine(&showcase);
            group.bench_function("showcase_256x64_so", |b| b.iter(|| e.step().len()));
        }
        None => eprintln!(
            "note: no plugin .so files next to this bench; run `cargo build --release --workspace` to measure the ABI"
        ),
    }
    group.finish();
}

/// A one-layer edit of the showcase (the sparkles' opacity), applied to a running engine: what a
/// hot reload costs once the live loop has seen the file change.
fn reload(c: &mut Criterion) {
    let registry = Registry::builtin();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes/showcase.toml");
    let text = std::fs::read_to_string(&path).expect("showcase reads");
    assert!(
        text.contains("opacity = 0.85"),
        "the showcase's sparkles state their opacity"
    );
    let texts = [text.replace("opacity = 0.85", "opacity = 0.80"), text];
    let options = EngineOptions::default();
    let mut e = engine(&Scene::parse(&path, texts[1].clone(), &registry).expect("showcase parses"));
    let mut i = 0;
    c.bench_function("reload/showcase_one_layer", |b| {
        b.iter(|| {
            i += 1;
            let scene = Scene::parse(&path, texts[i % 2].clone(), &registry).expect("edit parses");
            e.reload(&scene, &options).expect("edit applies");
            e.step().len()
        })
    });
}

criterion_group!(benches, frames, reload);
criterion_main!(benches);
