//! A SCIM User (as accord keeps it) and its Groups → the UserGrant spec it stands for: the
//! Integration's attribute mapping picks each person field, the department names the home
//! unit, and the group mapping table gives roles, features, directory groups and scopes.
//! Pure; the result still goes through the engine's validator.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::api::{Address, InboundAccess, Person, ScimServerSettings, Scope, UserGrantSpec};
use crate::engine::tree::OrgTree;

use super::filter::{PatchPath, get_ci, scope_of};
use super::schema::{self, ResourceKind};

/// The person fields the mapping can fill, and where Entra ID's default mapping puts them.
pub const FIELDS: &[(&str, &[&str])] = &[
    ("givenName", &["name.givenName"]),
    ("familyName", &["name.familyName"]),
    ("email", &["emails[type eq \"work\"].value", "emails[primary eq true].value", "emails.value", "userName"]),
    ("phone", &["phoneNumbers[type eq \"mobile\"].value", "phoneNumbers[type eq \"work\"].value"]),
    ("employeeNumber", &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"]),
    ("title", &["title"]),
    ("street", &["addresses[type eq \"work\"].streetAddress"]),
    ("postalCode", &["addresses[type eq \"work\"].postalCode"]),
    ("city", &["addresses[type eq \"work\"].locality"]),
    ("country", &["addresses[type eq \"work\"].country"]),
    ("unit", &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"]),
];

/// A Group as accord keeps it (on its Integration).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub created: String,
    pub last_modified: String,
    pub version: u64,
}

/// Problems with the Integration's own scimServer settings, as (field, reason).
pub fn check_settings(s: &ScimServerSettings) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (field, paths) in &s.attributes {
        if !FIELDS.iter().any(|(f, _)| f == field) {
            let known: Vec<&str> = FIELDS.iter().map(|(f, _)| *f).collect();
            out.push((format!("spec.scimServer.attributes.{field}"), format!("is not a person field (one of {})", known.join(", "))));
        }
        for (i, p) in paths.iter().enumerate() {
            if let Err(e) = PatchPath::parse(p) {
                out.push((format!("spec.scimServer.attributes.{field}[{i}]"), e.detail));
            }
        }
    }
    if crate::validate::parse_duration(&s.deletion_window).is_err() {
        out.push(("spec.scimServer.deletionWindow".into(), "is not a duration such as 1h".into()));
    }
    out
}

/// The first value the paths reach in the User, as text.
pub fn pick(doc: &Value, paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| {
        let p = PatchPath::parse(p).ok()?;
        let base = scope_of(doc, &p.attr)?;
        let v = get_ci(base, &p.attr.attr)?;
        let sub = p.attr.sub.as_deref().or(p.sub.as_deref());
        let found = match (v, &p.filter) {
            (Value::Array(items), Some(f)) => items.iter().find(|i| f.matches(i))?,
            (Value::Array(items), None) => items.iter().find(|i| get_ci(i, "primary") == Some(&Value::Bool(true))).or(items.first())?,
            (other, _) => other,
        };
        let leaf = match sub {
            Some(s) => get_ci(found, s)?,
            None => found,
        };
        leaf.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    })
}

fn paths_for(s: &ScimServerSettings, field: &str) -> Vec<String> {
    match s.attributes.get(field) {
        Some(p) => p.clone(),
        None => FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, p)| p.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
    }
}

/// What a grant is built against.
pub struct Target<'a> {
    pub tenant: &'a str,
    pub settings: &'a ScimServerSettings,
    pub tree: &'a OrgTree,
    /// The Groups the User is a member of.
    pub groups: &'a [&'a GroupRecord],
}

