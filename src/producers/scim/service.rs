//! The SCIM operations on Users and Groups, over a `Backend`: every write checked by the
//! engine's validator (as `plan` would check the UserGrant), never touching a UserGrant
//! another producer owns, serialised per Integration, and recorded as an Event.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use crate::api::{OrgUnit, Tenant, UserGrant, UserGrantSpec};
use crate::engine::inbound::{InboundDeletion, inbound_deletion};
use crate::engine::problem::Kind;
use crate::engine::tree::{OrgTree, build_tree};
use crate::engine::validator::{self, Duplicates, Rules};
use crate::validate::redact::has_national_id;

use super::access::{Caller, Limits};
use super::error::ScimError;
use super::filter::Filter;
use super::mapping::{self, GroupRecord, Target};
use super::patch::{self, Operation};
use super::schema::{self, ResourceKind};
use super::store::{self, Backend, BackendError, EventOn};

/// Most resources in one list response.
pub const MAX_RESULTS: usize = 1000;
/// Most members one Group may have.
pub const MAX_MEMBERS: usize = 20_000;

pub struct Service<B: Backend> {
    pub backend: B,
    pub limits: Limits,
    locks: Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>,
    /// Inbound deletions carried out, per Integration, for the deletion window.
    deleted: Mutex<HashMap<(String, String), VecDeque<jiff::Timestamp>>>,
    pub(crate) leaver_keys: Mutex<HashMap<(String, String, String), (u64, Value, u16)>>,
}

/// Paging and projection of a list.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: Option<usize>,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// A resource and its version (for the ETag header).
pub struct Versioned {
    pub body: Value,
    pub version: u64,
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn backend_error(e: BackendError) -> ScimError {
    if e.conflict {
        ScimError::new(409, None, format!("the UserGrant changed meanwhile; send the request again ({})", e.message))
    } else {
        ScimError::unavailable(format!("the Kubernetes API did not take the write: {}", e.message), 5)
    }
}

/// Refuses identity numbers anywhere they would be printed; phone numbers are phone numbers.
fn no_national_ids(doc: &Value, path: &str) -> Result<(), ScimError> {
    match doc {
        Value::String(s) if !path.starts_with("phoneNumbers") && has_national_id(s) => Err(ScimError::invalid_value(format!(
            "{path} looks like a national identity number; accord keeps those only in Secrets \
             (a UserGrant's nationalIdRef), never in SCIM attributes"
        ))),
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            no_national_ids(v, &p)
        }),
        Value::Array(a) => a.iter().try_for_each(|v| no_national_ids(v, path)),
        _ => Ok(()),
    }
}

/// What a tenant's grants are checked against, read once per request.
struct TenantView {
    tenant: Arc<Tenant>,
    tree: OrgTree,
}

impl<B: Backend> Service<B> {
    pub fn new(backend: B) -> Self {
        Self {
            backend,
            limits: Limits::default(),
            locks: Mutex::default(),
            deleted: Mutex::default(),
            leaver_keys: Mutex::default(),
        }
    }

