//! The `webhook` target, for extranets without SCIM: one JSON document per person POSTed to
//! the extranet, signed with HMAC-SHA256 over the timestamp and the body. The contract is in
//! docs/webhook.md.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use ring::hmac;
use serde_json::{Map, Value, json};

use crate::api::SyncLimits;
use crate::api::Integration;
use crate::engine::Snapshot;
use crate::engine::plan::{Op, TargetPlan, apply_in_memory};
use crate::engine::state::{Object, ObjectKind, ObservedState};

use super::http::{Auth, Http, detail};
use super::{ApplyReport, TargetError};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::api::IntegrationKind;
use crate::engine::build::extranet::build_webhook;
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::TargetKind;
use crate::engine::state::TargetRole;
use crate::validate::parse_duration;
use crate::validate::redact::Quoted;

use super::{ApplyOptions, Connector, ConnectorKind};

/// `spec.sync` when it says nothing. A receiver run by the extranet, shared with its users.
pub const LIMITS: SyncLimits = SyncLimits {
    max_concurrency: 4,
    requests_per_second: 25,
};

/// Fields that are always lists in a person document.
pub const LIST_FIELDS: &[&str] = &["features", "scopes", "roles"];
pub const SIGNATURE_HEADER: &str = "Accord-Signature";
pub const TIMESTAMP_HEADER: &str = "Accord-Timestamp";
pub const KEY_HEADER: &str = "Idempotency-Key";

pub struct WebhookTarget {
    http: Http,
    key: hmac::Key,
    tenant: String,
    max_concurrency: usize,
}

/// `v1=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    signature(&key, timestamp, body)
}

