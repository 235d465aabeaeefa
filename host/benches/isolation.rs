//! What running an instance in a child process costs (docs/PERFORMANCE.md, "Isolated
//! instances"): one `render` call of `solid` at 256×64 and 1920×1080 in process and isolated
//! (the round trip through the control channel; the child draws straight into shared memory),
//! and starting an isolated instance (spawning `marquee __plugin-host`, loading the plugin,
//! creating the instance, mapping its memory) through to its first answer.
//! Run: `cargo bench -p marquee-host --bench isolation`.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use marquee::isolate::{self, Instance};
use marquee::model::isolation::Limits;
use marquee::plugins::registry::Registry;
use marquee_plugin_api::{Canvas, DrawQueue, FrameCtx, InitCtx};

const CONFIG: &str = r##"{"color": "#ff8000", "pulse_hz": 1.0}"##;

fn isolation(c: &mut Criterion) {
    let registry = Registry::builtin();
    let solid = registry.get("solid").expect("standard plugin");
    let exe = Path::new(env!("CARGO_BIN_EXE_marquee"));
    for (w, h) in [(256u32, 64u32), (1920, 1080)] {
        let mut group = c.benchmark_group(format!("render_call_{w}x{h}"));
        let init = InitCtx::new(w, h, 60.0, 1);
        let mut queue = DrawQueue::new();
        let mut pixels = vec![0u8; w as usize * h as usize * 4];
        let mut here = (solid.module.new_renderer())(CONFIG.into(), &init).unwrap();
        let mut index = 0;
        group.bench_function("in_process", |b| {
            b.iter(|| {
                index += 1;
                let ctx = FrameCtx::new(&init, index);
                here.render(&ctx, &mut Canvas::new(w, h, &mut pixels, &mut queue))
                    .unwrap();
                queue.execute(w, h, &mut pixels);
            })
        });
        let instance = Instance {
            id: "bench",
            plugin: solid,
            config: CONFIG,
            init,
        };
        let (mut isolated, mut shared, _watch) =
            isolate::renderer(&instance, exe, Limits::default(), true).expect("an isolated renderer");
        group.bench_function("isolated", |b| {
            b.iter(|| {
                index += 1;
                let ctx = FrameCtx::new(&init, index);
                isolated
                    .render(&ctx, &mut Canvas::new(w, h, &mut shared, &mut queue))
                    .unwrap();
            })
        });
        group.finish();
    }
    let mut group = c.benchmark_group("start");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    let init = InitCtx::new(256, 64, 60.0, 1);
    let instance = Instance {
        id: "bench",
        plugin: solid,
        config: CONFIG,
        init,
    };
    group.bench_function("isolated_renderer", |b| {
        b.iter(|| isolate::renderer(&instance, exe, Limits::default(), true).expect("an isolated renderer"))
    });
    group.finish();
}

criterion_group!(benches, isolation);
criterion_main!(benches);
