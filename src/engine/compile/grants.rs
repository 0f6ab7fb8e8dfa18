//! A tenant's UserGrants: each checked by the shared validator, its units resolved in the org
//! tree, its national identity number read from its Secret, its lifecycle worked out. A grant
//! that cannot be used is frozen everywhere, with the reason.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::api::{LifecycleState, SharedAccounts, TenantSpec, UserGrant};
use crate::engine::build::ResolvedGrant;
use crate::engine::lifecycle::{AttestationState, Lifecycle, lifecycle};
use crate::engine::problem::{Kind, ObjectRef, Problem, Violation};
use crate::engine::snapshot::{Snapshot, object_ref};
use crate::engine::tree::{OrgTree, UnitNode};
use crate::engine::validator::{self, Duplicates, Policy, Rules};
use crate::validate::redact::Quoted;

use super::namespace::Namespace;
use super::{Compiled, GrantView, TenantView};

/// Why a grant is left as it is downstream (its own errors are reported apart).
pub struct FrozenBecause(String);

/// What a tenant's grants are compiled against.
pub struct Inputs<'a, 'n> {
    pub snap: &'a Snapshot,
    pub ns: &'n Namespace<'a>,
    pub tree: &'n OrgTree,
    pub tenant: &'a str,
    pub spec: &'a TenantSpec,
    pub policy: &'n Policy,
    pub today: Date,
    /// Some units could not be read or placed: sub-unit expansions cannot be trusted.
    pub tree_uncertain: bool,
    /// The kinds that serve the tenant: each may refuse values it cannot carry.
    pub kinds: Vec<&'n dyn crate::engine::kinds::TargetKind>,
}

/// The grants that can be used, and the people frozen because theirs cannot.
pub struct Grants<'n> {
    pub resolved: Vec<ResolvedGrant<'n>>,
    pub frozen_people: BTreeSet<String>,
}

pub fn compile_grants<'a: 'n, 'n>(
    cx: &Inputs<'a, 'n>,
    view: &mut TenantView,
    out: &mut Compiled,
) -> Grants<'n> {
    let mut resolved = Vec::new();
    let mut frozen_people = BTreeSet::new();
    let mut dups = Duplicates::default();
    for (name, g) in cx.ns.grants.iter().filter(|(_, g)| g.spec.tenant == cx.tenant) {
        view.counts.user_grants += 1;
        let gref = object_ref(Kind::UserGrant, *g);
        match one(cx, name, g, &gref, &mut dups, out) {
            Ok((r, life)) => {
                record(view, &gref, &r.home.name, &life);
                resolved.push(r);
            }
            Err(FrozenBecause(why)) => {
                frozen_people.insert(name.to_string());
                view.frozen.push((gref, why));
            }
        }
    }
    Grants {
        resolved,
        frozen_people,
    }
}

/// One grant and its lifecycle, or why it is frozen. Problems go to `out`.
fn one<'a: 'n, 'n>(
    cx: &Inputs<'a, 'n>,
    name: &'a str,
    g: &'a UserGrant,
    gref: &ObjectRef,
    dups: &mut Duplicates,
    out: &mut Compiled,
) -> Result<(ResolvedGrant<'n>, Lifecycle), FrozenBecause> {
    let before = out.problems.len();
    let gs = &g.spec;
    let rules = Rules {
        tenant: cx.tenant,
        spec: cx.spec,
        country: cx.policy.country,
        today: cx.today,
    };
    let (checked, mut problems) = validator::check_grant(gs, &rules);
    for kind in &cx.kinds {
        for (field, reason) in kind.check_grant(gs) {
            if !problems.iter().any(|(f, _)| f == &field) {
                problems.push((field, format!("{reason} ({} targets)", kind.kind().as_str())));
            }
        }
    }
    let failed = |field: &str| problems.iter().any(|(f, _)| f == field);
    // Only values that passed their own checks take part in the search for duplicates.
    let email = (!failed("spec.person.email")).then(|| checked.email.clone());
    let mut unique = gs.clone();
    if failed("spec.person.hsaId") {
        unique.person.hsa_id = None;
    }
    for (field, reason) in problems {
        out.problems.push(Problem::new(gref, field, reason));
    }
    let (national, unread_secret) = match national_id(cx, gs, gref, out) {
        Ok(n) => (n, None),
        Err(why) => (None, Some(why)),
    };
    let national_key = national
        .as_ref()
        .filter(|(_, valid)| *valid)
        .map(|(v, _)| v.as_str())
        .zip(cx.policy.country);
    let who = format!("UserGrant {name}");
    for (field, reason) in dups.check(&who, email.as_deref(), &unique, national_key) {
        out.problems.push(Problem::new(gref, field, reason));
    }
    let home = unit_of(cx, gref, "spec.unit", &gs.unit, out);
    let (expanded, scopes) = scopes(cx, gs, gref, out);
    if out.problems.len() > before {
        return Err(FrozenBecause("the UserGrant has errors".into()));
    }
    if let Some(why) = unread_secret {
        return Err(why);
    }
    let broken = "it refers to a unit that is missing or whose place in the org tree is broken";
    let expanded = match scopes {
        Scopes::Broken => return Err(FrozenBecause(broken.into())),
        Scopes::Uncertain => {
            return Err(FrozenBecause("a scope takes in sub-units, and some units of the org tree could not be read or placed".into()));
        }
        Scopes::Known => expanded,
    };
    let home = home.ok_or_else(|| FrozenBecause(broken.into()))?;
    let life = state(cx, g, gref, out);
    let resolved = ResolvedGrant {
        name,
        source: gref.clone(),
        spec: gs,
        state: life.state,
        home,
        phone: checked.phone,
        email: checked.email,
        national_id: national.map(|(v, _)| v),
        expanded_scopes: expanded,
    };
    Ok((resolved, life))
}

