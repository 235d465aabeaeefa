//! What the host knows of each factory's config (its JSON Schema and the fields derived from it)
//! and the check of a scene's config against it, made before the plugin's factory sees the
//! config, so a plugin that does not check its own fields still never gets a value outside what
//! it declared: types, ranges, allowed strings, list lengths, and the rest of the schema.

use marquee_plugin_api::config::{self, ConfigField};
use marquee_plugin_api::{FactorySpec, FieldType, PluginKind, PluginModRef, Rgba};
use serde_json::Value;

/// A value that does not fit its declared field: the sentence to show, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` must be {expected}, found {found}")]
pub struct FieldViolation {
    /// The field's key (with the place inside it, `points[1]`, for a part of a list or table).
    pub field: String,
    /// What the field takes ("a number from 0 to 1").
    pub expected: String,
    /// The value given, as written in TOML.
    pub found: String,
}

/// One factory's config: its schema, as the plugin states it, and the fields derived from it.
pub struct FactoryConfig {
    /// The kind of the factory.
    pub kind: PluginKind,
    /// The JSON Schema of its config table.
    pub schema: Value,
    /// Its fields, in the schema's order.
    pub fields: Vec<ConfigField>,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for FactoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactoryConfig")
            .field("kind", &self.kind)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl FactoryConfig {
    /// The config of `factory`: the schema the plugin gives (ABI 1.4), or for an older plugin
    /// the one its manifest's field list makes. `Err` says what is wrong with what it declares.
    pub fn read(module: &PluginModRef, factory: &FactorySpec) -> Result<Self, String> {
        let text = module.config_schema().map(|schema_of| schema_of(factory.kind));
        let schema = match text {
            Some(text) if !text.is_empty() => serde_json::from_str(text.as_str())
                .map_err(|e| format!("its {} config schema is not JSON ({e})", factory.kind))?,
            _ => config::schema_of_specs(&factory.fields),
        };
        Self::new(factory.kind, schema)
    }

    /// The config described by `schema`, its defaults checked against it.
    pub fn new(kind: PluginKind, schema: Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("its {kind} config schema is not a valid JSON Schema ({e})"))?;
        let config = FactoryConfig {
            kind,
            fields: config::fields(&schema),
            schema,
            validator,
        };
        config.check_defaults()?;
        Ok(config)
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&ConfigField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks that every declared default fits its own field (an optional field may have
    /// none): `Err` names the factory's kind, the field and what is wrong.
    fn check_defaults(&self) -> Result<(), String> {
        for field in &self.fields {
            if field.default.is_null() {
                continue;
            }
            let wrong = |why: String| {
                format!(
                    "its {} field `{}` declares the default `{}`, which {why}",
                    self.kind, field.name, field.default
                )
            };
            let value = toml::Value::try_from(&field.default)
                .map_err(|_| wrong("is not a value a scene can give".into()))?;
            check(field, &value).map_err(|e| wrong(format!("is not {}", e.expected)))?;
        }
        Ok(())
    }

    /// Checks a scene's config table: each declared field the table sets (unknown keys are the
    /// caller's to report, with suggestions), then the whole table against the schema, for what
    /// lies inside lists and tables.
    pub fn check(&self, table: &toml::Table) -> Result<(), FieldViolation> {
        for field in &self.fields {
            if let Some(value) = table.get(&field.name) {
                check(field, value)?;
            }
        }
        let json = serde_json::to_value(table).unwrap_or(Value::Null);
        match self.validator.iter_errors(&json).next() {
            None => Ok(()),
            Some(e) => {
                let mut place = String::new();
                for segment in e.instance_path().as_str().split('/').skip(1) {
                    match segment.parse::<usize>() {
                        Ok(i) if !place.is_empty() => place.push_str(&format!("[{i}]")),
                        _ if place.is_empty() => place.push_str(segment),
                        _ => place.push_str(&format!(".{segment}")),
                    }
                }
                Err(FieldViolation {
                    field: if place.is_empty() { "config".into() } else { place },
                    expected: format!("valid ({e})"),
                    found: shown_json(e.instance()),
                })
            }
        }
    }
}

/// Checks `value` against `field`: its type, a number's finiteness and bounds, a choice's
/// allowed strings, a list's length, whether a colour parses.
pub fn check(field: &ConfigField, value: &toml::Value) -> Result<(), FieldViolation> {
    let ok = match field.ty {
        FieldType::Bool => value.is_bool(),
        FieldType::String | FieldType::Path => value
            .as_str()
            .is_some_and(|s| field.allowed.is_empty() || field.allowed.iter().any(|a| a == s)),
        FieldType::List => value.as_array().is_some_and(|items| {
            let n = items.len() as u64;
            field.min_items.is_none_or(|min| n >= min) && field.max_items.is_none_or(|max| n <= max)
        }),
        FieldType::Color => value.as_str().and_then(Rgba::parse).is_some(),
        FieldType::Int => value.as_integer().is_some_and(|n| in_bounds(field, n as f64)),
        FieldType::Float => value
            .as_float()
            .or(value.as_integer().map(|n| n as f64))
            .is_some_and(|x| x.is_finite() && in_bounds(field, x)),
    };
    if ok {
        return Ok(());
    }
    Err(FieldViolation {
        field: field.name.clone(),
        expected: expected(field),
        found: shown(value),
    })
}

/// What a field takes, as a phrase: "a whole number from 1 to 64", "one of "box", "gaussian"".
pub fn expected(field: &ConfigField) -> String {
    let bounds = || match bounds_text(field) {
        Some(b) if field.min.is_some() && field.max.is_some() || field.type_bounds.is_some() => {
            format!(" from {b}")
        }
        Some(b) => format!(" of {b}"),
        None => String::new(),
    };
    match field.ty {
        FieldType::Bool => "true or false".into(),
        FieldType::String | FieldType::Path if !field.allowed.is_empty() => {
            let quoted: Vec<String> = field.allowed.iter().map(|a| format!("{a:?}")).collect();
            format!("one of {}", quoted.join(", "))
        }
        FieldType::String | FieldType::Path => "text, in quotes".into(),
        FieldType::List => match items_phrase(field) {
            Some(items) => format!("a list of {items}"),
            None => "a list, like [1, 2]".into(),
        },
        FieldType::Color => "a colour, like \"#ff8800\" or \"#ff880080\"".into(),
        FieldType::Int => format!("a whole number{}", bounds()),
        FieldType::Float => format!("a finite number{}", bounds()),
    }
}

fn in_bounds(field: &ConfigField, x: f64) -> bool {
    let (lo, hi) = effective_bounds(field);
    lo.is_none_or(|lo| x >= lo) && hi.is_none_or(|hi| x <= hi)
}

/// The declared bounds, narrowed by the number type's own.
fn effective_bounds(field: &ConfigField) -> (Option<f64>, Option<f64>) {
    let (tlo, thi) = field
        .type_bounds
        .map_or((None, None), |(lo, hi)| (Some(lo), Some(hi)));
    let pick = |a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64| match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    };
    (pick(field.min, tlo, f64::max), pick(field.max, thi, f64::min))
}

/// The bounds a value must keep, as people write them ("0 to 1", "at least 1").
fn bounds_text(field: &ConfigField) -> Option<String> {
    let (lo, hi) = effective_bounds(field);
    bounds_phrase(lo, hi)
}

/// What a field declares beyond its type, for listings: its range, its choices or its list
/// length ("0 to 64", "box | gaussian", "2 to 8 items").
pub fn constraint(field: &ConfigField) -> Option<String> {
    if !field.allowed.is_empty() {
        return Some(field.allowed.join(" | "));
    }
    if field.ty == FieldType::List {
        return items_phrase(field);
    }
    range(field)
}

/// How many items a list field takes, if it says ("2 items", "2 to 8 items", "at most 3 items").
fn items_phrase(field: &ConfigField) -> Option<String> {
    match (field.min_items, field.max_items) {
        (Some(lo), Some(hi)) if lo == hi => Some(format!("{lo} items")),
        (lo, hi) => bounds_phrase(lo.map(|n| n as f64), hi.map(|n| n as f64)).map(|b| format!("{b} items")),
    }
}

/// The range a field declares, as people write it ("0 to 1", "at least 1", "at most 9"), if it
/// declares one.
pub fn range(field: &ConfigField) -> Option<String> {
    bounds_phrase(field.min, field.max)
}

fn bounds_phrase(lo: Option<f64>, hi: Option<f64>) -> Option<String> {
    match (lo, hi) {
        (Some(lo), Some(hi)) => Some(format!("{} to {}", number(lo), number(hi))),
        (Some(lo), None) => Some(format!("at least {}", number(lo))),
        (None, Some(hi)) => Some(format!("at most {}", number(hi))),
        (None, None) => None,
    }
}

/// A bound as people write it: `0.1`, `100000`, `1e-12`.
fn number(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e10) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A value as it would be written in TOML (lists and tables by kind).
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) if x.is_nan() => "nan".into(),
        toml::Value::Float(x) if x.is_infinite() => if *x > 0.0 { "inf" } else { "-inf" }.into(),
        toml::Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.1}"),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!("a list of {} items", a.len()),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// A JSON value (a part of a scene's config) as it would be written in TOML.
