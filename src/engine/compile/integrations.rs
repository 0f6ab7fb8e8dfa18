//! The Integrations that serve a tenant, by purpose, each checked: it exists, belongs to the
//! tenant, is of a kind that can serve that purpose, and its spec is sound.

use crate::api::{Integration, TenantSpec};
use crate::engine::build::idp::{LoginMethod, LoginSupport};
use crate::engine::kinds::{Catalog, TargetKind};
use crate::engine::problem::{Kind, ObjectRef, Problem};
use crate::engine::snapshot::{Snapshot, object_ref};
use crate::engine::state::TargetRole;
use crate::validate::parse_duration;
use crate::validate::redact::Quoted;

use super::namespace::Namespace;

/// The usable Integrations the tenant names, with the purpose each serves. Every Integration
/// of the tenant is checked, named or not, so that all errors show at once.
pub fn serving<'a>(
    catalog: &dyn Catalog,
    snap: &Snapshot,
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
            && check(catalog, snap, ns, i, problems)
            && (role != TargetRole::Idp || logins_served(catalog, tref, spec, i, problems))
        {
            serving.push((i, role));
        }
    }
    for i in ns.integrations.values().filter(|i| i.spec.tenant == tenant) {
        if !serving.iter().any(|(s, _)| std::ptr::eq(*s, *i)) {
            check(catalog, snap, ns, i, problems);
        }
    }
    serving
}

/// Whether the IdP can offer every login method of the tenant's policy; each one it cannot
/// is an error on the Tenant, and the IdP is then left as it is.
fn logins_served(
    catalog: &dyn Catalog,
    tref: &ObjectRef,
    spec: &TenantSpec,
    i: &Integration,
    problems: &mut Vec<Problem>,
) -> bool {
    let Some(kind) = catalog.get(i.spec.kind) else {
        return false;
    };
    let mut ok = true;
    for (n, m) in spec.policy.login.methods.iter().enumerate() {
        let Some(method) = LoginMethod::parse(m) else {
            continue; // the Tenant's own check names it
        };
        if let LoginSupport::Unsupported(why) = kind.login_support(&method) {
            ok = false;
            problems.push(Problem::new(
                tref,
                format!("spec.policy.login.methods[{n}]"),
                format!(
                    "{} cannot be offered by the {} IdP {}: {why}",
                    Quoted(m),
                    i.spec.kind.as_str(),
                    Quoted(i.metadata.name.as_deref().unwrap_or(""))
                ),
            ));
        }
    }
    ok
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
fn check(
    catalog: &dyn Catalog,
    snap: &Snapshot,
    ns: &Namespace,
    i: &Integration,
    problems: &mut Vec<Problem>,
) -> bool {
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
    // Every error at once: the Secrets are checked whatever else is wrong.
    let secrets = secrets_there(kind, snap, ns, i, &iref, problems);
    secrets && problems.len() == before
}

/// Whether every Secret key the kind's settings name is there. A Secret that may sit in an
/// input that could not be read is no error of its own, but nothing is built without it.
fn secrets_there(
    kind: &dyn TargetKind,
    snap: &Snapshot,
    ns: &Namespace,
    i: &Integration,
    iref: &ObjectRef,
    problems: &mut Vec<Problem>,
) -> bool {
    let mut ok = true;
    for (field, r) in kind.secret_refs(i) {
        if let Err(why) = snap.secret_value(&ns.name, &r.secret_name, &r.key) {
            ok = false;
            let hidden = snap.secret(&ns.name, &r.secret_name).is_none()
                && !ns.missing_is_error(Kind::Secret, &r.secret_name);
            if !hidden {
                problems.push(Problem::new(iref, field, why));
            }
        }
    }
    ok
}
