//! Inbound provisioning end to end: the real `accord operator --scim-listen` against the
//! Kubernetes API emulator, driven by scim2-tester (a SCIM client no one here wrote), by
//! replays of the requests Microsoft documents Entra ID sending, by an HR system's leaver
//! reports, and — with slapd and scim2-server as the directory and the extranet — through the
//! normal reconcile into every target.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::kube::Emulator;
use support::slapd::{ADMIN_PW, Slapd, Tls, make_tls};
use support::{Scratch, copy_dir};

const NS: &str = "customer-acme";
const TOKEN: &str = "entra-secret-token";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn rt() -> tokio::runtime::Runtime {
    accord::connectors::http::crypto_provider();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The Finnish example with a scimServer Integration `acme-entra` (and `acme-hr` for
/// leavers, and a second tenant's `other-entra`); with `targets`, its directory and extranet
/// point at slapd and scim2-server, else the tenant has no targets.
fn load(e: &Emulator, dir: &Path, targets: Option<(&Slapd, &str)>, settings: &str) {
    e.load_dir(&write_estate(dir, targets, settings));
}

/// The Finnish example as `load` loads it, written under `dir`; its root.
fn write_estate(dir: &Path, targets: Option<(&Slapd, &str)>, settings: &str) -> std::path::PathBuf {
    let root = dir.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let t = root.join("tenant.yaml");
    let keep = if targets.is_some() { ":\n    directory: acme-ldap\n    extranet: [acme-extranet]\n" } else { ": {}\n" };
    let tenant = std::fs::read_to_string(&t)
        .unwrap()
        .replace(":\n    directory: acme-ldap\n    idp: acme-idp\n    extranet: [acme-extranet]\n", keep);
    std::fs::write(&t, tenant).unwrap();
    let i = root.join("integrations.yaml");
    let mut text: String = match targets {
        Some((slapd, scim)) => std::fs::read_to_string(&i)
            .unwrap()
            .replace("ldaps://ldap.acme.internal:636", &slapd.url())
            .replace("https://extranet.acme.fi/scim/v2", scim)
            .replace("sync: {interval: 5m, maxConcurrency: 8, requestsPerSecond: 50}", "sync: {interval: 2s, maxConcurrency: 8, requestsPerSecond: 1000}")
            .lines()
            .filter(|l| !l.starts_with("  tls:"))
            .map(|l| format!("{l}\n"))
            .collect(),
        None => String::new(),
    };
    text.push_str(&format!(
        r#"
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: acme-entra, namespace: {NS}}}
spec:
  tenant: acme
  kind: scimServer
  credentialsRef: {{secretName: acme-entra-token}}
  scimServer: {settings}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: acme-hr, namespace: {NS}}}
spec:
  tenant: acme
  kind: scimServer
  credentialsRef: {{secretName: acme-hr-token}}
  scimServer: {{leavers: true}}
---
apiVersion: v1
kind: Secret
metadata: {{name: acme-entra-token, namespace: {NS}}}
stringData: {{token: {TOKEN}, token-next: rotated-token}}
---
apiVersion: v1
kind: Secret
metadata: {{name: acme-hr-token, namespace: {NS}}}
stringData: {{token: hr-token}}
---
apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: other, namespace: customer-other}}
spec:
  displayName: Other Oy
  country: FI
  roles: [{{name: employee}}]
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: other, namespace: customer-other}}
spec: {{tenant: other, displayName: Other}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: other-entra, namespace: customer-other}}
spec:
  tenant: other
  kind: scimServer
  credentialsRef: {{secretName: other-entra-token}}
---
apiVersion: v1
kind: Secret
metadata: {{name: other-entra-token, namespace: customer-other}}
stringData: {{token: other-token}}
"#
    ));
    std::fs::write(&i, text).unwrap();
    if targets.is_some() {
        let c = root.join("secrets/credentials.yaml");
        let creds = std::fs::read_to_string(&c)
            .unwrap()
            .replace("cn=accord,ou=services,", "cn=admin,")
            .replace("token: change-me", &format!("token: {}", support::scim::TOKEN))
            .replace("change-me", ADMIN_PW);
        std::fs::write(&c, creds).unwrap();
    }
    root
}

struct Operator {
    child: Child,
    log: std::path::PathBuf,
    base: String,
    /// The CA of the listener's certificate, when it speaks TLS.
    ca: Option<Vec<u8>>,
}

impl Operator {
    /// Starts a replica without waiting for it; `tls`: (certificate, key) files.
    fn spawn(e: &Emulator, dir: &Path, identity: &str, tls: Option<&Tls>) -> Operator {
        let kubeconfig = dir.join("kubeconfig");
        e.kubeconfig(&kubeconfig, NS);
        let (metrics, scim) = (free_port(), free_port());
        let log = dir.join(format!("operator-{identity}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
        // Every namespace: the second tenant sits in customer-other.
        cmd.args(["operator", "--all-namespaces", "--debounce", "200ms", "--identity", identity])
            .args(["--listen", &format!("127.0.0.1:{metrics}"), "--scim-listen", &format!("127.0.0.1:{scim}")]);
        if let Some(t) = tls {
            cmd.arg("--scim-tls-cert").arg(&t.cert).arg("--scim-tls-key").arg(&t.key);
        }
        let child = cmd
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if tls.is_some() { "localhost" } else { "127.0.0.1" };
        Operator { child, log, base: format!("{scheme}://{host}:{scim}"), ca: tls.map(|t| t.ca_pem.clone().into_bytes()) }
    }

    fn start(e: &Emulator, dir: &Path) -> Operator {
        Self::start_with(e, dir, None)
    }

    fn start_with(e: &Emulator, dir: &Path, tls: Option<&Tls>) -> Operator {
        let op = Self::spawn(e, dir, "one", tls);
        // Ready: the stores are read and this replica leads.
        wait_until("the SCIM server to answer", 60, || op.call("GET", "/scim/customer-acme/acme-entra/v2/ServiceProviderConfig", None).0 == 200, &op);
        // The leader takes writes: a follower would answer 503.
        wait_until("this replica to lead", 60, || op.call("DELETE", &format!("{USERS}/none"), None).0 == 404, &op);
        op
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(TOKEN, method, path, body)
    }

    fn call_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, _, v) = self.raw(method, path, body.map(|b| b.to_string()), &[("authorization", &format!("Bearer {token}")), ("content-type", "application/scim+json; charset=utf-8")]);
        (s, v)
    }

