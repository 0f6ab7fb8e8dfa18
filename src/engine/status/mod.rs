//! What each resource's status should say after a sync: pure, from compile's view, the plans
//! and what applying them did, with the clock passed in. Conditions keep their
//! `lastTransitionTime` unless their status flips.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use super::compile::TenantView;
use super::plan::TargetPlan;
use super::problem::{Kind, ObjectRef, Problem, Violation};

mod drift;
mod grant;
mod integration;
mod tenant;
mod unit;

pub use drift::{RepairedDrift, integration_notes};
pub use grant::{TargetReport, TargetState, target_report};

/// What happened when a plan was carried out: failures by object key id, or the whole target.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub applied: bool,
    pub failed: BTreeMap<String, String>,
    pub aborted: Option<String>,
}

/// One condition as wanted now; `lastTransitionTime` comes from the previous one if the
/// status did not change.
pub fn condition(
    previous: &[Condition],
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == kind && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: kind.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        // Status is read by everyone with access to the namespace: never a value unmasked.
        message: crate::validate::redact::shown(message).into_owned(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

/// A condition that is bad news when it holds.
pub fn is_bad(c: &Condition) -> bool {
    matches!(
        (c.type_.as_str(), c.status.as_str()),
        ("Ready", "False")
            | ("Unreadable", "True")
            | ("Reachable", "False")
            | ("Synced", "False")
            | ("Drifted", "True")
            | ("PolicyViolation", "True")
            | ("DeletionsHeld", "True")
            | ("PolicyGap", "True")
    )
}

/// The `PolicyGap` condition: what of the tenant's policy the targets cannot express, each
/// with the Integration it concerns.
pub(crate) fn gap_condition(
    previous: &[Condition],
    gaps: &[(&str, &crate::engine::kinds::Gap)],
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Condition {
    let reasons: std::collections::BTreeSet<&str> = gaps.iter().map(|(_, g)| g.reason).collect();
    let reason = match reasons.len() {
        0 => "Expressed",
        1 => reasons.first().copied().unwrap_or("CannotExpress"),
        _ => "CannotExpress",
    };
    let message = gaps
        .iter()
        .map(|(integration, g)| format!("{integration}: {}", g.message))
        .collect::<Vec<_>>()
        .join("; ");
    condition(previous, "PolicyGap", !gaps.is_empty(), reason, &message, generation, now)
}

/// Worth an event: a condition that flipped, or one that appears in a bad state. A first,
/// good condition is no news (no event storm when accord starts on a large cluster).
pub fn flipped(previous: &[Condition], c: &Condition) -> bool {
    match previous.iter().find(|p| p.type_ == c.type_) {
        Some(p) => p.status != c.status,
        None => is_bad(c),
    }
}

/// What a resource's status said before, and its generation now.
#[derive(Clone, Debug, Default)]
pub struct Previous {
    pub conditions: Vec<Condition>,
    pub generation: Option<i64>,
    /// The generation that status was written for.
    pub observed_generation: Option<i64>,
    /// A UserGrant's `status.lastDrift`, kept until the next repair.
    pub last_drift: Option<Value>,
}

impl Previous {
    /// A target that differs from a spec already reported on has drifted; one that differs
    /// from a spec edited since (or never reported on) is merely behind.
    pub(crate) fn spec_unchanged(&self) -> bool {
        self.generation.is_some() && self.observed_generation == self.generation
    }
}

/// The status of every object of one tenant, as JSON ready for server-side apply.
#[derive(Default)]
pub struct Statuses {
    pub by_object: BTreeMap<ObjectRef, Value>,
    /// (object, condition) pairs that flipped, for events.
    pub transitions: Vec<(ObjectRef, Condition)>,
    /// Drift put back in Enforce mode, for events, a counter and a log line.
    pub repaired: Vec<RepairedDrift>,
}

impl Statuses {
    fn push(
        &mut self,
        obj: &ObjectRef,
        (mut status, conds): (Value, Vec<Condition>),
        prev: &Previous,
    ) {
        for c in &conds {
            if flipped(&prev.conditions, c) {
                self.transitions.push((obj.clone(), c.clone()));
            }
        }
        status["conditions"] = serde_json::to_value(&conds).unwrap_or_default();
        status["observedGeneration"] = json!(prev.generation);
        self.by_object.insert(obj.clone(), status);
    }
}

/// Everything one tenant's statuses are computed from.
pub struct Inputs<'a> {
    pub view: &'a TenantView,
    pub plans: &'a [&'a TargetPlan],
    pub outcomes: &'a BTreeMap<ObjectRef, Outcome>,
    pub problems: &'a [Problem],
    pub violations: &'a [Violation],
    pub now: jiff::Timestamp,
}

impl Inputs<'_> {
    /// The validation errors of one object, as `field: reason`.
    fn errors_of(&self, o: &ObjectRef) -> Vec<String> {
        self.problems
            .iter()
            .filter(|p| p.object.as_ref() == Some(o))
            .map(|p| format!("{}: {}", p.field, p.reason))
            .collect()
    }
}

