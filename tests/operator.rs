//! `accord operator` end to end: the real binary and real targets (slapd, scim2-server, a
//! webhook receiver), on both Kubernetes APIs: every test body runs once on the emulator
//! (`emulator::…`) and once on the real kube-apiserver 1.20 (`real::…`), there as the
//! `accord-operator` user bound to exactly the Role the Helm chart renders; a request the
//! server refuses it (403) fails the test. The real tests share one API server per run of
//! this binary, each in a namespace of its own; the compaction test restarts its own. What
//! only the emulator can do on demand (an object its schema refuses) runs on it alone.

mod support;

use support::copy_dir;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Scratch;
use support::cluster::{Backend, Cluster};
use support::slapd::{ADMIN_PW, Slapd};

const ANNA: &str =
    "uid=anna-virtanen,ou=acme-helsinki-kallio,ou=acme-helsinki,ou=acme,ou=people,dc=acme,dc=fi";

/// Runs a test body on a cluster, then checks the server refused the operator nothing. A
/// refusal is reported first when the body failed too: it is the likelier cause.
fn run(backend: Backend, name: &str, body: fn(&mut Cluster)) {
    let mut c = Cluster::on(backend, name);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut c)));
    c.assert_operator_never_forbidden();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Each body once on the emulator and once on the real API server this binary shares.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod emulator {
            $( #[test] fn $name() { super::run(super::Backend::Emulator, stringify!($name), super::$name) } )*
        }
        mod real {
            $( #[test] fn $name() { super::run(super::Backend::Real, stringify!($name), super::$name) } )*
        }
    };
}

on_both!(
    converges_follows_edits_and_deletes,
    drift_is_reported_in_observe_and_repaired_in_enforce,
    a_target_outage_degrades_and_recovers,
    a_kill_9_mid_apply_then_restart_loses_and_duplicates_nothing,
    two_replicas_elect_one_leader_and_hand_over_on_sigterm,
    held_deletions_events_integration_cleanup_and_sigterm,
    deleting_a_tenant_closes_every_access_unless_orphaned,
    a_sync_of_500_new_grants_is_one_plan,
    webhook_receivers_get_the_whole_state_every_full_state_interval,
    another_controllers_finalizer_survives_accords_release,
    deleting_a_usergrant_ends_its_idp_sessions_before_it_goes,
);

/// Restarting the API server would disturb every other test on a shared one: this test has
/// a server of its own.
mod compaction {
    #[test]
    fn emulator() {
        super::run(
            super::Backend::Emulator,
            "watch-after-compaction",
            super::a_watch_from_a_compacted_resource_version_relists_without_spurious_writes,
        )
    }
    #[test]
    fn real() {
        super::run(
            super::Backend::RealOwn,
            "watch-after-compaction",
            super::a_watch_from_a_compacted_resource_version_relists_without_spurious_writes,
        )
    }
}

fn rt() -> tokio::runtime::Runtime {
    accord::connectors::http::crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The Finnish example, its directory pointed at `slapd` and re-read every 2 s, loaded into
/// the test's namespace; with `scim`, its extranet pointed there too. (The IdP Integration
/// is left out of the Tenant: its connector is tested elsewhere.)
fn load_acme(c: &Cluster, slapd: &Slapd, dir: &Path) {
    load_acme_with(c, slapd, None, dir)
}

fn load_acme_with(c: &Cluster, slapd: &Slapd, scim: Option<&str>, dir: &Path) {
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
    let creds = root.join("secrets/credentials.yaml");
    let text = std::fs::read_to_string(&creds)
        .unwrap()
        .replace("cn=accord,ou=services,", "cn=admin,")
        .replace(
            "token: change-me",
            &format!("token: {}", support::scim::TOKEN),
        )
        .replace("change-me", ADMIN_PW);
    std::fs::write(&creds, text).unwrap();
    c.load(&root);
}

struct Operator {
    child: Child,
    pub metrics: String,
    log: PathBuf,
}

impl Operator {
    fn start(c: &Cluster, dir: &Path, identity: &str) -> Operator {
        Self::start_with(c, dir, identity, "200ms")
    }

    fn start_with(c: &Cluster, dir: &Path, identity: &str, debounce: &str) -> Operator {
        let kubeconfig = dir.join(format!("kubeconfig-{identity}"));
        c.operator_kubeconfig(&kubeconfig);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("operator-{identity}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["operator", "--namespace", &c.ns])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--debounce", debounce, "--identity", identity])
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

    /// The lines of a metric (every label set).
    fn metric_lines(&self, name: &str) -> Vec<String> {
        let text = rt()
            .block_on(async { reqwest::get(&self.metrics).await.ok()?.text().await.ok() })
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name))
            .map(str::to_string)
            .collect()
    }

    /// SIGKILL, as a crash or an OOM kill would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; waits for the exit and returns its code.
    fn terminate(&mut self) -> Option<i32> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap().code()
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

fn people(slapd: &Slapd) -> usize {
    slapd
        .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
        .len()
}

/// Who holds the operator's Lease (null when nobody does).
fn lease_holder(c: &Cluster) -> Value {
    c.get("Lease", "accord-operator")
        .map_or(Value::Null, |l| l["spec"]["holderIdentity"].clone())
}

/// Marks an Integration or Tenant to leave what it provisioned in place when deleted.
fn orphan(c: &Cluster, kind: &str, name: &str) {
    c.patch(
        kind,
        name,
        json!({"metadata": {"annotations": {"accord.dev/orphan": "true"}}}),
    );
}