    fn raw(&self, method: &str, path: &str, body: Option<String>, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = format!("{}{path}", self.base);
        rt().block_on(async {
            let mut client = reqwest::Client::builder();
            if let Some(ca) = &self.ca {
                client = client.add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap());
            }
            let mut rb = client.build().unwrap().request(method.parse().unwrap(), url);
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            if let Some(b) = body {
                rb = rb.body(b);
            }
            let Ok(r) = rb.send().await else {
                return (0, reqwest::header::HeaderMap::new(), Value::Null); // not listening yet
            };
            let (s, h) = (r.status().as_u16(), r.headers().clone());
            (s, h, r.json().await.unwrap_or(Value::Null))
        })
    }

    /// A User as Entra ID creates it (Microsoft's documented request).
    fn create_user(&self, user_name: &str, employee: &str) -> String {
        let (s, v) = self.call("POST", USERS, Some(entra_user(user_name, employee)));
        assert_eq!(s, 201, "{v}\n{}", self.log());
        v["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const USERS: &str = "/scim/customer-acme/acme-entra/v2/Users";
const GROUPS: &str = "/scim/customer-acme/acme-entra/v2/Groups";

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool, op: &Operator) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}\noperator log:\n{}", op.log().lines().rev().take(30).collect::<Vec<_>>().join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Entra ID's create request (learn.microsoft.com, "Tutorial: Develop and plan provisioning
/// for a SCIM endpoint", Create User): the enterprise extension, `"active": true`, a work
/// e-mail, `roles: []` and nulls in the body.
fn entra_user(user_name: &str, employee: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "externalId": user_name.split('@').next().unwrap(),
        "userName": user_name,
        "active": true,
        "addresses": [{"primary": true, "type": "work", "country": "FI", "locality": "Helsinki", "postalCode": "00100", "streetAddress": "Mannerheimintie 1"}],
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "phoneNumbers": [{"type": "mobile", "value": "+358 40 123 4567"}],
        "roles": [],
        "nickName": null,
        "title": null,
        ENT: {"employeeNumber": employee, "department": "acme/helsinki", "manager": null},
    })
}

fn grant_of(e: &Emulator, id: &str) -> Option<Value> {
    e.list("accord.dev", "usergrants").into_iter().find(|g| g["metadata"]["labels"]["scim.accord.dev/id"] == id)
}

fn start(label: &str, settings: &str) -> (Scratch, Emulator, Operator) {
    let scratch = Scratch::new(label);
    let e = Emulator::start();
    load(&e, &scratch.0, None, settings);
    let op = Operator::start(&e, &scratch.0);
    (scratch, e, op)
}

