//! `accord operator` end to end: the real binary, the Kubernetes API emulator and a real
//! slapd.

mod support;

use support::copy_dir;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Scratch;
use support::kube::Emulator;
use support::slapd::{ADMIN_PW, Slapd};

const NS: &str = "customer-acme";
const ANNA: &str =
    "uid=anna-virtanen,ou=acme-helsinki-kallio,ou=acme-helsinki,ou=acme,ou=people,dc=acme,dc=fi";

fn rt() -> tokio::runtime::Runtime {
    accord::connectors::http::crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn plural(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "Tenant" => ("apis/accord.dev/v1alpha1", "tenants"),
        "OrgUnit" => ("apis/accord.dev/v1alpha1", "orgunits"),
        "UserGrant" => ("apis/accord.dev/v1alpha1", "usergrants"),
        "Integration" => ("apis/accord.dev/v1alpha1", "integrations"),
        "Secret" => ("api/v1", "secrets"),
        k => panic!("{k}"),
    }
}

fn http(method: &str, url: String, content_type: &str, body: Option<Value>) -> (u16, Value) {
    rt().block_on(async {
        let c = reqwest::Client::new();
        let mut rb = c.request(method.parse().unwrap(), url);
        if let Some(b) = body {
            rb = rb.header("content-type", content_type).json(&b);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

fn kube(
    e: &Emulator,
    method: &str,
    kind: &str,
    name: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (prefix, plural) = plural(kind);
    let url = match name {
        Some(n) => format!("{}/{prefix}/namespaces/{NS}/{plural}/{n}", e.url()),
        None => format!("{}/{prefix}/namespaces/{NS}/{plural}", e.url()),
    };
    http(method, url, "application/merge-patch+json", body)
}

/// The Finnish example, its directory pointed at `slapd` and re-read every 2 s, loaded into
/// the emulator; with `scim`, its extranet pointed there too. (accord has no IdP connector
/// yet, so the IdP Integration is left out.)
fn load_acme(e: &Emulator, slapd: &Slapd, dir: &Path) {
    load_acme_with(e, slapd, None, dir)
}

fn load_acme_with(e: &Emulator, slapd: &Slapd, scim: Option<&str>, dir: &Path) {
    let root = dir.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let t = root.join("tenant.yaml");
    let keep = if scim.is_some() {
        "    extranet: [acme-extranet]\n"
    } else {
        ""
    };
    let tenant = std::fs::read_to_string(&t)
        .unwrap()
        .replace("    idp: acme-idp\n    extranet: [acme-extranet]\n", keep);
    std::fs::write(&t, tenant).unwrap();
    let i = root.join("integrations.yaml");
    let text: String = std::fs::read_to_string(&i)
        .unwrap()
        .replace("ldaps://ldap.acme.internal:636", &slapd.url())
        .replace(
            "https://extranet.acme.fi/scim/v2",
            scim.unwrap_or("https://extranet.acme.fi/scim/v2"),
        )
        .replace(
            "sync: {interval: 5m, maxConcurrency: 8, requestsPerSecond: 50}",
            "sync: {interval: 2s, maxConcurrency: 8, requestsPerSecond: 1000}",
        )
        .lines()
        .filter(|l| !l.starts_with("  tls:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&i, text).unwrap();
    let c = root.join("secrets/credentials.yaml");
    let creds = std::fs::read_to_string(&c)
        .unwrap()
        .replace("cn=accord,ou=services,", "cn=admin,")
        .replace(
            "token: change-me",
            &format!("token: {}", support::scim::TOKEN),
        )
        .replace("change-me", ADMIN_PW);
    std::fs::write(&c, creds).unwrap();
    e.load_dir(&root);
}

struct Operator {
    child: Child,
    pub metrics: String,
    log: PathBuf,
}

impl Operator {
    fn start(e: &Emulator, dir: &Path, identity: &str) -> Operator {
        Self::start_in(e, dir, identity, NS)
    }

    fn start_in(e: &Emulator, dir: &Path, identity: &str, ns: &str) -> Operator {
        Self::start_with(e, dir, identity, ns, "200ms")
    }

    fn start_with(e: &Emulator, dir: &Path, identity: &str, ns: &str, debounce: &str) -> Operator {
        let kubeconfig = dir.join("kubeconfig");
        e.kubeconfig(&kubeconfig, ns);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("operator-{identity}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args([
                "operator",
                "--namespace",
                ns,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--debounce",
                debounce,
                "--identity",
                identity,
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Operator {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
            log,
        }
    }

    fn metric(&self, name: &str) -> f64 {
        let text = rt()
            .block_on(async { reqwest::get(&self.metrics).await.ok()?.text().await.ok() })
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool, op: &Operator) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\noperator log:\n{}",
            op.log()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Anna's telephoneNumber as LDAP has it (the LDIF of her entry).
fn anna_phone(slapd: &Slapd) -> String {
    slapd.search(ANNA, "(objectClass=*)", &["telephoneNumber"])
}

/// Who holds the operator's Lease (null when nobody does).
fn lease_holder(e: &Emulator) -> Value {
    http(
        "GET",
        format!(
            "{}/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/accord-operator",
            e.url()
        ),
        "",
        None,
    )
    .1["spec"]["holderIdentity"]
        .clone()
}

/// Marks an Integration or Tenant to leave what it provisioned in place when deleted.
fn orphan(e: &Emulator, kind: &str, name: &str) {
    let (code, _) = kube(
        e,
        "PATCH",
        kind,
        Some(name),
        Some(json!({"metadata": {"annotations": {"accord.dev/orphan": "true"}}})),
    );
    assert_eq!(code, 200);
}

/// Deletes a resource and waits until it is gone, i.e. accord released its finalizer.
fn delete_until_gone(e: &Emulator, kind: &str, name: &str, secs: u64, op: &Operator) {
    assert_eq!(kube(e, "DELETE", kind, Some(name), None).0, 200);
    wait_until(
        &format!("{kind} {name} gone"),
        secs,
        || kube(e, "GET", kind, Some(name), None).0 == 404,
        op,
    );
}

fn condition(obj: &Value, kind: &str) -> Option<(String, String, String)> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").into(),
                c["reason"].as_str().unwrap_or("").into(),
                c["message"].as_str().unwrap_or("").into(),
            )
        })
}

fn ready(e: &Emulator, kind: &str, name: &str) -> bool {
    let (_, obj) = kube(e, "GET", kind, Some(name), None);
    condition(&obj, "Ready").is_some_and(|c| c.0 == "True")
}

#[test]
fn the_operator_converges_follows_edits_deletes_drift_and_outages() {
    let scratch = Scratch::new("operator");
    let e = Emulator::start();
    let mut slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let scim = support::scim::ScimServer::start();
    load_acme_with(&e, &slapd, Some(&scim.url()), &scratch.0);
    let mut op = Operator::start(&e, &scratch.0, "one");
    let scim_users = || support::scim::list(&scim.url(), "/Users");

    // Converged: every person in the directory and the extranet, every resource Ready.
    wait_until(
        "17 people in the extranet",
        60,
        || scim_users().len() == 17,
        &op,
    );
    wait_until(
        "the extranet Integration Ready",
        30,
        || ready(&e, "Integration", "acme-extranet"),
        &op,
    );
    wait_until(
        "17 people in LDAP",
        60,
        || {
            slapd
                .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
                .len()
                == 17
        },
        &op,
    );
    wait_until("Tenant Ready", 30, || ready(&e, "Tenant", "acme"), &op);
    wait_until(
        "Integration Ready",
        30,
        || ready(&e, "Integration", "acme-ldap"),
        &op,
    );
    wait_until(
        "every UserGrant Ready",
        30,
        || {
            e.list("accord.dev", "usergrants")
                .iter()
                .all(|g| condition(g, "Ready").is_some_and(|c| c.0 == "True"))
        },
        &op,
    );
    let tenant = e.get("accord.dev", "tenants", NS, "acme").unwrap();
    assert_eq!(tenant["status"]["counts"]["userGrants"], 18);
    assert_eq!(tenant["status"]["observedGeneration"], 1);
    let unit = e
        .get("accord.dev", "orgunits", NS, "acme-helsinki-kallio")
        .unwrap();
    assert_eq!(unit["status"]["path"], "acme/helsinki/kallio");
    let anna = e
        .get("accord.dev", "usergrants", NS, "anna-virtanen")
        .unwrap();
    assert_eq!(anna["status"]["state"], "Active");
    assert_eq!(anna["status"]["targets"][0]["state"], "InSync");
    wait_until(
        "the finalizer on every grant",
        30,
        || {
            e.list("accord.dev", "usergrants").iter().all(|g| {
                g["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.contains(&json!("accord.dev/cleanup")))
            })
        },
        &op,
    );

    // An edit follows into the directory.
    kube(
        &e,
        "PATCH",
        "UserGrant",
        Some("anna-virtanen"),
        Some(json!({"spec": {"person": {"phone": "+358 40 555 0101"}}})),
    );
    wait_until(
        "the new phone in LDAP",
        30,
        || anna_phone(&slapd).contains("+358405550101"),
        &op,
    );
    // An edit carried out is not drift: the target is in sync, nothing was "repaired".
    wait_until(
        "the edit reported",
        30,
        || {
            let g = e
                .get("accord.dev", "usergrants", NS, "anna-virtanen")
                .unwrap();
            g["status"]["observedGeneration"] == g["metadata"]["generation"]
                && g["status"]["targets"]
                    .as_array()
                    .is_some_and(|t| t.iter().all(|t| t["state"] == "InSync"))
        },
        &op,
    );
    let g = e
        .get("accord.dev", "usergrants", NS, "anna-virtanen")
        .unwrap();
    assert!(
        g["status"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["message"].is_null()),
        "{:#}",
        g["status"]
    );
    assert!(condition(&g, "Drifted").is_some_and(|c| c.0 == "False"));

    // Delete once: the person leaves the directory before the resource goes.
    let juha = "(uid=juha-koskinen)";
    assert_eq!(
        kube(&e, "DELETE", "UserGrant", Some("juha-koskinen"), None).0,
        200
    );
    let mut anywhere_when_gone = None;
    wait_until(
        "the UserGrant to go",
        30,
        || {
            let gone = kube(&e, "GET", "UserGrant", Some("juha-koskinen"), None).0 == 404;
            if gone {
                let in_ldap = !slapd.dns("dc=acme,dc=fi", juha).is_empty();
                let in_scim = scim_users()
                    .iter()
                    .any(|u| u["userName"] == "juha.koskinen@acme.fi");
                anywhere_when_gone = Some((in_ldap, in_scim));
            }
            gone
        },
        &op,
    );
    assert_eq!(
        anywhere_when_gone,
        Some((false, false)),
        "(in LDAP, in the extranet) when the resource went"
    );

    // Drift in Observe mode: reported on the grant with the field named, not repaired.
    kube(
        &e,
        "PATCH",
        "Integration",
        Some("acme-ldap"),
        Some(json!({"spec": {"sync": {"management": "Observe"}}})),
    );
    std::thread::sleep(Duration::from_millis(800));
    slapd.modify("dc=acme,dc=fi", &format!("dn: {ANNA}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +358409999999\n"));
    wait_until(
        "Drifted on the UserGrant",
        30,
        || {
            let g = e
                .get("accord.dev", "usergrants", NS, "anna-virtanen")
                .unwrap();
            g["status"]["targets"][0]["state"] == "Drifted"
                && g["status"]["targets"][0]["drift"][0]["field"] == "telephoneNumber"
                && condition(&g, "Drifted").is_some_and(|c| c.0 == "True")
        },
        &op,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        anna_phone(&slapd).contains("+358409999999"),
        "Observe leaves the directory alone"
    );
    // Enforce: repaired within one sync interval.
    kube(
        &e,
        "PATCH",
        "Integration",
        Some("acme-ldap"),
        Some(json!({"spec": {"sync": {"management": null}}})),
    );
    wait_until(
        "the repair",
        30,
        || anna_phone(&slapd).contains("+358405550101"),
        &op,
    );
    wait_until(
        "Drifted cleared",
        30,
        || {
            condition(
                &e.get("accord.dev", "usergrants", NS, "anna-virtanen")
                    .unwrap(),
                "Drifted",
            )
            .is_some_and(|c| c.0 == "False")
        },
        &op,
    );

    // slapd down: Ready=False with the reason; back when it returns. The sync interval is
    // ten minutes meanwhile, so only the retries of a degraded tenant can bring it back.
    kube(
        &e,
        "PATCH",
        "Integration",
        Some("acme-ldap"),
        Some(json!({"spec": {"sync": {"interval": "10m"}}})),
    );
    std::thread::sleep(Duration::from_millis(800));
    slapd.stop();
    kube(
        &e,
        "PATCH",
        "UserGrant",
        Some("anna-virtanen"),
        Some(json!({"spec": {"person": {"phone": "+358 40 555 0202"}}})),
    );
    wait_until(
        "Integration not Ready",
        30,
        || {
            let i = e
                .get("accord.dev", "integrations", NS, "acme-ldap")
                .unwrap();
            condition(&i, "Ready").is_some_and(|c| {
                c.0 == "False" && c.1 == "Unreachable" && c.2.contains("cannot connect")
            })
        },
        &op,
    );
    slapd.restart();
    wait_until(
        "Integration Ready again",
        60,
        || ready(&e, "Integration", "acme-ldap"),
        &op,
    );
    wait_until(
        "the edit made while slapd was down",
        30,
        || anna_phone(&slapd).contains("+358405550202"),
        &op,
    );
    assert!(op.log().contains("degraded; retrying"), "{}", op.log());
    kube(
        &e,
        "PATCH",
        "Integration",
        Some("acme-ldap"),
        Some(json!({"spec": {"sync": {"interval": "2s"}}})),
    );

    // The watch restarted after 410 Gone resumes without rewriting the targets.
    let writes_before = op.metric("accord_target_writes_total");
    e.compact();
    kube(
        &e,
        "PATCH",
        "UserGrant",
        Some("outi-lehtonen"),
        Some(json!({"spec": {"person": {"title": "Ylihoitaja"}}})),
    );
    wait_until(
        "the edit after 410",
        30,
        || {
            slapd
                .search("dc=acme,dc=fi", "(uid=outi-lehtonen)", &["title"])
                .contains("title: Ylihoitaja")
        },
        &op,
    );
    let writes = op.metric("accord_target_writes_total") - writes_before;
    assert!(
        writes <= 2.0,
        "only the edited entry is written after a relist, not the whole directory ({writes} writes)"
    );

    // Killed in the middle of a batch and restarted: converges, nothing duplicated.
    for g in [
        "anna-virtanen",
        "outi-lehtonen",
        "eeva-karjalainen",
        "kaisa-turunen",
        "minna-laine",
        "liisa-korhonen",
    ] {
        kube(
            &e,
            "PATCH",
            "UserGrant",
            Some(g),
            Some(json!({"spec": {"person": {"employeeNumber": format!("N-{g}")}}})),
        );
    }
    op.kill();
    let mut op = Operator::start(&e, &scratch.0, "one-again");
    wait_until(
        "the batch after a restart",
        60,
        || {
            [
                "anna-virtanen",
                "outi-lehtonen",
                "eeva-karjalainen",
                "kaisa-turunen",
                "minna-laine",
                "liisa-korhonen",
            ]
            .iter()
            .all(|g| {
                slapd
                    .search("dc=acme,dc=fi", &format!("(uid={g})"), &["employeeNumber"])
                    .contains(&format!("employeeNumber: N-{g}"))
            })
        },
        &op,
    );
    assert_eq!(
        slapd
            .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
            .len(),
        16
    );
    assert!(op.log().contains("\"level\":\"INFO\""), "JSON logs");
    op.kill();
}

#[test]
fn two_replicas_elect_one_leader() {
    let scratch = Scratch::new("operator-leader");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&e, &slapd, &scratch.0);
    let a = Operator::start(&e, &scratch.0, "replica-a");
    let b = Operator::start(&e, &scratch.0, "replica-b");
    wait_until("a lease holder", 30, || lease_holder(&e).is_string(), &a);
    wait_until(
        "17 people in LDAP",
        60,
        || {
            slapd
                .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
                .len()
                == 17
        },
        &a,
    );
    for op in [&a, &b] {
        for probe in ["healthz", "readyz"] {
            let url = op.metrics.replace("/metrics", &format!("/{probe}"));
            let code = rt().block_on(async {
                reqwest::get(&url)
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            });
            assert_eq!(code, 200, "{url}");
        }
    }
    let leaders = a.metric("accord_is_leader") + b.metric("accord_is_leader");
    assert_eq!(leaders, 1.0, "exactly one replica leads");
    let writers = [
        a.metric("accord_target_writes_total"),
        b.metric("accord_target_writes_total"),
    ];
    assert!(
        writers.iter().filter(|w| **w > 0.0).count() == 1,
        "only the leader writes: {writers:?}"
    );

    // SIGTERM to the leader gives the Lease up on the way out, so the other replica need not
    // wait for it to run out.
    let (mut leader, follower, name) = if a.metric("accord_is_leader") == 1.0 {
        (a, b, "replica-a")
    } else {
        (b, a, "replica-b")
    };
    assert!(
        Command::new("kill")
            .args(["-TERM", &leader.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        leader.child.wait().unwrap().code(),
        Some(0),
        "{}",
        leader.log()
    );
    assert!(leader.log().contains("lease released"), "{}", leader.log());
    assert_ne!(
        lease_holder(&e),
        serde_json::json!(name),
        "the Lease is no longer held by {name}"
    );
    wait_until(
        "the other replica leads",
        30,
        || follower.metric("accord_is_leader") == 1.0,
        &follower,
    );
}

#[test]
fn held_deletions_events_integration_cleanup_and_sigterm() {
    let scratch = Scratch::new("operator-guards");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&e, &slapd, &scratch.0);
    let mut op = Operator::start(&e, &scratch.0, "guard");
    let people = || {
        slapd
            .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
            .len()
    };
    wait_until("17 people in LDAP", 60, || people() == 17, &op);
    wait_until(
        "finalizers",
        30,
        || {
            e.list("accord.dev", "usergrants")
                .iter()
                .all(|g| g["metadata"]["finalizers"].is_array())
        },
        &op,
    );

    // Three deletions of seventeen: more than the tenant's 10 %, so they are held.
    for g in ["mikko-laaksonen", "ville-makinen", "jari-salminen"] {
        assert_eq!(kube(&e, "DELETE", "UserGrant", Some(g), None).0, 200);
    }
    wait_until(
        "DeletionsHeld",
        30,
        || {
            condition(
                &e.get("accord.dev", "tenants", NS, "acme").unwrap(),
                "DeletionsHeld",
            )
            .is_some_and(|c| c.0 == "True" && c.2.contains("3 of 17 people"))
        },
        &op,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(people(), 17, "held: nobody deleted");
    assert_eq!(
        kube(&e, "GET", "UserGrant", Some("ville-makinen"), None).0,
        200,
        "the resource waits for its person to go"
    );
    let events = e.list("events.k8s.io", "events");
    assert!(
        events.iter().any(|ev| ev["reason"] == "DeletionsHeld"
            && ev["type"] == "Warning"
            && ev["regarding"]["name"] == "acme"),
        "an event on the transition: {events:#?}"
    );
    // Confirmed by annotation: released.
    kube(
        &e,
        "PATCH",
        "Tenant",
        Some("acme"),
        Some(json!({"metadata": {"annotations": {"accord.dev/confirm-deletions": "3"}}})),
    );
    wait_until(
        "the held deletions",
        30,
        || {
            people() == 14
                && ["mikko-laaksonen", "ville-makinen", "jari-salminen"]
                    .iter()
                    .all(|g| kube(&e, "GET", "UserGrant", Some(g), None).0 == 404)
        },
        &op,
    );
    // The confirmation is used up, so it cannot wave the next mass deletion through.
    wait_until(
        "the confirmation removed",
        30,
        || {
            e.get("accord.dev", "tenants", NS, "acme").unwrap()["metadata"]["annotations"]
                ["accord.dev/confirm-deletions"]
                .is_null()
        },
        &op,
    );
    let events = e.list("events.k8s.io", "events");
    assert!(
        events.iter().any(|ev| ev["reason"] == "DeletionsConfirmed"
            && ev["note"]
                .as_str()
                .is_some_and(|n| n.contains("released 3 held person deletions"))),
        "{events:#?}"
    );

    // Deleting the Integration with the orphan annotation leaves the directory as it is.
    wait_until(
        "a finalizer on the Integration",
        30,
        || {
            e.get("accord.dev", "integrations", NS, "acme-ldap")
                .unwrap()["metadata"]["finalizers"]
                .is_array()
        },
        &op,
    );
    let saved = e
        .get("accord.dev", "integrations", NS, "acme-ldap")
        .unwrap();
    orphan(&e, "Integration", "acme-ldap");
    delete_until_gone(&e, "Integration", "acme-ldap", 30, &op);
    assert_eq!(people(), 14);
    // Without it, deleting the Integration closes every access it gave.
    let again = json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Integration", "metadata": {"name": "acme-ldap", "namespace": NS}, "spec": saved["spec"]});
    assert_eq!(kube(&e, "POST", "Integration", None, Some(again)).0, 201);
    wait_until(
        "a finalizer on the new Integration",
        30,
        || {
            e.get("accord.dev", "integrations", NS, "acme-ldap")
                .is_some_and(|i| i["metadata"]["finalizers"].is_array())
        },
        &op,
    );
    delete_until_gone(&e, "Integration", "acme-ldap", 30, &op);
    assert_eq!(people(), 0, "every person accord provisioned is gone");
    assert!(
        slapd.dns("dc=acme,dc=fi", "(seeAlso=*)").is_empty(),
        "and every unit and group"
    );

    // SIGTERM: a clean, quick exit.
    let started = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &op.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = op.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", op.log());
    assert!(started.elapsed() < Duration::from_secs(25));
    assert!(op.log().contains("shutting down"));
}

#[test]
fn deleting_a_tenant_closes_every_access_unless_orphaned() {
    let scratch = Scratch::new("operator-tenant-delete");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&e, &slapd, &scratch.0);
    let op = Operator::start(&e, &scratch.0, "tenants");
    let people = || {
        slapd
            .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
            .len()
    };
    let has_finalizer = |kind: &str, name: &str| {
        e.get("accord.dev", kind, NS, name)
            .is_some_and(|o| o["metadata"]["finalizers"].is_array())
    };
    wait_until("17 people in LDAP", 60, || people() == 17, &op);
    wait_until(
        "a finalizer on the Tenant",
        30,
        || has_finalizer("tenants", "acme"),
        &op,
    );
    let saved = e.get("accord.dev", "tenants", NS, "acme").unwrap();

    // Orphaned: the Tenant goes, the directory stays as it is.
    orphan(&e, "Tenant", "acme");
    delete_until_gone(&e, "Tenant", "acme", 30, &op);
    assert_eq!(people(), 17);
    // A grant deleted while its Tenant is gone does not hang on accord's finalizer.
    delete_until_gone(&e, "UserGrant", "ville-makinen", 30, &op);

    // The Tenant back: accord manages the directory again and removes the person whose
    // grant went meanwhile.
    let again = json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "acme", "namespace": NS}, "spec": saved["spec"]});
    assert_eq!(kube(&e, "POST", "Tenant", None, Some(again)).0, 201);
    wait_until("16 people in LDAP", 60, || people() == 16, &op);
    wait_until(
        "a finalizer on the new Tenant",
        30,
        || has_finalizer("tenants", "acme"),
        &op,
    );

    // Not orphaned: deleting the Tenant closes every access it gave before it goes. Its
    // extranet is not reachable from here, so that Integration is left out of it by
    // annotation; while it stayed unreachable and not orphaned, the Tenant would wait.
    orphan(&e, "Integration", "acme-extranet");
    delete_until_gone(&e, "Tenant", "acme", 60, &op);
    assert_eq!(people(), 0, "every person accord provisioned is gone");
    assert!(
        slapd.dns("dc=acme,dc=fi", "(seeAlso=*)").is_empty(),
        "and every unit and group"
    );
}

#[test]
fn a_sync_of_500_new_grants_is_one_plan() {
    let scratch = Scratch::new("operator-batch");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let (setup, grants) = (scratch.0.join("setup"), scratch.0.join("grants"));
    std::fs::create_dir_all(&setup).unwrap();
    std::fs::create_dir_all(&grants).unwrap();
    std::fs::write(
        setup.join("bulk.yaml"),
        format!(
            "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: bulk, namespace: {NS}}}\nspec: {{displayName: Bulk, country: FI, integrations: {{directory: dir}}, roles: [{{name: employee}}], policy: {{minAdmins: 0}}}}\n\
             ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: root, namespace: {NS}}}\nspec: {{tenant: bulk, displayName: Root}}\n\
             ---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: dir, namespace: {NS}}}\nspec: {{tenant: bulk, kind: ldap, endpoint: \"{}\", credentialsRef: {{secretName: bind}}, ldap: {{baseDN: \"dc=acme,dc=fi\", layout: Flat}}, sync: {{interval: 10m, requestsPerSecond: 100000}}}}\n\
             ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bind, namespace: {NS}}}\nstringData: {{bindDN: \"cn=admin,dc=acme,dc=fi\", password: {ADMIN_PW}}}\n",
            slapd.url()
        ),
    )
    .unwrap();
    let many: String = (0..500)
        .map(|i| {
            format!(
                "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{i:03}, namespace: {NS}}}\nspec: {{tenant: bulk, person: {{givenName: G{i}, familyName: F, email: p{i}@bulk.fi}}, unit: root, roles: [employee]}}\n"
            )
        })
        .collect();
    std::fs::write(grants.join("grants.yaml"), many).unwrap();
    e.load_dir(&setup);
    // A debounce long enough that the sync below lands inside one quiet period.
    let op = Operator::start_with(&e, &scratch.0, "batch", NS, "2s");
    wait_until("the Tenant Ready", 60, || ready(&e, "Tenant", "bulk"), &op);
    let applies = || op.log().matches("\"message\":\"applied\"").count();
    let before = applies();

    e.load_dir(&grants);
    // The apply is logged when it has finished, after the last person is in.
    wait_until(
        "500 people in LDAP and the apply logged",
        120,
        || {
            applies() > before
                && slapd
                    .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
                    .len()
                    == 500
        },
        &op,
    );
    assert_eq!(
        applies() - before,
        1,
        "one plan for the whole sync:\n{}",
        op.log()
    );
    let operations: Vec<u64> = op
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "applied")
        .map(|l| l["fields"]["operations"].as_u64().unwrap())
        .collect();
    assert!(
        operations.last().is_some_and(|n| *n >= 500),
        "every person in that one plan: {operations:?}"
    );
}

#[test]
fn webhook_receivers_get_the_whole_state_every_full_state_interval() {
    let scratch = Scratch::new("operator-webhook");
    let e = Emulator::start();
    let key = "a-test-signing-key-of-32-bytes!!";
    let receiver = support::webhook::Receiver::start(key);
    let root = scratch.0.join("dk-aarhus");
    copy_dir(&support::examples().join("dk-aarhus"), &root);
    let t = root.join("tenant.yaml");
    let tenant = std::fs::read_to_string(&t)
        .unwrap()
        .replace("    directory: aarhus-ldap\n    idp: aarhus-idp\n", "");
    std::fs::write(&t, tenant).unwrap();
    let i = root.join("integrations.yaml");
    let text = std::fs::read_to_string(&i)
        .unwrap()
        .replace(
            "https://omsorg.aarhus.dk/api/accord/v1/people",
            &receiver.url(),
        )
        .replace(
            "webhook: {fullStateInterval: 24h}",
            "webhook: {fullStateInterval: 2s}",
        );
    std::fs::write(&i, text).unwrap();
    let c = root.join("secrets/credentials.yaml");
    std::fs::write(
        &c,
        std::fs::read_to_string(&c)
            .unwrap()
            .replace("change-me-to-32-random-bytes", key),
    )
    .unwrap();
    e.load_dir(&root);
    let op = Operator::start_in(&e, &scratch.0, "hook", "customer-aarhus");
    wait_until(
        "18 people at the receiver",
        60,
        || receiver.state.lock().unwrap().people.len() == 18,
        &op,
    );
    wait_until(
        "two full-state deliveries",
        30,
        || receiver.state.lock().unwrap().full_states >= 2,
        &op,
    );
    let s = receiver.state.lock().unwrap();
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    assert_eq!(s.people.len(), 18);
}

/// A UserGrant in the cluster that does not parse (its CRD changed under it, or another
/// version wrote it) is frozen, not taken for deleted: the person stays in the directory with
/// their groups, the grant's status and an event say which field, never its value, and the
/// watch goes on for everyone else. Fixed, the grant is reconciled again.
#[test]
fn an_object_that_does_not_parse_is_frozen_and_reported_not_deleted() {
    let scratch = Scratch::new("operator-unreadable");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&e, &slapd, &scratch.0);
    let op = Operator::start(&e, &scratch.0, "solo");
    wait_until("Anna in LDAP", 60, || anna_phone(&slapd).contains("telephoneNumber"), &op);
    wait_until("everyone applied", 60, || ready(&e, "Tenant", "acme"), &op);
    let groups_before = slapd.search("dc=acme,dc=fi", &format!("(member={ANNA})"), &["1.1"]);
    assert!(groups_before.contains("dn: "), "Anna is in groups");

    let (_, mut anna) = kube(&e, "GET", "UserGrant", Some("anna-virtanen"), None);
    anna["spec"]["validFrom"] = json!("131052-308T");
    anna["spec"]["roles"] = json!("not a list");
    e.write_unchecked(anna.clone());
    // The grant's own status cannot always be written (a server validates the whole object
    // on a status write), so the Tenant's status says it, and an event on the grant.
    wait_until(
        "the Tenant reporting Anna's grant unreadable",
        60,
        || {
            let (_, t) = kube(&e, "GET", "Tenant", Some("acme"), None);
            condition(&t, "Unreadable").is_some_and(|c| c.0 == "True")
        },
        &op,
    );
    let (_, t) = kube(&e, "GET", "Tenant", Some("acme"), None);
    let (_, reason, message) = condition(&t, "Unreadable").unwrap();
    assert_eq!(reason, "ObjectsUnreadable");
    assert!(message.contains("UserGrant customer-acme/anna-virtanen"), "{message}");
    assert!(message.contains("spec."), "names the field: {message}");
    assert!(!message.contains("131052"), "never the value: {message}");
    // Another grant's edit still goes through: the freeze is Anna's only.
    let (code, _) = kube(
        &e,
        "PATCH",
        "UserGrant",
        Some("liisa-korhonen"),
        Some(json!({"spec": {"person": {"phone": "+358 40 555 0101"}}})),
    );
    assert_eq!(code, 200);
    let liisa = "(uid=liisa-korhonen)";
    wait_until(
        "Liisa's edit in LDAP",
        60,
        || slapd.search("dc=acme,dc=fi", liisa, &["telephoneNumber"]).contains("+358405550101"),
        &op,
    );
    // Anna is exactly as she was, through several syncs.
    std::thread::sleep(Duration::from_secs(5));
    assert!(anna_phone(&slapd).contains("telephoneNumber"), "Anna is still there");
    assert_eq!(
        slapd.search("dc=acme,dc=fi", &format!("(member={ANNA})"), &["1.1"]),
        groups_before,
        "Anna keeps her groups"
    );
    let log = op.log();
    assert!(!log.contains("131052"), "the log never shows the value");
    let events = http(
        "GET",
        format!("{}/apis/events.k8s.io/v1/namespaces/{NS}/events", e.url()),
        "",
        None,
    )
    .1;
    let unreadable = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ev| ev["reason"] == "Unreadable" && ev["regarding"]["name"] == "anna-virtanen")
        .expect("an Unreadable event on the grant");
    assert!(!unreadable.to_string().contains("131052"), "{unreadable}");

    // Fixed, it is read again and reconciled.
    let (_, mut fixed) = kube(&e, "GET", "UserGrant", Some("anna-virtanen"), None);
    fixed["spec"]["validFrom"] = json!("2026-01-01");
    fixed["spec"]["roles"] = json!(["unit-admin", "occupational-nurse"]);
    fixed["spec"]["person"]["phone"] = json!("+358 40 555 0202");
    e.write_unchecked(fixed);
    wait_until("Anna's fixed grant applied", 60, || anna_phone(&slapd).contains("+358405550202"), &op);
    wait_until("Anna ready again", 60, || ready(&e, "UserGrant", "anna-virtanen"), &op);
    wait_until(
        "the Tenant no longer reporting it",
        60,
        || {
            let (_, t) = kube(&e, "GET", "Tenant", Some("acme"), None);
            condition(&t, "Unreadable").is_some_and(|c| c.0 == "False")
        },
        &op,
    );
}

