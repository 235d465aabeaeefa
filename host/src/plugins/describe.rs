//! Plugin introspection for people and tools: what `marquee plugins describe` and
//! `marquee plugins --json` print.

use std::fmt::Write as _;

use marquee_plugin_api::{ConfigField, PluginKind};
use serde_json::{Value, json};

use crate::plugins::fields::{FactoryConfig, constraint};
use crate::plugins::registry::{LoadedPlugin, Registry};

/// The scene-file table a factory's objects are declared in.
pub fn table_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Renderer => "layer",
        PluginKind::Processor => "processor",
        PluginKind::Recorder => "recorder",
    }
}

/// A field's default as a scene writes it, or `-` for an optional field with none.
fn default_text(f: &ConfigField) -> String {
    if f.default.is_null() {
        "-".into()
    } else {
        // Defaults are JSON scalars or arrays, which are valid TOML as they are.
        f.default.to_string()
    }
}

/// A scene snippet using `plugin`'s factory with every field at its default (an optional field
/// with none is left out).
pub fn example_snippet(plugin: &LoadedPlugin, config: &FactoryConfig) -> String {
    let table = table_name(config.kind);
    let mut s = format!("[[{table}]]\nplugin = \"{}\"\n", plugin.id());
    let set: Vec<&ConfigField> = config.fields.iter().filter(|f| !f.default.is_null()).collect();
    if !set.is_empty() {
        let _ = writeln!(s, "[{table}.config]");
        for f in set {
            let _ = writeln!(s, "{} = {}", f.name, default_text(f));
        }
    }
    s
}

/// A human-readable description of one plugin: every factory, every field, and an example.
pub fn describe(plugin: &LoadedPlugin) -> String {
    let m = &plugin.manifest;
    let mut s = format!(
        "{} {} (ABI {}, {})\n{}\n",
        m.id, m.version, m.abi, plugin.origin, m.description
    );
    for (factory, config) in m.factories.iter().zip(&plugin.configs) {
        let _ = writeln!(s, "\n{}: {}", factory.kind, factory.doc);
        if config.fields.is_empty() {
            let _ = writeln!(s, "  (no config fields)");
        } else {
            let accepts = |f: &ConfigField| constraint(f).unwrap_or_else(|| "-".into());
            let width = |min: usize, text: &dyn Fn(&ConfigField) -> String| {
                config
                    .fields
                    .iter()
                    .map(|f| text(f).chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(min)
            };
            let name_w = width(5, &|f| f.name.clone());
            let default_w = width(7, &default_text);
            let range_w = width(5, &accepts);
            let _ = writeln!(
                s,
                "  {:<name_w$}  {:<6}  {:<default_w$}  {:<range_w$}  doc",
                "field", "type", "default", "range"
            );
            for f in &config.fields {
                let _ = writeln!(
                    s,
                    "  {:<name_w$}  {:<6}  {:<default_w$}  {:<range_w$}  {}",
                    f.name,
                    f.ty.as_str(),
                    default_text(f),
                    accepts(f),
                    f.doc
                );
            }
        }
        let _ = write!(s, "\nexample:\n{}", example_snippet(plugin, config));
    }
    s
}

/// One plugin as JSON: manifest, origin, and each factory's fields and config schema.
pub fn plugin_json(plugin: &LoadedPlugin) -> Value {
    let m = &plugin.manifest;
    let factories: Vec<Value> = m
        .factories
        .iter()
        .zip(&plugin.configs)
        .map(|(f, config)| {
            let fields: Vec<Value> = config
                .fields
                .iter()
                .map(|x| {
                    json!({
                        "name": x.name,
                        "type": x.ty.as_str(),
                        "default": x.default,
                        "min": x.min,
                        "max": x.max,
                        "allowed": x.allowed,
                        "min_items": x.min_items,
                        "max_items": x.max_items,
                        "doc": x.doc,
                    })
                })
                .collect();
            json!({
                "kind": f.kind.as_str(),
                "doc": f.doc.as_str(),
                "fields": fields,
                "schema": config.schema,
                "example": example_snippet(plugin, config),
            })
        })
        .collect();
    json!({
        "id": m.id.as_str(),
        "version": m.version.as_str(),
        "abi": m.abi.to_string(),
        "origin": plugin.origin.to_string(),
        "description": m.description.as_str(),
        "factories": factories,
    })
}

/// Every plugin and every load failure as JSON.
pub fn registry_json(registry: &Registry) -> Value {
    json!({
        "host_abi": marquee_plugin_api::ABI_VERSION.to_string(),
        "plugins": registry.plugins().iter().map(|p| plugin_json(p)).collect::<Vec<_>>(),
        "failures": registry
            .failures()
            .iter()
            .map(|f| json!({ "path": f.path().display().to_string(), "error": f.to_string() }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_example_snippet_is_a_valid_scene() {
        let registry = Registry::builtin();
        for p in registry.plugins() {
            for f in &p.configs {
                let mut text = format!("[canvas]\nwidth = 8\nheight = 8\n{}", example_snippet(p, f));
                if f.kind == PluginKind::Recorder {
                    // A required path has an empty default; give it one.
                    text = text.replace("path = \"\"", "path = \"/dev/null/never\"");
                }
                crate::model::scene::Scene::parse(
                    std::path::Path::new("example.toml"),
                    text.clone(),
                    &registry,
                )
                .unwrap_or_else(|e| panic!("{text}\n{e}"));
            }
        }
    }

    #[test]
    fn describe_lists_fields_with_type_default_range_and_doc() {
        let registry = Registry::builtin();
        let text = describe(registry.get("mandelbrot").unwrap());
        let abi = marquee_plugin_api::ABI_VERSION;
        assert!(
            text.starts_with(&format!("mandelbrot 0.1.0 (ABI {abi}, built in)")),
            "{text}"
        );
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("max_iter"))
            .unwrap();
        for part in ["int", "100", "1 to 100000", "Iterations before"] {
            assert!(line.contains(part), "{line}");
        }
        assert!(
            text.contains("[[layer]]\nplugin = \"mandelbrot\"\n[layer.config]\nmax_iter = 100\n"),
            "{text}"
        );
    }

    #[test]
    fn json_parses_defaults() {
        let registry = Registry::builtin();
        let v = registry_json(&registry);
        let mandel = v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "mandelbrot")
            .unwrap();
        let target = &mandel["factories"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "target")
            .unwrap()["default"];
        assert!(target.is_array());
        assert_eq!(v["host_abi"], marquee_plugin_api::ABI_VERSION.to_string());
    }
}
