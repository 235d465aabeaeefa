//! The processor chain: fused per-pixel runs give exactly what running each processor over the
//! whole frame gives, and a resizing processor hands its size on to everything after it.

use marquee::engine::{Engine, EngineOptions, Pass};
use marquee_plugin_api::Rng;

use crate::util::scene;

/// A scene of random pixels over a moving gradient through a chain drawn from `rng`: colour, fade and quantize in
/// random order with random settings, with a blur (a neighbourhood pass) sometimes in between.
fn random_chain(rng: &mut Rng, width: u32, height: u32) -> String {
    let mut text = format!(
        "fps = 30\nseed = {}\n[canvas]\nwidth = {width}\nheight = {height}\n\
         [[layer]]\nplugin = \"gradient\"\nconfig = {{ speed = 0.7 }}\n\
         [[layer]]\nplugin = \"random-pixels\"\nopacity = 0.8\n\
         config = {{ count = {}, brightness = {:.3} }}\n",
        rng.next_u64() % 1000,
        width * height / 2,
        0.3 + 0.7 * rng.unit()
    );
    let stages = 3 + rng.below(4) as usize;
    for _ in 0..stages {
        let f = |rng: &mut Rng, lo: f64, hi: f64| lo + (hi - lo) * rng.unit();
        let config = match rng.below(5) {
            0 | 1 => format!(
                "plugin = \"color\"\nconfig = {{ brightness = {:.3}, gamma = {:.3}, contrast = {:.3}, saturation = {:.3}, hue = {:.1} }}",
                f(rng, 0.2, 2.0),
                f(rng, 0.3, 3.0),
                f(rng, 0.0, 2.5),
                f(rng, 0.0, 2.0),
                f(rng, -180.0, 180.0)
            ),
            2 => format!(
                "plugin = \"fade\"\nconfig = {{ from = {:.3}, to = {:.3}, duration = {:.3}, curve = \"smooth\" }}",
                f(rng, 0.0, 1.0),
                f(rng, 0.0, 1.0),
                f(rng, 0.05, 0.5)
            ),
            3 => format!(
                "plugin = \"quantize\"\nconfig = {{ bits = {}, dither = \"{}\" }}",
                1 + rng.below(8),
                if rng.below(2) == 0 { "none" } else { "ordered" }
            ),
            _ => format!("plugin = \"blur\"\nconfig = {{ radius = {} }}", 1 + rng.below(3)),
        };
        text.push_str(&format!("[[processor]]\n{config}\n"));
    }
    text
}

