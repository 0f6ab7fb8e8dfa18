//! One tenant, reconciled: the namespace's snapshot from the stores, the same compile /
//! observe / diff / apply as `accord apply`, then status, events and finalizers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::api::{Integration, ManagementMode, OrgUnit, Tenant, UserGrant};
use crate::engine::plan::{Baseline, Op, TargetPlan};
use crate::engine::status::{Outcome, Previous, statuses};
use crate::engine::{Kind, ObjectKind, ObjectRef, SecretData, Snapshot, compile, make_plan};
use crate::connectors::{ApplyOptions, Target, find_integration, observe_all};

use super::metrics::{ErrorLabel, IntegrationLabel};
use super::{CONFIRM_ANNOTATION, Context, FIELD_MANAGER, FINALIZER, ORPHAN_ANNOTATION, TenantKey};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Status and finalizer writes a reconcile keeps in flight to the API server: a tenant's
/// first reconcile writes one status per grant, and one at a time that is seconds per 1,000.
const WRITES_IN_FLIGHT: usize = 8;

/// How often the tenant is reconciled without a change: its shortest `sync.interval` (or
/// webhook `fullStateInterval`).
pub fn sync_interval(ctx: &Context, key: &TenantKey) -> Duration {
    ctx.integrations
        .state()
        .iter()
        .filter(|i| i.metadata.namespace.as_deref() == Some(&key.0) && i.spec.tenant == key.1)
        .flat_map(|i| {
            // A webhook's full-state deliveries need the tenant woken up on time too.
            let full = i
                .spec
                .webhook
                .as_ref()
                .and_then(|w| w.full_state_interval.as_deref());
            [Some(i.spec.sync.interval.as_str()), full]
                .into_iter()
                .flatten()
                .filter_map(|d| crate::validate::parse_duration(d).ok())
                .collect::<Vec<_>>()
        })
        .map(|s| Duration::from_secs(s.max(1)))
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

/// One tenant as compile sees it (its namespace's Secrets included); UserGrants being deleted
/// are left out, so that their people are planned for deletion, and returned apart, as are
/// Integrations being deleted.
fn snapshot(ctx: &Context, ns: &str, tenant: &str) -> (Snapshot, Vec<UserGrant>, Vec<Integration>) {
    let mine = |t: &str| t == tenant;
    let (deleting, grants): (Vec<UserGrant>, Vec<UserGrant>) =
        in_ns(ctx.grants.state(), ns, |g| mine(&g.spec.tenant))
            .into_iter()
            .partition(|g| g.metadata.deletion_timestamp.is_some());
    let mut secrets = BTreeMap::new();
    for s in in_ns(ctx.secrets.state(), ns, |_| true) {
        let mut data = BTreeMap::new();
        for (k, v) in s.data.unwrap_or_default() {
            if let Ok(text) = String::from_utf8(v.0) {
                data.insert(k, text);
            }
        }
        data.extend(s.string_data.unwrap_or_default());
        secrets.insert(
            (ns.to_string(), s.metadata.name.unwrap_or_default()),
            SecretData(data),
        );
    }
    let (gone, integrations): (Vec<Integration>, Vec<Integration>) =
        in_ns(ctx.integrations.state(), ns, |i| mine(&i.spec.tenant))
            .into_iter()
            .partition(|i| i.metadata.deletion_timestamp.is_some());
    let snap = Snapshot {
        tenants: in_ns(ctx.tenants.state(), ns, |t| {
            t.metadata.name.as_deref() == Some(tenant)
        }),
        // Units of other tenants stay: compile names them when a parent crosses tenants.
        org_units: in_ns(ctx.units.state(), ns, |_| true),
        user_grants: grants,
        integrations,
        secrets,
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
    (snap, deleting, gone)
}

fn resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Tenant => ApiResource::erase::<Tenant>(&()),
        Kind::OrgUnit => ApiResource::erase::<OrgUnit>(&()),
        Kind::UserGrant => ApiResource::erase::<UserGrant>(&()),
        Kind::Integration => ApiResource::erase::<Integration>(&()),
        Kind::Secret => ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    }
}

