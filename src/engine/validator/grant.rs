//! A UserGrant's own fields: the person (names, e-mail, phone, HSA-id, national identity
//! number), what it asks of its tenant (declared roles and features), its groups, validity and
//! attestation; and the fields that must be unique among a tenant's people.

use crate::validate::Invalid;
use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::api::{IdentifierScheme, TenantSpec, UserGrantSpec};
use crate::validate::identifiers::validate_identifier;
use crate::validate::redact::Quoted;
use crate::validate::{Country, normalise_phone, validate_email, validate_national_id};

/// What a grant is checked against.
pub struct Rules<'a> {
    /// The tenant's name and spec (its declared roles and features).
    pub tenant: &'a str,
    pub spec: &'a TenantSpec,
    /// For national phone numbers and identity numbers.
    pub country: Option<Country>,
    pub today: Date,
}

/// A grant's values as they go downstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Trimmed.
    pub email: String,
    /// E.164.
    pub phone: Option<String>,
}

/// Checks every field of `spec` that does not depend on other objects. Problems are
/// (field, reason); the reasons never repeat a national identity number.
pub fn check_grant(spec: &UserGrantSpec, rules: &Rules) -> (Checked, Vec<(String, String)>) {
    let mut problems = Vec::new();
    let mut problem = |field: &str, reason: String| problems.push((field.to_string(), reason));
    let p = &spec.person;
    if p.given_name.trim().is_empty() {
        problem("spec.person.givenName", "must not be empty".into());
    }
    if p.family_name.trim().is_empty() {
        problem("spec.person.familyName", "must not be empty".into());
    }
    let email = p.email.trim().to_string();
    if let Err(e) = validate_email(&email) {
        problem("spec.person.email", format!("{} {e}", Quoted(&email)));
    }
    if let Some(h) = p.hsa_id.as_deref()
        && let Err(e) = validate_identifier(IdentifierScheme::HsaId, h)
    {
        problem("spec.person.hsaId", format!("{} {e}", Quoted(h)));
    }
    let phone = p.phone.as_deref().and_then(|ph| {
        normalise_phone(ph, rules.country)
            .map_err(|e| problem("spec.person.phone", format!("{} {e}", Quoted(ph))))
            .ok()
    });
    check_declared(spec, rules, &mut problem);
    check_dates(spec, rules.today, &mut problem);
    (Checked { email, phone }, problems)
}

/// Roles and features must be declared on the tenant; groups are plain names.
fn check_declared(spec: &UserGrantSpec, rules: &Rules, problem: &mut impl FnMut(&str, String)) {
    let declared_roles = || names(rules.spec.roles.iter().map(|r| r.name.as_str()));
    for (i, r) in spec.roles.iter().enumerate() {
        if !rules.spec.roles.iter().any(|d| &d.name == r) {
            problem(
                &format!("spec.roles[{i}]"),
                format!(
                    "role {} is not declared on Tenant {} (declared: {})",
                    Quoted(r),
                    rules.tenant,
                    declared_roles()
                ),
            );
        }
    }
    for (i, f) in spec.features.iter().enumerate() {
        if !rules.spec.features.contains(f) {
            problem(
                &format!("spec.features[{i}]"),
                format!(
                    "feature {} is not declared on Tenant {} (declared: {})",
                    Quoted(f),
                    rules.tenant,
                    names(rules.spec.features.iter().map(String::as_str))
                ),
            );
        }
    }
    for (i, grp) in spec.groups.iter().enumerate() {
        if grp.trim().is_empty() || grp.len() > 64 || grp.chars().any(char::is_control) {
            problem(
                &format!("spec.groups[{i}]"),
                format!(
                    "{} is not a group name (1 to 64 characters, no control characters)",
                    Quoted(grp)
                ),
            );
        }
    }
}

fn check_dates(spec: &UserGrantSpec, today: Date, problem: &mut impl FnMut(&str, String)) {
    if let (Some(from), Some(until)) = (spec.valid_from, spec.valid_until)
        && until < from
    {
        problem("spec.validUntil", format!("{until} is before validFrom {from}"));
    }
    if let Some(a) = &spec.attestation {
        if a.last_attested > today {
            problem(
                "spec.attestation.lastAttested",
                format!("{} is in the future", a.last_attested),
            );
        }
        if a.attested_by.trim().is_empty() {
            problem("spec.attestation.attestedBy", "must say who attested".into());
        }
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A national identity number of `country`, trimmed, or why not (never the number itself).
/// `source` says where it was read, for the message (`Secret "ids" key "anna"`).
pub fn check_national_id(
    value: &str,
    country: Option<Country>,
    source: &str,
) -> Result<String, Invalid> {
    let value = value.trim();
    let c = country.ok_or(
        "the Tenant has no country (spec.country or an identifier), so the number cannot be checked",
    )?;
    validate_national_id(c, value)
        .map(|()| value.to_string())
        .map_err(|e| Invalid(format!("the {} in {source} is not valid: {e}", c.id_name())))
}

/// What must be unique among a tenant's people: e-mail (case-insensitively), employee
/// number, HSA-id and national identity number. `who` names the holder in messages
/// (`UserGrant anna`, `row 7`).
#[derive(Debug, Default)]
pub struct Duplicates {
    email: BTreeMap<String, String>,
    employee: BTreeMap<String, String>,
    hsa: BTreeMap<String, String>,
    national: BTreeMap<String, String>,
}

impl Duplicates {
    /// Problems if this person repeats one already seen; remembers them otherwise. Only
    /// values that passed their own checks are given here.
    pub fn check(
        &mut self,
        who: &str,
        email: Option<&str>,
        spec: &UserGrantSpec,
        national: Option<(&str, Country)>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = |map: &mut BTreeMap<String, String>,
                        key: String,
                        field: &str,
                        message: &dyn Fn(&str) -> String| {
            match map.get(&key) {
                Some(other) => out.push((field.to_string(), message(other))),
                None => {
                    map.insert(key, who.to_string());
                }
            }
        };
        if let Some(e) = email {
            seen(&mut self.email, e.to_lowercase(), "spec.person.email", &|other| {
                format!("duplicate person: {} is already the e-mail of {other}", Quoted(e))
            });
        }
        if let Some(e) = spec.person.employee_number.as_deref().filter(|e| !e.is_empty()) {
            seen(&mut self.employee, e.to_string(), "spec.person.employeeNumber", &|other| {
                format!("duplicate person: {} is already the employee number of {other}", Quoted(e))
            });
        }
        if let Some(h) = spec.person.hsa_id.as_deref() {
            seen(&mut self.hsa, h.to_string(), "spec.person.hsaId", &|other| {
                format!("duplicate person: {} is already the HSA-id of {other}", Quoted(h))
            });
        }
        if let Some((n, c)) = national {
            seen(&mut self.national, n.to_string(), "spec.person.nationalIdRef", &|other| {
                format!("duplicate person: the same {} as {other}", c.id_name())
            });
        }
        out
    }
}
