//! Bad scene files: each gets a clear error naming file, line and what to do, never a panic.

use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::SceneError;
use marquee::plugins::registry::Registry;
use marquee_plugin_api::FieldType;

use crate::util::scene;

const CANVAS: &str = "[canvas]\nwidth = 64\nheight = 32\n";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Syntax,
    Invalid,
    Plugin,
}

/// Loads `text` (and builds its engine), expecting an error of `kind` at `line` whose rendering
/// contains every one of `needles`.
#[track_caller]
fn check_error(text: &str, kind: Kind, line: usize, needles: &[&str]) {
    let err = match scene(text) {
        Ok(s) => match Engine::new(&s, &EngineOptions::default()) {
            Ok(_) => panic!("expected an error, the scene loaded:\n{text}"),
            Err(marquee::engine::EngineError::Scene(e)) => e,
            Err(e) => panic!("unexpected engine error {e}"),
        },
        Err(e) => e,
    };
    let got = match &err {
        SceneError::Syntax(_) => Kind::Syntax,
        SceneError::Invalid(_) => Kind::Invalid,
        SceneError::Plugin(_) => Kind::Plugin,
        other => panic!("unexpected error {other}"),
    };
    let shown = err.to_string();
    assert_eq!(got, kind, "{shown}");
    assert_eq!(err.diagnostic().and_then(|d| d.line()), Some(line), "{shown}");
    assert!(shown.contains(&format!("test.toml:{line}:")), "{shown}");
    for n in needles {
        assert!(shown.contains(n), "missing {n:?} in:\n{shown}");
    }
}

#[test]
fn malformed_toml() {
    check_error(
        "fps = 30\n[canvas\nwidth = 3\n",
        Kind::Syntax,
        2,
        &["invalid scene"],
    );
}

#[test]
fn unknown_top_level_field_suggests_nearest() {
    check_error(
        &format!("fsp = 30\n{CANVAS}"),
        Kind::Syntax,
        1,
        &["unknown field `fsp`", "did you mean `fps`?"],
    );
}

#[test]
fn unknown_layer_field_suggests_nearest() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"mandelbrot\"\nopactiy = 0.5\n"),
        Kind::Syntax,
        6,
        &["unknown field `opactiy`", "did you mean `opacity`?"],
    );
}

#[test]
fn unknown_plugin_lists_known_ones() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"mandelbrott\"\n"),
        Kind::Invalid,
        5,
        &[
            "unknown renderer plugin `mandelbrott`",
            "did you mean `mandelbrot`?",
            "known renderers: gradient, image, image-sequence, life, mandelbrot, random-pixels, solid, spritesheet, text",
        ],
    );
}

#[test]
fn plugin_of_the_wrong_kind() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"color\"\n"),
        Kind::Invalid,
        5,
        &["`color` is not a renderer", "processor"],
    );
}

#[test]
fn unknown_config_field_suggests_nearest() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"mandelbrot\"\n[layer.config]\nmax_itre = 50\n"),
        Kind::Invalid,
        7,
        &["no config field `max_itre`", "did you mean `max_iter`?"],
    );
}

#[test]
fn wrong_config_type_points_at_the_field() {
    check_error(
        &format!(
            "{CANVAS}[[layer]]\nplugin = \"random-pixels\"\n[layer.config]\nbrightness = 0.5\ncount = \"many\"\n"
        ),
        Kind::Invalid,
        8,
        &[
            "plugin `random-pixels`: `count` must be a whole number from 0 to 1000000, found \"many\"",
            "`count`: Pixels set per frame.",
        ],
    );
}

#[test]
fn out_of_range_config_value() {
    check_error(
        &format!("{CANVAS}[[processor]]\nplugin = \"color\"\nconfig = {{ gamma = 0 }}\n"),
        Kind::Invalid,
        6,
        &["`gamma`", "from 0.1 to 10"],
    );
}

#[test]
fn zero_canvas() {
    check_error(
        "[canvas]\nwidth = 0\nheight = 32\n",
        Kind::Invalid,
        2,
        &["canvas sides must be from 1 to 16384", "width = 256"],
    );
}

#[test]
fn absurd_canvas() {
    check_error(
        "[canvas]\nwidth = 16384\nheight = 16384\n",
        Kind::Invalid,
        1,
        &["1024 MiB per frame", "the cap is 256 MiB"],
    );
}

#[test]
fn negative_canvas_is_a_type_error() {
    check_error(
        "[canvas]\nwidth = -4\nheight = 32\n",
        Kind::Syntax,
        2,
        &["invalid scene"],
    );
}

#[test]
fn panels_must_divide_the_canvas() {
    check_error(
        "[canvas]\nwidth = 256\nheight = 64\npanels = [3, 1]\n",
        Kind::Invalid,
        4,
        &["panels = [3, 1]", "equal whole panels"],
    );
}

#[test]
fn absurd_fps() {
    check_error(
        &format!("fps = 0\n{CANVAS}"),
        Kind::Invalid,
        1,
        &["fps must be from 0.01 to 1000"],
    );
}

