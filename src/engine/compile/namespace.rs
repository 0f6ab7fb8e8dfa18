//! The snapshot indexed by namespace, with what cannot be used set aside: objects that could
//! not be read, objects outside their CRD's limits, and objects naming a Tenant that is not
//! there. Whatever those stand for downstream is frozen.

use std::collections::BTreeMap;

use crate::api::{Integration, OrgUnit, Tenant, UserGrant};
use crate::engine::conform;
use crate::engine::problem::{Kind, ObjectRef, Problem};
use crate::engine::snapshot::{Snapshot, ns_name, object_ref};
use crate::validate::redact::Quoted;

/// Objects of one namespace, by name.
pub struct Namespace<'a> {
    pub name: String,
    pub tenants: BTreeMap<&'a str, &'a Tenant>,
    pub units: BTreeMap<&'a str, &'a OrgUnit>,
    pub grants: BTreeMap<&'a str, &'a UserGrant>,
    pub integrations: BTreeMap<&'a str, &'a Integration>,
    /// Objects that exist but cannot be used, by (kind, name), with why.
    pub unusable: BTreeMap<(Kind, String), String>,
    /// Some input of this namespace could not be read at all: an object missing here may
    /// exist, so a reference to it is no error of its own (the unread input is reported).
    pub may_hide: bool,
    /// Inputs that may have declared objects here and could not be read (or whose place is
    /// uncertain): every removal in this namespace's targets is held while there are any.
    pub held_by: Vec<String>,
}

impl Namespace<'_> {
    fn new(snap: &Snapshot, name: String) -> Self {
        Namespace {
            may_hide: snap.may_hide(&name),
            name,
            tenants: BTreeMap::new(),
            units: BTreeMap::new(),
            grants: BTreeMap::new(),
            integrations: BTreeMap::new(),
            unusable: BTreeMap::new(),
            held_by: Vec::new(),
        }
    }

    pub fn is_unusable(&self, kind: Kind, name: &str) -> bool {
        self.unusable.contains_key(&(kind, name.to_string()))
    }

    pub fn unusable_of(&self, kind: Kind) -> impl Iterator<Item = (&String, &String)> {
        self.unusable
            .iter()
            .filter(move |((k, _), _)| *k == kind)
            .map(|((_, n), why)| (n, why))
    }

    /// Whether a reference to `name` that cannot be resolved is an error: not when the
    /// object exists but cannot be used, nor when it may sit in an input that was not read.
    pub fn missing_is_error(&self, kind: Kind, name: &str) -> bool {
        !self.is_unusable(kind, name) && !self.may_hide
    }
}

/// Indexes the snapshot; problems of objects outside their CRD's limits and of objects that
/// name a missing Tenant go to `problems`.
pub fn index<'a>(snap: &'a Snapshot, problems: &mut Vec<Problem>) -> BTreeMap<String, Namespace<'a>> {
    let nonconforming = nonconforming(snap, problems);
    let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
    for (r, why) in snap.unreadable.iter().chain(&nonconforming) {
        namespaces
            .entry(r.namespace.clone())
            .or_insert_with(|| Namespace::new(snap, r.namespace.clone()))
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
                    .or_insert_with(|| Namespace::new(snap, ns));
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
    set_aside_misplaced(snap, &mut namespaces, problems);
    namespaces
}

/// An object naming a tenant that is not there is frozen wherever it stood before: one bad
/// field never removes what was provisioned. And it may well be in the wrong namespace (a
/// lost `namespace:` line puts it in the default one), so the namespace it meant is unknown:
/// removals are held everywhere until it is fixed.
fn set_aside_misplaced(
    snap: &Snapshot,
    namespaces: &mut BTreeMap<String, Namespace>,
    problems: &mut Vec<Problem>,
) {
    let mut misplaced = Vec::new();
    for ns in namespaces.values_mut() {
        for (kind, name) in check_tenant_refs(ns, problems) {
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
    let mut bad = check_all(Kind::Tenant, &snap.tenants, |t| {
        conform::check(Kind::Tenant, &t.metadata, &t.spec)
    });
    bad.extend(check_all(Kind::OrgUnit, &snap.org_units, |u| {
        conform::check(Kind::OrgUnit, &u.metadata, &u.spec)
    }));
    bad.extend(check_all(Kind::UserGrant, &snap.user_grants, |g| {
        conform::check(Kind::UserGrant, &g.metadata, &g.spec)
    }));
    bad.extend(check_all(Kind::Integration, &snap.integrations, |i| {
        conform::check(Kind::Integration, &i.metadata, &i.spec)
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

/// Objects that name a tenant that is not there: reported, and returned.
fn check_tenant_refs(ns: &Namespace, problems: &mut Vec<Problem>) -> Vec<(Kind, String)> {
    // A tenant that is there but unreadable has its own error; its objects are frozen
    // without one each.
    let unknown = |tenant: &str| {
        !ns.tenants.contains_key(tenant) && ns.missing_is_error(Kind::Tenant, tenant)
    };
    let reason = |tenant: &str| {
        let known = if ns.tenants.is_empty() {
            "it has no Tenant".to_string()
        } else {
            format!("known: {}", ns.tenants.keys().copied().collect::<Vec<_>>().join(", "))
        };
        format!("Tenant {} does not exist in namespace {} ({known})", Quoted(tenant), ns.name)
    };
    let mut flagged = Vec::new();
    let mut flag = |r: ObjectRef, tenant: &str| {
        problems.push(Problem::new(&r, "spec.tenant", reason(tenant)));
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
