//! `marquee schema`: JSON Schemas of scene and playlist files, for editors with a TOML language
//! server (taplo, Even Better TOML) to complete and check them. Derived from the file structs
//! (`SceneFile`, `PlaylistFile`) and, for each `[layer.config]`, `[processor.config]` and
//! `[recorder.config]`, from the config schema of the plugin that table names.

use marquee_plugin_api::PluginKind;
use marquee_plugin_api::config::schema_of;
use serde_json::{Value, json};

use crate::model::playlist::PlaylistFile;
use crate::model::scene::SceneFile;
use crate::plugins::describe::table_name;
use crate::plugins::registry::Registry;

/// The files a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A scene (`[canvas]`, `[[layer]]`, ...).
    Scene,
    /// A playlist (`[[entry]]`, ...).
    Playlist,
}

/// The schema of a file of `kind`, with the plugins of `registry`.
pub fn schema(kind: FileKind, registry: &Registry) -> Value {
    match kind {
        FileKind::Scene => scene(registry),
        FileKind::Playlist => schema_of::<PlaylistFile>(),
    }
}

/// The schema of a scene file: each stage's `plugin` one of the ids that provide its kind, and
/// its `config` typed by that plugin's config schema.
pub fn scene(registry: &Registry) -> Value {
    let mut schema = schema_of::<SceneFile>();
    for kind in [PluginKind::Renderer, PluginKind::Processor, PluginKind::Recorder] {
        let stage = &mut schema["properties"][table_name(kind)]["items"];
        stage["properties"]["plugin"]["enum"] = json!(registry.ids_of(kind));
        let rules: Vec<Value> = registry
            .plugins()
            .iter()
            .filter_map(|p| {
                let config = p.config(kind)?;
                Some(json!({
                    "if": { "properties": { "plugin": { "const": p.id() } }, "required": ["plugin"] },
                    "then": { "properties": { "config": embedded(&config.schema) } },
                }))
            })
            .collect();
        stage["allOf"] = Value::Array(rules);
    }
    schema
}

/// A plugin's config schema as a part of another: without the keys only a root may have.
fn embedded(schema: &Value) -> Value {
    let mut part = schema.clone();
    if let Some(object) = part.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    part
}
