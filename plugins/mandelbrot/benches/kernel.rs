//! The escape-count kernel on the peer's view (re −2.5..1.0, im −1.25..1.25, maxiter 100), to
//! compare with `../shared/peers/mandel.c` measured in the same session.
//! Run: `cargo bench -p marquee-mandelbrot --bench kernel`.

use criterion::{Criterion, criterion_group, criterion_main};
use marquee_mandelbrot::{View, escape_count, escape_counts};

fn whole_set(w: u32, h: u32) -> View {
    View {
        re0: -2.5,
        im0: -1.25,
        step_re: 3.5 / w as f64,
        step_im: 2.5 / h as f64,
    }
}

fn kernel(c: &mut Criterion) {
    let mut group = c.benchmark_group("mandelbrot");
    for (w, h) in [(64, 64), (256, 256), (1280, 720)] {
        let view = whole_set(w, h);
        let mut out = vec![0u32; (w * h) as usize];
        group.bench_function(format!("lanes_{w}x{h}_maxiter100"), |b| {
            b.iter(|| escape_counts(&view, w, h, 100, &mut out))
        });
        if w == 256 {
            group.bench_function(format!("scalar_{w}x{h}_maxiter100"), |b| {
                b.iter(|| {
                    for y in 0..h {
                        for x in 0..w {
                            let (re, im) = view.point(x, y);
                            out[(y * w + x) as usize] = escape_count(re, im, 100);
                        }
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, kernel);
criterion_main!(benches);
