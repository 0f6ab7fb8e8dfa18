//! `accord operator`: keeps a cluster's Tenants, OrgUnits, UserGrants and Integrations
//! reconciled into their targets, with the same engine as `accord plan|apply`, and reports in
//! status. A thin shell: watches fill stores (`watch`); a pure scheduler (`schedule`) decides
//! when each tenant runs; `reconcile` does compile → observe → diff → the engine's decisions →
//! apply → status (`writes`).

mod finalizers;
mod inbound;
mod log;
mod metrics;
mod reconcile;
mod schedule;
mod serve;
mod stores;
mod tls;
mod watch;
mod writes;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use tokio::sync::{Semaphore, mpsc};

use crate::api::{Integration, OrgUnit, Tenant, UserGrant};
use crate::connectors::Registry;
use crate::engine::{Kind, ObjectRef};
use schedule::{Finished, Scheduler};
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
    /// Serve inbound SCIM (`/scim/{namespace}/{integration}/v2`, Integrations of kind
    /// scimServer) and the leaver endpoint (`/leavers/{namespace}/{integration}`) here.
    #[arg(long)]
    pub scim_listen: Option<String>,
    /// TLS for --scim-listen: the certificate chain (PEM). Without it, plain HTTP (for an
    /// ingress that terminates TLS).
    #[arg(long, requires = "scim_tls_key", requires = "scim_listen")]
    pub scim_tls_cert: Option<String>,
    /// TLS for --scim-listen: the private key (PEM).
    #[arg(long, requires = "scim_tls_cert")]
    pub scim_tls_key: Option<String>,
}

fn duration(s: &str) -> Result<Duration, crate::validate::Invalid> {
    crate::validate::parse_duration(s)
        .map(Duration::from_secs)
        .or_else(|e| {
            s.strip_suffix("ms")
                .and_then(|m| m.parse().ok())
                .map(Duration::from_millis)
                .ok_or(e)
        })
}

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Connect(#[source] kube::Error),
    #[error("leader election: {0}")]
    Lease(String),
    #[error("the {0} watch never became ready")]
    NotReady(&'static str),
}

/// (namespace, tenant)
pub type TenantKey = (String, String);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub registry: &'static Registry,
    pub tenants: Store<Tenant>,
    pub units: Store<OrgUnit>,
    pub grants: Store<UserGrant>,
    pub integrations: Store<Integration>,
    pub secrets: Store<Secret>,
    pub metrics: Metrics,
    pub leader: tokio::sync::watch::Receiver<bool>,
    pub recorder: kube::runtime::events::Recorder,
    /// This replica's name, the reporting instance of the events it writes.
    pub identity: String,
    pub ready: AtomicBool,
    /// Objects in the cluster that do not parse: frozen, reported, never taken for deleted.
    pub unreadable: watch::Unreadable,
    /// The reason last reported for each unreadable object, so it is reported once.
    pub unreadable_reported: std::sync::Mutex<BTreeMap<ObjectRef, String>>,
    /// When each Integration last got the whole state (webhooks).
    full_state: std::sync::Mutex<BTreeMap<ObjectRef, std::time::Instant>>,
}

impl Context {
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }
    /// Time since `integration` last got the whole state; None: never.
    pub fn last_full_state(&self, integration: &ObjectRef) -> Option<Duration> {
        let sent = self.full_state.lock().expect("full-state times");
        sent.get(integration).map(|at| at.elapsed())
    }
    pub fn full_state_sent(&self, integration: &ObjectRef) {
        let mut sent = self.full_state.lock().expect("full-state times");
        sent.insert(integration.clone(), std::time::Instant::now());
    }
    fn tenant_keys(&self, namespace: Option<&str>) -> Vec<TenantKey> {
        self.tenants
            .state()
            .iter()
            .filter(|t| namespace.is_none_or(|ns| t.metadata.namespace.as_deref() == Some(ns)))
            .map(|t| key_of(t))
            .collect()
    }
}

