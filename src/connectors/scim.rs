//! The `scim` target: an extranet's SCIM 2.0 service provider (RFC 7643/7644).
//!
//! Ownership is the `externalId`: `accord:<tenant>:<grant>` for users and
//! `accord:<tenant>:group:<name>` for groups. accord reads, changes and deletes only those;
//! a user with the same `userName` that accord does not own is taken over only with
//! `scim.adopt: true`. Changes are PATCHed with the fewest operations, with `If-Match` where the
//! server offers ETags, and PUT when it does not support PATCH.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::api::SyncLimits;
use crate::api::Integration;
use crate::engine::Snapshot;
use crate::engine::build::extranet::{ENTERPRISE, scim_external_id};
use crate::engine::plan::{Change, Op, TargetPlan};
use crate::engine::state::{MEMBER_ATTR, Object, ObjectKey, ObjectKind, ObservedState};

use super::http::{Auth, Http, detail};
use super::{ApplyReport, TargetError};
use futures::future::BoxFuture;

use crate::api::IntegrationKind;
use crate::engine::build::extranet::build_scim;
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::TargetKind;
use crate::engine::state::TargetRole;

use super::{ApplyOptions, Connector, ConnectorKind};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CONTENT_TYPE: &str = "application/scim+json";
/// Multi-valued attributes accord sends as `[{"value": …}]`.
const VALUE_LISTS: &[&str] = &["roles", "entitlements"];

/// `spec.sync` when it says nothing. An extranet's SCIM API is shared with its users; a first load of thousands waits rather than crowd them out.
pub const LIMITS: SyncLimits = SyncLimits {
    max_concurrency: 4,
    requests_per_second: 25,
};

/// What the server says it supports (ServiceProviderConfig).
#[derive(Clone, Copy, Debug)]
struct Features {
    patch: bool,
    etag: bool,
    filter: bool,
    page: usize,
}

pub struct ScimTarget {
    http: Http,
    tenant: String,
    adopt: bool,
    max_concurrency: usize,
    features: tokio::sync::OnceCell<Features>,
}

impl ScimTarget {
    pub fn new(integration: &Integration, snapshot: &Snapshot) -> Result<Self, TargetError> {
        let spec = &integration.spec;
        let limits = spec.sync.limits(LIMITS);
        let ns = super::namespace_of(integration);
        let endpoint = super::endpoint_of(integration)?;
        let auth = match &spec.credentials_ref {
            None => Auth::None,
            Some(r) => {
                let s = super::secret_of(snapshot, ns, &r.secret_name, "credentials")?;
                match (s.get("token"), s.get("username"), s.get("password")) {
                    (Some(t), _, _) => Auth::Bearer(t.to_string()),
                    (None, Some(u), Some(p)) => Auth::Basic(u.to_string(), p.to_string()),
                    _ => {
                        return Err(TargetError::config(format!(
                            "credentials Secret {:?} needs key token, or username and password",
                            r.secret_name
                        )));
                    }
                }
            }
        };
        Ok(Self {
            http: Http::new(
                endpoint,
                spec.tls.as_ref(),
                auth,
                limits.requests_per_second,
                snapshot,
                ns,
            )?,
            tenant: spec.tenant.clone(),
            adopt: spec.scim.as_ref().is_some_and(|s| s.adopt),
            max_concurrency: limits.max_concurrency as usize,
            features: tokio::sync::OnceCell::new(),
        })
    }

    pub fn requests(&self) -> usize {
        self.http.requests()
    }

