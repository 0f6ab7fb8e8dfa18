//! An OrgUnit's status (its place in the tree), and the status of any object left as it is
//! because its spec is invalid.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{Value, json};

use crate::engine::compile::UnitView;
use crate::engine::problem::ObjectRef;

use super::{Inputs, Previous, condition};

pub fn unit_status(inp: &Inputs, u: &UnitView, prev: &Previous) -> (Value, Vec<Condition>) {
    let ready = condition(
        &prev.conditions,
        "Ready",
        true,
        "Placed",
        "",
        prev.generation,
        inp.now,
    );
    (json!({"path": u.path, "depth": u.depth}), vec![ready])
}

/// An object compile froze: not ready, with its errors (or why it was frozen).
pub fn frozen_status(
    inp: &Inputs,
    obj: &ObjectRef,
    why: &str,
    prev: &Previous,
) -> (Value, Vec<Condition>) {
    let msg = inp.errors_of(obj).join("; ");
    let message = if msg.is_empty() { why } else { &msg };
    let ready = condition(
        &prev.conditions,
        "Ready",
        false,
        "InvalidSpec",
        message,
        prev.generation,
        inp.now,
    );
    let mut status = json!({});
    // A frozen grant keeps the record of its last repaired drift.
    if let Some(last) = &prev.last_drift {
        status["lastDrift"] = last.clone();
    }
    (status, vec![ready])
}