pub fn run(args: OperatorArgs) -> i32 {
    log::init();
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

fn tenant_of(ns: Option<&String>, tenant: &str) -> TenantKey {
    (
        ns.cloned().unwrap_or_else(|| "default".into()),
        tenant.to_string(),
    )
}

fn key_of(t: &Tenant) -> TenantKey {
    tenant_of(t.metadata.namespace.as_ref(), t.metadata.name.as_deref().unwrap_or(""))
}

/// The watches: one per kind, into stores; every change names the tenants it touches.
struct Watches {
    tenants: Store<Tenant>,
    units: Store<OrgUnit>,
    grants: Store<UserGrant>,
    integrations: Store<Integration>,
    secrets: Store<Secret>,
    unreadable: watch::Unreadable,
    changes: mpsc::UnboundedReceiver<Dirty>,
}

fn start_watches(client: &Client, ns: Option<&str>) -> Watches {
    let (tx, changes) = mpsc::unbounded_channel::<Dirty>();
    let unreadable = watch::Unreadable::default();
    let cfg = watcher::Config::default;
    macro_rules! kind {
        ($k:expr, $config:expr, $keys:expr) => {{
            let (store, task) =
                watch::watch(client, ns, $k, $config, unreadable.clone(), tx.clone(), $keys);
            tokio::spawn(task);
            store
        }};
    }
    let tenants = kind!(Kind::Tenant, cfg(), |t: &Tenant| vec![key_of(t)]);
    let units = kind!(Kind::OrgUnit, cfg(), |u: &OrgUnit| {
        vec![tenant_of(u.metadata.namespace.as_ref(), &u.spec.tenant)]
    });
    let grants = kind!(Kind::UserGrant, cfg(), |g: &UserGrant| {
        vec![tenant_of(g.metadata.namespace.as_ref(), &g.spec.tenant)]
    });
    let integrations = kind!(Kind::Integration, cfg(), |i: &Integration| {
        vec![tenant_of(i.metadata.namespace.as_ref(), &i.spec.tenant)]
    });
    // A Secret may hold any tenant's credentials or identity numbers: its namespace's
    // tenants. Helm keeps every release of the chart as a large Secret; accord never reads
    // those.
    let of_secrets = tenants.clone();
    let secrets = kind!(
        Kind::Secret,
        cfg().fields("type!=helm.sh/release.v1"),
        move |s: &Secret| {
            of_secrets
                .state()
                .iter()
                .filter(|t| t.metadata.namespace == s.metadata.namespace)
                .map(|t| key_of(t))
                .collect()
        }
    );
    Watches {
        tenants,
        units,
        grants,
        integrations,
        secrets,
        unreadable,
        changes,
    }
}

/// Leader election: only the holder of the Lease writes anywhere. The lease manager gives
/// the Lease up once its receiver is gone; ours is shared by every reconcile, so a relay owns
/// it and is stopped at shutdown.
type Lease = (
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
);

async fn elect(
    client: &Client,
    args: &OperatorArgs,
    ns: Option<&str>,
    identity: &str,
) -> Result<(tokio::sync::watch::Receiver<bool>, Option<Lease>), OperatorError> {
    if args.no_leader_election {
        let (tx, rx) = tokio::sync::watch::channel(true);
        std::mem::forget(tx);
        return Ok((rx, None));
    }
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &args.lease)
        .with_namespace(ns.unwrap_or("default"))
        .with_identity(identity)
        .with_duration(15)
        .with_grace(5)
        // One field manager per replica: the lease manager takes the Lease by server-side
        // apply, and only distinct managers conflict. A shared one let two replicas both hold
        // it (seen on a real API server: both wrote to LDAP).
        .with_field_manager(format!("{FIELD_MANAGER}-lease-{identity}"))
        .build()
        .await
        .map_err(|e| OperatorError::Lease(e.to_string()))?;
    let (lease_rx, handle) = manager.watch().await;
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
    Ok((rx, Some((relay, handle))))
}

async fn operate(args: OperatorArgs) -> Result<(), OperatorError> {
    let client = Client::try_default().await.map_err(OperatorError::Connect)?;
    let namespace = match (&args.namespace, args.all_namespaces) {
        (_, true) => None,
        (Some(ns), _) => Some(ns.clone()),
        (None, false) => Some(client.default_namespace().to_string()),
    };
    let ns = namespace.as_deref();
    let identity = args.identity.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME").unwrap_or_else(|_| format!("accord-{}", std::process::id()))
    });
    tracing::info!(namespace = ns.unwrap_or("*"), identity, "accord operator starting");

    let w = start_watches(&client, ns);
    let (leader, lease) = elect(&client, &args, ns, &identity).await?;
    let reporter = kube::runtime::events::Reporter {
        controller: "accord-operator".into(),
        instance: Some(identity.clone()),
    };
    let ctx = Arc::new(Context {
        recorder: kube::runtime::events::Recorder::new(client.clone(), reporter),
        identity: identity.clone(),
        client,
        registry: crate::connectors::registry(),
        tenants: w.tenants,
        units: w.units,
        grants: w.grants,
        integrations: w.integrations,
        secrets: w.secrets,
        metrics: Metrics::default(),
        leader,
        ready: AtomicBool::new(false),
        unreadable: w.unreadable,
        unreadable_reported: Default::default(),
        full_state: Default::default(),
    });
    let server = tokio::spawn(serve::serve(args.listen.clone(), ctx.clone()));
    wait_for_stores(&ctx).await?;
    ctx.ready.store(true, Ordering::SeqCst);
    tracing::info!("stores ready");
    let inbound = args.scim_listen.clone().map(|listen| {
        let tls = args.scim_tls_cert.clone().zip(args.scim_tls_key.clone());
        let server = Arc::new(crate::producers::scim::http::Server {
            service: crate::producers::scim::service::Service::new(inbound::KubeBackend::new(ctx.clone())),
            tls: tls.is_some(),
        });
        let serving = tokio::spawn(inbound::serve(listen, tls, server.clone()));
        let tending = tokio::spawn(inbound::housekeeping(ctx.clone(), server));
        (serving, tending)
    });

    let parallel = Arc::new(Semaphore::new(args.concurrent_tenants as usize));
    drive(&ctx, &args, w.changes, parallel.clone()).await;

    tracing::info!("shutting down");
    // Let running reconciles finish their current write, then give up the lease.
    let _ = tokio::time::timeout(Duration::from_secs(20), parallel.acquire_many(args.concurrent_tenants)).await;
    if let Some(lease) = lease {
        release_lease(lease).await;
    }
    server.abort();
    if let Some((serving, tending)) = inbound {
        serving.abort();
        tending.abort();
    }
    Ok(())
}

