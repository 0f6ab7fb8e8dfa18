//! Plans: what would change in each target, how it is shown to people (text) and machines
//! (JSON), and how it maps onto an observed state.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::api::{IntegrationKind, ManagementMode};

use super::compile::TenantView;
use super::problem::{ObjectRef, Problem, Violation};
use super::state::{Object, ObjectKey, ObjectKind, ObservedState, TargetRole, show_values};
use crate::validate::redact::shown;

/// What a target's plan was computed against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Baseline {
    /// The target's current content, read just now.
    Live,
    /// Nothing: an empty target was assumed, for the reason given (`category` labels it:
    /// `offline`, `unreachable`, `auth`, `config` …).
    Empty { category: String, reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub attr: String,
    pub desired: Vec<String>,
    pub actual: Vec<String>,
    pub sensitive: bool,
}

impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Change", 3)?;
        st.serialize_field("field", &self.attr)?;
        st.serialize_field("desired", &show_values(self.sensitive, &self.desired))?;
        st.serialize_field("actual", &show_values(self.sensitive, &self.actual))?;
        st.end()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    Create {
        object: Object,
    },
    #[serde(rename_all = "camelCase")]
    Update {
        key: ObjectKey,
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<ObjectRef>,
        #[serde(skip)]
        depth: u32,
        /// Where the target holds it now, and its version there.
        #[serde(skip)]
        locator: Option<String>,
        #[serde(skip)]
        version: Option<String>,
        /// Set with `moved_to` when the object changes place (LDAP modrdn).
        #[serde(skip_serializing_if = "Option::is_none")]
        moved_from: Option<Option<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        moved_to: Option<Option<String>>,
        changes: Vec<Change>,
    },
    Delete {
        key: ObjectKey,
        #[serde(skip)]
        depth: u32,
        #[serde(skip)]
        locator: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<ObjectRef>,
    },
}

impl Op {
    pub fn key(&self) -> &ObjectKey {
        match self {
            Op::Create { object } => &object.key,
            Op::Update { key, .. } | Op::Delete { key, .. } => key,
        }
    }

    pub fn source(&self) -> Option<&ObjectRef> {
        match self {
            Op::Create { object } => object.source.as_ref(),
            Op::Update { source, .. } | Op::Delete { source, .. } => source.as_ref(),
        }
    }

    /// Creates and updates parent-first (units by depth, then people, then groups); deletes
    /// child-first, after everything else.
    pub fn order_key(&self) -> (u8, i64, i64, &str) {
        let key = self.key();
        let kind = key.kind as i64;
        match self {
            Op::Create { object } => (0, kind, object.depth as i64, &key.id),
            Op::Update { depth, .. } => (0, kind, *depth as i64, &key.id),
            Op::Delete { depth, .. } => (1, -kind, -(*depth as i64), &key.id),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetPlan {
    pub integration: ObjectRef,
    pub tenant: String,
    pub kind: IntegrationKind,
    pub role: TargetRole,
    pub management: ManagementMode,
    pub baseline: Baseline,
    /// In `Enforce` mode these are carried out; in `Observe` mode only reported.
    pub ops: Vec<Op>,
    /// Deletions held by the tenant's deletion threshold.
    pub held: Vec<Op>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_reason: Option<String>,
    /// Deletions, disables, moves and removals held because some input that may have
    /// declared them could not be fully read (`unread` says which). Fixing the input
    /// releases them; a confirmation does not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_unread: Vec<Op>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
    /// What of the tenant's policy this kind cannot express.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<super::kinds::Gap>,
    pub unchanged: usize,
    /// Objects left alone because their input has errors.
    pub frozen: usize,
    #[serde(skip)]
    pub person_deletions: usize,
    /// The deletions were over the threshold and went ahead because they were confirmed.
    #[serde(skip)]
    pub released_by_confirmation: bool,
}

impl TargetPlan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for op in &self.ops {
            match op {
                Op::Create { .. } => c.create += 1,
                Op::Update { .. } => c.update += 1,
                Op::Delete { .. } => c.delete += 1,
            }
        }
        c.held = self.held.len() + self.held_unread.len();
        c
    }

    /// Whether `apply` would write anything to this target.
    pub fn will_write(&self) -> bool {
        self.management == ManagementMode::Enforce && !self.ops.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub held: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.create += o.create;
        self.update += o.update;
        self.delete += o.delete;
        self.held += o.held;
    }
}

/// The whole plan for a set of manifests.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub tenants: Vec<TenantView>,
    pub targets: Vec<TargetPlan>,
    pub errors: Vec<Problem>,
    pub policy_violations: Vec<Violation>,
    pub summary: Counts,
}

