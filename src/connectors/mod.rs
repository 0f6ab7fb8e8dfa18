//! Connectors: one per kind of downstream system, each one file (or folder) and one line in
//! `Registry::standard`. A connector is the pure `TargetKind` the engine plans with (what the
//! system should hold, what it can express) and the I/O of `Connector`: `observe` reads the
//! objects accord owns there, `apply` carries out a plan's operations, idempotently. The engine
//! decides what; a connector only does it.

pub mod http;
pub mod keycloak;
pub mod ldap;
pub mod lemonldap;
pub mod scim;
pub mod webhook;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::Serialize;
use std::time::Duration;

use tokio::time::Instant;

use crate::api::{Integration, IntegrationKind};
use crate::engine::kinds::{Catalog, TargetKind};
use crate::engine::plan::{Op, TargetPlan};
use crate::engine::{
    DesiredTarget, ObjectKey, ObjectRef, Observation, ObservedState, Snapshot, Unobserved,
};

/// Why a connector could not do what was asked. The category is the metric label and says
/// what helps: fixing the Integration, waiting, new credentials, or the refused object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The Integration or its Secrets do not say how to reach the system.
    #[error("{0}")]
    Config(String),
    /// Network, TLS or server down: retry later.
    #[error("{0}")]
    Unreachable(String),
    /// The system refused the credentials.
    #[error("{0}")]
    Auth(String),
    /// The system refused one operation.
    #[error("{0}")]
    Rejected(String),
}

impl TargetError {
    pub fn config(m: impl Into<String>) -> Self {
        Self::Config(m.into())
    }
    pub fn unreachable(m: impl Into<String>) -> Self {
        Self::Unreachable(m.into())
    }
    pub fn auth(m: impl Into<String>) -> Self {
        Self::Auth(m.into())
    }
    pub fn rejected(m: impl Into<String>) -> Self {
        Self::Rejected(m.into())
    }
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
    /// Losing the system (as opposed to one object being refused): the rest of an apply
    /// would fail the same way.
    pub fn is_lost(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Auth(_))
    }
    /// The metric and event label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Unreachable(_) => "unreachable",
            Self::Auth(_) => "auth",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// The I/O half of a connector, for one Integration.
pub trait Connector: Send + Sync {
    /// Reads the objects accord owns in the system.
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>>;

    /// Carries out the plan's operations (never its held ones), against what `observe` found.
    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        options: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport>;

    /// Requests sent so far, where the system counts them (HTTP).
    fn requests(&self) -> Option<usize> {
        None
    }
}

/// A kind of connector: the engine's view of it, and how to connect to one Integration.
pub trait ConnectorKind: TargetKind {
    /// Whether accord writes anything through this kind (so that deleting its Integration
    /// has something to clean up).
    fn provisions(&self) -> bool {
        true
    }

    fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError>;
}

/// Every kind accord can plan for and talk to.
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<&'static dyn ConnectorKind>,
}

impl Registry {
    /// The kinds accord ships. A new kind is one file and one line here.
    pub fn standard() -> Self {
        Self::empty()
            .with(&ldap::LDAP)
            .with(&scim::SCIM)
            .with(&webhook::WEBHOOK)
            .with(&lemonldap::LEMONLDAP)
            .with(&keycloak::KEYCLOAK)
    }

    pub fn empty() -> Self {
        Self { kinds: Vec::new() }
    }

    /// Adds a kind, or replaces the one registered for the same `IntegrationKind`.
    pub fn with(mut self, kind: &'static dyn ConnectorKind) -> Self {
        self.kinds.retain(|k| k.kind() != kind.kind());
        self.kinds.push(kind);
        self
    }

    pub fn kind(&self, kind: IntegrationKind) -> Option<&'static dyn ConnectorKind> {
        self.kinds.iter().find(|k| k.kind() == kind).copied()
    }

    /// A connector for `integration`, or why there is none.
    pub fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError> {
        match self.kind(integration.spec.kind) {
            Some(k) => k.connect(integration, snapshot),
            None => Err(TargetError::config(format!(
                "accord has no connector for {} systems",
                integration.spec.kind.as_str()
            ))),
        }
    }

    /// Reads every target that can be reached, all at once; the others say why not.
    pub async fn observe_all(
        &self,
        targets: &[DesiredTarget],
        snapshot: &Snapshot,
    ) -> BTreeMap<ObjectRef, Observation> {
        let reads = targets.iter().map(|t| async move {
            let result = match find_integration(snapshot, &t.integration) {
                None => Err(TargetError::config(format!(
                    "{} is not in the snapshot",
                    t.integration
                ))),
                Some(i) => match self.connect(i, snapshot) {
                    Err(e) => Err(e),
                    Ok(c) => c.observe().await,
                },
            };
            (t.integration.clone(), result.map_err(Unobserved::from))
        });
        futures::future::join_all(reads).await.into_iter().collect()
    }
}