fn shown_json(value: &Value) -> String {
    toml::Value::try_from(value).map_or_else(|_| value.to_string(), |v| shown(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(ty: FieldType, min: Option<f64>, max: Option<f64>) -> ConfigField {
        ConfigField {
            name: "f".into(),
            ty,
            default: json!(0),
            min,
            max,
            type_bounds: None,
            allowed: Vec::new(),
            min_items: None,
            max_items: None,
            doc: "a field".into(),
        }
    }

    fn value(toml: &str) -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {toml}")).unwrap()["v"].clone()
    }

    #[test]
    fn numbers_are_checked_for_type_finiteness_and_range() {
        let float = field(FieldType::Float, Some(0.0), Some(1.0));
        assert!(check(&float, &value("0.5")).is_ok());
        assert!(check(&float, &value("1")).is_ok(), "an integer is a number");
        for bad in ["1.5", "-0.1", "nan", "inf", "\"0.5\""] {
            let e = check(&float, &value(bad)).unwrap_err();
            assert_eq!(e.expected, "a finite number from 0 to 1", "{bad}");
        }
        let int = field(FieldType::Int, Some(1.0), None);
        assert!(check(&int, &value("3")).is_ok());
        let e = check(&int, &value("2.5")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`f` must be a whole number of at least 1, found 2.5"
        );
        assert!(check(&int, &value("0")).is_err());
        assert!(check(&field(FieldType::Int, None, None), &value("-9")).is_ok());
    }

    #[test]
    fn an_integer_type_bounds_the_number_when_nothing_narrower_is_declared() {
        let byte = ConfigField {
            type_bounds: Some((0.0, 255.0)),
            ..field(FieldType::Int, None, None)
        };
        assert!(check(&byte, &value("255")).is_ok());
        let e = check(&byte, &value("256")).unwrap_err();
        assert_eq!(e.expected, "a whole number from 0 to 255");
        let narrower = ConfigField {
            type_bounds: Some((0.0, 4294967295.0)),
            ..field(FieldType::Int, Some(1.0), Some(64.0))
        };
        assert_eq!(
            check(&narrower, &value("65")).unwrap_err().expected,
            "a whole number from 1 to 64"
        );
    }

    #[test]
    fn choices_and_list_lengths_are_checked() {
        let choice = ConfigField {
            allowed: vec!["box".into(), "gaussian".into()],
            ..field(FieldType::String, None, None)
        };
        assert!(check(&choice, &value("\"box\"")).is_ok());
        let e = check(&choice, &value("\"boxy\"")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`f` must be one of \"box\", \"gaussian\", found \"boxy\""
        );
        let list = ConfigField {
            min_items: Some(2),
            max_items: Some(3),
            ..field(FieldType::List, None, None)
        };
        assert!(check(&list, &value("[1, 2]")).is_ok());
        let e = check(&list, &value("[1, 2, 3, 4]")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`f` must be a list of 2 to 3 items, found a list of 4 items"
        );
        assert!(check(&list, &value("[1]")).is_err());
    }

    #[test]
    fn every_built_in_plugin_declares_defaults_that_fit_its_fields() {
        // Registry::builtin() reads and checks every built-in factory's config.
        let registry = crate::plugins::registry::Registry::builtin();
        assert!(registry.failures().is_empty(), "{:?}", registry.failures());
        let blur = registry.get("blur").unwrap();
        let mut schema = blur.config(PluginKind::Processor).unwrap().schema.clone();
        schema["properties"]["radius"]["default"] = json!(1000);
        let e = FactoryConfig::new(PluginKind::Processor, schema).unwrap_err();
        assert!(
            e.contains("`radius` declares the default `1000`, which is not a whole number from 0 to 64"),
            "{e}"
        );
    }

    #[test]
    fn inside_a_list_the_schema_decides() {
        let schema = json!({
            "type": "object",
            "properties": { "points": { "type": "array", "items": { "type": "number" } } },
            "additionalProperties": false,
        });
        let config = FactoryConfig::new(PluginKind::Renderer, schema).unwrap();
        let table: toml::Table = toml::from_str("points = [1.0, \"x\"]").unwrap();
        let e = config.check(&table).unwrap_err();
        assert_eq!(e.field, "points[1]");
        assert!(e.expected.contains("is not of type \"number\""), "{e}");
        assert_eq!(e.found, "\"x\"");
    }

    #[test]
    fn other_types_are_checked_by_kind() {
        let ok = [
            (FieldType::Bool, "true"),
            (FieldType::String, "\"x\""),
            (FieldType::Path, "\"a.png\""),
            (FieldType::List, "[1, 2]"),
            (FieldType::Color, "\"#ff8800\""),
        ];
        for (ty, v) in ok {
            assert!(check(&field(ty, None, None), &value(v)).is_ok(), "{v}");
        }
        let bad = [
            (FieldType::Bool, "1"),
            (FieldType::String, "3"),
            (FieldType::List, "\"a\""),
            (FieldType::Color, "\"orange\""),
            (FieldType::Color, "7"),
        ];
        for (ty, v) in bad {
            assert!(check(&field(ty, None, None), &value(v)).is_err(), "{v}");
        }
    }
}
