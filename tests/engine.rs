//! The pure engine: compile rules and diff properties, with no I/O.

mod support;

use std::collections::BTreeMap;

use accord::api::{DeletionPolicy, IntegrationKind, LifecycleState, ManagementMode};
use accord::engine::plan::{Baseline, Op, apply_in_memory};
use accord::engine::{
    Compiled, DesiredTarget, Kind, Object, ObjectKey, ObjectKind, ObjectRef, ObservedState,
    TargetRole, compile, diff, make_plan,
};
use accord::manifests::{Loaded, load_text};
use jiff::civil::{Date, date};

const TODAY: Date = date(2026, 11, 22);

fn compile_yaml(yaml: &str) -> Compiled {
    let mut loaded = Loaded::default();
    load_text("test.yaml", yaml, "default", &mut loaded);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    compile(&loaded.snapshot, TODAY, accord::connectors::registry())
}

fn with_base(extra: &str) -> Compiled {
    compile_yaml(&format!("{}\n---\n{extra}", support::BASE))
}

fn target<'a>(c: &'a Compiled, name: &str) -> &'a DesiredTarget {
    c.targets
        .iter()
        .find(|t| t.integration.name == name)
        .unwrap_or_else(|| panic!("no target {name}"))
}

fn person(c: &Compiled, id: &str) -> Option<Object> {
    c.targets[0]
        .objects
        .get(&ObjectKey::new(ObjectKind::Person, id))
        .cloned()
}

fn group_members(c: &Compiled, id: &str) -> Vec<String> {
    c.targets[0].objects[&ObjectKey::new(ObjectKind::Group, id)]
        .attrs
        .get("member")
        .cloned()
        .unwrap_or_default()
}

// ---------- compile ----------

#[test]
fn directory_state_from_the_base_tenant() {
    let c = with_base("");
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let t = target(&c, "acme-ldap");
    assert_eq!(t.role, TargetRole::Directory);
    let anna = person(&c, "anna").unwrap();
    assert_eq!(anna.parent.as_deref(), Some("helsinki"));
    assert_eq!(anna.get("cn"), Some("Anna Virtanen"));
    assert_eq!(anna.get("mail"), Some("anna@acme.fi"));
    let helsinki = &t.objects[&ObjectKey::new(ObjectKind::Unit, "helsinki")];
    assert_eq!(
        (helsinki.parent.as_deref(), helsinki.depth),
        (Some("root"), 1)
    );
    assert_eq!(group_members(&c, "role-admin"), vec!["anna", "liisa"]);
    assert_eq!(group_members(&c, "feature-messaging"), vec!["anna"]);
    assert!(
        group_members(&c, "feature-documents").is_empty(),
        "declared features get a group even when empty"
    );
    let view = &c.tenants[0];
    assert_eq!(
        view.units
            .iter()
            .find(|u| u.object.name == "helsinki")
            .unwrap()
            .path,
        "acme/helsinki"
    );
    assert_eq!(
        (
            view.counts.user_grants,
            view.counts.active,
            view.counts.admins
        ),
        (2, 2, 2)
    );
}

#[test]
fn scopes_with_descendants_expand_to_the_subtree() {
    let c = compile_yaml(&format!(
        "{}\n---\n{}",
        support::BASE.replace(
            "integrations: {directory: acme-ldap}",
            "integrations: {directory: acme-ldap, extranet: [acme-scim]}"
        ),
        "apiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {name: acme-scim, namespace: t}\nspec: {tenant: acme, kind: scim, endpoint: 'http://127.0.0.1:1/scim/v2'}\n\
         ---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {name: kallio, namespace: t}\nspec: {tenant: acme, displayName: Kallio, parent: helsinki}\n"
    ));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let scim = target(&c, "acme-scim");
    let liisa = &scim.objects[&ObjectKey::new(ObjectKind::Person, "liisa")];
    assert_eq!(
        liisa.attrs["entitlements"],
        vec!["helsinki", "kallio", "root"]
    );
    assert_eq!(liisa.get("active"), Some("true"));
    assert_eq!(
        liisa.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        Some("acme")
    );
}

const EXTRA: &str = "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: pekka, namespace: t}\nspec:\n  tenant: acme\n  person: {givenName: Pekka, familyName: Puu, email: pekka@acme.fi}\n  unit: helsinki\n  roles: [employee]\n  features: [messaging]\n";