impl Plan {
    pub fn new(
        tenants: Vec<TenantView>,
        targets: Vec<TargetPlan>,
        errors: Vec<Problem>,
        policy_violations: Vec<Violation>,
    ) -> Self {
        let mut summary = Counts::default();
        for t in &targets {
            if t.management == ManagementMode::Enforce {
                summary += t.counts();
            } else {
                summary.held += t.held.len() + t.held_unread.len();
            }
        }
        Self {
            tenants,
            targets,
            errors,
            policy_violations,
            summary,
        }
    }

    /// 1 on any error, 2 when applying would change something, 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            1
        } else if self.targets.iter().any(TargetPlan::will_write) {
            2
        } else {
            0
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans serialise")
    }

    /// Compact JSON, streamed: a plan of 100,000 people is large.
    pub fn write_json(&self, w: impl std::io::Write) -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(w);
        serde_json::to_writer(&mut w, self)?;
        std::io::Write::write_all(&mut w, b"\n")?;
        std::io::Write::flush(&mut w)
    }

    /// The plan for people. `detail` lists every attribute of new objects.
    pub fn render_text(&self, detail: bool) -> String {
        let mut s = String::new();
        for t in &self.tenants {
            let c = &t.counts;
            let _ = writeln!(
                s,
                "{}: {} people ({} active, {} pending, {} suspended, {} expired, {} revoked), {} units, {} admins; attestation: {} due, {} overdue",
                t.object,
                c.user_grants,
                c.active,
                c.pending,
                c.suspended,
                c.expired,
                c.revoked,
                c.org_units,
                c.admins,
                c.attestation_due,
                c.attestation_overdue
            );
            for (obj, why) in &t.frozen {
                let _ = writeln!(s, "  unchanged because of errors: {obj} ({})", shown(why));
            }
        }
        for tp in &self.targets {
            let _ = writeln!(s);
            let baseline = match &tp.baseline {
                Baseline::Live => "against the live target".to_string(),
                Baseline::Empty { reason, .. } => format!("against an EMPTY baseline: {reason}"),
            };
            let mode = match tp.management {
                ManagementMode::Enforce => "Enforce",
                ManagementMode::Observe => "Observe: reported only, nothing will be changed",
            };
            let role = format!("{:?}", tp.role).to_lowercase();
            let _ = writeln!(
                s,
                "{} ({} {role}) [{mode}] {baseline}",
                tp.integration,
                tp.kind.as_str()
            );
            for gap in &tp.gaps {
                let _ = writeln!(s, "  cannot express: {}", shown(&gap.message));
            }
            for op in &tp.ops {
                render_op(&mut s, op, detail, "  ");
            }
            if !tp.held_unread.is_empty() {
                let _ = writeln!(
                    s,
                    "  HELD because input that may have declared them could not be fully read \
                     (nothing is deleted, disabled, moved or removed until it is fixed):"
                );
                for why in &tp.unread {
                    let _ = writeln!(s, "    unread: {}", shown(why));
                }
                for op in &tp.held_unread {
                    render_op(&mut s, op, false, "    held ");
                }
            }
            if !tp.held.is_empty() {
                let _ = writeln!(s, "  HELD: {}", shown(tp.held_reason.as_deref().unwrap_or("")));
                for op in &tp.held {
                    render_op(&mut s, op, false, "    held ");
                }
            }
            let c = tp.counts();
            let _ = writeln!(
                s,
                "  {} to create, {} to update, {} to delete, {} held, {} unchanged{}",
                c.create,
                c.update,
                c.delete,
                c.held,
                tp.unchanged,
                if tp.frozen > 0 {
                    format!(", {} frozen by errors", tp.frozen)
                } else {
                    String::new()
                }
            );
        }
        if !self.policy_violations.is_empty() {
            let _ = writeln!(s, "\nPolicy findings:");
            for v in &self.policy_violations {
                let _ = writeln!(s, "  ! {v}");
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(
                s,
                "\nErrors ({}): objects with errors are left as they are downstream, and where \
                 an input could not be read at all, nothing it may have declared is removed",
                self.errors.len()
            );
            for e in &self.errors {
                let _ = writeln!(s, "  error: {e}");
            }
        }
        let c = self.summary;
        let _ = writeln!(
            s,
            "\nPlan: {} to create, {} to update, {} to delete, {} held across {} targets.",
            c.create,
            c.update,
            c.delete,
            c.held,
            self.targets.len()
        );
        s
    }
}

/// At most this many values of a set's change are named in the text plan.
const MAX_SHOWN_VALUES: usize = 100;

