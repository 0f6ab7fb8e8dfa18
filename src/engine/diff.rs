//! `diff`: desired vs observed → an ordered plan of creates, updates and deletes, with the
//! deletion guard applied. Pure.

use std::collections::BTreeSet;

use super::plan::{Baseline, Change, Op, TargetPlan};
use super::state::{DesiredTarget, MEMBER_ATTR, Object, ObjectKind, ObservedState};

/// `confirmed_deletions`: how many person deletions someone has confirmed past the
/// threshold (`--confirm-deletions`, or the operator's annotation).
/// Takes the desired state by value: its objects move into the plan's creates.
pub fn diff(
    desired: DesiredTarget,
    actual: &ObservedState,
    baseline: Baseline,
    confirmed_deletions: u32,
) -> TargetPlan {
    let frozen_people: BTreeSet<&str> = desired
        .frozen
        .iter()
        .filter(|k| k.kind == ObjectKind::Person)
        .map(|k| k.id.as_str())
        .collect();
    let kept = kept_for_frozen(&desired, actual, &frozen_people);
    let mut deletes = Vec::new();
    for (key, have) in &actual.objects {
        if !desired.objects.contains_key(key)
            && !desired.frozen.contains(key)
            && !kept.contains(key)
        {
            deletes.push(Op::Delete {
                key: key.clone(),
                depth: have.depth,
                locator: have.locator.clone(),
                source: have.source.clone(),
            });
        }
    }
    let mut ops = Vec::new();
    let mut unchanged = 0;
    let uncompared: BTreeSet<&str> = desired.gaps.iter().filter_map(|g| g.attr).collect();
    for (key, want) in desired.objects {
        if desired.frozen.contains(&key) {
            continue;
        }
        match actual.objects.get(&key) {
            // Never created, never compared, and not counted as held: only removed.
            _ if key.kind.only_removed() => {}
            None => ops.push(Op::Create { object: want }),
            Some(have) => {
                let changes = attr_changes(&want, have, &frozen_people, &uncompared);
                let moved = (want.parent != have.parent)
                    .then(|| (have.parent.clone(), want.parent.clone()));
                if changes.is_empty() && moved.is_none() {
                    unchanged += 1;
                } else {
                    ops.push(Op::Update {
                        key,
                        source: want.source.clone(),
                        depth: want.depth,
                        locator: have.locator.clone(),
                        version: have.version.clone(),
                        moved_from: moved.as_ref().map(|m| m.0.clone()),
                        moved_to: moved.map(|m| m.1),
                        changes,
                    });
                }
            }
        }
    }
    ops.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    deletes.sort_by(|a, b| a.order_key().cmp(&b.order_key()));

    // Fail closed: input that could not be read may have declared what would be removed.
    let mut held_unread = Vec::new();
    if !desired.unread.is_empty() {
        let (destructive, safe): (Vec<Op>, Vec<Op>) = ops.into_iter().partition(is_destructive);
        ops = safe;
        held_unread = destructive;
        held_unread.append(&mut deletes);
    }

    // The deletion guard: past either threshold, every deletion of this target is held.
    let people_now = actual
        .objects
        .keys()
        .filter(|k| k.kind == ObjectKind::Person)
        .count() as u64;
    let person_deletes = deletes
        .iter()
        .filter(|o| o.key().kind == ObjectKind::Person)
        .count() as u64;
    let policy = &desired.deletion;
    let over_count = person_deletes > u64::from(policy.max_per_sync);
    // One deletion is never a mass deletion, however small the target.
    let over_percent =
        person_deletes > 1 && person_deletes * 100 > u64::from(policy.max_percent) * people_now;
    let mut held = Vec::new();
    let mut held_reason = None;
    let over = over_count || over_percent;
    if over && u64::from(confirmed_deletions) < person_deletes {
        held_reason = Some(format!(
            "{person_deletes} of {people_now} people would be deleted, more than the tenant allows in one sync \
             (deletion.maxPerSync {}, maxPercent {}%); confirm {person_deletes} deletions to release them",
            policy.max_per_sync, policy.max_percent
        ));
        held = deletes;
    } else {
        ops.extend(deletes);
    }

    let released_by_confirmation = over && held.is_empty();
    TargetPlan {
        integration: desired.integration,
        tenant: desired.tenant,
        kind: desired.kind,
        role: desired.role,
        management: desired.management,
        baseline,
        ops,
        held,
        held_reason,
        held_unread,
        unread: desired.unread,
        gaps: desired.gaps,
        unchanged,
        // A frozen person counts once, whether or not their sessions are frozen with them.
        frozen: desired
            .frozen
            .iter()
            .filter(|k| k.kind != ObjectKind::Session)
            .count(),
        person_deletions: person_deletes as usize,
        released_by_confirmation,
    }
}