#[test]
fn scim2_tester_passes_every_check() {
    // The tester's phone numbers are random digits, not numbers: phone is left unmapped.
    let (_s, _e, op) = start("scim-tester", "{defaultUnit: acme, attributes: {phone: []}, requestsPerSecond: 5000, burst: 5000}");
    // The tester fills every attribute with random UUIDs; often one of them held a digit run
    // shaped like a Danish or Swedish identity number, which accord rightly refuses. The
    // fixture now draws UUIDs without six-digit runs; should such a refusal still happen, the
    // run is repeated (at most twice); any other failure fails at once.
    let mut runs = 0;
    let (results, seconds) = loop {
        runs += 1;
        let out = Command::new(support::scim::tool("python3"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scim_tester.py"))
            .args([&format!("{}/scim/customer-acme/acme-entra/v2", op.base), TOKEN])
            .output()
            .expect("scim2-tester in .venv (bash scripts/test.sh installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let results = report["results"].as_array().unwrap().clone();
        let bad: Vec<&Value> = results
            .iter()
            .filter(|r| !["SUCCESS", "COMPLIANT", "ACCEPTABLE", "SKIPPED"].contains(&r["status"].as_str().unwrap()))
            .collect();
        let identity_numbers = !bad.is_empty()
            && bad.iter().all(|r| r["reason"].as_str().unwrap_or("").contains("looks like a national identity number"));
        if identity_numbers && runs < 3 {
            eprintln!("scim2-tester run {runs}: a random value looked like an identity number and was refused; running again");
            continue;
        }
        assert!(bad.is_empty(), "{} of {} checks failed:\n{:#}", bad.len(), results.len(), json!(bad));
        break (results, report["seconds"].clone());
    };
    let skipped = results.iter().filter(|r| r["status"] == "SKIPPED").count();
    eprintln!("scim2-tester: {} checks, {} passed, {skipped} skipped, in {seconds} s", results.len(), results.len() - skipped);
    assert!(results.len() >= 40, "{}", results.len());
}

#[test]
fn entra_connection_test_is_an_empty_list() {
    let (_s, _e, op) = start("entra-connection", "{}");
    let (s, v) = op.call("GET", &format!("{USERS}?filter=userName+eq+%22ae7b4e2d-3a6f-4d5e-9a52-7fd3f1b4c0aa%22"), None);
    assert_eq!(s, 200);
    assert_eq!(v["totalResults"], 0);
    assert_eq!(v["Resources"], json!([]));
}

#[test]
fn entra_create_update_disable_and_delete_with_documented_quirks() {
    let (_s, e, op) = start("entra-users", "{}");
    let id = op.create_user("Test.User@acme.fi", "E9001");
    let g = grant_of(&e, &id).unwrap();
    assert_eq!(g["metadata"]["labels"]["accord.dev/managed-by"], "acme-entra");
    assert_eq!(g["metadata"]["ownerReferences"][0]["kind"], "Integration");
    assert_eq!(g["spec"]["person"]["phone"], "+358401234567");
    assert_eq!(g["spec"]["unit"], "acme-helsinki");
    // userName matches without regard to case; a second create of it is 409.
    let (s, v) = op.call("GET", &format!("{USERS}?filter=userName%20eq%20%22test.user%40ACME.fi%22"), None);
    assert_eq!((s, v["totalResults"].clone()), (200, json!(1)));
    let (s, v) = op.call("POST", USERS, Some(entra_user("test.user@acme.fi", "E9002")));
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["scimType"], "uniqueness");

    // Op names in any case, filtered paths that make the value, schema-qualified paths,
    // the manager as a bare string.
    let (s, v) = op.call("PATCH", &format!("{USERS}/{id}"), Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "test.user2@acme.fi"},
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+358 9 123 4567"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Espoo"},
            {"op": "replace", "path": format!("{ENT}:employeeNumber"), "value": "E9003"},
            {"op": "Add", "path": format!("{ENT}:manager"), "value": "some-manager-id"},
            {"op": "Replace", "path": "name.givenName", "value": "Tessa"},
        ]
    })));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[ENT]["manager"], json!({"value": "some-manager-id"}));
    let g = grant_of(&e, &id).unwrap();
    assert_eq!(g["spec"]["person"]["email"], "test.user2@acme.fi");
    assert_eq!(g["spec"]["person"]["employeeNumber"], "E9003");
    assert_eq!(g["spec"]["person"]["givenName"], "Tessa");
    assert_eq!(g["spec"]["person"]["address"]["city"], "Espoo");
    // A path-less replace whose keys are dotted or URNs.
    let (s, v) = op.call("PATCH", &format!("{USERS}/{id}"), Some(json!({"Operations": [
        {"op": "replace", "value": {"name.familyName": "Usernen", format!("{ENT}:department"): "acme/oulu", "displayName": "T U"}}
    ]})));
    assert_eq!(s, 200, "{v}");
    let g = grant_of(&e, &id).unwrap();
    assert_eq!(g["spec"]["person"]["familyName"], "Usernen");
    assert_eq!(g["spec"]["unit"], "acme-oulu");

    // Disable with a boolean as a string: suspended, still returned until DELETE.
    let (s, v) = op.call("PATCH", &format!("{USERS}/{id}"), Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})));
    assert_eq!((s, v["active"].clone()), (200, json!(false)), "{v}");
    assert_eq!(grant_of(&e, &id).unwrap()["spec"]["suspended"], true);
    let (s, v) = op.call("GET", &format!("{USERS}/{id}"), None);
    assert_eq!((s, v["active"].clone()), (200, json!(false)));
    // ETags: a stale If-Match is refused.
    let (s, _, _) = op.raw("PATCH", &format!("{USERS}/{id}"), Some(json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string()),
        &[("authorization", &format!("Bearer {TOKEN}")), ("if-match", "W/\"1\""), ("content-type", "application/scim+json")]);
    assert_eq!(s, 412);

    // DELETE 204; then 404; the UserGrant is being deleted.
    assert_eq!(op.call("DELETE", &format!("{USERS}/{id}"), None).0, 204);
    assert_eq!(op.call("GET", &format!("{USERS}/{id}"), None).0, 404);
    assert_eq!(op.call("DELETE", &format!("{USERS}/{id}"), None).0, 404);
    wait_until("the UserGrant gone or going", 30, || grant_of(&e, &id).is_none_or(|g| !g["metadata"]["deletionTimestamp"].is_null()), &op);
}

