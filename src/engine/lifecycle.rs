//! A person's lifecycle state and attestation from the grant, the tenant policy and today.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;

use crate::api::{LifecycleState, OnOverdue, UserGrantSpec};

/// The tenant's attestation policy with durations parsed into whole days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttestationRule {
    pub interval_days: i64,
    pub grace_days: i64,
    pub on_overdue: OnOverdue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum AttestationState {
    /// Confirmed within the interval.
    Current,
    /// Past its due date, within the grace period.
    Due,
    /// Past due date plus grace period: the policy's action applies.
    Overdue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    pub state: LifecycleState,
    pub attestation_due: Date,
    pub attestation: AttestationState,
    /// Why the state is what it is, for status messages.
    pub reason: String,
}

/// `created` is the resource's creation date where known (cluster); a grant never attested
/// counts from its validFrom, else its creation, else today (a new grant in a file is as good
/// as confirmed by the pull request that adds it).
pub fn lifecycle(
    spec: &UserGrantSpec,
    created: Option<Date>,
    rule: AttestationRule,
    today: Date,
) -> Lifecycle {
    let base = spec
        .attestation
        .as_ref()
        .map(|a| a.last_attested)
        .or(spec.valid_from)
        .or(created)
        .unwrap_or(today);
    let due = base.saturating_add(rule.interval_days.days());
    let overdue_from = due.saturating_add(rule.grace_days.days());
    let attestation = if today > overdue_from {
        AttestationState::Overdue
    } else if today > due {
        AttestationState::Due
    } else {
        AttestationState::Current
    };
    let (state, reason) = if attestation == AttestationState::Overdue
        && rule.on_overdue == OnOverdue::Revoke
    {
        (
            LifecycleState::Revoked,
            format!("attestation overdue since {overdue_from}; tenant policy revokes"),
        )
    } else if let Some(until) = spec.valid_until.filter(|u| *u < today) {
        (
            LifecycleState::Expired,
            format!("validUntil {until} has passed"),
        )
    } else if let Some(from) = spec.valid_from.filter(|f| *f > today) {
        (
            LifecycleState::Pending,
            format!("validFrom {from} has not come yet"),
        )
    } else if spec.suspended {
        (
            LifecycleState::Suspended,
            "suspended in the grant".to_string(),
        )
    } else if attestation == AttestationState::Overdue && rule.on_overdue == OnOverdue::Suspend {
        (
            LifecycleState::Suspended,
            format!("attestation overdue since {overdue_from}; tenant policy suspends"),
        )
    } else {
        (LifecycleState::Active, "within its validity".to_string())
    };
    Lifecycle {
        state,
        attestation_due: due,
        attestation,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Attestation, Person};
    use jiff::civil::date;

    fn spec() -> UserGrantSpec {
        UserGrantSpec {
            tenant: "t".into(),
            person: Person {
                given_name: "A".into(),
                family_name: "B".into(),
                email: "a@b.fi".into(),
                ..Default::default()
            },
            unit: "u".into(),
            roles: vec![],
            groups: vec![],
            features: vec![],
            scopes: vec![],
            valid_from: None,
            valid_until: None,
            suspended: false,
            shared: false,
            attestation: None,
        }
    }
    const RULE: AttestationRule = AttestationRule {
        interval_days: 90,
        grace_days: 14,
        on_overdue: OnOverdue::Suspend,
    };

    #[test]
    fn validity_window() {
        let today = date(2026, 11, 22);
        let mut s = spec();
        s.valid_from = Some(date(2026, 12, 1));
        assert_eq!(
            lifecycle(&s, None, RULE, today).state,
            LifecycleState::Pending
        );
        s.valid_from = Some(date(2026, 11, 1));
        s.valid_until = Some(date(2026, 11, 21));
        assert_eq!(
            lifecycle(&s, None, RULE, today).state,
            LifecycleState::Expired
        );
        s.valid_until = Some(date(2026, 11, 22));
        assert_eq!(
            lifecycle(&s, None, RULE, today).state,
            LifecycleState::Active,
            "validUntil is inclusive"
        );
        s.suspended = true;
        assert_eq!(
            lifecycle(&s, None, RULE, today).state,
            LifecycleState::Suspended
        );
    }

    #[test]
    fn attestation_due_grace_and_actions() {
        let mut s = spec();
        s.attestation = Some(Attestation {
            last_attested: date(2026, 8, 1),
            attested_by: "x@y.fi".into(),
        });
        let due = date(2026, 10, 30);
        let l = lifecycle(&s, None, RULE, date(2026, 10, 30));
        assert_eq!(
            (l.attestation_due, l.attestation, l.state),
            (due, AttestationState::Current, LifecycleState::Active)
        );
        let l = lifecycle(&s, None, RULE, date(2026, 11, 13));
        assert_eq!(
            (l.attestation, l.state),
            (AttestationState::Due, LifecycleState::Active)
        );
        let l = lifecycle(&s, None, RULE, date(2026, 11, 14));
        assert_eq!(
            (l.attestation, l.state),
            (AttestationState::Overdue, LifecycleState::Suspended)
        );
        let report = AttestationRule {
            on_overdue: OnOverdue::Report,
            ..RULE
        };
        assert_eq!(
            lifecycle(&s, None, report, date(2026, 11, 14)).state,
            LifecycleState::Active
        );
        let revoke = AttestationRule {
            on_overdue: OnOverdue::Revoke,
            ..RULE
        };
        assert_eq!(
            lifecycle(&s, None, revoke, date(2026, 11, 14)).state,
            LifecycleState::Revoked
        );
    }

    #[test]
    fn never_attested_counts_from_valid_from_then_creation() {
        let mut s = spec();
        assert_eq!(
            lifecycle(&s, Some(date(2026, 1, 1)), RULE, date(2026, 2, 1)).attestation_due,
            date(2026, 4, 1)
        );
        s.valid_from = Some(date(2026, 3, 1));
        assert_eq!(
            lifecycle(&s, Some(date(2026, 1, 1)), RULE, date(2026, 3, 2)).attestation_due,
            date(2026, 5, 30)
        );
    }
}
