//! The inbound SCIM server and leaver endpoint inside the operator (`--scim-listen`): the
//! producer's `Backend` over the operator's stores and the Kubernetes API, with the server's
//! own latest writes laid over the stores (a watch may lag behind what was just written);
//! and, on the leader, a loop that releases confirmed held deletions and writes each
//! scimServer Integration's status.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef as StoreRef;
use serde_json::{Value, json};

use crate::api::{Integration, IntegrationKind, OrgUnit, Tenant, UserGrant};
use crate::engine::{Kind, ObjectRef, SecretData};
use crate::producers::scim::access::Caller;
use crate::producers::scim::http::Server;
use crate::producers::scim::store::{self, Backend, BackendError, EventOn};

use super::Context;

fn rv(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> u64 {
    meta.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn failed(e: kube::Error) -> BackendError {
    let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
    BackendError { conflict, message: crate::validate::redact::masked(&e.to_string()).into_owned() }
}

pub struct KubeBackend {
    ctx: Arc<Context>,
    /// (namespace, name) → the grant as last written (None: deleted outright).
    grants: Mutex<HashMap<(String, String), (u64, Option<Arc<UserGrant>>)>>,
    /// (namespace, name) → the Integration's Groups annotation as last written.
    groups: Mutex<HashMap<(String, String), (u64, String)>>,
}

impl KubeBackend {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx, grants: Mutex::default(), groups: Mutex::default() }
    }

    fn remember(&self, g: UserGrant) {
        let key = (g.metadata.namespace.clone().unwrap_or_default(), g.metadata.name.clone().unwrap_or_default());
        let version = rv(&g.metadata);
        self.grants.lock().expect("recent grants").insert(key, (version, Some(Arc::new(g))));
    }

    fn latest(&self, ns: &str, name: &str) -> Option<Arc<UserGrant>> {
        self.grants(ns).into_iter().find(|g| g.metadata.name.as_deref() == Some(name))
    }
}

impl Backend for KubeBackend {
    fn leader(&self) -> bool {
        self.ctx.is_leader()
    }

    fn integration(&self, ns: &str, name: &str) -> Option<Arc<Integration>> {
        let found = self.ctx.integrations.get(&StoreRef::new(name).within(ns))?;
        let recent = self.groups.lock().expect("recent groups");
        match recent.get(&(ns.to_string(), name.to_string())) {
            Some((version, text)) if *version > rv(&found.metadata) => {
                let mut i = (*found).clone();
                i.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(store::GROUPS.into(), text.clone());
                Some(Arc::new(i))
            }
            _ => Some(found),
        }
    }

    fn tenant(&self, ns: &str, name: &str) -> Option<Arc<Tenant>> {
        self.ctx.tenants.get(&StoreRef::new(name).within(ns))
    }

    fn units(&self, ns: &str) -> Vec<Arc<OrgUnit>> {
        self.ctx.units.state().into_iter().filter(|u| u.metadata.namespace.as_deref() == Some(ns)).collect()
    }

    fn grants(&self, ns: &str) -> Vec<Arc<UserGrant>> {
        let mut recent = self.grants.lock().expect("recent grants");
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for g in self.ctx.grants.state().into_iter().filter(|g| g.metadata.namespace.as_deref() == Some(ns)) {
            let key = (ns.to_string(), g.metadata.name.clone().unwrap_or_default());
            match recent.get(&key) {
                Some((version, mine)) if *version > rv(&g.metadata) => {
                    if let Some(m) = mine {
                        out.push(m.clone());
                    }
                }
                Some(_) => {
                    recent.remove(&key); // the watch caught up
                    out.push(g);
                }
                None => out.push(g),
            }
            seen.insert(key);
        }
        recent.retain(|key, (_, mine)| {
            if key.0 != ns || seen.contains(key) {
                return true;
            }
            // Written, not yet seen by the watch: still ours to show (a deleted one is gone).
            if let Some(m) = mine {
                out.push(m.clone());
            }
            mine.is_some()
        });
        out
    }

