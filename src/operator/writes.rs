//! Everything the operator writes to the Kubernetes API: statuses (server-side apply under
//! one field manager, only where they changed), events, finalizers, and the used-up
//! deletion confirmation. Every failure is returned as a `WriteError` whose category labels
//! the error metric; none is swallowed.

use futures::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};
use serde_json::{Value, json};

use crate::engine::status::{Previous, Statuses};
use crate::engine::{Kind, ObjectRef};
use crate::validate::redact::shown;

use super::stores::{current, resource};
use super::{CONFIRM_ANNOTATION, Context, FIELD_MANAGER, finalizers};

/// Status and finalizer writes a reconcile keeps in flight to the API server: a tenant's
/// first reconcile writes one status per grant, and one at a time that is seconds per 1,000.
const WRITES_IN_FLIGHT: usize = 8;

/// A write the API server refused or could not take.
#[derive(Debug, thiserror::Error)]
#[error("{what} of {object} not written: {source}")]
pub struct WriteError {
    /// `status`, `finalizer`, `annotation`, `event`: the metric label.
    pub what: &'static str,
    pub object: String,
    #[source]
    pub source: kube::Error,
}

impl WriteError {
    pub fn category(&self) -> &'static str {
        self.what
    }
}

/// The status and generation a resource shows now, as compile's status builder wants it.
pub fn previous(ctx: &Context, r: &ObjectRef) -> Previous {
    match current(ctx, r) {
        Some(c) => Previous {
            conditions: serde_json::from_value(c.status["conditions"].clone()).unwrap_or_default(),
            generation: c.generation,
            observed_generation: c.status["observedGeneration"].as_i64(),
            last_drift: Some(c.status["lastDrift"].clone()).filter(Value::is_object),
        },
        None => Previous::default(),
    }
}

/// Status without the fields that change on every sync, for "did anything change". Absent,
/// null and empty are the same here: the stored status leaves out empty lists that the wanted
/// one spells out, and writing 100,000 statuses again for that is not a change.
pub fn comparable(v: &Value) -> Value {
    let empty = |v: &Value| {
        v.is_null()
            || v.as_array().is_some_and(|a| a.is_empty())
            || v.as_object().is_some_and(|o| o.is_empty())
    };
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "lastSyncTime" && k.as_str() != "lastTransitionTime")
                .map(|(k, v)| (k.clone(), comparable(v)))
                .filter(|(_, v)| !empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

async fn patch_status(ctx: &Context, r: &ObjectRef, status: &Value) -> Result<(), WriteError> {
    let ar = resource(r.kind);
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &r.namespace, &ar);
    let body = json!({"apiVersion": ar.api_version, "kind": ar.kind, "status": status});
    api.patch_status(
        &r.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map(|_| ())
    .map_err(|source| WriteError {
        what: "status",
        object: r.to_string(),
        source,
    })
}

/// An inbound (scimServer) Integration's status, which no target plan reports.
pub async fn integration_status(ctx: &Context, r: &ObjectRef, status: &Value) -> Result<(), WriteError> {
    patch_status(ctx, r, status).await
}

/// Writes the statuses that changed, then an event for each condition that flipped.
/// Returns how many statuses were written, and the writes that failed.
pub async fn statuses(ctx: &Context, wanted: &Statuses) -> (usize, Vec<WriteError>) {
    let changed: Vec<(&ObjectRef, &Value)> = wanted
        .by_object
        .iter()
        .filter(|(r, status)| {
            current(ctx, r).is_some_and(|c| comparable(&c.status) != comparable(status))
        })
        .collect();
    let written = changed.len();
    // Collected first: a lazy iterator of closures held across an await would not be Send.
    let writes: Vec<_> = changed.into_iter().map(|(r, status)| patch_status(ctx, r, status)).collect();
    let mut failed = failures(writes).await;
    for (r, c) in &wanted.transitions {
        let reason = format!("{}{}", c.type_, if c.status == "True" { "" } else { "False" });
        let note = format!("{}: {}", c.reason, c.message);
        let bad = crate::engine::status::is_bad(c);
        if let Err(e) = publish(ctx, r, None, bad, reason, note).await {
            failed.push(e);
        }
    }
    (written - failed.iter().filter(|e| e.what == "status").count(), failed)
}

/// Objects that do not parse get `Ready: False` (reason `Unreadable`, naming the field) and a
/// warning event, once per change: they are frozen, and a person should know why. A server
/// may refuse the status of an object that no longer fits its schema; the event and the
/// Tenant's `Unreadable` condition still say it.
pub async fn unreadable_statuses(ctx: &Context, ns: &str) -> Vec<WriteError> {
    let pending: Vec<(ObjectRef, String, Option<String>)> = {
        let map = ctx.unreadable.lock().expect("unreadable map");
        let mut reported = ctx.unreadable_reported.lock().expect("reported map");
        reported.retain(|r, _| map.contains_key(r));
        let new: Vec<(ObjectRef, String, Option<String>)> = map
            .iter()
            .filter(|(r, _)| r.namespace == ns && r.kind != Kind::Secret)
            .filter(|(r, (why, _))| reported.get(*r) != Some(why))
            .map(|(r, (why, uid))| (r.clone(), why.clone(), uid.clone()))
            .collect();
        for (r, why, _) in &new {
            reported.insert(r.clone(), why.clone());
        }
        new
    };
    let mut failed = Vec::new();
    for (r, why, uid) in pending {
        let message =
            format!("{why}; what it stands for downstream is left exactly as it is until it is fixed");
        let status = json!({"conditions": [{
            "type": "Ready", "status": "False", "reason": "Unreadable",
            "message": shown(&message),
            "lastTransitionTime": jiff::Timestamp::now().to_string(),
        }]});
        if let Err(e) = patch_status(ctx, &r, &status).await {
            tracing::debug!(object = %r, error = %e, "status of an unreadable object not written");
        }
        if let Err(e) = publish(ctx, &r, uid, true, "Unreadable".into(), message).await {
            failed.push(e);
        }
    }
    failed
}

/// An event on `r`; its uid from the stores unless given.
pub async fn publish(
    ctx: &Context,
    r: &ObjectRef,
    uid: Option<String>,
    warning: bool,
    reason: String,
    note: String,
) -> Result<(), WriteError> {
    let uid = uid.or_else(|| current(ctx, r).and_then(|c| c.meta.uid));
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(resource(r.kind).api_version),
        kind: Some(r.kind.as_str().to_string()),
        name: Some(r.name.clone()),
        namespace: Some(r.namespace.clone()),
        uid,
        ..Default::default()
    };
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason,
        note: Some(shown(&note).chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.recorder
        .publish(&event, &reference)
        .await
        .map_err(|source| WriteError {
            what: "event",
            object: r.to_string(),
            source,
        })
}

/// A warning event on `r` that is always an event of its own. The Recorder folds events
/// with the same reason on the same object into one series that keeps the first note; a
/// record of what was found (each drift repaired) must not lose the later ones.
pub async fn record(ctx: &Context, r: &ObjectRef, reason: &str, note: &str) -> Result<(), WriteError> {
    use k8s_openapi::api::events::v1::Event as EventV1;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    let now = jiff::Timestamp::now();
    let event = EventV1 {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", r.name, now.as_nanosecond())),
            namespace: Some(r.namespace.clone()),
            ..Default::default()
        },
        action: Some("Reconcile".into()),
        reason: Some(reason.into()),
        note: Some(shown(note).chars().take(1000).collect()),
        type_: Some("Warning".into()),
        event_time: Some(MicroTime(now)),
        regarding: Some(k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(resource(r.kind).api_version),
            kind: Some(r.kind.as_str().to_string()),
            name: Some(r.name.clone()),
            namespace: Some(r.namespace.clone()),
            uid: current(ctx, r).and_then(|c| c.meta.uid),
            ..Default::default()
        }),
        reporting_controller: Some("accord-operator".into()),
        reporting_instance: Some(ctx.identity.clone()),
        ..Default::default()
    };
    let api: Api<EventV1> = Api::namespaced(ctx.client.clone(), &r.namespace);
    api.create(&Default::default(), &event)
        .await
        .map(|_| ())
        .map_err(|source| WriteError {
            what: "event",
            object: r.to_string(),
            source,
        })
}

