//! The decisions the shells act on, pure and tested here: whether a target's plan is carried
//! out, when a webhook is due the whole state, when a deleted UserGrant may let go of its
//! finalizer, when a deletion confirmation is used up, and what cleaning up an Integration
//! deletes. `accord apply` and the operator call the same functions.

use std::time::Duration;

use crate::api::ManagementMode;

use super::diff::diff;
use super::plan::{Baseline, Op, TargetPlan};
use super::state::{DesiredTarget, ObservedState, TargetRole};
use super::status::Outcome;
use super::ObjectRef;

/// What to do with one target's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Carry it out (with the whole state too, when due).
    Apply { full_state: bool },
    /// Nothing differs and nothing is due: leave the target alone.
    Nothing,
    /// Observe mode: the differences are reported, never carried out.
    Report,
    /// The target could not be read, so the plan ran against an empty baseline: carrying it
    /// out would recreate what exists. Not applied, with the reason.
    NotApplied(String),
}

/// The one rule for baseline × management mode, for `accord apply` and the operator alike.
pub fn action(tp: &TargetPlan, full_state_due: bool) -> Action {
    match (&tp.baseline, tp.management) {
        (Baseline::Empty { reason, .. }, _) => Action::NotApplied(reason.clone()),
        (Baseline::Live, ManagementMode::Observe) => Action::Report,
        (Baseline::Live, ManagementMode::Enforce) if tp.ops.is_empty() && !full_state_due => {
            Action::Nothing
        }
        (Baseline::Live, ManagementMode::Enforce) => Action::Apply {
            full_state: full_state_due,
        },
    }
}

/// Whether the whole state is due again: never sent, or sent `every` ago or longer.
/// `since_last` is the time since the last delivery (None: never).
pub fn full_state_due(every: Option<Duration>, since_last: Option<Duration>) -> bool {
    match every {
        None => false,
        Some(every) => since_last.is_none_or(|since| since >= every),
    }
}

/// Whether a deleted UserGrant's person is gone from every target, so that its finalizer may
/// go: each target was read (not an empty baseline), nothing of the person is held, and any
/// operation on the person was carried out without failure in Enforce mode.
pub fn person_gone_everywhere(
    person: &str,
    plans: &[TargetPlan],
    outcomes: &std::collections::BTreeMap<ObjectRef, Outcome>,
) -> bool {
    plans.iter().all(|tp| {
        let mine = |o: &Op| o.key().kind.is_of_person() && o.key().id == person;
        let live = matches!(tp.baseline, Baseline::Live);
        let held = tp.held.iter().any(mine) || tp.held_unread.iter().any(mine);
        let pending = tp.ops.iter().any(mine);
        let done = outcomes.get(&tp.integration).is_some_and(|o| {
            o.applied && o.aborted.is_none() && !o.failed.contains_key(person)
        });
        live && !held && (!pending || (done && tp.management == ManagementMode::Enforce))
    })
}

/// A confirmation annotation is used once: when every target was read and written without
/// trouble, it is spent, and the number of held deletions it released is returned. While a
/// target is unreachable it stays, so that it still applies when the target is back.
pub fn confirmation_spent(confirmed: u32, healthy: bool, plans: &[TargetPlan]) -> Option<usize> {
    (confirmed > 0 && healthy).then(|| {
        plans
            .iter()
            .filter(|tp| tp.released_by_confirmation)
            .map(|tp| tp.person_deletions)
            .sum()
    })
}

/// Cleaning up a deleted Integration: every object accord owns there goes, children first.
/// Deleting the Integration is the confirmation, so the deletion guard does not hold this.
pub fn cleanup_plan(
    integration: ObjectRef,
    tenant: &str,
    kind: crate::api::IntegrationKind,
    actual: &ObservedState,
) -> TargetPlan {
    let nothing_wanted = DesiredTarget {
        integration,
        tenant: tenant.to_string(),
        kind,
        // Every kind's objects go the same way; the role only labels the plan.
        role: TargetRole::Directory,
        management: ManagementMode::Enforce,
        deletion: crate::api::DeletionPolicy {
            max_per_sync: u32::MAX,
            max_percent: 100,
        },
        objects: Default::default(),
        frozen: Default::default(),
        unread: Vec::new(),
        gaps: Vec::new(),
    };
    diff(nothing_wanted, actual, Baseline::Live, u32::MAX)
}

