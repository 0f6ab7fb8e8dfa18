//! `compile`: a snapshot of the four kinds plus today's date → every error, every policy
//! finding, the status each resource should show, and the desired state of every target.
//! Pure: no I/O, no clock of its own.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::Serialize;

use crate::api::{
    Integration, LifecycleState, OrgUnit, SharedAccounts, Tenant, TenantCounts,
    UserGrant,
};
use crate::validate::identifiers::{login_method_level, scheme_country, validate_identifier};
use crate::validate::{
    Country, normalise_phone, parse_duration, validate_email, validate_national_id,
};

use super::build::{ResolvedGrant, TenantContext};
use super::kinds::Catalog;
use super::lifecycle::{AttestationRule, AttestationState, Lifecycle, lifecycle};
use super::problem::{Kind, ObjectRef, Problem, Violation};
use super::snapshot::{Snapshot, ns_name, object_ref};
use super::state::{DesiredTarget, ObjectKey, ObjectKind, TargetRole};
use super::tree::{OrgTree, build_tree};
use crate::validate::redact::Quoted;

/// Everything compile found out.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Bad input. Objects with problems are frozen: nothing downstream of them changes.
    pub problems: Vec<Problem>,
    pub violations: Vec<Violation>,
    pub tenants: Vec<TenantView>,
    pub targets: Vec<DesiredTarget>,
}

