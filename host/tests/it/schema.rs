//! `marquee schema`: the JSON Schema an editor checks scene and playlist files with. Every file
//! under `scenes/` passes it, a wrong file fails it, and a plugin loaded from a directory has
//! its config in it.

use serde_json::Value;

use crate::util::{marquee, root, so, text};

/// The schema `marquee schema ARGS` prints, compiled.
fn schema(args: &[&str]) -> (Value, jsonschema::Validator) {
    let out = marquee(&[&["schema"], args].concat());
    assert!(out.status.success(), "{}", text(&out));
    let schema: Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    (schema, validator)
}

/// A TOML document as the JSON an editor's language server checks.
fn json(toml_text: &str) -> Value {
    serde_json::to_value(toml::from_str::<toml::Table>(toml_text).unwrap()).unwrap()
}

/// What the validator says about `document`, one line per error.
fn errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_scene_and_playlist_under_scenes_passes_its_schema() {
    let (_, scenes) = schema(&[]);
    let (_, playlists) = schema(&["playlist"]);
    let mut checked = (0, 0);
    for entry in std::fs::read_dir(root().join("scenes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let document = json(&std::fs::read_to_string(&path).unwrap());
        let (validator, count) = if document.get("entry").is_some() {
            (&playlists, &mut checked.1)
        } else {
            (&scenes, &mut checked.0)
        };
        assert_eq!(
            errors(validator, &document),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        *count += 1;
    }
    assert!(
        checked.0 >= 4 && checked.1 >= 1,
        "scenes and playlists checked: {checked:?}"
    );
}

#[test]
fn a_wrong_scene_fails_the_schema_where_it_is_wrong() {
    let (_, validator) = schema(&[]);
    let good = std::fs::read_to_string(root().join("scenes/showcase.toml")).unwrap();
    assert_eq!(errors(&validator, &json(&good)), Vec::<String>::new());
    let base = "[canvas]\nwidth = 8\nheight = 8\n";
    let wrong = [
        // A value outside the range the plugin's config struct declares.
        (
            "[[layer]]\nplugin = \"mandelbrot\"\nconfig = { max_iter = 0 }\n",
            "/layer/0/config/max_iter",
        ),
        // A key the plugin does not have (another plugin's).
        (
            "[[layer]]\nplugin = \"mandelbrot\"\nconfig = { count = 3 }\n",
            "/layer/0/config",
        ),
        // A choice the plugin does not offer.
        (
            "[[processor]]\nplugin = \"blur\"\nconfig = { kind = \"motion\" }\n",
            "/processor/0/config/kind",
        ),
        // A plugin that is not a renderer.
        ("[[layer]]\nplugin = \"blur\"\n", "/layer/0/plugin"),
        // The scene's own fields.
        (
            "[[layer]]\nplugin = \"solid\"\nopacity = 2.0\n",
            "/layer/0/opacity",
        ),
        (
            "[[recorder]]\nplugin = \"gif\"\nwhen_full = \"later\"\n",
            "/recorder/0/when_full",
        ),
    ];
    for (stage, place) in wrong {
        let found = errors(&validator, &json(&format!("{base}{stage}")));
        assert!(
            found.iter().any(|e| e.starts_with(&format!("{place}:"))),
            "{stage}: expected an error at {place}, got {found:?}"
        );
    }
    let unknown = errors(&validator, &json("[canvas]\nwidth = 8\nheight = \"tall\"\n"));
    assert!(
        unknown.iter().any(|e| e.starts_with("/canvas/height:")),
        "{unknown:?}"
    );
}

#[test]
fn a_plugin_from_a_directory_has_its_config_in_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(so("marquee_fixture_panicky"), dir.path().join("libpanicky.so")).unwrap();
    let (schema, validator) = schema(&["--plugin-dir", dir.path().to_str().unwrap()]);
    let layer = &schema["properties"]["layer"]["items"];
    assert!(
        layer["properties"]["plugin"]["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::from("panicky"))
    );
    let scene = |config: &str| {
        json(&format!(
            "[canvas]\nwidth = 8\nheight = 8\n[[layer]]\nplugin = \"panicky\"\nconfig = {config}\n"
        ))
    };
    assert_eq!(
        errors(&validator, &scene("{ mode = \"hard\", count = 10 }")),
        Vec::<String>::new()
    );
    let found = errors(&validator, &scene("{ mode = \"loud\" }"));
    assert!(
        found.iter().any(|e| e.starts_with("/layer/0/config/mode:")),
        "{found:?}"
    );
}
