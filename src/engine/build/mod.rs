//! Pure `build_*` functions: one validated tenant → the objects one target kind should hold.

pub mod directory;
pub mod extranet;
pub mod idp;

use std::collections::BTreeSet;

use crate::api::{Integration, LifecycleState, Scope, SecretKeyRef, TenantSpec, UserGrantSpec};

use super::problem::ObjectRef;
use super::snapshot::Snapshot;
use super::tree::{OrgTree, UnitNode};

/// A tenant after validation, as the builders see it.
pub struct TenantContext<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// For the Secrets a kind's settings name (checked by compile before building).
    pub snap: &'a Snapshot,
    /// The Integration serving as the tenant's directory, if any: an IdP whose users live
    /// there reads what it releases from it.
    pub directory: Option<&'a Integration>,
    pub spec: &'a TenantSpec,
    pub tree: &'a OrgTree,
    /// Login methods the policy allows (those below `minimumLevel` removed).
    pub login_methods: Vec<String>,
    pub idle_timeout_secs: Option<u64>,
    pub max_lifetime_secs: Option<u64>,
}

impl TenantContext<'_> {
    /// The value a Secret reference of the tenant's namespace points at.
    pub fn secret_value(&self, r: &SecretKeyRef) -> Option<&str> {
        self.snap
            .secret_value(self.namespace, &r.secret_name, &r.key)
            .ok()
    }
}

/// A grant after validation: normalised values and its lifecycle state.
pub struct ResolvedGrant<'a> {
    pub name: &'a str,
    pub source: ObjectRef,
    pub spec: &'a UserGrantSpec,
    pub state: LifecycleState,
    pub home: &'a UnitNode,
    /// E.164.
    pub phone: Option<String>,
    pub email: String,
    pub national_id: Option<String>,
    /// Every unit the scopes reach, descendants expanded.
    pub expanded_scopes: BTreeSet<String>,
}

impl ResolvedGrant<'_> {
    pub fn display_name(&self) -> String {
        format!(
            "{} {}",
            self.spec.person.given_name.trim(),
            self.spec.person.family_name.trim()
        )
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.spec.scopes
    }

    /// Active people get access; everyone else is at most kept, disabled.
    pub fn has_access(&self) -> bool {
        self.state == LifecycleState::Active
    }

    /// Suspended and Expired people stay known downstream, disabled; Pending and Revoked do not.
    pub fn is_disabled_but_kept(&self) -> bool {
        matches!(
            self.state,
            LifecycleState::Suspended | LifecycleState::Expired
        )
    }
}
