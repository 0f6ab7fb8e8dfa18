//! An in-process Kubernetes API emulator for tests; README.md beside this file says what it
//! reproduces and what it does not.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

/// How many watch events are kept for watches that start from an older resourceVersion.
const HISTORY: usize = 400_000;

#[derive(Clone, Debug)]
struct Kind {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        group: "accord.dev",
        version: "v1alpha1",
        plural: "tenants",
        kind: "Tenant",
        namespaced: true,
        status: true,
    },
    Kind {
        group: "accord.dev",
        version: "v1alpha1",
        plural: "orgunits",
        kind: "OrgUnit",
        namespaced: true,
        status: true,
    },
    Kind {
        group: "accord.dev",
        version: "v1alpha1",
        plural: "usergrants",
        kind: "UserGrant",
        namespaced: true,
        status: true,
    },
    Kind {
        group: "accord.dev",
        version: "v1alpha1",
        plural: "integrations",
        kind: "Integration",
        namespaced: true,
        status: true,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        status: false,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        status: false,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        status: false,
    },
    Kind {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        status: false,
    },
    Kind {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        status: false,
    },
];

fn api_version(k: &Kind) -> String {
    if k.group.is_empty() {
        k.version.to_string()
    } else {
        format!("{}/{}", k.group, k.version)
    }
}

/// (group, plural, namespace, name)
type Key = (String, String, String, String);

#[derive(Clone, Debug)]
struct WatchEvent {
    rv: u64,
    kind: &'static str,
    key: Key,
    object: Value,
}

pub struct Store {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<WatchEvent>,
    /// Watches from before this resourceVersion get 410 Gone.
    oldest: u64,
    schemas: HashMap<&'static str, jsonschema::Validator>,
    tx: tokio::sync::broadcast::Sender<WatchEvent>,
    /// Requests served, by method, for tests that count writes.
    pub requests: BTreeMap<String, usize>,
    /// Requests to resources, by who (the bearer token), what and the answer: what a real
    /// server's audit log says.
    pub calls: BTreeMap<super::ApiCall, usize>,
    /// Faults to inject: what a real server cannot be made to do on demand.
    pub faults: Vec<Fault>,
    /// Bumped by a restart: every open watch ends.
    epoch: u64,
    restarts: tokio::sync::watch::Sender<u64>,
}

/// A fault for the next `times` requests of one user matching a verb and resource (and
/// subresource, `status` or empty): an error answer, or an answer that comes `delay` late.
#[derive(Clone, Debug)]
pub struct Fault {
    pub user: String,
    pub verb: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
    pub times: usize,
    /// The answer instead of the real one (e.g. 500); None: the real one, `delay` late.
    pub code: Option<u16>,
    pub delay: std::time::Duration,
}

impl Fault {
    fn matches(&self, call: &super::ApiCall) -> bool {
        self.times > 0
            && call.user == self.user
            && call.verb == self.verb
            && call.resource == self.resource
            && call.subresource == self.subresource
    }
}

