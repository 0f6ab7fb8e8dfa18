//! Roster rows → the UserGrants they would be, each checked with the engine's validator and
//! plan's rules: the same fields, the same limits, the same duplicates. A row that would
//! make a manifest `plan` refuses is reported on its columns instead of written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::civil::Date;

use crate::api::{Address, Person, UserGrant, UserGrantSpec};
use crate::engine::conform;
use crate::engine::problem::{Kind, ObjectRef};
use crate::engine::tree::slug;
use crate::engine::validator::{self, Duplicates, Rules};
use crate::validate::{Country, Invalid};

use super::Destination;
use super::mapping::{Field, MappingFile};
use super::rows::{PersonRow, RowProblem, cell_problem};
use super::table::Table;

/// A row that passed: the grant to write, where, and its national identity number
/// (`Some(None)`: the roster says it has none; `None`: the roster does not say).
pub struct Checked {
    pub path: PathBuf,
    pub grant: UserGrant,
    pub national_id: Option<Option<String>>,
}

pub fn check(
    dest: &Destination,
    mapping: &MappingFile,
    rows: Vec<PersonRow>,
    (table, fields): (&Table, &[Field]),
    today: Date,
    problems: &mut Vec<RowProblem>,
) -> Vec<Checked> {
    let country = validator::country(&dest.tenant.spec).ok().flatten();
    let rules = Rules {
        tenant: dest.name,
        spec: &dest.tenant.spec,
        country,
        today,
    };
    let existing = existing(dest);
    let mut taken: BTreeMap<String, String> = existing
        .iter()
        .map(|(email, g)| (g.metadata.name.clone().unwrap_or_default(), email.clone()))
        .collect();
    let dups = &mut seeded_duplicates(dest, &existing, &rows, country);
    let cells: BTreeMap<usize, &Vec<String>> = table.rows.iter().map(|(n, c)| (*n, c)).collect();
    let mut good = Vec::new();
    for p in rows {
        let previous = existing.get(&p.email).copied();
        let name = match previous {
            Some(g) => g.metadata.name.clone().unwrap_or_default(),
            None => unique_name(&p.email, &mut taken),
        };
        let on_row = |field: &str, reason: String| {
            let empty = Vec::new();
            let row_cells = cells.get(&p.row).copied().unwrap_or(&empty);
            match column_of(field).and_then(|f| fields.iter().position(|x| *x == f)) {
                // The report shows the cell beside the reason: the reason need not repeat it.
                Some(col) => cell_problem(table, fields, p.row, row_cells, col, without_value(reason)),
                None => RowProblem {
                    row: p.row,
                    column: field.to_string(),
                    value: String::new(),
                    reason: crate::validate::redact::shown(&reason).into_owned(),
                },
            }
        };
        let path = match place(dest, previous, &name) {
            Ok(path) => path,
            Err(why) => {
                problems.push(on_row("", why.into()));
                continue;
            }
        };
        let mut grant = merge(previous, &p, &name, dest, country, mapping);
        let found = validate(&mut grant, &p, &rules, dups);
        if found.is_empty() {
            good.push(Checked {
                path,
                grant,
                national_id: p.national_id.clone(),
            });
        } else {
            problems.extend(found.into_iter().map(|(f, why)| on_row(&f, why)));
        }
    }
    good
}

/// Everything plan would find wrong with the grant a row makes; none: the row is good, its
/// phone number written in E.164, and its unique values taken.
fn validate(
    grant: &mut UserGrant,
    p: &PersonRow,
    rules: &Rules,
    dups: &mut Duplicates,
) -> Vec<(String, String)> {
    let (checked, mut found) = validator::check_grant(&grant.spec, rules);
    let national = match p.national_id.as_ref().and_then(|n| n.as_deref()) {
        None => None,
        Some(id) => match validator::check_national_id(id, rules.country, "the roster") {
            Ok(v) => Some(v),
            Err(why) => {
                found.push(("spec.person.nationalIdRef".into(), why.into()));
                None
            }
        },
    };
    grant.spec.person.phone = checked.phone.clone();
    found.extend(conform::check(Kind::UserGrant, &grant.metadata, &grant.spec));
    if found.is_empty() {
        // Only rows that are imported count as seen: a bad row hides nobody.
        let national = national.as_deref().zip(rules.country);
        found = dups.check(&format!("row {}", p.row), Some(&checked.email), &grant.spec, national);
    }
    found
}

/// A validator reason without the quoted value it starts with (`"x" has no @` → `has no @`).
fn without_value(reason: String) -> String {
    let Some(rest) = reason.strip_prefix('"') else {
        return reason;
    };
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                return match rest[i + 1..].strip_prefix(' ') {
                    Some(tail) => tail.to_string(),
                    None => reason,
                };
            }
            _ => escaped = false,
        }
    }
    reason
}

/// The roster column a validator field comes from.
fn column_of(field: &str) -> Option<Field> {
    let f = field.split('[').next().unwrap_or(field);
    Some(match f {
        "spec.person.givenName" => Field::GivenName,
        "spec.person.familyName" => Field::FamilyName,
        "spec.person.email" => Field::Email,
        "spec.person.phone" => Field::Phone,
        "spec.person.hsaId" => Field::HsaId,
        "spec.person.employeeNumber" => Field::EmployeeNumber,
        "spec.person.title" => Field::Title,
        "spec.person.skills" => Field::Skills,
        "spec.person.nationalIdRef" => Field::NationalId,
        "spec.person.address.street" => Field::Street,
        "spec.person.address.postalCode" => Field::PostalCode,
        "spec.person.address.city" => Field::City,
        "spec.person.address.country" => Field::Country,
        "spec.unit" => Field::Unit,
        "spec.roles" => Field::Roles,
        "spec.features" => Field::Features,
        "spec.groups" => Field::Groups,
        "spec.validFrom" => Field::ValidFrom,
        "spec.validUntil" => Field::ValidUntil,
        _ => return None,
    })
}

