//! The extranet view: per person, identity, features, unit scopes and whether active.
//! SCIM (RFC 7643 attribute paths) and the signed webhook's document shape.

use crate::api::{ScimSettings, ScopeEncoding};
use crate::engine::state::{MEMBER_ATTR, Object, ObjectKind};

use super::{ResolvedGrant, TenantContext};

pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ENTERPRISE_EMPLOYEE_NUMBER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber";
pub const ENTERPRISE_DEPARTMENT: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
pub const ENTERPRISE_ORGANIZATION: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization";

/// SCIM `externalId` of accord's objects: it marks them as accord's and names them.
pub fn scim_external_id(tenant: &str, kind: &str, id: &str) -> String {
    format!("accord:{tenant}:{kind}{id}")
}

/// Extranet people: everyone with access, plus Suspended and Expired people as inactive so
/// the extranet can close their sessions; Pending and Revoked people are absent.
fn extranet_people<'a, 'b>(
    grants: &'a [ResolvedGrant<'b>],
) -> impl Iterator<Item = &'a ResolvedGrant<'b>> {
    grants
        .iter()
        .filter(|g| g.has_access() || g.is_disabled_but_kept())
}

/// Scope values: every unit reached, or `unit` / `unit;descendants` as written.
fn scope_values(g: &ResolvedGrant, encoding: ScopeEncoding) -> Vec<String> {
    match encoding {
        ScopeEncoding::Expanded => g.expanded_scopes.iter().cloned().collect(),
        ScopeEncoding::UnitWithDescendants => g
            .scopes()
            .iter()
            .map(|s| {
                if s.include_descendants {
                    format!("{};descendants", s.unit)
                } else {
                    s.unit.clone()
                }
            })
            .collect(),
    }
}

pub fn build_scim(
    ctx: &TenantContext,
    grants: &[ResolvedGrant],
    settings: &ScimSettings,
) -> Vec<Object> {
    let mut out = Vec::new();
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for g in extranet_people(grants) {
        let p = &g.spec.person;
        let mut o = Object::new(ObjectKind::Person, g.name);
        o.source = Some(g.source.clone());
        o.set("externalId", scim_external_id(ctx.name, "", g.name))
            .set("userName", &g.email)
            .set("name.givenName", p.given_name.trim())
            .set("name.familyName", p.family_name.trim())
            .set("displayName", g.display_name())
            .set("emails[type eq \"work\"].value", &g.email)
            .set_opt("phoneNumbers[type eq \"work\"].value", g.phone.as_deref())
            .set_opt("title", p.title.as_deref())
            .set("active", if g.has_access() { "true" } else { "false" })
            .set_many("roles", g.spec.features.iter().cloned())
            .set_many("entitlements", scope_values(g, settings.scopes))
            .set_opt(ENTERPRISE_EMPLOYEE_NUMBER, p.employee_number.as_deref())
            .set(ENTERPRISE_DEPARTMENT, &g.home.path)
            .set(ENTERPRISE_ORGANIZATION, &ctx.spec.display_name);
        if g.has_access() {
            for group in &g.spec.groups {
                groups
                    .entry(group.clone())
                    .or_default()
                    .push(g.name.to_string());
            }
        }
        out.push(o);
    }
    for (name, members) in groups {
        let mut o = Object::new(ObjectKind::Group, &name);
        o.set("displayName", &name)
            .set("externalId", scim_external_id(ctx.name, "group:", &name))
            .set_many(MEMBER_ATTR, members);
        out.push(o);
    }
    out
}

pub fn build_webhook(ctx: &TenantContext, grants: &[ResolvedGrant]) -> Vec<Object> {
    extranet_people(grants)
        .map(|g| {
            let p = &g.spec.person;
            let mut o = Object::new(ObjectKind::Person, g.name);
            o.source = Some(g.source.clone());
            o.set("id", g.name)
                .set("tenant", ctx.name)
                .set("givenName", p.given_name.trim())
                .set("familyName", p.family_name.trim())
                .set("email", &g.email)
                .set_opt("phone", g.phone.as_deref())
                .set_opt("employeeNumber", p.employee_number.as_deref())
                .set("unit", &g.home.name)
                .set("state", format!("{:?}", g.state))
                .set_many("features", g.spec.features.iter().cloned())
                .set_many("scopes", scope_values(g, ScopeEncoding::Expanded))
                .set_many("roles", g.spec.roles.iter().cloned());
            if let Some(id) = &g.national_id {
                o.set_sensitive("nationalId", id.clone());
            }
            o
        })
        .collect()
}