#[test]
fn entra_groups_members_and_mapping() {
    let settings = "{groups: [{displayName: Nurses, roles: [occupational-nurse], features: [messaging, documents], scopes: [{unit: acme-helsinki, includeDescendants: true}]}, {displayName: Admins, roles: [unit-admin], features: [reports]}]}";
    let (_s, e, op) = start("entra-groups", settings);
    let ids: Vec<String> = (1..=3).map(|n| op.create_user(&format!("member{n}@acme.fi"), &format!("E70{n}"))).collect();
    // Group create with Microsoft's extra schema URN, and "$ref": null in member adds.
    let (s, v) = op.call("POST", GROUPS, Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Nurses",
        "meta": {"resourceType": "Group"},
    })));
    assert_eq!(s, 201, "{v}");
    let gid = v["id"].as_str().unwrap().to_string();
    let (s, v) = op.call("PATCH", &format!("{GROUPS}/{gid}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Add", "path": "members", "value": ids.iter().map(|i| json!({"$ref": null, "value": i})).collect::<Vec<_>>()}
    ]})));
    assert!(s == 200 || s == 204, "{s} {v}");
    for id in &ids {
        let g = grant_of(&e, id).unwrap();
        assert_eq!(g["spec"]["roles"], json!(["occupational-nurse"]));
        assert_eq!(g["spec"]["scopes"], json!([{"unit": "acme-helsinki", "includeDescendants": true}]));
    }
    // excludedAttributes=members, as Entra reads groups.
    let (s, v) = op.call("GET", &format!("{GROUPS}?excludedAttributes=members&filter=displayName+eq+%22Nurses%22"), None);
    assert_eq!(s, 200);
    assert!(v["Resources"][0].get("members").is_none() && v["Resources"][0]["displayName"] == "Nurses", "{v}");
    // Removal by a value list removes only those members.
    let (s, _) = op.call("PATCH", &format!("{GROUPS}/{gid}"), Some(json!({"Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": ids[0]}]}
    ]})));
    assert_eq!(s, 200);
    let (_, v) = op.call("GET", &format!("{GROUPS}/{gid}"), None);
    let members: Vec<&str> = v["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(members.len(), 2, "{v}");
    assert!(!members.contains(&ids[0].as_str()));
    assert_eq!(grant_of(&e, &ids[0]).unwrap()["spec"].get("roles"), None);
    // And by members[value eq "…"].
    let (s, _) = op.call("PATCH", &format!("{GROUPS}/{gid}"), Some(json!({"Operations": [
        {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}
    ]})));
    assert_eq!(s, 200);
    let (_, v) = op.call("GET", &format!("{GROUPS}/{gid}"), None);
    assert_eq!(v["members"], json!([{"value": ids[2], "type": "User", "$ref": format!("{}{USERS}/{}", op.base, ids[2])}]));
    assert_eq!(grant_of(&e, &ids[2]).unwrap()["spec"]["roles"], json!(["occupational-nurse"]));
    // A member that is not a User of this Integration is refused, and nothing changes.
    let (s, v) = op.call("PATCH", &format!("{GROUPS}/{gid}"), Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "nobody"}]}]})));
    assert_eq!(s, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("not a User of Integration acme-entra"));
    // Deleting the group takes its access away.
    assert_eq!(op.call("DELETE", &format!("{GROUPS}/{gid}"), None).0, 204);
    assert_eq!(grant_of(&e, &ids[2]).unwrap()["spec"].get("roles"), None);
}

#[test]
fn bad_requests_are_4xx_scim_errors_with_a_detail() {
    let (_s, e, op) = start("scim-bad", "{}");
    let before = e.list("accord.dev", "usergrants").len();
    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        ("POST", USERS.to_string(), Some("{not json".into()), 400, "not valid JSON"),
        ("POST", USERS.to_string(), Some(json!({"userName": "x@acme.fi"}).to_string()), 400, "name.givenName"),
        ("POST", USERS.to_string(), Some(json!({"userName": "131052-308T", "name": {"givenName": "A", "familyName": "B"}, "emails": [{"value": "a@acme.fi"}]}).to_string()), 400, "national identity number"),
        ("POST", USERS.to_string(), Some({ let mut u = entra_user("anna2@acme.fi", "E1"); u["emails"][0]["value"] = json!("anna.virtanen@acme.fi"); u.to_string() }), 409, "duplicate person"),
        ("POST", USERS.to_string(), Some({ let mut u = entra_user("bad@acme.fi", "E55"); u["phoneNumbers"][0]["value"] = json!("call me"); u.to_string() }), 400, "phone"),
        ("GET", format!("{USERS}?filter=userName+zz+%22a%22"), None, 400, "not an operator"),
        ("GET", format!("{USERS}/no-such-id"), None, 404, "no User"),
        ("PUT", "/scim/customer-acme/acme-entra/v2/ServiceProviderConfig".into(), Some("{}".into()), 405, "read-only"),
        ("POST", "/scim/customer-acme/acme-entra/v2/Schemas".into(), Some("{}".into()), 405, "read-only"),
        ("GET", "/scim/customer-acme/acme-entra/v2/Nope".into(), None, 404, "no such SCIM endpoint"),
        ("POST", USERS.to_string(), Some(format!("{{\"userName\": \"{}\"}}", "a".repeat(2 * 1024 * 1024))), 413, "larger than"),
    ];
    for (method, path, body, status, says) in cases {
        let (s, h, v) = op.raw(method, &path, body, &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "application/scim+json")]);
        assert_eq!(s, status, "{method} {path}: {v}");
        assert_eq!(v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{v}");
        assert!(v["detail"].as_str().unwrap_or_default().contains(says), "{method} {path}: {v}");
        assert!(!v.to_string().contains("131052"), "{v}");
        assert!(h.get("content-type").unwrap().to_str().unwrap().starts_with("application/scim+json"));
    }
    assert_eq!(e.list("accord.dev", "usergrants").len(), before, "nothing was written");
}

#[test]
fn tokens_no_token_wrong_token_and_another_integrations_token_are_401() {
    let (_s, e, op) = start("scim-auth", "{}");
    let id = op.create_user("auth.user@acme.fi", "E8001");
    let people = || -> Vec<Value> {
        e.list("accord.dev", "usergrants").iter().map(|g| json!([g["metadata"]["name"], g["metadata"]["labels"], g["metadata"]["annotations"], g["spec"]])).collect()
    };
    let before = people();
    for (token, path) in [
        ("", USERS.to_string()),
        ("wrong", USERS.to_string()),
        ("other-token", USERS.to_string()),
        ("hr-token", USERS.to_string()),
        (TOKEN, "/scim/customer-other/other-entra/v2/Users".to_string()),
        (TOKEN, "/scim/customer-acme/no-such/v2/Users".to_string()),
    ] {
        for (method, p, body) in [
            ("GET", path.clone(), None),
            ("POST", path.clone(), Some(entra_user("intruder@acme.fi", "E666"))),
            ("DELETE", format!("{path}/{id}"), None),
            ("PATCH", format!("{path}/{id}"), Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}))),
        ] {
            let (s, v) = op.call_as(token, method, &p, body);
            assert_eq!(s, 401, "{token:?} {method} {p}: {v}");
        }
    }
    assert_eq!(people(), before, "nothing changed");
    // The rotated token works; tenant B's token sees none of tenant A's people.
    assert_eq!(op.call_as("rotated-token", "GET", &format!("{USERS}/{id}"), None).0, 200);
    let (s, v) = op.call_as("other-token", "GET", "/scim/customer-other/other-entra/v2/Users", None);
    assert_eq!((s, v["totalResults"].clone()), (200, json!(0)));
    assert_eq!(op.call_as("other-token", "GET", &format!("/scim/customer-other/other-entra/v2/Users/{id}"), None).0, 404);
    assert_eq!(op.call_as("other-token", "DELETE", &format!("/scim/customer-other/other-entra/v2/Users/{id}"), None).0, 404);
    // A Git-declared grant is not the Integration's: invisible to it.
    let (_, v) = op.call("GET", &format!("{USERS}?filter=userName+eq+%22anna.virtanen%40acme.fi%22"), None);
    assert_eq!(v["totalResults"], 0);
}

