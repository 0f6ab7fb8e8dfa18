//! The `keycloak` IdP kind: planned, with no connector yet, so `plan` shows what it should
//! hold (the client and each active person's claims) and `apply` says it was not applied.

use crate::api::{Integration, IntegrationKind};
use crate::engine::Snapshot;
use crate::engine::build::idp::build_idp;
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::TargetKind;
use crate::engine::state::{Object, TargetRole};

use super::{Connector, ConnectorKind, TargetError};

pub struct IdpKind(IntegrationKind);
pub static KEYCLOAK: IdpKind = IdpKind(IntegrationKind::Keycloak);

impl TargetKind for IdpKind {
    fn kind(&self) -> IntegrationKind {
        self.0
    }
    fn serves(&self) -> &'static [TargetRole] {
        &[TargetRole::Idp]
    }
    fn schemes(&self) -> &'static [&'static str] {
        &["https", "http"]
    }
    fn build(
        &self,
        ctx: &TenantContext,
        grants: &[ResolvedGrant],
        integration: &Integration,
    ) -> Vec<Object> {
        let settings = integration.spec.keycloak.clone();
        build_idp(ctx, grants, &settings.unwrap_or_default())
    }
}

impl ConnectorKind for IdpKind {
    fn provisions(&self) -> bool {
        false // no connector yet: nothing was ever written through it
    }
    fn connect(&self, _: &Integration, _: &Snapshot) -> Result<Box<dyn Connector>, TargetError> {
        Err(TargetError::config(format!(
            "accord has no connector for {} targets yet",
            self.0.as_str()
        )))
    }
}
