//! The Kubernetes API an end-to-end test of the operator runs against, behind one interface
//! so that the same test body runs on both: the emulator (tests/support/kube/, one per test)
//! or the real kube-apiserver 1.20 (tests/support/apiserver.rs).
//!
//! Real servers are shared: one per test binary, started by the first test that wants it,
//! each test in a namespace of its own with the Role the Helm chart renders bound to the
//! operator's user (`accord-operator`), exactly as a customer installs it. A test that must
//! restart its server (compaction) gets one of its own.
//!
//! The test itself talks to the API as an admin; the operator as `accord-operator`. Both
//! servers log every request by user (the real one in its audit log), so a test can count the
//! operator's calls and check that none was refused.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::ApiCall;
use super::apiserver::{ApiServer, repo};
use super::kube::Emulator;

/// The operator's user on both servers (on the emulator, its bearer token).
pub const OPERATOR: &str = "accord-operator";
/// The tests' own user on the emulator (on the real server the token of `admin`).
const ADMIN: &str = "admin";

/// Which server a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Emulator,
    /// The real server this test binary shares.
    Real,
    /// A real server of the test's own (one it may restart).
    RealOwn,
}

enum Server {
    Emulator(Emulator),
    Shared(&'static ApiServer),
    Own(ApiServer),
}

pub struct Cluster {
    server: Server,
    /// The test's namespace.
    pub ns: String,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    /// Where this test's part of the real server's audit log starts.
    audit_from: u64,
    /// Stretches of the audit log (byte offsets) from a restart until the server's
    /// authoriser knew the Roles again: a refusal there is the restart's, not the Role's.
    restarts: Vec<(u64, u64)>,
}

/// A namespace name from a test's name: lower case, dashes, at most 63 characters.
fn namespace_for(label: &str) -> String {
    let ns: String = label
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    ns.trim_matches('-').to_string()
}

/// The real server of this test binary: started once, with accord's CRDs for 1.20, and
/// stopped when the test process is gone.
fn shared() -> &'static ApiServer {
    static SHARED: OnceLock<ApiServer> = OnceLock::new();
    SHARED.get_or_init(|| {
        let api = ApiServer::start();
        api.stop_with_this_process();
        api.install_accord_crds();
        eprintln!("shared kube-apiserver ready in {:?}", api.ready_in);
        api
    })
}

/// The Role the Helm chart renders (templates/rbac.yaml), rendered once per test binary.
pub fn chart_role() -> Value {
    static ROLE: OnceLock<Value> = OnceLock::new();
    ROLE.get_or_init(|| {
        let helm = repo().join(".cache/tools/helm");
        let out = Command::new(&helm)
            .args(["template", "accord", "charts/accord", "--namespace", "placeholder"])
            .args(["-s", "templates/rbac.yaml"])
            .current_dir(repo())
            .output()
            .unwrap_or_else(|e| panic!("{} ({e}): scripts/test.sh installs it", helm.display()));
        assert!(
            out.status.success(),
            "helm template: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        serde_yaml::Deserializer::from_str(&text)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .find(|d: &Value| d["kind"] == "Role")
            .expect("the chart renders a Role")
    })
    .clone()
}

/// The API path of a kind's collection: (prefix, plural).
pub fn path_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "Tenant" => ("/apis/accord.dev/v1alpha1", "tenants"),
        "OrgUnit" => ("/apis/accord.dev/v1alpha1", "orgunits"),
        "UserGrant" => ("/apis/accord.dev/v1alpha1", "usergrants"),
        "Integration" => ("/apis/accord.dev/v1alpha1", "integrations"),
        "Secret" => ("/api/v1", "secrets"),
        "ConfigMap" => ("/api/v1", "configmaps"),
        "Event" => ("/apis/events.k8s.io/v1", "events"),
        "Lease" => ("/apis/coordination.k8s.io/v1", "leases"),
        k => panic!("no path for kind {k} in tests/support/cluster.rs"),
    }
}

impl Cluster {
    pub fn on(backend: Backend, label: &str) -> Cluster {
        match backend {
            Backend::Emulator => Self::emulator(label),
            Backend::Real => Self::real(label),
            Backend::RealOwn => Self::real_own(label),
        }
    }

    pub fn emulator(label: &str) -> Cluster {
        Self::new(Server::Emulator(Emulator::start()), label)
    }

