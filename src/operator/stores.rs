//! Reading the operator's in-memory stores: one tenant's snapshot for compile, the status a
//! resource has now, and how often a tenant is re-read. No writes happen here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::api::{ApiResource, ObjectMeta};
use serde_json::Value;

use crate::api::{Integration, OrgUnit, Tenant, UserGrant};
use crate::connectors::Registry;
use crate::engine::{Kind, ObjectRef, SecretData, Snapshot};

use super::{Context, TenantKey};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// How often the tenant is reconciled without a change: its shortest `sync.interval`, or a
/// connector's full-state interval if shorter (a webhook must be woken up on time too).
pub fn sync_interval(ctx: &Context, registry: &Registry, key: &TenantKey) -> Duration {
    ctx.integrations
        .state()
        .iter()
        .filter(|i| i.metadata.namespace.as_deref() == Some(&key.0) && i.spec.tenant == key.1)
        .flat_map(|i| {
            let sync = crate::validate::parse_duration(&i.spec.sync.interval)
                .ok()
                .map(|s| Duration::from_secs(s.max(1)));
            let full = registry
                .kind(i.spec.kind)
                .and_then(|k| k.full_state_every(i));
            [sync, full].into_iter().flatten()
        })
        .min()
        .unwrap_or(DEFAULT_INTERVAL)
}

/// The store's objects in `ns` that `keep` accepts, cloned. Filtering before cloning matters:
/// the stores hold the whole cluster, a reconcile wants one tenant.
fn in_ns<K: Resource + Clone>(items: Vec<Arc<K>>, ns: &str, keep: impl Fn(&K) -> bool) -> Vec<K> {
    items
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns) && keep(o))
        .map(|o| (*o).clone())
        .collect()
}

/// One tenant as compile sees it.
pub struct TenantSnapshot {
    pub snapshot: Snapshot,
    /// UserGrants being deleted: left out of the snapshot, so that their people are planned
    /// for deletion, and kept here for their finalizers.
    pub deleting: Vec<UserGrant>,
    /// Integrations being deleted, for clean-up.
    pub gone: Vec<Integration>,
}

pub fn snapshot(ctx: &Context, ns: &str, tenant: &str) -> TenantSnapshot {
    let mine = |t: &str| t == tenant;
    let today = jiff::Zoned::now().date();
    let (deleting, mut grants): (Vec<UserGrant>, Vec<UserGrant>) =
        in_ns(ctx.grants.state(), ns, |g| mine(&g.spec.tenant))
            .into_iter()
            .partition(|g| g.metadata.deletion_timestamp.is_some());
    // A leaving date an HR system reported ends validity (and access on the day).
    grants.iter_mut().for_each(|g| crate::engine::inbound::apply_leaving_date(g, today));
    let (gone, integrations): (Vec<Integration>, Vec<Integration>) =
        in_ns(ctx.integrations.state(), ns, |i| mine(&i.spec.tenant))
            .into_iter()
            .partition(|i| i.metadata.deletion_timestamp.is_some());
    let snapshot = Snapshot {
        tenants: in_ns(ctx.tenants.state(), ns, |t| {
            t.metadata.name.as_deref() == Some(tenant)
        }),
        // Units of other tenants stay: compile names them when a parent crosses tenants.
        org_units: in_ns(ctx.units.state(), ns, |_| true),
        user_grants: grants,
        integrations,
        secrets: secrets(ctx, ns),
        origins: BTreeMap::new(),
        // Objects of the namespace that do not parse: frozen, whatever tenant they name.
        unreadable: ctx
            .unreadable
            .lock()
            .expect("unreadable map")
            .iter()
            .filter(|(r, _)| r.namespace == ns)
            .map(|(r, (why, _))| (r.clone(), format!("it cannot be read: {why}")))
            .collect(),
        unread: Vec::new(),
    };
    TenantSnapshot {
        snapshot,
        deleting,
        gone,
    }
}

/// The generation of every object as the snapshot holds it: a status reports on the spec
/// that was compiled. An edit that reached the store while the reconcile ran is still to be
/// carried out, not already seen; taking the store's newer generation would mark it seen,
/// and the next reconcile would call carrying it out a repaired drift.
pub fn compiled_generations(snap: &Snapshot) -> BTreeMap<ObjectRef, i64> {
    fn of<K: Resource>(kind: Kind, objects: &[K]) -> impl Iterator<Item = (ObjectRef, i64)> + '_ {
        objects.iter().filter_map(move |o| {
            let m = o.meta();
            let r = ObjectRef::new(
                kind,
                m.namespace.as_deref().unwrap_or("default"),
                m.name.as_deref().unwrap_or(""),
            );
            Some((r, m.generation?))
        })
    }
    of(Kind::Tenant, &snap.tenants)
        .chain(of(Kind::OrgUnit, &snap.org_units))
        .chain(of(Kind::UserGrant, &snap.user_grants))
        .chain(of(Kind::Integration, &snap.integrations))
        .collect()
}

fn secrets(ctx: &Context, ns: &str) -> BTreeMap<(String, String), SecretData> {
    let mut out = BTreeMap::new();
    for s in in_ns(ctx.secrets.state(), ns, |_| true) {
        let mut data = BTreeMap::new();
        for (k, v) in s.data.unwrap_or_default() {
            if let Ok(text) = String::from_utf8(v.0) {
                data.insert(k, text);
            }
        }
        data.extend(s.string_data.unwrap_or_default());
        out.insert(
            (ns.to_string(), s.metadata.name.unwrap_or_default()),
            SecretData(data),
        );
    }
    out
}

pub fn resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Tenant => ApiResource::erase::<Tenant>(&()),
        Kind::OrgUnit => ApiResource::erase::<OrgUnit>(&()),
        Kind::UserGrant => ApiResource::erase::<UserGrant>(&()),
        Kind::Integration => ApiResource::erase::<Integration>(&()),
        Kind::Secret => ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    }
}

/// A resource as the stores hold it now: its status, generation and metadata.
pub struct Current {
    pub status: Value,
    pub generation: Option<i64>,
    pub meta: ObjectMeta,
}

/// Looked up by key in the stores (indexed, not a scan).
pub fn current(ctx: &Context, r: &ObjectRef) -> Option<Current> {
    fn find<K>(
        store: &kube::runtime::reflector::Store<K>,
        r: &ObjectRef,
        status: impl Fn(&K) -> Value,
    ) -> Option<Current>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        let o = store
            .get(&kube::runtime::reflector::ObjectRef::<K>::new(&r.name).within(&r.namespace))?;
        Some(Current {
            status: status(&o),
            generation: o.meta().generation,
            meta: o.meta().clone(),
        })
    }
    let status = |s: Result<Value, serde_json::Error>| s.unwrap_or_default();
    match r.kind {
        Kind::Tenant => find(&ctx.tenants, r, |o| status(serde_json::to_value(&o.status))),
        Kind::OrgUnit => find(&ctx.units, r, |o| status(serde_json::to_value(&o.status))),
        Kind::UserGrant => find(&ctx.grants, r, |o| status(serde_json::to_value(&o.status))),
        Kind::Integration => find(&ctx.integrations, r, |o| {
            status(serde_json::to_value(&o.status))
        }),
        Kind::Secret => None,
    }
}
