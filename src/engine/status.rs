//! What each resource's status should say after a sync: pure, from compile's view, the plans
//! and what applying them did, with the clock passed in. Conditions keep their
//! `lastTransitionTime` unless their status flips.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::api::ManagementMode;

use super::compile::TenantView;
use super::lifecycle::AttestationState;
use super::plan::{Baseline, Op, TargetPlan};
use super::problem::{Kind, ObjectRef, Problem, Violation};
use super::state::ObjectKind;

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
    )
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
}

impl Previous {
    /// A target that differs from a spec already reported on has drifted; one that differs
    /// from a spec edited since (or never reported on) is merely behind.
    fn spec_unchanged(&self) -> bool {
        self.generation.is_some() && self.observed_generation == self.generation
    }
}

/// The status of every object of one tenant, as JSON ready for server-side apply.
pub struct Statuses {
    pub by_object: BTreeMap<ObjectRef, Value>,
    /// (object, condition) pairs that flipped, for events.
    pub transitions: Vec<(ObjectRef, Condition)>,
}

fn person_of(op: &Op) -> Option<&str> {
    (op.key().kind == ObjectKind::Person).then(|| op.key().id.as_str())
}

/// Why a target's removals are held for input that could not be read.
fn unread_reason(tp: &TargetPlan) -> String {
    format!(
        "{} removals held: input that may declare them could not be read ({})",
        tp.held_unread.len(),
        tp.unread.join("; ")
    )
}

