//! The GIF recorder (`gif` plugin; median cut, and NeuQuant at two speeds) on 256×256 frames,
//! one thread, through the ABI as traces use it. Run: `cargo bench -p marquee-host --bench gif`
//! (with `PEER_FRAMES=DIR`, also ffmpeg's `testsrc2` frames from DIR; with `PHOTO_FRAMES=DIR`, a
//! panned photograph's). Peer: ffmpeg's GIF encoder on the same size
//! (`../shared/peers/gif_bench.sh`).
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;
use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice};
use marquee_plugin_api::{FrameMeta, InitCtx};

fn gif(c: &mut Criterion) {
    let registry = Registry::builtin();
    let text = "fps = 30\n[canvas]\nwidth = 256\nheight = 256\n[[layer]]\nplugin = \"mandelbrot\"\n\
        config = { max_iter = 100, zoom_speed = 0.5 }\n[[layer]]\nplugin = \"random-pixels\"\n"
        .to_string();
    // Under 256 colours (an exact palette), and a smooth gradient with thousands (NeuQuant).
    let many = "fps = 30\n[canvas]\nwidth = 256\nheight = 256\n[[layer]]\nplugin = \"gradient\"\n\
        config = { colors = [\"#ff0000\", \"#00ff80\", \"#2000ff\"], angle = 30.0, speed = 0.3 }\n"
        .to_string();
    // A few thousand colours, as in video test footage: the gradient at 6 bits.
    let banded = many.clone() + "[[processor]]\nplugin = \"quantize\"\nconfig = { bits = 6 }\n";
    let mut clips: Vec<(&str, Vec<Vec<u8>>)> = [("fractal", text), ("banded", banded), ("gradient", many)]
        .into_iter()
        .map(|(name, text)| {
            let scene = Scene::parse(Path::new("gif.toml"), text, &registry).expect("scene parses");
            let mut engine = Engine::new(&scene, &EngineOptions::default()).expect("scene builds");
            (name, (0..30).map(|_| engine.step().to_vec()).collect())
        })
        .collect();
    // Footage the peers encode too, 30 frames of 256×256 PNGs (DIR/f0001.png ...): ffmpeg's test
    // pattern with `PEER_FRAMES=DIR` (`ffmpeg -f lavfi -i testsrc2=s=256x256:rate=30:duration=10
    // DIR/f%04d.png`), a photograph panned with `PHOTO_FRAMES=DIR` (`scripts/gif_size.py` makes
    // both, and says how).
    for (var, clip) in [("PEER_FRAMES", "testsrc2"), ("PHOTO_FRAMES", "photo")] {
        let Some(dir) = std::env::var_os(var) else {
            continue;
        };
        let dir = std::path::PathBuf::from(dir);
        let frames: Vec<Vec<u8>> = (1..=30)
            .filter_map(|i| image::open(dir.join(format!("f{i:04}.png"))).ok())
            .map(|im| im.to_rgba8().into_raw())
            .filter(|px| px.len() == 256 * 256 * 4)
            .collect();
        assert_eq!(
            frames.len(),
            30,
            "{var}: 30 frames of 256×256 in {}",
            dir.display()
        );
        clips.push((clip, frames));
    }
    let dir = tempfile::tempdir().expect("a temporary directory");

    let mut group = c.benchmark_group("gif_256x256");
    group
        .throughput(Throughput::Elements(256 * 256))
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for ((clip, frames), (speed, quantizer)) in clips.iter().flat_map(|c| {
        [
            (c, (10, "neuquant")),
            (c, (30, "neuquant")),
            (c, (10, "median-cut")),
        ]
    }) {
        let init = InitCtx {
            width: 256,
            height: 256,
            fps: 30.0,
            seed: 0,
        };
        let path = dir.path().join(format!("{clip}{speed}{quantizer}.gif"));
        let config = serde_json::json!({ "path": path, "speed": speed, "quantizer": quantizer }).to_string();
        let plugin = registry.get("gif").expect("the gif plugin");
        let mut recorder = match (plugin.module.new_recorder())(config.as_str().into(), &init) {
            RResult::ROk(r) => r,
            RResult::RErr(e) => panic!("{e}"),
        };
        let mut index = 0u64;
        let name = match quantizer {
            "neuquant" => format!("{clip}_neuquant_speed{speed}"),
            _ => format!("{clip}_{quantizer}"),
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let frame = &frames[(index % 30) as usize];
                let meta = FrameMeta {
                    index,
                    time: index as f64 / 30.0,
                    fps: 30.0,
                    width: 256,
                    height: 256,
                };
                index += 1;
                let _ = recorder.record(&meta, RSlice::from_slice(frame));
            })
        });
        let _ = recorder.finish();
    }
    group.finish();
}

criterion_group!(benches, gif);
criterion_main!(benches);