/// Adds accord's finalizer to `obj` if it lacks it.
pub async fn add_finalizer<K>(ctx: &Context, obj: &K) -> Result<(), WriteError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let meta = obj.meta();
    let Some(patch) = finalizers::add_patch(meta.finalizers.as_deref(), meta.resource_version.as_deref())
    else {
        return Ok(());
    };
    finalizer_write(ctx, obj, patch).await
}

/// Removes accord's finalizer from `obj`, and only it.
pub async fn release_finalizer<K>(ctx: &Context, obj: &K) -> Result<(), WriteError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let Some(patch) = finalizers::release_patch(obj.meta().finalizers.as_deref().unwrap_or(&[]))
    else {
        return Ok(());
    };
    finalizer_write(ctx, obj, patch).await
}

async fn finalizer_write<K>(ctx: &Context, obj: &K, patch: json_patch::Patch) -> Result<(), WriteError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let meta = obj.meta();
    let ns = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    finalizers::send(&api, name, patch)
        .await
        .map_err(|source| WriteError {
            what: "finalizer",
            object: format!("{}/{name}", K::kind(&())),
            source,
        })
}

/// Adds the finalizer to many objects, a few at a time; returns the failures.
pub async fn add_finalizers<K>(ctx: &Context, objects: &[K]) -> Vec<WriteError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Sync,
{
    let writes: Vec<_> = objects.iter().map(|o| add_finalizer(ctx, o)).collect();
    failures(writes).await
}

/// Runs the writes, `WRITES_IN_FLIGHT` at a time; returns those that failed.
async fn failures<F>(writes: Vec<F>) -> Vec<WriteError>
where
    F: std::future::Future<Output = Result<(), WriteError>>,
{
    let results: Vec<Result<(), WriteError>> = futures::stream::iter(writes)
        .buffer_unordered(WRITES_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().filter_map(Result::err).collect()
}

/// Removes a used-up deletion confirmation from the Tenant.
pub async fn spend_confirmation(ctx: &Context, ns: &str, tenant: &str) -> Result<(), WriteError> {
    let api: Api<crate::api::Tenant> = Api::namespaced(ctx.client.clone(), ns);
    let unset = json!({"metadata": {"annotations": {CONFIRM_ANNOTATION: null}}});
    api.patch(tenant, &PatchParams::default(), &Patch::Merge(unset))
        .await
        .map(|_| ())
        .map_err(|source| WriteError {
            what: "annotation",
            object: format!("Tenant {ns}/{tenant}"),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::comparable;
    use serde_json::json;

    #[test]
    fn stored_and_wanted_status_compare_equal_when_only_empties_and_sync_times_differ() {
        let stored = json!({"state": "Active", "conditions": [{"type": "Ready", "lastTransitionTime": "a"}]});
        let wanted = json!({"state": "Active", "targets": [], "extra": null, "counts": {},
            "conditions": [{"type": "Ready", "lastTransitionTime": "b"}]});
        assert_eq!(comparable(&stored), comparable(&wanted));
        let changed = json!({"state": "Active", "targets": [{"integration": "dir"}],
            "conditions": [{"type": "Ready"}]});
        assert_ne!(comparable(&stored), comparable(&changed));
    }
}
