//! A new kind of downstream system is one type and one registry line: this stub, kept in
//! memory, serves as the example tenant's IdP through `Registry::standard().with(&STUB)`
//! and nothing else, and the same plan → decide → apply path that drives LDAP, SCIM and
//! webhooks drives it: it receives exactly the plan's operations, a second round finds
//! nothing to do, and deleting its Integration cleans it up.

use std::collections::BTreeMap;
use std::sync::Mutex;

use accord::api::{Integration, IntegrationKind};
use accord::connectors::{
    ApplyOptions, ApplyReport, Connector, ConnectorKind, Registry, TargetError, find_integration,
};
use accord::engine::build::{ResolvedGrant, TenantContext};
use accord::engine::decide::{self, Action};
use accord::engine::kinds::TargetKind;
use accord::engine::plan::{TargetPlan, apply_in_memory};
use accord::engine::state::{Object, ObjectKind, ObservedState, TargetRole};
use accord::engine::{Snapshot, compile, make_plan};
use futures::future::BoxFuture;

/// An IdP that keeps what it is given.
struct Stub {
    held: Mutex<ObservedState>,
    applied: Mutex<Vec<usize>>,
}

static STUB: Stub = Stub {
    held: Mutex::new(ObservedState {
        objects: BTreeMap::new(),
    }),
    applied: Mutex::new(Vec::new()),
};

impl TargetKind for Stub {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Keycloak
    }
    fn serves(&self) -> &'static [TargetRole] {
        &[TargetRole::Idp]
    }
    fn schemes(&self) -> &'static [&'static str] {
        &["https"]
    }
    fn build(&self, ctx: &TenantContext, grants: &[ResolvedGrant], _: &Integration) -> Vec<Object> {
        grants
            .iter()
            .filter(|g| g.has_access())
            .map(|g| {
                let mut o = Object::new(ObjectKind::Person, g.name);
                o.set("tenant", ctx.name).set("email", &g.email);
                o
            })
            .collect()
    }
}

impl ConnectorKind for Stub {
    fn connect(&self, _: &Integration, _: &Snapshot) -> Result<Box<dyn Connector>, TargetError> {
        Ok(Box::new(Handle))
    }
}

struct Handle;

impl Connector for Handle {
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>> {
        Box::pin(async { Ok(STUB.held.lock().unwrap().clone()) })
    }
    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        _: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport> {
        Box::pin(async move {
            *STUB.held.lock().unwrap() = apply_in_memory(observed, plan);
            STUB.applied.lock().unwrap().push(plan.ops.len());
            let mut report = ApplyReport::new(&plan.integration);
            for op in &plan.ops {
                report.succeeded(op.key().clone(), 1);
            }
            report
        })
    }
}

/// One round of what `accord apply` does, for the IdP target only.
fn round(registry: &Registry, snap: &Snapshot) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut compiled = compile(snap, jiff::civil::date(2026, 11, 22), registry);
    compiled.targets.retain(|t| t.role == TargetRole::Idp);
    let observed = rt.block_on(registry.observe_all(&compiled.targets, snap));
    let plan = make_plan(compiled, &observed, &BTreeMap::new());
    let tp = &plan.targets[0];
    let Action::Apply { .. } = decide::action(tp, false) else {
        return 0;
    };
    let i = find_integration(snap, &tp.integration).unwrap();
    let c = registry.connect(i, snap).unwrap();
    let report = rt.block_on(c.apply(tp, observed[&tp.integration].as_ref().unwrap(), ApplyOptions::default()));
    report.succeeded
}

#[test]
fn a_stub_kind_registered_with_one_line_is_planned_applied_and_cleaned_up() {
    let registry = Registry::standard().with(&STUB); // the one line
    let loaded = accord::manifests::load_paths(&[support_examples().join("fi-acme")], "default");
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let mut snap = loaded.snapshot;
    // The example's IdP, as the stub's kind.
    for i in &mut snap.integrations {
        if i.metadata.name.as_deref() == Some("acme-idp") {
            i.spec.kind = IntegrationKind::Keycloak;
            i.spec.keycloak = i.spec.lemonldap.take();
        }
    }
    let created = round(&registry, &snap);
    assert!(created > 10, "the stub got the active people: {created}");
    assert_eq!(STUB.held.lock().unwrap().objects.len(), created);
    assert_eq!(round(&registry, &snap), 0, "a second round has nothing to do");

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let actual = STUB.held.lock().unwrap().clone();
    let r = accord::engine::ObjectRef::new(accord::engine::Kind::Integration, "customer-acme", "acme-idp");
    let cleanup = decide::cleanup_plan(r, "acme", IntegrationKind::Keycloak, &actual);
    let c = registry.connect(snap.integrations.iter().find(|i| i.metadata.name.as_deref() == Some("acme-idp")).unwrap(), &snap).unwrap();
    rt.block_on(c.apply(&cleanup, &actual, ApplyOptions::default()));
    assert!(STUB.held.lock().unwrap().objects.is_empty(), "cleaned up");
    assert_eq!(STUB.applied.lock().unwrap().len(), 2);
}

fn support_examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}