async fn wait_for_stores(ctx: &Context) -> Result<(), OperatorError> {
    let ready = [
        ("tenants", ctx.tenants.wait_until_ready().await.is_ok()),
        ("orgunits", ctx.units.wait_until_ready().await.is_ok()),
        ("usergrants", ctx.grants.wait_until_ready().await.is_ok()),
        ("integrations", ctx.integrations.wait_until_ready().await.is_ok()),
        ("secrets", ctx.secrets.wait_until_ready().await.is_ok()),
    ];
    match ready.into_iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(OperatorError::NotReady(name)),
        None => Ok(()),
    }
}

/// Given up, another replica takes over now rather than after the lease runs out.
async fn release_lease((relay, manager): Lease) {
    relay.abort();
    let _ = relay.await;
    match tokio::time::timeout(Duration::from_secs(5), manager).await {
        Ok(Ok(Ok(_))) => tracing::info!("lease released"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "lease not released"),
        Ok(Err(e)) => tracing::warn!(error = %e, "lease not released"),
        Err(_) => tracing::warn!("lease not released within 5s"),
    }
}

/// The scheduler's driver: feeds it changes, leadership and finished reconciles, and starts
/// what it says is due, at most `concurrent_tenants` at once. Returns on SIGTERM.
async fn drive(
    ctx: &Arc<Context>,
    args: &OperatorArgs,
    mut changes: mpsc::UnboundedReceiver<Dirty>,
    parallel: Arc<Semaphore>,
) {
    use tokio::time::Instant;
    let mut sch = Scheduler::new(args.debounce);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(TenantKey, reconcile::Health)>();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut leader_changes = ctx.leader.clone();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let now = || Instant::now().into_std();
    for key in ctx.tenant_keys(None) {
        sch.changed(key, now());
    }
    let interval = |key: &TenantKey| stores::sync_interval(ctx, ctx.registry, key);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            Some(change) = changes.recv() => {
                let keys = match change {
                    Dirty::Tenant(key) => vec![key],
                    Dirty::Namespace(ns) => ctx.tenant_keys(Some(&ns)),
                };
                keys.into_iter().for_each(|k| sch.changed(k, now()));
            }
            Some((key, health)) = done_rx.recv() => {
                let exists = ctx.tenants.get(&reflector::ObjectRef::new(&key.1).within(&key.0)).is_some();
                let how = match health {
                    _ if !exists => Finished::Gone,
                    reconcile::Health::Gone => Finished::Gone,
                    reconcile::Health::Degraded => Finished::Degraded,
                    reconcile::Health::Healthy => Finished::Healthy,
                };
                sch.finished(&key, how, now(), interval(&key));
                if let Some(at) = sch.retry_at(&key) {
                    let retry_in_s = at.saturating_duration_since(now()).as_secs();
                    tracing::info!(namespace = key.0, tenant = key.1, retry_in_s, "degraded; retrying");
                }
            }
            Ok(()) = leader_changes.changed() => {
                let leading = *leader_changes.borrow();
                ctx.metrics.leader.set(i64::from(leading));
                tracing::info!(leading, "leadership changed");
                if leading {
                    ctx.tenant_keys(None).into_iter().for_each(|k| sch.changed(k, now()));
                }
            }
            _ = tick.tick() => {
                for key in sch.due(now(), interval, jitter) {
                    spawn_reconcile(ctx.clone(), key, parallel.clone(), done_tx.clone());
                }
            }
        }
    }
}

/// Up to a tenth of the interval, so that tenants do not all re-read at once.
fn jitter(_: &TenantKey, every: Duration) -> Duration {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    every.mul_f64(f64::from(u16::from_le_bytes(b) % 1000) / 10_000.0)
}

fn spawn_reconcile(
    ctx: Arc<Context>,
    key: TenantKey,
    parallel: Arc<Semaphore>,
    done: mpsc::UnboundedSender<(TenantKey, reconcile::Health)>,
) {
    tokio::spawn(async move {
        let queued = std::time::Instant::now();
        let _permit = parallel.acquire().await;
        let started = std::time::Instant::now();
        let health = reconcile::reconcile(&ctx, &key).await;
        ctx.metrics.duration.observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            namespace = key.0,
            tenant = key.1,
            queued_ms = (started - queued).as_millis() as u64,
            took_ms = started.elapsed().as_millis() as u64,
            "reconciled"
        );
        let result = match health {
            reconcile::Health::Degraded => "degraded",
            _ => "ok",
        };
        let label = metrics::ResultLabel { result: result.into() };
        ctx.metrics.reconciles.get_or_create(&label).inc();
        let _ = done.send((key, health));
    });
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
