//! The Tenant's status: counts, policy, held deletions and unreadable objects across all its
//! targets.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::api::ManagementMode;
use crate::engine::plan::Baseline;

use super::{Inputs, Previous, condition, gap_condition, unread_reason};

pub fn tenant_status(inp: &Inputs, prev: &Previous) -> (Value, Vec<Condition>) {
    let view = inp.view;
    let plans = inp.plans;
    let violations: Vec<String> = inp
        .violations
        .iter()
        .filter(|v| v.object == view.object)
        .map(|v| v.message.clone())
        .collect();
    let held: usize = plans
        .iter()
        .map(|p| p.held.len() + p.held_unread.len())
        .sum();
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
                || inp
                    .outcomes
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
    let errors = inp.errors_of(&view.object);
    let unreadable: Vec<String> = view
        .unreadable
        .iter()
        .map(|(r, why)| format!("{r}: {why}; left as it is downstream"))
        .collect();
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
    let ready_reason = if !errors.is_empty() {
        "InvalidSpec"
    } else if not_ready.is_empty() {
        "Synced"
    } else {
        "TargetsNotReady"
    };
    let held_reason = match (unread_held, held > 0) {
        (true, _) => "InputUnreadable",
        (false, true) => "ThresholdExceeded",
        (false, false) => "None",
    };
    let counts = &view.counts;
    let conds = vec![
        cond(
            "Ready",
            not_ready.is_empty() && errors.is_empty(),
            ready_reason,
            &[errors, not_ready].concat().join("; "),
        ),
        cond(
            "Unreadable",
            !unreadable.is_empty(),
            if unreadable.is_empty() {
                "AllRead"
            } else {
                "ObjectsUnreadable"
            },
            &unreadable.join("; "),
        ),
        cond(
            "PolicyViolation",
            !violations.is_empty(),
            if violations.is_empty() {
                "Compliant"
            } else {
                "Violated"
            },
            &violations.join("; "),
        ),
        cond(
            "DeletionsHeld",
            held > 0,
            held_reason,
            &held_reasons.join("; "),
        ),
        cond(
            "Drifted",
            observed_drift > 0,
            if observed_drift > 0 {
                "Observed"
            } else {
                "NoDrift"
            },
            &format!("{observed_drift} differences in Observe mode"),
        ),
        cond(
            "AttestationDue",
            counts.attestation_due + counts.attestation_overdue > 0,
            "Counted",
            &format!(
                "{} due, {} overdue",
                counts.attestation_due, counts.attestation_overdue
            ),
        ),
        gap_condition(
            &prev.conditions,
            &plans
                .iter()
                .flat_map(|p| p.gaps.iter().map(|g| (p.integration.name.as_str(), g)))
                .collect::<Vec<_>>(),
            prev.generation,
            inp.now,
        ),
    ];
    (
        json!({"counts": view.counts, "lastSyncTime": Time(inp.now)}),
        conds,
    )
}