/// The UserGrant spec `doc` stands for, over `previous` (whose fields SCIM does not carry —
/// validity, attestation, identity-number reference, skills — are kept). Problems are
/// (SCIM attribute, reason).
pub fn grant_spec(doc: &Value, t: &Target, previous: Option<&UserGrantSpec>) -> Result<UserGrantSpec, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let get = |field: &str| pick(doc, &paths_for(t.settings, field));
    let mut need = |field: &str, attr: &str| {
        get(field).unwrap_or_else(|| {
            problems.push((attr.to_string(), format!("is required: accord needs the person's {field}")));
            String::new()
        })
    };
    let given_name = need("givenName", "name.givenName");
    let family_name = need("familyName", "name.familyName");
    let email = need("email", "emails[type eq \"work\"].value");
    let unit = home_unit(get("unit").as_deref(), t).unwrap_or_else(|why| {
        problems.push(("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into(), why));
        String::new()
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut spec = previous.cloned().unwrap_or_else(|| UserGrantSpec {
        tenant: t.tenant.to_string(),
        person: Person::default(),
        unit: String::new(),
        roles: vec![],
        groups: vec![],
        features: vec![],
        scopes: vec![],
        valid_from: None,
        valid_until: None,
        suspended: false,
        shared: false,
        attestation: None,
    });
    let p = &mut spec.person;
    p.given_name = given_name;
    p.family_name = family_name;
    p.email = email;
    p.phone = get("phone");
    p.employee_number = get("employeeNumber");
    p.title = get("title");
    let address = Address {
        street: get("street"),
        postal_code: get("postalCode"),
        city: get("city"),
        country: get("country"),
    };
    p.address = (address != Address::default()).then_some(address);
    spec.unit = unit;
    spec.suspended = doc.get("active") == Some(&Value::Bool(false));
    let access = access(t.settings, t.groups);
    spec.roles = access.roles;
    spec.features = access.features;
    spec.groups = access.groups;
    spec.scopes = access.scopes;
    Ok(spec)
}

/// The department's unit (by name, display path or display name), else the default unit,
/// else the tenant's only root.
fn home_unit(department: Option<&str>, t: &Target) -> Result<String, String> {
    if let Some(d) = department {
        if let Some(u) = t.tree.find(d) {
            return Ok(u.name.clone());
        }
        let by_display: Vec<&str> = t
            .tree
            .units
            .values()
            .filter(|u| u.display_name.eq_ignore_ascii_case(d.trim()))
            .map(|u| u.name.as_str())
            .collect();
        if let [one] = by_display.as_slice() {
            return Ok(one.to_string());
        }
    }
    if let Some(u) = &t.settings.default_unit {
        return if t.tree.get(u).is_some() {
            Ok(u.clone())
        } else {
            Err(format!("names no unit, and the Integration's scimServer.defaultUnit {u:?} is not an OrgUnit of tenant {}", t.tenant))
        };
    }
    let roots: Vec<&str> = t.tree.units.values().filter(|u| u.parent.is_none()).map(|u| u.name.as_str()).collect();
    match roots.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(format!(
            "names no OrgUnit of tenant {}, and the Integration sets no scimServer.defaultUnit",
            t.tenant
        )),
    }
}

/// The defaults plus what every mapped Group of the person gives.
pub fn access(s: &ScimServerSettings, groups: &[&GroupRecord]) -> InboundAccess {
    let mut roles: BTreeSet<String> = s.defaults.roles.iter().cloned().collect();
    let mut features: BTreeSet<String> = s.defaults.features.iter().cloned().collect();
    let mut dir: BTreeSet<String> = s.defaults.groups.iter().cloned().collect();
    let mut scopes: BTreeMap<String, bool> = BTreeMap::new();
    let mut add_scopes = |list: &[Scope]| {
        for sc in list {
            let e = scopes.entry(sc.unit.clone()).or_insert(false);
            *e |= sc.include_descendants;
        }
    };
    add_scopes(&s.defaults.scopes);
    for g in groups {
        for m in s.groups.iter().filter(|m| matches_group(m, g)) {
            roles.extend(m.access.roles.iter().cloned());
            features.extend(m.access.features.iter().cloned());
            dir.extend(m.access.groups.iter().cloned());
            add_scopes(&m.access.scopes);
        }
    }
    InboundAccess {
        roles: roles.into_iter().collect(),
        features: features.into_iter().collect(),
        groups: dir.into_iter().collect(),
        scopes: scopes
            .into_iter()
            .map(|(unit, include_descendants)| Scope { unit, include_descendants })
            .collect(),
    }
}

fn matches_group(m: &crate::api::GroupMapping, g: &GroupRecord) -> bool {
    match (&m.display_name, &m.external_id) {
        (Some(n), _) => n.trim().eq_ignore_ascii_case(g.display_name.trim()),
        (None, Some(x)) => g.external_id.as_deref() == Some(x.as_str()),
        (None, None) => false,
    }
}

/// Where in SCIM a UserGrant field came from, for messages.
pub fn scim_attribute(field: &str, s: &ScimServerSettings) -> String {
    let person_field = match field.split('[').next().unwrap_or(field) {
        "spec.person.givenName" => "givenName",
        "spec.person.familyName" => "familyName",
        "spec.person.email" => "email",
        "spec.person.phone" => "phone",
        "spec.person.employeeNumber" => "employeeNumber",
        "spec.person.title" => "title",
        "spec.person.address.street" => "street",
        "spec.person.address.postalCode" => "postalCode",
        "spec.person.address.city" => "city",
        "spec.person.address.country" => "country",
        "spec.unit" => "unit",
        f if f.starts_with("spec.roles") || f.starts_with("spec.features") || f.starts_with("spec.scopes") || f.starts_with("spec.groups") => {
            return format!("{field} (from the Integration's scimServer.defaults or groups mapping)");
        }
        _ => return field.to_string(),
    };
    let from = paths_for(s, person_field).join(" or ");
    format!("{from} ({field})")
}

/// A User's doc as it is rendered: the kept attributes plus schemas.
pub fn schemas_of(doc: &Value) -> Vec<&'static str> {
    let mut v = vec![schema::USER];
    for (urn, _) in ResourceKind::User.extensions() {
        if doc.get(*urn).is_some() {
            v.push(urn);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::GroupMapping;
    use crate::engine::tree::UnitNode;
    use serde_json::json;

    fn tree() -> OrgTree {
        let mut t = OrgTree::default();
        for (name, display, parent, path) in [
            ("acme", "Acme", None, "acme"),
            ("acme-helsinki", "Helsinki", Some("acme"), "acme/helsinki"),
        ] {
            t.units.insert(name.into(), UnitNode {
                name: name.into(),
                display_name: display.into(),
                parent: parent.map(String::from),
                path: path.into(),
                depth: 0,
                codes: vec![],
                children: vec![],
            });
        }
        t
    }

    fn record(name: &str) -> GroupRecord {
        GroupRecord { id: name.into(), display_name: name.into(), external_id: Some(format!("x-{name}")), created: String::new(), last_modified: String::new(), version: 1 }
    }

    fn anna() -> Value {
        json!({
            "userName": "anna.virtanen@acme.fi",
            "name": {"givenName": "Anna", "familyName": "Virtanen"},
            "emails": [{"type": "work", "value": "anna.virtanen@acme.fi"}],
            "phoneNumbers": [{"type": "work", "value": "09 123 456"}, {"type": "mobile", "value": "040 123 4567"}],
            "addresses": [{"type": "work", "streetAddress": "Mannerheimintie 1", "locality": "Helsinki", "country": "FI"}],
            "active": false,
            schema::ENTERPRISE: {"employeeNumber": "E1", "department": "Helsinki"},
        })
    }

    #[test]
    fn entra_defaults_map_every_person_field() {
        let s = ScimServerSettings::default();
        let t = Target { tenant: "acme", settings: &s, tree: &tree(), groups: &[] };
        let spec = grant_spec(&anna(), &t, None).unwrap();
        assert_eq!(spec.person.given_name, "Anna");
        assert_eq!(spec.person.phone.as_deref(), Some("040 123 4567"), "mobile first");
        assert_eq!(spec.person.employee_number.as_deref(), Some("E1"));
        assert_eq!(spec.person.address.as_ref().unwrap().city.as_deref(), Some("Helsinki"));
        assert_eq!(spec.unit, "acme-helsinki", "department by display name");
        assert!(spec.suspended);
    }

    #[test]
    fn groups_give_the_union_of_their_rows() {
        let mut s = ScimServerSettings::default();
        s.defaults.features = vec!["messaging".into()];
        s.groups = vec![
            GroupMapping { display_name: Some("NURSES".into()), external_id: None, access: InboundAccess { roles: vec!["employee".into()], scopes: vec![Scope { unit: "acme-helsinki".into(), include_descendants: false }], ..Default::default() } },
            GroupMapping { display_name: None, external_id: Some("x-admins".into()), access: InboundAccess { roles: vec!["unit-admin".into()], features: vec!["reports".into()], scopes: vec![Scope { unit: "acme-helsinki".into(), include_descendants: true }], ..Default::default() } },
        ];
        let (n, a) = (record("nurses"), record("admins"));
        let got = access(&s, &[&n, &a]);
        assert_eq!(got.roles, ["employee", "unit-admin"]);
        assert_eq!(got.features, ["messaging", "reports"]);
        assert_eq!(got.scopes, [Scope { unit: "acme-helsinki".into(), include_descendants: true }]);
        assert_eq!(access(&s, &[]).roles, Vec::<String>::new());
    }

    #[test]
    fn missing_fields_and_units_are_named() {
        let s = ScimServerSettings { default_unit: Some("nowhere".into()), ..Default::default() };
        let t = Target { tenant: "acme", settings: &s, tree: &tree(), groups: &[] };
        let e = grant_spec(&json!({"userName": "x"}), &t, None).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"name.givenName") && fields.iter().any(|f| f.contains("department")), "{e:?}");
        let bad = ScimServerSettings { attributes: BTreeMap::from([("shoeSize".into(), vec![]), ("phone".into(), vec!["a[".into()])]), ..Default::default() };
        assert_eq!(check_settings(&bad).len(), 2);
    }
}