/// The tenant's grants already in the manifests, by e-mail: their names and files are kept.
fn existing<'a>(dest: &Destination<'a>) -> BTreeMap<String, &'a UserGrant> {
    dest.loaded
        .snapshot
        .user_grants
        .iter()
        .filter(|g| g.spec.tenant == dest.name && g.metadata.namespace.as_deref() == Some(&dest.namespace))
        .map(|g| (g.spec.person.email.to_lowercase(), g))
        .collect()
}

/// The people the roster leaves as they are still hold their e-mail, employee number, HSA-id
/// and identity number: a row may not take one of theirs.
fn seeded_duplicates(
    dest: &Destination,
    existing: &BTreeMap<String, &UserGrant>,
    rows: &[PersonRow],
    country: Option<Country>,
) -> Duplicates {
    let mut dups = Duplicates::default();
    for (email, g) in existing {
        if rows.iter().any(|r| &r.email == email) {
            continue;
        }
        let name = g.metadata.name.clone().unwrap_or_default();
        let national = g.spec.person.national_id_ref.as_ref().and_then(|r| {
            dest.loaded
                .snapshot
                .secret_value(&dest.namespace, &r.secret_name, &r.key)
                .ok()
                .map(str::trim)
        });
        let _ = dups.check(&format!("UserGrant {name}"), Some(email), &g.spec, national.zip(country));
    }
    dups
}

/// Where the grant's file is: the file it was read from, or a new one beside the others.
fn place(dest: &Destination, previous: Option<&UserGrant>, name: &str) -> Result<PathBuf, Invalid> {
    let origin = previous.and_then(|_| {
        let r = ObjectRef::new(Kind::UserGrant, &dest.namespace, name);
        dest.loaded.snapshot.origin(&r)
    });
    let Some(origin) = origin else {
        return Ok(dest.out.join(format!("{name}.yaml")));
    };
    let file = PathBuf::from(origin.rsplit_once(':').map_or(origin.as_str(), |(f, _)| f));
    let documents = std::fs::read_to_string(&file)
        .map_or(0, |t| crate::manifests::split_documents(&crate::manifests::yaml::normalise(&t)).len());
    if documents != 1 {
        return Err(Invalid(format!(
            "UserGrant {name} is defined in {} among other documents; import only rewrites files of one UserGrant",
            file.display()
        )));
    }
    Ok(file)
}

/// A resource name from the e-mail's local part, unique within the tenant.
fn unique_name(email: &str, taken: &mut BTreeMap<String, String>) -> String {
    let local = email
        .split('@')
        .next()
        .unwrap_or(email)
        .replace(['.', '_', '+'], " ");
    let mut base = slug(&local);
    base.truncate(56);
    let base = base.trim_matches('-').to_string();
    let base = if base.is_empty() {
        "person".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while taken.get(&name).is_some_and(|e| e != email) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone(), email.to_string());
    name
}

/// The grant as it should be: the roster's fields over what was there before.
fn merge(
    previous: Option<&UserGrant>,
    p: &PersonRow,
    name: &str,
    dest: &Destination,
    country: Option<Country>,
    mapping: &MappingFile,
) -> UserGrant {
    let mut spec = previous
        .map(|g| g.spec.clone())
        .unwrap_or_else(|| UserGrantSpec {
            tenant: dest.name.to_string(),
            person: Person::default(),
            unit: String::new(),
            roles: mapping.defaults.roles.clone(),
            groups: mapping.defaults.groups.clone(),
            features: mapping.defaults.features.clone(),
            scopes: vec![],
            valid_from: None,
            valid_until: None,
            suspended: false,
            shared: false,
            attestation: None,
        });
    let person = &mut spec.person;
    person.given_name = p.given_name.clone();
    person.family_name = p.family_name.clone();
    person.email = p.email.clone();
    spec.unit = p.unit.clone();
    macro_rules! carry {
        ($src:expr, $dst:expr) => {
            if let Some(v) = $src.clone() {
                $dst = v;
            }
        };
    }
    carry!(p.phone, person.phone);
    carry!(p.skills, person.skills);
    carry!(p.employee_number, person.employee_number);
    carry!(p.title, person.title);
    carry!(p.hsa_id, person.hsa_id);
    if p.street.is_some() || p.postal_code.is_some() || p.city.is_some() || p.country.is_some() {
        let mut a = person.address.clone().unwrap_or_default();
        carry!(p.street, a.street);
        carry!(p.postal_code, a.postal_code);
        carry!(p.city, a.city);
        carry!(p.country, a.country);
        if a.country.is_none() {
            a.country = country.map(|c| c.code().to_string());
        }
        person.address = (a != Address::default()).then_some(a);
    }
    carry!(p.groups, spec.groups);
    carry!(p.roles, spec.roles);
    carry!(p.features, spec.features);
    carry!(p.valid_from, spec.valid_from);
    carry!(p.valid_until, spec.valid_until);
    let mut g = previous
        .cloned()
        .unwrap_or_else(|| UserGrant::new(name, spec.clone()));
    g.spec = spec;
    g.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(dest.namespace.clone()),
        labels: g.metadata.labels.clone(),
        annotations: g.metadata.annotations.clone(),
        ..Default::default()
    };
    g.status = None;
    g
}
