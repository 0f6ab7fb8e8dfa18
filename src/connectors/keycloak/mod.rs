//! Keycloak 26: the tenant's OpenID Connect client in its realm through the Admin REST API
//! (the `keycloak` crate's representations and write calls): protocol mappers for the
//! claims, client roles for the features, session overrides, `acr.loa.map` and the minimum
//! `acr`; a user per active person; the realm's identity providers are checked against the
//! tenant's login methods. In `mode: organization` the tenant is an Organization of a shared
//! realm: its members are the tenant's users, and the providers of its login methods are
//! linked to it.
//!
//! `kind` is what the engine plans with (pure), `repr` the representations both ways,
//! `client` the I/O and the client itself, `users` the people's users, `org` the
//! Organization of `mode: organization`.

pub mod client;
pub mod kind;
pub mod org;
pub mod repr;
pub mod users;

pub use kind::{KEYCLOAK, KeycloakKind};

use tokio::sync::OnceCell;

use crate::api::{Integration, SyncLimits};
use crate::connectors::http::{Auth, Http};
use crate::connectors::{Connector, ConnectorKind, TargetError};
use crate::engine::Snapshot;
use crate::engine::build::idp::default_client_id;

use client::{AdminLogin, KeycloakTarget};
use repr::Setup;

/// `spec.sync` when it says nothing: one client per tenant, a few calls per person; the
/// Admin API is an administrator's tool, not a bulk endpoint.
pub const LIMITS: SyncLimits = SyncLimits {
    max_concurrency: 4,
    requests_per_second: 10,
};

impl ConnectorKind for KeycloakKind {
    fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError> {
        Ok(Box::new(connect(integration, snapshot)?))
    }
}

pub fn connect(i: &Integration, snapshot: &Snapshot) -> Result<KeycloakTarget, TargetError> {
    let spec = &i.spec;
    let ns = super::namespace_of(i);
    let settings = kind::settings_of(i);
    let endpoint = super::endpoint_of(i)?.trim_end_matches('/');
    let creds = spec.credentials_ref.as_ref().ok_or_else(|| {
        TargetError::config(
            "spec.credentialsRef is missing: the Admin API needs a service account's clientId \
             and clientSecret",
        )
    })?;
    let key = |k| super::secret_value_of(snapshot, ns, &creds.secret_name, k, "credentials");
    let login = AdminLogin {
        realm: settings
            .admin_realm
            .clone()
            .unwrap_or_else(|| "master".into()),
        client_id: key("clientId")?.to_string(),
        client_secret: key("clientSecret")?.to_string(),
    };
    let secret = match &settings.client_secret_ref {
        None => None,
        Some(r) => Some(
            super::secret_value_of(snapshot, ns, &r.secret_name, &r.key, "client secret")?
                .to_string(),
        ),
    };
    let limits = spec.sync.limits(LIMITS);
    Ok(KeycloakTarget {
        http: Http::new(
            endpoint,
            spec.tls.as_ref(),
            Auth::None,
            limits.requests_per_second,
            snapshot,
            ns,
        )?,
        login,
        realm: kind::realm_of(i),
        setup: Setup {
            namespace: ns.to_string(),
            tenant: spec.tenant.clone(),
            secret,
        },
        client_id: settings
            .client_id
            .clone()
            .unwrap_or_else(|| default_client_id(&spec.tenant)),
        max_concurrency: limits.max_concurrency as usize,
        admin: tokio::sync::Mutex::new(None),
        client_roles: OnceCell::new(),
        org: kind::organization_of(i),
        org_id: OnceCell::new(),
    })
}
