//! Targets do I/O only: `observe` reads the objects accord owns in a downstream system,
//! `apply` carries out a plan's operations there, idempotently. The engine decides what.

pub mod http;
pub mod ldap;
pub mod scim;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::api::{Integration, IntegrationKind};
use crate::engine::plan::{Op, TargetPlan};
use crate::engine::{DesiredTarget, ObjectKey, ObjectRef, Observation, ObservedState, Snapshot};

/// Why a target could not do what was asked. `kind` is the metric label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The Integration or its Secrets do not say how to reach the target.
    Config,
    /// Network, TLS or server down: retry later.
    Unreachable,
    /// The target refused the credentials.
    Auth,
    /// The target refused one operation.
    Rejected,
}

impl ErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Unreachable => "unreachable",
            Self::Auth => "auth",
            Self::Rejected => "rejected",
        }
    }
}

impl TargetError {
    pub fn config(m: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Config,
            message: m.into(),
        }
    }
    pub fn unreachable(m: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Unreachable,
            message: m.into(),
        }
    }
    pub fn auth(m: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Auth,
            message: m.into(),
        }
    }
    pub fn rejected(m: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Rejected,
            message: m.into(),
        }
    }
    pub fn is_unreachable(&self) -> bool {
        self.kind == ErrorKind::Unreachable
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
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
                async move { (key, fut.await) }
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
                    if matches!(e.kind, ErrorKind::Unreachable | ErrorKind::Auth) {
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

/// A downstream system accord can read and write.
pub enum Target {
    Ldap(Box<ldap::LdapTarget>),
    Scim(Box<scim::ScimTarget>),
    Webhook(Box<webhook::WebhookTarget>),
}

/// How an apply runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions {
    /// Webhooks: also send the whole state, so the receiver can see what it missed.
    pub full_state: bool,
}

impl Target {
    /// Whether accord can reach this kind of target at all.
    pub fn has_connector(kind: IntegrationKind) -> bool {
        matches!(
            kind,
            IntegrationKind::Ldap | IntegrationKind::Scim | IntegrationKind::Webhook
        )
    }

    pub fn new(integration: &Integration, snapshot: &Snapshot) -> Result<Self, TargetError> {
        match integration.spec.kind {
            IntegrationKind::Ldap => Ok(Self::Ldap(Box::new(ldap::LdapTarget::new(
                integration,
                snapshot,
            )?))),
            IntegrationKind::Scim => Ok(Self::Scim(Box::new(scim::ScimTarget::new(
                integration,
                snapshot,
            )?))),
            IntegrationKind::Webhook => Ok(Self::Webhook(Box::new(webhook::WebhookTarget::new(
                integration,
                snapshot,
            )?))),
            k => Err(TargetError::config(format!(
                "accord has no connector for {} targets yet",
                k.as_str()
            ))),
        }
    }

    /// HTTP requests sent so far, for targets that count them.
    pub fn requests(&self) -> Option<usize> {
        match self {
            Self::Ldap(_) => None,
            Self::Scim(t) => Some(t.requests()),
            Self::Webhook(t) => Some(t.requests()),
        }
    }

    pub async fn observe(&self) -> Result<ObservedState, TargetError> {
        match self {
            Self::Ldap(t) => t.observe().await,
            Self::Scim(t) => t.observe().await,
            Self::Webhook(t) => t.observe().await,
        }
    }

    pub async fn apply(
        &self,
        plan: &TargetPlan,
        observed: &ObservedState,
        options: ApplyOptions,
    ) -> ApplyReport {
        match self {
            Self::Ldap(t) => t.apply(plan, observed).await,
            Self::Scim(t) => t.apply(plan, observed).await,
            Self::Webhook(t) => t.apply(plan, observed, options.full_state).await,
        }
    }
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

/// Reads every target that can be reached, all at once; the others say why not.
pub async fn observe_all(
    targets: &[DesiredTarget],
    snapshot: &Snapshot,
) -> BTreeMap<ObjectRef, Observation> {
    let reads = targets.iter().map(|t| async move {
        let result =
            match find_integration(snapshot, &t.integration).map(|i| Target::new(i, snapshot)) {
                None => Err(format!("{} is not in the snapshot", t.integration)),
                Some(Err(e)) => Err(e.to_string()),
                Some(Ok(target)) => target.observe().await.map_err(|e| e.to_string()),
            };
        (t.integration.clone(), result)
    });
    futures::future::join_all(reads).await.into_iter().collect()
}
