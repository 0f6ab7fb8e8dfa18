//! The pure engine: `compile` (snapshot + clock → desired state per target) and `diff`
//! (desired vs actual → plan). No I/O happens here; the CLI and the operator feed it
//! snapshots and observed states and carry out its plans through `crate::connectors`.

pub mod attrs;
pub mod build;
pub mod compile;
pub mod conform;
pub mod decide;
pub mod diff;
pub mod inbound;
pub mod kinds;
pub mod lifecycle;
pub mod plan;
pub mod problem;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod tree;
pub mod validator;
pub mod walk;

pub use compile::{Compiled, compile};
pub use diff::diff;
pub use plan::{Plan, TargetPlan};
pub use problem::{Kind, ObjectRef, Problem, Violation};
pub use snapshot::{SecretData, Snapshot};
pub use state::{DesiredTarget, Object, ObjectKey, ObjectKind, ObservedState, TargetRole};

use std::collections::BTreeMap;

use plan::Baseline;

/// What was read from one target before planning: its state, or why it could not be read.
pub type Observation = Result<ObservedState, Unobserved>;

/// Why a target could not be read: a category (the metric label: `unreachable`, `auth`,
/// `config` …) and the reason for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unobserved {
    pub category: &'static str,
    pub reason: String,
}

/// compile's output plus what was observed → the plan. Targets that could not be read are
/// planned against an empty baseline, and the plan says so.
pub fn make_plan(
    compiled: Compiled,
    observed: &BTreeMap<ObjectRef, Observation>,
    confirmed: &BTreeMap<ObjectRef, u32>,
) -> Plan {
    let empty = ObservedState::default();
    // Targets are independent: diff them on every core.
    let slots: Vec<std::sync::Mutex<Option<DesiredTarget>>> = compiled
        .targets
        .into_iter()
        .map(|t| std::sync::Mutex::new(Some(t)))
        .collect();
    let targets = crate::par::map_ordered(&slots, |slot| {
        let t = slot
            .lock()
            .expect("one worker per slot")
            .take()
            .expect("each target is diffed once");
        let (actual, baseline) = match observed.get(&t.integration) {
            Some(Ok(state)) => (state, Baseline::Live),
            Some(Err(why)) => (
                &empty,
                Baseline::Empty {
                    category: why.category.to_string(),
                    reason: why.reason.clone(),
                },
            ),
            None => (
                &empty,
                Baseline::Empty {
                    category: "offline".into(),
                    reason: "offline: targets were not read".into(),
                },
            ),
        };
        let confirmed = confirmed.get(&t.integration).copied().unwrap_or(0);
        diff(t, actual, baseline, confirmed)
    });
    Plan::new(
        compiled.tenants,
        targets,
        compiled.problems,
        compiled.violations,
    )
}
