//! A factory's config, stated once: the JSON Schema of the plugin's config struct (derived with
//! `schemars`), and the field list every listing, check and snippet is derived from.
//!
//! A plugin's config struct is the one place its fields are stated: name and type (the struct),
//! doc (each field's doc comment), default (`#[default(..)]` of `smart_default`, or `Default`),
//! range and list length (`#[schemars(range(..), length(..))]`), allowed strings (an enum). The
//! factory names it with [`fields_of`]; the plugin's manifest, `marquee plugins describe`, the
//! host's check of a scene and `marquee schema` all read what that derives. Plugins built before
//! ABI 1.4 carry only a [`FieldSpec`] list; [`schema_of_specs`] turns that into the same kind of
//! schema, so the host treats both alike.

use serde_json::{json, Map, Value};

use crate::author::Field;
use crate::manifest::{FieldSpec, FieldType};

/// The JSON Schema (draft 2020-12, every subschema inlined) of config type `T`, as text: what a
/// factory's `fields` names in the derived style, `fields: fields_of::<Config>`.
///
/// Use `#[serde(default, deny_unknown_fields)]` on `T`, so the schema records every field's
/// default and refuses unknown keys, as the plugin's own parsing does.
pub fn fields_of<T: schemars::JsonSchema>() -> String {
    schema_of::<T>().to_string()
}

/// The JSON Schema (draft 2020-12, every subschema inlined, so that it can be embedded in
/// another) of `T`: how Marquee derives every schema, a config's and a scene file's.
pub fn schema_of<T: schemars::JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

/// The derived style of stating a factory's fields: a function giving the config's JSON Schema,
/// [`fields_of`] for the config type. `PluginDef<DerivedFields>` is a plugin written this way.
pub type DerivedFields = fn() -> String;

/// What a factory's `fields` may be: a [`Field`] list (the style of ABI 1.0 to 1.3, kept so that
/// such sources still build) or [`DerivedFields`].
pub trait FieldSource: Copy + Send + Sync + 'static {
    /// The JSON Schema of the config object.
    fn schema(&self) -> Value;
}

impl FieldSource for &'static [Field] {
    fn schema(&self) -> Value {
        let specs: Vec<FieldSpec> = self.iter().map(Field::spec).collect();
        schema_of_specs(&specs)
    }
}

impl FieldSource for DerivedFields {
    fn schema(&self) -> Value {
        serde_json::from_str(&self()).unwrap_or_else(|e| {
            // Only a hand-written function can get here; fields() then reports no fields, and
            // the host's check of defaults names the plugin.
            json!({ "description": format!("the plugin's config schema is not JSON: {e}") })
        })
    }
}

/// One config field, as the host checks and shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigField {
    /// The key in the scene file.
    pub name: String,
    /// Its type, as shown to people.
    pub ty: FieldType,
    /// Its default; `Null` for an optional field with none.
    pub default: Value,
    /// Smallest number accepted, if declared.
    pub min: Option<f64>,
    /// Largest number accepted, if declared.
    pub max: Option<f64>,
    /// The bounds the number's own type sets (an `u8` is 0 to 255), if narrower than any number.
    pub type_bounds: Option<(f64, f64)>,
    /// The strings accepted, if the field is a choice.
    pub allowed: Vec<String>,
    /// Fewest items, for a list.
    pub min_items: Option<u64>,
    /// Most items, for a list.
    pub max_items: Option<u64>,
    /// Its doc, on one line.
    pub doc: String,
}

impl ConfigField {
    /// The field as a manifest carries it.
    pub fn spec(&self) -> FieldSpec {
        use abi_stable::std_types::ROption;
        FieldSpec {
            name: self.name.as_str().into(),
            ty: self.ty,
            default: self.default.to_string().into(),
            min: self.min.map_or(ROption::RNone, ROption::RSome),
            max: self.max.map_or(ROption::RNone, ROption::RSome),
            doc: self.doc.as_str().into(),
        }
    }
}

/// The fields of a config schema, in the schema's order of properties.
pub fn fields(schema: &Value) -> Vec<ConfigField> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, p)| {
            let allowed = allowed_strings(p);
            let types = types_of(p, &allowed);
            let format = p.get("format").and_then(Value::as_str).unwrap_or("");
            let ty = match (format, types.first().map(String::as_str)) {
                ("color", _) => FieldType::Color,
                ("path", _) => FieldType::Path,
                (_, Some("boolean")) => FieldType::Bool,
                (_, Some("integer")) => FieldType::Int,
                (_, Some("number")) => FieldType::Float,
                (_, Some("array")) => FieldType::List,
                _ => FieldType::String,
            };
            let number = |key: &str| p.get(key).and_then(Value::as_f64);
            let count = |key: &str| p.get(key).and_then(Value::as_u64);
            ConfigField {
                name: name.clone(),
                ty,
                default: p.get("default").cloned().unwrap_or(Value::Null),
                min: number("minimum"),
                max: number("maximum"),
                type_bounds: format_bounds(format),
                allowed,
                min_items: count("minItems"),
                max_items: count("maxItems"),
                doc: one_line(p.get("description").and_then(Value::as_str).unwrap_or("")),
            }
        })
        .collect()
}

