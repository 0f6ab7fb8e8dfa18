//! Pure checks of single values: national identity numbers, contact details, durations,
//! organisation identifiers, login methods. Used by `compile` and by `import`.

pub mod contact;
pub mod duration;
pub mod identifiers;
pub mod national_id;
pub mod redact;

pub use contact::{normalise_phone, validate_email};
pub use duration::parse_duration;
pub use national_id::{Country, validate_national_id};

/// Why a value is not valid: a message for people that never repeats a national identity
/// number. Value checks return it; callers put it in a problem with the field it was about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Invalid(s)
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Self {
        Invalid(s.to_string())
    }
}

impl From<Invalid> for String {
    fn from(i: Invalid) -> Self {
        i.0
    }
}

/// The message, to read as text.
impl std::ops::Deref for Invalid {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
