//! `accord operator`: keeps a cluster's Tenants, OrgUnits, UserGrants and Integrations
//! reconciled into their targets, with the same engine as `accord plan|apply`, and reports in
//! status. A thin shell: watches fill stores; a scheduler debounces changes per tenant and
//! re-reads every target on its `sync.interval`; `reconcile` does compile → observe → diff →
//! apply → status.

mod metrics;
mod reconcile;
mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::Client;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::{Integration, OrgUnit, Tenant, UserGrant};
use crate::engine::Kind;
use watch::Dirty;

pub use metrics::Metrics;

pub const FINALIZER: &str = "accord.dev/cleanup";
pub const FIELD_MANAGER: &str = "accord";
/// Annotation on a Tenant: how many held person deletions per target to release.
pub const CONFIRM_ANNOTATION: &str = "accord.dev/confirm-deletions";
/// Annotation on an Integration or Tenant: on deletion, leave what it provisioned in place.
pub const ORPHAN_ANNOTATION: &str = "accord.dev/orphan";

#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// Watch this namespace (default: the kubeconfig's or the pod's namespace).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Watch every namespace.
    #[arg(long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Quiet time after a change before a tenant is reconciled, so a GitOps sync of many
    /// objects becomes one plan.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub debounce: Duration,
    /// Tenants reconciled at the same time; each Integration also bounds its own requests
    /// with `sync.maxConcurrency` and `sync.requestsPerSecond`.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrent_tenants: u32,
    /// The Lease for leader election.
    #[arg(long, default_value = "accord-operator")]
    pub lease: String,
    /// This replica's name in the Lease (default: the host name).
    #[arg(long)]
    pub identity: Option<String>,
    /// Run without leader election (a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::validate::parse_duration(s)
        .map(Duration::from_secs)
        .or_else(|e| {
            s.strip_suffix("ms")
                .and_then(|m| m.parse().ok())
                .map(Duration::from_millis)
                .ok_or(e)
        })
}

/// (namespace, tenant)
pub type TenantKey = (String, String);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub tenants: Store<Tenant>,
    pub units: Store<OrgUnit>,
    pub grants: Store<UserGrant>,
    pub integrations: Store<Integration>,
    pub secrets: Store<Secret>,
    pub metrics: Metrics,
    pub leader: tokio::sync::watch::Receiver<bool>,
    pub recorder: kube::runtime::events::Recorder,
    pub ready: AtomicBool,
    /// Objects in the cluster that do not parse: frozen, reported, never taken for deleted.
    pub unreadable: watch::Unreadable,
    /// The reason last reported for each unreadable object, so it is reported once.
    pub unreadable_reported: std::sync::Mutex<BTreeMap<crate::engine::ObjectRef, String>>,
    /// When each webhook Integration last got the whole state.
    pub full_state: std::sync::Mutex<HashMap<crate::engine::ObjectRef, std::time::Instant>>,
}

impl Context {
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }
}

pub fn run(args: OperatorArgs) -> i32 {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                                // kube-client logs whole response bodies (people's data) when one fails to
                // parse: below error level, nothing of kube's is logged.
                .unwrap_or_else(|_| "info,kube=error,kube_client=error,hyper=warn".into()),
        )
        .with_writer(MaskedStdout)
        .try_init();
    crate::connectors::http::crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(operate(args)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "operator stopped");
            1
        }
    }
}

/// Log lines leave with national identity numbers masked, whoever wrote them: accord, kube,
/// or an error body in which a server echoed a value.
struct MaskedStdout;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskedStdout {
    type Writer = MaskedLine;
    fn make_writer(&'a self) -> MaskedLine {
        MaskedLine(Vec::new())
    }
}

/// One log event, written masked when the subscriber is done with it.
struct MaskedLine(Vec<u8>);

impl std::io::Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = crate::validate::redact::masked(&text);
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), masked.as_bytes());
    }
}

fn tenant_of(ns: Option<&String>, tenant: &str) -> TenantKey {
    (
        ns.cloned().unwrap_or_else(|| "default".into()),
        tenant.to_string(),
    )
}

