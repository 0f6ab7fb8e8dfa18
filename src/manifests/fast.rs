//! The fast path for the plain YAML most manifests use (placeholder: always defers to the
//! full parser).

pub fn from_str_fast<T: serde::de::DeserializeOwned>(
    _doc: &str,
    _on_ignored: &mut dyn FnMut(String),
) -> Option<T> {
    None
}
