//! Everything compile reads, as plain data: the four kinds and the Secrets they reference.

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
    /// Objects that exist but could not be read. What they stand for downstream is frozen:
    /// one bad object never makes accord delete what it had provisioned.
    pub unreadable: std::collections::BTreeSet<ObjectRef>,
}

impl Snapshot {
    pub fn origin(&self, object: &ObjectRef) -> Option<String> {
        self.origins.get(object).cloned()
    }

    pub fn is_unreadable(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        self.unreadable
            .contains(&ObjectRef::new(kind, namespace, name))
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&SecretData> {
        self.secrets.get(&(namespace.to_string(), name.to_string()))
    }

    /// A Secret that a resource names, or why it cannot be had (for a message).
    pub fn named_secret(&self, namespace: &str, name: &str) -> Result<&SecretData, String> {
        self.secret(namespace, name)
            .ok_or_else(|| format!("Secret {name:?} does not exist in namespace {namespace}"))
    }

    /// One key of a Secret that a resource names, or why it cannot be had.
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Result<&str, String> {
        self.named_secret(namespace, name)?
            .get(key)
            .ok_or_else(|| format!("Secret {name:?} has no key {key:?}"))
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
            Err("Secret \"bind\" has no key \"bindDN\"".into())
        );
        assert_eq!(
            snap.secret_value("other", "bind", "password"),
            Err("Secret \"bind\" does not exist in namespace other".into())
        );
    }
}