    /// One writer per Integration at a time: uniqueness and group membership stay true.
    pub async fn lock(&self, c: &Caller) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().expect("integration locks");
            locks.entry((c.namespace.clone(), c.name().to_string())).or_default().clone()
        };
        m.lock_owned().await
    }

    pub fn writable(&self) -> Result<(), ScimError> {
        if self.backend.leader() {
            Ok(())
        } else {
            Err(ScimError::unavailable("this replica is not the leader; another one takes writes", 5))
        }
    }

    fn tenant_view(&self, c: &Caller) -> Result<TenantView, ScimError> {
        let problems = mapping::check_settings(&c.settings);
        if let Some((f, why)) = problems.first() {
            return Err(ScimError::unavailable(format!("Integration {}: {f} {why}", c.name()), 60));
        }
        let tenant = self.backend.tenant(&c.namespace, c.tenant()).ok_or_else(|| {
            ScimError::unavailable(format!("the Integration's Tenant {} does not exist in {}", c.tenant(), c.namespace), 60)
        })?;
        let units: Vec<Arc<OrgUnit>> = self.backend.units(&c.namespace);
        let by_name: BTreeMap<&str, &OrgUnit> = units
            .iter()
            .map(|u| (u.metadata.name.as_deref().unwrap_or_default(), u.as_ref()))
            .collect();
        let (tree, _) = build_tree(&c.namespace, c.tenant(), &by_name, &BTreeSet::new(), false);
        Ok(TenantView { tenant, tree })
    }

    fn groups(&self, c: &Caller) -> Result<Vec<GroupRecord>, ScimError> {
        let i = self.backend.integration(&c.namespace, c.name()).unwrap_or_else(|| c.integration.clone());
        store::group_records(&i).map_err(|why| ScimError::unavailable(why, 60))
    }

    /// The grants this Integration owns (held deletions too).
    fn owned(&self, c: &Caller) -> (Vec<Arc<UserGrant>>, Vec<Arc<UserGrant>>) {
        let all = self.backend.grants(&c.namespace);
        let mine = all
            .iter()
            .filter(|g| store::owned_by(g, c.name()) && g.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        (all, mine)
    }

    fn find_user(&self, c: &Caller, id: &str) -> Result<Arc<UserGrant>, ScimError> {
        self.owned(c)
            .1
            .into_iter()
            .find(|g| store::label(g, store::SCIM_ID) == Some(id) && store::annotation(g, store::HELD).is_none() && store::kept_doc(g).is_some())
            .ok_or_else(|| ScimError::not_found(format!("no User {id:?} in Integration {}", c.name())))
    }

    // --- Rendering ---------------------------------------------------------------------

    fn location(base: &str, kind: ResourceKind, id: &str) -> String {
        format!("{base}/{}/{id}", kind.endpoint())
    }

    fn render_user(g: &UserGrant, base: &str, groups: &[GroupRecord]) -> Option<Versioned> {
        let mut doc = store::kept_doc(g)?;
        let id = store::label(g, store::SCIM_ID)?;
        let version = store::version(g);
        let mine = store::group_ids(g);
        let gs: Vec<Value> = groups
            .iter()
            .filter(|r| mine.contains(&r.id))
            .map(|r| json!({"value": r.id, "display": r.display_name, "type": "direct", "$ref": Self::location(base, ResourceKind::Group, &r.id)}))
            .collect();
        doc["schemas"] = json!(mapping::schemas_of(&doc));
        doc["id"] = json!(id);
        if !gs.is_empty() {
            doc["groups"] = Value::Array(gs);
        }
        let created = store::annotation(g, store::CREATED).unwrap_or_default();
        doc["meta"] = json!({
            "resourceType": "User",
            "created": created,
            "lastModified": store::annotation(g, store::MODIFIED).unwrap_or(created),
            "version": format!("W/\"{version}\""),
            "location": Self::location(base, ResourceKind::User, id),
        });
        Some(Versioned { body: doc, version })
    }

    fn render_group(r: &GroupRecord, base: &str, members: Option<&[String]>) -> Versioned {
        let mut doc = json!({
            "schemas": [schema::GROUP],
            "id": r.id,
            "displayName": r.display_name,
            "meta": {
                "resourceType": "Group",
                "created": r.created,
                "lastModified": r.last_modified,
                "version": format!("W/\"{}\"", r.version),
                "location": Self::location(base, ResourceKind::Group, &r.id),
            },
        });
        if let Some(x) = &r.external_id {
            doc["externalId"] = json!(x);
        }
        if let Some(m) = members.filter(|m| !m.is_empty()) {
            doc["members"] = Value::Array(
                m.iter()
                    .map(|id| json!({"value": id, "type": "User", "$ref": Self::location(base, ResourceKind::User, id)}))
                    .collect(),
            );
        }
        Versioned { body: doc, version: r.version }
    }

    /// Group id → the ids of its members, from the owned grants.
    fn memberships(owned: &[Arc<UserGrant>]) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for g in owned.iter().filter(|g| store::annotation(g, store::HELD).is_none()) {
            let Some(id) = store::label(g, store::SCIM_ID) else { continue };
            for gid in store::group_ids(g) {
                out.entry(gid).or_default().push(id.to_string());
            }
        }
        out.values_mut().for_each(|v| v.sort());
        out
    }

    // --- Reads -------------------------------------------------------------------------

    pub fn get(&self, c: &Caller, kind: ResourceKind, id: &str, base: &str, q: &Query) -> Result<Versioned, ScimError> {
        let groups = self.groups(c)?;
        let mut v = match kind {
            ResourceKind::User => {
                let g = self.find_user(c, id)?;
                Self::render_user(&g, base, &groups).ok_or_else(|| ScimError::not_found(format!("no User {id:?}")))?
            }
            ResourceKind::Group => {
                let r = groups
                    .iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| ScimError::not_found(format!("no Group {id:?} in Integration {}", c.name())))?;
                let members = if excluded(q, "members") {
                    None
                } else {
                    Self::memberships(&self.owned(c).1).remove(id)
                };
                Self::render_group(r, base, Some(members.as_deref().unwrap_or(&[])))
            }
        };
        v.body = project(kind, v.body, q);
        Ok(v)
    }

    /// Every resource of `kind` the filter takes, in a stable order.
    pub fn all(&self, c: &Caller, kind: ResourceKind, base: &str, q: &Query) -> Result<Vec<Value>, ScimError> {
        let groups = self.groups(c)?;
        let (_, owned) = self.owned(c);
        let mut out: Vec<(String, Value)> = match kind {
            ResourceKind::User => owned
                .iter()
                .filter(|g| store::annotation(g, store::HELD).is_none())
                .filter_map(|g| Some((g.metadata.name.clone()?, Self::render_user(g, base, &groups)?.body)))
                .collect(),
            ResourceKind::Group => {
                let members = Self::memberships(&owned);
                groups
                    .iter()
                    .map(|r| {
                        let m = members.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
                        (r.created.clone() + &r.id, Self::render_group(r, base, Some(m)).body)
                    })
                    .collect()
            }
        };
        if let Some(f) = &q.filter {
            out.retain(|(_, v)| f.matches(v));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, v)| project(kind, v, q)).collect())
    }

    // --- Users -------------------------------------------------------------------------

    /// The spec a User stands for, checked as `plan` would check it; problems → 400 (409 for
    /// a person who is already someone else).
    fn checked_spec(
        &self,
        c: &Caller,
        view: &TenantView,
        all: &[Arc<UserGrant>],
        doc: &Value,
        groups: &[&GroupRecord],
        previous: Option<&UserGrant>,
        name: &str,
    ) -> Result<UserGrantSpec, ScimError> {
        let target = Target { tenant: c.tenant(), settings: &c.settings, tree: &view.tree, groups };
        let mut spec = mapping::grant_spec(doc, &target, previous.map(|g| &g.spec)).map_err(|p| {
            ScimError::invalid_value(p.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))
        })?;
        let country = validator::country(&view.tenant.spec).ok().flatten();
        let rules = Rules { tenant: c.tenant(), spec: &view.tenant.spec, country, today: jiff::Zoned::now().date() };
        let (checked, mut problems) = validator::check_grant(&spec, &rules);
        spec.person.phone = checked.phone.clone();
        spec.person.email = checked.email.clone();
        let meta = json!({"name": name, "namespace": c.namespace});
        problems.extend(crate::engine::conform::check(Kind::UserGrant, &meta, &spec));
        for (i, s) in spec.scopes.iter().enumerate() {
            if view.tree.get(&s.unit).is_none() {
                problems.push((format!("spec.scopes[{i}].unit"), format!("{:?} is not an OrgUnit of tenant {}", s.unit, c.tenant())));
            }
        }
        let refuse = |problems: Vec<(String, String)>, status: u16| {
            let detail = problems
                .iter()
                .map(|(f, r)| format!("{}: {r}", mapping::scim_attribute(f, &c.settings)))
                .collect::<Vec<_>>()
                .join("; ");
            if status == 409 { ScimError::uniqueness(detail) } else { ScimError::invalid_value(detail) }
        };
        if !problems.is_empty() {
            return Err(refuse(problems, 400));
        }
        let mut dups = Duplicates::default();
        for other in all.iter().filter(|g| g.spec.tenant == c.tenant() && g.metadata.name.as_deref() != Some(name)) {
            let who = format!("UserGrant {}", other.metadata.name.as_deref().unwrap_or_default());
            let _ = dups.check(&who, Some(other.spec.person.email.trim()), &other.spec, None);
        }
        let found = dups.check(&format!("UserGrant {name}"), Some(&checked.email), &spec, None);
        if !found.is_empty() {
            return Err(refuse(found, 409));
        }
        Ok(spec)
    }

    fn user_name(doc: &Value) -> Result<String, ScimError> {
        doc.get("userName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ScimError::invalid_value("userName is required"))
    }

    /// The owned grant (other than `except`) whose User has this userName, any case.
    fn by_user_name<'a>(owned: &'a [Arc<UserGrant>], user_name: &str, except: Option<&str>) -> Option<&'a Arc<UserGrant>> {
        owned.iter().find(|g| {
            store::label(g, store::SCIM_ID) != except
                && store::kept_doc(g)
                    .and_then(|d| d.get("userName").and_then(Value::as_str).map(|u| u.trim().eq_ignore_ascii_case(user_name)))
                    .unwrap_or(false)
        })
    }

    pub async fn create_user(&self, c: &Caller, body: &Value, base: &str) -> Result<Versioned, ScimError> {
        self.writable()?;
        let doc = schema::normalise(ResourceKind::User, body)?;
        no_national_ids(&doc, "")?;
        let user_name = Self::user_name(&doc)?;
        let _w = self.lock(c).await;
        let view = self.tenant_view(c)?;
        let groups = self.groups(c)?;
        let (all, owned) = self.owned(c);
        if let Some(g) = Self::by_user_name(&owned, &user_name, None) {
            if store::annotation(g, store::HELD).is_none() {
                return Err(ScimError::uniqueness(format!(
                    "userName {user_name:?} is already the User {} of Integration {}",
                    store::label(g, store::SCIM_ID).unwrap_or_default(),
                    c.name()
                )));
            }
            // Pushed again while its deletion was held (a scoping mistake undone): it stays.
            let g = g.clone();
            let v = self.write_user(c, &view, &all, &groups, &g, doc, "DeletionWithdrawn", base).await?;
            return Ok(v);
        }
        let id = store::new_id();
        let name = unique_name(&user_name, &all);
        let spec = self.checked_spec(c, &view, &all, &doc, &[], None, &name)?;
        let stamp = now();
        let mut grant = UserGrant::new(&name, spec);
        grant.metadata = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(c.namespace.clone()),
            labels: Some(BTreeMap::from([
                (store::MANAGED_BY.to_string(), c.name().to_string()),
                (store::SCIM_ID.to_string(), id.clone()),
            ])),
            annotations: Some(BTreeMap::from([
                (store::RESOURCE.to_string(), doc.to_string()),
                (store::VERSION.to_string(), "1".to_string()),
                (store::CREATED.to_string(), stamp.clone()),
                (store::MODIFIED.to_string(), stamp),
            ])),
            owner_references: Some(vec![owner(c)]),
            ..Default::default()
        };
        self.backend.create(grant.clone()).await.map_err(backend_error)?;
        let note = format!("created from SCIM User {id} by Integration {}", c.name());
        self.backend.event(EventOn::Grant(&grant), false, "ScimCreated", note).await;
        Self::render_user(&grant, base, &groups).ok_or_else(|| ScimError::not_found("the User just created"))
    }

    /// Writes `doc` as the User of `g` (already owned), spec recomputed and checked.
    #[allow(clippy::too_many_arguments)]
    async fn write_user(
        &self,
        c: &Caller,
        view: &TenantView,
        all: &[Arc<UserGrant>],
        groups: &[GroupRecord],
        g: &UserGrant,
        doc: Value,
        reason: &str,
        base: &str,
    ) -> Result<Versioned, ScimError> {
        no_national_ids(&doc, "")?;
        let name = g.metadata.name.clone().unwrap_or_default();
        let mine = store::group_ids(g);
        let member_of: Vec<&GroupRecord> = groups.iter().filter(|r| mine.contains(&r.id)).collect();
        let spec = self.checked_spec(c, view, all, &doc, &member_of, Some(g), &name)?;
        let held = store::annotation(g, store::HELD).is_some();
        if !held && store::kept_doc(g).as_ref() == Some(&doc) && spec == g.spec {
            return Self::render_user(g, base, groups).ok_or_else(|| ScimError::not_found("the User"));
        }
        let mut next = g.clone();
        next.spec = spec;
        next.status = None;
        let ann = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
        ann.insert(store::RESOURCE.into(), doc.to_string());
        ann.insert(store::VERSION.into(), (store::version(g) + 1).to_string());
        ann.insert(store::MODIFIED.into(), now());
        ann.remove(store::HELD);
        self.backend.replace(next.clone()).await.map_err(backend_error)?;
        let id = store::label(g, store::SCIM_ID).unwrap_or_default();
        let what = if next.spec.suspended && !g.spec.suspended { " (active false: suspended)" } else { "" };
        let note = format!("updated from SCIM User {id} by Integration {}{what}", c.name());
        self.backend.event(EventOn::Grant(&next), false, reason, note).await;
        Self::render_user(&next, base, groups).ok_or_else(|| ScimError::not_found("the User"))
    }

    pub async fn replace_user(&self, c: &Caller, id: &str, body: &Value, if_match: Option<&str>, base: &str) -> Result<Versioned, ScimError> {
        self.writable()?;
        let mut doc = schema::normalise(ResourceKind::User, body)?;
        let _w = self.lock(c).await;
        let g = self.find_user(c, id)?;
        check_etag(if_match, store::version(&g))?;
        let user_name = Self::user_name(&doc)?;
        let (all, owned) = self.owned(c);
        if Self::by_user_name(&owned, &user_name, Some(id)).is_some() {
            return Err(ScimError::uniqueness(format!("userName {user_name:?} is already another User of Integration {}", c.name())));
        }
        // externalId is kept unless the client names another.
        if doc.get("externalId").is_none()
            && let Some(x) = store::kept_doc(&g).and_then(|d| d.get("externalId").cloned())
        {
            doc["externalId"] = x;
        }
        let view = self.tenant_view(c)?;
        let groups = self.groups(c)?;
        self.write_user(c, &view, &all, &groups, &g, doc, "ScimUpdated", base).await
    }

    pub async fn patch_user(&self, c: &Caller, id: &str, ops: &[Operation], if_match: Option<&str>, base: &str) -> Result<Versioned, ScimError> {
        self.writable()?;
        let _w = self.lock(c).await;
        let g = self.find_user(c, id)?;
        check_etag(if_match, store::version(&g))?;
        let mut doc = store::kept_doc(&g).unwrap_or_else(|| json!({}));
        patch::apply(ResourceKind::User, &mut doc, ops)?;
        let doc = schema::normalise(ResourceKind::User, &doc)?;
        let user_name = Self::user_name(&doc).map_err(|_| ScimError::mutability("userName cannot be removed"))?;
        let (all, owned) = self.owned(c);
        if Self::by_user_name(&owned, &user_name, Some(id)).is_some() {
            return Err(ScimError::uniqueness(format!("userName {user_name:?} is already another User of Integration {}", c.name())));
        }
        let view = self.tenant_view(c)?;
        let groups = self.groups(c)?;
        self.write_user(c, &view, &all, &groups, &g, doc, "ScimUpdated", base).await
    }

    /// DELETE: the UserGrant goes (its finalizer closes every target first), unless the
    /// tenant's deletion threshold holds it.
    pub async fn delete_user(&self, c: &Caller, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        self.writable()?;
        let _w = self.lock(c).await;
        let g = self.find_user(c, id)?;
        check_etag(if_match, store::version(&g))?;
        let tenant = self.tenant_view(c)?.tenant;
        let (_, owned) = self.owned(c);
        let held = owned.iter().filter(|g| store::annotation(g, store::HELD).is_some()).count();
        let live = owned.len() - held;
        let key = (c.namespace.clone(), c.name().to_string());
        let window = crate::validate::parse_duration(&c.settings.deletion_window).unwrap_or(3600);
        let recent = {
            let mut d = self.deleted.lock().expect("deletion window");
            let q = d.entry(key.clone()).or_default();
            let cutoff = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(window as i64);
            q.retain(|t| *t > cutoff);
            q.len()
        };
        match inbound_deletion(&tenant.spec.policy.deletion, live, recent, held) {
            InboundDeletion::Delete => {
                self.backend.delete(&g).await.map_err(backend_error)?;
                self.deleted.lock().expect("deletion window").entry(key).or_default().push_back(jiff::Timestamp::now());
                let note = format!("SCIM User {id} deleted by Integration {}: the UserGrant goes once every target has let the person go", c.name());
                self.backend.event(EventOn::Grant(&g), false, "ScimDeleted", note).await;
            }
            InboundDeletion::Hold(why) => {
                let mut next = (*g).clone();
                next.status = None;
                let ann = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
                ann.insert(store::HELD.into(), now());
                self.backend.replace(next.clone()).await.map_err(backend_error)?;
                let note = format!("SCIM User {id}: deletion by Integration {} held: {why}", c.name());
                self.backend.event(EventOn::Grant(&next), true, "DeletionHeld", note.clone()).await;
                self.backend.event(EventOn::Integration(&c.integration), true, "DeletionHeld", note).await;
            }
        }
        Ok(())
    }

    /// After the Integration's settings changed (its group table, defaults, mapping): every
    /// pushed person's access recomputed and written where it differs. A person the new
    /// settings would make invalid is left as they are, with a warning Event. Returns how
    /// many were rewritten.
    pub async fn remap(&self, c: &Caller) -> Result<usize, ScimError> {
        self.writable()?;
        let _w = self.lock(c).await;
        let view = self.tenant_view(c)?;
        let groups = self.groups(c)?;
        let (all, owned) = self.owned(c);
        let mut rewritten = 0;
        for g in owned.iter().filter(|g| store::annotation(g, store::HELD).is_none()) {
            let Some(doc) = store::kept_doc(g) else { continue };
            let mine = store::group_ids(g);
            let member_of: Vec<&GroupRecord> = groups.iter().filter(|r| mine.contains(&r.id)).collect();
            let name = g.metadata.name.clone().unwrap_or_default();
            match self.checked_spec(c, &view, &all, &doc, &member_of, Some(g), &name) {
                Ok(spec) if spec != g.spec => {
                    let mut next = (**g).clone();
                    next.spec = spec;
                    next.status = None;
                    self.backend.replace(next.clone()).await.map_err(backend_error)?;
                    let note = format!("access recomputed after Integration {}'s settings changed: roles {:?}, features {:?}", c.name(), next.spec.roles, next.spec.features);
                    self.backend.event(EventOn::Grant(&next), false, "ScimRemapped", note).await;
                    rewritten += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    let note = format!("Integration {}'s new settings do not fit this person, who is left as they were: {}", c.name(), e.detail);
                    self.backend.event(EventOn::Grant(g), true, "ScimRemapFailed", note).await;
                }
            }
        }
        Ok(rewritten)
    }

    /// Why the Integration cannot serve now (its settings, its Tenant), for its status.
    pub fn trouble(&self, c: &Caller) -> Option<String> {
        self.tenant_view(c).err().map(|e| e.detail).or_else(|| self.groups(c).err().map(|e| e.detail))
    }

    // --- Groups ------------------------------------------------------------------------

    /// The member ids a Group body (or PATCHed Group) names, each a User of this Integration.
    fn members_of(doc: &Value, owned: &[Arc<UserGrant>], c: &Caller) -> Result<Vec<String>, ScimError> {
        let mut out = Vec::new();
        let items: Vec<&Value> = match doc.get("members") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a.iter().collect(),
            Some(other) => vec![other],
        };
        if items.len() > MAX_MEMBERS {
            return Err(ScimError::invalid_value(format!("a Group has at most {MAX_MEMBERS} members")));
        }
        let known: BTreeSet<&str> = owned
            .iter()
            .filter(|g| store::annotation(g, store::HELD).is_none())
            .filter_map(|g| store::label(g, store::SCIM_ID))
            .collect();
        for m in items {
            let id = match m {
                Value::String(s) => s.as_str(),
                Value::Object(_) => {
                    if super::filter::get_ci(m, "type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("group")) {
                        return Err(ScimError::invalid_value("members: accord takes Users as members, not Groups"));
                    }
                    super::filter::get_ci(m, "value").and_then(Value::as_str).unwrap_or_default()
                }
                _ => "",
            };
            if id.is_empty() {
                return Err(ScimError::invalid_value("members: every member needs a value (the id of a User)"));
            }
            if !known.contains(id) {
                return Err(ScimError::invalid_value(format!("members: {id:?} is not a User of Integration {}", c.name())));
            }
            if !out.iter().any(|x| x == id) {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }

    fn group_fields(doc: &Value) -> Result<(String, Option<String>), ScimError> {
        let kept = schema::normalise(ResourceKind::Group, doc)?;
        no_national_ids(&kept, "")?;
        let name = kept
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ScimError::invalid_value("displayName is required"))?
            .to_string();
        Ok((name, kept.get("externalId").and_then(Value::as_str).map(str::to_string)))
    }

    pub async fn create_group(&self, c: &Caller, body: &Value, base: &str) -> Result<Versioned, ScimError> {
        self.writable()?;
        let (display_name, external_id) = Self::group_fields(body)?;
        let _w = self.lock(c).await;
        let mut groups = self.groups(c)?;
        if groups.iter().any(|g| g.display_name.eq_ignore_ascii_case(&display_name)) {
            return Err(ScimError::uniqueness(format!("a Group named {display_name:?} exists already in Integration {}", c.name())));
        }
        if groups.len() >= 1000 {
            return Err(ScimError::invalid_value("an Integration holds at most 1000 Groups"));
        }
        let (all, owned) = self.owned(c);
        let members = Self::members_of(body, &owned, c)?;
        let stamp = now();
        let record = GroupRecord { id: store::new_id(), display_name, external_id, created: stamp.clone(), last_modified: stamp, version: 1 };
        groups.push(record.clone());
        self.apply_groups(c, &all, &owned, &groups, &record.id, &members).await?;
        Ok(Self::render_group(&record, base, Some(&members)))
    }

    /// Writes the Group list, then gives `group` exactly `members`: grants that join or
    /// leave it get their access recomputed. Everything is checked before anything is written.
    async fn apply_groups(
        &self,
        c: &Caller,
        all: &[Arc<UserGrant>],
        owned: &[Arc<UserGrant>],
        groups: &[GroupRecord],
        group: &str,
        members: &[String],
    ) -> Result<(), ScimError> {
        let view = self.tenant_view(c)?;
        let mut writes = Vec::new();
        for g in owned.iter().filter(|g| store::annotation(g, store::HELD).is_none()) {
            let id = store::label(g, store::SCIM_ID).unwrap_or_default();
            let mut ids = store::group_ids(g);
            let before = ids.clone();
            let wanted = members.iter().any(|m| m == id);
            ids.retain(|x| x != group && groups.iter().any(|r| &r.id == x));
            if wanted {
                ids.push(group.to_string());
            }
            ids.sort();
            let mut sorted_before = before.clone();
            sorted_before.sort();
            let member_of: Vec<&GroupRecord> = groups.iter().filter(|r| ids.contains(&r.id)).collect();
            let Some(doc) = store::kept_doc(g) else { continue };
            let name = g.metadata.name.clone().unwrap_or_default();
            let spec = self.checked_spec(c, &view, all, &doc, &member_of, Some(g), &name)?;
            if ids == sorted_before && spec == g.spec {
                continue;
            }
            let mut next = (**g).clone();
            next.spec = spec;
            next.status = None;
            let ann = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
            ann.insert(store::GROUPS.into(), ids.join(","));
            ann.insert(store::VERSION.into(), (store::version(g) + 1).to_string());
            ann.insert(store::MODIFIED.into(), now());
            writes.push((next, wanted != before.iter().any(|x| x == group)));
        }
        let text = serde_json::to_string(groups).unwrap_or_default();
        self.backend.set_groups(&c.integration, text).await.map_err(backend_error)?;
        let display = groups.iter().find(|r| r.id == group).map_or("(deleted)", |r| r.display_name.as_str());
        for (next, moved) in writes {
            self.backend.replace(next.clone()).await.map_err(backend_error)?;
            let joined = store::group_ids(&next).iter().any(|x| x == group);
            let what = match (moved, joined) {
                (true, true) => format!("joined SCIM Group {display:?}"),
                (true, false) => format!("left SCIM Group {display:?}"),
                _ => "access recomputed from the group mapping".to_string(),
            };
            let note = format!("{what} (Integration {}): roles {:?}, features {:?}", c.name(), next.spec.roles, next.spec.features);
            self.backend.event(EventOn::Grant(&next), false, "ScimGroupsChanged", note).await;
        }
        Ok(())
    }

    fn find_group(&self, c: &Caller, groups: &[GroupRecord], id: &str) -> Result<usize, ScimError> {
        groups
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| ScimError::not_found(format!("no Group {id:?} in Integration {}", c.name())))
    }

    pub async fn replace_group(&self, c: &Caller, id: &str, body: &Value, if_match: Option<&str>, base: &str) -> Result<Versioned, ScimError> {
        self.writable()?;
        let (display_name, external_id) = Self::group_fields(body)?;
        let _w = self.lock(c).await;
        let mut groups = self.groups(c)?;
        let at = self.find_group(c, &groups, id)?;
        check_etag(if_match, groups[at].version)?;
        if groups.iter().any(|g| g.id != id && g.display_name.eq_ignore_ascii_case(&display_name)) {
            return Err(ScimError::uniqueness(format!("a Group named {display_name:?} exists already")));
        }
        let (all, owned) = self.owned(c);
        let members = Self::members_of(body, &owned, c)?;
        let r = &mut groups[at];
        r.display_name = display_name;
        if external_id.is_some() {
            r.external_id = external_id;
        }
        r.version += 1;
        r.last_modified = now();
        let record = r.clone();
        self.apply_groups(c, &all, &owned, &groups, id, &members).await?;
        Ok(Self::render_group(&record, base, Some(&members)))
    }

    pub async fn patch_group(&self, c: &Caller, id: &str, ops: &[Operation], if_match: Option<&str>, base: &str) -> Result<Versioned, ScimError> {
        self.writable()?;
        let _w = self.lock(c).await;
        let mut groups = self.groups(c)?;
        let at = self.find_group(c, &groups, id)?;
        check_etag(if_match, groups[at].version)?;
        let (all, owned) = self.owned(c);
        let before: Vec<String> = Self::memberships(&owned).remove(id).unwrap_or_default();
        let mut doc = Self::render_group(&groups[at], base, Some(&before)).body;
        patch::apply(ResourceKind::Group, &mut doc, ops)?;
        let (display_name, external_id) = Self::group_fields(&doc)?;
        if groups.iter().any(|g| g.id != id && g.display_name.eq_ignore_ascii_case(&display_name)) {
            return Err(ScimError::uniqueness(format!("a Group named {display_name:?} exists already")));
        }
        let members = Self::members_of(&doc, &owned, c)?;
        let r = &mut groups[at];
        let changed = r.display_name != display_name || r.external_id != external_id || {
            let (mut a, mut b) = (before.clone(), members.clone());
            a.sort();
            b.sort();
            a != b
        };
        if changed {
            r.display_name = display_name;
            r.external_id = external_id;
            r.version += 1;
            r.last_modified = now();
            let record = r.clone();
            self.apply_groups(c, &all, &owned, &groups, id, &members).await?;
            return Ok(Self::render_group(&record, base, Some(&members)));
        }
        Ok(Self::render_group(&groups[at], base, Some(&members)))
    }

    pub async fn delete_group(&self, c: &Caller, id: &str, if_match: Option<&str>) -> Result<(), ScimError> {
        self.writable()?;
        let _w = self.lock(c).await;
        let mut groups = self.groups(c)?;
        let at = self.find_group(c, &groups, id)?;
        check_etag(if_match, groups[at].version)?;
        groups.remove(at);
        let (all, owned) = self.owned(c);
        self.apply_groups(c, &all, &owned, &groups, id, &[]).await
    }
}

