//! HTTP for the SCIM and webhook targets: a client with the Integration's TLS settings,
//! bounded retries (429 with Retry-After, 5xx and connection errors with exponential
//! backoff), and a count of requests sent.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::api::TlsSettings;
use crate::engine::Snapshot;

use super::{Pacer, TargetError};

const MAX_ATTEMPTS: u32 = 5;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// reqwest is built without a default crypto provider; accord uses ring everywhere.
pub fn crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub auth: Auth,
    pub pacer: Pacer,
    pub requests: AtomicUsize,
}

#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

impl Http {
    pub fn new(
        base: &str,
        tls: Option<&TlsSettings>,
        auth: Auth,
        per_second: u32,
        snapshot: &Snapshot,
        ns: &str,
    ) -> Result<Self, TargetError> {
        crypto_provider();
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(tls) = tls {
            if let Some(r) = &tls.ca_secret_ref {
                let pem = super::secret_value_of(snapshot, ns, &r.secret_name, &r.key, "CA")?;
                let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                    TargetError::config(format!("the CA certificate cannot be read: {e}"))
                })?;
                b = b.add_root_certificate(cert);
            }
            if tls.insecure_skip_verify {
                b = b.danger_accept_invalid_certs(true);
            }
        }
        let client = b
            .build()
            .map_err(|e| TargetError::config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            auth,
            pacer: Pacer::new(per_second),
            requests: AtomicUsize::new(0),
        })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let rb = self.client.request(method, url);
        match &self.auth {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(t),
            Auth::Basic(u, p) => rb.basic_auth(u, Some(p)),
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends the request `build` makes, retrying what is worth retrying. Returns the final
    /// response whatever its status, or an error when the server could not be reached.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, TargetError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pacer.wait().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let result = build().send().await;
            let wait = match &result {
                Err(e) if attempt < MAX_ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    backoff(attempt)
                }
                Err(e) => {
                    return Err(TargetError::unreachable(format!(
                        "{what}: cannot reach {}: {}",
                        self.base,
                        chain(e)
                    )));
                }
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS && attempt < MAX_ATTEMPTS => {
                    retry_after(r).unwrap_or_else(|| backoff(attempt))
                }
                Ok(r) if r.status().is_server_error() && attempt < MAX_ATTEMPTS => backoff(attempt),
                Ok(_) => return result.map_err(|e| TargetError::unreachable(e.to_string())),
            };
            tracing::debug!(what, attempt, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.saturating_sub(1)))
}

/// `Retry-After` in seconds (the HTTP-date form is read as one second).
fn retry_after(r: &Response) -> Option<Duration> {
    let v = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    let d = v
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1));
    Some(d.min(MAX_RETRY_AFTER))
}

/// The error and its causes, which is where reqwest says what really went wrong.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// The body of an error response, shortened, for messages.
pub async fn detail(r: Response) -> String {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(String::from))
        .unwrap_or_else(|| body.chars().take(200).collect());
    if detail.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {detail}")
    }
}
