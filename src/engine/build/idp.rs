//! The identity-provider view: the extranet's login client with the tenant's login and
//! session policy, and the claims of each person who may log in.

use crate::api::IdpSettings;
use crate::engine::state::{Object, ObjectKind};

use super::{ResolvedGrant, TenantContext};

pub fn build_idp(
    ctx: &TenantContext,
    grants: &[ResolvedGrant],
    settings: &IdpSettings,
) -> Vec<Object> {
    let mut client = Object::new(
        ObjectKind::Client,
        settings
            .client_id
            .clone()
            .unwrap_or_else(|| format!("{}-extranet", ctx.name)),
    );
    client
        .set_many("loginMethods", ctx.login_methods.iter().cloned())
        .set(
            "minimumLevel",
            format!("{:?}", ctx.spec.policy.login.minimum_level).to_lowercase(),
        )
        .set_many("redirectUris", settings.redirect_uris.iter().cloned());
    if let Some(s) = ctx.idle_timeout_secs {
        client.set("idleTimeoutSeconds", s.to_string());
    }
    if let Some(s) = ctx.max_lifetime_secs {
        client.set("maxLifetimeSeconds", s.to_string());
    }
    let mut out = vec![client];
    // Only people with access may log in: the IdP holds no one else.
    for g in grants.iter().filter(|g| g.has_access()) {
        let p = &g.spec.person;
        let mut o = Object::new(ObjectKind::Person, g.name);
        o.source = Some(g.source.clone());
        o.set("sub", g.name)
            .set("email", &g.email)
            .set("given_name", p.given_name.trim())
            .set("family_name", p.family_name.trim())
            .set_opt("hsa_id", p.hsa_id.as_deref())
            .set_many("roles", g.spec.roles.iter().cloned())
            .set_many("groups", g.spec.groups.iter().cloned())
            .set_many("features", g.spec.features.iter().cloned())
            .set_many("scopes", g.expanded_scopes.iter().cloned());
        out.push(o);
    }
    out
}
