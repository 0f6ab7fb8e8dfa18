//! Decisions about what inbound producers (the SCIM server, the leaver endpoint) ask for,
//! pure and tested here: whether a pushed deletion is carried out or held by the tenant's
//! deletion threshold, and what a reported leaving date does to a grant on a given day.

use jiff::civil::Date;

use crate::api::{DeletionPolicy, UserGrant};

/// Annotation on a UserGrant: the leaving date an HR system reported (ISO 8601).
pub const LEAVING_DATE: &str = "accord.dev/leaving-date";

/// What to do with one inbound deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundDeletion {
    Delete,
    /// Held by the threshold: the grant stays, marked, until someone confirms.
    Hold(String),
}

/// The tenant's `policy.deletion` over one deletion window of an Integration: `owned` grants
/// it owns now (this one included), `recent` deletions carried out in the window, `held`
/// deletions already held. As for targets, one deletion alone is never a mass deletion.
pub fn inbound_deletion(policy: &DeletionPolicy, owned: usize, recent: usize, held: usize) -> InboundDeletion {
    let n = (recent + held + 1) as u64;
    let base = (owned + recent) as u64;
    let over_count = n > u64::from(policy.max_per_sync);
    let over_percent = n > 1 && n * 100 > u64::from(policy.max_percent) * base;
    if held > 0 || over_count || over_percent {
        InboundDeletion::Hold(format!(
            "{n} deletions of {base} pushed people in one deletion window, more than the tenant allows \
             (deletion.maxPerSync {}, maxPercent {}%); held until confirmed with the Integration annotation \
             accord.dev/confirm-deletions",
            policy.max_per_sync, policy.max_percent
        ))
    } else {
        InboundDeletion::Delete
    }
}

/// Which held deletions a confirmation of `confirmed` releases: the oldest first.
pub fn released<'a>(held: &'a [(String, String)], confirmed: u32) -> Vec<&'a str> {
    let mut by_age: Vec<&(String, String)> = held.iter().collect();
    by_age.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    by_age.into_iter().take(confirmed as usize).map(|(n, _)| n.as_str()).collect()
}

/// A reported leaving date, read from the grant: validity ends on it, and from that day on
/// the person is suspended (access closes on the date, not the day after). An annotation
/// rather than the spec, so that GitOps tools that own the spec do not undo it.
pub fn apply_leaving_date(grant: &mut UserGrant, today: Date) {
    let Some(date) = leaving_date(grant) else {
        return;
    };
    let spec = &mut grant.spec;
    spec.valid_until = Some(spec.valid_until.map_or(date, |u| u.min(date)));
    if let Some(from) = spec.valid_from
        && from > date
    {
        spec.valid_from = Some(date);
    }
    if today >= date {
        spec.suspended = true;
    }
}

pub fn leaving_date(grant: &UserGrant) -> Option<Date> {
    grant
        .metadata
        .annotations
        .as_ref()?
        .get(LEAVING_DATE)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Person, UserGrantSpec};

    fn policy() -> DeletionPolicy {
        DeletionPolicy { max_per_sync: 25, max_percent: 10 }
    }

    #[test]
    fn a_mass_unassignment_is_held_one_deletion_never_is() {
        assert_eq!(inbound_deletion(&policy(), 3, 0, 0), InboundDeletion::Delete);
        assert_eq!(inbound_deletion(&policy(), 1000, 20, 0), InboundDeletion::Delete);
        assert!(matches!(inbound_deletion(&policy(), 1000, 25, 0), InboundDeletion::Hold(_)));
        // 10 % of 50 people: the sixth deletion in the window is held, and all after it.
        assert_eq!(inbound_deletion(&policy(), 46, 4, 0), InboundDeletion::Delete);
        assert!(matches!(inbound_deletion(&policy(), 45, 5, 0), InboundDeletion::Hold(_)));
        assert!(matches!(inbound_deletion(&policy(), 500, 0, 1), InboundDeletion::Hold(_)));
    }

    #[test]
    fn confirmations_release_the_oldest() {
        let held = vec![("b".to_string(), "2026-01-02".to_string()), ("a".to_string(), "2026-01-01".to_string())];
        assert_eq!(released(&held, 1), ["a"]);
        assert_eq!(released(&held, 5), ["a", "b"]);
    }

    #[test]
    fn access_closes_on_the_leaving_date() {
        let mut g = UserGrant::new("anna", UserGrantSpec {
            tenant: "acme".into(),
            person: Person::default(),
            unit: "acme".into(),
            roles: vec![], groups: vec![], features: vec![], scopes: vec![],
            valid_from: None, valid_until: Some("2027-12-31".parse().unwrap()),
            suspended: false, shared: false, attestation: None,
        });
        let before = g.clone();
        apply_leaving_date(&mut g, "2026-06-01".parse().unwrap());
        assert_eq!(g.spec, before.spec, "no annotation, no change");
        g.metadata.annotations = Some([(LEAVING_DATE.to_string(), "2026-06-30".to_string())].into());
        let mut early = g.clone();
        apply_leaving_date(&mut early, "2026-06-01".parse().unwrap());
        assert_eq!(early.spec.valid_until, Some("2026-06-30".parse().unwrap()));
        assert!(!early.spec.suspended);
        let mut on_the_day = g.clone();
        apply_leaving_date(&mut on_the_day, "2026-06-30".parse().unwrap());
        assert!(on_the_day.spec.suspended);
    }
}