impl From<TargetError> for Unobserved {
    fn from(e: TargetError) -> Self {
        Unobserved {
            category: e.category(),
            reason: e.to_string(),
        }
    }
}

impl Catalog for Registry {
    fn get(&self, kind: IntegrationKind) -> Option<&dyn TargetKind> {
        self.kind(kind).map(|k| k as &dyn TargetKind)
    }
}

/// The standard registry, for the shells.
pub fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Registry::standard)
}

/// Spaces requests to at most `requestsPerSecond`.
pub struct Pacer {
    interval: Option<Duration>,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    pub fn new(per_second: u32) -> Self {
        let interval =
            (per_second > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(per_second)));
        Self {
            interval,
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    pub async fn wait(&self) {
        let Some(step) = self.interval else { return };
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + step;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

tokio::task_local! {
    /// Told of each operation an apply finishes, when whoever runs the apply wants to show
    /// progress (`with_progress`). A task-local, so that no connector has to pass it along.
    static PROGRESS: std::sync::Arc<dyn Fn() + Send + Sync>;
}

/// Runs `apply` (a connector's `apply`) calling `tick` as each operation finishes.
pub async fn with_progress<F: std::future::Future>(
    tick: std::sync::Arc<dyn Fn() + Send + Sync>,
    apply: F,
) -> F::Output {
    PROGRESS.scope(tick, apply).await
}

/// Runs a plan's operations in waves of independent operations (same phase, kind and depth),
/// at most `concurrency` at a time. A lost connection stops the run: what is left would fail
/// the same way, and a rerun picks it up.
///
/// `apply_op` gets the index of the operation in `plan.ops` (an index, not a reference, so
/// that the futures stay free of higher-ranked lifetimes and can run on spawned tasks).
pub async fn run_waves<F, Fut>(
    plan: &TargetPlan,
    concurrency: usize,
    report: &mut ApplyReport,
    apply_op: F,
) where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<usize, TargetError>>,
{
    use futures::StreamExt;
    let wave = |op: &Op| {
        let (phase, kind, depth, _) = op.order_key();
        (phase, kind, depth)
    };
    let mut i = 0;
    while i < plan.ops.len() {
        let key = wave(&plan.ops[i]);
        let end = plan.ops[i..]
            .iter()
            .position(|o| wave(o) != key)
            .map_or(plan.ops.len(), |n| i + n);
        let results: Vec<(&ObjectKey, Result<usize, TargetError>)> =
            futures::stream::iter((i..end).map(|n| {
                let fut = apply_op(n);
                let key = plan.ops[n].key();
                async move {
                    let result = fut.await;
                    let _ = PROGRESS.try_with(|tick| tick());
                    (key, result)
                }
            }))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        i = end;
        let mut lost = None;
        for (key, r) in results {
            match r {
                Ok(writes) => report.succeeded(key.clone(), writes),
                Err(e) => {
                    if e.is_lost() {
                        lost.get_or_insert_with(|| e.to_string());
                    }
                    report.failed(key.clone(), e.to_string());
                }
            }
        }
        if let Some(reason) = lost {
            report.abort(reason, plan.ops.len() - i);
            return;
        }
    }
}

/// What an apply did to one target.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub integration: Option<ObjectRef>,
    pub succeeded: usize,
    /// Write requests sent (adds, modifies, moves, deletes).
    pub writes: usize,
    /// Requests of any kind, where the target counts them (HTTP targets).
    pub requests: usize,
    pub failed: Vec<(ObjectKey, String)>,
    /// Set when the apply stopped early; `not_attempted` operations were left for a rerun.
    pub aborted: Option<String>,
    pub not_attempted: usize,
}

impl ApplyReport {
    pub fn new(integration: &ObjectRef) -> Self {
        Self {
            integration: Some(integration.clone()),
            ..Default::default()
        }
    }
    pub fn succeeded(&mut self, _key: ObjectKey, writes: usize) {
        self.succeeded += 1;
        self.writes += writes;
    }
    pub fn failed(&mut self, key: ObjectKey, reason: String) {
        self.failed.push((key, reason));
    }
    pub fn abort(&mut self, reason: String, not_attempted: usize) {
        self.aborted = Some(reason);
        self.not_attempted += not_attempted;
    }
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.aborted.is_none()
    }
}

/// How an apply runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions {
    /// Also send the whole state, where the system takes it (webhooks), so that it can see
    /// what it missed. The engine decides when (`engine::decide::full_state_due`).
    pub full_state: bool,
}

