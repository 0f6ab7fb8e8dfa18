//! Benchmark: a tenant's IdP in a real LemonLDAP::NG, its directory in a real slapd.
//!
//!     cargo bench --bench idp                  # 10,000 people
//!     ACCORD_BENCH_PEOPLE=2000 cargo bench --bench idp
//!
//! 1. cold `apply` (in process, as the CLI does): every person into slapd, the relying
//!    party (its rule naming every active person) into LemonLDAP;
//! 2. `plan` against the live systems: read the manifests, compile, observe slapd and
//!    LemonLDAP (relying parties and sessions), diff — and the LemonLDAP observe alone;
//! 3. one person's login: authorize, login form, code, token, ID token checked against
//!    the JWKS.

#[path = "../tests/support/slapd.rs"]
mod slapd;
#[path = "../tests/support/lemonldap.rs"]
mod lemonldap;
#[path = "../tests/support/oidc.rs"]
mod oidc;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use accord::connectors::{find_integration, registry};
use accord::engine::{compile, make_plan};
use accord::manifests::load_paths;

const SECRET: &str = "bench-client-secret";

fn write_estate(dir: &Path, ldap: &str, lemon: &lemonldap::Lemon, redirect: &str, people: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = format!(
        r#"apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: bench, namespace: ns}}
spec:
  displayName: Bench Oy
  country: FI
  integrations: {{directory: dir, idp: idp}}
  features: [messaging, documents, reports, sickLeave]
  roles: [{{name: admin, admin: true}}, {{name: nurse}}, {{name: physician}}, {{name: employee}}]
  policy: {{minAdmins: 0, login: {{methods: [password], minimumLevel: low}}}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: dir, namespace: ns}}
spec:
  tenant: bench
  kind: ldap
  endpoint: "{ldap}"
  credentialsRef: {{secretName: bind}}
  ldap: {{baseDN: "dc=acme,dc=fi", attributes: {{departmentNumber: scopes}}}}
  sync: {{requestsPerSecond: 100000, maxConcurrency: 8}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: idp, namespace: ns}}
spec:
  tenant: bench
  kind: lemonldap
  endpoint: "{api}"
  lemonldap:
    sessionsEndpoint: "{manager}"
    clientId: bench-portal
    redirectUris: ["{redirect}"]
    clientSecretRef: {{secretName: oidc, key: secret}}
  sync: {{requestsPerSecond: 100000}}
---
apiVersion: v1
kind: Secret
metadata: {{name: bind, namespace: ns}}
stringData: {{bindDN: "cn=admin,dc=acme,dc=fi", password: {pw}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: oidc, namespace: ns}}
stringData: {{secret: {SECRET}}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: root, namespace: ns}}
spec: {{tenant: bench, displayName: Root}}
"#,
        api = lemon.api_url(),
        manager = lemon.manager_url(),
        pw = slapd::ADMIN_PW,
    );
    for u in 0..20 {
        let _ = write!(
            s,
            "---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: u{u}, namespace: ns}}\nspec: {{tenant: bench, displayName: Unit {u}, parent: root}}\n"
        );
    }
    std::fs::write(dir.join("base.yaml"), s).unwrap();
    let roles = ["nurse", "physician", "employee"];
    let features = ["messaging", "documents", "reports", "sickLeave"];
    let mut g = String::new();
    for i in 0..people {
        let _ = write!(
            g,
            "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{i:05}, namespace: ns}}\nspec:\n  tenant: bench\n  person: {{givenName: Given{i}, familyName: Family{}, email: p{i:05}@bench.fi}}\n  unit: u{}\n  roles: [{}]\n  groups: [team-{}]\n  features: [{}, {}]\n  scopes: [{{unit: u{}}}]\n",
            i % 97,
            i % 20,
            roles[i % 3],
            i % 50,
            features[i % 4],
            features[(i + 1) % 4],
            (i + 3) % 20,
        );
    }
    std::fs::write(dir.join("grants.yaml"), g).unwrap();
}

