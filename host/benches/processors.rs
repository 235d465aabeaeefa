//! Every standard processor on a 1920×1080 frame, one thread, through the ABI as the host calls
//! it; then a chain of four per-pixel processors run as the engine runs it, fused into one pass
//! and unfused (one pass each). Run: `cargo bench -p marquee-host --bench processors`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marquee::engine::Processors;
use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;
use marquee_plugin_api::abi_stable::std_types::{RResult, RSliceMut};
use marquee_plugin_api::{FrameCtx, InitCtx, Rng};

fn processors(c: &mut Criterion) {
    let registry = Registry::builtin();
    let (w, h) = (1920u32, 1080u32);
    let mut rng = Rng::new(8);
    let frame: Vec<u8> = (0..w * h * 4)
        .map(|i| if i % 4 == 3 { 255 } else { rng.below(256) as u8 })
        .collect();
    let mut group = c.benchmark_group("process_1920x1080");
    group
        .throughput(Throughput::Elements((w * h) as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (name, id, config) in [
        (
            "color_brightness_gamma",
            "color",
            r#"{"brightness": 1.1, "gamma": 1.2}"#,
        ),
        (
            "color_all",
            "color",
            r#"{"brightness": 1.1, "gamma": 1.2, "contrast": 1.3, "saturation": 1.4, "hue": 25.0}"#,
        ),
        ("blur_gaussian_r2", "blur", r#"{"kind": "gaussian", "radius": 2}"#),
        ("blur_box_r8", "blur", r#"{"kind": "box", "radius": 8}"#),
        ("blur_box_r32", "blur", r#"{"kind": "box", "radius": 32}"#),
        (
            "quantize_4bit_ordered",
            "quantize",
            r#"{"bits": 4, "dither": "ordered"}"#,
        ),
        ("fade", "fade", r#"{"duration": 1000.0}"#),
    ] {
        let init = InitCtx {
            width: w,
            height: h,
            fps: 30.0,
            seed: 0,
        };
        let mut p =
            match (registry.get(id).expect("standard plugin").module.new_processor())(config.into(), &init) {
                RResult::ROk(p) => p,
                RResult::RErr(e) => panic!("{name}: {e}"),
            };
        let mut buf = frame.clone();
        let mut index = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                // Frames cycle over the first 100 s, so the fade (over 1,000 s) stays part-way
                // and never reaches full level, where it has nothing to do.
                index = index % 3000 + 1;
                let _ = p.process(&FrameCtx::new(&init, index), RSliceMut::from_mut_slice(&mut buf));
            })
        });
    }
    group.finish();
}

/// Colour (brightness, gamma), colour (saturation, hue), quantize with dithering, fade: four
/// per-pixel processors, as one fused pass and as four passes.
fn chain(c: &mut Criterion) {
    let registry = Registry::builtin();
    let (w, h) = (1920u32, 1080u32);
    let stage =
        |plugin: &str, config: &str| format!("[[processor]]\nplugin = \"{plugin}\"\nconfig = {config}\n");
    let chains = [
        (
            // Table lookups only: each pass is cheap, so memory traffic is most of its cost.
            "tables",
            [
                stage("color", "{ brightness = 1.1, gamma = 1.2 }"),
                stage("fade", "{ duration = 1000.0 }"),
                stage("quantize", "{ bits = 5 }"),
                stage("color", "{ contrast = 1.2 }"),
            ],
        ),
        (
            // A colour matrix and a dither: arithmetic dominates.
            "mixed",
            [
                stage("color", "{ brightness = 1.1, gamma = 1.2 }"),
                stage("color", "{ saturation = 1.4, hue = 25.0 }"),
                stage("quantize", "{ bits = 5, dither = \"ordered\" }"),
                stage("fade", "{ duration = 1000.0 }"),
            ],
        ),
    ];
    let mut rng = Rng::new(9);
    let frame: Vec<u8> = (0..w * h * 4)
        .map(|i| if i % 4 == 3 { 255 } else { rng.below(256) as u8 })
        .collect();
    let mut group = c.benchmark_group("chain4_1920x1080");
    group
        .throughput(Throughput::Elements((w * h) as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (chain_name, stages) in &chains {
        let text = format!("[canvas]\nwidth = {w}\nheight = {h}\n{}", stages.concat());
        let scene = Scene::parse(std::path::Path::new("chain.toml"), text, &registry).expect("bench scene");
        for (name, fuse) in [("fused", true), ("unfused", false)] {
            let (mut chain, mut members) = Processors::build(&scene, fuse).expect("chain");
            let mut buf = frame.clone();
            let mut index = 0;
            group.bench_function(format!("{chain_name}_{name}"), |b| {
                b.iter(|| {
                    index = index % 3000 + 1;
                    chain.run(&mut members, index, &mut buf);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, processors, chain);
criterion_main!(benches);