#[test]
fn a_mass_unassignment_is_held_not_obeyed() {
    let (_s, e, op) = start("scim-mass", "{deletionWindow: 1h}");
    // maxPerSync 25, maxPercent 10: of 30 pushed people, the fourth deletion in the window is
    // held (4 of 30 > 10 %), and every one after it.
    let ids: Vec<String> = (0..30).map(|n| op.create_user(&format!("mass{n}@acme.fi"), &format!("M{n}"))).collect();
    for id in &ids {
        assert_eq!(op.call("DELETE", &format!("{USERS}/{id}"), None).0, 204);
    }
    let held: Vec<&String> = ids.iter().filter(|id| grant_of(&e, id).is_some_and(|g| g["metadata"]["deletionTimestamp"].is_null())).collect();
    assert_eq!(held.len(), 27, "3 deleted, 27 held");
    assert!(held.iter().all(|id| grant_of(&e, id).unwrap()["metadata"]["annotations"]["scim.accord.dev/deletion-held"].is_string()));
    wait_until("DeletionsHeld on the Integration", 30, || {
        e.get("accord.dev", "integrations", NS, "acme-entra").is_some_and(|i| {
            i["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "DeletionsHeld" && c["status"] == "True" && c["message"].as_str().unwrap_or("").starts_with("27 ")))
        })
    }, &op);
    assert!(e.list("", "events").iter().chain(e.list("events.k8s.io", "events").iter()).any(|ev| ev["reason"] == "DeletionHeld"));
    // Pushed again (the scoping mistake undone): the same person, the same id, not held.
    let (s, v) = op.call("POST", USERS, Some(entra_user("mass29@acme.fi", "M29")));
    assert_eq!(s, 201, "{v}");
    assert_eq!(&v["id"], &json!(ids[29]));
    // Confirmed: the held deletions go.
    let (s, _) = http_patch(&e, "integrations", "acme-entra", json!({"metadata": {"annotations": {"accord.dev/confirm-deletions": "26"}}}));
    assert_eq!(s, 200);
    wait_until("the confirmed deletions carried out", 30, || {
        ids[..29].iter().all(|id| grant_of(&e, id).is_none_or(|g| !g["metadata"]["deletionTimestamp"].is_null()))
    }, &op);
    assert!(grant_of(&e, &ids[29]).unwrap()["metadata"]["deletionTimestamp"].is_null());
}

fn http_patch(e: &Emulator, plural: &str, name: &str, body: Value) -> (u16, Value) {
    rt().block_on(async {
        let r = reqwest::Client::new()
            .patch(format!("{}/apis/accord.dev/v1alpha1/namespaces/{NS}/{plural}/{name}", e.url()))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn leaver_reports_set_the_date_replay_and_unknown_people() {
    let (_s, e, op) = start("leavers", "{}");
    let today = jiff::Zoned::now().date();
    let send = |key: &str, body: Value| {
        let (s, _, v) = op.raw("POST", "/leavers/customer-acme/acme-hr", Some(body.to_string()),
            &[("authorization", "Bearer hr-token"), ("idempotency-key", key), ("content-type", "application/json")]);
        (s, v)
    };
    // anna-virtanen is declared in Git (employee number E1003): the HR system may report her.
    let (s, v) = send("k-1", json!({"employeeNumber": "E1003", "leavingDate": today.to_string()}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"result": "Recorded", "userGrant": "anna-virtanen", "leavingDate": today.to_string()}));
    let g = e.get("accord.dev", "usergrants", NS, "anna-virtanen").unwrap();
    assert_eq!(g["metadata"]["annotations"]["accord.dev/leaving-date"], today.to_string());
    wait_until("anna Suspended (her last day is today)", 30, || {
        e.get("accord.dev", "usergrants", NS, "anna-virtanen").is_some_and(|g| g["status"]["state"] == "Suspended")
    }, &op);
    // A replay is the same answer and writes nothing.
    let rv = e.get("accord.dev", "usergrants", NS, "anna-virtanen").unwrap()["metadata"]["resourceVersion"].clone();
    assert_eq!(send("k-1", json!({"employeeNumber": "E1003", "leavingDate": today.to_string()})), (200, v));
    assert_eq!(e.get("accord.dev", "usergrants", NS, "anna-virtanen").unwrap()["metadata"]["resourceVersion"], rv);
    // The key reused for another request, an unknown person, a bad date, no key.
    assert_eq!(send("k-1", json!({"employeeNumber": "E1003", "leavingDate": "2030-01-01"})).0, 422);
    let (s, v) = send("k-2", json!({"employeeNumber": "E404", "leavingDate": "2030-01-01"}));
    assert_eq!((s, v["result"].clone()), (422, json!("UnknownPerson")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("retrying will not help"));
    assert_eq!(send("k-3", json!({"email": "x@acme.fi", "leavingDate": "tomorrow"})).0, 400);
    let (s, _, _) = op.raw("POST", "/leavers/customer-acme/acme-hr", Some(json!({"employeeNumber": "E1003", "leavingDate": "2030-01-01"}).to_string()), &[("authorization", "Bearer hr-token")]);
    assert_eq!(s, 400);
    // An Integration that does not take leavers, and a wrong token.
    let (s, _, _) = op.raw("POST", "/leavers/customer-acme/acme-entra", Some(json!({"employeeNumber": "E1003", "leavingDate": "2030-01-01"}).to_string()), &[("authorization", &format!("Bearer {TOKEN}")), ("idempotency-key", "z")]);
    assert_eq!(s, 403);
    let (s, _, _) = op.raw("POST", "/leavers/customer-acme/acme-hr", Some("{}".into()), &[("authorization", "Bearer wrong"), ("idempotency-key", "z")]);
    assert_eq!(s, 401);
    // A future date: valid until then, active now.
    let later = today.saturating_add(jiff::ToSpan::days(30));
    assert_eq!(send("k-4", json!({"email": "Juha.Koskinen@acme.fi", "leavingDate": later.to_string()})).0, 200);
    wait_until("juha valid until the date", 30, || {
        e.get("accord.dev", "usergrants", NS, "juha-koskinen").is_some_and(|g| g["status"]["state"] == "Active" && g["metadata"]["annotations"]["accord.dev/leaving-date"] == later.to_string())
    }, &op);
}

/// Entra's sequence through the normal reconcile into slapd and the extranet.
#[test]
fn pushed_people_reach_ldap_and_the_extranet_and_leave_them() {
    let scratch = Scratch::new("scim-e2e");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let extranet = support::scim::ScimServer::start();
    let settings = "{groups: [{displayName: Nurses, roles: [occupational-nurse], features: [messaging]}, {displayName: Reporters, features: [reports], scopes: [{unit: acme-oulu}]}]}";
    load(&e, &scratch.0, Some((&slapd, &extranet.url())), settings);
    let op = Operator::start(&e, &scratch.0);
    let in_ldap = |uid: &str| !slapd.dns("dc=acme,dc=fi", &format!("(&(objectClass=inetOrgPerson)(uid={uid}))")).is_empty();
    let ldap_groups = |uid: &str| match slapd.dns("dc=acme,dc=fi", &format!("(uid={uid})")).first() {
        Some(dn) => slapd.search("ou=groups,dc=acme,dc=fi", &format!("(member={dn})"), &["cn"]),
        None => String::new(),
    };
    let ext_user = |name: &str| support::scim::list(&extranet.url(), "/Users").into_iter().find(|u| u["userName"] == name);
    wait_until("the Git-declared people in LDAP", 60, || in_ldap("anna-virtanen"), &op);

    let a = op.create_user("pia.pushed@acme.fi", "E5001");
    let b = op.create_user("olli.pushed@acme.fi", "E5002");
    wait_until("both pushed people in LDAP and the extranet", 60, || {
        in_ldap("pia-pushed") && in_ldap("olli-pushed") && ext_user("pia.pushed@acme.fi").is_some() && ext_user("olli.pushed@acme.fi").is_some()
    }, &op);
    // Group membership changes roles and features downstream.
    let (_, g) = op.call("POST", GROUPS, Some(json!({"displayName": "Nurses", "members": [{"value": a}, {"value": b}]})));
    let nurses = g["id"].as_str().unwrap().to_string();
    let (_, r) = op.call("POST", GROUPS, Some(json!({"displayName": "Reporters", "members": [{"value": a}]})));
    assert!(r["id"].is_string(), "{r}");
    wait_until("roles and features in LDAP and the extranet", 60, || {
        ldap_groups("pia-pushed").contains("role-occupational-nurse")
            && ldap_groups("olli-pushed").contains("role-occupational-nurse")
            && ext_user("pia.pushed@acme.fi").is_some_and(|u| u.to_string().contains("reports") && u.to_string().contains("acme-oulu"))
    }, &op);
    // Removing one member leaves the other.
    op.call("PATCH", &format!("{GROUPS}/{nurses}"), Some(json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"value": b}]}]})));
    wait_until("olli out of the nurses, pia still in", 60, || {
        !ldap_groups("olli-pushed").contains("role-occupational-nurse") && ldap_groups("pia-pushed").contains("role-occupational-nurse")
    }, &op);
    // active "False": access removed everywhere (inactive in the extranet, out of LDAP groups).
    op.call("PATCH", &format!("{USERS}/{b}"), Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})));
    wait_until("olli inactive everywhere", 60, || {
        ext_user("olli.pushed@acme.fi").is_some_and(|u| u["active"] == false) && !ldap_groups("olli-pushed").contains("cn=")
    }, &op);
    // DELETE: gone from every target before the UserGrant goes.
    assert_eq!(op.call("DELETE", &format!("{USERS}/{a}"), None).0, 204);
    let mut when_gone = None;
    wait_until("pia's UserGrant gone", 60, || {
        let gone = grant_of(&e, &a).is_none();
        if gone {
            when_gone = Some((in_ldap("pia-pushed"), ext_user("pia.pushed@acme.fi").is_some()));
        }
        gone
    }, &op);
    assert_eq!(when_gone, Some((false, false)), "(in LDAP, in the extranet) when the UserGrant went");
}