/// The JSON types a property takes, `null` left out (an optional field); a choice of strings
/// (`allowed`) without a `type` is a string.
fn types_of(p: &Value, allowed: &[String]) -> Vec<String> {
    let mut types: Vec<String> = match p.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    types.retain(|t| t != "null");
    if types.is_empty() && !allowed.is_empty() {
        types.push("string".into());
    }
    types
}

/// The strings a choice accepts: an `enum`, or `oneOf`/`anyOf` of `const`s (an enum whose
/// variants have doc comments).
fn allowed_strings(p: &Value) -> Vec<String> {
    if let Some(values) = p.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.get("const").and_then(Value::as_str).map(String::from))
        .collect()
}

/// The bounds of an integer `format` schemars writes (`uint8`, `int32`, ...).
fn format_bounds(format: &str) -> Option<(f64, f64)> {
    let bits = |s: &str| s.parse::<i32>().ok().filter(|b| [8, 16, 32, 64].contains(b));
    if let Some(b) = format.strip_prefix("uint").and_then(bits) {
        Some((0.0, 2f64.powi(b) - 1.0))
    } else {
        format
            .strip_prefix("int")
            .and_then(bits)
            .map(|b| (-(2f64.powi(b - 1)), 2f64.powi(b - 1) - 1.0))
    }
}

/// A doc comment on one line: its lines joined by spaces.
fn one_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A config schema for a plain field list (a plugin built before ABI 1.4, or written with
/// [`Field`]s): each field typed, bounded and documented as declared, unknown keys refused.
pub fn schema_of_specs(specs: &[FieldSpec]) -> Value {
    let mut properties = Map::new();
    for f in specs {
        let mut p = Map::new();
        p.insert("description".into(), f.doc.as_str().into());
        let (ty, format) = match f.ty {
            FieldType::Bool => ("boolean", None),
            FieldType::Int => ("integer", None),
            FieldType::Float => ("number", None),
            FieldType::String => ("string", None),
            FieldType::Color => ("string", Some("color")),
            FieldType::List => ("array", None),
            FieldType::Path => ("string", Some("path")),
        };
        p.insert("type".into(), ty.into());
        if let Some(format) = format {
            p.insert("format".into(), format.into());
        }
        if let Ok(default) = serde_json::from_str::<Value>(&f.default) {
            p.insert("default".into(), default);
        }
        if let Some(min) = f.min.into_option() {
            p.insert("minimum".into(), json!(min));
        }
        if let Some(max) = f.max.into_option() {
            p.insert("maximum".into(), json!(max));
        }
        properties.insert(f.name.to_string(), Value::Object(p));
    }
    json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rgba;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// How a shape is drawn.
    #[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        /// Soft.
        Gaussian,
        /// Hard.
        Box,
    }

    /// A config using every kind of field.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct Config {
        /// How many, at
        /// most 64.
        #[schemars(range(min = 1, max = 64))]
        count: u32,
        /// Speed.
        speed: f64,
        /// Shape.
        kind: Kind,
        /// Tint.
        tint: Rgba,
        /// Where.
        #[schemars(extend("format" = "path"))]
        path: String,
        /// Points.
        #[schemars(length(min = 2, max = 8))]
        points: Vec<f32>,
        /// Maybe.
        limit: Option<u8>,
        /// On.
        on: bool,
    }

    impl Default for Config {
        fn default() -> Self {
            Config {
                count: 3,
                speed: 0.5,
                kind: Kind::Box,
                tint: Rgba::WHITE,
                path: String::new(),
                points: vec![0.0, 1.0],
                limit: None,
                on: true,
            }
        }
    }

    #[test]
    fn a_derived_schema_gives_every_field_with_type_default_range_and_doc() {
        let schema: Value = serde_json::from_str(&fields_of::<Config>()).unwrap();
        let fields = fields(&schema);
        let get = |name: &str| fields.iter().find(|f| f.name == name).unwrap().clone();
        let count = get("count");
        assert_eq!(
            (count.ty, count.default.clone(), count.min, count.max),
            (FieldType::Int, json!(3), Some(1.0), Some(64.0))
        );
        assert_eq!(count.doc, "How many, at most 64.");
        assert_eq!(count.type_bounds, Some((0.0, 4294967295.0)));
        assert_eq!(get("speed").ty, FieldType::Float);
        let kind = get("kind");
        assert_eq!(
            (kind.ty, kind.allowed),
            (FieldType::String, vec!["gaussian".into(), "box".into()])
        );
        assert_eq!(get("tint").ty, FieldType::Color);
        assert_eq!(get("tint").default, json!("#ffffff"));
        assert_eq!(get("path").ty, FieldType::Path);
        let points = get("points");
        assert_eq!(
            (points.ty, points.min_items, points.max_items),
            (FieldType::List, Some(2), Some(8))
        );
        let limit = get("limit");
        assert_eq!(
            (limit.ty, limit.default, limit.type_bounds),
            (FieldType::Int, Value::Null, Some((0.0, 255.0)))
        );
        assert_eq!(get("on").ty, FieldType::Bool);
        assert_eq!(fields.len(), 8);
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn a_field_list_gives_the_same_kind_of_schema() {
        const LIST: &[Field] = &[
            Field::new("count", FieldType::Int, "3", "How many.").range(1.0, 64.0),
            Field::new("tint", FieldType::Color, "\"#ffffff\"", "Tint."),
        ];
        let list = LIST;
        let fields = fields(&list.schema());
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].spec(), list[0].spec());
        assert_eq!(fields[1].spec(), list[1].spec());
    }
}