/// The namespace an Integration's Secrets are looked up in.
pub(crate) fn namespace_of(integration: &Integration) -> &str {
    integration
        .metadata
        .namespace
        .as_deref()
        .unwrap_or("default")
}

/// The Integration's `spec.endpoint`, which every connector needs.
pub(crate) fn endpoint_of(integration: &Integration) -> Result<&str, TargetError> {
    integration
        .spec
        .endpoint
        .as_deref()
        .ok_or_else(|| TargetError::config("spec.endpoint is missing"))
}

/// A Secret an Integration names; `what` says what it is for ("credentials", "CA").
pub(crate) fn secret_of<'a>(
    snapshot: &'a Snapshot,
    ns: &str,
    name: &str,
    what: &str,
) -> Result<&'a crate::engine::SecretData, TargetError> {
    snapshot
        .named_secret(ns, name)
        .map_err(|why| TargetError::config(format!("{what} {why}")))
}

/// One key of a Secret an Integration names.
pub(crate) fn secret_value_of<'a>(
    snapshot: &'a Snapshot,
    ns: &str,
    name: &str,
    key: &str,
    what: &str,
) -> Result<&'a str, TargetError> {
    snapshot
        .secret_value(ns, name, key)
        .map_err(|why| TargetError::config(format!("{what} {why}")))
}

pub fn find_integration<'a>(snapshot: &'a Snapshot, r: &ObjectRef) -> Option<&'a Integration> {
    snapshot.integrations.iter().find(|i| {
        i.metadata.name.as_deref() == Some(&r.name)
            && i.metadata.namespace.as_deref() == Some(&r.namespace)
    })
}


#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::api::ManagementMode;
    use crate::engine::plan::Baseline;
    use crate::engine::state::{Object, ObjectKind, TargetRole};
    use crate::engine::{Kind, ObjectRef};

    fn plan_of(people: usize) -> TargetPlan {
        let ops = (0..people)
            .map(|i| Op::Create {
                object: Object::new(ObjectKind::Person, format!("p{i}")),
            })
            .collect();
        TargetPlan {
            integration: ObjectRef::new(Kind::Integration, "ns", "dir"),
            tenant: "t".into(),
            kind: IntegrationKind::Ldap,
            role: TargetRole::Directory,
            management: ManagementMode::Enforce,
            baseline: Baseline::Live,
            ops,
            held: vec![],
            held_reason: None,
            held_unread: vec![],
            unread: vec![],
            gaps: vec![],
            unchanged: 0,
            frozen: 0,
            person_deletions: 0,
            released_by_confirmation: false,
        }
    }

    #[tokio::test]
    async fn progress_is_told_of_every_operation_done_or_failed() {
        let plan = plan_of(25);
        let ticks = Arc::new(AtomicUsize::new(0));
        let counted = ticks.clone();
        let tick = Arc::new(move || {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        let mut report = ApplyReport::new(&plan.integration);
        let run = run_waves(&plan, 4, &mut report, |n| async move {
            if n == 3 {
                Err(TargetError::rejected("refused"))
            } else {
                Ok(1)
            }
        });
        with_progress(tick, run).await;
        assert_eq!(ticks.load(Ordering::Relaxed), 25);
        assert_eq!((report.succeeded, report.failed.len()), (24, 1));
        // Without a progress line nothing is told, and nothing fails.
        let mut quiet = ApplyReport::new(&plan.integration);
        run_waves(&plan, 4, &mut quiet, |_| async { Ok(1) }).await;
        assert_eq!(quiet.succeeded, 25);
    }
}