#[test]
fn lifecycle_decides_presence_and_group_membership() {
    let expired = with_base(&format!("{EXTRA}  validUntil: 2026-10-31\n"));
    let g = expired.tenants[0]
        .grants
        .iter()
        .find(|g| g.object.name == "pekka")
        .unwrap();
    assert_eq!(g.lifecycle.state, LifecycleState::Expired);
    assert!(
        person(&expired, "pekka").is_some(),
        "RemoveFromGroups keeps the entry"
    );
    assert!(
        !group_members(&expired, "feature-messaging").contains(&"pekka".to_string()),
        "but out of every group"
    );

    let moved = compile_yaml(&format!(
        "{}\n---\n{EXTRA}  suspended: true\n",
        support::BASE.replace(
            "baseDN: \"dc=acme,dc=fi\"",
            "baseDN: \"dc=acme,dc=fi\", disabled: MoveToBranch"
        )
    ));
    assert_eq!(
        person(&moved, "pekka").unwrap().parent.as_deref(),
        Some(":disabled")
    );

    let deleted = compile_yaml(&format!(
        "{}\n---\n{EXTRA}  suspended: true\n",
        support::BASE.replace(
            "baseDN: \"dc=acme,dc=fi\"",
            "baseDN: \"dc=acme,dc=fi\", disabled: Delete"
        )
    ));
    assert!(person(&deleted, "pekka").is_none());

    let pending = with_base(&format!("{EXTRA}  validFrom: 2027-01-01\n"));
    assert!(
        person(&pending, "pekka").is_none(),
        "not provisioned before validFrom"
    );
}

#[test]
fn attestation_overdue_applies_the_policy_action() {
    let base = support::BASE.replace(
        "    minAdmins: 2",
        "    minAdmins: 2\n    attestation: {interval: 90d, gracePeriod: 14d, onOverdue: Revoke}",
    );
    let c = compile_yaml(&format!(
        "{base}\n---\n{EXTRA}  attestation: {{lastAttested: 2026-07-01, attestedBy: liisa@acme.fi}}\n"
    ));
    let g = c.tenants[0]
        .grants
        .iter()
        .find(|g| g.object.name == "pekka")
        .unwrap();
    assert_eq!(g.lifecycle.state, LifecycleState::Revoked);
    assert_eq!(g.lifecycle.attestation_due, date(2026, 9, 29));
    assert_eq!(c.tenants[0].counts.attestation_overdue, 1);
    assert!(person(&c, "pekka").is_none(), "revoked people are removed");
}

#[test]
fn policy_too_few_admins() {
    let c = with_base("").tenants.len();
    assert_eq!(c, 1);
    let one_admin = compile_yaml(&support::BASE.replace(
        "  roles: [admin]\n  scopes",
        "  roles: [employee]\n  scopes",
    ));
    let v: Vec<String> = one_admin.violations.iter().map(|v| v.to_string()).collect();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].contains("TooFewAdmins") && v[0].contains("held by 1 active people"),
        "{}",
        v[0]
    );
}

#[test]
fn min_admins_without_any_admin_role_is_a_finding() {
    let no_admin_role = compile_yaml(
        &support::BASE.replace("    - {name: admin, admin: true}\n", "    - {name: admin}\n"),
    );
    let v: Vec<String> = no_admin_role.violations.iter().map(|v| v.to_string()).collect();
    assert!(
        v.iter().any(|v| v.contains("TooFewAdmins") && v.contains("no role is marked admin")),
        "{v:?}"
    );
}

#[test]
fn policy_shared_accounts() {
    let forbidden = with_base(&format!("{EXTRA}  shared: true\n"));
    assert!(
        forbidden
            .violations
            .iter()
            .any(|v| v.rule == "SharedAccountForbidden" && v.object.name == "pekka")
    );
    let g = forbidden.tenants[0]
        .grants
        .iter()
        .find(|g| g.object.name == "pekka")
        .unwrap();
    assert_eq!(g.lifecycle.state, LifecycleState::Suspended);

    let allowed = compile_yaml(&format!(
        "{}\n---\n{EXTRA}  shared: true\n",
        support::BASE.replace(
            "    minAdmins: 2",
            "    minAdmins: 2\n    sharedAccounts: Allow"
        )
    ));
    assert!(allowed.violations.is_empty(), "{:?}", allowed.violations);
}

