//! One tenant, reconciled: its snapshot from the stores, the same compile / observe / diff as
//! `accord plan`, the engine's decisions carried out (which plans to apply, when a finalizer
//! may go, when a confirmation is spent), then status, events and finalizers.

use std::collections::BTreeMap;
use std::time::Instant;

use kube::ResourceExt;

use crate::api::{Integration, ManagementMode, Tenant, UserGrant};
use crate::connectors::{ApplyOptions, find_integration};
use crate::engine::decide::{self, Action};
use crate::engine::plan::{Baseline, TargetPlan};
use crate::engine::status::{Outcome, RepairedDrift, integration_notes, statuses};
use crate::engine::{
    Kind, ObjectRef, Observation, ObservedState, Plan, Snapshot, compile, make_plan,
};

use super::metrics::{ErrorLabel, IntegrationLabel, TargetLabel};
use super::stores::{TenantSnapshot, compiled_generations, snapshot};
use super::writes::{self, WriteError};
use super::{CONFIRM_ANNOTATION, Context, ORPHAN_ANNOTATION, TenantKey};

/// How a reconcile left its tenant. Degraded when a target could not be reached or written,
/// a write to the API server failed, or a clean-up could not finish: the scheduler then
/// retries with backoff rather than waiting for the next sync interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Degraded,
    /// The Tenant is gone.
    Gone,
}

/// What went wrong along the way, counted and logged as it happens.
struct Trouble<'a> {
    ctx: &'a Context,
    ns: &'a str,
    degraded: bool,
}

impl Trouble<'_> {
    fn write(&mut self, e: WriteError) {
        tracing::warn!(namespace = self.ns, error = %e, "write not done");
        self.count("kube", e.category());
        self.degraded = true;
    }
    fn writes(&mut self, errors: Vec<WriteError>) {
        errors.into_iter().for_each(|e| self.write(e));
    }
    fn count(&self, integration: &str, category: &str) {
        self.ctx
            .metrics
            .target_errors
            .get_or_create(&ErrorLabel {
                namespace: self.ns.to_string(),
                integration: integration.to_string(),
                kind: category.to_string(),
            })
            .inc();
    }
    fn health(&self) -> Health {
        if self.degraded {
            Health::Degraded
        } else {
            Health::Healthy
        }
    }
}

