//! The `ldap` target: a directory (OpenLDAP, 389-ds, AD LDS …) reached with ldap3.
//!
//! Ownership: every entry accord creates carries `seeAlso: cn=accord,ou=TENANT,ou=NAMESPACE`
//! (a standard attribute of persons, units and groups, so no schema change is needed).
//! `observe` reads only entries with that marker; accord never changes or deletes anything
//! else, and takes over an existing entry with the same DN only with `ldap.adopt: true`.

pub mod dn;
mod tls;

use std::collections::{BTreeMap, HashMap, HashSet};
use futures::future::BoxFuture;

use crate::api::SyncLimits;
use crate::api::IntegrationKind;
use crate::engine::build::directory::{build_directory, check_attribute_source};
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::TargetKind;
use crate::engine::state::TargetRole;
use crate::validate::redact::Quoted;

use super::{ApplyOptions, Connector, ConnectorKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry};

use crate::api::{Integration, LdapLayout, LdapSettings};
use crate::engine::Snapshot;
use crate::engine::plan::{Op, TargetPlan};
use crate::engine::state::{
    AttrName, DISABLED_PARENT, MEMBER_ATTR, Object, ObjectKey, ObjectKind, ObservedState,
};

use super::{ApplyReport, Pacer, TargetError};
use dn::{Dn, escape_filter};

const PAGE_SIZE: i32 = 500;
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Person attributes accord always manages; an Integration's `ldap.attributes` adds more.
const PERSON_ATTRS: &[&str] = &[
    "objectClass",
    "uid",
    "cn",
    "givenName",
    "sn",
    "displayName",
    "mail",
    "telephoneNumber",
    "employeeNumber",
    "title",
    "ou",
    "street",
    "postalCode",
    "l",
];
const UNIT_ATTRS: &[&str] = &["objectClass", "ou", "description"];
const GROUP_ATTRS: &[&str] = &["objectClass", "cn", "description", "member"];
const PERSON_CLASSES: &[&str] = &["inetOrgPerson", "organizationalPerson", "person", "top"];
const UNIT_CLASSES: &[&str] = &["organizationalUnit", "top"];
const GROUP_CLASSES: &[&str] = &["groupOfNames", "top"];

/// `spec.sync` when it says nothing. A directory on the customer's own network takes many writes at once.
pub const LIMITS: SyncLimits = SyncLimits {
    max_concurrency: 8,
    requests_per_second: 5000,
};

/// Where things live in the directory.
#[derive(Clone, Debug)]
struct Layout {
    base: Dn,
    people: Dn,
    groups: Dn,
    disabled: Dn,
    tree: bool,
}

pub struct LdapTarget {
    url: String,
    bind: Option<(String, String)>,
    tls: tls::TlsOptions,
    layout: Layout,
    marker: String,
    /// Managed attribute names per kind, as accord spells them; matched case-insensitively.
    managed: BTreeMap<ObjectKind, Vec<String>>,
    /// Object classes accord sets per kind; others (added by hand) are not accord's business.
    classes: BTreeMap<ObjectKind, Vec<String>>,
    adopt: bool,
    pacer: Pacer,
    max_concurrency: usize,
}