/// Objects no longer wanted that still hold something frozen, and so stay: a group with a
/// frozen member (a person left as they are keeps their groups), and a unit under which a
/// kept object sits (deleting it would strand or fail on its children).
fn kept_for_frozen(
    desired: &DesiredTarget,
    actual: &ObservedState,
    frozen_people: &BTreeSet<&str>,
) -> BTreeSet<super::state::ObjectKey> {
    use super::state::ObjectKey;
    let unwanted = |k: &ObjectKey| !desired.objects.contains_key(k) && !desired.frozen.contains(k);
    let mut kept: BTreeSet<ObjectKey> = actual
        .objects
        .values()
        .filter(|o| o.key.kind == ObjectKind::Group && unwanted(&o.key))
        .filter(|o| {
            o.attrs
                .get(MEMBER_ATTR)
                .is_some_and(|m| m.iter().any(|p| frozen_people.contains(p.as_str())))
        })
        .map(|o| o.key.clone())
        .collect();
    // Parents of whatever stays, up the tree (each step adds at least one unit, or stops).
    loop {
        let parents: BTreeSet<ObjectKey> = actual
            .objects
            .values()
            .filter(|o| !unwanted(&o.key) || kept.contains(&o.key))
            .filter_map(|o| o.parent.as_ref())
            .map(|p| ObjectKey::new(ObjectKind::Unit, p.clone()))
            .filter(|k| actual.objects.contains_key(k) && unwanted(k) && !kept.contains(k))
            .collect();
        if parents.is_empty() {
            return kept;
        }
        kept.extend(parents);
    }
}

/// Whether an operation takes something away: a deletion, a move, or an update that removes
/// or replaces a value (a group member, a feature, `active: true`). Creates and updates that
/// only add are not.
pub fn is_destructive(op: &Op) -> bool {
    match op {
        Op::Create { .. } => false,
        Op::Delete { .. } => true,
        Op::Update {
            moved_to, changes, ..
        } => {
            moved_to.is_some()
                || changes
                    .iter()
                    .any(|c| c.actual.iter().any(|v| !c.desired.contains(v)))
        }
    }
}

/// Attribute differences, treating every attribute as a set. Group members who are frozen
/// people keep their membership as it is; attributes the target cannot hold are not compared.
fn attr_changes(
    want: &Object,
    have: &Object,
    frozen_people: &BTreeSet<&str>,
    uncompared: &BTreeSet<&str>,
) -> Vec<Change> {
    let names: BTreeSet<&super::state::AttrName> = want
        .attrs
        .keys()
        .chain(have.attrs.keys())
        .filter(|n| !uncompared.contains(n.as_ref()))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let mut desired: BTreeSet<&String> = want.attrs.get(name).into_iter().flatten().collect();
        let actual: BTreeSet<&String> = have.attrs.get(name).into_iter().flatten().collect();
        if super::state::lists_people(want.key.kind, name) {
            desired.extend(actual.iter().filter(|m| frozen_people.contains(m.as_str())));
        }
        if desired != actual {
            out.push(Change {
                attr: name.to_string(),
                desired: desired.into_iter().cloned().collect(),
                actual: actual.into_iter().cloned().collect(),
                sensitive: want.sensitive.contains(name) || have.sensitive.contains(name),
            });
        }
    }
    out
}
