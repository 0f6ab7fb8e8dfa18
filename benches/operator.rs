//! Benchmark: `accord operator` with many UserGrants, on the Kubernetes API emulator or the
//! real kube-apiserver 1.20 + etcd (the operator there as `accord-operator`, bound to exactly
//! the Role the Helm chart renders), and one tenant's directory in a real slapd. Reports the
//! time to converge, the operator's peak resident memory, the time from an edited grant to
//! the change in LDAP over 100 edits, and the operator's requests to the API server (from
//! the real server's audit log, or the emulator's request log): while converging, per
//! reconcile of an edit, and per reconcile when nothing changed (no list, no status write
//! expected there).
//!
//!     cargo bench --bench operator                                # emulator, 100 tenants × 1,000 grants
//!     ACCORD_BENCH_SERVER=real cargo bench --bench operator       # real server, 20,000 grants
//!     ACCORD_BENCH_GRANTS=20000 cargo bench --bench operator      # emulator at the real server's size
//!     ACCORD_BENCH_DEBOUNCE=100ms cargo bench --bench operator    # default: the operator's 1s

#[path = "../tests/support/mod.rs"]
mod support;

use support::ApiCall;
use support::cluster::{Backend, Cluster};
use support::slapd;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first tenant's directory is re-read this often: the periodic reconciles counted when
/// nothing changes.
const SYNC_INTERVAL: &str = "10s";

fn rss_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Tenants of `per` grants each; only the first has a directory, the others are status work.
fn manifests(ns: &str, tenants: usize, per: usize, ldap: &slapd::Slapd) -> String {
    let mut s = String::new();
    for t in 0..tenants {
        let tn = format!("t{t:03}");
        let integ = if t == 0 { "  integrations: {directory: dir}\n" } else { "" };
        let _ = write!(
            s,
            "---\napiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: {tn}, namespace: {ns}}}\nspec:\n  displayName: Tenant {t}\n  country: FI\n{integ}  features: [messaging, documents]\n  roles: [{{name: employee}}]\n  policy: {{minAdmins: 0}}\n\
             ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: {tn}-root, namespace: {ns}}}\nspec: {{tenant: {tn}, displayName: Root}}\n"
        );
        if t == 0 {
            let _ = write!(
                s,
                "---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: dir, namespace: {ns}}}\nspec: {{tenant: {tn}, kind: ldap, endpoint: \"{}\", credentialsRef: {{secretName: bind}}, ldap: {{baseDN: \"dc=acme,dc=fi\", layout: Flat}}, sync: {{interval: {SYNC_INTERVAL}, requestsPerSecond: 100000}}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bind, namespace: {ns}}}\nstringData: {{bindDN: \"cn=admin,dc=acme,dc=fi\", password: {}}}\n",
                ldap.url(),
                slapd::ADMIN_PW
            );
        }
        for g in 0..per {
            let _ = write!(
                s,
                "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: {tn}-p{g:04}, namespace: {ns}}}\nspec:\n  tenant: {tn}\n  person: {{givenName: G{g}, familyName: F{t}, email: p{g}@{tn}.fi, phone: \"+358 40 {g:07}\"}}\n  unit: {tn}-root\n  roles: [employee]\n  features: [messaging]\n"
            );
        }
    }
    s
}

