//! The host's check of a config value against the field a plugin declares for it (type, and
//! range for numbers), made before the plugin's factory sees the config, so a plugin that does
//! not check its own fields still never gets a value outside what it declared.

use marquee_plugin_api::{FieldSpec, FieldType, Manifest, Rgba};

/// A value that does not fit its declared field: the sentence to show, without the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` must be {expected}, found {found}")]
pub struct FieldViolation {
    /// The field's key.
    pub field: String,
    /// What the field takes ("a number from 0 to 1").
    pub expected: String,
    /// The value given, as written in TOML.
    pub found: String,
}

/// Checks `value` against `field`: its type, whether a number is finite and inside the declared
/// range, whether a colour parses.
pub fn check(field: &FieldSpec, value: &toml::Value) -> Result<(), FieldViolation> {
    let range = || range_text(field);
    let expected = match field.ty {
        FieldType::Bool => value.is_bool().then_some(()).ok_or("true or false".to_string()),
        FieldType::String | FieldType::Path => {
            value.is_str().then_some(()).ok_or("text, in quotes".to_string())
        }
        FieldType::List => value
            .is_array()
            .then_some(())
            .ok_or("a list, like [1, 2]".to_string()),
        FieldType::Color => match value.as_str().map(Rgba::parse) {
            Some(Some(_)) => Ok(()),
            _ => Err("a colour, like \"#ff8800\" or \"#ff880080\"".to_string()),
        },
        FieldType::Int => match value.as_integer() {
            Some(n) if in_range(field, n as f64) => Ok(()),
            _ => Err(format!("a whole number{}", range())),
        },
        FieldType::Float => match value.as_float().or(value.as_integer().map(|n| n as f64)) {
            Some(x) if x.is_finite() && in_range(field, x) => Ok(()),
            _ => Err(format!("a finite number{}", range())),
        },
    };
    expected.map_err(|expected| FieldViolation {
        field: field.name.to_string(),
        expected,
        found: shown(value),
    })
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
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// Checks that every field a plugin declares has a default that is valid JSON and fits the
/// field itself: `Err` names the factory's kind, the field and what is wrong.
pub fn check_defaults(manifest: &Manifest) -> Result<(), String> {
    for factory in manifest.factories.iter() {
        for field in factory.fields.iter() {
            let wrong = |why: String| {
                format!(
                    "its {} field `{}` declares the default `{}`, which {why}",
                    factory.kind.as_str(),
                    field.name,
                    field.default
                )
            };
            let json: serde_json::Value =
                serde_json::from_str(&field.default).map_err(|e| wrong(format!("is not JSON ({e})")))?;
            let value = toml::Value::try_from(&json)
                .map_err(|_| wrong("is not a value a scene can give (null?)".into()))?;
            check(field, &value).map_err(|e| wrong(format!("is not {}", e.expected)))?;
        }
    }
    Ok(())
}

fn in_range(field: &FieldSpec, x: f64) -> bool {
    field.min.into_option().is_none_or(|min| x >= min) && field.max.into_option().is_none_or(|max| x <= max)
}

/// " from 0 to 1", " of at least 1", " of at most 9", or nothing.
fn range_text(field: &FieldSpec) -> String {
    match (range(field), field.min.into_option().zip(field.max.into_option())) {
        (Some(r), Some(_)) => format!(" from {r}"),
        (Some(r), None) => format!(" of {r}"),
        (None, _) => String::new(),
    }
}

/// The range a field declares, as people write it ("0 to 1", "at least 1", "at most 9"), if it
/// declares one.
pub fn range(field: &FieldSpec) -> Option<String> {
    match (field.min.into_option(), field.max.into_option()) {
        (Some(lo), Some(hi)) => Some(format!("{} to {}", number(lo), number(hi))),
        (Some(lo), None) => Some(format!("at least {}", number(lo))),
        (None, Some(hi)) => Some(format!("at most {}", number(hi))),
        (None, None) => None,
    }
}

/// A bound as people write it: `0.1`, `100000`, `1e-12`.
fn number(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e9) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marquee_plugin_api::abi_stable::std_types::ROption;

    fn field(ty: FieldType, min: Option<f64>, max: Option<f64>) -> FieldSpec {
        FieldSpec {
            name: "f".into(),
            ty,
            default: "0".into(),
            min: min.map_or(ROption::RNone, ROption::RSome),
            max: max.map_or(ROption::RNone, ROption::RSome),
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
    fn every_built_in_plugin_declares_defaults_that_fit_its_fields() {
        for p in crate::registry::Registry::builtin().plugins() {
            assert_eq!(check_defaults(&p.manifest), Ok(()), "{}", p.id());
        }
        let mut manifest = crate::registry::Registry::builtin()
            .get("blur")
            .unwrap()
            .manifest
            .clone();
        let radius = manifest.factories[0]
            .fields
            .iter_mut()
            .find(|f| f.name.as_str() == "radius")
            .unwrap();
        radius.default = "1000".into();
        let e = check_defaults(&manifest).unwrap_err();
        assert!(
            e.contains("`radius` declares the default `1000`, which is not a whole number from 0 to 64"),
            "{e}"
        );
        manifest.factories[0].fields[0].default = "fast".into();
        assert!(check_defaults(&manifest).unwrap_err().contains("is not JSON"));
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