#[test]
fn tls_from_a_mounted_certificate_and_only_the_leader_writes() {
    let scratch = Scratch::new("scim-tls");
    let e = Emulator::start();
    load(&e, &scratch.0, None, "{}");
    // A server certificate for localhost signed by a test CA (a self-signed CA certificate
    // as the server's own is refused by rustls: CaUsedAsEndEntity).
    let tls = make_tls(&scratch.0);
    let leader = Operator::start_with(&e, &scratch.0, Some(&tls));
    assert!(leader.base.starts_with("https://"));
    let id = leader.create_user("tls.user@acme.fi", "E3001");
    let (s, v) = leader.call("GET", &format!("{USERS}/{id}"), None);
    assert_eq!(s, 200);
    assert!(v["meta"]["location"].as_str().unwrap().starts_with("https://localhost:"), "{v}");
    // A second replica: it reads, and answers writes with 503 and Retry-After.
    let follower = Operator::spawn(&e, &scratch.0, "two", None);
    wait_until("the follower to answer", 60, || follower.call("GET", &format!("{USERS}/{id}"), None).0 == 200, &follower);
    let (s, h, v) = follower.raw("POST", USERS, Some(entra_user("follower@acme.fi", "E3002").to_string()),
        &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "application/scim+json")]);
    assert_eq!(s, 503, "{v}");
    assert!(h.get("retry-after").is_some());
    assert!(v["detail"].as_str().unwrap().contains("not the leader"));
    assert_eq!(follower.call("DELETE", &format!("{USERS}/{id}"), None).0, 503);
    assert!(grant_of(&e, &id).is_some_and(|g| g["metadata"]["deletionTimestamp"].is_null()), "the follower deleted nothing");
}

