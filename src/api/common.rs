//! Types shared by the four resources.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A Kubernetes-style duration such as `90d`, `10m` or `1h30m`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(d|h|m|s))+$";

/// A calendar date, ISO 8601 (`2027-12-31`).
pub type Date = jiff::civil::Date;

/// One key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// The key of the Secret's data that holds the value.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A whole Secret in the same namespace; which keys it needs depends on the user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret's name, in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// A code in some scheme: cost centre, HSA-id, occupation code.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub struct Code {
    #[schemars(pattern(r"^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub scheme: String,
    #[schemars(length(min = 1, max = 128))]
    pub value: String,
}

/// `Enforce` corrects drift; `Observe` only reports it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementMode {
    #[default]
    Enforce,
    Observe,
}
