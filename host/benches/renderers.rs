//! Every standard renderer at 64×64, 256×64 and 1920×1080: one `render` call plus executing its
//! queued draw commands, through the ABI as the host calls it, on one thread.
//! Run: `cargo bench -p marquee-host --bench renderers`.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use marquee::plugins::registry::Registry;
use marquee_plugin_api::{Canvas, DrawQueue, FrameCtx, InitCtx};

/// Each renderer with a config that exercises it (assets from the test suite).
fn configs(assets: &Path) -> Vec<(&'static str, String)> {
    let asset = |f: &str| assets.join(f).display().to_string();
    vec![
        ("mandelbrot", r#"{"max_iter": 100}"#.into()),
        ("random-pixels", r#"{"count": 64}"#.into()),
        ("solid", r##"{"color": "#ff8000", "pulse_hz": 1.0}"##.into()),
        (
            "gradient",
            r##"{"colors": ["#ff0000", "#0000ff"], "speed": 0.5, "extend": "mirror"}"##.into(),
        ),
        ("life", r#"{"generations_per_second": 30.0}"#.into()),
        (
            "text",
            r#"{"text": "Marquee scrolling text", "scroll": "left", "speed": 60.0}"#.into(),
        ),
        (
            "image",
            format!(
                r#"{{"path": {:?}, "fit": "fill", "scroll": "left"}}"#,
                asset("picture.png")
            ),
        ),
        (
            "spritesheet",
            format!(
                r#"{{"path": {:?}, "loop": "walk", "scale": 2}}"#,
                asset("walker.json")
            ),
        ),
        // 12 images per second at 30 fps: a new image (decoded and scaled on the workers) every
        // 2.5 frames, waited for when late, so this measures decoding throughput too.
        (
            "image-sequence",
            format!(r#"{{"path": {:?}, "fit": "fill"}}"#, asset("seq")),
        ),
    ]
}

fn renderers(c: &mut Criterion) {
    let registry = Registry::builtin();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/assets");
    for (w, h) in [(64u32, 64u32), (256, 64), (1920, 1080)] {
        let mut group = c.benchmark_group(format!("render_{w}x{h}"));
        if w * h > 100_000 {
            group.sample_size(10).measurement_time(Duration::from_secs(4));
        }
        for (id, config) in configs(&assets) {
            let plugin = registry.get(id).expect("standard plugin");
            let init = InitCtx {
                width: w,
                height: h,
                fps: 30.0,
                seed: 42,
            };
            let mut renderer = match (plugin.module.new_renderer())(config.as_str().into(), &init) {
                marquee_plugin_api::abi_stable::std_types::RResult::ROk(r) => r,
                marquee_plugin_api::abi_stable::std_types::RResult::RErr(e) => panic!("{id}: {e}"),
            };
            let mut pixels = vec![0u8; (w * h * 4) as usize];
            let mut queue = DrawQueue::new();
            let mut index = 0u64;
            group.bench_function(id, |b| {
                b.iter(|| {
                    let ctx = FrameCtx::new(&init, index);
                    index += 1;
                    pixels.fill(0);
                    let _ = renderer.render(&ctx, &mut Canvas::new(w, h, &mut pixels, &mut queue));
                    queue.execute(w, h, &mut pixels);
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, renderers);
criterion_main!(benches);
