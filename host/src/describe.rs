//! Plugin introspection for people and tools: what `marquee plugins describe` and
//! `marquee plugins --json` print.

use std::fmt::Write as _;

use marquee_plugin_api::abi_stable::std_types::ROption;
use marquee_plugin_api::{FactorySpec, PluginKind};
use serde_json::{Value, json};

use crate::registry::{LoadedPlugin, Registry};

fn bound(b: &ROption<f64>) -> Option<f64> {
    (*b).into_option()
}

/// The scene-file table a factory's objects are declared in.
pub fn table_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Renderer => "layer",
        PluginKind::Processor => "processor",
        PluginKind::Recorder => "recorder",
    }
}

/// A scene snippet using `plugin`'s factory with every field at its default.
pub fn example_snippet(plugin: &LoadedPlugin, factory: &FactorySpec) -> String {
    let table = table_name(factory.kind);
    let mut s = format!("[[{table}]]\nplugin = \"{}\"\n", plugin.id());
    if !factory.fields.is_empty() {
        let _ = writeln!(s, "[{table}.config]");
        for f in factory.fields.iter() {
            // Field defaults are JSON scalars or arrays, which are valid TOML as they are.
            let _ = writeln!(s, "{} = {}", f.name, f.default);
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
    for factory in m.factories.iter() {
        let _ = writeln!(s, "\n{}: {}", factory.kind, factory.doc);
        if factory.fields.is_empty() {
            let _ = writeln!(s, "  (no config fields)");
        } else {
            let range =
                |f: &marquee_plugin_api::FieldSpec| crate::fields::range(f).unwrap_or_else(|| "-".into());
            let name_w = factory
                .fields
                .iter()
                .map(|f| f.name.len())
                .max()
                .unwrap_or(0)
                .max(5);
            let default_w = factory
                .fields
                .iter()
                .map(|f| f.default.len())
                .max()
                .unwrap_or(0)
                .max(7);
            let range_w = factory
                .fields
                .iter()
                .map(|f| range(f).len())
                .max()
                .unwrap_or(0)
                .max(5);
            let _ = writeln!(
                s,
                "  {:<name_w$}  {:<6}  {:<default_w$}  {:<range_w$}  doc",
                "field", "type", "default", "range"
            );
            for f in factory.fields.iter() {
                let _ = writeln!(
                    s,
                    "  {:<name_w$}  {:<6}  {:<default_w$}  {:<range_w$}  {}",
                    f.name,
                    f.ty.as_str(),
                    f.default,
                    range(f),
                    f.doc
                );
            }
        }
        let _ = write!(s, "\nexample:\n{}", example_snippet(plugin, factory));
    }
    s
}

/// One plugin as JSON: manifest, origin, and fields with their defaults parsed.
pub fn plugin_json(plugin: &LoadedPlugin) -> Value {
    let m = &plugin.manifest;
    let factories: Vec<Value> = m
        .factories
        .iter()
        .map(|f| {
            let fields: Vec<Value> = f
                .fields
                .iter()
                .map(|x| {
                    json!({
                        "name": x.name.as_str(),
                        "type": x.ty.as_str(),
                        "default": serde_json::from_str::<Value>(&x.default).unwrap_or_else(|_| Value::String(x.default.to_string())),
                        "min": bound(&x.min),
                        "max": bound(&x.max),
                        "doc": x.doc.as_str(),
                    })
                })
                .collect();
            json!({
                "kind": f.kind.as_str(),
                "doc": f.doc.as_str(),
                "fields": fields,
                "example": example_snippet(plugin, f),
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
            for f in p.manifest.factories.iter() {
                let mut text = format!("[canvas]\nwidth = 8\nheight = 8\n{}", example_snippet(p, f));
                if f.kind == PluginKind::Recorder {
                    // A required path has an empty default; give it one.
                    text = text.replace("path = \"\"", "path = \"/dev/null/never\"");
                }
                crate::scene::Scene::parse(std::path::Path::new("example.toml"), text.clone(), &registry)
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
        for part in ["int", "100", "1 to 100000", "iterations before"] {
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