/// The national identity number from the Secret the grant names, and whether it is valid.
/// A Secret that could not be read carries its own error, once: the grant is frozen without
/// another.
fn national_id(
    cx: &Inputs,
    gs: &crate::api::UserGrantSpec,
    gref: &ObjectRef,
    out: &mut Compiled,
) -> Result<Option<(String, bool)>, FrozenBecause> {
    let Some(r) = &gs.person.national_id_ref else {
        return Ok(None);
    };
    let ns = cx.ns;
    let field = "spec.person.nationalIdRef";
    match cx.snap.secret_value(&ns.name, &r.secret_name, &r.key) {
        Err(_)
            if cx.snap.secret(&ns.name, &r.secret_name).is_none()
                && !ns.missing_is_error(Kind::Secret, &r.secret_name) =>
        {
            Err(FrozenBecause(format!("its Secret {} could not be read", Quoted(&r.secret_name))))
        }
        Err(why) => {
            out.problems.push(Problem::new(gref, field, why));
            Ok(None)
        }
        Ok(value) => {
            let source = format!("Secret {} key {}", Quoted(&r.secret_name), Quoted(&r.key));
            match validator::check_national_id(value, cx.policy.country, &source) {
                Ok(v) => Ok(Some((v, true))),
                Err(why) => {
                    out.problems.push(Problem::new(gref, field, why));
                    Ok(Some((value.trim().to_string(), false)))
                }
            }
        }
    }
}

enum Scopes {
    Known,
    Broken,
    /// A scope takes in sub-units, and some units could not be read or placed: the person
    /// would lose the ones missing from the expansion, so the grant waits instead.
    Uncertain,
}

/// Every unit the scopes reach, descendants expanded.
fn scopes(
    cx: &Inputs,
    gs: &crate::api::UserGrantSpec,
    gref: &ObjectRef,
    out: &mut Compiled,
) -> (BTreeSet<String>, Scopes) {
    let mut expanded = BTreeSet::new();
    let mut how = Scopes::Known;
    for (i, s) in gs.scopes.iter().enumerate() {
        match unit_of(cx, gref, &format!("spec.scopes[{i}].unit"), &s.unit, out) {
            Some(_) if s.include_descendants && cx.tree_uncertain => {
                if matches!(how, Scopes::Known) {
                    how = Scopes::Uncertain;
                }
            }
            Some(u) if s.include_descendants => {
                expanded.extend(cx.tree.subtree(&u.name).into_iter().map(String::from))
            }
            Some(u) => {
                expanded.insert(u.name.clone());
            }
            None => how = Scopes::Broken,
        }
    }
    (expanded, how)
}

/// Resolves a unit reference of a grant. Reports missing units and units of another tenant;
/// a unit with a broken place in the tree yields None without a problem of its own (the unit
/// carries it).
fn unit_of<'n>(
    cx: &Inputs<'_, 'n>,
    gref: &ObjectRef,
    field: &str,
    unit: &str,
    out: &mut Compiled,
) -> Option<&'n UnitNode> {
    let (ns, tree) = (cx.ns, cx.tree);
    if let Some(u) = tree.get(unit) {
        return Some(u);
    }
    if tree.broken.contains(unit)
        || (!ns.units.contains_key(unit) && !ns.missing_is_error(Kind::OrgUnit, unit))
    {
        return None;
    }
    let reason = match ns.units.get(unit) {
        Some(u) => format!(
            "OrgUnit {} belongs to tenant {}, not {}",
            Quoted(unit),
            Quoted(&u.spec.tenant),
            Quoted(cx.tenant)
        ),
        None => format!("OrgUnit {} does not exist in namespace {}", Quoted(unit), ns.name),
    };
    out.problems.push(Problem::new(gref, field, reason));
    None
}

/// The grant's lifecycle, with the tenant's shared-account policy applied.
fn state(cx: &Inputs, g: &UserGrant, gref: &ObjectRef, out: &mut Compiled) -> Lifecycle {
    let created = g
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_zoned(jiff::tz::TimeZone::UTC).date());
    let mut life = lifecycle(&g.spec, created, cx.policy.rule, cx.today);
    if g.spec.shared && cx.spec.policy.shared_accounts == SharedAccounts::Forbid {
        out.violations.push(Violation {
            object: gref.clone(),
            rule: "SharedAccountForbidden",
            message: format!(
                "a shared account, and Tenant {} forbids them (policy.sharedAccounts: Forbid); it is kept suspended",
                cx.tenant
            ),
        });
        if life.state == LifecycleState::Active {
            life.state = LifecycleState::Suspended;
            life.reason = "shared accounts are forbidden by the tenant policy".into();
        }
    }
    life
}

/// The status view and counts of one usable grant.
fn record(view: &mut TenantView, gref: &ObjectRef, unit: &str, life: &Lifecycle) {
    match life.attestation {
        AttestationState::Due => view.counts.attestation_due += 1,
        AttestationState::Overdue => view.counts.attestation_overdue += 1,
        AttestationState::Current => {}
    }
    match life.state {
        LifecycleState::Pending => view.counts.pending += 1,
        LifecycleState::Active => view.counts.active += 1,
        LifecycleState::Suspended => view.counts.suspended += 1,
        LifecycleState::Expired => view.counts.expired += 1,
        LifecycleState::Revoked => view.counts.revoked += 1,
    }
    view.grants.push(GrantView {
        object: gref.clone(),
        unit: unit.to_string(),
        lifecycle: life.clone(),
    });
}