/// The status and generation a resource has now, from the stores (an indexed look-up).
fn current(ctx: &Context, r: &ObjectRef) -> Option<(Value, Option<i64>, kube::api::ObjectMeta)> {
    fn find<K>(
        store: &kube::runtime::reflector::Store<K>,
        r: &ObjectRef,
        status: impl Fn(&K) -> Value,
    ) -> Option<(Value, Option<i64>, kube::api::ObjectMeta)>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        let o = store
            .get(&kube::runtime::reflector::ObjectRef::<K>::new(&r.name).within(&r.namespace))?;
        Some((status(&o), o.meta().generation, o.meta().clone()))
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

/// Status without the fields that change on every sync, for "did anything change". Absent,
/// null and empty are the same here: the stored status leaves out empty lists that the wanted
/// one spells out, and writing 100,000 statuses again for that is not a change.
fn comparable(v: &Value) -> Value {
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

/// How a reconcile left its tenant. Degraded when a target could not be reached or written,
/// or a clean-up could not finish: the scheduler then retries with backoff rather than
/// waiting for the next sync interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Degraded,
}

pub async fn reconcile(ctx: &Context, key: &TenantKey) -> Result<Health, String> {
    let mut health = Health::Healthy;
    let (ns, tenant) = key;
    let clock = std::time::Instant::now();
    let (snap, deleting, gone_integrations) = snapshot(ctx, ns, tenant);
    let snapshot_ms = clock.elapsed().as_millis() as u64;
    let Some(tenant_obj) = snap
        .tenants
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some(tenant))
        .cloned()
    else {
        // A Tenant that is there but cannot be read is not gone: nothing of it is touched.
        if snap.is_unreadable(Kind::Tenant, ns, tenant) {
            tracing::warn!(namespace = ns, tenant, "the Tenant cannot be read; its targets are left as they are");
            write_unreadable_statuses(ctx, ns).await;
            return Ok(health);
        }
        // The Tenant is gone (cleaned up or orphaned on its way out): nothing is managed any
        // more, but what is being deleted must not hang on accord's finalizer for ever.
        if ctx.is_leader() {
            for integ in gone_integrations
                .iter()
                .filter(|i| &i.spec.tenant == tenant)
            {
                if orphaned(integ) || clean_up(integ, &snap).await {
                    release_finalizer::<Integration>(
                        ctx,
                        ns,
                        &integ.name_any(),
                        integ.finalizers(),
                    )
                    .await;
                } else {
                    health = Health::Degraded;
                }
            }
            for g in deleting
                .iter()
                .filter(|g| g.finalizers().iter().any(|f| f == FINALIZER))
            {
                release_finalizer::<UserGrant>(ctx, ns, &g.name_any(), g.finalizers()).await;
            }
        }
        return Ok(health);
    };
    if ctx.is_leader() {
        // Integrations being deleted, and every Integration of a Tenant being deleted, give
        // up what they provisioned first (unless annotated to orphan it).
        let tenant_going = tenant_obj.metadata.deletion_timestamp.is_some();
        let mut cleanup: Vec<Integration> = gone_integrations
            .into_iter()
            .filter(|i| &i.spec.tenant == tenant)
            .collect();
        if tenant_going {
            cleanup.extend(
                snap.integrations
                    .iter()
                    .filter(|i| &i.spec.tenant == tenant)
                    .cloned(),
            );
        }
        let mut all_clean = true;
        for integ in &cleanup {
            let orphan = orphaned(integ) || (tenant_going && orphaned(&tenant_obj));
            let clean = orphan || clean_up(integ, &snap).await;
            all_clean &= clean;
            if !clean {
                health = Health::Degraded;
            }
            if clean && integ.metadata.deletion_timestamp.is_some() {
                release_finalizer::<Integration>(ctx, ns, &integ.name_any(), integ.finalizers())
                    .await;
            }
        }
        if tenant_going {
            if all_clean {
                release_finalizer::<Tenant>(ctx, ns, tenant, tenant_obj.finalizers()).await;
            }
            return Ok(health);
        }
        add_finalizer::<Tenant>(
            ctx,
            ns,
            tenant,
            tenant_obj.finalizers(),
            tenant_obj.resource_version(),
        )
        .await;
        for i in snap
            .integrations
            .iter()
            .filter(|i| &i.spec.tenant == tenant)
        {
            add_finalizer::<Integration>(
                ctx,
                ns,
                &i.name_any(),
                i.finalizers(),
                i.resource_version(),
            )
            .await;
        }
    }
    let today = jiff::Zoned::now().date();
    let mut compiled = compile(&snap, today);
    compiled.targets.retain(|t| &t.tenant == tenant);
    let observed = observe_all(&compiled.targets, &snap).await;
    let confirm: u32 = tenant_obj
        .annotations()
        .get(CONFIRM_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let confirmed = compiled
        .targets
        .iter()
        .map(|t| (t.integration.clone(), confirm))
        .collect();
    let plan = make_plan(compiled, &observed, &confirmed);
    let Some(view) = plan
        .tenants
        .iter()
        .find(|t| &t.object.name == tenant)
        .cloned()
    else {
        return Ok(health);
    };

    let leader = ctx.is_leader();
    let planned_ms = clock.elapsed().as_millis() as u64;
    let mut outcomes: BTreeMap<ObjectRef, Outcome> = BTreeMap::new();
    for tp in &plan.targets {
        let label = IntegrationLabel {
            namespace: ns.clone(),
            integration: tp.integration.name.clone(),
        };
        ctx.metrics
            .held
            .get_or_create(&label)
            .set(tp.held.len() as i64);
        let drift = if tp.management == ManagementMode::Observe {
            tp.ops.len()
        } else {
            0
        };
        ctx.metrics.drifted.get_or_create(&label).set(drift as i64);
        if let Baseline::Empty { reason } = &tp.baseline {
            health = Health::Degraded;
            count_target_error(ctx, ns, &tp.integration.name, "unreachable");
            tracing::warn!(
                namespace = ns,
                integration = tp.integration.name,
                reason,
                "target not reachable"
            );
            continue;
        }
        let Some(integration) = find_integration(&snap, &tp.integration) else {
            continue;
        };
        // Webhooks also get the whole state every `fullStateInterval`, so that a receiver
        // sees what it missed.
        let full_state = integration
            .spec
            .webhook
            .as_ref()
            .and_then(|w| w.full_state_interval.as_deref())
            .and_then(|i| crate::validate::parse_duration(i).ok())
            .is_some_and(|every| {
                let last = ctx
                    .full_state
                    .lock()
                    .expect("full-state times")
                    .get(&tp.integration)
                    .copied();
                last.is_none_or(|at| at.elapsed() >= Duration::from_secs(every))
            });
        if !leader || tp.management == ManagementMode::Observe || (tp.ops.is_empty() && !full_state)
        {
            continue;
        }
        let Some(Ok(actual)) = observed.get(&tp.integration) else {
            continue;
        };
        let target = Target::new(integration, &snap).map_err(|e| e.to_string())?;
        let report = target.apply(tp, actual, ApplyOptions { full_state }).await;
        if full_state && report.aborted.is_none() {
            ctx.full_state
                .lock()
                .expect("full-state times")
                .insert(tp.integration.clone(), std::time::Instant::now());
        }
        ctx.metrics
            .writes
            .get_or_create(&label)
            .inc_by(report.writes as u64);
        if !report.ok() {
            health = Health::Degraded;
            count_target_error(ctx, ns, &tp.integration.name, "apply");
        }
        tracing::info!(
            namespace = ns,
            integration = tp.integration.name,
            operations = tp.ops.len(),
            writes = report.writes,
            failed = report.failed.len(),
            aborted = report.aborted.as_deref().unwrap_or(""),
            "applied"
        );
        outcomes.insert(
            tp.integration.clone(),
            Outcome {
                applied: true,
                failed: report
                    .failed
                    .iter()
                    .map(|(k, why)| (k.id.clone(), why.clone()))
                    .collect(),
                aborted: report.aborted.clone(),
            },
        );
    }
    if !leader {
        return Ok(health); // only the leader writes
    }
    // A confirmation is used once: left in place, it would wave through the next mass
    // deletion too. It is kept while a target could not be read or written, so that it
    // still applies when the target is back.
    if confirm > 0 && health == Health::Healthy {
        let released: usize = plan
            .targets
            .iter()
            .filter(|tp| tp.released_by_confirmation)
            .map(|tp| tp.person_deletions)
            .sum();
        let api: Api<Tenant> = Api::namespaced(ctx.client.clone(), ns);
        let unset = json!({"metadata": {"annotations": {CONFIRM_ANNOTATION: null}}});
        match api
            .patch(tenant, &PatchParams::default(), &Patch::Merge(unset))
            .await
        {
            Ok(_) => {
                let note = format!(
                    "{CONFIRM_ANNOTATION}: \"{confirm}\" released {released} held person deletions; the annotation is used up"
                );
                tracing::info!(
                    namespace = ns,
                    tenant,
                    released,
                    "deletion confirmation used"
                );
                let r = ObjectRef::new(Kind::Tenant, ns, tenant);
                publish(ctx, &r, false, "DeletionsConfirmed".into(), note).await;
            }
            Err(e) => tracing::warn!(tenant, error = %e, "deletion confirmation not removed"),
        }
    }

    let applied_ms = clock.elapsed().as_millis() as u64;
    // Every grant gets the finalizer, before status writes change its resourceVersion.
    futures::stream::iter(snap.user_grants.iter().filter(|g| &g.spec.tenant == tenant))
        .for_each_concurrent(WRITES_IN_FLIGHT, |g| {
            add_finalizer::<UserGrant>(
                ctx,
                ns,
                g.meta().name.as_deref().unwrap_or(""),
                g.finalizers(),
                g.resource_version(),
            )
        })
        .await;
    // Status, only where it changed; events where a condition flipped.
    let now = jiff::Timestamp::now();
    let plans: Vec<&TargetPlan> = plan.targets.iter().collect();
    let previous = |r: &ObjectRef| match current(ctx, r) {
        Some((status, generation, _)) => Previous {
            conditions: serde_json::from_value(status["conditions"].clone()).unwrap_or_default(),
            generation,
            observed_generation: status["observedGeneration"].as_i64(),
        },
        None => Previous::default(),
    };
    let wanted = statuses(
        &view,
        &plans,
        &outcomes,
        &plan.errors,
        &plan.policy_violations,
        &previous,
        now,
    );
    let changed: Vec<(&ObjectRef, &Value)> = wanted
        .by_object
        .iter()
        .filter(|(r, status)| {
            current(ctx, r).is_some_and(|(old, _, _)| comparable(&old) != comparable(status))
        })
        .collect();
    let status_writes = changed.len();
    futures::stream::iter(changed)
        .for_each_concurrent(WRITES_IN_FLIGHT, |(r, status)| async move {
            let ar = resource(r.kind);
            let api: Api<DynamicObject> =
                Api::namespaced_with(ctx.client.clone(), &r.namespace, &ar);
            let body = json!({"apiVersion": ar.api_version, "kind": ar.kind, "status": status});
            if let Err(e) = api
                .patch_status(
                    &r.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(body),
                )
                .await
            {
                tracing::warn!(object = %r, error = %e, "status not written");
            }
        })
        .await;
    write_unreadable_statuses(ctx, ns).await;
    for (r, c) in &wanted.transitions {
        let reason = format!(
            "{}{}",
            c.type_,
            if c.status == "True" { "" } else { "False" }
        );
        let note = format!("{}: {}", c.reason, c.message);
        publish(ctx, r, crate::engine::status::is_bad(c), reason, note).await;
    }

    tracing::debug!(
        namespace = ns,
        tenant,
        snapshot_ms,
        planned_ms,
        applied_ms,
        status_ms = clock.elapsed().as_millis() as u64,
        status_writes,
        "reconcile phases"
    );
    // A deleted grant loses the finalizer once no target holds the person.
    for g in deleting
        .iter()
        .filter(|g| &g.spec.tenant == tenant && g.finalizers().iter().any(|f| f == FINALIZER))
    {
        let name = g.name_any();
        let gone_everywhere = plan.targets.iter().all(|tp| {
            let mine = |o: &Op| o.key().kind == ObjectKind::Person && o.key().id == name;
            let live = matches!(tp.baseline, Baseline::Live);
            let held = tp.held.iter().any(mine);
            let pending = tp.ops.iter().any(mine);
            let done = outcomes
                .get(&tp.integration)
                .is_some_and(|o| o.applied && o.aborted.is_none() && !o.failed.contains_key(&name));
            live && !held && (!pending || (done && tp.management == ManagementMode::Enforce))
        });
        if gone_everywhere {
            tracing::info!(
                namespace = ns,
                grant = name,
                "removed from every target; releasing the finalizer"
            );
            release_finalizer::<UserGrant>(ctx, ns, &name, g.finalizers()).await;
        }
    }
    Ok(health)
}

/// Objects that do not parse get `Ready: False` (reason `Unreadable`, naming the field) and a
/// warning event, once per change: they are frozen, and a person should know why.
async fn write_unreadable_statuses(ctx: &Context, ns: &str) {
    if !ctx.is_leader() {
        return;
    }
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
    for (r, why, uid) in pending {
        let message = format!(
            "{why}; what it stands for downstream is left exactly as it is until it is fixed"
        );
        let ar = resource(r.kind);
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &r.namespace, &ar);
        let status = json!({"conditions": [{
            "type": "Ready", "status": "False", "reason": "Unreadable",
            "message": crate::validate::redact::shown(&message),
            "lastTransitionTime": jiff::Timestamp::now().to_string(),
        }]});
        let body = json!({"apiVersion": ar.api_version, "kind": ar.kind, "status": status});
        if let Err(e) = api
            .patch_status(&r.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
            .await
        {
            tracing::warn!(object = %r, error = %e, "status of an unreadable object not written");
        }
        publish_to(ctx, &r, uid, true, "Unreadable".into(), message).await;
    }
}

fn count_target_error(ctx: &Context, ns: &str, integration: &str, kind: &str) {
    ctx.metrics
        .target_errors
        .get_or_create(&ErrorLabel {
            namespace: ns.to_string(),
            integration: integration.to_string(),
            kind: kind.to_string(),
        })
        .inc();
}

/// An event on `r` (looked up in the stores for its uid).
async fn publish(ctx: &Context, r: &ObjectRef, warning: bool, reason: String, note: String) {
    let Some((_, _, meta)) = current(ctx, r) else {
        return;
    };
    publish_to(ctx, r, meta.uid.clone(), warning, reason, note).await;
}

async fn publish_to(
    ctx: &Context,
    r: &ObjectRef,
    uid: Option<String>,
    warning: bool,
    reason: String,
    note: String,
) {
    let note = crate::validate::redact::shown(&note).into_owned();
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
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::debug!(error = %e, "event not published");
    }
}

