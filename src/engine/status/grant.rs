//! A UserGrant's status: its lifecycle, attestation, and the state of the person in every
//! target of its tenant.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::ManagementMode;
use crate::engine::compile::GrantView;
use crate::engine::lifecycle::AttestationState;
use crate::engine::plan::{Baseline, Op, TargetPlan};

use super::drift::RepairedDrift;
use super::{Inputs, Previous, condition, unread_reason};

/// Where one person stands in one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TargetState {
    InSync,
    Drifted,
    Failed,
    Held,
    Pending,
}

/// One target's line in a grant's `status.targets`.
#[derive(Clone, Debug)]
pub struct TargetReport {
    pub state: TargetState,
    pub message: Option<String>,
    /// The fields that differ (Observe: still differing; Enforce: just repaired).
    pub drift: Vec<Value>,
    /// Drift from a spec already reported on, put back just now (Enforce).
    pub repaired: bool,
}

fn person_of(op: &Op) -> Option<&str> {
    op.key().kind.is_of_person().then(|| op.key().id.as_str())
}

/// The person's state in one target, from its plan and what applying it did.
pub fn target_report(inp: &Inputs, person: &str, tp: &TargetPlan, prev: &Previous) -> TargetReport {
    let outcome = inp.outcomes.get(&tp.integration);
    let mine: Vec<&Op> = tp
        .ops
        .iter()
        .filter(|o| person_of(o) == Some(person))
        .collect();
    let any_mine = |ops: &[Op]| ops.iter().any(|o| person_of(o) == Some(person));
    let fail = outcome.and_then(|o| o.failed.get(person).cloned().or_else(|| o.aborted.clone()));
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
    // A target that differs from a spec already reported on has drifted; from a spec edited
    // since, it is merely behind.
    let drifted = !drift.is_empty() && prev.spec_unchanged();
    let enforced = tp.management == ManagementMode::Enforce && outcome.is_some_and(|o| o.applied);
    let (state, message) = if let Baseline::Empty { reason, .. } = &tp.baseline {
        (TargetState::Failed, Some(reason.clone()))
    } else if let Some(f) = fail.filter(|_| !mine.is_empty()) {
        (TargetState::Failed, Some(f))
    } else if any_mine(&tp.held_unread) {
        (TargetState::Held, Some(unread_reason(tp)))
    } else if any_mine(&tp.held) {
        (
            TargetState::Held,
            Some(tp.held_reason.clone().unwrap_or_default()),
        )
    } else if mine.is_empty() || enforced {
        (TargetState::InSync, drifted.then(|| "repaired".to_string()))
    } else if drifted {
        (TargetState::Drifted, None)
    } else {
        (TargetState::Pending, None)
    };
    let repaired = state == TargetState::InSync && drifted;
    TargetReport {
        state,
        message,
        drift,
        repaired,
    }
}

impl TargetReport {
    fn to_json(&self, tp: &TargetPlan, stamp: &Time) -> Value {
        let mut t =
            json!({"integration": tp.integration.name, "state": self.state, "lastSyncTime": stamp});
        if self.state == TargetState::Drifted {
            t["drift"] = json!(self.drift);
        }
        if let Some(m) = &self.message {
            t["message"] = json!(crate::validate::redact::shown(m));
        }
        t
    }
}

/// The grant's status and conditions, and the drift put back in its targets just now.
/// `context_unchanged`: its unit and tenant were reported on at their current spec too (an
/// edit of those also changes a person's entry, and carrying it out is no drift).
pub fn grant_status(
    inp: &Inputs,
    g: &GrantView,
    prev: &Previous,
    context_unchanged: bool,
) -> (Value, Vec<Condition>, Vec<RepairedDrift>) {
    let stamp = Time(inp.now);
    let (mut drifted, mut failed, mut pending) = (Vec::new(), Vec::new(), false);
    let mut targets = Vec::new();
    let mut repairs = Vec::new();
    for tp in inp.plans {
        let report = target_report(inp, &g.object.name, tp, prev);
        if report.repaired && context_unchanged {
            repairs.push(RepairedDrift {
                grant: g.object.clone(),
                integration: tp.integration.clone(),
                kind: tp.kind,
                fields: report.drift.clone(),
                at: inp.now,
            });
        }
        match report.state {
            TargetState::Failed => failed.push(format!(
                "{}: {}",
                tp.integration.name,
                report.message.clone().unwrap_or_default()
            )),
            TargetState::Drifted => drifted.extend(report.drift.iter().map(|d| {
                format!(
                    "{}.{}",
                    tp.integration.name,
                    d["field"].as_str().unwrap_or("")
                )
            })),
            TargetState::Pending => pending = true,
            TargetState::InSync | TargetState::Held => {}
        }
        targets.push(report.to_json(tp, &stamp));
    }
    let errors = inp.errors_of(&g.object);
    let (ready_reason, not_ready) = if !errors.is_empty() {
        ("InvalidSpec", true)
    } else if !failed.is_empty() {
        ("TargetFailed", true)
    } else if pending {
        ("Pending", true)
    } else {
        ("Synced", false)
    };
    let l = &g.lifecycle;
    let cond = |kind: &str, ok: bool, reason: &str, message: &str| {
        condition(
            &prev.conditions,
            kind,
            ok,
            reason,
            message,
            prev.generation,
            inp.now,
        )
    };
    let conds = vec![
        cond(
            "Ready",
            !not_ready,
            ready_reason,
            &[errors, failed].concat().join("; "),
        ),
        cond(
            "Drifted",
            !drifted.is_empty(),
            if drifted.is_empty() {
                "NoDrift"
            } else {
                "FieldsDiffer"
            },
            &drifted.join(", "),
        ),
        cond(
            "AttestationDue",
            l.attestation != AttestationState::Current,
            match l.attestation {
                AttestationState::Current => "Current",
                AttestationState::Due => "Due",
                AttestationState::Overdue => "Overdue",
            },
            &format!("attestation due {}", l.attestation_due),
        ),
    ];
    let mut status = json!({"state": l.state, "attestationDue": l.attestation_due.to_string(), "targets": targets});
    // The last repair stays until the next one: the status is applied whole, and what it
    // leaves out is gone.
    if let Some(last) = repairs.first().map(RepairedDrift::last_drift).or_else(|| prev.last_drift.clone()) {
        status["lastDrift"] = last;
    }
    (status, conds, repairs)
}
