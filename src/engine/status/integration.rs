//! An Integration's status: whether its system could be read and written, and counts.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::api::ManagementMode;
use crate::engine::plan::{Baseline, Op, TargetPlan};

use super::{Inputs, Previous, condition, gap_condition};

pub fn integration_status(
    inp: &Inputs,
    tp: &TargetPlan,
    prev: &Previous,
) -> (Value, Vec<Condition>) {
    let outcome = inp.outcomes.get(&tp.integration);
    let people_failed = outcome.map_or(0, |o| o.failed.len());
    let drifted = tp
        .ops
        .iter()
        .filter(|o| matches!(o, Op::Update { .. }))
        .count();
    let observe = tp.management == ManagementMode::Observe;
    let (reachable, why) = match &tp.baseline {
        Baseline::Live => (true, String::new()),
        Baseline::Empty { reason, .. } => (false, reason.clone()),
    };
    let aborted = outcome.and_then(|o| o.aborted.clone()).unwrap_or_default();
    let synced = reachable && aborted.is_empty() && people_failed == 0;
    let errors = inp.errors_of(&tp.integration);
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
    let ready_reason = match (reachable, synced) {
        (false, _) => "Unreachable",
        (true, false) => "ApplyFailed",
        (true, true) => "Synced",
    };
    let conds = vec![
        cond(
            "Ready",
            synced && errors.is_empty(),
            ready_reason,
            &[why.as_str(), &aborted].concat(),
        ),
        cond(
            "Reachable",
            reachable,
            if reachable {
                "Connected"
            } else {
                "Unreachable"
            },
            &why,
        ),
        cond(
            "Synced",
            synced,
            if synced { "Applied" } else { "NotApplied" },
            &aborted,
        ),
        cond(
            "Drifted",
            drifted > 0 && observe,
            if observe { "Observed" } else { "Enforced" },
            &format!("{drifted} objects differ"),
        ),
        gap_condition(
            &prev.conditions,
            &tp.gaps
                .iter()
                .map(|g| (tp.integration.name.as_str(), g))
                .collect::<Vec<_>>(),
            prev.generation,
            inp.now,
        ),
    ];
    let managed = tp.unchanged
        + tp.ops
            .iter()
            .filter(|o| !matches!(o, Op::Delete { .. }))
            .count();
    let status = json!({
        "managed": managed,
        "drifted": if observe { drifted } else { 0 },
        "failed": people_failed,
        "lastSyncTime": Time(inp.now),
    });
    (status, conds)
}
