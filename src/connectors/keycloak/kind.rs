//! What the engine knows of Keycloak (pure): the tenant's client as the IdP model gives it,
//! the extras Keycloak holds for it (client roles for features, the fixed flows, the owner
//! mark), which login methods Keycloak serves and how, and what it cannot express.

use crate::api::{
    IdpSettings, Integration, IntegrationKind, KeycloakMode, SecretKeyRef, UserGrantSpec,
};
use crate::engine::build::idp::{
    self, IdpModel, LoginMethod, LoginSupport, attr, build_model, check_client_id,
    check_redirect_uri,
};
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::{Gap, TargetKind};
use crate::engine::state::{Object, TargetRole};

/// Attributes of the client object only Keycloak has, beside [`attr`]'s.
pub mod kattr {
    /// `accord` when the client carries accord's ownership mark for this tenant.
    pub const OWNER: &str = "managedBy";
    /// The client roles: one per extranet feature of the tenant's active people.
    pub const CLIENT_ROLES: &str = "clientRoles";
    /// The OAuth flows the client allows (`standard` only).
    pub const FLOWS: &str = "flows";
    pub const ENABLED: &str = "enabled";
    /// `mode: organization`: the tenant's Organization (its alias), on the client and on
    /// each person (their membership).
    pub const ORGANIZATION: &str = "organization";
}

pub const OWNER_VALUE: &str = "accord";

/// Characters Keycloak's `person-name-prohibited-characters` validator refuses.
const NAME_REFUSED: &str = "<>&\"$%!#?§;*~/\\|^=[]{}()";

pub struct KeycloakKind;
pub static KEYCLOAK: KeycloakKind = KeycloakKind;

/// The Integration's `keycloak` settings (defaults when absent).
pub fn settings_of(i: &Integration) -> IdpSettings {
    i.spec.keycloak.clone().unwrap_or_default()
}

/// The tenant's Organization alias, in `mode: organization`.
pub fn organization_of(i: &Integration) -> Option<String> {
    (settings_of(i).mode == Some(KeycloakMode::Organization)).then(|| i.spec.tenant.clone())
}

/// The realm the tenant's client lives in.
pub fn realm_of(i: &Integration) -> String {
    settings_of(i)
        .realm
        .unwrap_or_else(|| i.spec.tenant.clone())
}

/// The identity provider alias (and Keycloak provider ids it may have) that serves a login
/// method, if one does.
pub fn idp_alias(method: &LoginMethod) -> Option<(String, &'static [&'static str])> {
    const OIDC: &[&str] = &["oidc", "keycloak-oidc"];
    const SAML: &[&str] = &["saml"];
    match method {
        LoginMethod::Oidc(name) => Some((name.clone(), OIDC)),
        LoginMethod::Saml(name) => Some((name.clone(), SAML)),
        // Suomi.fi e-Identification is a SAML 2.0 IdP.
        LoginMethod::Suomifi => Some(("suomifi".into(), SAML)),
        _ => None,
    }
}

/// The tenant's IdP state as Keycloak serves it.
pub fn model(ctx: &TenantContext, grants: &[ResolvedGrant], i: &Integration) -> IdpModel {
    let settings = settings_of(i);
    let secret = settings
        .client_secret_ref
        .as_ref()
        .and_then(|r| ctx.secret_value(r));
    build_model(ctx, grants, &settings, secret)
}

/// The client object Keycloak should hold: the model's client, with the login methods it
/// serves through identity providers and Keycloak's own extras: a client role for each
/// extranet feature the tenant declares.
pub fn client(m: &IdpModel, features: &[String]) -> Object {
    let mut o = idp::client_object(m);
    o.attrs.remove(attr::LOGIN_METHODS);
    o.set_many(
        attr::LOGIN_METHODS,
        m.login
            .methods
            .iter()
            .filter(|m| idp_alias(m).is_some())
            .map(ToString::to_string),
    )
    .set_many(kattr::CLIENT_ROLES, features.iter().cloned())
    .set_many(kattr::FLOWS, ["standard"])
    .set(kattr::ENABLED, "true")
    .set(kattr::OWNER, OWNER_VALUE);
    o
}