#[allow(clippy::too_many_arguments)]
pub fn statuses(
    view: &TenantView,
    plans: &[&TargetPlan],
    outcomes: &BTreeMap<ObjectRef, Outcome>,
    problems: &[Problem],
    violations: &[Violation],
    previous: &dyn Fn(&ObjectRef) -> Previous,
    now: jiff::Timestamp,
) -> Statuses {
    let mut out = Statuses {
        by_object: BTreeMap::new(),
        transitions: Vec::new(),
    };
    let stamp = Time(now);
    let mut push = |obj: &ObjectRef, mut status: Value, conds: Vec<Condition>, prev: &Previous| {
        for c in &conds {
            if flipped(&prev.conditions, c) {
                out.transitions.push((obj.clone(), c.clone()));
            }
        }
        status["conditions"] = serde_json::to_value(&conds).unwrap_or_default();
        status["observedGeneration"] = json!(prev.generation);
        out.by_object.insert(obj.clone(), status);
    };
    let errors_of = |o: &ObjectRef| {
        problems
            .iter()
            .filter(|p| p.object.as_ref() == Some(o))
            .map(|p| format!("{}: {}", p.field, p.reason))
            .collect::<Vec<_>>()
    };

    // UserGrants: lifecycle, attestation and every target's state.
    for g in &view.grants {
        let prev = previous(&g.object);
        let mut targets = Vec::new();
        let (mut drifted, mut failed, mut pending) = (Vec::new(), Vec::new(), false);
        for tp in plans {
            let outcome = outcomes.get(&tp.integration);
            let mine: Vec<&Op> = tp
                .ops
                .iter()
                .filter(|o| person_of(o) == Some(g.object.name.as_str()))
                .collect();
            let mine_held = |ops: &[Op]| ops.iter().any(|o| person_of(o) == Some(g.object.name.as_str()));
            let held = mine_held(&tp.held);
            let held_unread = mine_held(&tp.held_unread);
            let fail = outcome.and_then(|o| {
                o.failed
                    .get(&g.object.name)
                    .cloned()
                    .or_else(|| o.aborted.clone())
            });
            let drift: Vec<Value> = mine
                .iter()
                .flat_map(|o| match o {
                    Op::Update { changes, .. } => changes
                        .iter()
                        .map(|c| serde_json::to_value(c).unwrap_or_default())
                        .collect::<Vec<_>>(),
                    _ => vec![],
                })
                .collect();
            let enforced =
                tp.management == ManagementMode::Enforce && outcome.is_some_and(|o| o.applied);
            let (state, message) = if let Baseline::Empty { reason, .. } = &tp.baseline {
                ("Failed", Some(reason.clone()))
            } else if let Some(f) = fail.filter(|_| !mine.is_empty()) {
                ("Failed", Some(f))
            } else if held_unread {
                ("Held", Some(unread_reason(tp)))
            } else if held {
                ("Held", Some(tp.held_reason.clone().unwrap_or_default()))
            } else if mine.is_empty() || enforced {
                (
                    "InSync",
                    (!drift.is_empty() && prev.spec_unchanged()).then(|| "repaired".to_string()),
                )
            } else if !drift.is_empty() && prev.spec_unchanged() {
                ("Drifted", None)
            } else {
                ("Pending", None)
            };
            match state {
                "Failed" => failed.push(format!(
                    "{}: {}",
                    tp.integration.name,
                    message.clone().unwrap_or_default()
                )),
                "Drifted" => drifted.extend(drift.iter().map(|d| {
                    format!(
                        "{}.{}",
                        tp.integration.name,
                        d["field"].as_str().unwrap_or("")
                    )
                })),
                "Pending" => pending = true,
                _ => {}
            }
            let mut t =
                json!({"integration": tp.integration.name, "state": state, "lastSyncTime": stamp});
            if state == "Drifted" {
                t["drift"] = json!(drift);
            }
            if let Some(m) = message {
                t["message"] = json!(crate::validate::redact::shown(&m));
            }
            targets.push(t);
        }
        let l = &g.lifecycle;
        let errors = errors_of(&g.object);
        let conds = vec![
            condition(
                &prev.conditions,
                "Ready",
                failed.is_empty() && errors.is_empty() && !pending,
                if !errors.is_empty() {
                    "InvalidSpec"
                } else if !failed.is_empty() {
                    "TargetFailed"
                } else if pending {
                    "Pending"
                } else {
                    "Synced"
                },
                &errors
                    .iter()
                    .chain(&failed)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; "),
                prev.generation,
                now,
            ),
            condition(
                &prev.conditions,
                "Drifted",
                !drifted.is_empty(),
                if drifted.is_empty() {
                    "NoDrift"
                } else {
                    "FieldsDiffer"
                },
                &drifted.join(", "),
                prev.generation,
                now,
            ),
            condition(
                &prev.conditions,
                "AttestationDue",
                l.attestation != AttestationState::Current,
                match l.attestation {
                    AttestationState::Current => "Current",
                    AttestationState::Due => "Due",
                    AttestationState::Overdue => "Overdue",
                },
                &format!("attestation due {}", l.attestation_due),
                prev.generation,
                now,
            ),
        ];
        let status = json!({"state": l.state, "attestationDue": l.attestation_due.to_string(), "targets": targets});
        push(&g.object, status, conds, &prev);
    }
    for (obj, why) in &view.frozen {
        if obj.kind != Kind::UserGrant {
            continue;
        }
        let prev = previous(obj);
        let msg = errors_of(obj).join("; ");
        let conds = vec![condition(
            &prev.conditions,
            "Ready",
            false,
            "InvalidSpec",
            if msg.is_empty() { why } else { &msg },
            prev.generation,
            now,
        )];
        push(obj, json!({}), conds, &prev);
    }

    // OrgUnits: their path.
    for u in &view.units {
        let prev = previous(&u.object);
        let conds = vec![condition(
            &prev.conditions,
            "Ready",
            true,
            "Placed",
            "",
            prev.generation,
            now,
        )];
        push(
            &u.object,
            json!({"path": u.path, "depth": u.depth}),
            conds,
            &prev,
        );
    }
    for (obj, why) in view.frozen.iter().filter(|(o, _)| o.kind == Kind::OrgUnit) {
        let prev = previous(obj);
        let msg = errors_of(obj).join("; ");
        let conds = vec![condition(
            &prev.conditions,
            "Ready",
            false,
            "InvalidSpec",
            if msg.is_empty() { why } else { &msg },
            prev.generation,
            now,
        )];
        push(obj, json!({}), conds, &prev);
    }

    // Integrations: reachability and counts.
    for tp in plans {
        let prev = previous(&tp.integration);
        let outcome = outcomes.get(&tp.integration);
        let people_failed = outcome.map_or(0, |o| o.failed.len());
        let drifted = tp
            .ops
            .iter()
            .filter(|o| matches!(o, Op::Update { .. }))
            .count();
        let (reachable, why) = match &tp.baseline {
            Baseline::Live => (true, String::new()),
            Baseline::Empty { reason, .. } => (false, reason.clone()),
        };
        let aborted = outcome.and_then(|o| o.aborted.clone());
        let synced = reachable && aborted.is_none() && people_failed == 0;
        let errors = errors_of(&tp.integration);
        let conds = vec![
            condition(
                &prev.conditions,
                "Ready",
                synced && errors.is_empty(),
                if !reachable {
                    "Unreachable"
                } else if !synced {
                    "ApplyFailed"
                } else {
                    "Synced"
                },
                &[why.clone(), aborted.clone().unwrap_or_default()].concat(),
                prev.generation,
                now,
            ),
            condition(
                &prev.conditions,
                "Reachable",
                reachable,
                if reachable {
                    "Connected"
                } else {
                    "Unreachable"
                },
                &why,
                prev.generation,
                now,
            ),
            condition(
                &prev.conditions,
                "Synced",
                synced,
                if synced { "Applied" } else { "NotApplied" },
                &aborted.unwrap_or_default(),
                prev.generation,
                now,
            ),
            condition(
                &prev.conditions,
                "Drifted",
                drifted > 0 && tp.management == ManagementMode::Observe,
                if tp.management == ManagementMode::Observe {
                    "Observed"
                } else {
                    "Enforced"
                },
                &format!("{drifted} objects differ"),
                prev.generation,
                now,
            ),
        ];
        let managed = tp.unchanged
            + tp.ops
                .iter()
                .filter(|o| !matches!(o, Op::Delete { .. }))
                .count();
        push(
            &tp.integration,
            json!({"managed": managed, "drifted": if tp.management == ManagementMode::Observe { drifted } else { 0 }, "failed": people_failed, "lastSyncTime": stamp}),
            conds,
            &prev,
        );
    }

    // The Tenant: counts and policy.
    let prev = previous(&view.object);
    let tenant_violations: Vec<String> = violations
        .iter()
        .filter(|v| v.object == view.object)
        .map(|v| v.message.clone())
        .collect();
    let held: usize = plans.iter().map(|p| p.held.len() + p.held_unread.len()).sum();
    let unread_held = plans.iter().any(|p| !p.held_unread.is_empty());
    let held_reasons: Vec<String> = plans
        .iter()
        .filter_map(|p| {
            p.held_reason
                .as_ref()
                .map(|r| format!("{}: {r}", p.integration.name))
        })
        .chain(
            plans
                .iter()
                .filter(|p| !p.held_unread.is_empty())
                .map(|p| format!("{}: {}", p.integration.name, unread_reason(p))),
        )
        .collect();
    let not_ready: Vec<String> = plans
        .iter()
        .filter(|p| {
            matches!(p.baseline, Baseline::Empty { .. })
                || outcomes
                    .get(&p.integration)
                    .is_some_and(|o| o.aborted.is_some() || !o.failed.is_empty())
        })
        .map(|p| p.integration.name.clone())
        .collect();
    let observed_drift: usize = plans
        .iter()
        .filter(|p| p.management == ManagementMode::Observe)
        .map(|p| p.ops.len())
        .sum();
    let errors = errors_of(&view.object);
    let conds = vec![
        condition(
            &prev.conditions,
            "Ready",
            not_ready.is_empty() && errors.is_empty(),
            if !errors.is_empty() {
                "InvalidSpec"
            } else if not_ready.is_empty() {
                "Synced"
            } else {
                "TargetsNotReady"
            },
            &errors
                .iter()
                .chain(&not_ready)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            prev.generation,
            now,
        ),
        condition(
            &prev.conditions,
            "Unreadable",
            !view.unreadable.is_empty(),
            if view.unreadable.is_empty() {
                "AllRead"
            } else {
                "ObjectsUnreadable"
            },
            &view
                .unreadable
                .iter()
                .map(|(r, why)| format!("{r}: {why}; left as it is downstream"))
                .collect::<Vec<_>>()
                .join("; "),
            prev.generation,
            now,
        ),
        condition(
            &prev.conditions,
            "PolicyViolation",
            !tenant_violations.is_empty(),
            if tenant_violations.is_empty() {
                "Compliant"
            } else {
                "Violated"
            },
            &tenant_violations.join("; "),
            prev.generation,
            now,
        ),
        condition(
            &prev.conditions,
            "DeletionsHeld",
            held > 0,
            if unread_held {
                "InputUnreadable"
            } else if held > 0 {
                "ThresholdExceeded"
            } else {
                "None"
            },
            &held_reasons.join("; "),
            prev.generation,
            now,
        ),
        condition(
            &prev.conditions,
            "Drifted",
            observed_drift > 0,
            if observed_drift > 0 {
                "Observed"
            } else {
                "NoDrift"
            },
            &format!("{observed_drift} differences in Observe mode"),
            prev.generation,
            now,
        ),
        condition(
            &prev.conditions,
            "AttestationDue",
            view.counts.attestation_due + view.counts.attestation_overdue > 0,
            "Counted",
            &format!(
                "{} due, {} overdue",
                view.counts.attestation_due, view.counts.attestation_overdue
            ),
            prev.generation,
            now,
        ),
    ];
    push(
        &view.object,
        json!({"counts": view.counts, "lastSyncTime": stamp}),
        conds,
        &prev,
    );
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
