//! The directory (LDAP) view: units mirroring the org tree, people, and groups for roles,
//! groups and features.

use crate::validate::Invalid;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::api::{DisabledMode, LdapLayout, LdapSettings};
use crate::engine::state::{DISABLED_PARENT, MEMBER_ATTR, Object, ObjectKind};

use super::{ResolvedGrant, TenantContext};

/// Sources an Integration may map extra LDAP attributes from.
pub const ATTRIBUTE_SOURCES: &[&str] = &[
    "hsaId",
    "employeeNumber",
    "title",
    "skills",
    "occupationCodes",
    "occupationCodes:SCHEME",
    "unitCodes:SCHEME",
    "nationalId",
    "phone",
    "email",
    "scopes",
];

/// Checks one `ldap.attributes` source; the error lists what is allowed.
pub fn check_attribute_source(source: &str) -> Result<(), Invalid> {
    let known = matches!(
        source,
        "hsaId"
            | "employeeNumber"
            | "title"
            | "skills"
            | "occupationCodes"
            | "nationalId"
            | "phone"
            | "email"
            | "scopes"
    ) || source
        .strip_prefix("occupationCodes:")
        .is_some_and(|s| !s.is_empty())
        || source
            .strip_prefix("unitCodes:")
            .is_some_and(|s| !s.is_empty());
    if known {
        Ok(())
    } else {
        Err(Invalid::from(format!(
            "unknown source {source:?}; use one of {}",
            ATTRIBUTE_SOURCES.join(", ")
        )))
    }
}

pub fn group_id(prefix: &str, name: &str) -> String {
    format!("{prefix}-{name}")
}

pub fn build_directory(
    ctx: &TenantContext,
    grants: &[ResolvedGrant],
    settings: &LdapSettings,
) -> Vec<Object> {
    let mut out = Vec::new();
    let tree_layout = settings.layout == LdapLayout::Tree;
    if tree_layout {
        for unit in ctx.tree.units.values() {
            let mut o = Object::new(ObjectKind::Unit, &unit.name);
            o.parent = unit.parent.clone();
            o.depth = unit.depth;
            o.set_many("objectClass", ["organizationalUnit", "top"])
                .set("ou", &unit.name)
                .set("description", &unit.display_name);
            out.push(o);
        }
    }

    // Groups exist for every declared role and feature even when empty, and for every group
    // that some grant names. Members are borrowed names until the groups are built.
    let mut members: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for role in &ctx.spec.roles {
        members.entry(group_id("role", &role.name)).or_insert_with(|| {
            let description = role.description.clone();
            (description.unwrap_or_else(|| format!("Role {}", role.name)), Vec::new())
        });
    }
    for feature in &ctx.spec.features {
        members
            .entry(group_id("feature", feature))
            .or_insert_with(|| (format!("Feature {feature}"), Vec::new()));
    }

    let mut id = String::new();
    for g in grants {
        let placed = match (g.has_access(), g.is_disabled_but_kept(), settings.disabled) {
            (true, _, _) => true,
            (false, true, DisabledMode::Delete) => false,
            (false, true, _) => true,
            (false, false, _) => false,
        };
        if !placed {
            continue;
        }
        for group in &g.spec.groups {
            members
                .entry(group_id("group", group))
                .or_insert_with(|| (format!("Group {group}"), Vec::new()));
        }
        let mut p = person(g, settings);
        if g.has_access() {
            let names = [("role", &g.spec.roles), ("group", &g.spec.groups), ("feature", &g.spec.features)];
            for (prefix, list) in names {
                for name in list {
                    id.clear();
                    let _ = write!(id, "{prefix}-{name}");
                    if let Some((_, m)) = members.get_mut(id.as_str()) {
                        m.push(g.name);
                    }
                }
            }
        } else if settings.disabled == DisabledMode::MoveToBranch {
            p.parent = Some(DISABLED_PARENT.to_string());
        }
        out.push(p);
    }

    for (id, (description, m)) in members {
        let mut o = Object::new(ObjectKind::Group, &id);
        o.set_many("objectClass", ["groupOfNames", "top"])
            .set("cn", &id)
            .set("description", description)
            .set_many(MEMBER_ATTR, m);
        out.push(o);
    }
    out
}

fn person(g: &ResolvedGrant, settings: &LdapSettings) -> Object {
    let p = &g.spec.person;
    let mut o = Object::new(ObjectKind::Person, g.name);
    o.source = Some(g.source.clone());
    o.parent = (settings.layout == LdapLayout::Tree).then(|| g.home.name.clone());
    let mut classes = vec![
        "inetOrgPerson".to_string(),
        "organizationalPerson".into(),
        "person".into(),
        "top".into(),
    ];
    classes.extend(settings.person_object_classes.iter().cloned());
    o.set_many("objectClass", classes)
        .set("uid", g.name)
        .set("cn", g.display_name())
        .set("givenName", p.given_name.trim())
        .set("sn", p.family_name.trim())
        .set("displayName", g.display_name())
        .set("mail", &g.email)
        .set_opt("telephoneNumber", g.phone.as_deref())
        .set_opt("employeeNumber", p.employee_number.as_deref())
        .set_opt("title", p.title.as_deref())
        .set("ou", &g.home.display_name);
    if let Some(a) = &p.address {
        o.set_opt("street", a.street.as_deref())
            .set_opt("postalCode", a.postal_code.as_deref())
            .set_opt("l", a.city.as_deref());
    }
    for (attr, source) in &settings.attributes {
        let values: Vec<String> = match source.as_str() {
            "hsaId" => p.hsa_id.iter().cloned().collect(),
            "employeeNumber" => p.employee_number.iter().cloned().collect(),
            "title" => p.title.iter().cloned().collect(),
            "skills" => p.skills.clone(),
            "occupationCodes" => p.occupation_codes.iter().map(|c| c.value.clone()).collect(),
            "phone" => g.phone.iter().cloned().collect(),
            "email" => vec![g.email.clone()],
            // Every unit the person may see, for an IdP that releases them as a claim.
            "scopes" if g.has_access() => g.expanded_scopes.iter().cloned().collect(),
            "scopes" => Vec::new(),
            "nationalId" => {
                if let Some(id) = &g.national_id {
                    o.set_sensitive(attr.clone(), id.clone());
                }
                continue;
            }
            s => {
                if let Some(scheme) = s.strip_prefix("occupationCodes:") {
                    p.occupation_codes
                        .iter()
                        .filter(|c| c.scheme == scheme)
                        .map(|c| c.value.clone())
                        .collect()
                } else if let Some(scheme) = s.strip_prefix("unitCodes:") {
                    g.home
                        .codes
                        .iter()
                        .filter(|c| c.scheme == scheme)
                        .map(|c| c.value.clone())
                        .collect()
                } else {
                    Vec::new() // rejected by compile before building
                }
            }
        };
        o.set_many(attr.clone(), values);
    }
    o
}