/// The operator's process, killed when the bench ends, however it ends.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_operator(c: &Cluster, work: &std::path::Path, debounce: &str, port: u16) -> Operator {
    let kubeconfig = work.join("kubeconfig");
    c.operator_kubeconfig(&kubeconfig);
    let child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["operator", "--namespace", &c.ns])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--debounce", debounce, "--no-leader-election"])
        .env("KUBECONFIG", &kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("ACCORD_BENCH_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(match std::env::var("ACCORD_BENCH_LOG") {
            Ok(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .unwrap();
    Operator(child)
}

/// The operator's finished reconciles, from its metrics.
fn reconciles(http: &Http, port: u16) -> f64 {
    http.get(&format!("http://127.0.0.1:{port}/metrics"))
        .lines()
        .filter(|l| l.starts_with("accord_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The operator's calls between two counts, by `verb resource[/subresource] code`.
fn between(
    before: &BTreeMap<ApiCall, usize>,
    after: &BTreeMap<ApiCall, usize>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (call, n) in after {
        let d = n - before.get(call).copied().unwrap_or(0).min(*n);
        if d > 0 {
            let sub = if call.subresource.is_empty() {
                String::new()
            } else {
                format!("/{}", call.subresource)
            };
            let key = format!("{} {}{sub} {}", call.verb, call.resource, call.code);
            *out.entry(key).or_default() += d;
        }
    }
    out
}

fn show(calls: &BTreeMap<String, usize>, per: f64) -> String {
    let total: usize = calls.values().sum();
    let parts: Vec<String> = calls
        .iter()
        .map(|(k, n)| format!("{k}: {:.1}", *n as f64 / per))
        .collect();
    format!("{:.1} [{}]", total as f64 / per, parts.join(", "))
}

/// Polls `done` every `every` until it holds, failing after `limit`.
fn wait(what: &str, limit: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(every);
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let real = std::env::var("ACCORD_BENCH_SERVER").is_ok_and(|s| s == "real");
    let grants: usize = env_or(
        "ACCORD_BENCH_GRANTS",
        match (full, real) {
            (false, _) => 300,
            (true, false) => 100_000,
            (true, true) => 20_000,
        },
    );
    let tenants = (grants / 1000).max(1);
    let per = grants / tenants;
    let edits = if full { 100 } else { 5 };
    let idle_reconciles = if full { 3.0 } else { 1.0 };
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-operator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("m")).unwrap();
    accord::connectors::http::crypto_provider();
    let ldap = slapd::Slapd::start(&work, &["dc=acme,dc=fi"]);
    let backend = if real { Backend::Real } else { Backend::Emulator };
    let c = Cluster::on(backend, "bench-operator");
    let ns = c.ns.clone();
    std::fs::write(work.join("m/all.yaml"), manifests(&ns, tenants, per, &ldap)).unwrap();
    let t0 = Instant::now();
    match c.emulator_only() {
        Some(e) => e.load_dir(&work.join("m")),
        None => c.load(&work.join("m")),
    }
    let load = t0.elapsed();
    let http = Http::new();

    // The operator's default quiet time unless told otherwise: it is most of the latency.
    let debounce = std::env::var("ACCORD_BENCH_DEBOUNCE").unwrap_or_else(|_| "1s".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let op = start_operator(&c, &work, &debounce, port);
    let started = Instant::now();
    let in_ldap = || ldap.dns("ou=people,dc=acme,dc=fi", "(objectClass=inetOrgPerson)").len();
    wait("the first tenant in LDAP", Duration::from_secs(1800), Duration::from_millis(200), || {
        in_ldap() >= per
    });
    let to_ldap = started.elapsed();
    // Converged when every grant carries a status.
    wait("every status written", Duration::from_secs(3600), Duration::from_secs(2), || {
        c.all("UserGrant", |g| !g["status"]["state"].is_null())
    });
    let converged = started.elapsed();
    let converging_calls = between(&BTreeMap::new(), &c.operator_calls());

    // Edits, one at a time, each waited for in LDAP.
    let (calls0, rec0) = (c.operator_calls(), reconciles(&http, port));
    let mut latencies = Vec::new();
    for i in 0..edits {
        let name = format!("t000-p{i:04}");
        let phone = format!("+35850{:07}", 1000 + i);
        let t = Instant::now();
        c.patch("UserGrant", &name, serde_json::json!({"spec": {"person": {"phone": phone}}}));
        let dn = format!("uid={name},ou=people,dc=acme,dc=fi");
        wait(&format!("edit {i} in LDAP"), Duration::from_secs(120), Duration::from_millis(5), || {
            ldap.search(&dn, "(objectClass=*)", &["telephoneNumber"]).contains(&phone)
        });
        latencies.push(t.elapsed());
    }
    // The last edit's status written too, before the edits' calls are counted.
    wait("the last edit reported", Duration::from_secs(120), Duration::from_millis(100), || {
        c.get("UserGrant", &format!("t000-p{:04}", edits - 1)).is_some_and(|g| {
            g["status"]["observedGeneration"] == g["metadata"]["generation"]
        })
    });
    let (calls1, rec1) = (c.operator_calls(), reconciles(&http, port));
    let edit_calls = between(&calls0, &calls1);

    // Nothing changes: the first tenant is re-read every SYNC_INTERVAL. The first re-read
    // after the edits still reports on them (the Integration's last-apply counts go back to
    // zero): counted apart.
    wait("a re-read after the edits", Duration::from_secs(300), Duration::from_millis(200), || {
        reconciles(&http, port) >= rec1 + 1.0
    });
    let (calls_settled, rec_settled) = (c.operator_calls(), reconciles(&http, port));
    let settle_calls = between(&calls1, &calls_settled);
    wait("reconciles with nothing changed", Duration::from_secs(300), Duration::from_millis(200), || {
        reconciles(&http, port) >= rec_settled + idle_reconciles
    });
    let (calls2, rec2) = (c.operator_calls(), reconciles(&http, port));
    let idle_calls = between(&calls_settled, &calls2);
    let hwm = rss_mib(op.0.id(), "VmHWM:");
    let rss = rss_mib(op.0.id(), "VmRSS:");
    drop(op);

    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1)]
    };
    println!(
        "accord operator on the {} API server, {grants} UserGrants in {tenants} tenants (loaded in {load:.1?}), debounce {debounce}:",
        c.name()
    );
    println!(
        "  first tenant's {per} people in LDAP after {to_ldap:.1?}; every status written after {converged:.1?}"
    );
    println!("  operator memory: peak {hwm:.0} MiB, {rss:.0} MiB at the end");
    println!(
        "  edit → LDAP over {edits} edits: p50 {} ms, p99 {} ms, max {} ms",
        pct(0.5).as_millis(),
        pct(0.99).as_millis(),
        latencies.last().unwrap().as_millis()
    );
    println!("  operator's requests while converging: {}", show(&converging_calls, 1.0));
    let edit_reconciles = (rec1 - rec0).max(1.0);
    println!(
        "  per reconcile of an edit ({edit_reconciles} reconciles): {}",
        show(&edit_calls, edit_reconciles)
    );
    println!(
        "  the first re-read after the edits ({} reconciles): {}",
        rec_settled - rec1,
        show(&settle_calls, (rec_settled - rec1).max(1.0))
    );
    let idle = (rec2 - rec_settled).max(1.0);
    println!("  per reconcile with nothing changed ({idle} reconciles): {}", show(&idle_calls, idle));
    let relists_or_rewrites: usize = idle_calls
        .iter()
        .filter(|(k, _)| k.starts_with("list ") || k.contains("/status"))
        .map(|(_, n)| n)
        .sum();
    if relists_or_rewrites > 0 {
        println!("  NOTE: {relists_or_rewrites} lists or status writes while nothing changed");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Plain GETs from a small runtime of its own.
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            client: reqwest::Client::new(),
        }
    }

    fn get(&self, url: &str) -> String {
        self.rt
            .block_on(async { self.client.get(url).send().await.ok()?.text().await.ok() })
            .unwrap_or_default()
    }
}