fn render_op(s: &mut String, op: &Op, detail: bool, indent: &str) {
    match op {
        Op::Create { object } => {
            let label = match object.key.kind {
                ObjectKind::Group => {
                    let n = object
                        .attrs
                        .get(super::state::MEMBER_ATTR)
                        .map_or(0, Vec::len);
                    format!("({n} member{})", if n == 1 { "" } else { "s" })
                }
                ObjectKind::Client => format!(
                    "login: {}",
                    object
                        .attrs
                        .get("loginMethods")
                        .map(|m| m.join(", "))
                        .unwrap_or_default()
                ),
                _ => shown(
                    ["cn", "displayName", "userName", "email", "description"]
                        .iter()
                        .find_map(|a| object.get(a))
                        .unwrap_or(""),
                )
                .into_owned(),
            };
            let place = match object.parent.as_deref() {
                Some(super::state::DISABLED_PARENT) => " in the disabled branch".to_string(),
                Some(p) => format!(" in {}", shown(p)),
                None => String::new(),
            };
            let _ = writeln!(s, "{indent}+ {}{place}  {label}", object.key);
            if detail {
                for (k, v) in &object.attrs {
                    let _ = writeln!(s, "{indent}    {k}: {}", object.show(k, v));
                }
            }
        }
        Op::Update {
            key,
            moved_from,
            moved_to,
            changes,
            ..
        } => {
            let _ = writeln!(s, "{indent}~ {key}");
            if let (Some(from), Some(to)) = (moved_from, moved_to) {
                let _ = writeln!(
                    s,
                    "{indent}    moved: {} → {}",
                    from.as_deref().unwrap_or("(top)"),
                    to.as_deref().unwrap_or("(top)")
                );
            }
            for c in changes {
                if !c.sensitive && (c.actual.len() > 1 || c.desired.len() > 1) {
                    // Sets: name what comes and goes, not both whole lists; a very long
                    // one (an IdP's 10,000 allowed people) is cut, with a count.
                    let desired: std::collections::HashSet<&String> = c.desired.iter().collect();
                    let actual: std::collections::HashSet<&String> = c.actual.iter().collect();
                    let added = c
                        .desired
                        .iter()
                        .filter(|v| !actual.contains(v))
                        .map(|v| format!("+{v}"));
                    let removed = c
                        .actual
                        .iter()
                        .filter(|v| !desired.contains(v))
                        .map(|v| format!("-{v}"));
                    let all: Vec<String> = added.chain(removed).collect();
                    let more = match all.len().saturating_sub(MAX_SHOWN_VALUES) {
                        0 => String::new(),
                        n => format!(" … and {n} more"),
                    };
                    let shown_part = all[..all.len().min(MAX_SHOWN_VALUES)].join(" ");
                    let _ = writeln!(
                        s,
                        "{indent}    {}: {}{more}",
                        c.attr,
                        shown(&shown_part)
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "{indent}    {}: {} → {}",
                        c.attr,
                        show_values(c.sensitive, &c.actual),
                        show_values(c.sensitive, &c.desired)
                    );
                }
            }
        }
        Op::Delete { key, .. } if key.kind == ObjectKind::Session => {
            let _ = writeln!(s, "{indent}- {key}  (end live sessions)");
        }
        Op::Delete { key, .. } => {
            let _ = writeln!(s, "{indent}- {key}");
        }
    }
}

/// The state a target would hold after a plan's operations: what `apply` must achieve.
/// Used to check plans (diff(desired, apply(plan, actual)) is empty) and to project.
pub fn apply_in_memory(actual: &ObservedState, plan: &TargetPlan) -> ObservedState {
    let mut out = actual.clone();
    for op in &plan.ops {
        match op {
            Op::Create { object } => {
                out.objects.insert(object.key.clone(), object.clone());
            }
            Op::Update {
                key,
                moved_to,
                changes,
                ..
            } => {
                let o = out
                    .objects
                    .entry(key.clone())
                    .or_insert_with(|| Object::new(key.kind, key.id.clone()));
                if let Some(to) = moved_to {
                    o.parent = to.clone();
                }
                for c in changes {
                    if c.desired.is_empty() {
                        o.attrs.remove(c.attr.as_str());
                    } else {
                        o.attrs.insert(c.attr.clone().into(), c.desired.clone());
                    }
                }
            }
            Op::Delete { key, .. } => {
                out.objects.remove(key);
            }
        }
    }
    out
}

/// Whether a kind is a person, for counting.
pub fn is_person(key: &ObjectKey) -> bool {
    key.kind == ObjectKind::Person
}
