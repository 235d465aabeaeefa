//! Recorders: how many frames a second each encoder takes on its own thread, at an LED-matrix
//! size (256×64) and at 1280×720, and what recording costs the render thread per frame (the
//! copy into a pooled buffer and the queue send). Run: `cargo bench -p marquee-host --bench
//! recorders`. Frames are a Mandelbrot zoom with random pixels over it, made once up front.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marquee::engine::{Engine, EngineOptions};
use marquee::model::recording::{ClipSpec, WhenFull};
use marquee::model::scene::Scene;
use marquee::plugins::registry::Registry;
use marquee::record::clips::{ClipRecorder, OpenClip};
use marquee::record::thread::{FINISH_DEADLINE, RecorderThread};
use marquee_plugin_api::abi_stable::sabi_trait::TD_Opaque;
use marquee_plugin_api::abi_stable::std_types::{RResult, RSlice};
use marquee_plugin_api::module::Recorder_TO;
use marquee_plugin_api::{FrameMeta, InitCtx, RecorderBox};

const SIZES: [(u32, u32); 2] = [(256, 64), (1280, 720)];

fn frames(registry: &Registry, (w, h): (u32, u32)) -> Vec<Vec<u8>> {
    let text = format!(
        "fps = 30\n[canvas]\nwidth = {w}\nheight = {h}\n[[layer]]\nplugin = \"mandelbrot\"\n\
         config = {{ max_iter = 100, zoom_speed = 0.5 }}\n[[layer]]\nplugin = \"random-pixels\"\n"
    );
    let scene = Scene::parse(Path::new("bench.toml"), text, registry).expect("scene parses");
    let mut engine = Engine::new(&scene, &EngineOptions::default()).expect("scene builds");
    (0..30).map(|_| engine.step().to_vec()).collect()
}

fn recorder(registry: &Registry, plugin: &str, config: &str, init: &InitCtx) -> RecorderBox {
    let module = registry.get(plugin).expect("a standard plugin").module;
    match (module.new_recorder())(config.into(), init) {
        RResult::ROk(r) => r,
        RResult::RErr(e) => panic!("{plugin}: {e}"),
    }
}

/// A clip recorder of `gif`s with 3 s of pre-roll: between triggers, each frame is a copy into
/// its ring.
fn clip_ring(registry: &Registry, config: String, init: InitCtx) -> RecorderBox {
    let spec = ClipSpec {
        pre_roll_ms: 3000,
        post_roll_ms: 2000,
    };
    let gif = registry.get("gif").expect("a standard plugin").module;
    let open: OpenClip = Box::new(move |_| (gif.new_recorder())(config.as_str().into(), &init).into_result());
    let bytes = init.width as usize * init.height as usize * 4;
    let clips = ClipRecorder::create(spec, init.fps, bytes, open).expect("clips start");
    Recorder_TO::from_value(clips, TD_Opaque)
}

fn meta(index: u64, (width, height): (u32, u32)) -> FrameMeta {
    FrameMeta {
        index,
        time: index as f64 / 30.0,
        fps: 30.0,
        width,
        height,
    }
}

fn encode(c: &mut Criterion) {
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = |name: &str| serde_json::to_string(&dir.path().join(name)).expect("a path");
    for size in SIZES {
        let clip = frames(&registry, size);
        let init = InitCtx {
            width: size.0,
            height: size.1,
            fps: 30.0,
            seed: 0,
        };
        let mut group = c.benchmark_group(format!("encode_{}x{}", size.0, size.1));
        group
            .throughput(Throughput::Elements(1))
            .sample_size(10)
            .measurement_time(Duration::from_secs(if size.0 > 256 { 8 } else { 4 }));
        let cases = [
            ("gif", "gif", format!("{{\"path\": {}}}", out("a.gif"))),
            (
                "png-sequence",
                "png-sequence",
                format!("{{\"path\": {}}}", out("png-{n}.png")),
            ),
            (
                "video-libx264",
                "video",
                format!("{{\"path\": {}, \"codecs\": [\"libx264\"]}}", out("a.mp4")),
            ),
            (
                "video-mpeg4",
                "video",
                format!("{{\"path\": {}, \"codecs\": [\"mpeg4\"]}}", out("b.mp4")),
            ),
            (
                "video-mjpeg",
                "video",
                format!("{{\"path\": {}, \"codecs\": [\"mjpeg\"]}}", out("c.avi")),
            ),
            (
                "clip-ring",
                "clips",
                format!("{{\"path\": {}}}", out("clip-{n}.gif")),
            ),
        ];
        for (name, plugin, config) in cases {
            let mut r = if plugin == "clips" {
                clip_ring(&registry, config, init)
            } else {
                recorder(&registry, plugin, &config, &init)
            };
            let mut i = 0u64;
            group.bench_function(name, |b| {
                b.iter(|| {
                    let frame = &clip[i as usize % clip.len()];
                    let done = r.record(&meta(i, size), RSlice::from_slice(frame));
                    assert!(done.is_ok());
                    i += 1;
                })
            });
            assert!(r.finish().is_ok());
        }
        group.finish();
    }
}

fn handoff(c: &mut Criterion) {
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("render_thread_per_frame");
    for size in SIZES {
        let clip = frames(&registry, size);
        let init = InitCtx {
            width: size.0,
            height: size.1,
            fps: 30.0,
            seed: 0,
        };
        // A recorder that keeps up (a PNG sequence writing only frame 0): the cost measured is
        // the render thread's alone, the copy into a pooled buffer and the send.
        let config = format!(
            "{{\"path\": {}, \"every\": 1000000000}}",
            serde_json::to_string(&dir.path().join("n-{n}.png")).expect("a path")
        );
        let object = recorder(&registry, "png-sequence", &config, &init);
        let bytes = size.0 as usize * size.1 as usize * 4;
        let mut thread = RecorderThread::spawn("bench", object, (bytes, 8), WhenFull::Wait, FINISH_DEADLINE);
        let mut i = 0u64;
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("offer_{}x{}", size.0, size.1), |b| {
            b.iter(|| {
                let frame = &clip[i as usize % clip.len()];
                assert!(thread.offer(&meta(i, size), frame).is_none());
                i += 1;
            })
        });
        assert!(thread.finish().is_ok());
    }
    group.finish();
}

criterion_group!(benches, encode, handoff);
criterion_main!(benches);