#[derive(Clone)]
pub struct Emulator {
    pub port: u16,
    pub store: Arc<Mutex<Store>>,
    stop: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

fn status(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message.into(), "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string()
}

/// A validator for each generated CRD's openAPIV3Schema (formats checked), by kind.
pub fn crd_validators() -> Vec<(String, jsonschema::Validator)> {
    accord::api::crds()
        .into_iter()
        .map(|crd| {
            let schema = serde_json::to_value(
                crd.spec.versions[0]
                    .schema
                    .as_ref()
                    .unwrap()
                    .open_api_v3_schema
                    .as_ref()
                    .unwrap(),
            )
            .unwrap();
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap();
            (crd.spec.names.kind.clone(), validator)
        })
        .collect()
}

impl Emulator {
    /// Starts on a free loopback port, on its own thread and runtime.
    pub fn start() -> Emulator {
        let (tx, _) = tokio::sync::broadcast::channel(262_144);
        let schemas: HashMap<&'static str, jsonschema::Validator> = crd_validators()
            .into_iter()
            .map(|(kind, v)| (KINDS.iter().find(|k| k.kind == kind).unwrap().plural, v))
            .collect();
        let store = Arc::new(Mutex::new(Store {
            rv: 1,
            uid: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            oldest: 0,
            schemas,
            tx,
            requests: BTreeMap::new(),
            calls: BTreeMap::new(),
            faults: Vec::new(),
            epoch: 0,
            restarts: tokio::sync::watch::channel(0).0,
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = store.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let app = axum::Router::new().fallback(handle).with_state(st);
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stop_rx.await;
                        })
                        .await
                        .unwrap();
                });
        });
        Emulator {
            port,
            store,
            stop: Arc::new(Mutex::new(Some(stop_tx))),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubeconfig file for this server.
    pub fn kubeconfig(&self, path: &std::path::Path, namespace: &str) {
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster: {{server: \"{}\"}}\nusers:\n- name: test\n  user: {{token: test}}\ncontexts:\n- name: emulator\n  context: {{cluster: emulator, user: test, namespace: {namespace}}}\ncurrent-context: emulator\n",
                self.url()
            ),
        )
        .unwrap();
    }

    /// Drops the watch history: watches from any earlier resourceVersion get 410 Gone.
    pub fn compact(&self) {
        let mut s = self.store.lock().unwrap();
        s.history.clear();
        s.oldest = s.rv;
    }

    /// What a compaction of etcd and an API server restart do to watchers: something else
    /// was written (the resourceVersion moves on), the history up to now is dropped, and
    /// every open watch ends; watching again from where it was gets 410 Gone.
    pub fn compact_and_restart(&self) {
        let mut s = self.store.lock().unwrap();
        s.rv += 1;
        s.history.clear();
        s.oldest = s.rv;
        s.epoch += 1;
        let epoch = s.epoch;
        s.restarts.send_replace(epoch);
    }

    /// Injects a fault (see [`Fault`]); faults are used up in the order given.
    pub fn inject(&self, fault: Fault) {
        self.store.lock().unwrap().faults.push(fault);
    }

    /// How many injected faults are still to happen.
    pub fn faults_left(&self) -> usize {
        self.store.lock().unwrap().faults.iter().map(|f| f.times).sum()
    }

    /// The requests to resources so far, with how many of each.
    pub fn calls(&self) -> BTreeMap<super::ApiCall, usize> {
        self.store.lock().unwrap().calls.clone()
    }

    pub fn get(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.store
            .lock()
            .unwrap()
            .objects
            .get(&(
                group.to_string(),
                plural.to_string(),
                ns.to_string(),
                name.to_string(),
            ))
            .cloned()
    }

    pub fn list(&self, group: &str, plural: &str) -> Vec<Value> {
        self.store
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|(k, _)| k.0 == group && k.1 == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Creates every document of every `.yaml` file under `dir`, as `kubectl apply -R -f` would.
    pub fn load_dir(&self, dir: &std::path::Path) {
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
        let mut s = self.store.lock().unwrap();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc).unwrap();
                let kind = KINDS
                    .iter()
                    .find(|k| {
                        k.kind == v["kind"].as_str().unwrap()
                            && api_version(k) == v["apiVersion"].as_str().unwrap()
                    })
                    .expect("a known kind");
                let t = Target {
                    kind,
                    namespace: v["metadata"]["namespace"].as_str().map(String::from),
                    name: None,
                    status: false,
                };
                let key = key_of(&t, v["metadata"]["name"].as_str().unwrap());
                if let Err(r) = s.write(&t, key, v, None) {
                    panic!("{}: not accepted: {:?}", f.display(), r.status());
                }
            }
        }
    }

    /// Stores an accord object as it is, without schema validation: what a cluster holds
    /// after its CRD changed under objects created earlier, or objects written by another
    /// version of accord. The operator must parse it, find it cannot, and leave what it
    /// stands for alone.
    pub fn write_unchecked(&self, v: Value) {
        let mut s = self.store.lock().unwrap();
        let kind = KINDS
            .iter()
            .find(|k| k.kind == v["kind"].as_str().unwrap())
            .expect("a known kind");
        let t = Target {
            kind,
            namespace: v["metadata"]["namespace"].as_str().map(String::from),
            name: None,
            status: false,
        };
        let key = key_of(&t, v["metadata"]["name"].as_str().unwrap());
        let old = s.objects.get(&key).cloned();
        let schemas = std::mem::take(&mut s.schemas);
        let r = s.write(&t, key, v, old.as_ref());
        s.schemas = schemas;
        r.map_err(|r| r.status()).expect("stored");
    }

    /// Whether every object of a kind satisfies `f`, without copying them.
    pub fn all(&self, group: &str, plural: &str, f: impl Fn(&Value) -> bool) -> bool {
        self.store
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|(k, _)| k.0 == group && k.1 == plural)
            .all(|(_, v)| f(v))
    }

    pub fn count(&self, method: &str) -> usize {
        self.store
            .lock()
            .unwrap()
            .requests
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    pub fn stop(&self) {
        if let Some(s) = self.stop.lock().unwrap().take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if Arc::strong_count(&self.stop) == 1 {
            self.stop();
        }
    }
}

