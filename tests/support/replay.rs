//! A loopback HTTP replayer for recorded request/response pairs: it answers each request with
//! the first unused exchange of the same method, path and query, and records what was sent,
//! so a test can compare that with the recording (method, path, query, body as JSON).
//! A request nothing was recorded for gets a 599 and is recorded as such.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// One recorded exchange. In fixture files: `{"method", "path", "query"?: {k: v},
/// "body"?: JSON (a form as an object of its fields), "status", "headers"?: {k: v},
/// "response"?: JSON or a string sent as it is, "times"?: n}`.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub response: Response_,
    /// How many requests it answers (a server error is retried).
    pub times: usize,
}

#[derive(Clone, Debug)]
pub enum Response_ {
    None,
    Json(Value),
    Raw(String, &'static str),
}

/// What the client sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl Sent {
    pub fn line(&self) -> String {
        let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {}{}{}", self.method, self.path, if q.is_empty() { "" } else { "?" }, q.join("&"))
    }
}

impl Exchange {
    pub fn from_json(v: &Value) -> Self {
        let map = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from)))
                .collect()
        };
        Exchange {
            method: v["method"].as_str().unwrap().to_string(),
            path: v["path"].as_str().unwrap().to_string(),
            query: map(&v["query"]),
            body: v.get("body").cloned(),
            status: v["status"].as_u64().unwrap_or(200) as u16,
            headers: map(&v["headers"]),
            response: match v.get("response") {
                None | Some(Value::Null) => Response_::None,
                Some(Value::String(s)) => Response_::Raw(s.clone(), "text/html"),
                Some(j) => Response_::Json(j.clone()),
            },
            times: v["times"].as_u64().unwrap_or(1) as usize,
        }
    }

    /// The request this exchange records.
    pub fn sent(&self) -> Sent {
        Sent {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            body: self.body.clone(),
        }
    }
}

/// Reads a fixture file: a JSON array of exchanges.
pub fn fixture(path: &std::path::Path) -> Vec<Exchange> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v.as_array().unwrap().iter().map(Exchange::from_json).collect()
}

#[derive(Default)]
struct State {
    script: Vec<(Exchange, usize)>,
    sent: Vec<Sent>,
    unmatched: Vec<Sent>,
}

pub struct Replayer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Replayer {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
                    let st = st.clone();
                    async move { answer(&st, m, u, h, b) }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Replayer { port, state, stop: Some(tx), thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces what is served; what was sent so far is forgotten.
    pub fn serve(&self, script: Vec<Exchange>) {
        let mut s = self.state.lock().unwrap();
        s.script = script.into_iter().map(|e| (e, 0)).collect();
        s.sent.clear();
        s.unmatched.clear();
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    pub fn unmatched(&self) -> Vec<Sent> {
        self.state.lock().unwrap().unmatched.clone()
    }

    /// Asserts that exactly the recorded requests were sent, in order, each as often as
    /// recorded.
    pub fn assert_sent_exactly(&self, script: &[Exchange]) {
        let sent = self.sent();
        let want: Vec<Sent> = script.iter().flat_map(|e| std::iter::repeat_n(e.sent(), e.times)).collect();
        let lines = |v: &[Sent]| v.iter().map(Sent::line).collect::<Vec<_>>().join("\n  ");
        assert_eq!(
            sent.len(),
            want.len(),
            "sent:\n  {}\nrecorded:\n  {}\nunmatched: {:?}",
            lines(&sent),
            lines(&want),
            self.unmatched()
        );
        for (n, (s, w)) in sent.iter().zip(&want).enumerate() {
            assert_eq!(s.line(), w.line(), "request {n}");
            assert_eq!(s.body, w.body, "request {n} ({}): body", s.line());
        }
    }
}

impl Drop for Replayer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(st: &Mutex<State>, m: Method, u: Uri, h: HeaderMap, b: Bytes) -> Response {
    let query: BTreeMap<String, String> = u
        .query()
        .map(|q| form_urlencoded(q))
        .unwrap_or_default();
    let ctype = h.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = if b.is_empty() {
        None
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        let fields = form_urlencoded(std::str::from_utf8(&b).unwrap_or(""));
        Some(json!(fields))
    } else {
        Some(serde_json::from_slice(&b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into())))
    };
    let sent = Sent { method: m.to_string(), path: u.path().to_string(), query, body };
    let mut s = st.lock().unwrap();
    s.sent.push(sent.clone());
    let found = s.script.iter_mut().find(|(e, used)| {
        *used < e.times && e.method == sent.method && e.path == sent.path && e.query == sent.query
    });
    let Some((e, used)) = found else {
        s.unmatched.push(sent);
        return Response::builder().status(599).body(Body::from("nothing recorded for this request")).unwrap();
    };
    *used += 1;
    let mut r = Response::builder().status(StatusCode::from_u16(e.status).unwrap());
    for (k, v) in &e.headers {
        r = r.header(k.as_str(), v.replace("{base}", &format!("http://{}", h.get("host").and_then(|v| v.to_str().ok()).unwrap_or(""))));
    }
    match &e.response {
        Response_::None => r.body(Body::empty()).unwrap(),
        Response_::Json(v) => r.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
        Response_::Raw(text, ctype) => r.header("content-type", *ctype).body(Body::from(text.clone())).unwrap(),
    }
}

fn form_urlencoded(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
