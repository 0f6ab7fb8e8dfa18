//! One tenant, put together: its policy read, its org tree, the Integrations that serve it,
//! its people checked, the administrator findings, and what each target should hold.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::api::{Integration, Tenant, TenantCounts, TenantSpec};
use crate::engine::build::{ResolvedGrant, TenantContext};
use crate::engine::kinds::Catalog;
use crate::engine::lifecycle::AttestationRule;
use crate::engine::problem::{Kind, ObjectRef, Problem, Violation};
use crate::engine::snapshot::{Snapshot, object_ref};
use crate::engine::state::{DesiredTarget, ObjectKey, ObjectKind, TargetRole};
use crate::engine::tree::{OrgTree, build_tree};
use crate::engine::validator::{self, Policy};
use crate::validate::redact::Quoted;

use super::grants::{Inputs, compile_grants};
use super::namespace::Namespace;
use super::{Compiled, TenantView, UnitView};

pub fn compile_tenant(
    snap: &Snapshot,
    catalog: &dyn Catalog,
    ns: &Namespace,
    name: &str,
    tenant: &Tenant,
    today: Date,
) -> Compiled {
    let mut out = Compiled::default();
    let tref = object_ref(Kind::Tenant, tenant);
    let spec = &tenant.spec;
    let policy = read_policy(&tref, spec, &mut out);
    let unreadable_units: BTreeSet<String> =
        ns.unusable_of(Kind::OrgUnit).map(|(n, _)| n.clone()).collect();
    let (tree, tree_problems) =
        build_tree(&ns.name, name, &ns.units, &unreadable_units, ns.may_hide);
    out.problems.extend(tree_problems);
    let mut view = view_of(snap, ns, &tref, &tree);
    if policy.is_none() {
        view.frozen.push((
            tref.clone(),
            "the Tenant has errors; none of its targets is planned".into(),
        ));
    }
    let serving = super::integrations::serving(catalog, snap, ns, &tref, name, spec, &mut out.problems);
    // A tenant whose policy cannot be read plans nothing at all (no guessing at defaults),
    // but its people are still checked so that every error shows at once.
    let checked_with = policy.clone().unwrap_or_else(|| fallback_policy(spec));
    let mut kinds: Vec<&dyn crate::engine::kinds::TargetKind> = Vec::new();
    for (i, _) in &serving {
        if let Some(k) = catalog.get(i.spec.kind)
            && !kinds.iter().any(|have| have.kind() == k.kind())
        {
            kinds.push(k);
        }
    }
    let cx = Inputs {
        snap,
        ns,
        tree: &tree,
        tenant: name,
        spec,
        policy: &checked_with,
        today,
        tree_uncertain: !unreadable_units.is_empty() || ns.may_hide || !tree.broken.is_empty(),
        kinds,
    };
    let mut grants = compile_grants(&cx, &mut view, &mut out);
    view.counts.admins = admin_findings(&tref, spec, &grants.resolved, &mut out.violations);
    let Some(policy) = policy else {
        out.tenants.push(view);
        return out;
    };
    // Grants and units that could not be used at all: frozen as well.
    for kind in [Kind::UserGrant, Kind::OrgUnit] {
        for (n, why) in ns.unusable_of(kind) {
            let r = ObjectRef::new(kind, &ns.name, n);
            if !view.frozen.iter().any(|(f, _)| f == &r) {
                view.frozen.push((r, why.clone()));
            }
        }
    }
    grants
        .frozen_people
        .extend(ns.unusable_of(Kind::UserGrant).map(|(n, _)| n.clone()));
    let frozen_units: BTreeSet<String> = tree.broken.union(&unreadable_units).cloned().collect();
    let directory = serving
        .iter()
        .find(|(_, role)| *role == TargetRole::Directory)
        .map(|(i, _)| *i);
    let ctx = TenantContext {
        name,
        namespace: &ns.name,
        snap,
        directory,
        spec,
        tree: &tree,
        login_methods: policy.login_methods.clone(),
        idle_timeout_secs: policy.idle,
        max_lifetime_secs: policy.lifetime,
    };
    for (integ, role) in serving {
        if let Some(t) = target(catalog, ns, &ctx, &grants.resolved, (integ, role), &grants.frozen_people, &frozen_units) {
            out.targets.push(t);
        }
    }
    out.tenants.push(view);
    out
}

/// The policy, or None (with its problems reported) when it cannot be read.
fn read_policy(tref: &ObjectRef, spec: &TenantSpec, out: &mut Compiled) -> Option<Policy> {
    let checked = validator::check_tenant(spec);
    for (field, reason) in checked.problems {
        out.problems.push(Problem::new(tref, field, reason));
    }
    for (rule, message) in checked.findings {
        out.violations.push(Violation {
            object: tref.clone(),
            rule,
            message,
        });
    }
    checked.policy
}