/// What a request path names.
struct Target {
    kind: &'static Kind,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Result<Target, Response>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r @ ..] if !r.is_empty() => (Some(ns.to_string()), r),
        r => (None, r),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(*s)),
        _ => return None,
    };
    let kind = KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)?;
    if sub.is_some_and(|s| s != "status" || !kind.status) {
        return Some(Err(status(
            404,
            "NotFound",
            format!("no subresource {sub:?}"),
        )));
    }
    Some(Ok(Target {
        kind,
        namespace,
        name,
        status: sub == Some("status"),
    }))
}

fn discovery(path: &str) -> Option<Value> {
    let groups: Vec<&str> = {
        let mut g: Vec<&str> = KINDS
            .iter()
            .map(|k| k.group)
            .filter(|g| !g.is_empty())
            .collect();
        g.dedup();
        g
    };
    let resources = |group: &str, version: &str| {
        let mut out = Vec::new();
        for k in KINDS
            .iter()
            .filter(|k| k.group == group && k.version == version)
        {
            out.push(json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced, "kind": k.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}));
            if k.status {
                out.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
            }
        }
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }, "resources": out})
    };
    let group_doc = |g: &str| {
        let v = KINDS.iter().find(|k| k.group == g).unwrap().version;
        json!({"name": g, "versions": [{"groupVersion": format!("{g}/{v}"), "version": v}], "preferredVersion": {"groupVersion": format!("{g}/{v}"), "version": v}})
    };
    match path.trim_end_matches('/') {
        "/api" => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        "/api/v1" => Some(resources("", "v1")),
        "/apis" => Some(
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups.iter().map(|g| group_doc(g)).collect::<Vec<_>>()}),
        ),
        "/version" => Some(
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-accord-emulator", "platform": "linux/amd64"}),
        ),
        p => {
            let parts: Vec<&str> = p.trim_matches('/').split('/').collect();
            match parts.as_slice() {
                ["apis", g] if groups.contains(g) => Some(
                    json!({"kind": "APIGroup", "apiVersion": "v1"})
                        .as_object()
                        .cloned()
                        .map(|mut m| {
                            if let Value::Object(d) = group_doc(g) {
                                m.extend(d);
                            }
                            Value::Object(m)
                        })?,
                ),
                ["apis", g, v] if KINDS.iter().any(|k| k.group == *g && k.version == *v) => {
                    Some(resources(g, v))
                }
                _ => None,
            }
        }
    }
}

