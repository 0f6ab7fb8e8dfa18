//! The I/O: the tenant's relying party through the Manager REST API
//! (`{endpoint}/api/v1/providers/oidc/rp…`) and its people's live sessions through the
//! manager (`{sessionsEndpoint}/sessions/global…`).
//!
//! Only RPs carrying accord's ownership mark for this tenant are changed or deleted; one with
//! the same client id but without the mark is observed (so the plan shows it) and left alone.
//! A session belongs to the tenant when its `_dn` sits under the directory's base DN; its
//! person is the DN's `uid`. Sessions are ended only as a plan's operations say (the engine
//! has held them for unread input), and a session the manager cannot delete counts as ended
//! only once a fresh listing no longer has it.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::connectors::http::{Http, detail};
use crate::connectors::ldap::dn::Dn;
use crate::connectors::{ApplyOptions, ApplyReport, Connector, TargetError, run_waves};
use crate::engine::plan::{Op, TargetPlan, apply_in_memory};
use crate::engine::state::{Object, ObjectKey, ObjectKind, ObservedState};

use super::rp::{self, OWNER, OWNER_ATTR, RpSetup};

/// No answer of LemonLDAP is read past this (a session listing of a big portal is a few MB).
const MAX_BODY: usize = 64 << 20;

pub struct LemonldapTarget {
    pub(super) api: Http,
    pub(super) sessions: Http,
    pub(super) setup: RpSetup,
    /// The client id the tenant wants, to find an RP with it that is not accord's.
    pub(super) client_id: String,
    /// Sessions under this DN are the tenant's; None: none can be told apart.
    pub(super) base_dn: Option<Dn>,
    pub(super) max_concurrency: usize,
}

/// Live sessions by person, as one listing found them.
type Sessions = BTreeMap<String, Vec<String>>;

impl LemonldapTarget {
    async fn json(&self, what: &str, r: Response) -> Result<Value, TargetError> {
        let status = r.status();
        let body = bounded(r, what).await?;
        serde_json::from_slice(&body).map_err(|e| {
            TargetError::unreachable(format!("{what}: answer ({status}) is not JSON: {e}"))
        })
    }

    async fn get(&self, http: &Http, what: &str, path: &str) -> Result<Option<Value>, TargetError> {
        let r = http
            .send(what, || http.request(Method::GET, path).header("Accept", "application/json"))
            .await?;
        check_auth(&r, what)?;
        match r.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => self.json(what, r).await.map(Some),
            _ => Err(TargetError::unreachable(format!("{what}: {}", detail(r).await))),
        }
    }

    /// Every RP of this tenant (by accord's prefix and mark), and one holding the wanted
    /// client id that is not accord's.
    async fn observe_rps(&self) -> Result<Vec<Object>, TargetError> {
        let path = format!(
            "/api/v1/providers/oidc/rp/findByConfKey?pattern={}*",
            rp::CONF_KEY_PREFIX
        );
        let listed = self.get(&self.api, "listing relying parties", &path).await?;
        let mut out: Vec<Object> = listed
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| rp::observed(v, &self.setup))
            .filter(|o| o.get(OWNER_ATTR) == Some(OWNER))
            .collect();
        if !out.iter().any(|o| o.key.id == self.client_id) {
            let path = format!(
                "/api/v1/providers/oidc/rp/findByClientId?clientId={}",
                urlencode(&self.client_id)
            );
            if let Some(v) = self.get(&self.api, "looking up the client id", &path).await? {
                // One object, or a list of them, depending on the version.
                let found = v.as_array().map_or_else(|| vec![v.clone()], Clone::clone);
                out.extend(
                    found
                        .iter()
                        .filter(|r| r["clientId"].as_str() == Some(self.client_id.as_str()))
                        .map(|r| rp::observed(r, &self.setup)),
                );
            }
        }
        Ok(out)
    }

    /// The tenant's live sessions, by person. Fails rather than return part of them.
    async fn list_sessions(&self) -> Result<Sessions, TargetError> {
        let mut out = Sessions::new();
        let Some(base) = &self.base_dn else {
            return Ok(out);
        };
        let what = "listing sessions";
        let v = self
            .get(&self.sessions, what, "/sessions/global?orderBy=_dn")
            .await?
            .ok_or_else(|| TargetError::config(format!("{what}: the manager has no /sessions/global (is sessionsEndpoint the manager's URL?)")))?;
        if v["result"] != 1 {
            return Err(TargetError::unreachable(format!(
                "{what}: the manager answered result {}",
                v["result"]
            )));
        }
        let values = v["values"].as_array().ok_or_else(|| {
            TargetError::unreachable(format!("{what}: the answer has no values list"))
        })?;
        for s in values {
            let (Some(id), Some(dn)) = (s["session"].as_str(), s["_dn"].as_str()) else {
                continue; // a session of no directory user (e.g. an API token)
            };
            let Ok(dn) = Dn::parse(dn) else { continue };
            let Some(rdn) = dn.rdn().filter(|r| r.attr.eq_ignore_ascii_case("uid")) else {
                continue;
            };
            if dn.is_under(base) {
                out.entry(rdn.value.clone()).or_default().push(id.to_string());
            }
        }
        Ok(out)
    }

    async fn write(&self, what: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Response, TargetError> {
        let r = self
            .api
            .send(what, || {
                let rb = self
                    .api
                    .request(method.clone(), path)
                    .header("Accept", "application/json");
                match body {
                    Some(b) => rb.json(b),
                    None => rb,
                }
            })
            .await?;
        check_auth(&r, what)?;
        Ok(r)
    }

    async fn apply_client(&self, op: &Op, want: Option<&Object>, have: Option<&Object>) -> Result<usize, TargetError> {
        let owned = |o: Option<&Object>| o.is_none_or(|o| o.get(OWNER_ATTR) == Some(OWNER));
        if !owned(have) {
            let key = have.and_then(|h| h.locator.clone()).unwrap_or_default();
            return Err(TargetError::rejected(format!(
                "relying party {key} holds client id {} but is not accord's (no ownership mark): left alone; delete or rename it, or change spec.lemonldap.clientId",
                op.key().id
            )));
        }
        match (op, want) {
            (Op::Delete { locator, .. }, _) => {
                let key = locator.clone().unwrap_or_else(|| rp::conf_key(&op.key().id));
                let path = format!("/api/v1/providers/oidc/rp/{key}");
                let r = self.write("deleting the relying party", Method::DELETE, &path, None).await?;
                match r.status() {
                    s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(1),
                    _ => Err(TargetError::rejected(detail(r).await)),
                }
            }
            (_, Some(want)) => {
                let body = rp::body(want, &self.setup)
                    .map_err(|e| TargetError::rejected(format!("not sent: {e}")))?;
                let key = body["confKey"].as_str().unwrap_or_default().to_string();
                let (what, r) = match have {
                    None => ("creating the relying party", self.write("creating the relying party", Method::POST, "/api/v1/providers/oidc/rp", Some(&body)).await?),
                    Some(_) => {
                        let path = format!("/api/v1/providers/oidc/rp/{key}");
                        ("replacing the relying party", self.write("replacing the relying party", Method::PUT, &path, Some(&body)).await?)
                    }
                };
                match r.status() {
                    s if s.is_success() => Ok(1),
                    StatusCode::CONFLICT => Err(TargetError::rejected(format!(
                        "{what}: a relying party with confKey {key} or client id {} already exists and is not accord's: left alone",
                        op.key().id
                    ))),
                    _ => Err(TargetError::rejected(format!("{what}: {}", detail(r).await))),
                }
            }
            _ => Err(TargetError::rejected("no desired state for the client")),
        }
    }

    /// Ends every live session of `person`, each checked gone.
    async fn end_sessions(&self, person: &str, listed: &Sessions) -> Result<usize, TargetError> {
        let ids = listed.get(person).cloned().unwrap_or_default();
        let mut unsure = Vec::new();
        for id in &ids {
            let path = format!("/sessions/global/{}", urlencode(id));
            let r = self
                .sessions
                .send("ending a session", || {
                    self.sessions
                        .request(Method::DELETE, &path)
                        .header("Accept", "application/json")
                })
                .await?;
            check_auth(&r, "ending a session")?;
            if !r.status().is_success() {
                // The manager answers 500 for a session that is already gone: only a fresh
                // listing can tell.
                unsure.push(id.clone());
            }
        }
        if !unsure.is_empty() {
            let now = self.list_sessions().await?;
            let left: Vec<&String> = now
                .get(person)
                .into_iter()
                .flatten()
                .filter(|id| unsure.contains(id))
                .collect();
            if !left.is_empty() {
                return Err(TargetError::rejected(format!(
                    "{} of {}'s sessions could not be ended",
                    left.len(),
                    person
                )));
            }
        }
        Ok(ids.len())
    }
}

