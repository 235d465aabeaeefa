//! `Spanned<T>`: a value from a TOML file with the byte range it came from (for diagnostics),
//! whose JSON Schema is its value's, so the scene and playlist file structs derive both their
//! parsing and their schema (`marquee schema`).

use std::borrow::Cow;
use std::ops::Deref;

use serde::{Deserialize, Deserializer};

/// A value with its location in the file (`toml::Spanned`, which it dereferences to).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T>(toml::Spanned<T>);

impl<T> Deref for Spanned<T> {
    type Target = toml::Spanned<T>;

    fn deref(&self) -> &toml::Spanned<T> {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        toml::Spanned::deserialize(deserializer).map(Spanned)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
