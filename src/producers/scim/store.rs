//! Where the SCIM server reads and writes: the operator's stores and the Kubernetes API,
//! behind a small interface (the operator implements it), and how a pushed person is kept on
//! their UserGrant — labels, annotations, owner — so that it survives restarts.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::api::{Integration, OrgUnit, Tenant, UserGrant};
use crate::engine::SecretData;

use super::mapping::GroupRecord;

/// Label: the name of the Integration that pushed (and owns) a UserGrant.
pub const MANAGED_BY: &str = "accord.dev/managed-by";
/// Label: the SCIM id of the User a UserGrant stands for.
pub const SCIM_ID: &str = "scim.accord.dev/id";
/// Annotation: the User as accord keeps it (JSON).
pub const RESOURCE: &str = "scim.accord.dev/resource";
/// Annotation on a UserGrant: the ids of its Groups, comma-separated. On the Integration:
/// its Groups (JSON).
pub const GROUPS: &str = "scim.accord.dev/groups";
/// Annotation: the User's version (its ETag).
pub const VERSION: &str = "scim.accord.dev/version";
pub const CREATED: &str = "scim.accord.dev/created";
pub const MODIFIED: &str = "scim.accord.dev/last-modified";
/// Annotation: the client deleted this User and the deletion is held (when, and why).
pub const HELD: &str = "scim.accord.dev/deletion-held";
/// Annotation on an Integration: release this many held inbound deletions.
pub const CONFIRM: &str = "accord.dev/confirm-deletions";

/// A write the API server did not take.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    /// Someone else wrote first (409): the client may simply retry.
    pub conflict: bool,
    pub message: String,
}

/// What the SCIM server needs of the cluster.
pub trait Backend: Send + Sync + 'static {
    /// Only the leader writes.
    fn leader(&self) -> bool;
    fn integration(&self, ns: &str, name: &str) -> Option<Arc<Integration>>;
    fn tenant(&self, ns: &str, name: &str) -> Option<Arc<Tenant>>;
    fn units(&self, ns: &str) -> Vec<Arc<OrgUnit>>;
    /// Every UserGrant of the namespace, the server's own latest writes included.
    fn grants(&self, ns: &str) -> Vec<Arc<UserGrant>>;
    fn secret(&self, ns: &str, name: &str) -> Option<SecretData>;
    fn create(&self, grant: UserGrant) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Replaces the grant's metadata and spec (its resourceVersion guards the write).
    fn replace(&self, grant: UserGrant) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn delete(&self, grant: &UserGrant) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Writes the Integration's Groups annotation.
    fn set_groups(&self, integration: &Integration, records: String) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// A Kubernetes Event on the grant (or, without one, on the Integration).
    fn event(&self, on: EventOn<'_>, warning: bool, reason: &str, note: String) -> impl Future<Output = ()> + Send;
}

pub enum EventOn<'a> {
    Grant(&'a UserGrant),
    Integration(&'a Integration),
}

pub fn annotation<'a>(g: &'a UserGrant, key: &str) -> Option<&'a str> {
    g.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

pub fn label<'a>(g: &'a UserGrant, key: &str) -> Option<&'a str> {
    g.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Whether `integration` pushed the grant.
pub fn owned_by(g: &UserGrant, integration: &str) -> bool {
    label(g, MANAGED_BY) == Some(integration) && label(g, SCIM_ID).is_some()
}

/// The User as kept on the grant; None when the annotation is missing or unreadable.
pub fn kept_doc(g: &UserGrant) -> Option<Value> {
    serde_json::from_str(annotation(g, RESOURCE)?).ok().filter(Value::is_object)
}

pub fn version(g: &UserGrant) -> u64 {
    annotation(g, VERSION).and_then(|v| v.parse().ok()).unwrap_or(1)
}

pub fn group_ids(g: &UserGrant) -> Vec<String> {
    annotation(g, GROUPS)
        .map(|s| s.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The Integration's Groups; an unreadable annotation is an error, never "no groups".
pub fn group_records(i: &Integration) -> Result<Vec<GroupRecord>, String> {
    match i.metadata.annotations.as_ref().and_then(|a| a.get(GROUPS)) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("the Integration's annotation {GROUPS} cannot be read ({e}); fix or remove it")),
    }
}

/// A new SCIM id: a random UUID (version 4) in which no run of digits reads as a national
/// identity number. The id is a label on the UserGrant, and a label that looks like one
/// freezes the grant (InvalidSpec): about one UUID in a thousand would (the bench found one).
pub fn new_id() -> String {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    loop {
        let mut b = [0u8; 16];
        let _ = rng.fill(&mut b);
        let id = uuid_of(b);
        if !crate::validate::redact::has_national_id(&id) {
            return id;
        }
    }
}

/// A version 4 UUID's text from 16 random bytes.
fn uuid_of(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::redact::has_national_id;

    #[test]
    fn a_uuid_can_look_like_an_identity_number_but_no_new_id_does() {
        // A UUID whose last group holds 851019-1235 (a Swedish personnummer with its Luhn
        // digit, 19 October 1985) without separator: the shape new_id draws again.
        let b = [0xab, 0xcd, 0xef, 0xab, 0xcd, 0xef, 0x4a, 0xbc, 0x8a, 0xbc, 0xa8, 0x51, 0x01, 0x91, 0x23, 0x5b];
        let id = uuid_of(b);
        assert_eq!(id, "abcdefab-cdef-4abc-8abc-a8510191235b");
        assert!(has_national_id(&id));
        for _ in 0..20_000 {
            let id = new_id();
            assert_eq!(id.len(), 36);
            assert!(!has_national_id(&id), "{id}");
        }
    }
}