#[test]
fn policy_login_methods_below_the_minimum_level_are_left_out_of_the_idp() {
    let base = support::BASE
        .replace("integrations: {directory: acme-ldap}", "integrations: {directory: acme-ldap, idp: acme-idp}")
        .replace(
            "    minAdmins: 2",
            "    minAdmins: 2\n    login: {methods: [password, suomifi], minimumLevel: substantial}\n    session: {idleTimeout: 10m, maxLifetime: 90m}",
        );
    let c = compile_yaml(&format!(
        "{base}\n---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: acme-idp, namespace: t}}\nspec: {{tenant: acme, kind: lemonldap, endpoint: 'http://127.0.0.1:1', lemonldap: {{clientId: portal}}}}\n"
    ));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert!(c.violations.iter().any(|v| v.rule == "LoginMethodBelowMinimumLevel" && v.message.contains("\"password\"")));
    let idp = target(&c, "acme-idp");
    let client = &idp.objects[&ObjectKey::new(ObjectKind::Client, "portal")];
    assert_eq!(client.attrs["loginMethods"], vec!["suomifi"]);
    assert_eq!(client.get("idleTimeoutSeconds"), Some("600"));
    assert_eq!(client.get("maxLifetimeSeconds"), Some("5400"));
}

#[test]
fn integration_of_the_wrong_kind_for_its_role() {
    let c = compile_yaml(&support::BASE.replace(
        "integrations: {directory: acme-ldap}",
        "integrations: {extranet: [acme-ldap]}",
    ));
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert!(c.problems[0].to_string().contains("spec.integrations.extranet[0]: Integration \"acme-ldap\" is of kind ldap, which cannot serve as Extranet"));
}

// ---------- diff ----------

fn desired_target(objects: Vec<Object>) -> DesiredTarget {
    DesiredTarget {
        integration: ObjectRef::new(Kind::Integration, "t", "x"),
        tenant: "t".into(),
        kind: IntegrationKind::Ldap,
        role: TargetRole::Directory,
        management: ManagementMode::Enforce,
        deletion: DeletionPolicy {
            max_per_sync: 25,
            max_percent: 10,
        },
        objects: objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
        frozen: Default::default(),
        unread: Vec::new(),
        gaps: Vec::new(),
    }
}

/// A small deterministic generator, so that failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_objects(rng: &mut Rng) -> Vec<Object> {
    let mut out = Vec::new();
    for i in 0..rng.below(12) {
        let kind = [ObjectKind::Unit, ObjectKind::Person, ObjectKind::Group][rng.below(3) as usize];
        let mut o = Object::new(kind, format!("o{}", i + rng.below(4)));
        if rng.below(2) == 0 {
            o.parent = Some(format!("u{}", rng.below(3)));
        }
        for a in 0..rng.below(4) {
            let values: Vec<String> = (0..rng.below(3))
                .map(|v| format!("v{}", v + rng.below(3)))
                .collect();
            o.set_many(format!("a{a}"), values);
        }
        out.push(o);
    }
    out
}

