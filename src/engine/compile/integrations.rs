//! The Integrations that serve a tenant, by purpose, each checked: it exists, belongs to the
//! tenant, is of a kind that can serve that purpose, and its spec is sound.

use crate::api::{Integration, TenantSpec};
use crate::engine::kinds::Catalog;
use crate::engine::problem::{Kind, ObjectRef, Problem};
use crate::engine::snapshot::object_ref;
use crate::engine::state::TargetRole;
use crate::validate::parse_duration;
use crate::validate::redact::Quoted;

use super::namespace::Namespace;

/// The usable Integrations the tenant names, with the purpose each serves. Every Integration
/// of the tenant is checked, named or not, so that all errors show at once.
pub fn serving<'a>(
    catalog: &dyn Catalog,
    ns: &Namespace<'a>,
    tref: &ObjectRef,
    tenant: &str,
    spec: &TenantSpec,
    problems: &mut Vec<Problem>,
) -> Vec<(&'a Integration, TargetRole)> {
    let wanted = spec
        .integrations
        .directory
        .iter()
        .map(|n| ("spec.integrations.directory".to_string(), n, TargetRole::Directory))
        .chain(
            spec.integrations
                .idp
                .iter()
                .map(|n| ("spec.integrations.idp".to_string(), n, TargetRole::Idp)),
        )
        .chain(
            spec.integrations
                .extranet
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("spec.integrations.extranet[{i}]"), n, TargetRole::Extranet)),
        );
    let mut serving: Vec<(&Integration, TargetRole)> = Vec::new();
    for (field, name, role) in wanted {
        if !ns.integrations.contains_key(name.as_str()) && !ns.missing_is_error(Kind::Integration, name) {
            continue; // it carries its own error, or sits in an input that was not read
        }
        if let Some(i) = resolve(catalog, ns, tref, tenant, (&field, name), role, problems)
            && check(catalog, i, problems)
        {
            serving.push((i, role));
        }
    }
    for i in ns.integrations.values().filter(|i| i.spec.tenant == tenant) {
        if !serving.iter().any(|(s, _)| std::ptr::eq(*s, *i)) {
            check(catalog, i, problems);
        }
    }
    serving
}

/// The Integration a tenant names for `role`, checked.
fn resolve<'a>(
    catalog: &dyn Catalog,
    ns: &Namespace<'a>,
    tref: &ObjectRef,
    tenant: &str,
    (field, name): (&str, &str),
    role: TargetRole,
    problems: &mut Vec<Problem>,
) -> Option<&'a Integration> {
    let mut refuse = |reason: String| problems.push(Problem::new(tref, field, reason));
    let Some(i) = ns.integrations.get(name).copied() else {
        refuse(format!("Integration {} does not exist in namespace {}", Quoted(name), ns.name));
        return None;
    };
    if i.spec.tenant != tenant {
        refuse(format!(
            "Integration {} belongs to tenant {}",
            Quoted(name),
            Quoted(&i.spec.tenant)
        ));
        return None;
    }
    if !catalog.get(i.spec.kind).is_some_and(|k| k.serves().contains(&role)) {
        refuse(format!(
            "Integration {} is of kind {}, which cannot serve as {role:?}",
            Quoted(name),
            i.spec.kind.as_str()
        ));
        return None;
    }
    Some(i)
}

/// Checks an Integration's own spec; false when it cannot be used.
fn check(catalog: &dyn Catalog, i: &Integration, problems: &mut Vec<Problem>) -> bool {
    let iref = object_ref(Kind::Integration, i);
    let before = problems.len();
    if let Err(e) = parse_duration(&i.spec.sync.interval) {
        problems.push(Problem::new(
            &iref,
            "spec.sync.interval",
            format!("{} {e}", Quoted(&i.spec.sync.interval)),
        ));
    }
    let Some(kind) = catalog.get(i.spec.kind) else {
        // An inbound kind (scimServer) holds nothing downstream; it is checked where it runs.
        return problems.len() == before;
    };
    match &i.spec.endpoint {
        None => problems.push(Problem::new(&iref, "spec.endpoint", "is required for this kind")),
        Some(e) if !kind.schemes().iter().any(|s| e.starts_with(&format!("{s}://"))) => {
            let schemes: Vec<String> = kind.schemes().iter().map(|s| format!("{s}://")).collect();
            problems.push(Problem::new(
                &iref,
                "spec.endpoint",
                format!(
                    "{} does not fit kind {} (use {})",
                    Quoted(e),
                    i.spec.kind.as_str(),
                    schemes.join(" or ")
                ),
            ));
        }
        Some(_) => {}
    }
    for (field, reason) in kind.check(i) {
        problems.push(Problem::new(&iref, field, reason));
    }
    problems.len() == before
}
