//! Benchmark: 1,000 Users pushed into `accord operator --scim-listen` by 8 concurrent SCIM
//! clients, the Kubernetes API emulator behind it and a real slapd as the tenant's directory.
//! Checks that nothing is lost or duplicated (every User once, as one UserGrant and one LDAP
//! entry) and reports requests per second and the time until every person is Ready
//! downstream.
//!
//!     cargo bench --bench scim_server                  # 1,000 users, 8 clients
//!     ACCORD_BENCH_USERS=5000 cargo bench --bench scim_server

#[path = "../tests/support/mod.rs"]
mod support;

use support::kube as kube_emulator;
use support::slapd;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CLIENTS: usize = 8;
const TOKEN: &str = "bench-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let users: usize = std::env::var("ACCORD_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1000 } else { 40 });
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-scim-server-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("m")).unwrap();
    accord::connectors::http::crypto_provider();
    let e = kube_emulator::Emulator::start();
    let ldap = slapd::Slapd::start(&work, &["dc=acme,dc=fi"]);
    let ns = "bench";
    let manifests = format!(
        "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: acme, namespace: {ns}}}\nspec:\n  displayName: Acme\n  country: FI\n  integrations: {{directory: dir}}\n  features: [messaging]\n  roles: [{{name: employee}}]\n  policy: {{minAdmins: 0}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: acme, namespace: {ns}}}\nspec: {{tenant: acme, displayName: Acme}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: dir, namespace: {ns}}}\nspec: {{tenant: acme, kind: ldap, endpoint: \"{}\", credentialsRef: {{secretName: bind}}, ldap: {{baseDN: \"dc=acme,dc=fi\", layout: Flat}}, sync: {{interval: 10m, requestsPerSecond: 100000}}}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bind, namespace: {ns}}}\nstringData: {{bindDN: \"cn=admin,dc=acme,dc=fi\", password: {}}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: entra, namespace: {ns}}}\n\
         spec: {{tenant: acme, kind: scimServer, credentialsRef: {{secretName: entra}}, scimServer: {{defaults: {{roles: [employee], features: [messaging]}}, requestsPerSecond: 10000, burst: 10000}}}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: entra, namespace: {ns}}}\nstringData: {{token: {TOKEN}}}\n",
        ldap.url(),
        slapd::ADMIN_PW
    );
    std::fs::write(work.join("m/acme.yaml"), manifests).unwrap();
    e.load_dir(&work.join("m"));
    let kubeconfig = work.join("kubeconfig");
    e.kubeconfig(&kubeconfig, ns);
    let port = free_port();
    let mut op = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["operator", "--namespace", ns, "--listen", "127.0.0.1:0", "--debounce", "1s", "--no-leader-election"])
        .args(["--scim-listen", &format!("127.0.0.1:{port}")])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/scim/{ns}/entra/v2");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let ready_deadline = Instant::now() + Duration::from_secs(60);
    while rt.block_on(client.get(format!("{base}/ServiceProviderConfig")).bearer_auth(TOKEN).send()).map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(Instant::now() < ready_deadline, "the SCIM server never answered");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Push: 8 clients, each its share of the users, one request at a time (as Entra does).
    let started = Instant::now();
    let ids: Vec<String> = rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, base) = (client.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in (c..users).step_by(CLIENTS) {
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("user{n:05}@acme.fi"),
                        "active": true,
                        "name": {"givenName": format!("Given{n}"), "familyName": "Bench"},
                        "emails": [{"type": "work", "value": format!("user{n:05}@acme.fi"), "primary": true}],
                    });
                    let r = client
                        .post(format!("{base}/Users"))
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/scim+json; charset=utf-8")
                        .body(body.to_string())
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, 201, "user {n}: {v}");
                    ids.push(v["id"].as_str().unwrap().to_string());
                }
                ids
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let pushed = started.elapsed();

    // Nothing lost or duplicated: every id once, one UserGrant each, the list says the same.
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (users, users), "ids lost or repeated");
    let list: Value = rt
        .block_on(async { client.get(format!("{base}/Users?count=100000")).bearer_auth(TOKEN).send().await.unwrap().json::<Value>().await.unwrap() })
        .clone();
    assert_eq!(list["totalResults"], users);
    let grants = e.list("accord.dev", "usergrants");
    assert_eq!(grants.len(), users, "one UserGrant per User");

    // Ready downstream: every person in LDAP and every UserGrant Ready.
    let ready = || {
        e.all("accord.dev", "usergrants", |g| {
            g["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
    };
    while !(ready() && ldap.dns("ou=people,dc=acme,dc=fi", "(objectClass=inetOrgPerson)").len() == users) {
        assert!(started.elapsed() < Duration::from_secs(900), "not every person became Ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let all_ready = started.elapsed();
    let _ = op.kill();
    let _ = op.wait();
    println!("accord SCIM server: {users} Users pushed by {CLIENTS} concurrent clients into the emulator, slapd as the directory");
    println!(
        "  pushed in {pushed:.1?}: {:.0} requests/s; none lost or duplicated ({users} ids, {users} UserGrants)",
        users as f64 / pushed.as_secs_f64()
    );
    println!("  every person Ready (in LDAP, status Ready) {all_ready:.1?} after the first request");
    let _ = std::fs::remove_dir_all(&work);
}