impl TargetKind for KeycloakKind {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Keycloak
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
            out.push(("spec.keycloak.clientId".into(), e.0));
        }
        for (n, uri) in s.redirect_uris.iter().enumerate() {
            if let Err(e) = check_redirect_uri(uri) {
                out.push((format!("spec.keycloak.redirectUris[{n}]"), e.0));
            }
        }
        if let Some(r) = &s.realm
            && (r.contains(['/', '\\', '?', '#', '%'])
                || r.trim() != r
                || r.chars().any(char::is_control))
        {
            out.push((
                "spec.keycloak.realm".into(),
                format!("{} is not a realm name (no '/', '\\', '?', '#', '%', spaces at the ends or control characters)", crate::validate::redact::Quoted(r)),
            ));
        }
        if s.mode == Some(KeycloakMode::Organization) && s.realm.is_none() {
            out.push((
                "spec.keycloak.realm".into(),
                "is required with mode: organization (the realm the tenants share)".into(),
            ));
        }
        if s.sessions_endpoint.is_some() {
            out.push((
                "spec.keycloak.sessionsEndpoint".into(),
                "is a lemonldap setting; Keycloak's sessions are reached through endpoint".into(),
            ));
        }
        if i.spec.lemonldap.is_some() {
            out.push((
                "spec.lemonldap".into(),
                "belongs to kind lemonldap; a keycloak Integration takes spec.keycloak".into(),
            ));
        }
        out
    }

    fn secret_refs(&self, i: &Integration) -> Vec<(String, SecretKeyRef)> {
        settings_of(i)
            .client_secret_ref
            .map(|r| ("spec.keycloak.clientSecretRef".to_string(), r))
            .into_iter()
            .collect()
    }

    fn login_support(&self, method: &LoginMethod) -> LoginSupport {
        match method {
            // The realm's own login form, and identity providers accord checks for.
            LoginMethod::Password
            | LoginMethod::Oidc(_)
            | LoginMethod::Saml(_)
            | LoginMethod::Suomifi => LoginSupport::Managed,
            // X.509 client certificates: an authenticator of the realm's browser flow.
            LoginMethod::Siths => LoginSupport::Upstream,
            LoginMethod::Bankid => LoginSupport::Unsupported(
                "Keycloak has no BankID identity provider; reach BankID through an OpenID \
                 Connect broker and write it as oidc:NAME@substantial",
            ),
            LoginMethod::Frejaeid => LoginSupport::Unsupported(
                "Keycloak has no Freja eID identity provider; reach it through its OpenID \
                 Connect service and write it as oidc:NAME@substantial",
            ),
            LoginMethod::Mitid => LoginSupport::Unsupported(
                "Keycloak has no MitID identity provider; reach MitID through a broker \
                 (e.g. saml:kombit or oidc:NAME@substantial)",
            ),
        }
    }

    /// The client, and a user for each active person (Keycloak holds its users).
    fn build(&self, ctx: &TenantContext, grants: &[ResolvedGrant], i: &Integration) -> Vec<Object> {
        let m = model(ctx, grants, i);
        let org = organization_of(i);
        let mut c = client(&m, &ctx.spec.features);
        if let Some(alias) = &org {
            // The ID token names the Organization, for the extranet to check (see the gap).
            let mut claims = c.attrs.get(attr::CLAIMS).cloned().unwrap_or_default();
            claims.push(kattr::ORGANIZATION.into());
            c.set_many(attr::CLAIMS, claims)
                .set(kattr::ORGANIZATION, alias);
        }
        let mut out = vec![c];
        out.extend(idp::person_objects(&m).into_iter().map(|mut p| {
            // Keycloak keeps e-mail addresses in lower case.
            if let Some(e) = p.get("email").map(str::to_lowercase) {
                p.set("email", e);
            }
            p.set_opt(kattr::ORGANIZATION, org.as_deref());
            p
        }));
        out
    }

    /// Names reach Keycloak's user profile, whose default validator for first and last
    /// names refuses these characters.
    fn check_grant(&self, g: &UserGrantSpec) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (field, v) in [
            ("spec.person.givenName", &g.person.given_name),
            ("spec.person.familyName", &g.person.family_name),
        ] {
            if let Some(c) = v
                .chars()
                .find(|c| c.is_control() || NAME_REFUSED.contains(*c))
            {
                out.push((
                    field.to_string(),
                    format!(
                        "{} contains {c:?}, which Keycloak's user profile refuses in a name",
                        crate::validate::redact::Quoted(v)
                    ),
                ));
            }
        }
        out
    }

    fn cannot_express(&self, ctx: &TenantContext, i: &Integration) -> Vec<Gap> {
        let mut gaps = Vec::new();
        if organization_of(i).is_some() {
            gaps.push(Gap {
                reason: "AccessRuleRealmWide",
                attr: None,
                message: "in a shared realm Keycloak lets the people of every Organization in it \
                          log in to this tenant's client: Keycloak cannot refuse a login by \
                          Organization membership. The ID token's organization claim names the \
                          tenant's Organization; the extranet must refuse tokens without it"
                    .into(),
            });
        }
        gaps.push(Gap {
            reason: "AccessRuleRealmWide",
            attr: Some(attr::ALLOWED_PEOPLE),
            message: "Keycloak has no access rule on a client: every enabled user of the realm \
                      may log in to it. accord holds a user for each of the tenant's active \
                      people and deletes the others' (ending their sessions), but users it did \
                      not make (by hand, or from a user federation) can log in too"
                .into(),
        });
        gaps.push(Gap {
            reason: "AccessRuleRealmWide",
            attr: Some(attr::ACCESS_RULE),
            message: "the client holds no access rule of its own (see allowedPeople)".into(),
        });
        let methods: Vec<&String> = ctx
            .login_methods
            .iter()
            .filter(|m| LoginMethod::parse(m) == Some(LoginMethod::Siths))
            .collect();
        for m in methods {
            gaps.push(Gap {
                reason: "LoginMethodUpstream",
                attr: None,
                message: format!(
                    "{m}: an X.509 client certificate login is an authenticator of the realm's \
                     browser flow, set up in Keycloak outside accord; accord enforces the \
                     minimum level only"
                ),
            });
        }
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_methods_are_identity_providers_by_alias() {
        let (alias, ids) = idp_alias(&LoginMethod::Oidc("entra".into())).unwrap();
        assert_eq!(alias, "entra");
        assert!(ids.contains(&"oidc"));
        assert_eq!(
            idp_alias(&LoginMethod::Saml("kombit".into())).unwrap().1,
            ["saml"]
        );
        assert_eq!(idp_alias(&LoginMethod::Suomifi).unwrap().0, "suomifi");
        assert!(idp_alias(&LoginMethod::Password).is_none());
        assert!(idp_alias(&LoginMethod::Siths).is_none());
    }

    #[test]
    fn methods_keycloak_cannot_serve_say_what_to_use() {
        let k = &KEYCLOAK;
        assert_eq!(
            k.login_support(&LoginMethod::Oidc("x".into())),
            LoginSupport::Managed
        );
        assert_eq!(k.login_support(&LoginMethod::Siths), LoginSupport::Upstream);
        for m in [
            LoginMethod::Bankid,
            LoginMethod::Frejaeid,
            LoginMethod::Mitid,
        ] {
            let LoginSupport::Unsupported(why) = k.login_support(&m) else {
                panic!("{m} is served?")
            };
            assert!(why.contains("oidc:NAME"), "{why}");
        }
    }
}
