//! Who may call: the bearer token of the Integration named in the URL (its credentialsRef
//! Secret, key `token` and any `token-*` keys, compared in constant time), and how fast: a
//! token bucket per Integration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::api::{Integration, IntegrationKind, ScimServerSettings};

use super::error::ScimError;
use super::store::Backend;

/// The Integration a request is for, once its token matched.
#[derive(Clone)]
pub struct Caller {
    pub namespace: String,
    pub integration: Arc<Integration>,
    pub settings: ScimServerSettings,
}

impl Caller {
    pub fn name(&self) -> &str {
        self.integration.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn tenant(&self) -> &str {
        &self.integration.spec.tenant
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equal without an early exit: compares digests, so lengths tell nothing either.
fn same(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (digest(a), digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// The caller, if `authorization` carries the token of Integration `ns/name` (of kind
/// scimServer). Every failure is the same 401: a stranger learns nothing of what exists.
pub fn authenticate<B: Backend>(backend: &B, ns: &str, name: &str, authorization: Option<&str>) -> Result<Caller, ScimError> {
    let presented = authorization
        .and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(ScimError::unauthorized)?;
    let integration = backend
        .integration(ns, name)
        .filter(|i| i.spec.kind == IntegrationKind::ScimServer && i.metadata.deletion_timestamp.is_none())
        .ok_or_else(ScimError::unauthorized)?;
    let secret = integration
        .spec
        .credentials_ref
        .as_ref()
        .and_then(|r| backend.secret(ns, &r.secret_name))
        .ok_or_else(ScimError::unauthorized)?;
    let mut ok = false;
    for (key, value) in &secret.0 {
        let candidate = key == "token" || key.starts_with("token-");
        // Every candidate is compared, matched or not.
        let matched = same(value.trim().as_bytes(), presented.as_bytes());
        ok |= candidate && !value.trim().is_empty() && matched;
    }
    if !ok {
        return Err(ScimError::unauthorized());
    }
    Ok(Caller {
        namespace: ns.to_string(),
        settings: integration.spec.scim_server.clone().unwrap_or_default(),
        integration,
    })
}

/// A token bucket per Integration.
#[derive(Default)]
pub struct Limits {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limits {
    /// Takes one request's token, or says how many seconds to wait.
    pub fn take(&self, caller: &Caller) -> Result<(), ScimError> {
        let rate = f64::from(caller.settings.requests_per_second.max(1));
        let burst = f64::from(caller.settings.burst.max(1));
        let key = (caller.namespace.clone(), caller.name().to_string());
        let mut buckets = self.buckets.lock().expect("rate limit buckets");
        let now = Instant::now();
        let b = buckets.entry(key).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(ScimError::too_many(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_equal() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