#[test]
fn bad_opacity_and_blend() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"mandelbrot\"\nopacity = 2.0\n"),
        Kind::Invalid,
        6,
        &["opacity must be from 0 to 1"],
    );
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"mandelbrot\"\nblend = \"glow\"\n"),
        Kind::Syntax,
        6,
        &["unknown variant `glow`"],
    );
}

#[test]
fn duplicate_ids() {
    check_error(
        &format!(
            "{CANVAS}[[layer]]\nid = \"a\"\nplugin = \"mandelbrot\"\n[[layer]]\nid = \"a\"\nplugin = \"random-pixels\"\n"
        ),
        Kind::Invalid,
        9,
        &["two renderers have the id `a`"],
    );
}

#[test]
fn recorder_without_required_path() {
    check_error(
        &format!("{CANVAS}[[recorder]]\nplugin = \"gif\"\n[recorder.config]\nspeed = 5\n"),
        Kind::Plugin,
        6,
        &["`path`", "required"],
    );
}

#[test]
fn good_scene_defaults() {
    let s = scene(&format!(
        "{CANVAS}[[layer]]\nplugin = \"mandelbrot\"\n[[layer]]\nplugin = \"mandelbrot\"\n"
    ))
    .unwrap();
    assert_eq!(s.fps, 30.0);
    assert_eq!(s.layers[0].stage.id, "mandelbrot");
    assert_eq!(s.layers[1].stage.id, "mandelbrot-2");
    assert_eq!(s.canvas.panels, (1, 1));
}

#[test]
fn rect_placement_must_fit_and_match_its_mode() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"solid\"\nmode = \"rect\"\nrect = [60, 0, 8, 8]\n"),
        Kind::Invalid,
        7,
        &["rect [60, 0, 8, 8] must be non-empty and inside the 64×32 canvas"],
    );
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"solid\"\nrect = [0, 0, 8, 8]\n"),
        Kind::Invalid,
        6,
        &["`rect` is only used with `mode = \"rect\"`"],
    );
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"solid\"\nmode = \"rect\"\n"),
        Kind::Invalid,
        4,
        &["needs `rect = [x, y, width, height]`"],
    );
}

#[test]
fn unknown_blend_lists_the_modes() {
    check_error(
        &format!("{CANVAS}[[layer]]\nplugin = \"solid\"\nblend = \"overlay\"\n"),
        Kind::Syntax,
        6,
        &["unknown variant `overlay`", "multiply", "screen"],
    );
}

#[test]
fn negative_or_absurd_blur_radius_names_the_field_and_range() {
    for radius in ["-3", "100000"] {
        check_error(
            &format!("{CANVAS}[[processor]]\nplugin = \"blur\"\nconfig = {{ radius = {radius} }}\n"),
            Kind::Invalid,
            6,
            &["`radius` must be a whole number from 0 to 64", radius],
        );
    }
}

#[test]
fn unknown_blur_kind_lists_the_kinds() {
    check_error(
        &format!("{CANVAS}[[processor]]\nplugin = \"blur\"\nconfig = {{ kind = \"motion\" }}\n"),
        Kind::Invalid,
        6,
        &["`kind`", "motion", "gaussian", "box"],
    );
}

#[test]
fn transform_turns_by_quarter_turns_only() {
    check_error(
        &format!("{CANVAS}[[processor]]\nplugin = \"transform\"\nconfig = {{ rotate = 45 }}\n"),
        Kind::Plugin,
        6,
        &["`rotate`", "0, 90, 180 or 270", "found 45"],
    );
    check_error(
        &format!("{CANVAS}[[processor]]\nplugin = \"transform\"\nconfig = {{ filter = \"cubic\" }}\n"),
        Kind::Invalid,
        6,
        &["`filter`", "cubic", "nearest", "bilinear"],
    );
}

#[test]
fn every_declared_bound_of_every_built_in_is_enforced_before_its_factory_runs() {
    let registry = Registry::builtin();
    let mut checked = 0;
    for plugin in registry.plugins() {
        for config in &plugin.configs {
            let table = marquee::plugins::describe::table_name(config.kind);
            for field in &config.fields {
                let (Some(max), Some(min)) = (field.max, field.min) else {
                    continue;
                };
                let over = match field.ty {
                    FieldType::Int => (max as i64 + 1).to_string(),
                    _ => format!("{:?}", max * 2.0 + 1.0),
                };
                let under = match field.ty {
                    FieldType::Int => (min as i64 - 1).to_string(),
                    _ => format!("{:?}", min - 1.0),
                };
                for value in [over, under] {
                    check_error(
                        &format!(
                            "{CANVAS}[[{table}]]\nplugin = \"{}\"\n[{table}.config]\n{} = {value}\n",
                            plugin.id(),
                            field.name
                        ),
                        Kind::Invalid,
                        7,
                        &[&format!("`{}` must be", field.name), &format!("found {value}")],
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "only {checked} bounded fields");
}