/// Deletes a resource and waits until it is gone, i.e. accord released its finalizer.
fn delete_until_gone(c: &Cluster, kind: &str, name: &str, secs: u64, op: &Operator) {
    assert_eq!(c.kube("DELETE", kind, Some(name), None).0, 200);
    wait_until(
        &format!("{kind} {name} gone"),
        secs,
        || c.get(kind, name).is_none(),
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

fn ready(c: &Cluster, kind: &str, name: &str) -> bool {
    c.get(kind, name)
        .is_some_and(|o| condition(&o, "Ready").is_some_and(|c| c.0 == "True"))
}

/// The operator has reported on the object's current spec.
fn seen(c: &Cluster, kind: &str, name: &str) -> bool {
    c.get(kind, name).is_some_and(|o| {
        o["status"]["observedGeneration"] == o["metadata"]["generation"]
    })
}

fn has_finalizer(c: &Cluster, kind: &str, name: &str) -> bool {
    c.get(kind, name)
        .is_some_and(|o| o["metadata"]["finalizers"].is_array())
}

/// The example converged, with every grant Ready and holding accord's finalizer.
fn converged(c: &Cluster, slapd: &Slapd, op: &Operator) {
    wait_until("17 people in LDAP", 90, || people(slapd) == 17, op);
    wait_until("Tenant Ready", 60, || ready(c, "Tenant", "acme"), op);
    wait_until(
        "every UserGrant Ready with the finalizer",
        60,
        || {
            c.list("UserGrant").iter().all(|g| {
                condition(g, "Ready").is_some_and(|c| c.0 == "True")
                    && g["metadata"]["finalizers"]
                        .as_array()
                        .is_some_and(|f| f.contains(&json!("accord.dev/cleanup")))
            })
        },
        op,
    );
}

fn converges_follows_edits_and_deletes(c: &mut Cluster) {
    let scratch = Scratch::new("operator");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let scim = support::scim::ScimServer::start();
    load_acme_with(c, &slapd, Some(&scim.url()), &scratch.0);
    let op = Operator::start(c, &scratch.0, "one");
    let scim_users = || support::scim::list(&scim.url(), "/Users");

    // Converged: every person in the directory and the extranet, every resource Ready.
    wait_until(
        "17 people in the extranet",
        90,
        || scim_users().len() == 17,
        &op,
    );
    wait_until(
        "the extranet Integration Ready",
        30,
        || ready(c, "Integration", "acme-extranet"),
        &op,
    );
    converged(c, &slapd, &op);
    wait_until(
        "Integration Ready",
        30,
        || ready(c, "Integration", "acme-ldap"),
        &op,
    );
    let tenant = c.get("Tenant", "acme").unwrap();
    assert_eq!(tenant["status"]["counts"]["userGrants"], 18);
    assert_eq!(tenant["status"]["observedGeneration"], 1);
    let unit = c.get("OrgUnit", "acme-helsinki-kallio").unwrap();
    assert_eq!(unit["status"]["path"], "acme/helsinki/kallio");
    let anna = c.get("UserGrant", "anna-virtanen").unwrap();
    assert_eq!(anna["status"]["state"], "Active");
    assert_eq!(anna["status"]["targets"][0]["state"], "InSync");

    // An edit follows into the directory.
    c.patch(
        "UserGrant",
        "anna-virtanen",
        json!({"spec": {"person": {"phone": "+358 40 555 0101"}}}),
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
            let g = c.get("UserGrant", "anna-virtanen").unwrap();
            g["status"]["observedGeneration"] == g["metadata"]["generation"]
                && g["status"]["targets"]
                    .as_array()
                    .is_some_and(|t| t.iter().all(|t| t["state"] == "InSync"))
        },
        &op,
    );
    let g = c.get("UserGrant", "anna-virtanen").unwrap();
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

    // Delete once: the person leaves the directory and the extranet before the resource goes.
    let juha = "(uid=juha-koskinen)";
    assert_eq!(c.kube("DELETE", "UserGrant", Some("juha-koskinen"), None).0, 200);
    let mut anywhere_when_gone = None;
    wait_until(
        "the UserGrant to go",
        30,
        || {
            let gone = c.get("UserGrant", "juha-koskinen").is_none();
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
    assert!(op.log().contains("\"level\":\"INFO\""), "JSON logs");
}

fn drift_is_reported_in_observe_and_repaired_in_enforce(c: &mut Cluster) {
    let scratch = Scratch::new("operator-drift");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    let op = Operator::start(c, &scratch.0, "drift");
    converged(c, &slapd, &op);
    assert!(anna_phone(&slapd).contains("telephoneNumber"), "{}", anna_phone(&slapd));

    // Observe mode: reported on the grant with the field named, not repaired.
    c.patch(
        "Integration",
        "acme-ldap",
        json!({"spec": {"sync": {"management": "Observe"}}}),
    );
    wait_until(
        "the Integration observed",
        30,
        || {
            c.get("Integration", "acme-ldap")
                .and_then(|i| condition(&i, "Drifted"))
                .is_some_and(|d| d.1 == "Observed")
        },
        &op,
    );
    let before = anna_phone(&slapd);
    slapd.modify("dc=acme,dc=fi", &format!("dn: {ANNA}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +358409999999\n"));
    wait_until(
        "Drifted on the UserGrant",
        30,
        || {
            let g = c.get("UserGrant", "anna-virtanen").unwrap();
            g["status"]["targets"][0]["state"] == "Drifted"
                && g["status"]["targets"][0]["drift"][0]["field"] == "telephoneNumber"
                && condition(&g, "Drifted").is_some_and(|c| c.0 == "True")
        },
        &op,
    );
    // Several sync intervals (2 s) go by: the directory keeps the hand edit.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        anna_phone(&slapd).contains("+358409999999"),
        "Observe leaves the directory alone"
    );

    // Enforce: repaired within one sync interval.
    c.patch(
        "Integration",
        "acme-ldap",
        json!({"spec": {"sync": {"management": null}}}),
    );
    wait_until(
        "the repair",
        30,
        || anna_phone(&slapd) == before,
        &op,
    );
    wait_until(
        "Drifted cleared",
        30,
        || {
            condition(&c.get("UserGrant", "anna-virtanen").unwrap(), "Drifted")
                .is_some_and(|c| c.0 == "False")
        },
        &op,
    );
    // The repair leaves a trace: status.lastDrift, events on the grant and the Integration,
    // the counter, a log line.
    let first = wait_for_last_drift(c, "telephoneNumber", &op);
    assert_eq!(first["fields"][0]["actual"], "+358409999999", "{first:#}");
    wait_for_drift_events(c, "+358409999999", "anna-virtanen (telephoneNumber)", &op);
    wait_until(
        "the repair counted",
        30,
        || op.metric("accord_drift_repaired_total{namespace=") >= 1.0,
        &op,
    );
    assert!(
        op.metric_lines("accord_drift_repaired_total")
            .iter()
            .any(|l| l.contains("integration=\"acme-ldap\"") && l.contains("kind=\"ldap\"")),
        "labelled by integration and target kind: {:?}",
        op.metric_lines("accord_drift_repaired_total")
    );

    // Enforce from the start: a phone and a title edited by hand (the title to an identity
    // number, which must never be shown) are put back, and recorded again.
    let hetu = "030977-4364";
    slapd.modify("dc=acme,dc=fi", &format!("dn: {ANNA}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +358401111111\n-\nreplace: title\ntitle: {hetu}\n"));
    wait_until("the second repair", 30, || anna_phone(&slapd) == before, &op);
    let second = wait_for_last_drift(c, "title", &op);
    assert_ne!(second["time"], first["time"], "a new record: {second:#}");
    wait_for_drift_events(c, "+358401111111", "anna-virtanen (telephoneNumber, title)", &op);
    wait_until(
        "the second repair counted",
        30,
        || op.metric("accord_drift_repaired_total{namespace=") >= 2.0,
        &op,
    );
    assert!(
        op.log().contains("drift repaired"),
        "an info log line:\n{}",
        op.log()
    );
    // It stays while nothing drifts: two more reconciles of the tenant leave it as it was.
    let reconciles = op.metric("accord_reconciles_total");
    wait_until(
        "two more reconciles",
        30,
        || op.metric("accord_reconciles_total") >= reconciles + 2.0,
        &op,
    );
    let g = c.get("UserGrant", "anna-virtanen").unwrap();
    assert_eq!(g["status"]["lastDrift"], second, "{:#}", g["status"]);
    // The identity number was in the directory, never in what accord wrote or logged.
    let events = serde_json::to_string(&c.list("Event")).unwrap();
    assert!(!events.contains(hetu), "an identity number in an event: {events}");
    assert!(!serde_json::to_string(&g).unwrap().contains(hetu), "in the status: {g:#}");
    assert!(!op.log().contains(hetu), "in the log");
}

/// Anna's `status.lastDrift` once it names `field`, checked for its shape.
fn wait_for_last_drift(c: &Cluster, field: &str, op: &Operator) -> Value {
    let mut last = Value::Null;
    wait_until(
        &format!("status.lastDrift naming {field}"),
        30,
        || {
            last = c.get("UserGrant", "anna-virtanen").unwrap()["status"]["lastDrift"].clone();
            last["fields"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["field"] == field))
        },
        op,
    );
    assert_eq!(last["integration"], "acme-ldap", "{last:#}");
    assert!(
        last["time"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{last:#}"
    );
    last
}

/// A `DriftRepaired` warning on Anna's grant naming the target, the field and the value that
/// was found (`actual`), and one on the Integration naming her and the fields (`listed`).
fn wait_for_drift_events(c: &Cluster, actual: &str, listed: &str, op: &Operator) {
    let has = |kind: &str, name: &str, words: &[&str]| {
        c.list("Event").iter().any(|e| {
            let note = e["note"].as_str().unwrap_or("");
            e["regarding"]["kind"] == kind
                && e["regarding"]["name"] == name
                && e["reason"] == "DriftRepaired"
                && e["type"] == "Warning"
                && words.iter().all(|w| note.contains(w))
        })
    };
    wait_until(
        "DriftRepaired events on the grant and the Integration",
        30,
        || {
            has("UserGrant", "anna-virtanen", &["acme-ldap (ldap)", "telephoneNumber", actual])
                && has("Integration", "acme-ldap", &[listed])
        },
        op,
    );
}

/// slapd down: Ready=False with the reason; back when it returns. The sync interval is ten
/// minutes meanwhile, so only the retries of a degraded tenant can bring it back.
fn a_target_outage_degrades_and_recovers(c: &mut Cluster) {
    let scratch = Scratch::new("operator-outage");
    let mut slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    let op = Operator::start(c, &scratch.0, "outage");
    converged(c, &slapd, &op);
    c.patch(
        "Integration",
        "acme-ldap",
        json!({"spec": {"sync": {"interval": "10m"}}}),
    );
    wait_until(
        "the new interval seen",
        30,
        || seen(c, "Integration", "acme-ldap"),
        &op,
    );
    slapd.stop();
    c.patch(
        "UserGrant",
        "anna-virtanen",
        json!({"spec": {"person": {"phone": "+358 40 555 0202"}}}),
    );
    wait_until(
        "Integration not Ready",
        30,
        || {
            let i = c.get("Integration", "acme-ldap").unwrap();
            condition(&i, "Ready").is_some_and(|c| {
                c.0 == "False" && c.1 == "Unreachable" && c.2.contains("cannot connect")
            })
        },
        &op,
    );
    let g = c.get("UserGrant", "anna-virtanen").unwrap();
    assert!(
        condition(&g, "Ready").is_some_and(|r| r.0 == "False"),
        "{:#}",
        g["status"]
    );
    slapd.restart();
    wait_until(
        "Integration Ready again",
        60,
        || ready(c, "Integration", "acme-ldap"),
        &op,
    );
    wait_until(
        "the edit made while slapd was down",
        30,
        || anna_phone(&slapd).contains("+358405550202"),
        &op,
    );
    assert!(op.log().contains("degraded; retrying"), "{}", op.log());
    assert_eq!(people(&slapd), 17, "nobody lost to the outage");
}

/// The API server loses its watch history (etcd compacted) and restarts: the operator's
/// watches resume from a resourceVersion that no longer exists, get 410 Gone, list again,
/// and go on — without taking the relist for deletions or rewriting the targets.
fn a_watch_from_a_compacted_resource_version_relists_without_spurious_writes(c: &mut Cluster) {
    let scratch = Scratch::new("operator-compaction");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    let op = Operator::start(c, &scratch.0, "compaction");
    converged(c, &slapd, &op);
    let lists = |c: &Cluster| -> usize {
        c.operator_calls()
            .iter()
            .filter(|(call, _)| call.verb == "list" && call.resource == "usergrants")
            .map(|(_, n)| n)
            .sum()
    };
    let (lists_before, writes_before) = (lists(c), op.metric("accord_target_writes_total"));
    c.compact_and_restart();
    c.patch(
        "UserGrant",
        "outi-lehtonen",
        json!({"spec": {"person": {"title": "Ylihoitaja"}}}),
    );
    wait_until(
        "the edit after 410",
        60,
        || {
            slapd
                .search("dc=acme,dc=fi", "(uid=outi-lehtonen)", &["title"])
                .contains("title: Ylihoitaja")
        },
        &op,
    );
    wait_until("the UserGrants listed again", 60, || lists(c) > lists_before, &op);
    assert!(
        op.log().contains("too old resource version"),
        "the watch resumed from a compacted resourceVersion: {}",
        op.log()
    );
    let writes = op.metric("accord_target_writes_total") - writes_before;
    assert!(
        writes <= 2.0,
        "only the edited entry is written after a relist, not the whole directory ({writes} writes)"
    );
    assert_eq!(people(&slapd), 17, "a relist is no deletion");
    wait_until("every grant Ready again", 60, || {
        c.list("UserGrant")
            .iter()
            .all(|g| condition(g, "Ready").is_some_and(|c| c.0 == "True"))
    }, &op);
}

/// 120 new people arrive while the targets are slowed to 20 requests a second; the operator
/// is killed (SIGKILL) when some of them are in the directory and not all. Restarted, it
/// finishes the job: every person once in each target, nobody lost.
fn a_kill_9_mid_apply_then_restart_loses_and_duplicates_nothing(c: &mut Cluster) {
    const NEW: usize = 120;
    let scratch = Scratch::new("operator-kill");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let scim = support::scim::ScimServer::start();
    load_acme_with(c, &slapd, Some(&scim.url()), &scratch.0);
    let mut op = Operator::start(c, &scratch.0, "before-kill");
    let scim_users = || support::scim::list(&scim.url(), "/Users");
    converged(c, &slapd, &op);
    wait_until("17 people in the extranet", 60, || scim_users().len() == 17, &op);
    for integration in ["acme-ldap", "acme-extranet"] {
        c.patch(
            "Integration",
            integration,
            json!({"spec": {"sync": {"requestsPerSecond": 20}}}),
        );
        wait_until("the slower pace seen", 30, || seen(c, "Integration", integration), &op);
    }
    let today = jiff::Zoned::now().date();
    let grants: String = (0..NEW)
        .map(|i| {
            format!(
                "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: new-{i:03}}}\n\
                 spec: {{tenant: acme, person: {{givenName: Uusi, familyName: Henkilö{i}, email: new{i}@acme.fi}}, \
                 unit: acme-helsinki-kallio, roles: [employee], features: [messaging], \
                 attestation: {{lastAttested: {today}, attestedBy: liisa.korhonen@acme.fi}}}}\n"
            )
        })
        .collect();
    c.load_yaml(&grants);
    let all = 17 + NEW;
    wait_until(
        "some, not all, of the new people in LDAP",
        120,
        || (18..all).contains(&people(&slapd)),
        &op,
    );
    op.kill();
    let at_kill = people(&slapd);
    assert!(at_kill < all, "killed mid-apply: {at_kill} of {all} in LDAP");

    let op = Operator::start(c, &scratch.0, "after-kill");
    wait_until("everyone in LDAP", 120, || people(&slapd) == all, &op);
    wait_until("everyone in the extranet", 120, || scim_users().len() == all, &op);
    for i in 0..NEW {
        let uid = format!("(uid=new-{i:03})");
        let found = slapd.search("dc=acme,dc=fi", &uid, &["mail"]);
        assert_eq!(found.matches("dn: ").count(), 1, "{uid} once in LDAP: {found}");
        assert!(found.contains(&format!("mail: new{i}@acme.fi")), "{found}");
    }
    let names: std::collections::BTreeSet<String> = scim_users()
        .iter()
        .map(|u| u["userName"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names.len(), all, "every extranet user once");
    wait_until(
        "every grant Ready",
        120,
        || {
            c.list("UserGrant")
                .iter()
                .all(|g| condition(g, "Ready").is_some_and(|c| c.0 == "True"))
        },
        &op,
    );
}

fn two_replicas_elect_one_leader_and_hand_over_on_sigterm(c: &mut Cluster) {
    let scratch = Scratch::new("operator-leader");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    let a = Operator::start(c, &scratch.0, "replica-a");
    let b = Operator::start(c, &scratch.0, "replica-b");
    wait_until("a lease holder", 30, || lease_holder(c).is_string(), &a);
    converged(c, &slapd, &a);
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
    // A Lease renewal that comes late (a loaded API server) lets the other replica take over
    // while the first has not yet seen it lost: wait for the election to settle, then exactly
    // one leads.
    wait_until(
        "exactly one replica leads",
        45,
        || a.metric("accord_is_leader") + b.metric("accord_is_leader") == 1.0,
        &a,
    );
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
    assert_eq!(leader.terminate(), Some(0), "{}", leader.log());
    assert!(leader.log().contains("lease released"), "{}", leader.log());
    assert_ne!(
        lease_holder(c),
        json!(name),
        "the Lease is no longer held by {name}"
    );
    wait_until(
        "the other replica leads",
        30,
        || follower.metric("accord_is_leader") == 1.0,
        &follower,
    );
    // And does the work: an edit goes through the new leader.
    c.patch(
        "UserGrant",
        "anna-virtanen",
        json!({"spec": {"person": {"phone": "+358 40 555 0303"}}}),
    );
    wait_until(
        "the edit through the new leader",
        30,
        || anna_phone(&slapd).contains("+358405550303"),
        &follower,
    );
}

fn held_deletions_events_integration_cleanup_and_sigterm(c: &mut Cluster) {
    let scratch = Scratch::new("operator-guards");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    let mut op = Operator::start(c, &scratch.0, "guard");
    converged(c, &slapd, &op);

    // Three deletions of seventeen: more than the tenant's 10 %, so they are held.
    for g in ["mikko-laaksonen", "ville-makinen", "jari-salminen"] {
        assert_eq!(c.kube("DELETE", "UserGrant", Some(g), None).0, 200);
    }
    wait_until(
        "DeletionsHeld",
        30,
        || {
            condition(&c.get("Tenant", "acme").unwrap(), "DeletionsHeld")
                .is_some_and(|c| c.0 == "True" && c.2.contains("3 of 17 people"))
        },
        &op,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(people(&slapd), 17, "held: nobody deleted");
    assert!(
        c.get("UserGrant", "ville-makinen").is_some(),
        "the resource waits for its person to go"
    );
    let events = c.list("Event");
    assert!(
        events.iter().any(|ev| ev["reason"] == "DeletionsHeld"
            && ev["type"] == "Warning"
            && ev["regarding"]["name"] == "acme"),
        "an event on the transition: {events:#?}"
    );
    // Confirmed by annotation: released.
    c.patch(
        "Tenant",
        "acme",
        json!({"metadata": {"annotations": {"accord.dev/confirm-deletions": "3"}}}),
    );
    wait_until(
        "the held deletions",
        30,
        || {
            people(&slapd) == 14
                && ["mikko-laaksonen", "ville-makinen", "jari-salminen"]
                    .iter()
                    .all(|g| c.get("UserGrant", g).is_none())
        },
        &op,
    );
    // The confirmation is used up, so it cannot wave the next mass deletion through.
    wait_until(
        "the confirmation removed",
        30,
        || {
            c.get("Tenant", "acme").unwrap()["metadata"]["annotations"]
                ["accord.dev/confirm-deletions"]
                .is_null()
        },
        &op,
    );
    let events = c.list("Event");
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
        || has_finalizer(c, "Integration", "acme-ldap"),
        &op,
    );
    let saved = c.get("Integration", "acme-ldap").unwrap();
    orphan(c, "Integration", "acme-ldap");
    delete_until_gone(c, "Integration", "acme-ldap", 30, &op);
    assert_eq!(people(&slapd), 14);
    // Without it, deleting the Integration closes every access it gave.
    let again = json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Integration",
        "metadata": {"name": "acme-ldap"}, "spec": saved["spec"]});
    assert_eq!(c.create(again).0, 201);
    wait_until(
        "a finalizer on the new Integration",
        30,
        || has_finalizer(c, "Integration", "acme-ldap"),
        &op,
    );
    delete_until_gone(c, "Integration", "acme-ldap", 30, &op);
    assert_eq!(people(&slapd), 0, "every person accord provisioned is gone");
    assert!(
        slapd.dns("dc=acme,dc=fi", "(seeAlso=*)").is_empty(),
        "and every unit and group"
    );

    // SIGTERM: a clean exit, within the 20 s it gives running reconciles (plus slack).
    let started = Instant::now();
    assert_eq!(op.terminate(), Some(0), "{}", op.log());
    assert!(started.elapsed() < Duration::from_secs(25));
    assert!(op.log().contains("shutting down"));
}

fn deleting_a_tenant_closes_every_access_unless_orphaned(c: &mut Cluster) {
    let scratch = Scratch::new("operator-tenant-delete");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    let op = Operator::start(c, &scratch.0, "tenants");
    wait_until("17 people in LDAP", 90, || people(&slapd) == 17, &op);
    wait_until(
        "a finalizer on the Tenant",
        30,
        || has_finalizer(c, "Tenant", "acme"),
        &op,
    );
    let saved = c.get("Tenant", "acme").unwrap();

    // Orphaned: the Tenant goes, the directory stays as it is.
    orphan(c, "Tenant", "acme");
    delete_until_gone(c, "Tenant", "acme", 30, &op);
    assert_eq!(people(&slapd), 17);
    // A grant deleted while its Tenant is gone does not hang on accord's finalizer.
    delete_until_gone(c, "UserGrant", "ville-makinen", 30, &op);

    // The Tenant back: accord manages the directory again and removes the person whose
    // grant went meanwhile.
    let again = json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "acme"}, "spec": saved["spec"]});
    assert_eq!(c.create(again).0, 201);
    wait_until("16 people in LDAP", 60, || people(&slapd) == 16, &op);
    wait_until(
        "a finalizer on the new Tenant",
        30,
        || has_finalizer(c, "Tenant", "acme"),
        &op,
    );

    // Not orphaned: deleting the Tenant closes every access it gave before it goes. Its
    // extranet and IdP are not reachable from here, so those Integrations are left out of
    // it by annotation; while one stayed unreachable and not orphaned, the Tenant would wait.
    orphan(c, "Integration", "acme-extranet");
    orphan(c, "Integration", "acme-idp");
    delete_until_gone(c, "Tenant", "acme", 60, &op);
    assert_eq!(people(&slapd), 0, "every person accord provisioned is gone");
    assert!(
        slapd.dns("dc=acme,dc=fi", "(seeAlso=*)").is_empty(),
        "and every unit and group"
    );
}

