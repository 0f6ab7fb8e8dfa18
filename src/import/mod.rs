//! `accord import`: a staff roster (CSV or XLSX) → one UserGrant manifest per person, for a
//! pull request. National identity numbers go only into a Secret manifest kept apart.

pub mod mapping;
pub mod rows;
pub mod secret;
pub mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::api::{Address, Person, SecretKeyRef, Tenant, UserGrant, UserGrantSpec};
use crate::engine::problem::Kind;
use crate::engine::tree::{build_tree, slug};
use crate::manifests::{Loaded, load_paths};
use crate::validate::Country;

use mapping::{MappingFile, map_columns};
use rows::{PersonRow, RowContext, RowProblem, check_rows};
use secret::SecretFile;

pub struct ImportRequest {
    pub file: PathBuf,
    pub tenant: String,
    pub namespace: Option<String>,
    /// Manifests holding the Tenant, its OrgUnits and existing UserGrants.
    pub from: Vec<PathBuf>,
    pub mapping: Option<PathBuf>,
    pub sheet: Option<String>,
    pub out: PathBuf,
    pub strict: bool,
    pub progress: bool,
}

#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub problems: Vec<RowProblem>,
    pub written: bool,
    pub report: Option<PathBuf>,
}

/// Errors that stop the whole import (as opposed to bad rows).
pub fn import(req: &ImportRequest) -> Result<ImportOutcome, String> {
    let mapping = match &req.mapping {
        None => MappingFile::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("{}: cannot be read: {e}", p.display()))?;
            crate::manifests::yaml::from_single(&text).map_err(|e| {
                format!("{}:{}: {}{}", p.display(), e.line, if e.field.is_empty() { String::new() } else { format!("{}: ", e.field) }, e.reason)
            })?
        }
    };
    let from = if req.from.is_empty() {
        vec![req.out.clone()]
    } else {
        req.from.clone()
    };
    let loaded = load_paths(&from, "default");
    refuse_unread(&loaded, &from)?;
    let tenant = find_tenant(&loaded, &req.tenant, req.namespace.as_deref())?;
    let ns = tenant
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let units: BTreeMap<&str, &crate::api::OrgUnit> = loaded
        .snapshot
        .org_units
        .iter()
        .filter(|u| u.metadata.namespace.as_deref() == Some(&ns))
        .map(|u| (u.metadata.name.as_deref().unwrap_or_default(), u))
        .collect();
    let (tree, _) = build_tree(&ns, &req.tenant, &units, &BTreeSet::new(), false);
    if tree.units.is_empty() {
        return Err(format!(
            "Tenant {ns}/{} has no OrgUnits in {}: import needs the unit tree",
            req.tenant,
            show(&from)
        ));
    }
    let country = tenant
        .spec
        .country
        .as_deref()
        .and_then(Country::from_code)
        .or_else(|| {
            tenant
                .spec
                .identifiers
                .iter()
                .find_map(|i| crate::validate::identifiers::scheme_country(i.scheme))
        });

    let table = table::read_table(&req.file, req.sheet.as_deref())?;
    let fields = map_columns(&table.headers, &mapping)
        .map_err(|e| format!("{}: {e}", req.file.display()))?;
    let ctx = RowContext {
        tenant: &req.tenant,
        tree: &tree,
        country,
        roles: tenant.spec.roles.iter().map(|r| r.name.clone()).collect(),
        features: tenant.spec.features.clone(),
    };
    let (good, problems) = check_rows(&table, &fields, &ctx);
    let mut outcome = ImportOutcome {
        rows: table.rows.len(),
        problems,
        ..Default::default()
    };
    if req.strict && !outcome.problems.is_empty() {
        return Ok(outcome);
    }

    // Existing grants of this tenant, by e-mail: their names and files are kept.
    let existing: BTreeMap<String, &UserGrant> = loaded
        .snapshot
        .user_grants
        .iter()
        .filter(|g| g.spec.tenant == req.tenant && g.metadata.namespace.as_deref() == Some(&ns))
        .map(|g| (g.spec.person.email.to_lowercase(), g))
        .collect();
    let mut taken: BTreeMap<String, String> = existing
        .iter()
        .map(|(email, g)| (g.metadata.name.clone().unwrap_or_default(), email.clone()))
        .collect();
    let secret_name = format!("{}-national-ids", req.tenant);
    // An existing Secret of that name is updated where it is (other documents of its file
    // kept); otherwise one is written beside the grants.
    let secret_file = loaded
        .snapshot
        .origin(&crate::engine::ObjectRef::new(Kind::Secret, &ns, &secret_name))
        .map(|o| PathBuf::from(o.rsplit_once(':').map_or(o.as_str(), |(f, _)| f)))
        .unwrap_or_else(|| req.out.join(format!("{secret_name}.yaml")));
    let mut secret = SecretFile::load(&secret_file, &secret_name, &ns)?;
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    std::fs::create_dir_all(&req.out).map_err(|e| format!("{}: {e}", req.out.display()))?;

    // Everything is worked out first; the Secret is written before the grants that refer to
    // it, so that an interruption never leaves a grant pointing at a key that is not there.
    let mut writes: Vec<(PathBuf, String, UserGrant)> = Vec::new();
    for p in &good {
        let previous = existing.get(&p.email).copied();
        let name = match previous {
            Some(g) => g.metadata.name.clone().unwrap_or_default(),
            None => unique_name(&p.email, &mut taken),
        };
        let path = match previous.and_then(|_| {
            loaded
                .snapshot
                .origin(&crate::engine::ObjectRef::new(Kind::UserGrant, &ns, &name))
        }) {
            Some(origin) => {
                let file =
                    PathBuf::from(origin.rsplit_once(':').map_or(origin.as_str(), |(f, _)| f));
                if document_count(&file) != 1 {
                    outcome.problems.push(RowProblem {
                        row: p.row,
                        column: String::new(),
                        value: crate::validate::redact::shown(&p.email).into_owned(),
                        reason: format!("UserGrant {name} is defined in {} among other documents; import only rewrites files of one UserGrant", file.display()),
                    });
                    continue;
                }
                file
            }
            None => req.out.join(format!("{name}.yaml")),
        };
        let mut grant = merge(previous, p, &name, &ns, &req.tenant, country, &mapping);
        // The same limits plan holds every UserGrant to: a row that would make a manifest
        // plan refuses is reported here instead of written.
        let limits = crate::engine::conform::check(Kind::UserGrant, &grant.metadata, &grant.spec);
        if let Some((field, reason)) = limits.into_iter().next() {
            outcome.problems.push(RowProblem {
                row: p.row,
                column: field,
                value: String::new(),
                reason,
            });
            continue;
        }
        match p.national_id.clone() {
            Some(Some(id)) => {
                if secret.get(&name).as_deref() != Some(id.as_str()) {
                    secret.set(&name, id.clone());
                    ids.insert(name.clone(), id);
                }
                grant.spec.person.national_id_ref = Some(SecretKeyRef {
                    secret_name: secret_name.clone(),
                    key: name.clone(),
                });
            }
            Some(None) => grant.spec.person.national_id_ref = None,
            None => {}
        }
        let text = format!(
            "# Imported by accord from {}; edit freely: a re-import keeps fields the roster does not carry.\n{}",
            file_name(&req.file),
            serde_yaml::to_string(&grant).map_err(|e| e.to_string())?
        );
        writes.push((path, text, grant));
    }
    secret.write(&ids)?;
    let bar = progress_bar(req.progress, writes.len());
    for (path, text, grant) in &writes {
        bar.inc(1);
        match std::fs::read_to_string(path) {
            Ok(old) if strip_comment(&old) == strip_comment(text) => outcome.unchanged += 1,
            old => {
                write_grant(path, text, grant, &ns)?;
                if old.is_ok() {
                    outcome.updated += 1;
                } else {
                    outcome.created += 1;
                }
            }
        }
    }
    bar.finish_and_clear();
    let report = req.out.join("import-report.txt");
    ensure_gitignore(&req.out, &["import-report.txt"])?;
    if let (Some(dir), Some(file)) = (secret.path.parent(), secret.path.file_name()) {
        ensure_gitignore(dir, &[&file.to_string_lossy()])?;
    }
    if outcome.problems.is_empty() {
        let _ = std::fs::remove_file(&report);
    } else {
        let lines: String = outcome
            .problems
            .iter()
            .map(|p| format!("{}\n", describe(p)))
            .collect();
        std::fs::write(
            &report,
            format!(
                "# Rows of {} that were not imported\n{lines}",
                file_name(&req.file)
            ),
        )
        .map_err(|e| e.to_string())?;
        outcome.report = Some(report);
    }
    outcome.written = true;
    Ok(outcome)
}

