//! Drift accord put back: someone changed a person's entry in a target by hand, and in
//! Enforce mode the reconcile wrote the declared values again. An auditor must be able to see
//! that it happened after the target is back in sync, so each repair is recorded: an event on
//! the UserGrant and one per Integration, a counter, an info log line, and the grant's
//! `status.lastDrift`, which stays until the next repair. The operator only writes these.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use crate::api::IntegrationKind;
use crate::engine::problem::ObjectRef;

/// How many grants an Integration's event names before it only counts the rest.
const NAMED_IN_INTEGRATION_EVENT: usize = 10;

/// One person's entry in one target, put back.
#[derive(Clone, Debug, PartialEq)]
pub struct RepairedDrift {
    pub grant: ObjectRef,
    pub integration: ObjectRef,
    pub kind: IntegrationKind,
    /// `{field, desired, actual}` as the status shows drift: values masked where sensitive,
    /// identity numbers never shown.
    pub fields: Vec<Value>,
    pub at: jiff::Timestamp,
}

impl RepairedDrift {
    pub fn field_names(&self) -> Vec<&str> {
        self.fields
            .iter()
            .map(|f| f["field"].as_str().unwrap_or(""))
            .collect()
    }

    /// The grant's `status.lastDrift`. The time is written as a Kubernetes `Time` (whole
    /// seconds), as the status is read back: else the record kept would differ from the one
    /// written, and be written again.
    pub fn last_drift(&self) -> Value {
        json!({
            "time": Time(self.at),
            "integration": self.integration.name,
            "fields": self.fields,
        })
    }

    /// The note of the event on the UserGrant: the target and each field, with the value it
    /// was changed to by hand and the one put back.
    pub fn grant_note(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                format!(
                    "{} was {}, put back to {}",
                    f["field"].as_str().unwrap_or(""),
                    quoted(&f["actual"]),
                    quoted(&f["desired"])
                )
            })
            .collect();
        format!(
            "{} ({}) was edited by hand: {}",
            self.integration.name,
            self.kind.as_str(),
            fields.join("; ")
        )
    }
}

fn quoted(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.starts_with('(') => s.to_string(), // "(absent)", "(sensitive)"
        Some(s) => format!("\"{s}\""),
        None => "(absent)".to_string(),
    }
}