impl Connector for LemonldapTarget {
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>> {
        Box::pin(async move {
            let (rps, sessions) = futures::try_join!(self.observe_rps(), self.list_sessions())?;
            let mut objects = rps;
            for (person, ids) in sessions {
                let mut o = Object::new(ObjectKind::Session, person);
                o.locator = Some(ids.join(" "));
                objects.push(o);
            }
            Ok(ObservedState::from_objects(objects))
        })
    }

    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        _: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport> {
        Box::pin(async move {
            let mut report = ApplyReport::new(&plan.integration);
            // The state the client ops must reach, whole: PUT replaces the RP.
            let wanted = apply_in_memory(observed, plan);
            let listing = tokio::sync::OnceCell::new();
            run_waves(plan, self.max_concurrency, &mut report, |n| {
                let op = &plan.ops[n];
                let key: &ObjectKey = op.key();
                let listing = &listing;
                let wanted = &wanted;
                async move {
                    match key.kind {
                        ObjectKind::Client => {
                            let want = matches!(op, Op::Create { .. } | Op::Update { .. })
                                .then(|| wanted.objects.get(key))
                                .flatten();
                            self.apply_client(op, want, observed.objects.get(key)).await
                        }
                        ObjectKind::Session if matches!(op, Op::Delete { .. }) => {
                            let listed = listing.get_or_try_init(|| self.list_sessions()).await?;
                            self.end_sessions(&key.id, listed).await
                        }
                        _ => Err(TargetError::rejected(format!(
                            "LemonLDAP::NG holds no {} objects",
                            key.kind.as_str()
                        ))),
                    }
                }
            })
            .await;
            report.requests = self.api.requests() + self.sessions.requests();
            report
        })
    }

    fn requests(&self) -> Option<usize> {
        Some(self.api.requests() + self.sessions.requests())
    }
}

fn check_auth(r: &Response, what: &str) -> Result<(), TargetError> {
    match r.status() {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(TargetError::auth(format!(
            "{what}: LemonLDAP::NG refused the credentials ({})",
            r.status()
        ))),
        _ => Ok(()),
    }
}

/// The body, refused past `MAX_BODY`.
async fn bounded(mut r: Response, what: &str) -> Result<Vec<u8>, TargetError> {
    let mut body = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| TargetError::unreachable(format!("{what}: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(TargetError::unreachable(format!(
                "{what}: the answer is larger than {} MiB",
                MAX_BODY >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