fn a_sync_of_500_new_grants_is_one_plan(c: &mut Cluster) {
    let scratch = Scratch::new("operator-batch");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    c.load_yaml(&format!(
        "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: bulk}}\nspec: {{displayName: Bulk, country: FI, integrations: {{directory: dir}}, roles: [{{name: employee}}], policy: {{minAdmins: 0}}}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: root}}\nspec: {{tenant: bulk, displayName: Root}}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: dir}}\nspec: {{tenant: bulk, kind: ldap, endpoint: \"{}\", credentialsRef: {{secretName: bind}}, ldap: {{baseDN: \"dc=acme,dc=fi\", layout: Flat}}, sync: {{interval: 10m, requestsPerSecond: 100000}}}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bind}}\nstringData: {{bindDN: \"cn=admin,dc=acme,dc=fi\", password: {ADMIN_PW}}}\n",
        slapd.url()
    ));
    let many: String = (0..500)
        .map(|i| {
            format!(
                "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{i:03}}}\nspec: {{tenant: bulk, person: {{givenName: G{i}, familyName: F, email: p{i}@bulk.fi}}, unit: root, roles: [employee]}}\n"
            )
        })
        .collect();
    // A debounce long enough that the sync below lands inside one quiet period.
    let op = Operator::start_with(c, &scratch.0, "batch", "2s");
    wait_until("the Tenant Ready", 60, || ready(c, "Tenant", "bulk"), &op);
    let applies = || op.log().matches("\"message\":\"applied\"").count();
    let before = applies();

    c.load_yaml(&many);
    // The apply is logged when it has finished, after the last person is in.
    wait_until(
        "500 people in LDAP and the apply logged",
        120,
        || applies() > before && people(&slapd) == 500,
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

fn webhook_receivers_get_the_whole_state_every_full_state_interval(c: &mut Cluster) {
    let scratch = Scratch::new("operator-webhook");
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
    let creds = root.join("secrets/credentials.yaml");
    std::fs::write(
        &creds,
        std::fs::read_to_string(&creds)
            .unwrap()
            .replace("change-me-to-32-random-bytes", key),
    )
    .unwrap();
    c.load(&root);
    let op = Operator::start(c, &scratch.0, "hook");
    wait_until(
        "18 people at the receiver",
        90,
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
/// watch goes on for everyone else. Fixed, the grant is reconciled again. Emulator only: a
/// real server stores no object its schema refuses, short of swapping the CRD under a
/// cluster other tests share.
/// What a real server cannot be made to do on demand, on the emulator: status writes
/// answered 500 (the tenant is degraded, counted, retried until the status is written), slow
/// answers, and a relist after a 410 that fails several times (the stores keep what they
/// had: nobody is taken for gone).
#[test]
fn api_server_errors_and_slow_answers_are_retried_and_never_taken_for_absence() {
    use support::kube::Fault;
    let c = Cluster::emulator("api-faults");
    let e = c.emulator_only().unwrap();
    let scratch = Scratch::new("operator-faults");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&c, &slapd, &scratch.0);
    let op = Operator::start(&c, &scratch.0, "faults");
    converged(&c, &slapd, &op);
    let fault = |verb, resource, subresource, times, code, delay_ms| Fault {
        user: support::cluster::OPERATOR.to_string(),
        verb,
        resource,
        subresource,
        times,
        code,
        delay: Duration::from_millis(delay_ms),
    };

    // Status writes fail: the edit still reaches LDAP, the failure is counted, and the
    // status is written once the server answers again.
    e.inject(fault("patch", "usergrants", "status", 4, Some(500), 0));
    c.patch("UserGrant", "anna-virtanen", json!({"spec": {"person": {"phone": "+358 40 555 0102"}}}));
    wait_until("the edit in LDAP", 30, || anna_phone(&slapd).contains("+358405550102"), &op);
    wait_until("every injected 500 answered", 60, || e.faults_left() == 0, &op);
    wait_until(
        "the failed status writes counted",
        30,
        || op.metric("accord_target_errors_total{namespace=\"api-faults\",integration=\"kube\",kind=\"status\"}") >= 1.0,
        &op,
    );
    wait_until("the edit reported after the retries", 60, || seen(&c, "UserGrant", "anna-virtanen"), &op);

    // A slow answer: the status write taking 5 s still gets there.
    e.inject(fault("patch", "usergrants", "status", 1, None, 5000));
    c.patch("UserGrant", "anna-virtanen", json!({"spec": {"person": {"phone": "+358 40 555 0103"}}}));
    wait_until("the second edit in LDAP", 30, || anna_phone(&slapd).contains("+358405550103"), &op);
    wait_until("the second edit reported", 60, || seen(&c, "UserGrant", "anna-virtanen"), &op);
    assert_eq!(e.faults_left(), 0, "the status write was the slow one");

    // The watches end and their resourceVersion is gone (410): the relist fails three times.
    // Meanwhile nobody may be taken for deleted.
    e.inject(fault("list", "usergrants", "", 3, Some(500), 0));
    e.compact_and_restart();
    wait_until("the failing relists answered", 60, || e.faults_left() == 0, &op);
    assert_eq!(people(&slapd), 17, "nobody removed while the grants could not be listed");
    c.patch("UserGrant", "anna-virtanen", json!({"spec": {"person": {"phone": "+358 40 555 0104"}}}));
    wait_until("an edit after the relist in LDAP", 60, || anna_phone(&slapd).contains("+358405550104"), &op);
    assert_eq!(people(&slapd), 17);
}

#[test]
fn an_object_that_does_not_parse_is_frozen_and_reported_not_deleted() {
    let c = Cluster::emulator("unreadable");
    let e = c.emulator_only().unwrap();
    let scratch = Scratch::new("operator-unreadable");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(&c, &slapd, &scratch.0);
    let op = Operator::start(&c, &scratch.0, "solo");
    wait_until("Anna in LDAP", 60, || anna_phone(&slapd).contains("telephoneNumber"), &op);
    wait_until("everyone applied", 60, || ready(&c, "Tenant", "acme"), &op);
    let groups_before = slapd.search("dc=acme,dc=fi", &format!("(member={ANNA})"), &["1.1"]);
    assert!(groups_before.contains("dn: "), "Anna is in groups");

    let mut anna = c.get("UserGrant", "anna-virtanen").unwrap();
    anna["spec"]["validFrom"] = json!("131052-308T");
    anna["spec"]["roles"] = json!("not a list");
    e.write_unchecked(anna.clone());
    // The grant's own status cannot always be written (a server validates the whole object
    // on a status write), so the Tenant's status says it, and an event on the grant.
    wait_until(
        "the Tenant reporting Anna's grant unreadable",
        60,
        || condition(&c.get("Tenant", "acme").unwrap(), "Unreadable").is_some_and(|c| c.0 == "True"),
        &op,
    );
    let (_, reason, message) = condition(&c.get("Tenant", "acme").unwrap(), "Unreadable").unwrap();
    assert_eq!(reason, "ObjectsUnreadable");
    assert!(message.contains(&format!("UserGrant {}/anna-virtanen", c.ns)), "{message}");
    assert!(message.contains("spec."), "names the field: {message}");
    assert!(!message.contains("131052"), "never the value: {message}");
    // Another grant's edit still goes through: the freeze is Anna's only.
    c.patch(
        "UserGrant",
        "liisa-korhonen",
        json!({"spec": {"person": {"phone": "+358 40 555 0101"}}}),
    );
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
    let events = c.list("Event");
    let unreadable = events
        .iter()
        .find(|ev| ev["reason"] == "Unreadable" && ev["regarding"]["name"] == "anna-virtanen")
        .expect("an Unreadable event on the grant");
    assert!(!unreadable.to_string().contains("131052"), "{unreadable}");

    // Fixed, it is read again and reconciled.
    let mut fixed = c.get("UserGrant", "anna-virtanen").unwrap();
    fixed["spec"]["validFrom"] = json!("2026-01-01");
    fixed["spec"]["roles"] = json!(["unit-admin", "occupational-nurse"]);
    fixed["spec"]["person"]["phone"] = json!("+358 40 555 0202");
    e.write_unchecked(fixed);
    wait_until("Anna's fixed grant applied", 60, || anna_phone(&slapd).contains("+358405550202"), &op);
    wait_until("Anna ready again", 60, || ready(&c, "UserGrant", "anna-virtanen"), &op);
    wait_until(
        "the Tenant no longer reporting it",
        60,
        || condition(&c.get("Tenant", "acme").unwrap(), "Unreadable").is_some_and(|c| c.0 == "False"),
        &op,
    );
}

/// accord removes only its own finalizer: a UserGrant that another controller also holds on
/// to keeps that controller's finalizer when accord lets go of it.
fn another_controllers_finalizer_survives_accords_release(c: &mut Cluster) {
    let scratch = Scratch::new("operator-finalizers");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    load_acme(c, &slapd, &scratch.0);
    c.patch(
        "UserGrant",
        "anna-virtanen",
        json!({"metadata": {"finalizers": ["example.com/keep"]}}),
    );
    let op = Operator::start(c, &scratch.0, "solo");
    let finalizers = || c.get("UserGrant", "anna-virtanen").unwrap()["metadata"]["finalizers"].clone();
    wait_until("accord's finalizer added after the other", 60, || {
        finalizers() == json!(["example.com/keep", "accord.dev/cleanup"])
    }, &op);
    wait_until("Anna in LDAP", 60, || anna_phone(&slapd).contains("telephoneNumber"), &op);
    assert_eq!(c.kube("DELETE", "UserGrant", Some("anna-virtanen"), None).0, 200);
    wait_until("Anna gone from LDAP", 60, || !anna_phone(&slapd).contains("telephoneNumber"), &op);
    wait_until("accord's finalizer released", 60, || finalizers() == json!(["example.com/keep"]), &op);
    // The other controller's finalizer still holds the object.
    let g = c.get("UserGrant", "anna-virtanen").expect("still there");
    assert!(!g["metadata"]["deletionTimestamp"].is_null());
}

/// The Finnish example with its IdP: directory in `slapd`, relying party and sessions in a
/// real LemonLDAP::NG logging people in from that directory (password logins allowed).
fn load_acme_with_idp(c: &Cluster, slapd: &Slapd, lemon: &support::lemonldap::Lemon, redirect: &str, dir: &Path) {
    let root = dir.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let edit = |file: &str, pairs: &[(&str, &str)]| {
        let p = root.join(file);
        let mut text = std::fs::read_to_string(&p).unwrap();
        for (from, to) in pairs {
            assert!(text.contains(from), "{file}: {from}");
            text = text.replace(from, to);
        }
        std::fs::write(p, text).unwrap();
    };
    edit("tenant.yaml", &[
        ("    extranet: [acme-extranet]\n", ""),
        ("minimumLevel: substantial", "minimumLevel: low"),
        ("methods: [suomifi, oidc:entra@substantial]", "methods: [password]"),
    ]);
    let sessions = format!("  lemonldap:\n    sessionsEndpoint: {}\n    clientSecretRef: {{secretName: acme-oidc, key: secret}}\n", lemon.manager_url());
    edit("integrations.yaml", &[
        ("ldaps://ldap.acme.internal:636", &slapd.url()),
        ("  tls: {caSecretRef: {secretName: acme-ldap-ca, key: ca.crt}}\n", ""),
        ("sync: {interval: 5m, maxConcurrency: 8, requestsPerSecond: 50}", "sync: {interval: 2s, maxConcurrency: 8, requestsPerSecond: 1000}"),
        ("https://auth.acme.fi", &lemon.api_url()),
        ("  lemonldap:\n", &sessions),
        ("[https://extranet.acme.fi/oidc/callback]", &format!("[\"{redirect}\"]")),
    ]);
    edit("secrets/credentials.yaml", &[
        ("cn=accord,ou=services,", "cn=admin,"),
        ("  password: change-me\n\n---\n# Placeholder credentials.\napiVersion: v1\nkind: Secret\nmetadata:\n  name: acme-idp-admin", &format!("  password: {ADMIN_PW}\n\n---\n# Placeholder credentials.\napiVersion: v1\nkind: Secret\nmetadata:\n  name: acme-idp-admin")),
    ]);
    // The loader puts every document into the test's namespace.
    std::fs::write(
        root.join("secrets/oidc.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: acme-oidc}\nstringData: {secret: acme-oidc-secret}\n",
    )
    .unwrap();
    c.load(&root);
}

fn deleting_a_usergrant_ends_its_idp_sessions_before_it_goes(c: &mut Cluster) {
    use support::lemonldap::Lemon;
    use support::oidc::Browser;
    let scratch = Scratch::new("operator-idp");
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let lemon = Lemon::start(&slapd, "dc=acme,dc=fi");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cb = format!("http://127.0.0.1:{port}/cb");
    load_acme_with_idp(c, &slapd, &lemon, &cb, &scratch.0);
    let op = Operator::start(c, &scratch.0, "idp");
    wait_until("Anna in LDAP", 60, || slapd.dns("dc=acme,dc=fi", "(uid=anna-virtanen)").len() == 1, &op);
    slapd.modify(
        "dc=acme,dc=fi",
        &format!("dn: {ANNA}\nchangetype: modify\nreplace: userPassword\nuserPassword: anna-pw-1\n"),
    );
    wait_until("the IdP Integration ready", 60, || ready(c, "Integration", "acme-idp"), &op);
    lemon.wait_for_client("acme-extranet", "acme-oidc-secret");
    let mut anna = Browser::new(&lemon.portal_url());
    anna.login("acme-extranet", "acme-oidc-secret", &cb, "anna-virtanen", "anna-pw-1", &[])
        .unwrap_or_else(|err| panic!("{err}\n{}", anna.last_page));
    assert_eq!(lemon.sessions_of("anna-virtanen").len(), 1);
    wait_until(
        "a finalizer on Anna's grant",
        30,
        || has_finalizer(c, "UserGrant", "anna-virtanen"),
        &op,
    );

    // Deleting her grant: the resource goes only once her session has been ended.
    assert_eq!(c.kube("DELETE", "UserGrant", Some("anna-virtanen"), None).0, 200);
    wait_until("Anna's grant gone", 60, || c.get("UserGrant", "anna-virtanen").is_none(), &op);
    assert!(lemon.sessions_of("anna-virtanen").is_empty(), "her session was ended before the grant went");
    assert!(slapd.dns("dc=acme,dc=fi", "(uid=anna-virtanen)").is_empty());
    // Her cookie stops giving codes once the portal's session cache lets go.
    wait_until(
        "her cookie to stop giving codes",
        40,
        || !matches!(anna.authorize("acme-extranet", &cb, &[]), support::oidc::Authorize::Code { .. }),
        &op,
    );
}