async fn handle(State(store): State<Arc<Mutex<Store>>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| url_decode_pairs(q))
        .unwrap_or_default();
    let headers = req.headers().clone();
    *store
        .lock()
        .unwrap()
        .requests
        .entry(method.to_string())
        .or_default() += 1;
    if method == Method::GET
        && let Some(doc) = discovery(&path)
    {
        return axum::Json(doc).into_response();
    }
    let target = match parse_path(&path) {
        None => {
            return status(
                404,
                "NotFound",
                format!("the server could not find the requested resource {path}"),
            );
        }
        Some(Err(r)) => return r,
        Some(Ok(t)) => t,
    };
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let user = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("anonymous")
        .to_string();
    let watching = query.get("watch").is_some_and(|w| w == "1" || w == "true");
    let verb = match (&method, &target.name) {
        (&Method::GET, None) if watching => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => "other",
    };
    let call = super::ApiCall {
        user,
        verb: verb.to_string(),
        namespace: target.namespace.clone().unwrap_or_default(),
        resource: target.kind.plural.to_string(),
        subresource: if target.status { "status".into() } else { String::new() },
        code: 0,
    };
    let fault = {
        let mut st = store.lock().unwrap();
        st.faults.iter_mut().find(|f| f.matches(&call)).map(|f| {
            f.times -= 1;
            f.clone()
        })
    };
    if let Some(f) = &fault {
        tokio::time::sleep(f.delay).await;
    }
    let response = match fault.and_then(|f| f.code) {
        Some(code) => status(code, "InternalError", "an error injected by the test"),
        None => answer(&store, (&method, &path), target, query, &headers, &body).await,
    };
    let code = response.status().as_u16();
    *store
        .lock()
        .unwrap()
        .calls
        .entry(super::ApiCall { code, ..call })
        .or_default() += 1;
    response
}

async fn answer(
    store: &Arc<Mutex<Store>>,
    (method, path): (&Method, &str),
    target: Target,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    match (method, &target.name) {
        (&Method::GET, None) if query.get("watch").is_some_and(|w| w == "1" || w == "true") => {
            watch(store.clone(), target, query).await
        }
        (&Method::GET, None) => list(store, &target, &query),
        (&Method::GET, Some(_)) => get(store, &target),
        (&Method::POST, None) => create(store, &target, body),
        (&Method::PUT, Some(_)) => replace(store, &target, body),
        (&Method::PATCH, Some(_)) => patch(store, &target, headers, &query, body),
        (&Method::DELETE, Some(_)) => delete(store, &target),
        _ => status(405, "MethodNotAllowed", format!("{method} {path}")),
    }
}

fn url_decode_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k), decode(v)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() + 0 && i + 2 <= bytes.len() - 1 => {
                if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
                i += 1;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn key_of(t: &Target, name: &str) -> Key {
    (
        t.kind.group.to_string(),
        t.kind.plural.to_string(),
        t.namespace.clone().unwrap_or_default(),
        name.to_string(),
    )
}

fn get(store: &Mutex<Store>, t: &Target) -> Response {
    let s = store.lock().unwrap();
    match s.objects.get(&key_of(t, t.name.as_deref().unwrap())) {
        Some(o) => axum::Json(o.clone()).into_response(),
        None => status(
            404,
            "NotFound",
            format!(
                "{} \"{}\" not found",
                t.kind.plural,
                t.name.as_deref().unwrap()
            ),
        ),
    }
}

/// Selector terms: `k=v`, `k==v` (equal) and `k!=v` (not equal).
fn terms(sel: &str) -> Vec<(&str, bool, &str)> {
    sel.split(',')
        .filter(|t| !t.is_empty())
        .map(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else {
                let (k, v) = term.split_once('=').unwrap_or((term, ""));
                (k, true, v)
            }
        })
        .collect()
}