    fn secret(&self, ns: &str, name: &str) -> Option<SecretData> {
        let s = self.ctx.secrets.get(&StoreRef::new(name).within(ns))?;
        let mut data = BTreeMap::new();
        for (k, v) in s.data.clone().unwrap_or_default() {
            if let Ok(text) = String::from_utf8(v.0) {
                data.insert(k, text);
            }
        }
        data.extend(s.string_data.clone().unwrap_or_default());
        Some(SecretData(data))
    }

    async fn create(&self, grant: UserGrant) -> Result<(), BackendError> {
        let ns = grant.metadata.namespace.clone().unwrap_or_default();
        let api: Api<UserGrant> = Api::namespaced(self.ctx.client.clone(), &ns);
        let made = api.create(&PostParams::default(), &grant).await.map_err(failed)?;
        self.remember(made);
        Ok(())
    }

    /// A JSON patch of what changed (metadata and spec): the finalizer and status the
    /// reconciler writes meanwhile are left alone, so no write of theirs conflicts with ours.
    async fn replace(&self, grant: UserGrant) -> Result<(), BackendError> {
        let ns = grant.metadata.namespace.clone().unwrap_or_default();
        let name = grant.metadata.name.clone().unwrap_or_default();
        let Some(before) = self.latest(&ns, &name) else {
            return Err(BackendError { conflict: true, message: format!("UserGrant {ns}/{name} is gone") });
        };
        let ops = changes(&before, &grant);
        if ops.0.is_empty() {
            return Ok(());
        }

        let api: Api<UserGrant> = Api::namespaced(self.ctx.client.clone(), &ns);
        let done = api
            .patch(&name, &PatchParams::default(), &Patch::<()>::Json(ops))
            .await
            .map_err(failed)?;
        self.remember(done);
        Ok(())
    }

    async fn delete(&self, grant: &UserGrant) -> Result<(), BackendError> {
        let ns = grant.metadata.namespace.clone().unwrap_or_default();
        let name = grant.metadata.name.clone().unwrap_or_default();
        let api: Api<UserGrant> = Api::namespaced(self.ctx.client.clone(), &ns);
        match api.delete(&name, &DeleteParams::default()).await.map_err(failed)?.left() {
            // Kept by its finalizer until every target has let the person go.
            Some(g) => self.remember(g),
            None => {
                let version = rv(&grant.metadata) + 1;
                self.grants.lock().expect("recent grants").insert((ns, name), (version, None));
            }
        }
        Ok(())
    }

    async fn set_groups(&self, integration: &Integration, records: String) -> Result<(), BackendError> {
        let ns = integration.metadata.namespace.clone().unwrap_or_default();
        let name = integration.metadata.name.clone().unwrap_or_default();
        let api: Api<Integration> = Api::namespaced(self.ctx.client.clone(), &ns);
        let body = json!({"metadata": {"annotations": {store::GROUPS: records}}});
        let done = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(body))
            .await
            .map_err(failed)?;
        self.groups.lock().expect("recent groups").insert((ns, name), (rv(&done.metadata), records));
        Ok(())
    }

    async fn event(&self, on: EventOn<'_>, warning: bool, reason: &str, note: String) {
        let (r, uid) = match on {
            EventOn::Grant(g) => {
                let ns = g.metadata.namespace.clone().unwrap_or_default();
                let name = g.metadata.name.clone().unwrap_or_default();
                let uid = g.metadata.uid.clone().or_else(|| self.latest(&ns, &name).and_then(|l| l.metadata.uid.clone()));
                (ObjectRef::new(Kind::UserGrant, &ns, &name), uid)
            }
            EventOn::Integration(i) => (
                ObjectRef::new(Kind::Integration, i.metadata.namespace.as_deref().unwrap_or_default(), i.metadata.name.as_deref().unwrap_or_default()),
                i.metadata.uid.clone(),
            ),
        };
        if let Err(e) = super::writes::publish(&self.ctx, &r, uid, warning, reason.to_string(), note).await {
            tracing::warn!(error = %e, "inbound event not written");
        }
    }
}

