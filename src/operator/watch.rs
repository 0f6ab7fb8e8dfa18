//! Watches: each kind is watched as raw objects and parsed one by one, so that one object
//! that does not parse neither breaks the watch (a typed list fails whole, for ever) nor
//! looks deleted: it is remembered as unreadable, and compile freezes what it stands for.
//! Then every change that reconciling could care about names the tenants it touches.

use crate::validate::Invalid;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

use kube::{Api, Client, Resource};
use tokio::sync::mpsc;

use crate::engine::{Kind, ObjectRef};

use super::TenantKey;

/// Objects in the cluster that exist but do not parse, with why (field and reason, never a
/// value) and their uid (for events).
pub type Unreadable = Arc<Mutex<BTreeMap<ObjectRef, (String, Option<String>)>>>;

/// What the scheduler is told: one tenant changed, or anything in a namespace may have.
#[derive(Debug, PartialEq)]
pub enum Dirty {
    Tenant(TenantKey),
    Namespace(String),
}

/// Watches one kind into a store. `keys` names the tenants an object touches.
pub fn watch<K, F>(
    client: &Client,
    ns: Option<&str>,
    kind: Kind,
    config: watcher::Config,
    unreadable: Unreadable,
    dirty: mpsc::UnboundedSender<Dirty>,
    keys: F,
) -> (Store<K>, impl std::future::Future<Output = ()> + use<K, F>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + Sync
        + 'static,
    F: Fn(&K) -> Vec<TenantKey> + Send + 'static,
{
    let ar = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let mut writer = reflector::store::Writer::<K>::default();
    let reader = writer.as_reader();
    let stream = watcher(api, config)
        .default_backoff()
        .map(|e| e.map(|e| e.modify(slim)));
    let task = async move {
        let mut stream = std::pin::pin!(stream);
        let mut parsing = Parsing::new(kind, unreadable);
        let mut changes = Changes::default();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    let store = writer.as_reader();
                    let stored = |r: &ObjectRef| {
                        store
                            .get(&reflector::ObjectRef::<K>::new(&r.name).within(&r.namespace))
                            .map(|o| (*o).clone())
                    };
                    for typed in parsing.on(event, stored) {
                        writer.apply_watcher_event(&typed);
                        for d in changes.on(&typed, &keys) {
                            let _ = dirty.send(d);
                        }
                    }
                    for ns in parsing.take_touched() {
                        let _ = dirty.send(Dirty::Namespace(ns));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watch error; retrying with backoff"),
            }
        }
    };
    (reader, task)
}

/// Raw watch events → typed ones. Pure apart from the shared `Unreadable` map it keeps.
pub struct Parsing<K> {
    kind: Kind,
    unreadable: Unreadable,
    /// During a relist: the unreadable objects listed so far.
    relisted: Option<BTreeSet<ObjectRef>>,
    /// Namespaces where an object became or stopped being unreadable.
    touched: BTreeSet<String>,
    _k: std::marker::PhantomData<K>,
}

impl<K> Parsing<K>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned,
{
    pub fn new(kind: Kind, unreadable: Unreadable) -> Self {
        Self {
            kind,
            unreadable,
            relisted: None,
            touched: BTreeSet::new(),
            _k: std::marker::PhantomData,
        }
    }