async fn operate(args: OperatorArgs) -> Result<(), String> {
    let client = Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let namespace = if args.all_namespaces {
        None
    } else {
        Some(
            args.namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string()),
        )
    };
    let ns = namespace.as_deref();
    let identity = args.identity.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME").unwrap_or_else(|_| format!("accord-{}", std::process::id()))
    });
    tracing::info!(
        namespace = ns.unwrap_or("*"),
        identity,
        "accord operator starting"
    );

    let (dirty_tx, mut dirty_rx) = mpsc::unbounded_channel::<Dirty>();
    let unreadable = watch::Unreadable::default();
    let cfg = watcher::Config::default;
    let (tenants, t1) = watch::watch(
        &client,
        ns,
        Kind::Tenant,
        cfg(),
        unreadable.clone(),
        dirty_tx.clone(),
        |t: &Tenant| {
            vec![tenant_of(
                t.metadata.namespace.as_ref(),
                t.metadata.name.as_deref().unwrap_or(""),
            )]
        },
    );
    let (units, t2) = watch::watch(
        &client,
        ns,
        Kind::OrgUnit,
        cfg(),
        unreadable.clone(),
        dirty_tx.clone(),
        |u: &OrgUnit| vec![tenant_of(u.metadata.namespace.as_ref(), &u.spec.tenant)],
    );
    let (grants, t3) = watch::watch(
        &client,
        ns,
        Kind::UserGrant,
        cfg(),
        unreadable.clone(),
        dirty_tx.clone(),
        |g: &UserGrant| vec![tenant_of(g.metadata.namespace.as_ref(), &g.spec.tenant)],
    );
    let (integrations, t4) = watch::watch(
        &client,
        ns,
        Kind::Integration,
        cfg(),
        unreadable.clone(),
        dirty_tx.clone(),
        |i: &Integration| vec![tenant_of(i.metadata.namespace.as_ref(), &i.spec.tenant)],
    );
    // A Secret may hold any tenant's credentials or identity numbers: its namespace's tenants.
    let tenants_for_secrets = tenants.clone();
    let (secrets, t5) = watch::watch(
        &client,
        ns,
        Kind::Secret,
        // Helm keeps every release of the chart as a large Secret in the same namespace;
        // accord never reads those.
        cfg().fields("type!=helm.sh/release.v1"),
        unreadable.clone(),
        dirty_tx.clone(),
        move |s: &Secret| {
            tenants_for_secrets
                .state()
                .iter()
                .filter(|t| t.metadata.namespace == s.metadata.namespace)
                .map(|t| {
                    tenant_of(
                        t.metadata.namespace.as_ref(),
                        t.metadata.name.as_deref().unwrap_or(""),
                    )
                })
                .collect()
        },
    );
    for t in [
        tokio::spawn(t1),
        tokio::spawn(t2),
        tokio::spawn(t3),
        tokio::spawn(t4),
        tokio::spawn(t5),
    ] {
        drop(t);
    }

    // Leader election: only the holder of the Lease writes anywhere.
    let (leader_rx, lease_task) = if args.no_leader_election {
        let (tx, rx) = tokio::sync::watch::channel(true);
        std::mem::forget(tx);
        (rx, None)
    } else {
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &args.lease)
            .with_namespace(ns.unwrap_or("default"))
            .with_identity(&identity)
            .with_duration(15)
            .with_grace(5)
            .with_field_manager(FIELD_MANAGER)
            .build()
            .await
            .map_err(|e| format!("leader election: {e}"))?;
        let (lease_rx, handle) = manager.watch().await;
        // The lease manager gives the Lease up once its receiver is gone. Ours is shared by
        // every reconcile, so a relay owns it and is stopped at shutdown.
        let (tx, rx) = tokio::sync::watch::channel(*lease_rx.borrow());
        let relay = tokio::spawn(async move {
            let mut lease_rx = lease_rx;
            while lease_rx.changed().await.is_ok() {
                let leading = *lease_rx.borrow_and_update();
                if tx.send(leading).is_err() {
                    break;
                }
            }
        });
        (rx, Some((relay, handle)))
    };
    let reporter = kube::runtime::events::Reporter {
        controller: "accord-operator".into(),
        instance: Some(identity.clone()),
    };
    let ctx = Arc::new(Context {
        recorder: kube::runtime::events::Recorder::new(client.clone(), reporter),
        client,
        tenants,
        units,
        grants,
        integrations,
        secrets,
        metrics: Metrics::default(),
        leader: leader_rx,
        ready: AtomicBool::new(false),
        unreadable,
        unreadable_reported: Default::default(),
        full_state: Default::default(),
    });

    let server = tokio::spawn(serve(args.listen.clone(), ctx.clone()));
    for (name, store) in [
        ("tenants", ctx.tenants.wait_until_ready().await.is_ok()),
        ("orgunits", ctx.units.wait_until_ready().await.is_ok()),
        ("usergrants", ctx.grants.wait_until_ready().await.is_ok()),
        (
            "integrations",
            ctx.integrations.wait_until_ready().await.is_ok(),
        ),
        ("secrets", ctx.secrets.wait_until_ready().await.is_ok()),
    ] {
        if !store {
            return Err(format!("the {name} watch never became ready"));
        }
    }
    ctx.ready.store(true, Ordering::SeqCst);
    tracing::info!("stores ready");

    // The scheduler: debounce per tenant, periodic full re-reads, bounded parallelism.
    let mut pending: HashMap<TenantKey, (Instant, Instant)> = HashMap::new(); // first seen, last seen
    let mut next_full: BTreeMap<TenantKey, Instant> = BTreeMap::new();
    // Reconciles report back how they left their tenant; degraded ones are retried sooner.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(TenantKey, bool)>();
    let mut failures: HashMap<TenantKey, u32> = HashMap::new();
    let running: Arc<tokio::sync::Mutex<BTreeSet<TenantKey>>> = Arc::default();
    let parallel = Arc::new(tokio::sync::Semaphore::new(
        args.concurrent_tenants as usize,
    ));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut leader_changes = ctx.leader.clone();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    for t in ctx.tenants.state() {
        pending.insert(
            tenant_of(
                t.metadata.namespace.as_ref(),
                t.metadata.name.as_deref().unwrap_or(""),
            ),
            (Instant::now(), Instant::now()),
        );
    }
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(change) = dirty_rx.recv() => {
                let now = Instant::now();
                let keys = match change {
                    Dirty::Tenant(key) => vec![key],
                    Dirty::Namespace(ns) => ctx.tenants.state().iter()
                        .filter(|t| t.metadata.namespace.as_deref() == Some(ns.as_str()))
                        .map(|t| tenant_of(t.metadata.namespace.as_ref(), t.metadata.name.as_deref().unwrap_or("")))
                        .collect(),
                };
                for key in keys {
                    pending.entry(key).and_modify(|e| e.1 = now).or_insert((now, now));
                }
            }
            Some((key, degraded)) = done_rx.recv() => {
                let exists = ctx.tenants.get(&reflector::ObjectRef::new(&key.1).within(&key.0)).is_some();
                if !exists {
                    // A deleted Tenant needs no more periodic re-reads.
                    next_full.remove(&key);
                    failures.remove(&key);
                } else if degraded {
                    let n = failures.entry(key.clone()).or_insert(0);
                    *n += 1;
                    let wait = retry_after(*n, reconcile::sync_interval(&ctx, &key));
                    tracing::info!(namespace = key.0, tenant = key.1, retry_in_s = wait.as_secs(), "degraded; retrying");
                    next_full.insert(key, Instant::now() + wait);
                } else {
                    failures.remove(&key);
                }
            }
            Ok(()) = leader_changes.changed() => {
                let leading = *leader_changes.borrow();
                ctx.metrics.leader.set(i64::from(leading));
                tracing::info!(leading, "leadership changed");
                if leading {
                    for t in ctx.tenants.state() {
                        pending.insert(tenant_of(t.metadata.namespace.as_ref(), t.metadata.name.as_deref().unwrap_or("")), (Instant::now(), Instant::now()));
                    }
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for (key, at) in next_full.iter() {
                    if *at <= now {
                        pending.entry(key.clone()).or_insert((now, now - args.debounce));
                    }
                }
                let due: Vec<TenantKey> = pending
                    .iter()
                    .filter(|(_, (first, last))| now.duration_since(*last) >= args.debounce || now.duration_since(*first) >= args.debounce * 10)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in due {
                    if running.lock().await.contains(&key) {
                        continue; // picked up again when the running one ends
                    }
                    pending.remove(&key);
                    let interval = reconcile::sync_interval(&ctx, &key);
                    // Jitter of up to a tenth, so that tenants do not all re-read at once.
                    let jitter = interval.mul_f64(f64::from((rand_u32() % 1000) as u16) / 10_000.0);
                    next_full.insert(key.clone(), now + interval + jitter);
                    let (ctx, running, parallel, done) = (ctx.clone(), running.clone(), parallel.clone(), done_tx.clone());
                    running.lock().await.insert(key.clone());
                    tokio::spawn(async move {
                        let queued = std::time::Instant::now();
                        let _permit = parallel.acquire().await;
                        let started = std::time::Instant::now();
                        let result = reconcile::reconcile(&ctx, &key).await;
                        ctx.metrics.duration.observe(started.elapsed().as_secs_f64());
                        tracing::debug!(
                            namespace = key.0,
                            tenant = key.1,
                            queued_ms = (started - queued).as_millis() as u64,
                            took_ms = started.elapsed().as_millis() as u64,
                            "reconciled"
                        );
                        let label = metrics::ResultLabel { result: if result.is_ok() { "ok".into() } else { "error".into() } };
                        ctx.metrics.reconciles.get_or_create(&label).inc();
                        let degraded = match result {
                            Ok(health) => health == reconcile::Health::Degraded,
                            Err(e) => {
                                tracing::warn!(namespace = key.0, tenant = key.1, error = %e, "reconcile failed");
                                true
                            }
                        };
                        running.lock().await.remove(&key);
                        let _ = done.send((key, degraded));
                    });
                }
            }
        }
    }
    tracing::info!("shutting down");
    // Let running reconciles finish their current write, then give up the lease.
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        parallel.acquire_many(args.concurrent_tenants),
    )
    .await;
    if let Some((relay, manager)) = lease_task {
        relay.abort();
        let _ = relay.await;
        // Released, another replica takes over now rather than after the lease runs out.
        match tokio::time::timeout(Duration::from_secs(5), manager).await {
            Ok(Ok(Ok(_))) => tracing::info!("lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "lease not released"),
            Ok(Err(e)) => tracing::warn!(error = %e, "lease not released"),
            Err(_) => tracing::warn!("lease not released within 5s"),
        }
    }
    server.abort();
    Ok(())
}

/// When to try a degraded tenant again: 5 s, doubling per failure in a row, never later than
/// its sync interval.
fn retry_after(failures: u32, interval: Duration) -> Duration {
    let backoff = Duration::from_secs(5).saturating_mul(1 << failures.saturating_sub(1).min(16));
    backoff.min(interval)
}

fn rand_u32() -> u32 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u32::from_le_bytes(b)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn serve(listen: String, ctx: Arc<Context>) {
    use axum::routing::get;
    let ready = ctx.clone();
    let metrics = ctx.clone();
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.ready.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::OK, "ready")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.metrics.encode(),
                    )
                }
            }),
        );
    match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => {
            let _ = axum::serve(l, app).await;
        }
        Err(e) => tracing::error!(listen, error = %e, "cannot serve health and metrics"),
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use super::watch::{Changes, Dirty, fingerprint};
    use std::time::Duration;

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

    #[test]
    fn degraded_tenants_are_retried_with_doubling_backoff_up_to_the_sync_interval() {
        let five_min = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=8)
            .map(|n| retry_after(n, five_min).as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            retry_after(1, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(retry_after(u32::MAX, five_min), five_min);
    }
}