/// The JSON patch from `before` to `after`: labels and annotations key by key (added whole
/// when the object has none yet), the spec whole.
fn changes(before: &UserGrant, after: &UserGrant) -> json_patch::Patch {
    let mut ops: Vec<Value> = Vec::new();
    let maps = [
        ("labels", &before.metadata.labels, &after.metadata.labels),
        ("annotations", &before.metadata.annotations, &after.metadata.annotations),
    ];
    for (field, old, new) in maps {
        match (old, new) {
            (None, Some(n)) if !n.is_empty() => ops.push(json!({"op": "add", "path": format!("/metadata/{field}"), "value": n})),
            (Some(o), n) => {
                let empty = BTreeMap::new();
                let d = json_patch::diff(&json!(o), &json!(n.as_ref().unwrap_or(&empty)));
                for op in d.0 {
                    let mut v = serde_json::to_value(&op).unwrap_or_default();
                    let path = format!("/metadata/{field}{}", v["path"].as_str().unwrap_or_default());
                    v["path"] = json!(path);
                    ops.push(v);
                }
            }
            _ => {}
        }
    }
    if before.spec != after.spec {
        ops.push(json!({"op": "replace", "path": "/spec", "value": after.spec}));
    }
    serde_json::from_value(Value::Array(ops)).unwrap_or_else(|_| json_patch::Patch(Vec::new()))
}

/// Serves SCIM and leavers on `listen` until the process ends; TLS when a certificate and
/// key are given.
pub async fn serve(listen: String, tls: Option<(String, String)>, server: Arc<Server<KubeBackend>>) {
    let app = crate::producers::scim::http::router(server);
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen, error = %e, "cannot serve SCIM");
            return;
        }
    };
    tracing::info!(listen, tls = tls.is_some(), "serving SCIM and leavers");
    match tls {
        None => {
            let _ = axum::serve(listener, app).await;
        }
        Some((cert, key)) => match super::tls::acceptor(&cert, &key) {
            Ok(acceptor) => {
                let _ = axum::serve(super::tls::TlsListener::new(listener, acceptor), app).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot serve SCIM over TLS"),
        },
    }
}

/// On the leader, every few seconds: held inbound deletions that someone confirmed (the
/// Integration annotation `accord.dev/confirm-deletions: "N"`) are carried out, oldest first,
/// and each scimServer Integration's status says how many are held.
pub async fn housekeeping(ctx: Arc<Context>, backend: Arc<Server<KubeBackend>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    // The generation of each Integration whose people were last mapped with it.
    let mut mapped: Mapped = HashMap::new();
    loop {
        tick.tick().await;
        if !ctx.is_leader() {
            continue;
        }
        let inbound: Vec<Arc<Integration>> = ctx
            .integrations
            .state()
            .into_iter()
            .filter(|i| i.spec.kind == IntegrationKind::ScimServer && i.metadata.deletion_timestamp.is_none())
            .collect();
        for i in inbound {
            remap(&backend, &i, &mut mapped).await;
            tend(&ctx, &backend, &i).await;
        }
    }
}

fn caller(i: &Arc<Integration>) -> Caller {
    Caller {
        namespace: i.metadata.namespace.clone().unwrap_or_default(),
        settings: i.spec.scim_server.clone().unwrap_or_default(),
        integration: i.clone(),
    }
}

/// Per Integration: the generation its people were last mapped with, and whether that
/// generation already failed (so the failure is logged once, and retried every tick).
type Mapped = HashMap<(String, String), (Option<i64>, bool)>;