/// One bad row for people; every part masked and escaped (`value` already is).
pub fn describe(p: &RowProblem) -> String {
    use crate::validate::redact::{Quoted, shown};
    if p.column.is_empty() {
        format!("row {}: {}: {}", p.row, p.value, shown(&p.reason))
    } else {
        format!(
            "row {}: column {}: \"{}\" {}",
            p.row,
            Quoted(&p.column),
            p.value.replace('"', "\\\""),
            shown(&p.reason)
        )
    }
}

fn show(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

fn strip_comment(text: &str) -> &str {
    text.split_once('\n')
        .filter(|(first, _)| first.starts_with('#'))
        .map_or(text, |(_, rest)| rest)
}

fn find_tenant<'a>(
    loaded: &'a Loaded,
    name: &str,
    namespace: Option<&str>,
) -> Result<&'a Tenant, String> {
    let found: Vec<&Tenant> = loaded
        .snapshot
        .tenants
        .iter()
        .filter(|t| {
            t.metadata.name.as_deref() == Some(name)
                && namespace.is_none_or(|ns| t.metadata.namespace.as_deref() == Some(ns))
        })
        .collect();
    match found.as_slice() {
        [t] => Ok(t),
        [] => Err(format!(
            "no Tenant {name:?} in the manifests given with --from"
        )),
        _ => Err(format!(
            "Tenant {name:?} is in several namespaces; say which with --namespace"
        )),
    }
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
    ns: &str,
    tenant: &str,
    country: Option<Country>,
    mapping: &MappingFile,
) -> UserGrant {
    let mut spec = previous
        .map(|g| g.spec.clone())
        .unwrap_or_else(|| UserGrantSpec {
            tenant: tenant.to_string(),
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
        namespace: Some(ns.to_string()),
        labels: g.metadata.labels.clone(),
        annotations: g.metadata.annotations.clone(),
        ..Default::default()
    };
    g.status = None;
    g
}

fn document_count(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |t| crate::manifests::split_documents(&t).len())
}

