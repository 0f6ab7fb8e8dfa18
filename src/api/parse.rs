//! Reading accord's objects from JSON values (a List item, a cluster object) with the failing
//! field's path and the fields the type does not have, in messages that never quote the
//! value (serde_json's do: `invalid type: string "…"`).

use serde::de::DeserializeOwned;

/// `value` into `T`; on failure (field, reason). `unknown` hears every field `T` ignored.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    unknown: &mut dyn FnMut(String),
) -> Result<T, (String, String)> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    let mut note = |p: serde_ignored::Path| unknown(p.to_string());
    T::deserialize(serde_ignored::Deserializer::new(de, &mut note))
        .map_err(|e| (field_of(&track.path().to_string()), json_reason(&e)))
}

/// serde's path (`spec.validFrom`, `.` for the root, `?` for a key) as a field name.
pub fn field_of(path: &str) -> String {
    let p = path.trim_end_matches(".?").trim_end_matches('?');
    if p == "." { String::new() } else { p.to_string() }
}

/// Keeps what the value was expected to be, never what it was.
pub fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    let expected = msg.split_once(", expected ").map(|(_, x)| x);
    let text = if msg.starts_with("invalid type") {
        format!("has the wrong type (expected {})", expected.unwrap_or("another type"))
    } else if msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        format!("has an invalid value (expected {})", expected.unwrap_or("another value"))
    } else if msg.starts_with("unknown variant") {
        format!(
            "is not one of {}",
            expected.unwrap_or("the allowed values").trim_start_matches("one of ")
        )
    } else if msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        msg.to_string()
    } else {
        "has an invalid value".to_string()
    };
    crate::validate::redact::shown(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_quote_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            n: u32,
            e: Option<E>,
        }
        #[derive(serde::Deserialize, Debug)]
        enum E {
            A,
        }
        // A checksum-valid HETU, kept with the test fixtures, not in product source.
        let hetu = include_str!("../../tests/fixtures/national-ids/unit-tests.txt")
            .lines()
            .next()
            .unwrap_or_default();
        for v in [
            serde_json::json!({"n": hetu}),
            serde_json::json!({"n": 1, "e": hetu}),
        ] {
            let (field, why) = from_value::<T>(v, &mut |_| {}).unwrap_err();
            assert!(!why.contains(&hetu[..6]), "{field}: {why}");
        }
    }
}