impl LdapTarget {
    pub fn new(integration: &Integration, snapshot: &Snapshot) -> Result<Self, TargetError> {
        let spec = &integration.spec;
        let limits = spec.sync.limits(LIMITS);
        let settings: &LdapSettings = spec
            .ldap
            .as_ref()
            .ok_or_else(|| TargetError::config("spec.ldap is missing"))?;
        let ns = super::namespace_of(integration);
        let url = super::endpoint_of(integration)?.to_string();
        let bind = match &spec.credentials_ref {
            None => None,
            Some(r) => {
                let key =
                    |k| super::secret_value_of(snapshot, ns, &r.secret_name, k, "credentials");
                Some((key("bindDN")?.to_string(), key("password")?.to_string()))
            }
        };
        let tls = tls::TlsOptions::from_spec(spec.tls.as_ref(), snapshot, ns)?;
        let parse = |field: &str, v: &str| {
            Dn::parse(v).map_err(|e| TargetError::config(format!("spec.ldap.{field}: {e}")))
        };
        let base = parse("baseDN", &settings.base_dn)?;
        let under_base =
            |name: &str, explicit: &Option<String>, field: &str| -> Result<Dn, TargetError> {
                match explicit {
                    Some(v) => parse(field, v),
                    None => Ok(base.child("ou", name)),
                }
            };
        let layout = Layout {
            people: under_base("people", &settings.people_dn, "peopleDN")?,
            groups: under_base("groups", &settings.groups_dn, "groupsDN")?,
            disabled: under_base("disabled", &settings.disabled_dn, "disabledDN")?,
            base,
            tree: settings.layout == LdapLayout::Tree,
        };
        let tenant = &spec.tenant;
        let mut person: Vec<String> = PERSON_ATTRS.iter().map(|s| s.to_string()).collect();
        person.extend(settings.attributes.keys().cloned());
        let managed = BTreeMap::from([
            (ObjectKind::Person, person),
            (
                ObjectKind::Unit,
                UNIT_ATTRS.iter().map(|s| s.to_string()).collect(),
            ),
            (
                ObjectKind::Group,
                GROUP_ATTRS.iter().map(|s| s.to_string()).collect(),
            ),
        ]);
        let mut person_classes: Vec<String> =
            PERSON_CLASSES.iter().map(|s| s.to_string()).collect();
        person_classes.extend(settings.person_object_classes.iter().cloned());
        let classes = BTreeMap::from([
            (ObjectKind::Person, person_classes),
            (
                ObjectKind::Unit,
                UNIT_CLASSES.iter().map(|s| s.to_string()).collect(),
            ),
            (
                ObjectKind::Group,
                GROUP_CLASSES.iter().map(|s| s.to_string()).collect(),
            ),
        ]);
        Ok(Self {
            url,
            bind,
            tls,
            layout,
            marker: format!(
                "cn=accord,ou={},ou={}",
                dn::escape_value(tenant),
                dn::escape_value(ns)
            ),
            managed,
            classes,
            adopt: settings.adopt,
            pacer: Pacer::new(limits.requests_per_second),
            max_concurrency: limits.max_concurrency as usize,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn connect(&self) -> Result<Ldap, TargetError> {
        let settings = self
            .tls
            .apply(LdapConnSettings::new().set_conn_timeout(Duration::from_secs(5)))?;
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| {
                TargetError::unreachable(format!(
                    "cannot connect to {}: {}",
                    self.url,
                    describe(&e)
                ))
            })?;
        ldap3::drive!(conn);
        if let Some((dn, pw)) = &self.bind {
            let r = ldap
                .with_timeout(OP_TIMEOUT)
                .simple_bind(dn, pw)
                .await
                .map_err(|e| {
                    TargetError::unreachable(format!(
                        "bind to {} failed: {}",
                        self.url,
                        describe(&e)
                    ))
                })?;
            if r.rc != 0 {
                return Err(TargetError::auth(format!(
                    "bind as {dn} to {} was refused: {}",
                    self.url,
                    rc_text(r.rc, &r.text)
                )));
            }
        }
        Ok(ldap)
    }

    /// Reads every entry accord owns, page by page.
    pub async fn observe(&self) -> Result<ObservedState, TargetError> {
        let mut ldap = self.connect().await?;
        let filter = format!("(seeAlso={})", escape_filter(&self.marker));
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = ldap
            .streaming_search_with(
                adapters,
                &self.layout.base.to_string(),
                Scope::Subtree,
                &filter,
                vec!["*"],
            )
            .await
            .map_err(|e| {
                TargetError::unreachable(format!(
                    "search in {} failed: {}",
                    self.layout.base,
                    describe(&e)
                ))
            })?;
        let mut objects = Vec::new();
        while let Some(entry) = stream.next().await.map_err(|e| {
            TargetError::unreachable(format!(
                "search in {} failed: {}",
                self.layout.base,
                describe(&e)
            ))
        })? {
            let entry = SearchEntry::construct(entry);
            if let Some(o) = self.to_object(entry) {
                objects.push(o);
            }
        }
        let res = stream.finish().await;
        if res.rc != 0 && res.rc != 32 {
            return Err(TargetError::unreachable(format!(
                "search in {} failed: {}",
                self.layout.base,
                rc_text(res.rc, &res.text)
            )));
        }
        let _ = ldap.unbind().await;
        Ok(ObservedState::from_objects(objects))
    }

    /// An owned entry as the engine sees it; None for entries of no kind accord manages.
    fn to_object(&self, entry: SearchEntry) -> Option<Object> {
        let dn = Dn::parse(&entry.dn).ok()?;
        let classes: Vec<String> = entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("objectClass"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let has = |c: &str| classes.iter().any(|x| x.eq_ignore_ascii_case(c));
        let kind = if has("groupOfNames") {
            ObjectKind::Group
        } else if has("inetOrgPerson") {
            ObjectKind::Person
        } else if has("organizationalUnit") {
            ObjectKind::Unit
        } else {
            return None;
        };
        let id = dn.rdn()?.value.clone();
        let mut o = Object::new(kind, id);
        o.locator = Some(dn.to_string());
        if kind != ObjectKind::Group {
            let parent = dn.parent();
            if parent.same(&self.layout.disabled) {
                o.parent = Some(DISABLED_PARENT.to_string());
            } else if !parent.same(&self.layout.people) && dn.is_under(&self.layout.people) {
                o.parent = parent.rdn().map(|r| r.value.clone());
            }
            o.depth = dn.0.len().saturating_sub(self.layout.people.0.len() + 1) as u32;
        }
        let managed = &self.managed[&kind];
        let known_classes = &self.classes[&kind];
        for (name, values) in entry.attrs {
            let Some(canonical) = managed.iter().find(|m| m.eq_ignore_ascii_case(&name)) else {
                continue;
            };
            let values: Vec<String> = if canonical == "objectClass" {
                // Classes added by hand are not accord's; it only sees the ones it sets.
                values
                    .into_iter()
                    .filter_map(|v| {
                        known_classes
                            .iter()
                            .find(|k| k.eq_ignore_ascii_case(&v))
                            .cloned()
                    })
                    .collect()
            } else if canonical == MEMBER_ATTR {
                values
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| self.member_id(&v))
                    .collect()
            } else {
                values
            };
            o.set_many(AttrName::Owned(canonical.clone()), values);
        }
        Some(o)
    }

    /// A member DN as a person id when it is one of accord's people; else the DN itself, so
    /// that a member added by hand shows as drift.
    fn member_id(&self, member: &str) -> String {
        match Dn::parse(member) {
            Ok(dn)
                if dn.rdn().is_some_and(|r| r.attr.eq_ignore_ascii_case("uid"))
                    && (dn.is_under(&self.layout.people) || dn.is_under(&self.layout.disabled)) =>
            {
                dn.rdn().map(|r| r.value.clone()).unwrap_or_default()
            }
            _ => member.to_string(),
        }
    }

    /// Carries out a plan's operations: parents before children, deletions last, each wave of
    /// independent operations with bounded concurrency. Safe to rerun after a crash at any
    /// point: existing owned entries are updated instead of added, missing ones not deleted.
    pub async fn apply(&self, plan: &TargetPlan, observed: &ObservedState) -> ApplyReport {
        let mut report = ApplyReport::new(&plan.integration);
        let ldap = match self.connect().await {
            Ok(l) => l,
            Err(e) => {
                report.abort(e.to_string(), plan.ops.len());
                return report;
            }
        };
        let index: HashMap<ObjectKey, Dn> = observed
            .objects
            .values()
            .filter_map(|o| Some((o.key.clone(), Dn::parse(o.locator.as_deref()?).ok()?)))
            .collect();
        let state = Arc::new(Mutex::new(ApplyState { index }));
        let needs_disabled = plan.ops.iter().any(|op| match op {
            Op::Create { object } => object.parent.as_deref() == Some(DISABLED_PARENT),
            Op::Update {
                moved_to: Some(Some(p)),
                ..
            } => p == DISABLED_PARENT,
            _ => false,
        });
        let mut containers = vec![self.layout.people.clone(), self.layout.groups.clone()];
        if needs_disabled {
            containers.push(self.layout.disabled.clone());
        }
        if !plan.ops.is_empty() {
            for c in containers {
                if let Err(e) = self.ensure_container(&mut ldap.clone(), &c).await {
                    report.abort(e.to_string(), plan.ops.len());
                    return report;
                }
            }
        }

        super::run_waves(plan, self.max_concurrency, &mut report, |n| {
            let mut ldap = ldap.clone();
            let state = state.clone();
            let op = &plan.ops[n];
            async move { self.apply_op(&mut ldap, op, &state).await }
        })
        .await;
        report
    }

    async fn ensure_container(&self, ldap: &mut Ldap, dn: &Dn) -> Result<(), TargetError> {
        self.pacer.wait().await;
        let r = ldap
            .with_timeout(OP_TIMEOUT)
            .search(&dn.to_string(), Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| io_error(&self.url, &e))?;
        if r.1.rc == 0 {
            return Ok(());
        }
        let rdn = dn
            .rdn()
            .ok_or_else(|| TargetError::config("an empty container DN"))?;
        let attrs = vec![
            (
                "objectClass".to_string(),
                HashSet::from(["organizationalUnit".to_string(), "top".to_string()]),
            ),
            (rdn.attr.clone(), HashSet::from([rdn.value.clone()])),
        ];
        let r = ldap
            .with_timeout(OP_TIMEOUT)
            .add(&dn.to_string(), attrs)
            .await
            .map_err(|e| io_error(&self.url, &e))?;
        match r.rc {
            0 | 68 => Ok(()),
            rc => Err(TargetError::rejected(format!(
                "cannot create container {dn}: {}",
                rc_text(rc, &r.text)
            ))),
        }
    }

    fn parent_dn(
        &self,
        kind: ObjectKind,
        parent: Option<&str>,
        index: &HashMap<ObjectKey, Dn>,
    ) -> Result<Dn, TargetError> {
        match (kind, parent) {
            (ObjectKind::Group, _) => Ok(self.layout.groups.clone()),
            (_, Some(DISABLED_PARENT)) => Ok(self.layout.disabled.clone()),
            (_, Some(unit)) if self.layout.tree => index
                .get(&ObjectKey::new(ObjectKind::Unit, unit))
                .cloned()
                .ok_or_else(|| {
                    TargetError::rejected(format!("its unit {unit} is not in the directory"))
                }),
            _ => Ok(self.layout.people.clone()),
        }
    }

    fn rdn_attr(kind: ObjectKind) -> &'static str {
        match kind {
            ObjectKind::Unit => "ou",
            ObjectKind::Person => "uid",
            _ => "cn",
        }
    }

    /// The values to write for an attribute: group members become DNs; an empty group keeps
    /// the empty DN as placeholder, since groupOfNames must have a member.
    fn ldap_values(
        &self,
        kind: ObjectKind,
        attr: &str,
        values: &[String],
        index: &HashMap<ObjectKey, Dn>,
    ) -> HashSet<String> {
        if kind == ObjectKind::Group && attr == MEMBER_ATTR {
            let dns: HashSet<String> = values
                .iter()
                .map(
                    |v| match index.get(&ObjectKey::new(ObjectKind::Person, v.as_str())) {
                        Some(dn) => dn.to_string(),
                        None if Dn::parse(v).is_ok_and(|d| d.0.len() > 1) => v.clone(), // a DN kept as it is
                        None => self.layout.people.child("uid", v).to_string(),
                    },
                )
                .collect();
            return if dns.is_empty() {
                HashSet::from([String::new()])
            } else {
                dns
            };
        }
        values.iter().cloned().collect()
    }

    async fn apply_op(
        &self,
        ldap: &mut Ldap,
        op: &Op,
        state: &Mutex<ApplyState>,
    ) -> Result<usize, TargetError> {
        match op {
            Op::Create { object } => self.create(ldap, object, state).await,
            Op::Update {
                key,
                locator,
                moved_to,
                changes,
                ..
            } => {
                let mut writes = 0;
                let mut dn = match locator {
                    Some(l) => Dn::parse(l).map_err(TargetError::rejected)?,
                    None => state
                        .lock()
                        .expect("apply state")
                        .index
                        .get(key)
                        .cloned()
                        .ok_or_else(|| TargetError::rejected("not found in the directory"))?,
                };
                if let Some(to) = moved_to {
                    let new_parent = self.parent_dn(
                        key.kind,
                        to.as_deref(),
                        &state.lock().expect("apply state").index,
                    )?;
                    let rdn = dn
                        .rdn()
                        .cloned()
                        .ok_or_else(|| TargetError::rejected("an empty DN"))?;
                    let rdn_text = format!("{}={}", rdn.attr, dn::escape_value(&rdn.value));
                    self.pacer.wait().await;
                    let r = ldap
                        .with_timeout(OP_TIMEOUT)
                        .modifydn(
                            &dn.to_string(),
                            &rdn_text,
                            true,
                            Some(&new_parent.to_string()),
                        )
                        .await
                        .map_err(|e| io_error(&self.url, &e))?;
                    let new_dn = new_parent.child(&rdn.attr, &rdn.value);
                    match r.rc {
                        0 => writes += 1,
                        32 if self.exists(ldap, &new_dn).await? => {} // moved before a crash
                        rc => {
                            return Err(TargetError::rejected(format!(
                                "cannot move {dn} under {new_parent}: {}",
                                rc_text(rc, &r.text)
                            )));
                        }
                    }
                    state.lock().expect("apply state").moved(&dn, &new_dn);
                    dn = new_dn;
                }
                if !changes.is_empty() {
                    let mods: Vec<Mod<String>> = {
                        let s = state.lock().expect("apply state");
                        changes
                            .iter()
                            .map(|c| {
                                Mod::Replace(
                                    c.attr.clone(),
                                    self.ldap_values(key.kind, &c.attr, &c.desired, &s.index),
                                )
                            })
                            .collect()
                    };
                    self.pacer.wait().await;
                    let r = ldap
                        .with_timeout(OP_TIMEOUT)
                        .modify(&dn.to_string(), mods)
                        .await
                        .map_err(|e| io_error(&self.url, &e))?;
                    if r.rc != 0 {
                        return Err(TargetError::rejected(format!(
                            "cannot modify {dn}: {}",
                            rc_text(r.rc, &r.text)
                        )));
                    }
                    writes += 1;
                }
                Ok(writes)
            }
            Op::Delete { key, locator, .. } => {
                let Some(dn) = locator.clone().or_else(|| {
                    state
                        .lock()
                        .expect("apply state")
                        .index
                        .get(key)
                        .map(|d| d.to_string())
                }) else {
                    return Ok(0);
                };
                self.pacer.wait().await;
                let r = ldap
                    .with_timeout(OP_TIMEOUT)
                    .delete(&dn)
                    .await
                    .map_err(|e| io_error(&self.url, &e))?;
                match r.rc {
                    0 => Ok(1),
                    32 => Ok(0), // already gone
                    66 => Err(TargetError::rejected(format!(
                        "cannot delete {dn}: it has entries under it that accord does not own"
                    ))),
                    rc => Err(TargetError::rejected(format!(
                        "cannot delete {dn}: {}",
                        rc_text(rc, &r.text)
                    ))),
                }
            }
        }
    }

    async fn create(
        &self,
        ldap: &mut Ldap,
        object: &Object,
        state: &Mutex<ApplyState>,
    ) -> Result<usize, TargetError> {
        let key = &object.key;
        let (dn, mut attrs) = {
            let s = state.lock().expect("apply state");
            let parent = self.parent_dn(key.kind, object.parent.as_deref(), &s.index)?;
            let dn = parent.child(Self::rdn_attr(key.kind), &key.id);
            let attrs: Vec<(String, HashSet<String>)> = object
                .attrs
                .iter()
                .map(|(k, v)| (k.to_string(), self.ldap_values(key.kind, k, v, &s.index)))
                .collect();
            (dn, attrs)
        };
        if key.kind == ObjectKind::Group && !object.attrs.contains_key(MEMBER_ATTR) {
            attrs.push((MEMBER_ATTR.to_string(), HashSet::from([String::new()])));
        }
        attrs.push(("seeAlso".to_string(), HashSet::from([self.marker.clone()])));
        self.pacer.wait().await;
        let r = ldap
            .with_timeout(OP_TIMEOUT)
            .add(&dn.to_string(), attrs.clone())
            .await
            .map_err(|e| io_error(&self.url, &e))?;
        let writes = match r.rc {
            0 => 1,
            68 => {
                // Already there: ours from an earlier, interrupted run, or someone else's.
                let owned = self.is_owned(ldap, &dn).await?;
                if !owned && !self.adopt {
                    return Err(TargetError::rejected(format!(
                        "{dn} already exists and accord does not own it; set ldap.adopt: true on the Integration to take it over"
                    )));
                }
                let mut mods: Vec<Mod<String>> = attrs
                    .into_iter()
                    .filter(|(k, _)| k != "seeAlso")
                    .map(|(k, v)| Mod::Replace(k, v))
                    .collect();
                if !owned {
                    mods.push(Mod::Add(
                        "seeAlso".to_string(),
                        HashSet::from([self.marker.clone()]),
                    ));
                }
                self.pacer.wait().await;
                let r = ldap
                    .with_timeout(OP_TIMEOUT)
                    .modify(&dn.to_string(), mods)
                    .await
                    .map_err(|e| io_error(&self.url, &e))?;
                if r.rc != 0 {
                    return Err(TargetError::rejected(format!(
                        "cannot update existing {dn}: {}",
                        rc_text(r.rc, &r.text)
                    )));
                }
                1
            }
            rc => {
                return Err(TargetError::rejected(format!(
                    "cannot add {dn}: {}",
                    rc_text(rc, &r.text)
                )));
            }
        };
        state
            .lock()
            .expect("apply state")
            .index
            .insert(key.clone(), dn);
        Ok(writes)
    }

    async fn exists(&self, ldap: &mut Ldap, dn: &Dn) -> Result<bool, TargetError> {
        let r = ldap
            .with_timeout(OP_TIMEOUT)
            .search(&dn.to_string(), Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| io_error(&self.url, &e))?;
        Ok(r.1.rc == 0 && !r.0.is_empty())
    }

    async fn is_owned(&self, ldap: &mut Ldap, dn: &Dn) -> Result<bool, TargetError> {
        let filter = format!("(seeAlso={})", escape_filter(&self.marker));
        let r = ldap
            .with_timeout(OP_TIMEOUT)
            .search(&dn.to_string(), Scope::Base, &filter, vec!["1.1"])
            .await
            .map_err(|e| io_error(&self.url, &e))?;
        Ok(r.1.rc == 0 && !r.0.is_empty())
    }
}

struct ApplyState {
    index: HashMap<ObjectKey, Dn>,
}

impl ApplyState {
    /// A moved entry takes everything under it along: keep the index true.
    fn moved(&mut self, from: &Dn, to: &Dn) {
        let from_len = from.0.len();
        for dn in self.index.values_mut() {
            if dn.same(from) || dn.is_under(from) {
                let keep = dn.0.len() - from_len;
                let mut rdns: Vec<_> = dn.0[..keep].to_vec();
                rdns.extend(to.0.iter().cloned());
                *dn = Dn(rdns);
            }
        }
    }
}

fn describe(e: &LdapError) -> String {
    match e {
        LdapError::Io { source } => source.to_string(),
        other => other.to_string(),
    }
}

fn io_error(url: &str, e: &LdapError) -> TargetError {
    TargetError::unreachable(format!("lost the connection to {url}: {}", describe(e)))
}

/// An LDAP result code with its RFC 4511 name.
fn rc_text(rc: u32, text: &str) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        _ => "error",
    };
    if text.is_empty() {
        format!("{name} ({rc})")
    } else {
        format!("{name} ({rc}): {text}")
    }
}