/// Why a target's removals are held for input that could not be read.
fn unread_reason(tp: &TargetPlan) -> String {
    format!(
        "{} removals held: input that may declare them could not be read ({})",
        tp.held_unread.len(),
        tp.unread.join("; ")
    )
}

pub fn statuses(
    view: &TenantView,
    plans: &[&TargetPlan],
    outcomes: &BTreeMap<ObjectRef, Outcome>,
    problems: &[Problem],
    violations: &[Violation],
    previous: &dyn Fn(&ObjectRef) -> Previous,
    now: jiff::Timestamp,
) -> Statuses {
    let inp = Inputs {
        view,
        plans,
        outcomes,
        problems,
        violations,
        now,
    };
    let mut out = Statuses::default();
    let frozen = |kind: Kind| view.frozen.iter().filter(move |(o, _)| o.kind == kind);
    let push_frozen = |out: &mut Statuses, kind: Kind| {
        for (obj, why) in frozen(kind) {
            let prev = previous(obj);
            out.push(obj, unit::frozen_status(&inp, obj, why, &prev), &prev);
        }
    };
    let tenant_unchanged = previous(&view.object).spec_unchanged();
    for g in &view.grants {
        let prev = previous(&g.object);
        let unit = ObjectRef::new(Kind::OrgUnit, &g.object.namespace, &g.unit);
        let context_unchanged = tenant_unchanged && previous(&unit).spec_unchanged();
        let (status, conds, repairs) = grant::grant_status(&inp, g, &prev, context_unchanged);
        out.repaired.extend(repairs);
        out.push(&g.object, (status, conds), &prev);
    }
    push_frozen(&mut out, Kind::UserGrant);
    for u in &view.units {
        let prev = previous(&u.object);
        out.push(&u.object, unit::unit_status(&inp, u, &prev), &prev);
    }
    push_frozen(&mut out, Kind::OrgUnit);
    for tp in plans {
        let prev = previous(&tp.integration);
        out.push(
            &tp.integration,
            integration::integration_status(&inp, tp, &prev),
            &prev,
        );
    }
    let prev = previous(&view.object);
    out.push(&view.object, tenant::tenant_status(&inp, &prev), &prev);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_is_kept_unless_the_status_flips() {
        let t0: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2026-11-02T00:00:00Z".parse().unwrap();
        let first = condition(&[], "Ready", true, "Synced", "", Some(1), t0);
        assert!(!flipped(&[], &first), "a first good condition is no news");
        assert!(
            flipped(
                &[],
                &condition(&[], "Ready", false, "TargetFailed", "", Some(1), t0)
            ),
            "a first bad one is"
        );
        let same = condition(
            std::slice::from_ref(&first),
            "Ready",
            true,
            "Synced",
            "again",
            Some(2),
            t1,
        );
        assert_eq!(same.last_transition_time, Time(t0));
        assert!(!flipped(std::slice::from_ref(&first), &same));
        let flip = condition(
            std::slice::from_ref(&first),
            "Ready",
            false,
            "TargetFailed",
            "down",
            Some(2),
            t1,
        );
        assert_eq!(flip.last_transition_time, Time(t1));
        assert!(flipped(std::slice::from_ref(&first), &flip));
    }
}
