//! A SCIM server for tests: `scim2-server` from PyPI (installed into .venv by
//! scripts/test.sh) on a loopback port, and a proxy in front of it that records what accord
//! sends, injects 503 and 429 answers, and can be stopped and started again.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-token";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn tool(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    if venv.exists() {
        venv
    } else {
        PathBuf::from(name)
    }
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct ScimServer {
    pub port: u16,
    child: Child,
}

impl ScimServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra command-line arguments, e.g. a ServiceProviderConfig file.
    pub fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(tool("scim2-server"))
            .args([
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--bearer-token",
                TOKEN,
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scim2-server starts (bash scripts/test.sh installs it into .venv)");
        wait_for(port);
        Self { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    accord::connectors::http::crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every resource of a SCIM collection (`/Users`, `/Groups`).
pub fn list(base: &str, path: &str) -> Vec<Value> {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let mut out = Vec::new();
        let mut start = 1;
        loop {
            let page: Value = client
                .get(format!("{base}{path}?startIndex={start}&count=500"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let items = page["Resources"].as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            start += n;
            if n == 0 || start as u64 > page["totalResults"].as_u64().unwrap_or(0) {
                return out;
            }
        }
    })
}

/// Any request to the SCIM server, for hand edits.
pub fn send(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let mut rb = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/scim+json").json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

/// What the proxy saw and what it does to requests.
#[derive(Default)]
pub struct Faults {
    /// Answer 503 to every n-th request (0: never).
    pub every_503: AtomicUsize,
    /// Answer 429 with Retry-After: 1 to every n-th request (0: never).
    pub every_429: AtomicUsize,
    pub seen: AtomicUsize,
    /// (method, path, body) of every request accord sent.
    pub log: Mutex<Vec<(String, String, String)>>,
}

pub struct Proxy {
    pub port: u16,
    pub faults: Arc<Faults>,
    upstream: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Self {
        let mut p = Self {
            port: free_port(),
            faults: Arc::new(Faults::default()),
            upstream: upstream.to_string(),
            stop: None,
            thread: None,
        };
        p.resume();
        p
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening: connections are refused until `resume`.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn resume(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let faults = self.faults.clone();
        let upstream = self.upstream.clone();
        let port = self.port;
        self.thread = Some(std::thread::spawn(move || {
            runtime().block_on(async move {
                let client = reqwest::Client::new();
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let faults = faults.clone();
                    let upstream = upstream.clone();
                    let client = client.clone();
                    async move { forward(req, &faults, &upstream, &client).await }
                });
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        }));
        self.stop = Some(tx);
        wait_for(port);
    }

    pub fn bodies(&self, method: &str) -> Vec<String> {
        self.faults
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _)| m == method)
            .map(|(_, _, b)| b.clone())
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn forward(
    req: axum::extract::Request,
    faults: &Faults,
    upstream: &str,
    client: &reqwest::Client,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let n = faults.seen.fetch_add(1, Ordering::SeqCst) + 1;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 10 << 20)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    faults.log.lock().unwrap().push((
        parts.method.to_string(),
        path.clone(),
        String::from_utf8_lossy(&bytes).into_owned(),
    ));
    let every = |a: &AtomicUsize| {
        let e = a.load(Ordering::SeqCst);
        e > 0 && n % e == 0
    };
    if every(&faults.every_503) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "injected 503").into_response();
    }
    if every(&faults.every_429) {
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "1")],
            "injected 429",
        )
            .into_response();
    }
    let mut rb = client
        .request(
            parts.method.as_str().parse().unwrap(),
            format!("{upstream}{path}"),
        )
        .body(bytes.to_vec());
    for (k, v) in parts.headers.iter() {
        if k != "host" && k != "content-length" {
            rb = rb.header(k.as_str(), v.as_bytes());
        }
    }
    match rb.send().await {
        Ok(r) => {
            let status = axum::http::StatusCode::from_u16(r.status().as_u16()).unwrap();
            let headers: Vec<(String, Vec<u8>)> = r
                .headers()
                .iter()
                .filter(|(k, _)| *k != "content-length" && *k != "transfer-encoding")
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            let body = r.bytes().await.unwrap_or_default();
            let mut resp = (status, body).into_response();
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(k.as_bytes()),
                    axum::http::HeaderValue::from_bytes(&v),
                ) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
