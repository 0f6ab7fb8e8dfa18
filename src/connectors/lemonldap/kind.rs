//! What the engine knows of LemonLDAP::NG (pure): a tenant's relying party and which of its
//! people may keep live sessions; what of the tenant's policy LemonLDAP cannot hold per
//! relying party; the values it cannot carry.
//!
//! LemonLDAP's users live in the tenant's directory (the LDAP accord provisions), so accord
//! holds no people there: the relying party's access rule names who may log in, its claims
//! are read from the directory at login, and the sessions of anyone else are ended.

use crate::api::{Integration, IntegrationKind, LdapSettings, SecretKeyRef, UserGrantSpec};
use crate::engine::build::idp::{
    self, Claim, IdpModel, LoginMethod, LoginSupport, attr, build_model, check_claim_value,
    check_client_id, check_expression_value, check_redirect_uri,
};
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::{Gap, TargetKind};
use crate::engine::state::{Object, TargetRole};

pub struct LemonldapKind;
pub static LEMONLDAP: LemonldapKind = LemonldapKind;

/// The Integration's `lemonldap` settings (defaults when absent).
pub fn settings_of(i: &Integration) -> crate::api::IdpSettings {
    i.spec.lemonldap.clone().unwrap_or_default()
}

/// The LDAP attribute the tenant's directory writes `source` to, if it maps one (LemonLDAP
/// must export it under the same name: `ldapExportedVars`).
pub fn directory_attribute(ctx: &TenantContext, source: &str) -> Option<String> {
    mapped_attribute(ctx.directory, source)
}

/// The LDAP attribute a directory Integration writes `source` to, if any.
pub fn mapped_attribute(directory: Option<&Integration>, source: &str) -> Option<String> {
    let ldap: &LdapSettings = directory?.spec.ldap.as_ref()?;
    ldap.attributes
        .iter()
        .find(|(_, s)| s.as_str() == source)
        .map(|(a, _)| a.clone())
}

/// The tenant's IdP state as LemonLDAP can serve it: claims only where the directory holds
/// what they are made of.
pub fn model(ctx: &TenantContext, grants: &[ResolvedGrant], i: &Integration) -> IdpModel {
    let settings = settings_of(i);
    let secret = settings
        .client_secret_ref
        .as_ref()
        .and_then(|r| ctx.secret_value(r));
    let mut m = build_model(ctx, grants, &settings, secret);
    if directory_attribute(ctx, "scopes").is_none() {
        m.claims.remove(&Claim::Scopes);
    }
    if directory_attribute(ctx, "hsaId").is_none() {
        m.claims.remove(&Claim::HsaId);
    }
    m
}