fn owner(c: &Caller) -> OwnerReference {
    OwnerReference {
        api_version: crate::api::API_VERSION.into(),
        kind: "Integration".into(),
        name: c.name().to_string(),
        uid: c.integration.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// `If-Match: W/"3"` (or `*`) against the resource's version; 412 when it moved on.
fn check_etag(if_match: Option<&str>, version: u64) -> Result<(), ScimError> {
    let Some(h) = if_match.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let want = format!("\"{version}\"");
    let ok = h == "*" || h.split(',').any(|t| t.trim().trim_start_matches("W/") == want);
    if ok {
        Ok(())
    } else {
        Err(ScimError::precondition(format!("the resource is at version W/{want}, not {h}; read it again")))
    }
}

fn excluded(q: &Query, attr: &str) -> bool {
    q.excluded.iter().any(|e| e.eq_ignore_ascii_case(attr))
        || (!q.attributes.is_empty() && !q.attributes.iter().any(|a| a.split('.').next().is_some_and(|x| x.eq_ignore_ascii_case(attr))))
}

/// `attributes` keeps only the named ones (and schemas, id, meta); `excludedAttributes`
/// leaves the named ones out.
pub fn project(kind: ResourceKind, mut v: Value, q: &Query) -> Value {
    let Value::Object(m) = &mut v else { return v };
    let split = |p: &str| -> (Option<String>, String, Option<String>) {
        match super::filter::AttrPath::parse(p) {
            Ok(a) => {
                let urn = a.urn.filter(|u| !schema::is_core(u));
                (urn, a.attr, a.sub)
            }
            Err(_) => (None, p.to_string(), None),
        }
    };
    if !q.attributes.is_empty() {
        let mut keep = serde_json::Map::new();
        for k in ["schemas", "id", "meta"] {
            if let Some(x) = m.get(k) {
                keep.insert(k.to_string(), x.clone());
            }
        }
        for a in &q.attributes {
            let (urn, attr, sub) = split(a);
            let Some((key, val)) = (match &urn {
                Some(u) => m.iter().find(|(k, _)| k.eq_ignore_ascii_case(u)),
                None => m.iter().find(|(k, _)| k.eq_ignore_ascii_case(&attr)),
            }) else {
                continue;
            };
            let picked = match (&urn, &sub) {
                (Some(_), _) if attr.is_empty() => val.clone(),
                (Some(_), _) => match super::filter::get_ci(val, &attr) {
                    Some(x) => json!({ attr: x }),
                    None => continue,
                },
                (None, Some(s)) => match val {
                    Value::Object(_) => super::filter::get_ci(val, s).map(|x| json!({ s: x })).unwrap_or(json!({})),
                    Value::Array(items) => Value::Array(items.iter().filter_map(|i| super::filter::get_ci(i, s).map(|x| json!({ s: x }))).collect()),
                    other => other.clone(),
                },
                (None, None) => val.clone(),
            };
            match (keep.get_mut(key), picked) {
                (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
                (_, p) => {
                    keep.insert(key.clone(), p);
                }
            }
        }
        *m = keep;
    }
    for e in &q.excluded {
        let (urn, attr, sub) = split(e);
        if ["id", "schemas", "meta"].iter().any(|k| k.eq_ignore_ascii_case(&attr)) && urn.is_none() {
            continue;
        }
        match urn {
            Some(u) => {
                if let Some((_, Value::Object(x))) = m.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&u)) {
                    x.retain(|k, _| !k.eq_ignore_ascii_case(&attr));
                }
            }
            None if sub.is_some() => {}
            None => m.retain(|k, _| !k.eq_ignore_ascii_case(&attr)),
        }
    }
    let _ = kind;
    v
}

/// A resource name for a new grant from the userName's local part, unique in the namespace.
fn unique_name(user_name: &str, all: &[Arc<UserGrant>]) -> String {
    let local = user_name.split('@').next().unwrap_or(user_name).replace(['.', '_', '+'], " ");
    let mut base = crate::engine::tree::slug(&local);
    base.truncate(50);
    let base = base.trim_matches('-').to_string();
    let base = if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        format!("scim-{base}").trim_matches('-').to_string()
    } else {
        base
    };
    let taken: BTreeSet<&str> = all.iter().filter_map(|g| g.metadata.name.as_deref()).collect();
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(name.as_str()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_identity_numbers() {
        assert!(check_etag(None, 3).is_ok());
        assert!(check_etag(Some("W/\"3\""), 3).is_ok());
        assert!(check_etag(Some("*"), 3).is_ok());
        assert_eq!(check_etag(Some("W/\"2\""), 3).unwrap_err().status, 412);
        let e = no_national_ids(&json!({"userName": "131052-308T"}), "").unwrap_err();
        assert!(e.detail.starts_with("userName looks like a national identity number"));
        assert!(!e.body().to_string().contains("131052"));
        assert!(no_national_ids(&json!({"phoneNumbers": [{"value": "0101701234"}]}), "").is_ok());
    }

    #[test]
    fn projection_keeps_and_leaves_out() {
        let v = json!({"schemas": [], "id": "1", "displayName": "G", "members": [{"value": "a"}], "meta": {}});
        let q = Query { excluded: vec!["members".into()], ..Default::default() };
        assert!(project(ResourceKind::Group, v.clone(), &q).get("members").is_none());
        let q = Query { attributes: vec!["displayName".into()], ..Default::default() };
        let p = project(ResourceKind::Group, v, &q);
        assert!(p.get("members").is_none() && p["displayName"] == "G" && p["id"] == "1");
    }
}
