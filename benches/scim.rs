//! Benchmark: accord into scim2-server (from .venv, see scripts/test.sh).
//!
//!     cargo bench --bench scim                   # 10,000 people
//!     ACCORD_BENCH_PEOPLE=1000 cargo bench --bench scim
//!
//! Cold (every user and group created) and a no-op rerun, with the requests each sent.

#[path = "../tests/support/scim.rs"]
mod scim;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use accord::engine::{compile, make_plan};
use accord::manifests::load_paths;
use accord::connectors::{find_integration, registry};

fn write_estate(dir: &Path, url: &str, people: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = format!(
        "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: bench, namespace: ns}}\nspec:\n  displayName: Bench Oy\n  country: FI\n  integrations: {{extranet: [ext]}}\n  features: [messaging, documents, reports, sickLeave]\n  roles: [{{name: employee}}]\n  policy: {{minAdmins: 0}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: ext, namespace: ns}}\nspec:\n  tenant: bench\n  kind: scim\n  endpoint: \"{url}\"\n  credentialsRef: {{secretName: token}}\n  sync: {{requestsPerSecond: 100000, maxConcurrency: 8}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: token, namespace: ns}}\nstringData: {{token: {}}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: root, namespace: ns}}\nspec: {{tenant: bench, displayName: Root}}\n",
        scim::TOKEN
    );
    for u in 0..20 {
        let _ = write!(
            s,
            "---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: u{u}, namespace: ns}}\nspec: {{tenant: bench, displayName: Unit {u}, parent: root}}\n"
        );
    }
    std::fs::write(dir.join("base.yaml"), s).unwrap();
    let features = ["messaging", "documents", "reports", "sickLeave"];
    let mut g = String::new();
    for i in 0..people {
        let _ = write!(
            g,
            "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{i:05}, namespace: ns}}\nspec:\n  tenant: bench\n  person: {{givenName: Given{i}, familyName: Family, email: p{i:05}@bench.fi, phone: \"+358 40 {:07}\"}}\n  unit: u{}\n  roles: [employee]\n  groups: [team-{}]\n  features: [{}, {}]\n  scopes: [{{unit: root, includeDescendants: {}}}]\n",
            i,
            i % 20,
            i % 50,
            features[i % 4],
            features[(i + 1) % 4],
            i % 10 == 0
        );
    }
    std::fs::write(dir.join("grants.yaml"), g).unwrap();
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let people: usize = std::env::var("ACCORD_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 100 });
    if std::process::Command::new(scim::tool("scim2-server"))
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("skipped: scim2-server is not installed (bash scripts/test.sh installs it)");
        return;
    }
    let server = scim::ScimServer::start();
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-scim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    write_estate(&work, &server.url(), people);
    accord::connectors::http::crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut lines = Vec::new();
    for label in ["cold", "no-op rerun"] {
        let start = Instant::now();
        let loaded = load_paths(&[work.clone()], "default");
        let compiled = compile(&loaded.snapshot, jiff::civil::date(2026, 11, 22), registry());
        assert!(compiled.problems.is_empty());
        let target = registry()
            .connect(
                find_integration(&loaded.snapshot, &compiled.targets[0].integration).unwrap(),
                &loaded.snapshot,
            )
            .unwrap();
        let integration = compiled.targets[0].integration.clone();
        let actual = rt.block_on(target.observe()).expect("reachable");
        let observe_requests = target.requests().unwrap_or(0);
        let plan = make_plan(
            compiled,
            &BTreeMap::from([(integration, Ok(actual.clone()))]),
            &BTreeMap::new(),
        );
        let tp = &plan.targets[0];
        let report = rt.block_on(target.apply(tp, &actual, Default::default()));
        assert!(report.ok(), "{:?}", report.failed.first());
        lines.push(format!(
            "  {label:<12} {:>8.2?}  {} operations, {} writes; requests: {observe_requests} to observe, {} to apply",
            start.elapsed(),
            tp.ops.len(),
            report.writes,
            report.requests,
        ));
    }
    println!("accord apply into scim2-server, {people} people:");
    for l in lines {
        println!("{l}");
    }
    let _ = std::fs::remove_dir_all(&work);
}
