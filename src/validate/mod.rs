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