/// Writes one grant's file after reading the text back: it must be exactly the grant meant.
fn write_grant(path: &Path, text: &str, grant: &UserGrant, ns: &str) -> Result<(), String> {
    let mut check = Loaded::default();
    crate::manifests::load_text(&path.display().to_string(), text, ns, &mut check);
    let same = check.problems.is_empty()
        && check.snapshot.user_grants.len() == 1
        && serde_json::to_value(&check.snapshot.user_grants[0].spec).ok()
            == serde_json::to_value(&grant.spec).ok();
    if !same {
        return Err(format!(
            "{}: not written, because the new text would not read back as the same UserGrant",
            path.display()
        ));
    }
    secret::write_atomically(path, text)
}

/// Import builds on the manifests in `--from`; if any of them could not be read, what it
/// writes could clash with what they hold (a second Secret, a person twice).
fn refuse_unread(loaded: &Loaded, from: &[PathBuf]) -> Result<(), String> {
    let unread = loaded.snapshot.unread.first().map(ToString::to_string).or_else(|| {
        loaded
            .snapshot
            .unreadable
            .iter()
            .next()
            .map(|(r, why)| format!("{r}: {why}"))
    });
    match unread {
        None => Ok(()),
        Some(first) => Err(format!(
            "the manifests in {} could not all be read ({}); import writes nothing until they are fixed (`accord plan` lists every error)",
            show(from),
            crate::validate::redact::shown(&first)
        )),
    }
}

fn ensure_gitignore(dir: &Path, entries: &[&str]) -> Result<(), String> {
    let path = dir.join(".gitignore");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let before = text.clone();
    for e in entries {
        if !text.lines().any(|l| l.trim() == *e) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(e);
            text.push('\n');
        }
    }
    if text != before {
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn progress_bar(enabled: bool, len: usize) -> indicatif::ProgressBar {
    if enabled && std::io::stdout().is_terminal() {
        indicatif::ProgressBar::new(len as u64)
    } else {
        indicatif::ProgressBar::hidden()
    }
}