/// Annotated to leave what it provisioned in place when it is deleted.
fn orphaned(obj: &impl ResourceExt) -> bool {
    obj.annotations()
        .get(ORPHAN_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Deletes everything `integration` owns in its target. True when nothing is left.
async fn clean_up(integration: &Integration, snap: &Snapshot) -> bool {
    let name = integration.name_any();
    if !Target::has_connector(integration.spec.kind) {
        return true; // accord never provisioned anything there
    }
    let target = match Target::new(integration, snap) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(integration = name, error = %e, "cannot clean up");
            return false;
        }
    };
    let actual = match target.observe().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(integration = name, error = %e, "cannot clean up yet");
            return false;
        }
    };
    if actual.objects.is_empty() {
        return true;
    }
    let desired = crate::engine::DesiredTarget {
        integration: ObjectRef::new(
            Kind::Integration,
            crate::connectors::namespace_of(integration),
            &name,
        ),
        tenant: integration.spec.tenant.clone(),
        kind: integration.spec.kind,
        role: crate::engine::TargetRole::Directory,
        management: ManagementMode::Enforce,
        deletion: crate::api::DeletionPolicy {
            max_per_sync: u32::MAX,
            max_percent: 100,
        },
        objects: Default::default(),
        frozen: Default::default(),
        unread: Vec::new(),
    };
    // Deleting the Integration is the confirmation: the deletion guard does not hold this.
    let plan = crate::engine::diff(desired, &actual, Baseline::Live, u32::MAX);
    let report = target.apply(&plan, &actual, ApplyOptions::default()).await;
    tracing::info!(
        integration = name,
        deleted = report.succeeded,
        failed = report.failed.len(),
        "cleaned up what the Integration owned"
    );
    report.ok()
}

async fn add_finalizer<K>(
    ctx: &Context,
    ns: &str,
    name: &str,
    finalizers: &[String],
    rv: Option<String>,
) where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    if finalizers.iter().any(|f| f == FINALIZER) {
        return;
    }
    let mut list = finalizers.to_vec();
    list.push(FINALIZER.to_string());
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let _ = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": list, "resourceVersion": rv}})),
        )
        .await;
}

async fn release_finalizer<K>(ctx: &Context, ns: &str, name: &str, finalizers: &[String])
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let list: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    if let Err(e) = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": list}})),
        )
        .await
    {
        tracing::warn!(name, error = %e, "finalizer not released");
    }
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