/// The `ldap` kind: a tenant's user directory.
pub struct LdapKind;
pub static LDAP: LdapKind = LdapKind;

impl TargetKind for LdapKind {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Ldap
    }
    fn serves(&self) -> &'static [TargetRole] {
        &[TargetRole::Directory]
    }
    fn schemes(&self) -> &'static [&'static str] {
        &["ldap", "ldaps"]
    }
    fn check(&self, integration: &Integration) -> Vec<(String, String)> {
        let Some(l) = &integration.spec.ldap else {
            return vec![("spec.ldap".into(), "an ldap integration needs ldap.baseDN".into())];
        };
        let mut out = Vec::new();
        if l.base_dn.trim().is_empty() || !l.base_dn.contains('=') {
            out.push((
                "spec.ldap.baseDN".into(),
                format!("{} is not a DN", Quoted(&l.base_dn)),
            ));
        }
        for (attr, source) in &l.attributes {
            if let Err(e) = check_attribute_source(source) {
                out.push((format!("spec.ldap.attributes.{attr}"), e.into()));
            }
        }
        out
    }
    fn build(
        &self,
        ctx: &TenantContext,
        grants: &[ResolvedGrant],
        integration: &Integration,
    ) -> Vec<Object> {
        match &integration.spec.ldap {
            Some(settings) => build_directory(ctx, grants, settings),
            None => Vec::new(), // refused by `check`
        }
    }
}

impl ConnectorKind for LdapKind {
    fn connect(
        &self,
        integration: &Integration,
        snapshot: &Snapshot,
    ) -> Result<Box<dyn Connector>, TargetError> {
        Ok(Box::new(LdapTarget::new(integration, snapshot)?))
    }
}

impl Connector for LdapTarget {
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>> {
        Box::pin(LdapTarget::observe(self))
    }
    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        _options: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport> {
        Box::pin(LdapTarget::apply(self, plan, observed))
    }
}