/// How a reconcile left a tenant, from what happened to its targets: degraded when a target
/// could not be read or written, so that it is retried sooner than its sync interval.
pub fn degraded(plans: &[TargetPlan], outcomes: &std::collections::BTreeMap<ObjectRef, Outcome>) -> bool {
    plans.iter().any(|tp| {
        matches!(tp.baseline, Baseline::Empty { .. })
            || outcomes
                .get(&tp.integration)
                .is_some_and(|o| o.aborted.is_some() || !o.failed.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::IntegrationKind;
    use crate::engine::problem::Kind;
    use crate::engine::state::{Object, ObjectKey, ObjectKind};

    fn plan(ops: Vec<Op>, baseline: Baseline, mode: ManagementMode) -> TargetPlan {
        TargetPlan {
            integration: ObjectRef::new(Kind::Integration, "ns", "dir"),
            tenant: "t".into(),
            kind: IntegrationKind::Ldap,
            role: TargetRole::Directory,
            management: mode,
            baseline,
            ops,
            held: vec![],
            held_reason: None,
            held_unread: vec![],
            unread: vec![],
            gaps: vec![],
            unchanged: 0,
            frozen: 0,
            person_deletions: 0,
            released_by_confirmation: false,
        }
    }

    fn delete(id: &str) -> Op {
        Op::Delete {
            key: ObjectKey::new(ObjectKind::Person, id),
            depth: 0,
            locator: None,
            source: None,
        }
    }

    fn empty() -> Baseline {
        Baseline::Empty {
            category: "unreachable".into(),
            reason: "connection refused".into(),
        }
    }

    #[test]
    fn baseline_and_mode_decide_what_is_carried_out() {
        use ManagementMode::*;
        assert_eq!(action(&plan(vec![delete("a")], Baseline::Live, Enforce), false), Action::Apply { full_state: false });
        assert_eq!(action(&plan(vec![], Baseline::Live, Enforce), false), Action::Nothing);
        assert_eq!(action(&plan(vec![], Baseline::Live, Enforce), true), Action::Apply { full_state: true });
        assert_eq!(action(&plan(vec![delete("a")], Baseline::Live, Observe), true), Action::Report);
        assert_eq!(
            action(&plan(vec![delete("a")], empty(), Enforce), false),
            Action::NotApplied("connection refused".into())
        );
        assert_eq!(action(&plan(vec![], empty(), Observe), false), Action::NotApplied("connection refused".into()));
    }

    #[test]
    fn the_whole_state_is_due_when_never_sent_or_an_interval_ago() {
        let hour = Some(Duration::from_secs(3600));
        assert!(!full_state_due(None, None));
        assert!(full_state_due(hour, None));
        assert!(!full_state_due(hour, Some(Duration::from_secs(60))));
        assert!(full_state_due(hour, Some(Duration::from_secs(3600))));
    }

    #[test]
    fn a_finalizer_goes_only_when_the_person_is_gone_from_every_target() {
        let outcome = |failed: &[&str], aborted: bool| {
            BTreeMap::from([(
                ObjectRef::new(Kind::Integration, "ns", "dir"),
                Outcome {
                    applied: true,
                    failed: failed.iter().map(|f| (f.to_string(), "refused".into())).collect(),
                    aborted: aborted.then(|| "lost".into()),
                },
            )])
        };
        let enforce = ManagementMode::Enforce;
        // Deleted and done.
        assert!(person_gone_everywhere("anna", &[plan(vec![delete("anna")], Baseline::Live, enforce)], &outcome(&[], false)));
        // Not there at all.
        assert!(person_gone_everywhere("anna", &[plan(vec![], Baseline::Live, enforce)], &BTreeMap::new()));
        // Failed, aborted, unread target, Observe mode, held: stays.
        assert!(!person_gone_everywhere("anna", &[plan(vec![delete("anna")], Baseline::Live, enforce)], &outcome(&["anna"], false)));
        assert!(!person_gone_everywhere("anna", &[plan(vec![delete("anna")], Baseline::Live, enforce)], &outcome(&[], true)));
        assert!(!person_gone_everywhere("anna", &[plan(vec![], empty(), enforce)], &BTreeMap::new()));
        assert!(!person_gone_everywhere("anna", &[plan(vec![delete("anna")], Baseline::Live, ManagementMode::Observe)], &outcome(&[], false)));
        let mut held = plan(vec![], Baseline::Live, enforce);
        held.held = vec![delete("anna")];
        assert!(!person_gone_everywhere("anna", &[held.clone()], &BTreeMap::new()));
        held.held = vec![];
        held.held_unread = vec![delete("anna")];
        assert!(!person_gone_everywhere("anna", &[held], &BTreeMap::new()));
    }

    #[test]
    fn a_confirmation_is_spent_once_and_kept_while_a_target_is_in_trouble() {
        let mut released = plan(vec![delete("a"), delete("b")], Baseline::Live, ManagementMode::Enforce);
        released.released_by_confirmation = true;
        released.person_deletions = 2;
        assert_eq!(confirmation_spent(2, true, &[released.clone()]), Some(2));
        assert_eq!(confirmation_spent(2, false, &[released.clone()]), None);
        assert_eq!(confirmation_spent(0, true, &[released]), None);
        let untouched = plan(vec![], Baseline::Live, ManagementMode::Enforce);
        assert_eq!(confirmation_spent(5, true, &[untouched]), Some(0), "spent even if nothing was over the threshold");
    }

    #[test]
    fn cleaning_up_deletes_everything_owned_children_first_whatever_the_threshold() {
        let mut unit = Object::new(ObjectKind::Unit, "u");
        unit.depth = 0;
        let mut person = Object::new(ObjectKind::Person, "p");
        person.parent = Some("u".into());
        let group = Object::new(ObjectKind::Group, "g");
        let actual = ObservedState::from_objects([unit, person, group]);
        let p = cleanup_plan(ObjectRef::new(Kind::Integration, "ns", "dir"), "t", IntegrationKind::Ldap, &actual);
        let order: Vec<String> = p.ops.iter().map(|o| o.key().to_string()).collect();
        assert_eq!(order, ["group g", "person p", "unit u"]);
        assert!(p.held.is_empty());
    }

    #[test]
    fn unread_or_failed_targets_degrade_the_tenant() {
        assert!(degraded(&[plan(vec![], empty(), ManagementMode::Enforce)], &BTreeMap::new()));
        assert!(!degraded(&[plan(vec![], Baseline::Live, ManagementMode::Enforce)], &BTreeMap::new()));
    }
}
