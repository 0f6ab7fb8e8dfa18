//! A webhook receiver for tests, verifying deliveries as docs/webhook.md says a receiver
//! must: timestamp within five minutes, HMAC-SHA256 signature in constant time, new
//! idempotency key.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

#[derive(Default)]
pub struct State {
    pub people: BTreeMap<String, Value>,
    pub keys: HashSet<String>,
    pub accepted: usize,
    pub full_states: usize,
    pub rejected: Vec<String>,
}

pub struct Receiver {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// 200 to process, else the status to answer and why.
pub fn verify(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    seen: &mut HashSet<String>,
) -> Result<(), (StatusCode, String)> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let ts: u64 = h("Accord-Timestamp")
        .parse()
        .map_err(|_| (StatusCode::UNAUTHORIZED, "no timestamp".to_string()))?;
    if now().abs_diff(ts) > 300 {
        return Err((StatusCode::UNAUTHORIZED, "stale timestamp".into()));
    }
    let sig = h("Accord-Signature");
    let hexsig = sig
        .strip_prefix("v1=")
        .ok_or((StatusCode::UNAUTHORIZED, "no signature".to_string()))?;
    let raw: Vec<u8> = (0..hexsig.len() / 2)
        .filter_map(|i| u8::from_str_radix(hexsig.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut msg = format!("{ts}.").into_bytes();
    msg.extend_from_slice(body);
    ring::hmac::verify(&key, &msg, &raw)
        .map_err(|_| (StatusCode::UNAUTHORIZED, "bad signature".to_string()))?;
    let k = h("Idempotency-Key");
    if k.is_empty() || !seen.insert(k) {
        return Err((StatusCode::CONFLICT, "duplicate delivery".into()));
    }
    Ok(())
}

impl Receiver {
    pub fn start(secret: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let secret = secret.as_bytes().to_vec();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let handler = move |method: axum::http::Method,
                                        headers: HeaderMap,
                                        body: axum::body::Bytes| {
                        let st = st.clone();
                        let secret = secret.clone();
                        async move {
                            let mut s = st.lock().unwrap();
                            let State { keys, .. } = &mut *s;
                            if let Err((code, why)) = verify(&secret, &headers, &body, keys) {
                                s.rejected.push(why.clone());
                                return (code, json!({"error": why}).to_string());
                            }
                            if method == axum::http::Method::GET {
                                return (
                                    StatusCode::OK,
                                    json!({"people": s.people.values().collect::<Vec<_>>()})
                                        .to_string(),
                                );
                            }
                            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            match v["type"].as_str() {
                                Some("person.upsert") => {
                                    let id =
                                        v["person"]["id"].as_str().unwrap_or_default().to_string();
                                    s.people.insert(id, v["person"].clone());
                                }
                                Some("person.delete") => {
                                    s.people.remove(v["id"].as_str().unwrap_or_default());
                                }
                                Some("state.full") => {
                                    s.full_states += 1;
                                    s.people = v["people"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .map(|p| {
                                            (
                                                p["id"].as_str().unwrap_or_default().to_string(),
                                                p.clone(),
                                            )
                                        })
                                        .collect();
                                }
                                _ => return (StatusCode::BAD_REQUEST, "unknown type".to_string()),
                            }
                            s.accepted += 1;
                            (StatusCode::OK, "{}".to_string())
                        }
                    };
                    let app = axum::Router::new().route("/", axum::routing::any(handler));
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
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self {
            port,
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