    pub fn take_touched(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.touched)
    }

    fn object_ref(&self, o: &DynamicObject) -> ObjectRef {
        ObjectRef::new(
            self.kind,
            o.metadata.namespace.as_deref().unwrap_or("default"),
            o.metadata.name.as_deref().unwrap_or(""),
        )
    }

    /// The typed events for one raw event. `stored` gives the typed object the store holds.
    pub fn on(
        &mut self,
        event: watcher::Event<DynamicObject>,
        stored: impl Fn(&ObjectRef) -> Option<K>,
    ) -> Vec<watcher::Event<K>> {
        use watcher::Event as E;
        match event {
            E::Init => {
                self.relisted = Some(BTreeSet::new());
                vec![E::Init]
            }
            E::InitDone => {
                if let Some(listed) = self.relisted.take() {
                    let mut map = self.unreadable.lock().expect("unreadable map");
                    let kind = self.kind;
                    map.retain(|r, _| {
                        let keep = r.kind != kind || listed.contains(r);
                        if !keep {
                            self.touched.insert(r.namespace.clone());
                        }
                        keep
                    });
                }
                vec![E::InitDone]
            }
            E::Apply(o) | E::InitApply(o) if o.metadata.name.is_none() => {
                // Never the case for a real API server; nothing to key it by.
                let _ = o;
                Vec::new()
            }
            E::InitApply(o) => {
                let r = self.object_ref(&o);
                match self.parse(&o, &r) {
                    Some(k) => vec![E::InitApply(k)],
                    None => Vec::new(),
                }
            }
            E::Apply(o) => {
                let r = self.object_ref(&o);
                match self.parse(&o, &r) {
                    Some(k) => vec![E::Apply(k)],
                    // It no longer parses: the old version must not be reconciled as if it
                    // were current, so it leaves the store (and is frozen as unreadable).
                    None => stored(&r).map(E::Delete).into_iter().collect(),
                }
            }
            E::Delete(o) => {
                let r = self.object_ref(&o);
                if self.unreadable.lock().expect("unreadable map").remove(&r).is_some() {
                    self.touched.insert(r.namespace.clone());
                }
                match parse::<K>(&o).ok().or_else(|| stored(&r)) {
                    Some(k) => vec![E::Delete(k)],
                    None => Vec::new(),
                }
            }
        }
    }

    fn parse(&mut self, o: &DynamicObject, r: &ObjectRef) -> Option<K> {
        let mut map = self.unreadable.lock().expect("unreadable map");
        match parse::<K>(o) {
            Ok(k) => {
                if map.remove(r).is_some() {
                    self.touched.insert(r.namespace.clone());
                }
                Some(k)
            }
            Err(why) => {
                if let Some(listed) = self.relisted.as_mut() {
                    listed.insert(r.clone());
                }
                let entry = (why.to_string(), o.metadata.uid.clone());
                if map.insert(r.clone(), entry.clone()).as_ref() != Some(&entry) {
                    tracing::warn!(object = %r, "object cannot be read; what it stands for is left as it is");
                    self.touched.insert(r.namespace.clone());
                }
                None
            }
        }
    }
}

/// A raw object as `K`. A status that does not parse is dropped (accord writes it again);
/// anything else that does not parse makes the object unreadable.
pub fn parse<K: serde::de::DeserializeOwned>(o: &DynamicObject) -> Result<K, Invalid> {
    let mut value = serde_json::to_value(o).map_err(|_| Invalid::from("cannot be read"))?;
    let said = |(field, why): (String, String)| {
        Invalid(if field.is_empty() { why } else { format!("{field}: {why}") })
    };
    match crate::api::parse::from_value::<K>(value.clone(), &mut |_| {}) {
        Ok(k) => Ok(k),
        Err((field, _)) if field.starts_with("status") => {
            if let Some(m) = value.as_object_mut() {
                m.remove("status");
            }
            crate::api::parse::from_value::<K>(value, &mut |_| {}).map_err(said)
        }
        Err(e) => Err(said(e)),
    }
}

/// Which watch events wake which tenants: pure, so that it is tested without a cluster.
///
/// Status-only changes are not such a change: accord writes every status itself, and at
/// 100,000 grants re-reconciling a tenant for each of its own status writes kept the
/// scheduler busy with echoes. An object's fingerprint is therefore everything but its
/// status, resourceVersion and managedFields. Objects that vanished while the watch was
/// down (seen again only as a relist) wake every tenant of the namespace.
#[derive(Default)]
pub struct Changes {
    /// Fingerprint of every object seen, by (namespace, name).
    seen: HashMap<(Option<String>, String), u64>,
    /// During a relist: the objects listed so far.
    relisted: Option<std::collections::HashSet<(Option<String>, String)>>,
}

impl Changes {
    pub fn on<K: Resource + serde::Serialize>(
        &mut self,
        event: &watcher::Event<K>,
        keys: &impl Fn(&K) -> Vec<TenantKey>,
    ) -> Vec<Dirty> {
        let id = |o: &K| {
            (
                o.meta().namespace.clone(),
                o.meta().name.clone().unwrap_or_default(),
            )
        };
        let tenants = |o: &K| keys(o).into_iter().map(Dirty::Tenant).collect();
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                if let Some(listed) = self.relisted.as_mut() {
                    listed.insert(id(obj));
                }
                let print = fingerprint(obj);
                if self.seen.insert(id(obj), print) == Some(print) {
                    Vec::new()
                } else {
                    tenants(obj)
                }
            }
            watcher::Event::Delete(obj) => {
                self.seen.remove(&id(obj));
                tenants(obj)
            }
            watcher::Event::Init => {
                self.relisted = Some(Default::default());
                Vec::new()
            }
            watcher::Event::InitDone => {
                let Some(listed) = self.relisted.take() else {
                    return Vec::new();
                };
                // Gone while the watch was down: their tenants are not known any more, so
                // their namespaces' tenants are all woken.
                let mut namespaces = BTreeSet::new();
                self.seen.retain(|id, _| {
                    let keep = listed.contains(id);
                    if !keep {
                        namespaces.insert(id.0.clone().unwrap_or_else(|| "default".into()));
                    }
                    keep
                });
                namespaces.into_iter().map(Dirty::Namespace).collect()
            }
        }
    }
}