/// The field labels the API server supports for these kinds (Secrets add `type`); `None`
/// for any other.
fn field<'a>(obj: &'a Value, plural: &str, label: &str) -> Option<Option<&'a str>> {
    match label {
        "metadata.name" => Some(obj["metadata"]["name"].as_str()),
        "metadata.namespace" => Some(obj["metadata"]["namespace"].as_str()),
        "type" if plural == "secrets" => Some(obj["type"].as_str()),
        _ => None,
    }
}

/// 400 for a field selector the API server would not take.
fn bad_selector(t: &Target, query: &HashMap<String, String>) -> Option<Response> {
    let sel = query.get("fieldSelector")?;
    terms(sel)
        .into_iter()
        .find(|(k, _, _)| field(&Value::Null, &t.kind.plural, k).is_none())
        .map(|(k, _, _)| {
            status(
                400,
                "BadRequest",
                format!(
                    "\"{k}\" is not a known field selector for {}",
                    t.kind.plural
                ),
            )
        })
}

fn matches(obj: &Value, plural: &str, query: &HashMap<String, String>) -> bool {
    let labels = query
        .get("labelSelector")
        .map(|s| terms(s))
        .unwrap_or_default();
    let fields = query
        .get("fieldSelector")
        .map(|s| terms(s))
        .unwrap_or_default();
    labels
        .iter()
        .all(|(k, eq, v)| (obj["metadata"]["labels"][k].as_str() == Some(v)) == *eq)
        && fields
            .iter()
            .all(|(k, eq, v)| (field(obj, plural, k).flatten() == Some(v)) == *eq)
}

fn in_scope(k: &Key, t: &Target) -> bool {
    k.0 == t.kind.group && k.1 == t.kind.plural && t.namespace.as_ref().is_none_or(|ns| &k.2 == ns)
}

