//! Benchmark: `accord operator` with many UserGrants in the Kubernetes API emulator and one
//! tenant's directory in a real slapd. Reports the time to converge, the operator's resident
//! memory, and the time from an edited grant to the change in LDAP over 100 edits.
//!
//!     cargo bench --bench operator                          # 100 tenants × 1,000 grants
//!     ACCORD_BENCH_GRANTS=10000 cargo bench --bench operator
//!     ACCORD_BENCH_DEBOUNCE=100ms cargo bench --bench operator  # default: the operator's 1s

#[path = "../tests/support/mod.rs"]
mod support;

use support::kube as kube_emulator;
use support::slapd;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let grants: usize = std::env::var("ACCORD_BENCH_GRANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 100_000 } else { 300 });
    let tenants = (grants / 1000).max(1);
    let per = grants / tenants;
    let edits = if full { 100 } else { 5 };
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-operator-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("m")).unwrap();
    accord::connectors::http::crypto_provider();
    let e = kube_emulator::Emulator::start();
    let ldap = slapd::Slapd::start(&work, &["dc=acme,dc=fi"]);
    let ns = "bench";
    for t in 0..tenants {
        let tn = format!("t{t:03}");
        // Only the first tenant has a directory; the others are status work only.
        let integ = if t == 0 {
            "  integrations: {directory: dir}\n"
        } else {
            ""
        };
        let mut s = format!(
            "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: {tn}, namespace: {ns}}}\nspec:\n  displayName: Tenant {t}\n  country: FI\n{integ}  features: [messaging, documents]\n  roles: [{{name: employee}}]\n  policy: {{minAdmins: 0}}\n\
             ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: {tn}-root, namespace: {ns}}}\nspec: {{tenant: {tn}, displayName: Root}}\n"
        );
        if t == 0 {
            let _ = write!(
                s,
                "---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: dir, namespace: {ns}}}\nspec: {{tenant: {tn}, kind: ldap, endpoint: \"{}\", credentialsRef: {{secretName: bind}}, ldap: {{baseDN: \"dc=acme,dc=fi\", layout: Flat}}, sync: {{interval: 10m, requestsPerSecond: 100000}}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bind, namespace: {ns}}}\nstringData: {{bindDN: \"cn=admin,dc=acme,dc=fi\", password: {}}}\n",
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
        std::fs::write(work.join(format!("m/{tn}.yaml")), s).unwrap();
    }
    let t0 = Instant::now();
    e.load_dir(&work.join("m"));
    let load = t0.elapsed();
    let kubeconfig = work.join("kubeconfig");
    e.kubeconfig(&kubeconfig, ns);
    // The operator's default quiet time unless told otherwise: it is most of the latency.
    let debounce = std::env::var("ACCORD_BENCH_DEBOUNCE").unwrap_or_else(|_| "1s".into());
    let mut op = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "operator",
            "--namespace",
            ns,
            "--listen",
            "127.0.0.1:0",
            "--debounce",
            &debounce,
            "--no-leader-election",
        ])
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
    let started = Instant::now();
    let in_ldap = || {
        ldap.dns("ou=people,dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
            .len()
    };
    while in_ldap() < per {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "no convergence"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let to_ldap = started.elapsed();
    // Converged when every grant carries a status.
    let all_status = || {
        e.all("accord.dev", "usergrants", |g| {
            !g["status"]["state"].is_null()
        })
    };
    while !all_status() {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "statuses not written"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let converged = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (rss, hwm) = (rss_mib(op.id(), "VmRSS:"), rss_mib(op.id(), "VmHWM:"));

    let client = reqwest::blocking_client();
    let mut latencies = Vec::new();
    for i in 0..edits {
        let name = format!("t000-p{i:04}");
        let phone = format!("+35850{:07}", 1000 + i);
        let t = Instant::now();
        client(
            &format!(
                "{}/apis/accord.dev/v1alpha1/namespaces/{ns}/usergrants/{name}",
                e.url()
            ),
            serde_json::json!({"spec": {"person": {"phone": phone}}}),
        );
        let dn = format!("uid={name},ou=people,dc=acme,dc=fi");
        while !ldap
            .search(&dn, "(objectClass=*)", &["telephoneNumber"])
            .contains(&phone)
        {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "edit {i} never reached LDAP"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1)]
    };
    let _ = op.kill();
    let _ = op.wait();
    println!(
        "accord operator, {grants} UserGrants in {tenants} tenants (emulator loaded in {load:.1?}), debounce {debounce}:"
    );
    println!(
        "  first tenant's {per} people in LDAP after {to_ldap:.1?}; every status written after {converged:.1?}"
    );
    println!("  resident memory after convergence: {rss:.0} MiB (peak {hwm:.0} MiB)");
    println!(
        "  edit → LDAP over {edits} edits: p50 {} ms, p99 {} ms, max {} ms",
        pct(0.5).as_millis(),
        pct(0.99).as_millis(),
        latencies.last().unwrap().as_millis()
    );
    let _ = std::fs::remove_dir_all(&work);
}

mod reqwest {
    /// A merge patch, sent from a small runtime of its own.
    pub fn blocking_client() -> impl Fn(&str, serde_json::Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = ::reqwest::Client::new();
        move |url: &str, body: serde_json::Value| {
            let r = rt
                .block_on(
                    client
                        .patch(url)
                        .header("content-type", "application/merge-patch+json")
                        .json(&body)
                        .send(),
                )
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    }
}