/// What the people of a tenant whose policy cannot be read are checked with.
fn fallback_policy(spec: &TenantSpec) -> Policy {
    Policy {
        rule: AttestationRule {
            interval_days: 90,
            grace_days: 14,
            on_overdue: crate::api::OnOverdue::Report,
        },
        idle: None,
        lifetime: None,
        login_methods: vec![],
        country: validator::country(spec).ok().flatten(),
    }
}

/// The tenant's status view before its people: units, and what could not be read or placed.
fn view_of(snap: &Snapshot, ns: &Namespace, tref: &ObjectRef, tree: &OrgTree) -> TenantView {
    let mut view = TenantView {
        object: tref.clone(),
        counts: TenantCounts::default(),
        units: vec![],
        grants: vec![],
        frozen: vec![],
        unreadable: snap
            .unreadable
            .iter()
            .filter(|(r, _)| r.namespace == ns.name)
            .map(|(r, why)| (r.clone(), why.clone()))
            .collect(),
    };
    view.counts.org_units = (tree.units.len() + tree.broken.len()) as u32;
    for u in tree.units.values() {
        view.units.push(UnitView {
            object: ObjectRef::new(Kind::OrgUnit, &ns.name, &u.name),
            path: u.path.clone(),
            depth: u.depth,
        });
    }
    for b in &tree.broken {
        view.frozen.push((
            ObjectRef::new(Kind::OrgUnit, &ns.name, b),
            "its place in the org tree is broken".into(),
        ));
    }
    view
}

/// At least minAdmins active holders of each admin role. Returns how many active people hold
/// an admin role.
fn admin_findings(
    tref: &ObjectRef,
    spec: &TenantSpec,
    resolved: &[ResolvedGrant],
    violations: &mut Vec<Violation>,
) -> u32 {
    let admin_roles: Vec<&str> = spec
        .roles
        .iter()
        .filter(|r| r.admin)
        .map(|r| r.name.as_str())
        .collect();
    let holds = |g: &ResolvedGrant, role: &str| g.has_access() && g.spec.roles.iter().any(|r| r == role);
    let admins = resolved
        .iter()
        .filter(|g| admin_roles.iter().any(|role| holds(g, role)))
        .count() as u32;
    let min = spec.policy.min_admins;
    let mut finding = |message: String| {
        violations.push(Violation {
            object: tref.clone(),
            rule: "TooFewAdmins",
            message,
        })
    };
    if admin_roles.is_empty() && min > 0 {
        finding(format!(
            "the policy asks for at least {min} administrators, but no role is marked admin: true, so no one counts as one"
        ));
    }
    for role in &admin_roles {
        let holders = resolved.iter().filter(|g| holds(g, role)).count() as u32;
        if holders < min {
            finding(format!(
                "admin role {} is held by {holders} active people; the policy asks for at least {min}",
                Quoted(role)
            ));
        }
    }
    admins
}

/// What one Integration should hold, with what is frozen in it and what holds its removals.
fn target(
    catalog: &dyn Catalog,
    ns: &Namespace,
    ctx: &TenantContext,
    resolved: &[ResolvedGrant],
    (integ, role): (&Integration, TargetRole),
    frozen_people: &BTreeSet<String>,
    frozen_units: &BTreeSet<String>,
) -> Option<DesiredTarget> {
    let kind = catalog.get(integ.spec.kind)?;
    let objects = kind.build(ctx, resolved, integ);
    let mut frozen: BTreeSet<ObjectKey> = frozen_people
        .iter()
        .map(|p| ObjectKey::new(ObjectKind::Person, p))
        .collect();
    if role == TargetRole::Idp {
        // A frozen person's live sessions stay as they are, too.
        frozen.extend(frozen_people.iter().map(|p| ObjectKey::new(ObjectKind::Session, p)));
    }
    if role == TargetRole::Directory {
        frozen.extend(frozen_units.iter().map(|u| ObjectKey::new(ObjectKind::Unit, u)));
    }
    Some(DesiredTarget {
        integration: object_ref(Kind::Integration, integ),
        tenant: ctx.name.to_string(),
        kind: integ.spec.kind,
        role,
        management: integ.spec.sync.management.unwrap_or(ctx.spec.policy.management),
        deletion: ctx.spec.policy.deletion.clone(),
        objects: objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
        frozen,
        unread: ns.held_by.clone(),
        gaps: kind.cannot_express(ctx, integ),
    })
}