pub async fn reconcile(ctx: &Context, key: &TenantKey) -> Health {
    let (ns, tenant) = key;
    let clock = Instant::now();
    let mut trouble = Trouble {
        ctx,
        ns,
        degraded: false,
    };
    let TenantSnapshot {
        snapshot: snap,
        deleting,
        gone,
    } = snapshot(ctx, ns, tenant);
    let Some(tenant_obj) = snap.tenants.iter().find(|t| t.name_any() == *tenant).cloned() else {
        return tenant_gone(ctx, &mut trouble, &snap, tenant, &deleting, &gone).await;
    };
    if ctx.is_leader() && !prepare(ctx, &mut trouble, &snap, &tenant_obj, gone).await {
        return trouble.health(); // the Tenant is being deleted
    }
    let snapshot_ms = clock.elapsed().as_millis() as u64;
    let confirm: u32 = tenant_obj
        .annotations()
        .get(CONFIRM_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (plan, observed) = plan(ctx, &snap, tenant, confirm).await;
    let planned_ms = clock.elapsed().as_millis() as u64;
    let outcomes = apply_plans(ctx, &mut trouble, &snap, &plan, &observed).await;
    if !ctx.is_leader() {
        return trouble.health(); // only the leader writes
    }
    if let Some(released) = decide::confirmation_spent(confirm, !trouble.degraded, &plan.targets) {
        spend_confirmation(ctx, &mut trouble, ns, tenant, confirm, released).await;
    }
    let applied_ms = clock.elapsed().as_millis() as u64;
    // Every grant gets the finalizer, before status writes change its resourceVersion.
    let grants: Vec<&UserGrant> = snap.user_grants.iter().filter(|g| g.spec.tenant == *tenant).collect();
    let owned: Vec<UserGrant> = grants.into_iter().cloned().collect();
    trouble.writes(writes::add_finalizers(ctx, &owned).await);
    let status_writes = write_statuses(ctx, &mut trouble, (&snap, &plan), tenant, &outcomes).await;
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
    release_deleted_grants(ctx, &mut trouble, &plan, tenant, &deleting, &outcomes).await;
    trouble.health()
}

/// compile → observe → diff for the tenant; the observations are kept for the applies.
async fn plan(
    ctx: &Context,
    snap: &Snapshot,
    tenant: &str,
    confirm: u32,
) -> (Plan, BTreeMap<ObjectRef, Observation>) {
    let today = jiff::Zoned::now().date();
    let mut compiled = compile(snap, today, ctx.registry);
    compiled.targets.retain(|t| t.tenant == tenant);
    let observed = ctx.registry.observe_all(&compiled.targets, snap).await;
    let confirmed = compiled
        .targets
        .iter()
        .map(|t| (t.integration.clone(), confirm))
        .collect();
    (make_plan(compiled, &observed, &confirmed), observed)
}

/// The Tenant is gone (cleaned up or orphaned on its way out): nothing is managed any more,
/// but what is being deleted must not hang on accord's finalizer for ever. A Tenant that is
/// there but cannot be read is not gone: nothing of it is touched.
async fn tenant_gone(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    snap: &Snapshot,
    tenant: &str,
    deleting: &[UserGrant],
    gone: &[Integration],
) -> Health {
    let ns = trouble.ns;
    if snap.is_unreadable(Kind::Tenant, ns, tenant) {
        tracing::warn!(namespace = ns, tenant, "the Tenant cannot be read; its targets are left as they are");
        trouble.writes(writes::unreadable_statuses(ctx, ns).await);
        return trouble.health();
    }
    if !ctx.is_leader() {
        return Health::Gone;
    }
    for integ in gone {
        if orphaned(integ) || clean_up(ctx, integ, snap).await {
            if let Err(e) = writes::release_finalizer(ctx, integ).await {
                trouble.write(e);
            }
        } else {
            trouble.degraded = true;
        }
    }
    for g in deleting {
        if let Err(e) = writes::release_finalizer(ctx, g).await {
            trouble.write(e);
        }
    }
    if trouble.degraded { Health::Degraded } else { Health::Gone }
}

/// Before planning: Integrations being deleted (every one of a Tenant being deleted) give up
/// what they provisioned unless orphaned, and the Tenant and its Integrations get the
/// finalizer. False when the Tenant itself is on its way out.
async fn prepare(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    snap: &Snapshot,
    tenant: &Tenant,
    gone: Vec<Integration>,
) -> bool {
    let tenant_going = tenant.metadata.deletion_timestamp.is_some();
    let mine = |i: &&Integration| i.spec.tenant == tenant.name_any();
    let mut cleanup: Vec<Integration> = gone.into_iter().filter(|i| mine(&i)).collect();
    if tenant_going {
        cleanup.extend(snap.integrations.iter().filter(mine).cloned());
    }
    let mut all_clean = true;
    for integ in &cleanup {
        let orphan = orphaned(integ) || (tenant_going && orphaned(tenant));
        let clean = orphan || clean_up(ctx, integ, snap).await;
        all_clean &= clean;
        trouble.degraded |= !clean;
        if clean
            && integ.metadata.deletion_timestamp.is_some()
            && let Err(e) = writes::release_finalizer(ctx, integ).await
        {
            trouble.write(e);
        }
    }
    if tenant_going {
        if all_clean && let Err(e) = writes::release_finalizer(ctx, tenant).await {
            trouble.write(e);
        }
        return false;
    }
    if let Err(e) = writes::add_finalizer(ctx, tenant).await {
        trouble.write(e);
    }
    let integrations: Vec<Integration> = snap.integrations.iter().filter(mine).cloned().collect();
    trouble.writes(writes::add_finalizers(ctx, &integrations).await);
    true
}

/// Carries out each target's plan as the engine decides; returns what happened per target.
async fn apply_plans(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    snap: &Snapshot,
    plan: &Plan,
    observed: &BTreeMap<ObjectRef, Observation>,
) -> BTreeMap<ObjectRef, Outcome> {
    let mut outcomes = BTreeMap::new();
    for tp in &plan.targets {
        record_gauges(ctx, trouble.ns, tp);
        let Some(integration) = find_integration(snap, &tp.integration) else {
            continue;
        };
        let due = decide::full_state_due(
            ctx.registry.kind(integration.spec.kind).and_then(|k| k.full_state_every(integration)),
            ctx.last_full_state(&tp.integration),
        );
        let full_state = match decide::action(tp, due) {
            Action::NotApplied(reason) => {
                trouble.degraded = true;
                let category = match &tp.baseline {
                    Baseline::Empty { category, .. } => category.as_str(),
                    Baseline::Live => "unreachable",
                };
                trouble.count(&tp.integration.name, category);
                tracing::warn!(namespace = trouble.ns, integration = tp.integration.name, reason, "target not read");
                continue;
            }
            Action::Report | Action::Nothing => continue,
            Action::Apply { .. } if !ctx.is_leader() => continue,
            Action::Apply { full_state } => full_state,
        };
        let Some(Ok(actual)) = observed.get(&tp.integration) else {
            continue;
        };
        let outcome = apply_one(ctx, trouble, snap, (tp, actual), integration, full_state).await;
        outcomes.insert(tp.integration.clone(), outcome);
    }
    outcomes
}

async fn apply_one(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    snap: &Snapshot,
    (tp, actual): (&TargetPlan, &ObservedState),
    integration: &Integration,
    full_state: bool,
) -> Outcome {
    let report = match ctx.registry.connect(integration, snap) {
        Ok(connector) => connector.apply(tp, actual, ApplyOptions { full_state }).await,
        Err(e) => {
            let mut r = crate::connectors::ApplyReport::new(&tp.integration);
            r.abort(e.to_string(), tp.ops.len());
            trouble.count(&tp.integration.name, e.category());
            r
        }
    };
    if full_state && report.aborted.is_none() {
        ctx.full_state_sent(&tp.integration);
    }
    let label = IntegrationLabel {
        namespace: trouble.ns.to_string(),
        integration: tp.integration.name.clone(),
    };
    ctx.metrics.writes.get_or_create(&label).inc_by(report.writes as u64);
    if !report.ok() {
        trouble.degraded = true;
        trouble.count(&tp.integration.name, "apply");
    }
    tracing::info!(
        namespace = trouble.ns,
        integration = tp.integration.name,
        operations = tp.ops.len(),
        writes = report.writes,
        failed = report.failed.len(),
        aborted = report.aborted.as_deref().unwrap_or(""),
        "applied"
    );
    Outcome {
        applied: true,
        failed: report
            .failed
            .iter()
            .map(|(k, why)| (k.id.clone(), why.clone()))
            .collect(),
        aborted: report.aborted.clone(),
    }
}

fn record_gauges(ctx: &Context, ns: &str, tp: &TargetPlan) {
    let label = IntegrationLabel {
        namespace: ns.to_string(),
        integration: tp.integration.name.clone(),
    };
    ctx.metrics
        .held
        .get_or_create(&label)
        .set((tp.held.len() + tp.held_unread.len()) as i64);
    let drift = if tp.management == ManagementMode::Observe {
        tp.ops.len()
    } else {
        0
    };
    ctx.metrics.drifted.get_or_create(&label).set(drift as i64);
}

/// A confirmation is used once: left in place, it would wave through the next mass
/// deletion too.
async fn spend_confirmation(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    ns: &str,
    tenant: &str,
    confirm: u32,
    released: usize,
) {
    match writes::spend_confirmation(ctx, ns, tenant).await {
        Ok(()) => {
            let note = format!(
                "{CONFIRM_ANNOTATION}: \"{confirm}\" released {released} held person deletions; the annotation is used up"
            );
            tracing::info!(namespace = ns, tenant, released, "deletion confirmation used");
            let r = ObjectRef::new(Kind::Tenant, ns, tenant);
            if let Err(e) = writes::publish(ctx, &r, None, false, "DeletionsConfirmed".into(), note).await {
                trouble.write(e);
            }
        }
        Err(e) => trouble.write(e),
    }
}

/// Status, only where it changed; events where a condition flipped. Returns how many
/// statuses were written.
async fn write_statuses(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    (snap, plan): (&Snapshot, &Plan),
    tenant: &str,
    outcomes: &BTreeMap<ObjectRef, Outcome>,
) -> usize {
    let Some(view) = plan.tenants.iter().find(|t| t.object.name == tenant) else {
        return 0;
    };
    let plans: Vec<&TargetPlan> = plan.targets.iter().collect();
    let generations = compiled_generations(snap);
    let wanted = statuses(
        view,
        &plans,
        outcomes,
        &plan.errors,
        &plan.policy_violations,
        &|r| {
            let mut previous = writes::previous(ctx, r);
            previous.generation = generations.get(r).copied().or(previous.generation);
            previous
        },
        jiff::Timestamp::now(),
    );
    let (written, failed) = writes::statuses(ctx, &wanted).await;
    trouble.writes(failed);
    record_repaired_drift(ctx, trouble, &wanted.repaired).await;
    trouble.writes(writes::unreadable_statuses(ctx, trouble.ns).await);
    written
}

/// Drift the engine found put back: a log line, the counter, and the events it wrote.
async fn record_repaired_drift(ctx: &Context, trouble: &mut Trouble<'_>, repaired: &[RepairedDrift]) {
    for r in repaired {
        tracing::info!(
            namespace = trouble.ns,
            grant = r.grant.name,
            integration = r.integration.name,
            fields = r.field_names().join(","),
            "drift repaired: an entry edited by hand was put back"
        );
        let label = TargetLabel {
            namespace: trouble.ns.to_string(),
            integration: r.integration.name.clone(),
            kind: r.kind.as_str().to_string(),
        };
        ctx.metrics.drift_repaired.get_or_create(&label).inc();
        let e = writes::record(ctx, &r.grant, "DriftRepaired", &r.grant_note()).await;
        if let Err(e) = e {
            trouble.write(e);
        }
    }
    for (integration, note) in integration_notes(repaired) {
        let e = writes::record(ctx, &integration, "DriftRepaired", &note).await;
        if let Err(e) = e {
            trouble.write(e);
        }
    }
}

/// A deleted grant loses the finalizer once no target holds the person.
async fn release_deleted_grants(
    ctx: &Context,
    trouble: &mut Trouble<'_>,
    plan: &Plan,
    tenant: &str,
    deleting: &[UserGrant],
    outcomes: &BTreeMap<ObjectRef, Outcome>,
) {
    for g in deleting.iter().filter(|g| g.spec.tenant == tenant) {
        let name = g.name_any();
        if decide::person_gone_everywhere(&name, &plan.targets, outcomes) {
            tracing::info!(namespace = trouble.ns, grant = name, "removed from every target; releasing the finalizer");
            if let Err(e) = writes::release_finalizer(ctx, g).await {
                trouble.write(e);
            }
        }
    }
}

/// Annotated to leave what it provisioned in place when it is deleted.
fn orphaned(obj: &impl ResourceExt) -> bool {
    obj.annotations()
        .get(ORPHAN_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Deletes everything `integration` owns in its target. True when nothing is left.
async fn clean_up(ctx: &Context, integration: &Integration, snap: &Snapshot) -> bool {
    let name = integration.name_any();
    let Some(kind) = ctx.registry.kind(integration.spec.kind) else {
        return true; // an inbound kind: accord never provisioned anything through it
    };
    if !kind.provisions() {
        return true;
    }
    let connector = match ctx.registry.connect(integration, snap) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(integration = name, error = %e, "cannot clean up");
            return false;
        }
    };
    let actual = match connector.observe().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(integration = name, error = %e, "cannot clean up yet");
            return false;
        }
    };
    if actual.objects.is_empty() {
        return true;
    }
    let r = ObjectRef::new(
        Kind::Integration,
        crate::connectors::namespace_of(integration),
        &name,
    );
    let plan = decide::cleanup_plan(r, &integration.spec.tenant, integration.spec.kind, &actual);
    let report = connector.apply(&plan, &actual, ApplyOptions::default()).await;
    tracing::info!(
        integration = name,
        deleted = report.succeeded,
        failed = report.failed.len(),
        "cleaned up what the Integration owned"
    );
    report.ok()
}