#[test]
fn a_changed_group_table_changes_pushed_peoples_access() {
    let (_s, e, op) = start("scim-remap", "{groups: [{displayName: Nurses, roles: [occupational-nurse]}]}");
    let id = op.create_user("remap@acme.fi", "E6001");
    let (s, v) = op.call("POST", GROUPS, Some(json!({"displayName": "Nurses", "members": [{"value": id}]})));
    assert_eq!(s, 201, "{v}");
    assert_eq!(grant_of(&e, &id).unwrap()["spec"]["roles"], json!(["occupational-nurse"]));
    let table = |groups: Value| http_patch(&e, "integrations", "acme-entra", json!({"spec": {"scimServer": {"groups": groups}}}));
    assert_eq!(table(json!([{"displayName": "Nurses", "roles": ["employee"], "features": ["reports"]}])).0, 200);
    wait_until("the new table applied", 30, || {
        grant_of(&e, &id).is_some_and(|g| g["spec"]["roles"] == json!(["employee"]) && g["spec"]["features"] == json!(["reports"]))
    }, &op);
    // A table the tenant cannot take (an undeclared role) leaves people as they are, and says so.
    assert_eq!(table(json!([{"displayName": "Nurses", "roles": ["no-such-role"]}])).0, 200);
    wait_until("a warning on the grant", 30, || {
        e.list("events.k8s.io", "events").iter().any(|ev| ev["reason"] == "ScimRemapFailed" && ev["note"].as_str().unwrap_or("").contains("no-such-role"))
    }, &op);
    assert_eq!(grant_of(&e, &id).unwrap()["spec"]["roles"], json!(["employee"]));
    // Settings that cannot be read: the Integration is not Ready, and says why.
    assert_eq!(http_patch(&e, "integrations", "acme-entra", json!({"spec": {"scimServer": {"attributes": {"shoeSize": ["title"]}}}})).0, 200);
    wait_until("Ready False naming the field", 30, || {
        e.get("accord.dev", "integrations", NS, "acme-entra").is_some_and(|i| {
            i["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "False" && c["message"].as_str().unwrap_or("").contains("attributes.shoeSize")))
        })
    }, &op);
    let (s, v) = op.call("GET", USERS, None);
    assert_eq!(s, 200, "reads still work: {v}");
    let (s, v) = op.call("POST", USERS, Some(entra_user("late@acme.fi", "E6002")));
    assert_eq!(s, 503, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("shoeSize"));
}

/// `load` with every target: slapd, the SCIM extranet and a real LemonLDAP::NG as the IdP
/// (password logins at level low; the client's redirect URI `redirect`).
fn load_with_idp(e: &Emulator, dir: &Path, slapd: &Slapd, extranet: &str, lemon: &support::lemonldap::Lemon, redirect: &str, settings: &str) {
    let root = write_estate(dir, Some((slapd, extranet)), settings);
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
        ("    extranet: [acme-extranet]\n", "    idp: acme-idp\n    extranet: [acme-extranet]\n"),
        ("minimumLevel: substantial", "minimumLevel: low"),
        ("methods: [suomifi, oidc:entra@substantial]", "methods: [password]"),
    ]);
    let idp = format!(
        "  lemonldap:\n    sessionsEndpoint: {}\n    clientSecretRef: {{secretName: acme-oidc, key: secret}}\n",
        lemon.manager_url()
    );
    edit("integrations.yaml", &[
        ("https://auth.acme.fi", &lemon.api_url()),
        ("  lemonldap:\n", &idp),
        ("[https://extranet.acme.fi/oidc/callback]", &format!("[\"{redirect}\"]")),
    ]);
    std::fs::write(
        root.join("secrets/oidc.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: acme-oidc, namespace: {NS}}}\nstringData: {{secret: {OIDC_SECRET}}}\n"),
    )
    .unwrap();
    e.load_dir(&root);
}

const OIDC_SECRET: &str = "acme-oidc-secret";

