//! LemonLDAP::NG 2.16: the tenant's OpenID Connect relying party through the Manager REST
//! API, and its people's live sessions through the manager's sessions API.
//!
//! `kind` is what the engine plans with (pure), `expr` the Perl expressions accord writes and
//! their checker, `rp` the relying party's JSON both ways, `client` the I/O.

pub mod client;
pub mod expr;
pub mod kind;
pub mod rp;

pub use kind::{LEMONLDAP, LemonldapKind};

use crate::api::SyncLimits;
use crate::api::{Integration, LdapSettings};
use crate::connectors::http::{Auth, Http};
use crate::connectors::ldap::dn::Dn;
use crate::connectors::{Connector, ConnectorKind, TargetError};
use crate::engine::Snapshot;
use crate::engine::build::idp::default_client_id;

use client::LemonldapTarget;
use rp::RpSetup;

/// `spec.sync` when it says nothing: one relying party per tenant and a session call per
/// leaver; the Manager API is an administrator's tool, not a bulk endpoint.
pub const LIMITS: SyncLimits = SyncLimits {
    max_concurrency: 4,
    requests_per_second: 10,
};

impl ConnectorKind for LemonldapKind {
    fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError> {
        Ok(Box::new(connect(integration, snapshot)?))
    }
}

pub fn connect(i: &Integration, snapshot: &Snapshot) -> Result<LemonldapTarget, TargetError> {
    let spec = &i.spec;
    let ns = super::namespace_of(i);
    let settings = kind::settings_of(i);
    let endpoint = super::endpoint_of(i)?;
    let api_base = endpoint.trim_end_matches('/').trim_end_matches("/api/v1");
    let sessions_base = settings
        .sessions_endpoint
        .as_deref()
        .unwrap_or(api_base)
        .trim_end_matches('/');
    let auth = match &spec.credentials_ref {
        None => Auth::None,
        Some(r) => {
            let key = |k| super::secret_value_of(snapshot, ns, &r.secret_name, k, "credentials");
            Auth::Basic(key("username")?.to_string(), key("password")?.to_string())
        }
    };
    let limits = spec.sync.limits(LIMITS);
    let http = |base: &str| {
        Http::new(
            base,
            spec.tls.as_ref(),
            auth.clone(),
            limits.requests_per_second,
            snapshot,
            ns,
        )
    };
    let secret = match &settings.client_secret_ref {
        None => None,
        Some(r) => Some(
            super::secret_value_of(snapshot, ns, &r.secret_name, &r.key, "client secret")?
                .to_string(),
        ),
    };
    let directory = directory_of(i, snapshot);
    let ldap: Option<&LdapSettings> = directory.and_then(|d| d.spec.ldap.as_ref());
    let (base_dn, people_dn) = match ldap {
        None => (None, None),
        Some(l) => {
            let parse = |field: &str, v: &str| {
                Dn::parse(v).map_err(|e| {
                    TargetError::config(format!("the directory's spec.ldap.{field}: {e}"))
                })
            };
            let base = parse("baseDN", &l.base_dn)?;
            let people = match &l.people_dn {
                Some(p) => parse("peopleDN", p)?,
                None => base.child("ou", "people"),
            };
            (Some(base), Some(people.to_string()))
        }
    };
    let setup = RpSetup {
        namespace: ns.to_string(),
        tenant: spec.tenant.clone(),
        secret,
        people_dn,
        scopes_var: kind::mapped_attribute(directory, "scopes"),
        hsa_var: kind::mapped_attribute(directory, "hsaId"),
    };
    Ok(LemonldapTarget {
        api: http(api_base)?,
        sessions: http(sessions_base)?,
        setup,
        client_id: settings
            .client_id
            .clone()
            .unwrap_or_else(|| default_client_id(&spec.tenant)),
        base_dn,
        max_concurrency: limits.max_concurrency as usize,
    })
}

/// The Integration the tenant names as its directory, if it is in the snapshot.
fn directory_of<'a>(i: &Integration, snapshot: &'a Snapshot) -> Option<&'a Integration> {
    let ns = super::namespace_of(i);
    let tenant = snapshot.tenants.iter().find(|t| {
        t.metadata.name.as_deref() == Some(i.spec.tenant.as_str())
            && t.metadata.namespace.as_deref().unwrap_or("default") == ns
    })?;
    let name = tenant.spec.integrations.directory.as_deref()?;
    snapshot.integrations.iter().find(|d| {
        d.metadata.name.as_deref() == Some(name)
            && d.metadata.namespace.as_deref().unwrap_or("default") == ns
            && d.spec.tenant == i.spec.tenant
    })
}