/// What a tenant's resources should report in status.
#[derive(Clone, Debug, Serialize)]
pub struct TenantView {
    pub object: ObjectRef,
    pub counts: TenantCounts,
    pub units: Vec<UnitView>,
    pub grants: Vec<GrantView>,
    /// Input left as it is downstream because of errors, and why.
    pub frozen: Vec<(ObjectRef, String)>,
    /// Objects of the tenant's namespace that exist but could not be read, and why: what
    /// they stand for is frozen, and the Tenant's status says so.
    pub unreadable: Vec<(ObjectRef, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnitView {
    pub object: ObjectRef,
    pub path: String,
    pub depth: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct GrantView {
    pub object: ObjectRef,
    pub unit: String,
    pub lifecycle: Lifecycle,
}

/// Objects of one namespace, by name.
struct Namespace<'a> {
    name: String,
    tenants: BTreeMap<&'a str, &'a Tenant>,
    units: BTreeMap<&'a str, &'a OrgUnit>,
    grants: BTreeMap<&'a str, &'a UserGrant>,
    integrations: BTreeMap<&'a str, &'a Integration>,
    /// Objects that exist but cannot be used (unreadable, or outside their CRD's limits),
    /// by (kind, name), with why: whatever they stand for downstream is frozen.
    unusable: BTreeMap<(Kind, String), String>,
    /// Some input of this namespace could not be read at all: an object missing here may
    /// exist, so a reference to it is no error of its own (the unread input is reported).
    may_hide: bool,
    /// Inputs that may have declared objects here and could not be read (or whose place is
    /// uncertain): every removal in this namespace's targets is held while there are any.
    held_by: Vec<String>,
}

impl Namespace<'_> {
    fn is_unusable(&self, kind: Kind, name: &str) -> bool {
        self.unusable.contains_key(&(kind, name.to_string()))
    }

    fn unusable_of(&self, kind: Kind) -> impl Iterator<Item = (&String, &String)> {
        self.unusable
            .iter()
            .filter(move |((k, _), _)| *k == kind)
            .map(|((_, n), why)| (n, why))
    }

    /// Whether a reference to `name` that cannot be resolved is an error: not when the
    /// object exists but cannot be used, nor when it may sit in an input that was not read.
    fn missing_is_error(&self, kind: Kind, name: &str) -> bool {
        !self.is_unusable(kind, name) && !self.may_hide
    }
}

/// Objects that break their CRD's limits or hold what looks like a national identity number:
/// reported, and then treated as unreadable.
fn nonconforming(snap: &Snapshot, problems: &mut Vec<Problem>) -> BTreeMap<ObjectRef, String> {
    fn check_all<K: kube::Resource<DynamicType = ()> + Sync>(
        kind: Kind,
        objects: &[K],
        check: impl Fn(&K) -> Vec<(String, String)> + Sync,
    ) -> Vec<(ObjectRef, Vec<(String, String)>)> {
        crate::par::map_ordered(objects, |o| (object_ref(kind, o), check(o)))
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }
    use super::conform::check;
    let mut bad = check_all(Kind::Tenant, &snap.tenants, |t| {
        check(Kind::Tenant, &t.metadata, &t.spec)
    });
    bad.extend(check_all(Kind::OrgUnit, &snap.org_units, |u| {
        check(Kind::OrgUnit, &u.metadata, &u.spec)
    }));
    bad.extend(check_all(Kind::UserGrant, &snap.user_grants, |g| {
        check(Kind::UserGrant, &g.metadata, &g.spec)
    }));
    bad.extend(check_all(Kind::Integration, &snap.integrations, |i| {
        check(Kind::Integration, &i.metadata, &i.spec)
    }));
    let mut out = BTreeMap::new();
    for (object, found) in bad {
        for (field, reason) in found {
            problems.push(Problem::new(&object, field, reason));
        }
        out.insert(object, "it has errors".to_string());
    }
    out
}

pub fn compile(snap: &Snapshot, today: Date, catalog: &dyn Catalog) -> Compiled {
    let mut out = Compiled::default();
    let nonconforming = nonconforming(snap, &mut out.problems);
    let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
    let new_namespace = |ns: String| Namespace {
        may_hide: snap.may_hide(&ns),
        name: ns,
        tenants: BTreeMap::new(),
        units: BTreeMap::new(),
        grants: BTreeMap::new(),
        integrations: BTreeMap::new(),
        unusable: BTreeMap::new(),
        held_by: Vec::new(),
    };
    for (r, why) in snap.unreadable.iter().chain(&nonconforming) {
        namespaces
            .entry(r.namespace.clone())
            .or_insert_with(|| new_namespace(r.namespace.clone()))
            .unusable
            .insert((r.kind, r.name.clone()), why.clone());
    }
    macro_rules! index {
        ($list:expr, $field:ident, $kind:expr) => {
            for obj in &$list {
                let (ns, name) = ns_name(obj);
                if nonconforming.contains_key(&ObjectRef::new($kind, &ns, &name)) {
                    continue;
                }
                let entry = namespaces
                    .entry(ns.clone())
                    .or_insert_with(|| new_namespace(ns));
                entry
                    .$field
                    .insert(obj.metadata.name.as_deref().unwrap_or_default(), obj);
            }
        };
    }
    index!(snap.tenants, tenants, Kind::Tenant);
    index!(snap.org_units, units, Kind::OrgUnit);
    index!(snap.user_grants, grants, Kind::UserGrant);
    index!(snap.integrations, integrations, Kind::Integration);

    // Tenants are independent: compile them on every core, merge in a fixed order.
    let mut misplaced = Vec::new();
    for ns in namespaces.values_mut() {
        // An object naming a tenant that is not there is frozen wherever it stood before:
        // one bad field never removes what was provisioned. And it may well be in the wrong
        // namespace (a lost `namespace:` line puts it in the default one), so the namespace
        // it meant is unknown: removals are held everywhere until it is fixed.
        for (kind, name) in check_tenant_refs(ns, &mut out) {
            let r = ObjectRef::new(kind, &ns.name, &name);
            misplaced.push(format!(
                "{}: {r} names a Tenant that is not in its namespace, so it may belong to another",
                snap.origin(&r).unwrap_or_else(|| r.to_string())
            ));
            ns.unusable
                .insert((kind, name), "it names a Tenant that does not exist".into());
        }
    }
    for ns in namespaces.values_mut() {
        ns.held_by = snap.unread_in(&ns.name);
        ns.held_by.extend(misplaced.iter().cloned());
    }
    let mut work: Vec<(&Namespace, &str, &Tenant)> = Vec::new();
    for ns in namespaces.values() {
        work.extend(ns.tenants.iter().map(|(name, t)| (ns, *name, *t)));
    }
    for part in crate::par::map_ordered(&work, |(ns, name, tenant)| {
        let mut part = Compiled::default();
        compile_tenant(snap, catalog, ns, name, tenant, today, &mut part);
        part
    }) {
        out.problems.extend(part.problems);
        out.violations.extend(part.violations);
        out.tenants.extend(part.tenants);
        out.targets.extend(part.targets);
    }
    for p in &mut out.problems {
        if p.origin.is_none() {
            p.origin = p.object.as_ref().and_then(|o| snap.origin(o));
        }
    }
    out.problems.sort();
    out.problems.dedup();
    out.violations.sort();
    out
}

/// Objects that name a tenant that is not there: reported, and returned.
fn check_tenant_refs(ns: &Namespace, out: &mut Compiled) -> Vec<(Kind, String)> {
    let mut flagged = Vec::new();
    // A tenant that is there but unreadable has its own error; its objects are frozen
    // without one each.
    let unknown = |tenant: &str| {
        !ns.tenants.contains_key(tenant) && ns.missing_is_error(Kind::Tenant, tenant)
    };
    let known_list = || ns.tenants.keys().copied().collect::<Vec<_>>().join(", ");
    let unknown_reason = |tenant: &str| {
        if ns.tenants.is_empty() {
            format!(
                "Tenant {tenant:?} does not exist in namespace {} (it has no Tenant)",
                ns.name
            )
        } else {
            format!(
                "Tenant {tenant:?} does not exist in namespace {} (known: {})",
                ns.name,
                known_list()
            )
        }
    };
    let mut flag = |r: ObjectRef, tenant: &str| {
        out.problems
            .push(Problem::new(&r, "spec.tenant", unknown_reason(tenant)));
        flagged.push((r.kind, r.name));
    };
    for u in ns.units.values().filter(|u| unknown(&u.spec.tenant)) {
        flag(object_ref(Kind::OrgUnit, *u), &u.spec.tenant);
    }
    for g in ns.grants.values().filter(|g| unknown(&g.spec.tenant)) {
        flag(object_ref(Kind::UserGrant, *g), &g.spec.tenant);
    }
    for i in ns.integrations.values().filter(|i| unknown(&i.spec.tenant)) {
        flag(object_ref(Kind::Integration, *i), &i.spec.tenant);
    }
    flagged
}

/// The tenant's policy with durations parsed; `None` where the tenant is unusable.
struct ParsedPolicy {
    rule: AttestationRule,
    idle: Option<u64>,
    lifetime: Option<u64>,
    login_methods: Vec<String>,
    country: Option<Country>,
}

fn parse_policy(
    tref: &ObjectRef,
    t: &Tenant,
    problems: &mut Vec<Problem>,
    violations: &mut Vec<Violation>,
) -> Option<ParsedPolicy> {
    let spec = &t.spec;
    let before = problems.len();
    if spec.display_name.trim().is_empty() {
        problems.push(Problem::new(tref, "spec.displayName", "must not be empty"));
    }
    for (i, id) in spec.identifiers.iter().enumerate() {
        if let Err(e) = validate_identifier(id.scheme, id.value.trim()) {
            problems.push(Problem::new(
                tref,
                format!("spec.identifiers[{i}].value"),
                format!("{:?} {e}", id.value),
            ));
        }
    }
    let country = match &spec.country {
        Some(c) => match Country::from_code(c) {
            Some(c) => Some(c),
            None => {
                problems.push(Problem::new(
                    tref,
                    "spec.country",
                    format!("{c:?} is not one of FI, SE, DK, NO"),
                ));
                None
            }
        },
        None => spec
            .identifiers
            .iter()
            .find_map(|i| scheme_country(i.scheme)),
    };
    let mut seen = BTreeSet::new();
    for (i, r) in spec.roles.iter().enumerate() {
        if !seen.insert(r.name.as_str()) {
            problems.push(Problem::new(
                tref,
                format!("spec.roles[{i}].name"),
                format!("role {:?} is declared twice", r.name),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, f) in spec.features.iter().enumerate() {
        if !seen.insert(f.as_str()) {
            problems.push(Problem::new(
                tref,
                format!("spec.features[{i}]"),
                format!("feature {f:?} is declared twice"),
            ));
        }
    }
    let mut duration = |field: &str, value: &str| match parse_duration(value) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(Problem::new(tref, field, format!("{value:?} {e}")));
            None
        }
    };
    let p = &spec.policy;
    let interval = duration("spec.policy.attestation.interval", &p.attestation.interval);
    let grace = duration(
        "spec.policy.attestation.gracePeriod",
        &p.attestation.grace_period,
    );
    let idle = p
        .session
        .idle_timeout
        .as_deref()
        .map(|v| duration("spec.policy.session.idleTimeout", v));
    let lifetime = p
        .session
        .max_lifetime
        .as_deref()
        .map(|v| duration("spec.policy.session.maxLifetime", v));
    if interval == Some(0) {
        problems.push(Problem::new(
            tref,
            "spec.policy.attestation.interval",
            "must be longer than zero",
        ));
    }
    let mut login_methods = Vec::new();
    for (i, m) in p.login.methods.iter().enumerate() {
        match login_method_level(m) {
            Err(e) => problems.push(Problem::new(tref, format!("spec.policy.login.methods[{i}]"), e)),
            Ok(level) if level < p.login.minimum_level => violations.push(Violation {
                object: tref.clone(),
                rule: "LoginMethodBelowMinimumLevel",
                message: format!(
                    "login method {m:?} reaches eIDAS level {level:?}, below the policy's minimumLevel {:?}; it is left out of the IdP",
                    p.login.minimum_level
                ),
            }),
            Ok(_) => login_methods.push(m.split('@').next().unwrap_or(m).to_string()),
        }
    }
    if let (Some(idle), Some(life)) = (&idle, &lifetime)
        && let (Some(i), Some(l)) = (idle, life)
        && i > l
    {
        problems.push(Problem::new(
            tref,
            "spec.policy.session.idleTimeout",
            "is longer than maxLifetime",
        ));
    }
    if problems.len() > before {
        return None;
    }
    let days = |secs: u64| secs.div_ceil(86_400) as i64;
    Some(ParsedPolicy {
        rule: AttestationRule {
            interval_days: days(interval?),
            grace_days: days(grace?),
            on_overdue: p.attestation.on_overdue,
        },
        idle: idle.flatten(),
        lifetime: lifetime.flatten(),
        login_methods,
        country,
    })
}

/// The Integration a tenant names for `role`, checked.
fn resolve_integration<'a>(
    catalog: &dyn Catalog,
    ns: &Namespace<'a>,
    tref: &ObjectRef,
    tenant: &str,
    field: &str,
    name: &str,
    role: TargetRole,
    problems: &mut Vec<Problem>,
) -> Option<&'a Integration> {
    let Some(i) = ns.integrations.get(name).copied() else {
        problems.push(Problem::new(
            tref,
            field,
            format!(
                "Integration {name:?} does not exist in namespace {}",
                ns.name
            ),
        ));
        return None;
    };
    if i.spec.tenant != tenant {
        problems.push(Problem::new(
            tref,
            field,
            format!("Integration {name:?} belongs to tenant {:?}", i.spec.tenant),
        ));
        return None;
    }
    let fits = catalog
        .get(i.spec.kind)
        .is_some_and(|k| k.serves().contains(&role));
    if !fits {
        problems.push(Problem::new(
            tref,
            field,
            format!(
                "Integration {name:?} is of kind {}, which cannot serve as {role:?}",
                i.spec.kind.as_str()
            ),
        ));
        return None;
    }
    Some(i)
}

