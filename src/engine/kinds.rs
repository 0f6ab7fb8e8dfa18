//! What the engine needs to know of each kind of downstream system: which purposes it can
//! serve, what its Integration's spec must say, the objects it should hold for a tenant, and
//! what of the tenant's policy it cannot express. Pure: the connectors implement this beside
//! their I/O (`crate::connectors`), and compile reaches them through a `Catalog`.

use std::time::Duration;

use crate::api::{Integration, IntegrationKind, SecretKeyRef, UserGrantSpec};

use super::build::idp::{LoginMethod, LoginSupport};
use super::build::{ResolvedGrant, TenantContext};
pub use super::state::Gap;
use super::state::{Object, TargetRole};

/// The pure half of a connector.
pub trait TargetKind: Send + Sync {
    fn kind(&self) -> IntegrationKind;

    /// The purposes an Integration of this kind can serve for its tenant.
    fn serves(&self) -> &'static [TargetRole];

    /// URL schemes its `spec.endpoint` may use.
    fn schemes(&self) -> &'static [&'static str];

    /// Problems with the kind's own settings, as (field, reason).
    fn check(&self, _integration: &Integration) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The Secret keys its settings name, with the field naming each: compile checks that
    /// they exist before anything is built from them.
    fn secret_refs(&self, _integration: &Integration) -> Vec<(String, SecretKeyRef)> {
        Vec::new()
    }

    /// Values of a person this kind cannot carry, as (field, reason): the UserGrant is then
    /// frozen in every target of its tenant, like any other error of its own.
    fn check_grant(&self, _grant: &UserGrantSpec) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whether the kind can offer a login method of the tenant's policy (IdP kinds).
    fn login_support(&self, _method: &LoginMethod) -> LoginSupport {
        LoginSupport::Managed
    }

    /// The objects the system should hold for the tenant.
    fn build(
        &self,
        ctx: &TenantContext,
        grants: &[ResolvedGrant],
        integration: &Integration,
    ) -> Vec<Object>;

    /// What of the tenant's policy this kind cannot express for one tenant (a session
    /// lifetime an IdP only has globally, a login method it has no connector for): reported
    /// on status and in the plan, never dropped in silence.
    fn cannot_express(&self, _ctx: &TenantContext, _integration: &Integration) -> Vec<Gap> {
        Vec::new()
    }

    /// How often the system also gets the whole state (a webhook's `fullStateInterval`).
    fn full_state_every(&self, _integration: &Integration) -> Option<Duration> {
        None
    }
}

/// The kinds compile can plan for; a kind without an entry cannot serve any purpose.
pub trait Catalog: Sync {
    fn get(&self, kind: IntegrationKind) -> Option<&dyn TargetKind>;
}