fn list(store: &Mutex<Store>, t: &Target, query: &HashMap<String, String>) -> Response {
    if let Some(bad) = bad_selector(t, query) {
        return bad;
    }
    let s = store.lock().unwrap();
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    // continue token: "<rv>/<namespace>/<name>" of the last item sent.
    let after = match query.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let mut it = c.splitn(3, '/');
            let rv: u64 = it.next().and_then(|r| r.parse().ok()).unwrap_or(0);
            if rv < s.oldest {
                return status(410, "Expired", "the continue token has expired");
            }
            Some((
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("").to_string(),
            ))
        }
    };
    let mut items = Vec::new();
    let mut next = None;
    for (k, v) in s
        .objects
        .iter()
        .filter(|(k, v)| in_scope(k, t) && matches(v, &t.kind.plural, query))
    {
        if let Some((ns, name)) = &after
            && (&k.2, &k.3) <= (ns, name)
        {
            continue;
        }
        if items.len() == limit {
            next = Some(format!(
                "{}/{}/{}",
                s.rv,
                items
                    .last()
                    .map(|(k, _): &(Key, Value)| k.2.clone())
                    .unwrap_or_default(),
                items
                    .last()
                    .map(|(k, _): &(Key, Value)| k.3.clone())
                    .unwrap_or_default()
            ));
            break;
        }
        items.push((k.clone(), v.clone()));
    }
    let mut meta = json!({"resourceVersion": s.rv.to_string()});
    if let Some(c) = next {
        meta["continue"] = json!(c);
    }
    axum::Json(json!({"kind": format!("{}List", t.kind.kind), "apiVersion": api_version(t.kind), "metadata": meta, "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>()})).into_response()
}

impl Store {
    fn record(&mut self, kind: &'static str, key: Key, object: Value) {
        let e = WatchEvent {
            rv: self.rv,
            kind,
            key,
            object,
        };
        self.history.push_back(e.clone());
        while self.history.len() > HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.oldest = old.rv;
            }
        }
        let _ = self.tx.send(e);
    }

    fn validate(&self, t: &Target, obj: &Value) -> Result<(), Response> {
        let Some(v) = self.schemas.get(t.kind.plural) else {
            return Ok(());
        };
        let errors: Vec<String> = v
            .iter_errors(obj)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(status(
                422,
                "Invalid",
                format!(
                    "{} \"{}\" is invalid: {}",
                    t.kind.kind,
                    obj["metadata"]["name"].as_str().unwrap_or(""),
                    errors.join("; ")
                ),
            ))
        }
    }

    /// Stores `obj` as the new version of `key` (or a new object), with the bookkeeping a
    /// real API server does. `old` is the stored object, if any.
    fn write(
        &mut self,
        t: &Target,
        key: Key,
        mut obj: Value,
        old: Option<&Value>,
    ) -> Result<Value, Response> {
        obj["apiVersion"] = json!(api_version(t.kind));
        obj["kind"] = json!(t.kind.kind);
        obj["metadata"]["name"] = json!(key.3);
        if t.kind.namespaced {
            obj["metadata"]["namespace"] = json!(key.2);
        }
        match old {
            None => {
                self.uid += 1;
                obj["metadata"]["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", self.uid));
                obj["metadata"]["creationTimestamp"] = json!(now());
                if t.kind.group == "accord.dev" {
                    obj["metadata"]["generation"] = json!(1);
                }
                if t.kind.status {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            Some(old) => {
                for f in ["uid", "creationTimestamp", "deletionTimestamp"] {
                    if !old["metadata"][f].is_null() {
                        obj["metadata"][f] = old["metadata"][f].clone();
                    }
                }
                if t.kind.status {
                    if t.status {
                        // status writes change status only
                        let status = obj["status"].clone();
                        obj = old.clone();
                        obj["status"] = status;
                    } else {
                        obj["status"] = old["status"].clone();
                        if obj["status"].is_null() {
                            obj.as_object_mut().unwrap().remove("status");
                        }
                    }
                }
                if t.kind.group == "accord.dev" {
                    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                    let bumped = if obj["spec"] != old["spec"] {
                        generation + 1
                    } else {
                        generation
                    };
                    obj["metadata"]["generation"] = json!(bumped);
                }
            }
        }
        if t.kind.group == "accord.dev" {
            self.validate(t, &obj)?;
        }
        if obj["metadata"]["managedFields"].is_null() {
            obj["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("managedFields");
        }
        // A deleted object goes when its last finalizer does.
        let finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if !obj["metadata"]["deletionTimestamp"].is_null() && !finalizers {
            self.objects.remove(&key);
            self.record("DELETED", key, obj.clone());
            return Ok(obj);
        }
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.objects.insert(key.clone(), obj.clone());
        self.record(kind, key, obj.clone());
        Ok(obj)
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| {
            status(
                400,
                "BadRequest",
                format!("the body is not JSON or YAML: {e}"),
            )
        })
}

fn check_rv(given: &Value, current: &Value) -> Result<(), Response> {
    match given["metadata"]["resourceVersion"].as_str() {
        Some(rv)
            if !rv.is_empty() && Some(rv) != current["metadata"]["resourceVersion"].as_str() =>
        {
            Err(status(
                409,
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
            ))
        }
        _ => Ok(()),
    }
}

fn create(store: &Mutex<Store>, t: &Target, body: &Bytes) -> Response {
    let obj = match parse_body(body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(name) = obj["metadata"]["name"].as_str().map(String::from) else {
        return status(422, "Invalid", "metadata.name: Required value");
    };
    let mut s = store.lock().unwrap();
    let key = key_of(t, &name);
    if s.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", t.kind.plural),
        );
    }
    match s.write(t, key, obj, None) {
        Ok(o) => (StatusCode::CREATED, axum::Json(o)).into_response(),
        Err(r) => r,
    }
}

