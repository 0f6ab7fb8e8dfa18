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