/// One event note per Integration that had repairs: how many entries, naming the first
/// grants and their fields (the values are in the grants' own events).
pub fn integration_notes(repairs: &[RepairedDrift]) -> Vec<(ObjectRef, String)> {
    let mut by_integration: Vec<(&ObjectRef, Vec<&RepairedDrift>)> = Vec::new();
    for r in repairs {
        match by_integration.iter_mut().find(|(i, _)| *i == &r.integration) {
            Some((_, list)) => list.push(r),
            None => by_integration.push((&r.integration, vec![r])),
        }
    }
    by_integration
        .into_iter()
        .map(|(integration, list)| {
            let named: Vec<String> = list
                .iter()
                .take(NAMED_IN_INTEGRATION_EVENT)
                .map(|r| format!("{} ({})", r.grant.name, r.field_names().join(", ")))
                .collect();
            let more = list.len().saturating_sub(NAMED_IN_INTEGRATION_EVENT);
            let rest = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let note = format!(
                "{} entries edited by hand in the {} target were put back: {}{rest}",
                list.len(),
                list[0].kind.as_str(),
                named.join(", ")
            );
            (integration.clone(), note)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::{LifecycleState, ManagementMode};
    use crate::engine::compile::{GrantView, TenantView, UnitView};
    use crate::engine::lifecycle::{AttestationState, Lifecycle};
    use crate::engine::plan::{Baseline, Change, Op, TargetPlan};
    use crate::engine::problem::Kind;
    use crate::engine::state::{ObjectKey, ObjectKind, TargetRole};
    use crate::engine::status::{Outcome, Previous, Statuses, statuses};

    const HETU: &str = "030977-4364";

    fn obj(kind: Kind, name: &str) -> ObjectRef {
        ObjectRef::new(kind, "acme", name)
    }

    fn view() -> TenantView {
        TenantView {
            object: obj(Kind::Tenant, "acme"),
            counts: Default::default(),
            units: vec![UnitView {
                object: obj(Kind::OrgUnit, "kallio"),
                path: "acme/kallio".into(),
                depth: 0,
            }],
            grants: vec![GrantView {
                object: obj(Kind::UserGrant, "anna"),
                unit: "kallio".into(),
                lifecycle: Lifecycle {
                    state: LifecycleState::Active,
                    attestation_due: jiff::civil::date(2027, 9, 15),
                    attestation: AttestationState::Current,
                    reason: String::new(),
                },
            }],
            frozen: vec![],
            unreadable: vec![],
        }
    }

    /// Anna's phone, and her title set by hand to an identity number.
    fn plan(management: ManagementMode) -> TargetPlan {
        let change = |attr: &str, desired: &str, actual: &str, sensitive: bool| Change {
            attr: attr.into(),
            desired: vec![desired.into()],
            actual: vec![actual.into()],
            sensitive,
        };
        TargetPlan {
            integration: obj(Kind::Integration, "acme-ldap"),
            tenant: "acme".into(),
            kind: IntegrationKind::Ldap,
            role: TargetRole::Directory,
            management,
            baseline: Baseline::Live,
            ops: vec![Op::Update {
                key: ObjectKey::new(ObjectKind::Person, "anna"),
                source: Some(obj(Kind::UserGrant, "anna")),
                depth: 0,
                locator: None,
                version: None,
                moved_from: None,
                moved_to: None,
                changes: vec![
                    change("telephoneNumber", "+358401603028", "+358409999999", false),
                    change("title", "Nurse", HETU, false),
                    change("nationalId", HETU, "161000A818S", true),
                ],
            }],
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

    /// Every object reported on at generation `seen`, now at `now_gen`; the grant's last
    /// repair as given.
    fn run(
        management: ManagementMode,
        applied: bool,
        grant_gen: (i64, i64),
        last_drift: Option<Value>,
    ) -> Statuses {
        let tp = plan(management);
        let plans = [&tp];
        let mut outcomes = BTreeMap::new();
        if applied {
            outcomes.insert(tp.integration.clone(), Outcome { applied: true, ..Default::default() });
        }
        let previous = |r: &ObjectRef| {
            let (seen, now) = if r.kind == Kind::UserGrant { grant_gen } else { (1, 1) };
            Previous {
                conditions: vec![],
                generation: Some(now),
                observed_generation: Some(seen),
                last_drift: (r.kind == Kind::UserGrant).then(|| last_drift.clone()).flatten(),
            }
        };
        let now: jiff::Timestamp = "2026-11-23T16:00:00.25Z".parse().unwrap();
        statuses(&view(), &plans, &outcomes, &[], &[], &previous, now)
    }

    fn grant_status(s: &Statuses) -> &Value {
        &s.by_object[&obj(Kind::UserGrant, "anna")]
    }

    #[test]
    fn a_repair_in_enforce_mode_is_recorded_with_its_target_and_fields_and_no_identity_number() {
        let s = run(ManagementMode::Enforce, true, (1, 1), None);
        assert_eq!(s.repaired.len(), 1, "{:?}", s.repaired);
        let r = &s.repaired[0];
        assert_eq!(r.integration.name, "acme-ldap");
        assert_eq!(r.field_names(), ["telephoneNumber", "title", "nationalId"]);
        let last = &grant_status(&s)["lastDrift"];
        assert_eq!(last["integration"], "acme-ldap");
        assert_eq!(last["time"], "2026-11-23T16:00:00Z");
        assert_eq!(last["fields"][0]["field"], "telephoneNumber");
        assert_eq!(last["fields"][0]["actual"], "+358409999999");
        assert_eq!(last["fields"][2]["actual"], "(sensitive)");
        let note = r.grant_note();
        assert!(
            note.starts_with("acme-ldap (ldap) was edited by hand: telephoneNumber was \"+358409999999\", put back to \"+358401603028\""),
            "{note}"
        );
        let notes = integration_notes(&s.repaired);
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].0.name, "acme-ldap");
        assert!(notes[0].1.contains("anna (telephoneNumber, title, nationalId)"), "{}", notes[0].1);
        let everything = format!("{note} {} {}", notes[0].1, grant_status(&s));
        assert!(!everything.contains(HETU) && !everything.contains("161000A818S"), "{everything}");
    }

    #[test]
    fn observe_mode_a_failed_apply_or_an_edited_spec_is_no_repair() {
        let observe = run(ManagementMode::Observe, false, (1, 1), None);
        assert!(observe.repaired.is_empty());
        assert_eq!(grant_status(&observe)["targets"][0]["state"], "Drifted");
        assert!(grant_status(&observe)["lastDrift"].is_null());
        let not_applied = run(ManagementMode::Enforce, false, (1, 1), None);
        assert!(not_applied.repaired.is_empty());
        // The grant's spec was edited since its last status: carrying the edit out is not drift.
        let edited = run(ManagementMode::Enforce, true, (1, 2), None);
        assert!(edited.repaired.is_empty());
        assert!(grant_status(&edited)["lastDrift"].is_null());
    }

    #[test]
    fn an_edit_of_the_tenant_or_unit_carried_out_is_no_repair() {
        let tp = plan(ManagementMode::Enforce);
        let plans = [&tp];
        let outcomes = BTreeMap::from([(tp.integration.clone(), Outcome { applied: true, ..Default::default() })]);
        for edited in [Kind::Tenant, Kind::OrgUnit] {
            let previous = |r: &ObjectRef| Previous {
                generation: Some(if r.kind == edited { 2 } else { 1 }),
                observed_generation: Some(1),
                ..Default::default()
            };
            let s = statuses(&view(), &plans, &outcomes, &[], &[], &previous, jiff::Timestamp::now());
            assert!(s.repaired.is_empty(), "{edited:?} edited");
        }
    }

    #[test]
    fn the_last_repair_stays_until_the_next_one() {
        let earlier = json!({"time": "2026-11-01T00:00:00Z", "integration": "acme-ldap",
            "fields": [{"field": "mail", "desired": "a@acme.fi", "actual": "b@acme.fi"}]});
        // Nothing to repair now (the plan was for someone else): the record is kept as it was.
        let mut quiet = plan(ManagementMode::Enforce);
        quiet.ops.clear();
        let plans = [&quiet];
        let outcomes = BTreeMap::from([(quiet.integration.clone(), Outcome { applied: true, ..Default::default() })]);
        let previous = |_: &ObjectRef| Previous {
            generation: Some(1),
            observed_generation: Some(1),
            last_drift: Some(earlier.clone()),
            ..Default::default()
        };
        let s = statuses(&view(), &plans, &outcomes, &[], &[], &previous, jiff::Timestamp::now());
        assert_eq!(grant_status(&s)["lastDrift"], earlier);
        // A new repair replaces it.
        let s = run(ManagementMode::Enforce, true, (1, 1), Some(earlier.clone()));
        assert_eq!(grant_status(&s)["lastDrift"]["fields"][0]["field"], "telephoneNumber");
    }
}
