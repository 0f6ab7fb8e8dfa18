//! Targets do I/O only: `observe` reads the objects accord owns in a downstream system,
//! `apply` carries out a plan's operations there, idempotently.

use std::collections::BTreeMap;

use crate::engine::{DesiredTarget, ObjectRef, Observation, Snapshot};

/// Reads every target that can be reached; the others say why not.
pub fn observe_all(
    targets: &[DesiredTarget],
    _snapshot: &Snapshot,
) -> BTreeMap<ObjectRef, Observation> {
    targets
        .iter()
        .map(|t| {
            (
                t.integration.clone(),
                Err(format!(
                    "accord cannot read {} targets yet",
                    t.kind.as_str()
                )),
            )
        })
        .collect()
}