    /// A namespace on the real server this test binary shares.
    pub fn real(label: &str) -> Cluster {
        let c = Self::new(Server::Shared(shared()), label);
        c.prepare_namespace();
        c
    }

    /// A real server of this test's own.
    pub fn real_own(label: &str) -> Cluster {
        let api = ApiServer::start();
        api.install_accord_crds();
        let c = Self::new(Server::Own(api), label);
        c.prepare_namespace();
        c
    }

    fn new(server: Server, label: &str) -> Cluster {
        accord::connectors::http::crypto_provider();
        let mut c = Cluster {
            server,
            ns: namespace_for(label),
            client: reqwest::Client::new(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            audit_from: 0,
            restarts: Vec::new(),
        };
        c.client = c.new_client();
        c.audit_from = c.api_server().map_or(0, ApiServer::audit_offset);
        c
    }

    /// A client that trusts the server's CA, with no connection from before a restart.
    fn new_client(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
        if let Some(api) = self.api_server() {
            let pem = std::fs::read(&api.ca).unwrap();
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }

    pub fn is_real(&self) -> bool {
        !matches!(self.server, Server::Emulator(_))
    }

    /// "emulator" or "real", for messages.
    pub fn name(&self) -> &'static str {
        if self.is_real() { "real" } else { "emulator" }
    }

    /// The emulator, for what only it can do (store an object its schema refuses).
    pub fn emulator_only(&self) -> Option<&Emulator> {
        match &self.server {
            Server::Emulator(e) => Some(e),
            _ => None,
        }
    }

    pub fn api_server(&self) -> Option<&ApiServer> {
        match &self.server {
            Server::Shared(api) => Some(api),
            Server::Own(api) => Some(api),
            Server::Emulator(_) => None,
        }
    }

    fn base(&self) -> String {
        match &self.server {
            Server::Emulator(e) => e.url(),
            Server::Shared(api) => api.url(),
            Server::Own(api) => api.url(),
        }
    }

    /// A kubeconfig for the operator: the `accord-operator` user, this test's namespace.
    pub fn operator_kubeconfig(&self, path: &Path) {
        let text = match &self.server {
            Server::Emulator(e) => format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster: {{server: \"{}\"}}\n\
                 users:\n- name: {OPERATOR}\n  user: {{token: {OPERATOR}}}\n\
                 contexts:\n- name: emulator\n  context: {{cluster: emulator, user: {OPERATOR}, namespace: {}}}\n\
                 current-context: emulator\n",
                e.url(),
                self.ns
            ),
            Server::Shared(api) => std::fs::read_to_string(api.kubeconfig_for(OPERATOR)).unwrap(),
            Server::Own(api) => std::fs::read_to_string(api.kubeconfig_for(OPERATOR)).unwrap(),
        };
        std::fs::write(path, text).unwrap();
    }

    /// One request as the tests' admin. Connection failures are retried for a while (a
    /// server under load); any answer is returned as it is.
    pub fn request(&self, method: &str, path: &str, content_type: &str, body: Option<&Value>) -> (u16, Value) {
        self.rt.block_on(self.send(method, path, content_type, body))
    }

    async fn send(&self, method: &str, path: &str, content_type: &str, body: Option<&Value>) -> (u16, Value) {
        let token = match self.server {
            Server::Emulator(_) => ADMIN.to_string(),
            _ => super::apiserver::token_of("admin"),
        };
        let url = format!("{}{path}", self.base());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut rb = self
                .client
                .request(method.parse().unwrap(), &url)
                .bearer_auth(&token);
            if let Some(b) = body {
                rb = rb.header("content-type", content_type).json(b);
            }
            match rb.send().await {
                Ok(r) => return (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
                Err(e) if e.is_connect() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{method} {url} on the {} server: {e}", self.name()),
            }
        }
    }

    fn url_of(&self, kind: &str, name: Option<&str>) -> String {
        let (prefix, plural) = path_of(kind);
        match name {
            Some(n) => format!("{prefix}/namespaces/{}/{plural}/{n}", self.ns),
            None => format!("{prefix}/namespaces/{}/{plural}", self.ns),
        }
    }

    /// A request on an object of the test's namespace (or its collection); a body is sent
    /// as a merge patch.
    pub fn kube(&self, method: &str, kind: &str, name: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let path = self.url_of(kind, name);
        self.request(method, &path, "application/merge-patch+json", body.as_ref())
    }

    /// A merge patch that must succeed.
    pub fn patch(&self, kind: &str, name: &str, body: Value) {
        let (code, answer) = self.kube("PATCH", kind, Some(name), Some(body));
        assert_eq!(code, 200, "PATCH {kind} {name} on the {} server: {answer}", self.name());
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<Value> {
        match self.kube("GET", kind, Some(name), None) {
            (200, v) => Some(v),
            (404, _) => None,
            (code, v) => panic!("GET {kind} {name}: {code} {v}"),
        }
    }

    pub fn list(&self, kind: &str) -> Vec<Value> {
        let (code, v) = self.kube("GET", kind, None, None);
        assert_eq!(code, 200, "list {kind}: {v}");
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Whether every object of a kind in the test's namespace passes `f`; read 500 at a time
    /// on the real server, so that 100,000 objects are never one answer.
    pub fn all(&self, kind: &str, f: impl Fn(&Value) -> bool) -> bool {
        if let Server::Emulator(e) = &self.server {
            let (prefix, plural) = path_of(kind);
            let group = prefix.trim_start_matches("/apis/").split('/').next().unwrap_or("");
            return e.all(group, plural, f);
        }
        let mut token = String::new();
        loop {
            let path = format!("{}?limit=500&continue={token}", self.url_of(kind, None));
            let (code, page) = self.request("GET", &path, "application/json", None);
            assert_eq!(code, 200, "list {kind}: {page}");
            if !page["items"].as_array().is_some_and(|items| items.iter().all(&f)) {
                return false;
            }
            match page["metadata"]["continue"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return true,
            }
        }
    }

    /// Creates an object in the test's namespace; its answer.
    pub fn create(&self, mut obj: Value) -> (u16, Value) {
        obj["metadata"]["namespace"] = json!(self.ns);
        let path = self.url_of(obj["kind"].as_str().expect("a kind"), None);
        self.request("POST", &path, "application/json", Some(&obj))
    }

    /// Creates every document of every `.yaml` file under `dir` in the test's namespace (as
    /// `kubectl apply -R -f` would, whatever namespace the files name), a few at a time.
    pub fn load(&self, dir: &Path) {
        let docs = yaml_documents(dir);
        self.create_all(docs);
    }

    /// Creates every document of a YAML stream in the test's namespace.
    pub fn load_yaml(&self, text: &str) {
        let docs = serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect();
        self.create_all(docs);
    }

    fn create_all(&self, docs: Vec<Value>) {
        let sends = docs.into_iter().map(|mut obj| {
            obj["metadata"]["namespace"] = json!(self.ns);
            let path = self.url_of(obj["kind"].as_str().expect("a kind"), None);
            async move {
                let (code, answer) = self.send("POST", &path, "application/json", Some(&obj)).await;
                (obj, code, answer)
            }
        });
        let results: Vec<_> = self
            .rt
            .block_on(futures::stream::iter(sends).buffer_unordered(8).collect());
        for (obj, code, answer) in results {
            assert_eq!(
                code,
                201,
                "{} {} not created on the {} server: {answer}",
                obj["kind"],
                obj["metadata"]["name"],
                self.name()
            );
        }
    }

    /// The namespace, the chart's Role and a RoleBinding of it to the operator's user; waits
    /// until the server's authoriser knows them.
    fn prepare_namespace(&self) {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}});
        let (code, answer) = self.request("POST", "/api/v1/namespaces", "application/json", Some(&ns));
        assert_eq!(code, 201, "namespace {}: {answer}", self.ns);
        let mut role = chart_role();
        role["metadata"]["namespace"] = json!(self.ns);
        let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces";
        let path = format!("{rbac}/{}/roles", self.ns);
        let (code, answer) = self.request("POST", &path, "application/json", Some(&role));
        assert_eq!(code, 201, "the chart's Role: {answer}");
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": OPERATOR, "namespace": self.ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR}],
        });
        let path = format!("{rbac}/{}/rolebindings", self.ns);
        let (code, answer) = self.request("POST", &path, "application/json", Some(&binding));
        assert_eq!(code, 201, "the RoleBinding: {answer}");
        self.wait_until_authorised();
    }

    /// Waits until the server's authoriser lets the operator's user list UserGrants here.
    fn wait_until_authorised(&self) {
        let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": OPERATOR, "resourceAttributes": {"namespace": self.ns, "verb": "list",
                "group": "accord.dev", "resource": "usergrants"}}});
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, answer) = self.request(
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                "application/json",
                Some(&review),
            );
            if answer["status"]["allowed"] == true {
                return;
            }
            assert!(Instant::now() < deadline, "the RoleBinding never took effect: {answer}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Compacts the history and restarts the server, so that the operator's watches resume
    /// from a compacted resourceVersion (410 Gone). Something the operator does not watch is
    /// written first, so that the compaction passes every resourceVersion it has seen.
    pub fn compact_and_restart(&mut self) {
        match &mut self.server {
            Server::Emulator(e) => e.compact_and_restart(),
            Server::Own(api) => {
                let name = format!("bump-{}", api.etcd_revision());
                let path = format!("/api/v1/namespaces/{}/configmaps", self.ns);
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
                let (code, answer) = self.rt.block_on(async {
                    let token = super::apiserver::token_of("admin");
                    let r = self
                        .client
                        .post(format!("{}{path}", api.url()))
                        .bearer_auth(token)
                        .json(&cm)
                        .send()
                        .await
                        .unwrap();
                    (r.status().as_u16(), r.text().await.unwrap_or_default())
                });
                assert_eq!(code, 201, "{answer}");
                let from = api.audit_offset();
                let rev = api.compact_and_restart();
                eprintln!("compacted at revision {rev}; kube-apiserver ready again in {:?}", api.ready_in);
                self.client = self.new_client();
                // Ready is not yet authorising: RBAC's caches fill after /readyz says 200.
                self.wait_until_authorised();
                let to = self.api_server().unwrap().audit_offset();
                self.restarts.push((from, to));
            }
            Server::Shared(_) => panic!("a shared server is not restarted: use Backend::RealOwn"),
        }
    }

    /// The operator's requests in this test's namespace since the test began, with how
    /// many of each.
    pub fn operator_calls(&self) -> BTreeMap<ApiCall, usize> {
        self.operator_calls_outside(&[])
    }

    /// The same, leaving out the stretches of the audit log given.
    fn operator_calls_outside(&self, skip: &[(u64, u64)]) -> BTreeMap<ApiCall, usize> {
        let mut out = BTreeMap::new();
        match &self.server {
            Server::Emulator(e) => {
                for (call, n) in e.calls() {
                    if call.user == OPERATOR {
                        *out.entry(call).or_default() += n;
                    }
                }
            }
            _ => {
                let api = self.api_server().expect("a real server");
                let mut stretches = vec![];
                let mut from = self.audit_from;
                for (a, b) in skip {
                    stretches.push((from, Some(*a)));
                    from = *b;
                }
                stretches.push((from, None));
                let calls = stretches
                    .into_iter()
                    .flat_map(|(from, to)| api.audit_calls(from, to).0);
                for call in calls {
                    if call.user == OPERATOR && call.namespace == self.ns {
                        *out.entry(call).or_default() += 1;
                    }
                }
            }
        }
        out
    }

    /// Fails the test if the API server refused the operator anything (403): the chart's
    /// Role lacks a verb the operator calls. (Not counted: refusals while a restarted server
    /// was still filling its RBAC caches.)
    pub fn assert_operator_never_forbidden(&self) {
        let refused: Vec<String> = self
            .operator_calls_outside(&self.restarts)
            .into_iter()
            .filter(|(c, _)| c.code == 403)
            .map(|(c, n)| format!("{n}× {} {}{}{}", c.verb, c.resource, if c.subresource.is_empty() { "" } else { "/" }, c.subresource))
            .collect();
        assert!(
            refused.is_empty(),
            "the {} API server refused the operator (user {OPERATOR}, bound to the chart's Role) in {}: {refused:?}",
            self.name(),
            self.ns
        );
    }
}

/// Every document of every `.yaml` file under `dir`.
fn yaml_documents(dir: &Path) -> Vec<Value> {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for f in std::fs::read_dir(d).unwrap() {
            let p = f.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p)
            }
        }
    }
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                docs.push(v);
            }
        }
    }
    docs
}