fn engine(text: &str, fuse: bool) -> Engine {
    let scene = scene(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    Engine::new(
        &scene,
        &EngineOptions {
            fuse,
            ..EngineOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn fused_chains_are_pixel_identical_to_one_pass_per_processor() {
    let mut rng = Rng::new(0x5eed);
    let mut fused_runs = 0;
    // Sizes whose bands end mid-frame and on odd rows, and one narrow enough for many rows a band.
    for (width, height) in [(64, 32), (257, 67), (1500, 9), (8, 300)] {
        for _ in 0..6 {
            let text = random_chain(&mut rng, width, height);
            let mut fused = engine(&text, true);
            let mut plain = engine(&text, false);
            assert!(plain.passes().iter().all(|p| matches!(p, Pass::Whole(_))));
            fused_runs += fused
                .passes()
                .iter()
                .filter(|p| matches!(p, Pass::Fused { .. }))
                .count();
            for frame in 0..8 {
                let a = fused.step().to_vec();
                let b = plain.step();
                assert!(
                    a == b,
                    "frame {frame} differs, fused {:?}, scene:\n{text}",
                    fused.passes()
                );
            }
            assert!(fused.take_failures().is_empty() && plain.take_failures().is_empty());
        }
    }
    // The random chains must have exercised fusion, not just single passes.
    assert!(fused_runs >= 10, "only {fused_runs} fused runs");
}

#[test]
fn runs_of_per_pixel_processors_fuse_and_neighbourhood_ones_split_them() {
    let text = "[canvas]\nwidth = 256\nheight = 64\n[[layer]]\nplugin = \"solid\"\n\
        [[processor]]\nplugin = \"color\"\n[[processor]]\nplugin = \"fade\"\n\
        [[processor]]\nplugin = \"quantize\"\n[[processor]]\nplugin = \"blur\"\n\
        [[processor]]\nplugin = \"color\"\n[[processor]]\nplugin = \"transform\"\n\
        [[processor]]\nplugin = \"fade\"\n[[processor]]\nplugin = \"color\"\n";
    let e = engine(text, true);
    assert_eq!(
        e.passes(),
        &[
            // 256 pixels of 4 bytes a row: 32 KiB bands are 32 rows.
            Pass::Fused {
                range: 0..3,
                rows: 32
            },
            Pass::Whole(3),
            Pass::Whole(4),
            Pass::Resize { member: 5, buffer: 0 },
            Pass::Fused {
                range: 6..8,
                rows: 32
            },
        ]
    );
}

#[test]
fn a_resizing_processor_sets_the_size_of_everything_after_it() {
    let text = "fps = 10\n[canvas]\nwidth = 64\nheight = 16\n[[layer]]\nplugin = \"gradient\"\n\
        [[processor]]\nplugin = \"transform\"\nconfig = { rotate = 270 }\n\
        [[processor]]\nplugin = \"quantize\"\nconfig = { dither = \"ordered\" }\n\
        [[processor]]\nplugin = \"transform\"\nconfig = { width = 48, height = 96, filter = \"bilinear\" }\n\
        [[processor]]\nplugin = \"color\"\n[[processor]]\nplugin = \"fade\"\n";
    let mut e = engine(text, true);
    assert_eq!(e.frame_size(), (48, 96));
    let frame = e.step().to_vec();
    assert_eq!(frame.len(), 48 * 96 * 4);
    assert!(frame.chunks(4).all(|p| p[3] == 255), "frames stay opaque");
    assert!(e.take_failures().is_empty());
    // A turn of 270° then back by nearest doubling is the same as reading the canvas rotated:
    // the top-left output pixel shows the canvas's top-right corner.
    let mut canvas = engine(
        "fps = 10\n[canvas]\nwidth = 64\nheight = 16\n[[layer]]\nplugin = \"gradient\"\n",
        true,
    );
    let c = canvas.step();
    let mut turned = engine(
        "fps = 10\n[canvas]\nwidth = 64\nheight = 16\n[[layer]]\nplugin = \"gradient\"\n\
         [[processor]]\nplugin = \"transform\"\nconfig = { rotate = 270 }\n",
        true,
    );
    assert_eq!(turned.frame_size(), (16, 64));
    let t = turned.step();
    assert_eq!(&t[..4], &c[63 * 4..64 * 4]);
}

/// A per-pixel processor that offers only `process_rows` (no `PixelOp`), and depends on the
/// pixel's position: it inverts every pixel with `(x + 2y) % 3 == 0`.
mod stripes {
    use marquee_plugin_api::{
        Factory, FrameCtx, InitCtx, PluginDef, PluginError, ProcessorPlugin, declare_plugin,
    };

    pub const PLUGIN: PluginDef = PluginDef {
        id: "stripes",
        version: "0.0.0",
        description: "inverts diagonal stripes (a test processor)",
        renderer: None,
        processor: Some(Factory {
            doc: "test",
            fields: &[],
            new: |_, _: &InitCtx| Ok(Box::new(Stripes)),
        }),
        recorder: None,
    };

    struct Stripes;

    impl ProcessorPlugin for Stripes {
        fn process(&mut self, ctx: &FrameCtx, frame: &mut [u8]) -> Result<(), PluginError> {
            self.process_rows(ctx, 0, frame)
        }
        fn pointwise(&self) -> bool {
            true
        }
        fn process_rows(
            &mut self,
            ctx: &FrameCtx,
            first_row: u32,
            rows: &mut [u8],
        ) -> Result<(), PluginError> {
            let w = ctx.width as usize;
            for (i, px) in rows.chunks_exact_mut(4).enumerate() {
                let (x, y) = (i % w, first_row as usize + i / w);
                if (x + 2 * y) % 3 == 0 {
                    for c in &mut px[..3] {
                        *c = 255 - *c;
                    }
                }
            }
            Ok(())
        }
    }

    declare_plugin!(PLUGIN);
}

#[test]
fn members_without_a_pixel_op_run_band_by_band_between_composed_ones() {
    let mut registry = marquee::plugins::registry::Registry::builtin();
    registry.add_module(stripes::module(), marquee::plugins::registry::Origin::BuiltIn);
    let mut rng = Rng::new(77);
    for (width, height) in [(300, 200), (7, 5000)] {
        let mut text = random_chain(&mut rng, width, height);
        text.push_str("[[processor]]\nplugin = \"stripes\"\n[[processor]]\nplugin = \"fade\"\nconfig = { duration = 0.2 }\n[[processor]]\nplugin = \"quantize\"\nconfig = { dither = \"ordered\" }\n");
        let scene =
            marquee::model::scene::Scene::parse(std::path::Path::new("test.toml"), text.clone(), &registry)
                .unwrap_or_else(|e| panic!("{e}"));
        let options = |fuse| EngineOptions {
            fuse,
            ..EngineOptions::default()
        };
        let mut fused = Engine::new(&scene, &options(true)).unwrap();
        let mut plain = Engine::new(&scene, &options(false)).unwrap();
        let last = fused.passes().last().cloned();
        let Some(Pass::Fused { range, rows }) = last else {
            panic!("the chain should end in a fused run: {:?}", fused.passes())
        };
        assert!(
            range.len() >= 3 && rows < height as usize,
            "{range:?}, {rows} rows a band"
        );
        for frame in 0..6 {
            let a = fused.step().to_vec();
            assert!(a == plain.step(), "frame {frame} differs, scene:\n{text}");
        }
        assert!(fused.take_failures().is_empty());
    }
}

#[test]
fn a_run_says_which_processors_were_fused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.toml");
    std::fs::write(
        &path,
        "fps = 10\n[canvas]\nwidth = 16\nheight = 8\n[[layer]]\nplugin = \"gradient\"\n\
         [[processor]]\nplugin = \"color\"\n[[processor]]\nplugin = \"quantize\"\n\
         [[processor]]\nplugin = \"blur\"\n[[processor]]\nplugin = \"transform\"\nconfig = { width = 8, height = 4 }\n",
    )
    .unwrap();
    let out = crate::util::run_headless(&path, 3, &[], &[]);
    let shown = crate::util::text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(
            "processors: `color` + `quantize` fused into one per-pixel pass; `blur` alone; `transform` resizing to 8×4"
        ),
        "{shown}"
    );
}