impl TargetKind for LemonldapKind {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Lemonldap
    }

    fn serves(&self) -> &'static [TargetRole] {
        &[TargetRole::Idp]
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["https", "http"]
    }

    fn check(&self, i: &Integration) -> Vec<(String, String)> {
        let s = settings_of(i);
        let mut out = Vec::new();
        if let Some(id) = &s.client_id
            && let Err(e) = check_client_id(id)
        {
            out.push(("spec.lemonldap.clientId".into(), e.0));
        }
        for (n, uri) in s.redirect_uris.iter().enumerate() {
            if let Err(e) = check_redirect_uri(uri) {
                out.push((format!("spec.lemonldap.redirectUris[{n}]"), e.0));
            }
        }
        for (field, set) in [
            ("realm", s.realm.is_some()),
            ("mode", s.mode.is_some()),
            ("adminRealm", s.admin_realm.is_some()),
        ] {
            if set {
                out.push((format!("spec.lemonldap.{field}"), "is a keycloak setting".into()));
            }
        }
        if i.spec.keycloak.is_some() {
            out.push((
                "spec.keycloak".into(),
                "belongs to kind keycloak; a lemonldap Integration takes spec.lemonldap".into(),
            ));
        }
        out
    }

    fn secret_refs(&self, i: &Integration) -> Vec<(String, SecretKeyRef)> {
        settings_of(i)
            .client_secret_ref
            .map(|r| ("spec.lemonldap.clientSecretRef".to_string(), r))
            .into_iter()
            .collect()
    }

    /// Names and lists reach LemonLDAP as session variables (lists joined by `"; "`) that
    /// its Perl rules and macros read.
    fn check_grant(&self, g: &UserGrantSpec) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let lists = [
            ("spec.roles", &g.roles),
            ("spec.groups", &g.groups),
            ("spec.features", &g.features),
        ];
        for (field, values) in lists {
            for (n, v) in values.iter().enumerate() {
                if let Err(e) = check_expression_value(v) {
                    out.push((format!("{field}[{n}]"), e.0));
                }
            }
        }
        for (field, v) in [
            ("spec.person.givenName", &g.person.given_name),
            ("spec.person.familyName", &g.person.family_name),
        ] {
            if let Err(e) = check_claim_value(v) {
                out.push((field.to_string(), e.0));
            }
        }
        out
    }

    fn login_support(&self, method: &LoginMethod) -> LoginSupport {
        match method {
            // The portal's LDAP login against the tenant's directory.
            LoginMethod::Password => LoginSupport::Managed,
            // OpenIDConnect, SAML and SSL (X.509) login modules, set up in its configuration.
            LoginMethod::Oidc(_)
            | LoginMethod::Saml(_)
            | LoginMethod::Siths
            | LoginMethod::Suomifi => LoginSupport::Upstream,
            LoginMethod::Bankid => LoginSupport::Unsupported(
                "LemonLDAP::NG has no BankID login module; reach BankID through an OpenID \
                 Connect broker and write it as oidc:NAME@substantial",
            ),
            LoginMethod::Frejaeid => LoginSupport::Unsupported(
                "LemonLDAP::NG has no Freja eID login module; reach it through its OpenID \
                 Connect service and write it as oidc:NAME@substantial",
            ),
            LoginMethod::Mitid => LoginSupport::Unsupported(
                "LemonLDAP::NG has no MitID login module; reach MitID through a broker \
                 (e.g. saml:kombit or oidc:NAME@substantial)",
            ),
        }
    }

    fn build(&self, ctx: &TenantContext, grants: &[ResolvedGrant], i: &Integration) -> Vec<Object> {
        let m = model(ctx, grants, i);
        let mut client = idp::client_object(&m);
        client.set(super::rp::OWNER_ATTR, super::rp::OWNER);
        let mut out = vec![client];
        out.extend(idp::session_objects(&m));
        out
    }

    fn cannot_express(&self, ctx: &TenantContext, _: &Integration) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let methods = &ctx.login_methods;
        if !methods.is_empty() {
            gaps.push(Gap {
                reason: "LoginMethodsGlobal",
                attr: Some(attr::LOGIN_METHODS),
                message: format!(
                    "login methods ({}) cannot be chosen per relying party: the portal offers \
                     what its configuration (authentication, authChoiceModules, upstream \
                     providers) sets up for everyone; accord enforces the minimum level only",
                    methods.join(", ")
                ),
            });
        }
        let session = [
            (ctx.idle_timeout_secs, attr::IDLE_TIMEOUT, "idleTimeout", "timeoutActivity"),
            (ctx.max_lifetime_secs, attr::MAX_LIFETIME, "maxLifetime", "timeout"),
        ];
        for (value, attr, field, global) in session {
            if let Some(secs) = value {
                gaps.push(Gap {
                    reason: "SessionPolicyGlobal",
                    attr: Some(attr),
                    message: format!(
                        "session.{field} ({secs} s) cannot be set per tenant: LemonLDAP::NG's \
                         {global} is global to the portal"
                    ),
                });
            }
        }
        if ctx.directory.is_none() {
            gaps.push(Gap {
                reason: "SessionsUnattributable",
                attr: None,
                message: "the tenant has no directory Integration, so LemonLDAP::NG's sessions \
                          cannot be told to be its people's: none are ended, and the access \
                          rule does not check where people sit"
                    .into(),
            });
        }
        if directory_attribute(ctx, "scopes").is_none() {
            gaps.push(Gap {
                reason: "ClaimUnavailable",
                attr: None,
                message: "the scopes claim cannot be released: the tenant's directory maps no \
                          LDAP attribute from scopes (e.g. ldap.attributes: {departmentNumber: \
                          scopes}, exported by LemonLDAP's ldapExportedVars)"
                    .into(),
            });
        }
        gaps
    }
}
