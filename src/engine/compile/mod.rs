//! `compile`: a snapshot of the four kinds plus today's date → every error, every policy
//! finding, the status each resource should show, and the desired state of every target.
//! Pure: no I/O, no clock of its own.
//!
//! The parts: `namespace` indexes the snapshot and sets aside what cannot be used;
//! `integrations` finds the systems that serve a tenant; `grants` checks each person with
//! the shared validator and resolves their units; `tenant` puts one tenant together.

mod grants;
mod integrations;
mod namespace;
mod tenant;

use jiff::civil::Date;
use serde::Serialize;

use crate::api::{Tenant, TenantCounts};

use super::kinds::Catalog;
use super::lifecycle::Lifecycle;
use super::problem::{ObjectRef, Problem, Violation};
use super::snapshot::Snapshot;
use super::state::DesiredTarget;
use namespace::Namespace;

/// Everything compile found out.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Bad input. Objects with problems are frozen: nothing downstream of them changes.
    pub problems: Vec<Problem>,
    pub violations: Vec<Violation>,
    pub tenants: Vec<TenantView>,
    pub targets: Vec<DesiredTarget>,
}

/// What a tenant's resources should report in status.
#[derive(Clone, Debug, Serialize)]
pub struct TenantView {
    pub object: ObjectRef,
    pub counts: TenantCounts,
    pub units: Vec<UnitView>,
    pub grants: Vec<GrantView>,
    /// Input left as it is downstream because of errors, and why.
    pub frozen: Vec<(ObjectRef, String)>,
    /// Objects of the tenant's namespace that exist but could not be read, and why: what
    /// they stand for is frozen, and the Tenant's status says so.
    pub unreadable: Vec<(ObjectRef, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnitView {
    pub object: ObjectRef,
    pub path: String,
    pub depth: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct GrantView {
    pub object: ObjectRef,
    pub unit: String,
    pub lifecycle: Lifecycle,
}

pub fn compile(snap: &Snapshot, today: Date, catalog: &dyn Catalog) -> Compiled {
    let mut out = Compiled::default();
    let namespaces = namespace::index(snap, &mut out.problems);
    // Tenants are independent: compile them on every core, merge in a fixed order.
    let work: Vec<(&Namespace, &str, &Tenant)> = namespaces
        .values()
        .flat_map(|ns| ns.tenants.iter().map(move |(name, t)| (ns, *name, *t)))
        .collect();
    for part in crate::par::map_ordered(&work, |(ns, name, tenant)| {
        tenant::compile_tenant(snap, catalog, ns, name, tenant, today)
    }) {
        out.problems.extend(part.problems);
        out.violations.extend(part.violations);
        out.tenants.extend(part.tenants);
        out.targets.extend(part.targets);
    }
    for p in &mut out.problems {
        if p.origin.is_none() {
            p.origin = p.object.as_ref().and_then(|o| snap.origin(o));
        }
    }
    out.problems.sort();
    out.problems.dedup();
    out.violations.sort();
    out
}