/// A changed Integration (its group table, defaults, mapping) recomputes its people once.
async fn remap(server: &Server<KubeBackend>, i: &Arc<Integration>, mapped: &mut Mapped) {
    let key = (i.metadata.namespace.clone().unwrap_or_default(), i.metadata.name.clone().unwrap_or_default());
    let generation = i.metadata.generation;
    let last = mapped.get(&key).copied();
    if last == Some((generation, false)) {
        return;
    }
    match server.service.remap(&caller(i)).await {
        Ok(n) => {
            if n > 0 {
                tracing::info!(namespace = key.0, integration = key.1, rewritten = n, "pushed people remapped");
            }
            mapped.insert(key, (generation, false));
        }
        Err(e) => {
            if last != Some((generation, true)) {
                tracing::warn!(namespace = key.0, integration = key.1, error = %e, "pushed people not remapped; retried until the settings can be read");
            }
            mapped.insert(key, (generation, true));
        }
    }
}

async fn tend(ctx: &Context, server: &Server<KubeBackend>, i: &Arc<Integration>) {
    let backend = &server.service.backend;
    let ns = i.metadata.namespace.clone().unwrap_or_default();
    let name = i.metadata.name.clone().unwrap_or_default();
    let owned: Vec<Arc<UserGrant>> = backend
        .grants(&ns)
        .into_iter()
        .filter(|g| store::owned_by(g, &name) && g.metadata.deletion_timestamp.is_none())
        .collect();
    let held: Vec<(String, String)> = owned
        .iter()
        .filter_map(|g| Some((g.metadata.name.clone()?, store::annotation(g, store::HELD)?.to_string())))
        .collect();
    let confirm: u32 = i
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(store::CONFIRM))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if confirm > 0 {
        let release = crate::engine::inbound::released(&held, confirm);
        let mut done = 0;
        for g in owned.iter().filter(|g| g.metadata.name.as_deref().is_some_and(|n| release.contains(&n))) {
            if backend.delete(g).await.is_ok() {
                done += 1;
                backend.event(EventOn::Grant(g), false, "ScimDeleted", format!("held deletion confirmed on Integration {name}")).await;
            }
        }
        let api: Api<Integration> = Api::namespaced(ctx.client.clone(), &ns);
        let unset = json!({"metadata": {"annotations": {store::CONFIRM: null}}});
        if api.patch(&name, &PatchParams::default(), &Patch::Merge(unset)).await.is_ok() {
            let note = format!("{}: \"{confirm}\" released {done} held inbound deletions; the annotation is used up", store::CONFIRM);
            backend.event(EventOn::Integration(i.as_ref()), false, "DeletionsConfirmed", note).await;
        }
    }
    let held_now = if confirm > 0 { held.len().saturating_sub(confirm as usize) } else { held.len() };
    let r = ObjectRef::new(Kind::Integration, &ns, &name);
    let prev = super::writes::previous(ctx, &r);
    let now = jiff::Timestamp::now();
    let condition = |kind: &str, ok: bool, reason: &str, message: &str| {
        crate::engine::status::condition(&prev.conditions, kind, ok, reason, message, prev.generation, now)
    };
    let trouble = server.service.trouble(&caller(i));
    let conditions = vec![
        match &trouble {
            None => condition("Ready", true, "Serving", "inbound provisioning is served at /scim/{namespace}/{integration}/v2"),
            Some(why) => condition("Ready", false, "InvalidSettings", why),
        },
        condition(
            "DeletionsHeld",
            held_now > 0,
            if held_now > 0 { "OverThreshold" } else { "NoneHeld" },
            &if held_now > 0 {
                format!("{held_now} inbound deletions held by the tenant's policy.deletion; release them with the annotation {}: \"N\"", store::CONFIRM)
            } else {
                String::new()
            },
        ),
    ];
    let status = json!({
        "conditions": conditions,
        "observedGeneration": prev.generation,
        "managed": owned.len() - held_now.min(owned.len()),
        "drifted": 0,
        "failed": 0,
    });
    let current = super::stores::current(ctx, &r).map(|c| c.status).unwrap_or(Value::Null);
    if super::writes::comparable(&current) != super::writes::comparable(&status)
        && let Err(e) = super::writes::integration_status(ctx, &r, &status).await
    {
        tracing::warn!(integration = name, error = %e, "status not written");
    }
}
