//! SCIM errors (RFC 7644 §3.12): a status, a `scimType` where the RFC has one, and a
//! `detail` a person can act on. Details never carry a national identity number: they are
//! masked on the way out.

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", scim_type.unwrap_or("error"))]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// Seconds to wait before trying again (429, 503).
    pub retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }
    pub fn invalid_filter(detail: String) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_path(detail: String) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some("noTarget"), detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some("mutability"), detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            None,
            "send the Integration's token as `Authorization: Bearer TOKEN` (the Secret named by \
             its credentialsRef, key `token` or `token-*`)",
        )
    }
    pub fn precondition(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, None, detail)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(413, Some("tooLarge"), format!("the request body is larger than {limit} bytes"))
    }
    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(503, None, detail)
        }
    }
    pub fn too_many(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                429,
                None,
                "too many requests for this Integration (scimServer.requestsPerSecond); retry after the time given",
            )
        }
    }

    /// The SCIM error document.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.to_string(),
            "detail": crate::validate::redact::masked(&self.detail),
        });
        if let Some(t) = self.scim_type {
            v["scimType"] = json!(t);
        }
        v
    }
}