/// accord removes only its own finalizer: a UserGrant that another controller also holds on
/// to keeps that controller's finalizer when accord lets go of it.
#[test]
fn another_controllers_finalizer_survives_accords_release() {
    let scratch = Scratch::new("operator-finalizers");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&e, &slapd, &scratch.0);
    let (code, _) = kube(
        &e,
        "PATCH",
        "UserGrant",
        Some("anna-virtanen"),
        Some(json!({"metadata": {"finalizers": ["example.com/keep"]}})),
    );
    assert_eq!(code, 200);
    let op = Operator::start(&e, &scratch.0, "solo");
    let finalizers = || {
        kube(&e, "GET", "UserGrant", Some("anna-virtanen"), None).1["metadata"]["finalizers"].clone()
    };
    wait_until("accord's finalizer added after the other", 60, || {
        finalizers() == json!(["example.com/keep", "accord.dev/cleanup"])
    }, &op);
    wait_until("Anna in LDAP", 60, || anna_phone(&slapd).contains("telephoneNumber"), &op);
    assert_eq!(kube(&e, "DELETE", "UserGrant", Some("anna-virtanen"), None).0, 200);
    wait_until("Anna gone from LDAP", 60, || !anna_phone(&slapd).contains("telephoneNumber"), &op);
    wait_until("accord's finalizer released", 60, || finalizers() == json!(["example.com/keep"]), &op);
    // The other controller's finalizer still holds the object.
    let (code, g) = kube(&e, "GET", "UserGrant", Some("anna-virtanen"), None);
    assert_eq!(code, 200);
    assert!(!g["metadata"]["deletionTimestamp"].is_null());
}