/// Disabling a pushed person over SCIM, and a leaver report dated today, close access in
/// every target — the directory, the extranet and the IdP, where the live session they had
/// is ended.
#[test]
fn a_disabled_user_and_a_leaver_lose_their_idp_session_and_every_other_access() {
    use support::oidc::{Authorize, Browser, LoginError};
    let scratch = Scratch::new("scim-idp");
    let e = Emulator::start();
    let slapd = Slapd::start(&scratch.0, &["dc=acme,dc=fi"]);
    let extranet = support::scim::ScimServer::start();
    let lemon = support::lemonldap::Lemon::start(&slapd, "dc=acme,dc=fi");
    let cb = format!("http://127.0.0.1:{}/cb", free_port());
    load_with_idp(&e, &scratch.0, &slapd, &extranet.url(), &lemon, &cb, "{groups: [{displayName: Nurses, roles: [occupational-nurse]}]}");
    let op = Operator::start(&e, &scratch.0);
    let dn_of = |uid: &str| slapd.dns("dc=acme,dc=fi", &format!("(&(objectClass=inetOrgPerson)(uid={uid}))")).first().cloned();
    let ldap_groups = |uid: &str| match dn_of(uid) {
        Some(dn) => slapd.search("ou=groups,dc=acme,dc=fi", &format!("(member={dn})"), &["cn"]),
        None => String::new(),
    };
    let ext_user = |name: &str| support::scim::list(&extranet.url(), "/Users").into_iter().find(|u| u["userName"] == name);
    let ready = |name: &str| {
        e.get("accord.dev", "integrations", NS, name).is_some_and(|i| {
            i["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
    };
    wait_until("the IdP Integration Ready", 90, || ready("acme-idp"), &op);

    // Olli is pushed by Entra into a group; Anna is declared in Git.
    let olli = op.create_user("olli.pushed@acme.fi", "E5102");
    let (s, v) = op.call("POST", GROUPS, Some(json!({"displayName": "Nurses", "members": [{"value": olli}]})));
    assert_eq!(s, 201, "{v}");
    wait_until("Olli in LDAP with his role, and in the extranet", 60, || {
        ldap_groups("olli-pushed").contains("role-occupational-nurse") && ext_user("olli.pushed@acme.fi").is_some()
    }, &op);
    let password = |uid: &str| {
        let dn = dn_of(uid).unwrap();
        slapd.modify("dc=acme,dc=fi", &format!("dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {uid}-pw\n"));
    };
    password("olli-pushed");
    password("anna-virtanen");
    lemon.wait_for_client("acme-extranet", OIDC_SECRET);
    // Both log in (Olli once the client's rule names him).
    let login = |who: &str| {
        let mut b = Browser::new(&lemon.portal_url());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match b.login("acme-extranet", OIDC_SECRET, &cb, who, &format!("{who}-pw"), &[]) {
                Ok(_) => return b,
                Err(LoginError::RefusedByRule) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500));
                    b = Browser::new(&lemon.portal_url());
                }
                Err(err) => panic!("{who} cannot log in: {err}\n{}", b.last_page),
            }
        }
    };
    let mut olli_browser = login("olli-pushed");
    let mut anna_browser = login("anna-virtanen");
    assert!(!lemon.sessions_of("olli-pushed").is_empty());
    assert!(!lemon.sessions_of("anna-virtanen").is_empty());

    // Entra disables Olli: his session is ended, and his access elsewhere closes.
    let (s, v) = op.call("PATCH", &format!("{USERS}/{olli}"), Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})));
    assert!(s == 200 || s == 204, "{s} {v}");
    wait_until("Olli's IdP session ended, out of LDAP groups, inactive in the extranet", 60, || {
        lemon.sessions_of("olli-pushed").is_empty()
            && !ldap_groups("olli-pushed").contains("cn=")
            && ext_user("olli.pushed@acme.fi").is_some_and(|u| u["active"] == false)
    }, &op);
    assert!(!lemon.sessions_of("anna-virtanen").is_empty(), "Anna's session is not Olli's");
    wait_until("Olli's cookie to stop giving codes", 60, || !matches!(olli_browser.authorize("acme-extranet", &cb, &[]), Authorize::Code { .. }), &op);

    // The HR system reports Anna leaving today: the same, everywhere.
    assert!(ldap_groups("anna-virtanen").contains("cn="), "Anna is in her groups before");
    assert!(ext_user("anna.virtanen@acme.fi").is_some_and(|u| u["active"] == true), "and active in the extranet");
    let today = jiff::Zoned::now().date().to_string();
    let (s, _, v) = op.raw("POST", "/leavers/customer-acme/acme-hr", Some(json!({"employeeNumber": "E1003", "leavingDate": today}).to_string()),
        &[("authorization", "Bearer hr-token"), ("idempotency-key", "anna-leaves"), ("content-type", "application/json")]);
    assert_eq!(s, 200, "{v}");
    wait_until("Anna's IdP session ended, out of LDAP groups, inactive in the extranet", 60, || {
        lemon.sessions_of("anna-virtanen").is_empty()
            && !ldap_groups("anna-virtanen").contains("cn=")
            && ext_user("anna.virtanen@acme.fi").is_some_and(|u| u["active"] == false)
    }, &op);
    wait_until("Anna's cookie to stop giving codes", 60, || !matches!(anna_browser.authorize("acme-extranet", &cb, &[]), Authorize::Code { .. }), &op);
    // Neither can log in anew, once the portal has reloaded the relying party's rule (a
    // login it still lets through opens a session the next reconcile ends).
    for who in ["olli-pushed", "anna-virtanen"] {
        wait_until(&format!("a fresh login of {who} refused"), 60, || {
            Browser::new(&lemon.portal_url()).login("acme-extranet", OIDC_SECRET, &cb, who, &format!("{who}-pw"), &[]).is_err()
        }, &op);
    }
}