fn replace(store: &Mutex<Store>, t: &Target, body: &Bytes) -> Response {
    let obj = match parse_body(body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut s = store.lock().unwrap();
    let key = key_of(t, t.name.as_deref().unwrap());
    let Some(old) = s.objects.get(&key).cloned() else {
        return status(
            404,
            "NotFound",
            format!("{} \"{}\" not found", t.kind.plural, key.3),
        );
    };
    if let Err(r) = check_rv(&obj, &old) {
        return r;
    }
    match s.write(t, key, obj, Some(&old)) {
        Ok(o) => axum::Json(o).into_response(),
        Err(r) => r,
    }
}

/// RFC 7386.
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6902: add, remove, replace, test.
fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch is a list")? {
        let path = op["path"].as_str().ok_or("an operation without path")?;
        let pointer_parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let last = path
            .rsplit('/')
            .next()
            .unwrap_or("")
            .replace("~1", "/")
            .replace("~0", "~");
        match op["op"].as_str() {
            Some("test") => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            Some("remove") => {
                let parent = doc
                    .pointer_mut(pointer_parent)
                    .ok_or(format!("no {pointer_parent}"))?;
                match parent {
                    Value::Object(m) => {
                        m.remove(&last).ok_or(format!("no {path}"))?;
                    }
                    Value::Array(a) => {
                        let i: usize = last.parse().map_err(|_| format!("bad index {path}"))?;
                        if i >= a.len() {
                            return Err(format!("no {path}"));
                        }
                        a.remove(i);
                    }
                    _ => return Err(format!("no {path}")),
                }
            }
            Some(kind @ ("add" | "replace")) => {
                let value = op["value"].clone();
                let parent = doc
                    .pointer_mut(pointer_parent)
                    .ok_or(format!("no {pointer_parent}"))?;
                match parent {
                    Value::Object(m) => {
                        if kind == "replace" && !m.contains_key(&last) {
                            return Err(format!("no {path}"));
                        }
                        m.insert(last, value);
                    }
                    Value::Array(a) if last == "-" => a.push(value),
                    Value::Array(a) => {
                        let i: usize = last.parse().map_err(|_| format!("bad index {path}"))?;
                        if kind == "add" && i <= a.len() {
                            a.insert(i, value);
                        } else if i < a.len() {
                            a[i] = value;
                        } else {
                            return Err(format!("no {path}"));
                        }
                    }
                    _ => return Err(format!("no {path}")),
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

fn patch(
    store: &Mutex<Store>,
    t: &Target,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let p = match parse_body(body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut s = store.lock().unwrap();
    let key = key_of(t, t.name.as_deref().unwrap());
    let old = s.objects.get(&key).cloned();
    let apply = content_type.starts_with("application/apply-patch");
    if apply && query.get("fieldManager").is_none_or(|f| f.is_empty()) {
        return status(422, "Invalid", "fieldManager is required for apply patches");
    }
    let Some(current) = old
        .clone()
        .or_else(|| apply.then(|| json!({"metadata": {"name": key.3}})))
    else {
        return status(
            404,
            "NotFound",
            format!("{} \"{}\" not found", t.kind.plural, key.3),
        );
    };
    let mut doc = current.clone();
    if content_type.starts_with("application/json-patch+json") {
        if let Err(e) = json_patch(&mut doc, &p) {
            return status(422, "Invalid", e);
        }
    } else {
        if let Some(old) = &old
            && let Err(r) = check_rv(&p, old)
        {
            return r;
        }
        merge(&mut doc, &p);
    }
    match s.write(t, key, doc, old.as_ref()) {
        Ok(o) => axum::Json(o).into_response(),
        Err(r) => r,
    }
}

fn delete(store: &Mutex<Store>, t: &Target) -> Response {
    let mut s = store.lock().unwrap();
    let key = key_of(t, t.name.as_deref().unwrap());
    let Some(old) = s.objects.get(&key).cloned() else {
        return status(
            404,
            "NotFound",
            format!("{} \"{}\" not found", t.kind.plural, key.3),
        );
    };
    if old["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        if !old["metadata"]["deletionTimestamp"].is_null() {
            return axum::Json(old).into_response();
        }
        let mut obj = old.clone();
        obj["metadata"]["deletionTimestamp"] = json!(now());
        s.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        s.objects.insert(key.clone(), obj.clone());
        s.record("MODIFIED", key, obj.clone());
        return axum::Json(obj).into_response();
    }
    s.rv += 1;
    let mut obj = old;
    obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
    s.objects.remove(&key);
    s.record("DELETED", key, obj.clone());
    axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": obj["metadata"]["name"]}})).into_response()
}

async fn watch(store: Arc<Mutex<Store>>, t: Target, query: HashMap<String, String>) -> Response {
    if let Some(bad) = bad_selector(&t, &query) {
        return bad;
    }
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(300u64)
        .min(300);
    let from: Option<u64> = query
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0);
    let (initial, rx, current, epoch, mut restarts): (Vec<Value>, _, u64, u64, _) = {
        let s = store.lock().unwrap();
        let rx = s.tx.subscribe();
        let (epoch, restarts) = (s.epoch, s.restarts.subscribe());
        let initial = match from {
            Some(rv) if rv < s.oldest => {
                let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("too old resource version: {rv} ({})", s.oldest), "reason": "Expired", "code": 410}});
                return Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(format!("{gone}\n")))
                    .unwrap();
            }
            Some(rv) => s
                .history
                .iter()
                .filter(|e| {
                    e.rv > rv && in_scope(&e.key, &t) && matches(&e.object, &t.kind.plural, &query)
                })
                .map(|e| json!({"type": e.kind, "object": e.object}))
                .collect(),
            None => s
                .objects
                .iter()
                .filter(|(k, v)| in_scope(k, &t) && matches(v, &t.kind.plural, &query))
                .map(|(_, v)| json!({"type": "ADDED", "object": v}))
                .collect(),
        };
        (initial, rx, s.rv, epoch, restarts)
    };
    let last_sent = from.unwrap_or(current);
    let kind = t.kind;
    let ns = t.namespace.clone();
    let scope = Target {
        kind,
        namespace: ns,
        name: None,
        status: false,
    };
    let live = tokio_stream_from(rx).filter_map(move |e| {
        let keep = e.rv > last_sent
            && in_scope(&e.key, &scope)
            && matches(&e.object, &scope.kind.plural, &query);
        async move { keep.then(|| json!({"type": e.kind, "object": e.object})) }
    });
    let bookmark = move |rv: u64| json!({"type": "BOOKMARK", "object": {"kind": kind.kind, "apiVersion": api_version(kind), "metadata": {"resourceVersion": rv.to_string()}}});
    let st = store.clone();
    // A bookmark never carries a resourceVersion from after a restart to a watch from before.
    let ticks = futures::stream::unfold((), move |_| {
        let st = st.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let s = st.lock().unwrap();
            (s.epoch == epoch).then_some((s.rv, ()))
        }
    })
    .filter_map(move |rv| async move { bookmarks.then(|| bookmark(rv)) });
    let stream = futures::stream::iter(initial)
        .chain(futures::stream::select(live, ticks))
        .take_until(futures::future::select(
            Box::pin(tokio::time::sleep(Duration::from_secs(timeout))),
            Box::pin(async move {
                let _ = restarts.wait_for(|e| *e != epoch).await;
            }),
        ))
        .map(|v| Ok::<_, std::convert::Infallible>(Bytes::from(format!("{v}\n"))));
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn tokio_stream_from(
    rx: tokio::sync::broadcast::Receiver<WatchEvent>,
) -> impl futures::Stream<Item = WatchEvent> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                // A watcher that fell behind is closed, as an API server does: it watches
                // again from the last resourceVersion it saw, and misses nothing.
                Err(_) => return None,
            }
        }
    })
}