    async fn features(&self) -> Result<Features, TargetError> {
        self.features
            .get_or_try_init(|| async {
                let r = self
                    .http
                    .send("reading ServiceProviderConfig", || {
                        self.http.request(Method::GET, "/ServiceProviderConfig")
                    })
                    .await?;
                check_auth(&r)?;
                if !r.status().is_success() {
                    // Not every server publishes it; assume the RFC's minimum.
                    return Ok(Features {
                        patch: false,
                        etag: false,
                        filter: true,
                        page: 100,
                    });
                }
                let v: Value = r.json().await.map_err(|e| {
                    TargetError::unreachable(format!("ServiceProviderConfig is not JSON: {e}"))
                })?;
                let on = |k: &str| {
                    v.get(k)
                        .and_then(|x| x.get("supported"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                };
                let max = v
                    .get("filter")
                    .and_then(|f| f.get("maxResults"))
                    .and_then(Value::as_u64)
                    .unwrap_or(100) as usize;
                Ok(Features {
                    patch: on("patch"),
                    etag: on("etag"),
                    filter: on("filter"),
                    page: max.clamp(1, 500),
                })
            })
            .await
            .copied()
    }

    /// Every user and group accord owns, page by page.
    pub async fn observe(&self) -> Result<ObservedState, TargetError> {
        let f = self.features().await?;
        let users = self.list("/Users", &f).await?;
        let groups = self.list("/Groups", &f).await?;
        let mut ids: HashMap<String, String> = HashMap::new(); // SCIM id → person key id
        let mut objects = Vec::new();
        for u in users {
            let Some(key) = self.own_key(&u, "") else {
                continue;
            };
            let id = u
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            ids.insert(id.clone(), key.clone());
            let mut o = user_object(&key, &u);
            o.locator = Some(id);
            o.version = version(&u);
            objects.push(o);
        }
        for g in groups {
            let Some(key) = self.own_key(&g, "group:") else {
                continue;
            };
            let mut o = Object::new(ObjectKind::Group, key);
            o.set_opt("displayName", g.get("displayName").and_then(Value::as_str));
            o.set_opt("externalId", g.get("externalId").and_then(Value::as_str));
            let members = g
                .get("members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("value").and_then(Value::as_str));
            // A member accord does not know stays as its SCIM id, so it shows as drift.
            o.set_many(
                MEMBER_ATTR,
                members.map(|m| ids.get(m).cloned().unwrap_or_else(|| m.to_string())),
            );
            o.locator = g.get("id").and_then(Value::as_str).map(String::from);
            o.version = version(&g);
            objects.push(o);
        }
        Ok(ObservedState::from_objects(objects))
    }

    fn own_key(&self, resource: &Value, kind: &str) -> Option<String> {
        let ext = resource.get("externalId")?.as_str()?;
        ext.strip_prefix(&scim_external_id(&self.tenant, kind, ""))
            .filter(|id| !id.is_empty() && !id.starts_with("group:"))
            .map(String::from)
    }

    async fn list(&self, path: &str, f: &Features) -> Result<Vec<Value>, TargetError> {
        let prefix = scim_external_id(&self.tenant, "", "");
        let filter = format!("externalId sw \"{prefix}\"");
        let mut out = Vec::new();
        let mut start = 1;
        loop {
            let mut query = vec![
                ("startIndex", start.to_string()),
                ("count", f.page.to_string()),
            ];
            if f.filter {
                query.push(("filter", filter.clone()));
            }
            let r = self
                .http
                .send(&format!("listing {path}"), || {
                    self.http.request(Method::GET, path).query(&query)
                })
                .await?;
            check_auth(&r)?;
            if !r.status().is_success() {
                return Err(TargetError::unreachable(format!(
                    "listing {path} failed: {}",
                    detail(r).await
                )));
            }
            let page: Value = r
                .json()
                .await
                .map_err(|e| TargetError::unreachable(format!("listing {path}: not JSON: {e}")))?;
            let items = page
                .get("Resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = page
                .get("totalResults")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize;
            let n = items.len();
            out.extend(items.into_iter().filter(|i| {
                i.get("externalId")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.starts_with(&prefix))
            }));
            start += n;
            if n == 0 || start > total {
                return Ok(out);
            }
        }
    }

    pub async fn apply(&self, plan: &TargetPlan, observed: &ObservedState) -> ApplyReport {
        let mut report = ApplyReport::new(&plan.integration);
        let f = match self.features().await {
            Ok(f) => f,
            Err(e) => {
                report.abort(e.to_string(), plan.ops.len());
                return report;
            }
        };
        // person key → SCIM id, for group members; grows as users are created.
        let ids: Mutex<HashMap<String, String>> = Mutex::new(
            observed
                .objects
                .values()
                .filter(|o| o.key.kind == ObjectKind::Person)
                .filter_map(|o| Some((o.key.id.clone(), o.locator.clone()?)))
                .collect(),
        );
        let before = self.http.requests();
        super::run_waves(plan, self.max_concurrency, &mut report, |n| {
            self.apply_op(&plan.ops[n], &f, &ids)
        })
        .await;
        report.requests = self.http.requests() - before;
        report
    }

    async fn apply_op(
        &self,
        op: &Op,
        f: &Features,
        ids: &Mutex<HashMap<String, String>>,
    ) -> Result<usize, TargetError> {
        match op {
            Op::Create { object } => self.create(object, f, ids).await,
            Op::Update {
                key,
                locator,
                version,
                changes,
                ..
            } => {
                let id = locator
                    .clone()
                    .ok_or_else(|| TargetError::rejected("has no SCIM id"))?;
                self.update(key, &id, version.clone(), changes, f, ids)
                    .await
            }
            Op::Delete { key, locator, .. } => {
                let Some(id) = locator else { return Ok(0) };
                let path = format!("{}/{id}", collection(key.kind));
                let r = self
                    .http
                    .send(&format!("deleting {key}"), || {
                        self.http.request(Method::DELETE, &path)
                    })
                    .await?;
                check_auth(&r)?;
                match r.status() {
                    s if s.is_success() => Ok(1),
                    StatusCode::NOT_FOUND => Ok(0), // already gone
                    _ => Err(TargetError::rejected(format!(
                        "cannot delete {key}: {}",
                        detail(r).await
                    ))),
                }
            }
        }
    }

    async fn create(
        &self,
        object: &Object,
        f: &Features,
        ids: &Mutex<HashMap<String, String>>,
    ) -> Result<usize, TargetError> {
        let key = &object.key;
        let body = self.resource(object, ids);
        let path = collection(key.kind);
        let r = self
            .http
            .send(&format!("creating {key}"), || {
                self.http
                    .request(Method::POST, path)
                    .header("Content-Type", CONTENT_TYPE)
                    .json(&body)
            })
            .await?;
        check_auth(&r)?;
        let status = r.status();
        if status.is_success() {
            let v: Value = r.json().await.unwrap_or_default();
            if let (ObjectKind::Person, Some(id)) = (key.kind, v.get("id").and_then(Value::as_str))
            {
                ids.lock()
                    .expect("ids")
                    .insert(key.id.clone(), id.to_string());
            }
            return Ok(1);
        }
        if status != StatusCode::CONFLICT {
            return Err(TargetError::rejected(format!(
                "cannot create {key}: {}",
                detail(r).await
            )));
        }
        // 409 uniqueness: ours from an interrupted run, or someone else's.
        let (attr, value) = match key.kind {
            ObjectKind::Group => ("displayName", object.get("displayName").unwrap_or_default()),
            _ => ("userName", object.get("userName").unwrap_or_default()),
        };
        let existing = self.find(path, attr, value).await?.ok_or_else(|| {
            TargetError::rejected(format!(
                "cannot create {key}: the server reports a conflict (409) but no {attr} {value:?}"
            ))
        })?;
        let id = existing
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind_prefix = if key.kind == ObjectKind::Group {
            "group:"
        } else {
            ""
        };
        let owned = self.own_key(&existing, kind_prefix).as_deref() == Some(key.id.as_str());
        if !owned && !self.adopt {
            return Err(TargetError::rejected(format!(
                "cannot create {key}: {attr} {value:?} is already taken by a SCIM resource accord does not own (id {id}); set scim.adopt: true on the Integration to take it over"
            )));
        }
        if key.kind == ObjectKind::Person {
            ids.lock().expect("ids").insert(key.id.clone(), id.clone());
        }
        let mut put = self.resource(object, ids);
        put["id"] = json!(id);
        let r = self
            .http
            .send(&format!("taking over {key}"), || {
                self.http
                    .request(Method::PUT, &format!("{path}/{id}"))
                    .header("Content-Type", CONTENT_TYPE)
                    .json(&put)
            })
            .await?;
        if !r.status().is_success() {
            return Err(TargetError::rejected(format!(
                "cannot take over {key}: {}",
                detail(r).await
            )));
        }
        let _ = f;
        Ok(1)
    }

    async fn find(
        &self,
        path: &str,
        attr: &str,
        value: &str,
    ) -> Result<Option<Value>, TargetError> {
        let filter = format!(
            "{attr} eq \"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let r = self
            .http
            .send(&format!("looking up {attr}"), || {
                self.http
                    .request(Method::GET, path)
                    .query(&[("filter", filter.as_str())])
            })
            .await?;
        if !r.status().is_success() {
            return Err(TargetError::rejected(format!(
                "cannot look up {attr} {value:?}: {}",
                detail(r).await
            )));
        }
        let v: Value = r.json().await.unwrap_or_default();
        Ok(v.get("Resources")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned())
    }

    async fn update(
        &self,
        key: &ObjectKey,
        id: &str,
        version: Option<String>,
        changes: &[Change],
        f: &Features,
        ids: &Mutex<HashMap<String, String>>,
    ) -> Result<usize, TargetError> {
        let path = format!("{}/{id}", collection(key.kind));
        let mut version = version;
        for attempt in 0..2 {
            let r = if f.patch {
                let body =
                    json!({"schemas": [PATCH_OP], "Operations": self.patch_ops(key, changes, ids)});
                self.http
                    .send(&format!("updating {key}"), || {
                        let mut rb = self
                            .http
                            .request(Method::PATCH, &path)
                            .header("Content-Type", CONTENT_TYPE)
                            .json(&body);
                        if let (true, Some(v)) = (f.etag, &version) {
                            rb = rb.header("If-Match", v);
                        }
                        rb
                    })
                    .await?
            } else {
                // No PATCH: read the resource, change it, PUT it back.
                let current = self.get(&path).await?;
                let mut put = current.clone();
                apply_changes(&mut put, key.kind, changes, ids);
                let etag = crate::connectors::scim::version(&current);
                self.http
                    .send(&format!("replacing {key}"), || {
                        let mut rb = self
                            .http
                            .request(Method::PUT, &path)
                            .header("Content-Type", CONTENT_TYPE)
                            .json(&put);
                        if let (true, Some(v)) = (f.etag, &etag) {
                            rb = rb.header("If-Match", v);
                        }
                        rb
                    })
                    .await?
            };
            check_auth(&r)?;
            match r.status() {
                s if s.is_success() => return Ok(1),
                StatusCode::PRECONDITION_FAILED if attempt == 0 => {
                    // Changed since it was read: the operations set values, so they can be
                    // sent again against the current version.
                    version = crate::connectors::scim::version(&self.get(&path).await?);
                }
                StatusCode::NOT_FOUND => {
                    return Err(TargetError::rejected(format!(
                        "{key} is gone from the server; the next run creates it again"
                    )));
                }
                _ => {
                    return Err(TargetError::rejected(format!(
                        "cannot update {key}: {}",
                        detail(r).await
                    )));
                }
            }
        }
        Err(TargetError::rejected(format!(
            "cannot update {key}: it keeps changing on the server (412 twice)"
        )))
    }

    async fn get(&self, path: &str) -> Result<Value, TargetError> {
        let r = self
            .http
            .send("reading", || self.http.request(Method::GET, path))
            .await?;
        if !r.status().is_success() {
            return Err(TargetError::rejected(format!(
                "cannot read {path}: {}",
                detail(r).await
            )));
        }
        r.json()
            .await
            .map_err(|e| TargetError::rejected(format!("{path}: not JSON: {e}")))
    }

    /// The fewest PATCH operations: replace or remove each changed attribute; group members
    /// added and removed one by one.
    fn patch_ops(
        &self,
        key: &ObjectKey,
        changes: &[Change],
        ids: &Mutex<HashMap<String, String>>,
    ) -> Vec<Value> {
        let mut ops = Vec::new();
        for c in changes {
            if key.kind == ObjectKind::Group && c.attr == MEMBER_ATTR {
                let ids = ids.lock().expect("ids");
                let scim = |m: &String| ids.get(m).cloned().unwrap_or_else(|| m.clone());
                let added: Vec<Value> = c
                    .desired
                    .iter()
                    .filter(|m| !c.actual.contains(m))
                    .map(|m| json!({"value": scim(m)}))
                    .collect();
                if !added.is_empty() {
                    ops.push(json!({"op": "add", "path": "members", "value": added}));
                }
                for m in c.actual.iter().filter(|m| !c.desired.contains(m)) {
                    ops.push(json!({"op": "remove", "path": format!("members[value eq \"{}\"]", scim(m))}));
                }
                continue;
            }
            let path = patch_path(&c.attr);
            if c.desired.is_empty() {
                ops.push(json!({"op": "remove", "path": path}));
            } else {
                ops.push(json!({"op": "replace", "path": path, "value": patch_value(&c.attr, &c.desired)}));
            }
        }
        ops
    }

    /// A whole resource from an object's attributes.
    fn resource(&self, object: &Object, ids: &Mutex<HashMap<String, String>>) -> Value {
        let mut v = json!({});
        match object.key.kind {
            ObjectKind::Group => {
                v["schemas"] = json!([GROUP]);
                let ids = ids.lock().expect("ids");
                for (k, vals) in &object.attrs {
                    if k == MEMBER_ATTR {
                        v["members"] = Value::Array(vals.iter().map(|m| json!({"value": ids.get(m).cloned().unwrap_or_else(|| m.clone())})).collect());
                    } else {
                        v[k.as_ref()] = json!(vals.first());
                    }
                }
            }
            _ => {
                let enterprise = object.attrs.keys().any(|k| k.starts_with(ENTERPRISE));
                v["schemas"] = if enterprise {
                    json!([USER, ENTERPRISE])
                } else {
                    json!([USER])
                };
                for (k, vals) in &object.attrs {
                    set_path(&mut v, k, patch_value(k, vals));
                }
            }
        }
        v
    }
}

fn collection(kind: ObjectKind) -> &'static str {
    if kind == ObjectKind::Group {
        "/Groups"
    } else {
        "/Users"
    }
}

fn check_auth(r: &reqwest::Response) -> Result<(), TargetError> {
    match r.status() {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(TargetError::auth(format!(
            "the SCIM server refused accord's credentials ({})",
            r.status()
        ))),
        _ => Ok(()),
    }
}

pub fn version(resource: &Value) -> Option<String> {
    resource
        .get("meta")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_str)
        .map(String::from)
}

/// Emails and phone numbers are replaced whole, so the filtered path always has a target.
fn patch_path(attr: &str) -> String {
    match attr.split_once('[') {
        Some((base, _)) if base == "emails" || base == "phoneNumbers" => base.to_string(),
        _ => attr.to_string(),
    }
}

fn patch_value(attr: &str, values: &[String]) -> Value {
    if let Some((base, rest)) = attr.split_once('[') {
        // `emails[type eq "work"].value` → [{"type": "work", "value": v, "primary": true}]
        let kind = rest.split('"').nth(1).unwrap_or("work");
        let _ = base;
        return Value::Array(
            values
                .iter()
                .map(|v| json!({"type": kind, "value": v, "primary": true}))
                .collect(),
        );
    }
    if VALUE_LISTS.contains(&attr) {
        return Value::Array(values.iter().map(|v| json!({"value": v})).collect());
    }
    match (attr, values.first().map(String::as_str)) {
        ("active", Some(v)) => Value::Bool(v == "true"),
        (_, Some(v)) => Value::String(v.to_string()),
        (_, None) => Value::Null,
    }
}

/// Sets `name.givenName`, `urn:…:User:department`, `emails[…].value` and plain attributes.
fn set_path(v: &mut Value, attr: &str, value: Value) {
    if let Some(rest) = attr.strip_prefix(&format!("{ENTERPRISE}:")) {
        if !v[ENTERPRISE].is_object() {
            v[ENTERPRISE] = json!({});
        }
        v[ENTERPRISE][rest] = value;
    } else if let Some((base, _)) = attr.split_once('[') {
        v[base] = value;
    } else if let Some((outer, inner)) = attr.split_once('.') {
        if !v[outer].is_object() {
            v[outer] = json!({});
        }
        v[outer][inner] = value;
    } else {
        v[attr] = value;
    }
}

/// PUT without PATCH: the changes applied to the resource as read.
fn apply_changes(
    resource: &mut Value,
    kind: ObjectKind,
    changes: &[Change],
    ids: &Mutex<HashMap<String, String>>,
) {
    for c in changes {
        if kind == ObjectKind::Group && c.attr == MEMBER_ATTR {
            let ids = ids.lock().expect("ids");
            resource["members"] = Value::Array(
                c.desired
                    .iter()
                    .map(|m| json!({"value": ids.get(m).cloned().unwrap_or_else(|| m.clone())}))
                    .collect(),
            );
            continue;
        }
        if c.desired.is_empty() {
            remove_path(resource, &c.attr);
        } else {
            set_path(resource, &c.attr, patch_value(&c.attr, &c.desired));
        }
    }
    if let Some(m) = resource.as_object_mut() {
        m.remove("meta");
    }
}

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn remove_path(v: &mut Value, attr: &str) {
    if let Some(rest) = attr.strip_prefix(&format!("{ENTERPRISE}:")) {
        if let Some(m) = obj(&mut v[ENTERPRISE]) {
            m.remove(rest);
        }
    } else if let Some((base, _)) = attr.split_once('[') {
        if let Some(m) = obj(v) {
            m.remove(base);
        }
    } else if let Some((outer, inner)) = attr.split_once('.') {
        if let Some(m) = obj(&mut v[outer]) {
            m.remove(inner);
        }
    } else if let Some(m) = obj(v) {
        m.remove(attr);
    }
}

/// A SCIM user as flat attributes, the same names `build_scim` uses.
fn user_object(key: &str, u: &Value) -> Object {
    let mut o = Object::new(ObjectKind::Person, key);
    let s = |p: &[&str]| -> Option<String> {
        let mut cur = u;
        for k in p {
            cur = cur.get(k)?;
        }
        cur.as_str().map(String::from)
    };
    for attr in ["externalId", "userName", "displayName", "title"] {
        o.set_opt(attr, s(&[attr]).as_deref());
    }
    o.set_opt("name.givenName", s(&["name", "givenName"]).as_deref());
    o.set_opt("name.familyName", s(&["name", "familyName"]).as_deref());
    for (list, attr) in [
        ("emails", "emails[type eq \"work\"].value"),
        ("phoneNumbers", "phoneNumbers[type eq \"work\"].value"),
    ] {
        let work = u
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("work"));
        o.set_many(
            attr,
            work.filter_map(|e| e.get("value").and_then(Value::as_str).map(String::from)),
        );
    }
    if let Some(a) = u.get("active").and_then(Value::as_bool) {
        o.set("active", a.to_string());
    }
    for list in VALUE_LISTS {
        o.set_many(
            *list,
            u.get(*list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("value").and_then(Value::as_str).map(String::from)),
        );
    }
    for field in ["employeeNumber", "department", "organization"] {
        let v = s(&[ENTERPRISE, field]);
        o.set_opt(format!("{ENTERPRISE}:{field}"), v.as_deref());
    }
    o
}

/// For tests: the resource accord would send for an object.
pub fn resource_json(object: &Object) -> Value {
    let t = ScimTarget {
        http: Http::new(
            "http://localhost",
            None,
            Auth::None,
            0,
            &Snapshot::default(),
            "default",
        )
        .expect("a client"),
        tenant: String::new(),
        adopt: false,
        max_concurrency: 1,
        features: tokio::sync::OnceCell::new(),
    };
    t.resource(object, &Mutex::new(HashMap::new()))
}

/// The `scim` kind: an extranet's users and groups over SCIM 2.0.
pub struct ScimKind;
pub static SCIM: ScimKind = ScimKind;

impl TargetKind for ScimKind {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Scim
    }
    fn serves(&self) -> &'static [TargetRole] {
        &[TargetRole::Extranet]
    }
    fn schemes(&self) -> &'static [&'static str] {
        &["https", "http"]
    }
    fn build(
        &self,
        ctx: &TenantContext,
        grants: &[ResolvedGrant],
        integration: &Integration,
    ) -> Vec<Object> {
        build_scim(ctx, grants, &integration.spec.scim.clone().unwrap_or_default())
    }
}

impl ConnectorKind for ScimKind {
    fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError> {
        Ok(Box::new(ScimTarget::new(integration, snapshot)?))
    }
}

impl Connector for ScimTarget {
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>> {
        Box::pin(ScimTarget::observe(self))
    }
    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        _options: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport> {
        Box::pin(ScimTarget::apply(self, plan, observed))
    }
    fn requests(&self) -> Option<usize> {
        Some(ScimTarget::requests(self))
    }
}