/// Checks an Integration's own spec; false when it cannot be used.
fn check_integration(catalog: &dyn Catalog, i: &Integration, problems: &mut Vec<Problem>) -> bool {
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
        Some(e) => {
            if !kind.schemes().iter().any(|s| e.starts_with(&format!("{s}://"))) {
                problems.push(Problem::new(
                    &iref,
                    "spec.endpoint",
                    format!(
                        "{} does not fit kind {} (use {})",
                        Quoted(e),
                        i.spec.kind.as_str(),
                        kind.schemes().iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ")
                    ),
                ));
            }
        }
    }
    for (field, reason) in kind.check(i) {
        problems.push(Problem::new(&iref, field, reason));
    }
    problems.len() == before
}

fn compile_tenant(
    snap: &Snapshot,
    catalog: &dyn Catalog,
    ns: &Namespace,
    name: &str,
    tenant: &Tenant,
    today: Date,
    out: &mut Compiled,
) {
    let tref = object_ref(Kind::Tenant, tenant);
    let policy = parse_policy(&tref, tenant, &mut out.problems, &mut out.violations);
    let unreadable_unit_names: BTreeSet<String> =
        ns.unusable_of(Kind::OrgUnit).map(|(n, _)| n.clone()).collect();
    let tree_uncertain = !unreadable_unit_names.is_empty() || ns.may_hide;
    let (tree, tree_problems) = build_tree(
        &ns.name,
        name,
        &ns.units,
        &unreadable_unit_names,
        ns.may_hide,
    );
    out.problems.extend(tree_problems);
    let tree_uncertain = tree_uncertain || !tree.broken.is_empty();

    let mut view = TenantView {
        object: tref.clone(),
        counts: TenantCounts::default(),
        units: vec![],
        grants: vec![],
        frozen: vec![],
        unreadable: snap
            .unreadable
            .iter()
            .filter(|(r, _)| r.namespace == ns.name)
            .map(|(r, why)| (r.clone(), why.clone()))
            .collect(),
    };
    view.counts.org_units = (tree.units.len() + tree.broken.len()) as u32;
    for u in tree.units.values() {
        view.units.push(UnitView {
            object: ObjectRef::new(Kind::OrgUnit, &ns.name, &u.name),
            path: u.path.clone(),
            depth: u.depth,
        });
    }
    for b in &tree.broken {
        view.frozen.push((
            ObjectRef::new(Kind::OrgUnit, &ns.name, b),
            "its place in the org tree is broken".into(),
        ));
    }

    // A tenant whose policy cannot be read plans nothing at all (no guessing at defaults),
    // but its objects are still checked so that every error shows at once.
    let usable = policy.is_some();
    let policy = policy.unwrap_or_else(|| ParsedPolicy {
        rule: AttestationRule {
            interval_days: 90,
            grace_days: 14,
            on_overdue: crate::api::OnOverdue::Report,
        },
        idle: None,
        lifetime: None,
        login_methods: vec![],
        country: tenant.spec.country.as_deref().and_then(Country::from_code),
    });
    if !usable {
        view.frozen.push((
            tref.clone(),
            "the Tenant has errors; none of its targets is planned".into(),
        ));
    }

    // Integrations serving this tenant, by role.
    let spec = &tenant.spec;
    let mut serving: Vec<(&Integration, TargetRole)> = Vec::new();
    let wants = spec
        .integrations
        .directory
        .iter()
        .map(|n| {
            (
                "spec.integrations.directory".to_string(),
                n,
                TargetRole::Directory,
            )
        })
        .chain(
            spec.integrations
                .idp
                .iter()
                .map(|n| ("spec.integrations.idp".to_string(), n, TargetRole::Idp)),
        )
        .chain(spec.integrations.extranet.iter().enumerate().map(|(i, n)| {
            (
                format!("spec.integrations.extranet[{i}]"),
                n,
                TargetRole::Extranet,
            )
        }));
    for (field, iname, role) in wants {
        if !ns.integrations.contains_key(iname.as_str())
            && !ns.missing_is_error(Kind::Integration, iname)
        {
            continue; // it carries its own error, or sits in an input that was not read
        }
        if let Some(i) =
            resolve_integration(catalog, ns, &tref, name, &field, iname, role, &mut out.problems)
            && check_integration(catalog, i, &mut out.problems)
        {
            serving.push((i, role));
        }
    }
    for i in ns.integrations.values().filter(|i| i.spec.tenant == name) {
        if !serving.iter().any(|(s, _)| std::ptr::eq(*s, *i)) {
            check_integration(catalog, i, &mut out.problems);
        }
    }

    // Grants: validate each; the bad ones are frozen everywhere.
    let mut resolved: Vec<ResolvedGrant> = Vec::new();
    let mut frozen_people: BTreeSet<String> = BTreeSet::new();
    let mut seen_email: BTreeMap<String, &str> = BTreeMap::new();
    let mut seen_employee: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen_hsa: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen_national: BTreeMap<String, &str> = BTreeMap::new();
    let shared_forbidden = spec.policy.shared_accounts == SharedAccounts::Forbid;
    for (gname, g) in ns.grants.iter().filter(|(_, g)| g.spec.tenant == name) {
        view.counts.user_grants += 1;
        let gref = object_ref(Kind::UserGrant, *g);
        let before = out.problems.len();
        let gs = &g.spec;
        let p = &gs.person;
        if p.given_name.trim().is_empty() {
            out.problems.push(Problem::new(
                &gref,
                "spec.person.givenName",
                "must not be empty",
            ));
        }
        if p.family_name.trim().is_empty() {
            out.problems.push(Problem::new(
                &gref,
                "spec.person.familyName",
                "must not be empty",
            ));
        }
        let email = p.email.trim().to_string();
        if let Err(e) = validate_email(&email) {
            out.problems.push(Problem::new(
                &gref,
                "spec.person.email",
                format!("{email:?} {e}"),
            ));
        } else if let Some(other) = seen_email.insert(email.to_lowercase(), gname) {
            out.problems.push(Problem::new(
                &gref,
                "spec.person.email",
                format!("duplicate person: {email:?} is already the e-mail of UserGrant {other}"),
            ));
        }
        if let Some(e) = p.employee_number.as_deref().filter(|e| !e.is_empty())
            && let Some(other) = seen_employee.insert(e, gname)
        {
            out.problems.push(Problem::new(
                &gref,
                "spec.person.employeeNumber",
                format!(
                    "duplicate person: {e:?} is already the employee number of UserGrant {other}"
                ),
            ));
        }
        if let Some(h) = p.hsa_id.as_deref() {
            if let Err(e) = validate_identifier(crate::api::IdentifierScheme::HsaId, h) {
                out.problems.push(Problem::new(
                    &gref,
                    "spec.person.hsaId",
                    format!("{h:?} {e}"),
                ));
            } else if let Some(other) = seen_hsa.insert(h, gname) {
                out.problems.push(Problem::new(
                    &gref,
                    "spec.person.hsaId",
                    format!("duplicate person: {h:?} is already the HSA-id of UserGrant {other}"),
                ));
            }
        }
        let phone = match p.phone.as_deref() {
            Some(ph) => match normalise_phone(ph, policy.country) {
                Ok(n) => Some(n),
                Err(e) => {
                    out.problems.push(Problem::new(
                        &gref,
                        "spec.person.phone",
                        format!("{ph:?} {e}"),
                    ));
                    None
                }
            },
            None => None,
        };
        let mut unread_secret = None;
        let national_id = match &p.national_id_ref {
            None => None,
            Some(r) => match snap.secret_value(&ns.name, &r.secret_name, &r.key) {
                // A Secret that could not be read carries its own error, once.
                Err(_)
                    if snap.secret(&ns.name, &r.secret_name).is_none()
                        && !ns.missing_is_error(Kind::Secret, &r.secret_name) =>
                {
                    unread_secret = Some(format!(
                        "its Secret {} could not be read",
                        Quoted(&r.secret_name)
                    ));
                    None
                }
                Err(why) => {
                    out.problems
                        .push(Problem::new(&gref, "spec.person.nationalIdRef", why));
                    None
                }
                Ok(value) => {
                    let value = value.trim().to_string();
                    match policy.country {
                        None => out.problems.push(Problem::new(&gref, "spec.person.nationalIdRef", "the Tenant has no country (spec.country or an identifier), so the number cannot be checked")),
                        Some(c) => {
                            if let Err(e) = validate_national_id(c, &value) {
                                // The reason names the check, never the number.
                                out.problems.push(Problem::new(&gref, "spec.person.nationalIdRef", format!("the {} in Secret {:?} key {:?} is not valid: {e}", c.id_name(), r.secret_name, r.key)));
                            } else if let Some(other) = seen_national.insert(value.clone(), gname) {
                                out.problems.push(Problem::new(&gref, "spec.person.nationalIdRef", format!("duplicate person: the same {} as UserGrant {other}", c.id_name())));
                            }
                        }
                    }
                    Some(value)
                }
            },
        };
        for (i, r) in gs.roles.iter().enumerate() {
            if !spec.roles.iter().any(|d| &d.name == r) {
                out.problems.push(Problem::new(
                    &gref,
                    format!("spec.roles[{i}]"),
                    format!(
                        "role {r:?} is not declared on Tenant {name} (declared: {})",
                        names(spec.roles.iter().map(|r| r.name.as_str()))
                    ),
                ));
            }
        }
        for (i, f) in gs.features.iter().enumerate() {
            if !spec.features.contains(f) {
                out.problems.push(Problem::new(
                    &gref,
                    format!("spec.features[{i}]"),
                    format!(
                        "feature {f:?} is not declared on Tenant {name} (declared: {})",
                        names(spec.features.iter().map(String::as_str))
                    ),
                ));
            }
        }
        for (i, grp) in gs.groups.iter().enumerate() {
            if grp.trim().is_empty() || grp.len() > 64 || grp.chars().any(char::is_control) {
                out.problems.push(Problem::new(
                    &gref,
                    format!("spec.groups[{i}]"),
                    format!(
                        "{grp:?} is not a group name (1 to 64 characters, no control characters)"
                    ),
                ));
            }
        }
        if let (Some(from), Some(until)) = (gs.valid_from, gs.valid_until)
            && until < from
        {
            out.problems.push(Problem::new(
                &gref,
                "spec.validUntil",
                format!("{until} is before validFrom {from}"),
            ));
        }
        if let Some(a) = &gs.attestation {
            if a.last_attested > today {
                out.problems.push(Problem::new(
                    &gref,
                    "spec.attestation.lastAttested",
                    format!("{} is in the future", a.last_attested),
                ));
            }
            if a.attested_by.trim().is_empty() {
                out.problems.push(Problem::new(
                    &gref,
                    "spec.attestation.attestedBy",
                    "must say who attested",
                ));
            }
        }
        let home = unit_of(
            ns,
            &tree,
            name,
            &gref,
            "spec.unit",
            &gs.unit,
            &mut out.problems,
        );
        let mut expanded = BTreeSet::new();
        let mut scopes_ok = true;
        let mut uncertain_scope = false;
        for (i, s) in gs.scopes.iter().enumerate() {
            match unit_of(
                ns,
                &tree,
                name,
                &gref,
                &format!("spec.scopes[{i}].unit"),
                &s.unit,
                &mut out.problems,
            ) {
                // Sub-units that could not be placed or read would be missing from the
                // expansion, and the person would lose them: the grant waits instead.
                Some(_) if s.include_descendants && tree_uncertain => {
                    uncertain_scope = true;
                }
                Some(u) if s.include_descendants => {
                    expanded.extend(tree.subtree(&u.name).into_iter().map(String::from))
                }
                Some(u) => {
                    expanded.insert(u.name.clone());
                }
                None => scopes_ok = false,
            }
        }

        let has_errors = out.problems.len() > before;
        let Some(home) = home.filter(|_| {
            scopes_ok && !has_errors && unread_secret.is_none() && !uncertain_scope
        }) else {
            frozen_people.insert(gname.to_string());
            let why = if has_errors {
                "the UserGrant has errors".to_string()
            } else if let Some(why) = unread_secret {
                why
            } else if uncertain_scope {
                "a scope takes in sub-units, and some units of the org tree could not be read or placed".to_string()
            } else {
                "it refers to a unit that is missing or whose place in the org tree is broken"
                    .to_string()
            };
            view.frozen.push((gref, why));
            continue;
        };
        let created = g
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_zoned(jiff::tz::TimeZone::UTC).date());
        let mut life = lifecycle(gs, created, policy.rule, today);
        if gs.shared && shared_forbidden {
            out.violations.push(Violation {
                object: gref.clone(),
                rule: "SharedAccountForbidden",
                message: format!("a shared account, and Tenant {name} forbids them (policy.sharedAccounts: Forbid); it is kept suspended"),
            });
            if life.state == LifecycleState::Active {
                life.state = LifecycleState::Suspended;
                life.reason = "shared accounts are forbidden by the tenant policy".into();
            }
        }
        match life.attestation {
            AttestationState::Due => view.counts.attestation_due += 1,
            AttestationState::Overdue => view.counts.attestation_overdue += 1,
            AttestationState::Current => {}
        }
        match life.state {
            LifecycleState::Pending => view.counts.pending += 1,
            LifecycleState::Active => view.counts.active += 1,
            LifecycleState::Suspended => view.counts.suspended += 1,
            LifecycleState::Expired => view.counts.expired += 1,
            LifecycleState::Revoked => view.counts.revoked += 1,
        }
        view.grants.push(GrantView {
            object: gref.clone(),
            unit: home.name.clone(),
            lifecycle: life.clone(),
        });
        resolved.push(ResolvedGrant {
            name: gname,
            source: gref,
            spec: gs,
            state: life.state,
            home,
            phone,
            email,
            national_id,
            expanded_scopes: expanded,
        });
    }

    // Administrators: at least minAdmins active holders of each admin role.
    let admin_roles: Vec<&str> = spec
        .roles
        .iter()
        .filter(|r| r.admin)
        .map(|r| r.name.as_str())
        .collect();
    let active_admins: BTreeSet<&str> = resolved
        .iter()
        .filter(|g| {
            g.has_access()
                && g.spec
                    .roles
                    .iter()
                    .any(|r| admin_roles.contains(&r.as_str()))
        })
        .map(|g| g.name)
        .collect();
    view.counts.admins = active_admins.len() as u32;
    if admin_roles.is_empty() && spec.policy.min_admins > 0 {
        out.violations.push(Violation {
            object: tref.clone(),
            rule: "TooFewAdmins",
            message: format!(
                "the policy asks for at least {} administrators, but no role is marked admin: true, so no one counts as one",
                spec.policy.min_admins
            ),
        });
    }
    for role in &admin_roles {
        let holders = resolved
            .iter()
            .filter(|g| g.has_access() && g.spec.roles.iter().any(|r| r == role))
            .count() as u32;
        if holders < spec.policy.min_admins {
            out.violations.push(Violation {
                object: tref.clone(),
                rule: "TooFewAdmins",
                message: format!("admin role {role:?} is held by {holders} active people; the policy asks for at least {}", spec.policy.min_admins),
            });
        }
    }

    if !usable {
        out.tenants.push(view);
        return;
    }
    // Grants and units that could not be read at all: frozen as well.
    let unreadable_people: Vec<String> =
        ns.unusable_of(Kind::UserGrant).map(|(n, _)| n.clone()).collect();
    let unreadable_units: Vec<String> = unreadable_unit_names.iter().cloned().collect();
    for kind in [Kind::UserGrant, Kind::OrgUnit] {
        for (n, why) in ns.unusable_of(kind) {
            let r = ObjectRef::new(kind, &ns.name, n);
            // Objects with errors of their own are listed where their grants are checked.
            if !view.frozen.iter().any(|(f, _)| f == &r) {
                view.frozen.push((r, why.clone()));
            }
        }
    }
    frozen_people.extend(unreadable_people);

    let ctx = TenantContext {
        name,
        spec,
        tree: &tree,
        login_methods: policy.login_methods.clone(),
        idle_timeout_secs: policy.idle,
        max_lifetime_secs: policy.lifetime,
    };
    for (integ, role) in serving {
        let Some(kind) = catalog.get(integ.spec.kind) else {
            continue;
        };
        let objects = kind.build(&ctx, &resolved, integ);
        let mut frozen: BTreeSet<ObjectKey> = frozen_people
            .iter()
            .map(|p| ObjectKey::new(ObjectKind::Person, p))
            .collect();
        if role == TargetRole::Directory {
            frozen.extend(
                tree.broken
                    .iter()
                    .chain(&unreadable_units)
                    .map(|u| ObjectKey::new(ObjectKind::Unit, u)),
            );
        }
        out.targets.push(DesiredTarget {
            integration: object_ref(Kind::Integration, integ),
            tenant: name.to_string(),
            kind: integ.spec.kind,
            role,
            management: integ.spec.sync.management.unwrap_or(spec.policy.management),
            deletion: spec.policy.deletion.clone(),
            objects: objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
            frozen,
            unread: ns.held_by.clone(),
        });
    }
    out.tenants.push(view);
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Resolves a unit reference of a grant. Reports missing units and units of another tenant;
/// a unit with a broken place in the tree yields None without a problem of its own (the unit
/// carries it).
fn unit_of<'t>(
    ns: &Namespace,
    tree: &'t OrgTree,
    tenant: &str,
    gref: &ObjectRef,
    field: &str,
    unit: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'t super::tree::UnitNode> {
    if let Some(u) = tree.get(unit) {
        return Some(u);
    }
    if tree.broken.contains(unit) || (!ns.units.contains_key(unit) && !ns.missing_is_error(Kind::OrgUnit, unit)) {
        return None;
    }
    match ns.units.get(unit) {
        Some(u) => problems.push(Problem::new(
            gref,
            field,
            format!(
                "OrgUnit {unit:?} belongs to tenant {:?}, not {tenant:?}",
                u.spec.tenant
            ),
        )),
        None => problems.push(Problem::new(
            gref,
            field,
            format!("OrgUnit {unit:?} does not exist in namespace {}", ns.name),
        )),
    }
    None
}