fn signature(key: &hmac::Key, timestamp: u64, body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1={}", hex(ctx.sign().as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A person document from an object's attributes.
pub fn document(o: &Object) -> Value {
    let mut m = Map::new();
    for f in LIST_FIELDS {
        m.insert(f.to_string(), json!([]));
    }
    for (k, v) in &o.attrs {
        let value = if LIST_FIELDS.contains(&k.as_ref()) {
            json!(v)
        } else {
            json!(v.first())
        };
        m.insert(k.to_string(), value);
    }
    Value::Object(m)
}

fn object(doc: &Value) -> Option<Object> {
    let id = doc.get("id")?.as_str()?;
    let mut o = Object::new(ObjectKind::Person, id);
    for (k, v) in doc.as_object()? {
        match v {
            Value::Array(items) => {
                o.set_many(
                    k.clone(),
                    items.iter().filter_map(|i| i.as_str().map(String::from)),
                );
            }
            Value::String(s) if k == "nationalId" => {
                o.set_sensitive("nationalId", s.clone());
            }
            Value::String(s) => {
                o.set(k.clone(), s.clone());
            }
            _ => {}
        }
    }
    Some(o)
}

impl WebhookTarget {
    pub fn new(integration: &Integration, snapshot: &Snapshot) -> Result<Self, TargetError> {
        let spec = &integration.spec;
        let limits = spec.sync.limits(LIMITS);
        let ns = super::namespace_of(integration);
        let endpoint = super::endpoint_of(integration)?;
        let r = spec.credentials_ref.as_ref().ok_or_else(|| {
            TargetError::config(
                "a webhook needs credentialsRef: a Secret with the signing key under key secret",
            )
        })?;
        let secret = super::secret_value_of(snapshot, ns, &r.secret_name, "secret", "signing key")?;
        if secret.len() < 16 {
            return Err(TargetError::config(format!(
                "the signing key in Secret {:?} is shorter than 16 bytes",
                r.secret_name
            )));
        }
        Ok(Self {
            http: Http::new(
                endpoint,
                spec.tls.as_ref(),
                Auth::None,
                limits.requests_per_second,
                snapshot,
                ns,
            )?,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            tenant: spec.tenant.clone(),
            max_concurrency: limits.max_concurrency as usize,
        })
    }

    pub fn requests(&self) -> usize {
        self.http.requests()
    }

    fn signed(&self, method: Method, body: &[u8], delivery: &str) -> reqwest::RequestBuilder {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.http
            .request(method, "")
            .header("Content-Type", "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, signature(&self.key, ts, body))
            .header(KEY_HEADER, delivery)
            .header("Accord-Tenant", &self.tenant)
            .body(body.to_vec())
    }

    /// The receiver's state, from its signed `GET`.
    pub async fn observe(&self) -> Result<ObservedState, TargetError> {
        let delivery = random_key();
        let r = self
            .http
            .send("reading the receiver's state", || {
                self.signed(Method::GET, b"", &delivery)
            })
            .await?;
        if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(TargetError::auth(format!(
                "the receiver refused accord's signature ({})",
                r.status()
            )));
        }
        if !r.status().is_success() {
            return Err(TargetError::unreachable(format!(
                "reading the receiver's state failed: {}",
                detail(r).await
            )));
        }
        let v: Value = r.json().await.map_err(|e| {
            TargetError::unreachable(format!("the receiver's state is not JSON: {e}"))
        })?;
        let people = v
            .get("people")
            .and_then(Value::as_array)
            .ok_or_else(|| TargetError::unreachable("the receiver's state has no people list"))?;
        Ok(ObservedState::from_objects(
            people.iter().filter_map(object),
        ))
    }

    /// One delivery: retried with the same idempotency key; a 409 on a retry means the first
    /// attempt arrived.
    async fn deliver(&self, what: &str, body: Value) -> Result<usize, TargetError> {
        let bytes = serde_json::to_vec(&body).map_err(|e| TargetError::rejected(e.to_string()))?;
        let delivery = random_key();
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let r = self
            .http
            .send(what, || {
                attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.signed(Method::POST, &bytes, &delivery)
            })
            .await?;
        match r.status() {
            s if s.is_success() => Ok(1),
            StatusCode::CONFLICT if attempts.load(std::sync::atomic::Ordering::Relaxed) > 1 => {
                Ok(1)
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(TargetError::auth(format!(
                "the receiver refused accord's signature ({})",
                r.status()
            ))),
            _ => Err(TargetError::rejected(format!(
                "{what}: {}",
                detail(r).await
            ))),
        }
    }

    pub async fn apply(
        &self,
        plan: &TargetPlan,
        observed: &ObservedState,
        full_state: bool,
    ) -> ApplyReport {
        let mut report = ApplyReport::new(&plan.integration);
        let after = apply_in_memory(observed, plan);
        let before = self.http.requests();
        super::run_waves(plan, self.max_concurrency, &mut report, |n| {
            let after = &after;
            let op = &plan.ops[n];
            async move {
                match op {
                    Op::Create { object } => {
                        self.deliver(
                            &format!("sending {}", object.key),
                            json!({"type": "person.upsert", "person": document(object)}),
                        )
                        .await
                    }
                    Op::Update { key, .. } => {
                        let doc = after.objects.get(key).map(document).unwrap_or(Value::Null);
                        self.deliver(
                            &format!("sending {key}"),
                            json!({"type": "person.upsert", "person": doc}),
                        )
                        .await
                    }
                    Op::Delete { key, .. } => {
                        self.deliver(
                            &format!("deleting {key}"),
                            json!({"type": "person.delete", "id": key.id}),
                        )
                        .await
                    }
                }
            }
        })
        .await;
        if full_state && report.aborted.is_none() {
            let people: Vec<Value> = after.objects.values().map(document).collect();
            match self
                .deliver(
                    "sending the full state",
                    json!({"type": "state.full", "people": people}),
                )
                .await
            {
                Ok(n) => report.writes += n,
                Err(e) => report.abort(e.to_string(), 0),
            }
        }
        report.requests = self.http.requests() - before;
        report
    }
}

fn random_key() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system's random source");
    hex(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The expected value is from Python: hmac.new(key, b"1700000000.{}", hashlib.sha256).
        assert_eq!(
            sign(b"0123456789abcdef", 1700000000, b"{}"),
            "v1=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }
}

/// The `webhook` kind: signed JSON documents for extranets without SCIM, with the whole state
/// every `fullStateInterval`.
pub struct WebhookKind;
pub static WEBHOOK: WebhookKind = WebhookKind;

impl TargetKind for WebhookKind {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Webhook
    }
    fn serves(&self) -> &'static [TargetRole] {
        &[TargetRole::Extranet]
    }
    fn schemes(&self) -> &'static [&'static str] {
        &["https", "http"]
    }
    fn check(&self, integration: &Integration) -> Vec<(String, String)> {
        match integration
            .spec
            .webhook
            .as_ref()
            .and_then(|w| w.full_state_interval.as_deref())
            .map(|v| (v, parse_duration(v)))
        {
            Some((v, Err(e))) => vec![(
                "spec.webhook.fullStateInterval".into(),
                format!("{} {e}", Quoted(v)),
            )],
            _ => Vec::new(),
        }
    }
    fn build(
        &self,
        ctx: &TenantContext,
        grants: &[ResolvedGrant],
        _integration: &Integration,
    ) -> Vec<Object> {
        build_webhook(ctx, grants)
    }
    fn full_state_every(&self, integration: &Integration) -> Option<Duration> {
        let every = integration.spec.webhook.as_ref()?.full_state_interval.as_deref()?;
        parse_duration(every).ok().map(|s| Duration::from_secs(s.max(1)))
    }
}

impl ConnectorKind for WebhookKind {
    fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError> {
        Ok(Box::new(WebhookTarget::new(integration, snapshot)?))
    }
}

impl Connector for WebhookTarget {
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>> {
        Box::pin(WebhookTarget::observe(self))
    }
    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        options: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport> {
        Box::pin(WebhookTarget::apply(self, plan, observed, options.full_state))
    }
    fn requests(&self) -> Option<usize> {
        Some(WebhookTarget::requests(self))
    }
}
