//! JSON parsing that refuses duplicate object members at any depth. serde_json keeps the last
//! of two equal members; for a signed header that means two readers of the same bytes can see
//! two different values, so a JWS with duplicates is refused outright.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why bytes are not acceptable JSON.
#[derive(Debug)]
pub(crate) enum StrictJsonError {
    /// Not JSON at all (syntax, trailing bytes, not UTF-8, nesting too deep).
    Syntax(String),
    /// An object holds this member name twice.
    Duplicate(String),
}

/// Parses one JSON value from `bytes` (surrounding whitespace allowed, nothing else).
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed(&duplicate).deserialize(&mut de).and_then(|value| de.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (_, Some(member)) => Err(StrictJsonError::Duplicate(member)),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(StrictJsonError::Syntax(e.to_string())),
    }
}

/// Builds a [`Value`] like serde_json's own, but records the first duplicate member it meets.
struct StrictSeed<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictSeed(self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                let message = format!("duplicate member {}", super::jws::short(&name));
                *self.0.borrow_mut() = Some(name);
                return Err(A::Error::custom(message));
            }
            let value = map.next_value_seed(StrictSeed(self.0))?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert!(matches!(parse(br#"{"a":1,"a":1}"#), Err(StrictJsonError::Duplicate(m)) if m == "a"));
        assert!(
            matches!(parse(br#"{"x":[{"b":{"c":1,"c":2}}]}"#), Err(StrictJsonError::Duplicate(m)) if m == "c")
        );
        // Escapes are decoded before comparing: "\u0061" is "a".
        assert!(matches!(parse(br#"{"a":1,"\u0061":2}"#), Err(StrictJsonError::Duplicate(_))));
    }

    #[test]
    fn plain_json_parses_like_serde_json() {
        let text = br#" {"a":[1,-2,3.5,true,null,"s"],"b":{"c":{}}} "#;
        assert_eq!(parse(text).ok(), serde_json::from_slice::<Value>(text).ok());
    }

    #[test]
    fn trailing_bytes_and_deep_nesting_are_syntax_errors() {
        assert!(matches!(parse(br#"{"a":1} x"#), Err(StrictJsonError::Syntax(_))));
        let deep = "[".repeat(10_000);
        assert!(matches!(parse(deep.as_bytes()), Err(StrictJsonError::Syntax(_))));
    }
}