/// Leaves out of the stores what accord never reads (real API servers send managedFields and
/// kubectl's last-applied copy with every object: at 100,000 grants that is most of the memory).
pub fn slim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(a) = obj.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A hash of the object without its status and bookkeeping: equal prints, nothing to reconcile.
pub fn fingerprint<K: serde::Serialize>(obj: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::{Changes, Dirty, fingerprint};

    #[test]
    fn only_changes_that_matter_wake_a_tenant_and_a_relist_notices_what_vanished() {
        use kube::runtime::watcher::Event;
        let grant = |name: &str, unit: &str, status: Option<&str>| {
            let mut g = serde_json::json!({"apiVersion": "accord.dev/v1alpha1", "kind": "UserGrant",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"tenant": "acme", "person": {"givenName": "A", "familyName": "V", "email": "a@acme.fi"}, "unit": unit}});
            if let Some(state) = status {
                g["status"] = serde_json::json!({"state": state});
            }
            serde_json::from_value::<crate::api::UserGrant>(g).unwrap()
        };
        let keys = |g: &crate::api::UserGrant| vec![("ns".to_string(), g.spec.tenant.clone())];
        let acme = || vec![Dirty::Tenant(("ns".into(), "acme".into()))];
        let mut changes = Changes::default();
        assert_eq!(changes.on(&Event::Init, &keys), []);
        assert_eq!(
            changes.on(&Event::InitApply(grant("a", "root", None)), &keys),
            acme()
        );
        assert_eq!(
            changes.on(&Event::InitApply(grant("b", "root", None)), &keys),
            acme()
        );
        assert_eq!(changes.on(&Event::InitDone, &keys), []);
        // accord's own status write comes back as an event: not a change.
        assert_eq!(
            changes.on(&Event::Apply(grant("a", "root", Some("Active"))), &keys),
            []
        );
        assert_eq!(
            changes.on(&Event::Apply(grant("a", "other", Some("Active"))), &keys),
            acme()
        );
        assert_eq!(
            changes.on(&Event::Delete(grant("a", "other", None)), &keys),
            acme()
        );
        // A relist after the watch was down: "b" went meanwhile, unseen.
        assert_eq!(
            changes.on(&Event::InitApply(grant("c", "root", None)), &keys),
            acme()
        );
        assert_eq!(changes.on(&Event::Init, &keys), []);
        assert_eq!(
            changes.on(&Event::InitApply(grant("c", "root", None)), &keys),
            []
        );
        assert_eq!(
            changes.on(&Event::InitDone, &keys),
            [Dirty::Namespace("ns".into())]
        );
    }

    #[test]
    fn status_and_bookkeeping_changes_leave_the_fingerprint_alone() {
        let grant = |extra: serde_json::Value| {
            let mut g = serde_json::json!({"apiVersion": "accord.dev/v1alpha1", "kind": "UserGrant",
                "metadata": {"name": "anna", "namespace": "ns", "resourceVersion": "1", "generation": 1},
                "spec": {"tenant": "acme", "person": {"givenName": "Anna", "familyName": "V", "email": "anna@acme.fi"}, "unit": "root"}});
            json_patch(&mut g, extra);
            serde_json::from_value::<crate::api::UserGrant>(g).unwrap()
        };
        let base = fingerprint(&grant(serde_json::json!({})));
        let same = [
            serde_json::json!({"status": {"state": "Active"}}),
            serde_json::json!({"metadata": {"resourceVersion": "7"}}),
            serde_json::json!({"metadata": {"managedFields": [{"manager": "kubectl"}]}}),
        ];
        for change in same {
            assert_eq!(fingerprint(&grant(change.clone())), base, "{change}");
        }
        let different = [
            serde_json::json!({"spec": {"unit": "other"}, "metadata": {"generation": 2}}),
            serde_json::json!({"metadata": {"annotations": {"accord.dev/confirm-deletions": "3"}}}),
            serde_json::json!({"metadata": {"finalizers": ["accord.dev/cleanup"]}}),
            serde_json::json!({"metadata": {"deletionTimestamp": "2026-11-22T10:00:00Z"}}),
        ];
        for change in different {
            assert_ne!(fingerprint(&grant(change.clone())), base, "{change}");
        }
    }

    /// RFC 7386, enough for the test.
    fn json_patch(doc: &mut serde_json::Value, patch: serde_json::Value) {
        match patch {
            serde_json::Value::Object(p) => {
                for (k, v) in p {
                    json_patch(&mut doc[&k], v);
                }
            }
            v => *doc = v,
        }
    }
}