/// `plan` as the CLI runs it against live targets; returns the time and what it would do.
fn plan(rt: &tokio::runtime::Runtime, dir: &Path) -> (Duration, usize, Duration) {
    let start = Instant::now();
    let loaded = load_paths(&[dir.to_path_buf()], "default");
    let compiled = compile(&loaded.snapshot, jiff::civil::date(2026, 11, 22), registry());
    assert!(compiled.problems.is_empty() && loaded.problems.is_empty(), "{:?}", compiled.problems);
    let idp = compiled
        .targets
        .iter()
        .find(|t| t.integration.name == "idp")
        .unwrap()
        .integration
        .clone();
    let observed = rt.block_on(registry().observe_all(&compiled.targets, &loaded.snapshot));
    let plan = make_plan(compiled, &observed, &BTreeMap::new());
    let took = start.elapsed();
    let ops = plan.targets.iter().map(|t| t.ops.len()).sum();
    // The LemonLDAP observe on its own.
    let integration = find_integration(&loaded.snapshot, &idp).unwrap();
    let connector = registry().connect(integration, &loaded.snapshot).unwrap();
    let t = Instant::now();
    rt.block_on(connector.observe()).expect("LemonLDAP is reachable");
    (took, ops, t.elapsed())
}

fn apply(rt: &tokio::runtime::Runtime, dir: &Path) -> Duration {
    let start = Instant::now();
    let loaded = load_paths(&[dir.to_path_buf()], "default");
    let compiled = compile(&loaded.snapshot, jiff::civil::date(2026, 11, 22), registry());
    let observed = rt.block_on(registry().observe_all(&compiled.targets, &loaded.snapshot));
    let plan = make_plan(compiled, &observed, &BTreeMap::new());
    for tp in &plan.targets {
        let actual = observed[&tp.integration].as_ref().expect("reachable");
        let target = registry()
            .connect(find_integration(&loaded.snapshot, &tp.integration).unwrap(), &loaded.snapshot)
            .unwrap();
        let report = rt.block_on(target.apply(tp, actual, Default::default()));
        assert!(report.ok(), "{}: {:?} {:?}", tp.integration, report.failed.first(), report.aborted);
    }
    start.elapsed()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let people: usize = std::env::var("ACCORD_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 200 });
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-idp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let server = slapd::Slapd::start(&work, &["dc=acme,dc=fi"]);
    let lemon = lemonldap::Lemon::builder(&server, "dc=acme,dc=fi")
        .set(
            "ldapExportedVars",
            serde_json::json!({"uid": "uid", "cn": "cn", "mail": "mail", "sn": "sn",
                               "givenName": "givenName", "departmentNumber": "departmentNumber"}),
        )
        .start();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cb = format!("http://127.0.0.1:{port}/cb");
    let estate = work.join("estate");
    write_estate(&estate, &server.url(), &lemon, &cb, people);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let cold = apply(&rt, &estate);
    let (planned, ops, observe) = plan(&rt, &estate);
    assert_eq!(ops, 0, "nothing left to do after apply");

    // One person logs in.
    let who = "p00007";
    let dn = server.dns("dc=acme,dc=fi", &format!("(uid={who})"));
    server.modify(
        "dc=acme,dc=fi",
        &format!("dn: {}\nchangetype: modify\nreplace: userPassword\nuserPassword: pw-7\n", dn[0]),
    );
    lemon.wait_for_client("bench-portal", SECRET);
    let t = Instant::now();
    let tokens = oidc::Browser::new(&lemon.portal_url())
        .login("bench-portal", SECRET, &cb, who, "pw-7", &[])
        .unwrap_or_else(|e| panic!("{e}\n{}", lemon.log_tails()));
    let claims = oidc::verify_id_token(&tokens.id_token, &lemon.jwks_url(), &lemon.issuer(), "bench-portal").unwrap();
    let login = t.elapsed();
    assert_eq!(claims["sub"], who);
    let rule_len = {
        let (_, rp) = lemon.api("GET", "/api/v1/providers/oidc/rp/accord-bench-portal", None);
        rp["options"]["rule"].as_str().map_or(0, str::len)
    };
    // With a live session to list, plan again.
    let (planned_with_session, _, observe_with_session) = plan(&rt, &estate);

    println!("accord and LemonLDAP::NG, a tenant of {people} people (access rule of {rule_len} bytes):");
    println!("  cold apply (slapd + relying party):       {cold:>9.2?}");
    println!("  plan against slapd and LemonLDAP:         {planned:>9.2?}  (LemonLDAP observe alone {observe:.2?})");
    println!("  plan again, one live session:             {planned_with_session:>9.2?}  (LemonLDAP observe alone {observe_with_session:.2?})");
    println!("  one person's login (code + token, JWKS):  {login:>9.2?}");
    drop(lemon);
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
}