#[test]
fn applying_a_plan_yields_the_desired_state_and_equal_states_diff_empty() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    for round in 0..2000 {
        let desired = desired_target(random_objects(&mut rng));
        let actual = ObservedState::from_objects(random_objects(&mut rng));
        let mut d = desired.clone();
        d.deletion = DeletionPolicy {
            max_per_sync: 1000,
            max_percent: 100,
        };
        let plan = diff(d.clone(), &actual, Baseline::Live, 0);
        let after = apply_in_memory(&actual, &plan);
        let want = ObservedState::from_objects(d.objects.values().cloned());
        let strip = |s: &ObservedState| {
            s.objects
                .values()
                .map(|o| (o.key.clone(), o.parent.clone(), o.attrs.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(&after),
            strip(&want),
            "round {round}: apply(diff(d, a), a) == d"
        );
        let again = diff(d.clone(), &after, Baseline::Live, 0);
        assert!(
            again.ops.is_empty() && again.held.is_empty(),
            "round {round}: diff of equal states is empty: {:?}",
            again.ops
        );
        // Ordering: every create or update comes before every delete.
        let first_delete = plan
            .ops
            .iter()
            .position(|o| matches!(o, Op::Delete { .. }))
            .unwrap_or(plan.ops.len());
        assert!(
            plan.ops[first_delete..]
                .iter()
                .all(|o| matches!(o, Op::Delete { .. })),
            "round {round}"
        );
    }
}

#[test]
fn updates_name_object_and_field() {
    let mut want = Object::new(ObjectKind::Person, "anna");
    want.set("telephoneNumber", "+358401234567")
        .set("mail", "anna@acme.fi");
    let mut have = want.clone();
    have.set("telephoneNumber", "+358409999999");
    let plan = diff(
        desired_target(vec![want]),
        &ObservedState::from_objects([have]),
        Baseline::Live,
        0,
    );
    match &plan.ops[..] {
        [Op::Update { key, changes, .. }] => {
            assert_eq!(key, &ObjectKey::new(ObjectKind::Person, "anna"));
            assert_eq!(changes.len(), 1);
            assert_eq!(
                (
                    changes[0].attr.as_str(),
                    changes[0].desired[0].as_str(),
                    changes[0].actual[0].as_str()
                ),
                ("telephoneNumber", "+358401234567", "+358409999999")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn children_are_created_after_parents_and_deleted_before_them() {
    let mut root = Object::new(ObjectKind::Unit, "root");
    root.depth = 0;
    let mut child = Object::new(ObjectKind::Unit, "child");
    child.parent = Some("root".into());
    child.depth = 1;
    let mut p = Object::new(ObjectKind::Person, "p");
    p.parent = Some("child".into());
    let g = Object::new(ObjectKind::Group, "g");
    let plan = diff(
        desired_target(vec![g.clone(), p.clone(), child.clone(), root.clone()]),
        &ObservedState::default(),
        Baseline::Live,
        0,
    );
    let ids: Vec<&str> = plan.ops.iter().map(|o| o.key().id.as_str()).collect();
    assert_eq!(ids, vec!["root", "child", "p", "g"]);
    let removal = diff(
        desired_target(vec![]),
        &ObservedState::from_objects([root, child, p, g]),
        Baseline::Live,
        1,
    );
    let ids: Vec<&str> = removal.ops.iter().map(|o| o.key().id.as_str()).collect();
    assert_eq!(ids, vec!["g", "p", "child", "root"]);
}

fn people(n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| Object::new(ObjectKind::Person, format!("p{i:03}")))
        .collect()
}

#[test]
fn deletions_past_the_threshold_are_held_until_confirmed() {
    let actual = ObservedState::from_objects(people(100));
    let keep: Vec<Object> = people(100).into_iter().skip(30).collect();
    let d = desired_target(keep.clone());
    let plan = diff(d.clone(), &actual, Baseline::Live, 0);
    assert!(plan.ops.is_empty(), "nothing else to do");
    assert_eq!(plan.held.len(), 30);
    assert!(
        plan.held_reason
            .as_deref()
            .unwrap()
            .contains("30 of 100 people")
    );
    let confirmed = diff(d, &actual, Baseline::Live, 30);
    assert_eq!((confirmed.ops.len(), confirmed.held.len()), (30, 0));

    // Within both limits: 9 of 100 (under 10%) and under 25.
    let few = desired_target(people(100).into_iter().skip(9).collect());
    let plan = diff(few, &actual, Baseline::Live, 0);
    assert_eq!((plan.ops.len(), plan.held.len()), (9, 0));
    // A single deletion is never held, even in a tiny target.
    let tiny = diff(
        desired_target(people(2).into_iter().skip(1).collect()),
        &ObservedState::from_objects(people(2)),
        Baseline::Live,
        0,
    );
    assert_eq!((tiny.ops.len(), tiny.held.len()), (1, 0));
}

#[test]
fn frozen_objects_are_neither_changed_nor_deleted_and_keep_their_groups() {
    let mut group = Object::new(ObjectKind::Group, "role-admin");
    group.set_many("member", ["anna"]);
    let mut d = desired_target(vec![group.clone()]);
    d.frozen.insert(ObjectKey::new(ObjectKind::Person, "bad"));
    let mut have_group = group.clone();
    have_group.set_many("member", ["anna", "bad", "gone"]);
    let actual = ObservedState::from_objects([
        Object::new(ObjectKind::Person, "bad"),
        Object::new(ObjectKind::Person, "gone"),
        have_group,
    ]);
    let plan = diff(d, &actual, Baseline::Live, 0);
    let deletes: Vec<&str> = plan
        .ops
        .iter()
        .filter(|o| matches!(o, Op::Delete { .. }))
        .map(|o| o.key().id.as_str())
        .collect();
    assert_eq!(deletes, vec!["gone"]);
    let Some(Op::Update { changes, .. }) = plan.ops.iter().find(|o| o.key().id == "role-admin")
    else {
        panic!("{:?}", plan.ops)
    };
    assert_eq!(
        changes[0].desired,
        vec!["anna", "bad"],
        "the frozen person stays a member; the deleted one goes"
    );
}

#[test]
fn an_unreadable_grant_is_frozen_not_deleted() {
    let mut loaded = Loaded::default();
    load_text("base.yaml", support::BASE, "default", &mut loaded);
    load_text(
        "bad.yaml",
        "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: olli, namespace: t}\nspec: {tenant: acme, unit: root, suspended: maybe}\n",
        "default",
        &mut loaded,
    );
    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    let c = compile(&loaded.snapshot, TODAY, accord::connectors::registry());
    // olli was provisioned earlier; his manifest is now unreadable.
    let actual = ObservedState::from_objects([Object::new(ObjectKind::Person, "olli")]);
    let observed = BTreeMap::from([(c.targets[0].integration.clone(), Ok(actual))]);
    let plan = make_plan(c, &observed, &BTreeMap::new());
    assert!(
        !plan.targets[0].ops.iter().any(|o| o.key().id == "olli"),
        "olli is left as he is: {:?}",
        plan.targets[0].ops
    );
    assert!(plan.tenants[0].frozen.iter().any(|(r, _)| r.name == "olli"));
}

#[test]
fn an_object_defined_twice_is_an_error_naming_the_first() {
    let mut loaded = Loaded::default();
    load_text("a.yaml", support::BASE, "default", &mut loaded);
    load_text(
        "b.yaml",
        "apiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {name: root, namespace: t}\nspec: {tenant: acme, displayName: Again}\n",
        "default",
        &mut loaded,
    );
    assert_eq!(loaded.problems.len(), 1);
    assert!(
        loaded.problems[0].to_string().starts_with(
            "b.yaml:1: OrgUnit t/root: metadata.name: is defined twice (first at a.yaml:"
        ),
        "{}",
        loaded.problems[0]
    );
}

#[test]
fn observe_mode_reports_but_does_not_write() {
    let mut d = desired_target(people(3));
    d.management = ManagementMode::Observe;
    let plan = diff(d, &ObservedState::default(), Baseline::Live, 0);
    assert_eq!(plan.ops.len(), 3, "drift is still reported");
    assert!(!plan.will_write());
    let whole = accord::engine::Plan::new(vec![], vec![plan], vec![], vec![]);
    assert_eq!(whole.exit_code(), 0);
    assert!(whole.render_text(false).contains("Observe: reported only"));
}

#[test]
fn sensitive_values_are_masked_in_text_json_and_debug() {
    let mut o = Object::new(ObjectKind::Person, "anna");
    o.set_sensitive("nationalId", "131052-308T");
    let mut have = o.clone();
    have.set_sensitive("nationalId", "010594Y9032");
    let plan = diff(
        desired_target(vec![o.clone()]),
        &ObservedState::from_objects([have]),
        Baseline::Live,
        0,
    );
    let created = diff(
        desired_target(vec![o.clone()]),
        &ObservedState::default(),
        Baseline::Live,
        0,
    );
    let whole = accord::engine::Plan::new(vec![], vec![plan, created], vec![], vec![]);
    for out in [whole.render_text(true), whole.to_json(), format!("{o:?}")] {
        assert!(
            !out.contains("131052-308T") && !out.contains("010594Y9032"),
            "{out}"
        );
        assert!(out.contains("(sensitive)"), "{out}");
    }
}
