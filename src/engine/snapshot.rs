//! Everything compile reads, as plain data: the four kinds and the Secrets they reference.

use crate::validate::Invalid;
use std::collections::BTreeMap;
use std::fmt;

use crate::api::{Integration, OrgUnit, Tenant, UserGrant};

use super::problem::{Kind, ObjectRef};

/// A Secret's keys and values. Debug never shows the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData(pub BTreeMap<String, String>);

impl SecretData {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| format!("{k}: <redacted>")))
            .finish()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub tenants: Vec<Tenant>,
    pub org_units: Vec<OrgUnit>,
    pub user_grants: Vec<UserGrant>,
    pub integrations: Vec<Integration>,
    /// Secrets by (namespace, name).
    pub secrets: BTreeMap<(String, String), SecretData>,
    /// Where each object was read from (`file.yaml:12`), for messages. Empty for a cluster.
    pub origins: BTreeMap<ObjectRef, String>,
    /// Objects that exist but could not be read, and why. What they stand for downstream is
    /// frozen: one bad object never makes accord delete what it had provisioned.
    pub unreadable: BTreeMap<ObjectRef, String>,
    /// Inputs that could not be fully read, so that accord cannot know everything they
    /// declared (a file with a syntax error, a document whose kind is unknown). Nothing in
    /// the namespaces they may speak for is deleted, disabled, moved or stripped.
    pub unread: Vec<UnreadInput>,
}

/// An input that could not be fully read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnreadInput {
    /// `grants/anna.yaml:3`, or the object for a cluster (`UserGrant ns/anna`).
    pub input: String,
    /// Why (masked: never a value).
    pub reason: String,
    /// The namespace whose objects it may have declared; None when that is unknown too.
    pub namespace: Option<String>,
}

impl UnreadInput {
    pub fn concerns(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
    }
}

impl std::fmt::Display for UnreadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.input, self.reason)
    }
}

impl Snapshot {
    pub fn origin(&self, object: &ObjectRef) -> Option<String> {
        self.origins.get(object).cloned()
    }

    pub fn is_unreadable(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        self.unreadable
            .contains_key(&ObjectRef::new(kind, namespace, name))
    }

    /// Whether some input of `namespace` could not be read, so that an object missing from
    /// the snapshot may well exist.
    pub fn may_hide(&self, namespace: &str) -> bool {
        self.unread.iter().any(|u| u.concerns(namespace))
    }

    /// The inputs that could not be read and may speak for `namespace`, for a plan.
    pub fn unread_in(&self, namespace: &str) -> Vec<String> {
        self.unread
            .iter()
            .filter(|u| u.concerns(namespace))
            .map(ToString::to_string)
            .collect()
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&SecretData> {
        self.secrets.get(&(namespace.to_string(), name.to_string()))
    }

    /// A Secret that a resource names, or why it cannot be had (for a message).
    pub fn named_secret(&self, namespace: &str, name: &str) -> Result<&SecretData, Invalid> {
        self.secret(namespace, name)
            .ok_or_else(|| Invalid(format!("Secret {name:?} does not exist in namespace {namespace}")))
    }

    /// One key of a Secret that a resource names, or why it cannot be had.
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Result<&str, Invalid> {
        self.named_secret(namespace, name)?
            .get(key)
            .ok_or_else(|| Invalid(format!("Secret {name:?} has no key {key:?}")))
    }
}

/// The (namespace, name) of any resource, with `default` for a missing namespace.
pub fn ns_name<K: kube::Resource>(obj: &K) -> (String, String) {
    let meta = obj.meta();
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}

pub fn object_ref<K: kube::Resource>(kind: Kind, obj: &K) -> ObjectRef {
    let (ns, name) = ns_name(obj);
    ObjectRef {
        kind,
        namespace: ns,
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_secret_or_key_that_is_missing_says_which() {
        let mut snap = Snapshot::default();
        snap.secrets.insert(
            ("ns".into(), "bind".into()),
            SecretData(BTreeMap::from([("password".into(), "pw".into())])),
        );
        assert_eq!(snap.secret_value("ns", "bind", "password"), Ok("pw"));
        assert_eq!(
            snap.secret_value("ns", "bind", "bindDN"),
            Err(Invalid::from("Secret \"bind\" has no key \"bindDN\""))
        );
        assert_eq!(
            snap.secret_value("other", "bind", "password"),
            Err(Invalid::from("Secret \"bind\" does not exist in namespace other"))
        );
    }
}
