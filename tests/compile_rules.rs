//! One compile rule each, checked directly on `load_text` + `compile` (no binary): a broken
//! manifest gives exactly one problem naming the file and line, the object, the field and
//! the reason, and that object is left as it is downstream while the rest is compiled.
//! tests/plan_cli.rs keeps the few checks that need the binary (exit codes, output).

mod support;

use accord::engine::{Compiled, Kind, ObjectKey, ObjectKind, ObjectRef, Problem, compile};
use accord::manifests::{Loaded, load_text};
use jiff::civil::date;
use support::BASE;

/// BASE plus `bad` (as more/bad.yaml), loaded and compiled; every problem of both steps.
fn compile_with(bad: &str) -> (Vec<Problem>, Compiled, Loaded) {
    let mut loaded = Loaded::default();
    load_text("base.yaml", BASE, "default", &mut loaded);
    load_text("more/bad.yaml", bad, "default", &mut loaded);
    let compiled = compile(
        &loaded.snapshot,
        date(2026, 11, 22),
        accord::connectors::registry(),
    );
    let mut problems = loaded.problems.clone();
    problems.extend(compiled.problems.iter().cloned());
    (problems, compiled, loaded)
}

/// Exactly one problem, naming file:line, object, field and reason; the object is frozen or
/// unreadable, and the base tenant's people are still compiled.
fn assert_one_error(bad: &str, object: &str, field: &str, reason: &str) {
    let (problems, compiled, loaded) = compile_with(bad);
    assert_eq!(problems.len(), 1, "{object}: exactly one problem: {problems:#?}");
    let p = &problems[0];
    let line = p.to_string();
    assert!(
        p.origin.as_deref().is_some_and(|o| o.starts_with("more/bad.yaml:")),
        "names the file and line: {line}"
    );
    assert!(line.contains(object), "names {object}: {line}");
    assert_eq!(p.field, field, "names the field: {line}");
    assert!(line.contains(reason), "says {reason:?}: {line}");

    let r = p.object.clone().expect("the problem names its object");
    let frozen = compiled.tenants.iter().any(|t| t.frozen.iter().any(|(o, _)| *o == r));
    let unreadable = loaded.snapshot.unreadable.contains_key(&r);
    // A Tenant outside its CRD's limits is set aside whole: no view, no target.
    let set_aside = r.kind == Kind::Tenant
        && !compiled.tenants.iter().any(|t| t.object == r)
        && !compiled.targets.iter().any(|t| t.tenant == r.name);
    assert!(frozen || unreadable || set_aside, "{r} is left as it is downstream");
    let person = |id: &str| {
        compiled
            .targets
            .iter()
            .any(|t| t.objects.contains_key(&ObjectKey::new(ObjectKind::Person, id)))
    };
    // An unreadable Tenant may be the tenant of anything in its namespace: all of it holds.
    if r.kind != Kind::Tenant {
        assert!(person("anna"), "the valid grants are still compiled");
    }
    if r.kind == Kind::UserGrant {
        assert!(!person(&r.name), "{r} is not planned");
    }
}

const GRANT_HEAD: &str = "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: bad, namespace: t}\nspec:\n";
const PERSON: &str = "  person: {givenName: Bea, familyName: Bad, email: bea@acme.fi}\n";

fn grant(body: &str) -> String {
    format!("{GRANT_HEAD}{body}")
}

fn acme_grant(extra: &str) -> String {
    grant(&format!("  tenant: acme\n{PERSON}  unit: root\n{extra}"))
}

#[test]
fn unit_cycle() {
    let bad = "apiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {name: a, namespace: t}\nspec: {tenant: acme, displayName: A, parent: b}\n---\n\
               apiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {name: b, namespace: t}\nspec: {tenant: acme, displayName: B, parent: a}\n";
    assert_one_error(bad, "OrgUnit t/a", "spec.parent", "cycle: a → b → a");
}

#[test]
fn scope_to_missing_unit() {
    let bad = acme_grant("  scopes: [{unit: ghost, includeDescendants: true}]\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.scopes[0].unit", "OrgUnit \"ghost\" does not exist");
}

#[test]
fn valid_until_before_valid_from() {
    let bad = acme_grant("  validFrom: 2026-06-01\n  validUntil: 2026-05-31\n");
    assert_one_error(
        &bad,
        "UserGrant t/bad",
        "spec.validUntil",
        "2026-05-31 is before validFrom 2026-06-01",
    );
}

#[test]
fn impossible_date() {
    let bad = acme_grant("  validUntil: 2027-02-30\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.validUntil", "");
}

#[test]
fn invalid_email() {
    let bad = grant("  tenant: acme\n  person: {givenName: Bea, familyName: Bad, email: bea-at-acme.fi}\n  unit: root\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.person.email", "has no @");
}

#[test]
fn duplicate_person() {
    let bad = grant("  tenant: acme\n  person: {givenName: Anna, familyName: Two, email: ANNA@acme.fi}\n  unit: root\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.person.email", "duplicate person");
}

#[test]
fn undeclared_feature() {
    let bad = acme_grant("  features: [messaging, teleport]\n");
    assert_one_error(
        &bad,
        "UserGrant t/bad",
        "spec.features[1]",
        "feature \"teleport\" is not declared on Tenant acme",
    );
}

#[test]
fn undeclared_role() {
    let bad = acme_grant("  roles: [wizard]\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.roles[0]", "role \"wizard\" is not declared");
}

#[test]
fn malformed_duration() {
    let bad = "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {name: beta, namespace: t}\nspec:\n  displayName: Beta\n  policy:\n    attestation: {interval: ninety days}\n";
    assert_one_error(bad, "Tenant t/beta", "spec.policy.attestation.interval", "\"ninety days\" has unit");
}

#[test]
fn misspelt_field() {
    let bad = acme_grant("  featurs: [messaging]\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.featurs", "is not a field of this kind");
}

#[test]
fn wrong_type() {
    let bad = acme_grant("  suspended: maybe\n");
    assert_one_error(&bad, "UserGrant t/bad", "spec.suspended", "");
}

#[test]
fn unknown_tenant_is_named_and_the_grant_frozen() {
    let bad = grant(&format!("  tenant: nobody\n{PERSON}  unit: root\n"));
    assert_one_error(&bad, "UserGrant t/bad", "spec.tenant", "Tenant \"nobody\" does not exist");
}

#[test]
fn national_id_failing_its_check_is_named_but_never_shown() {
    let number = "131052-308U"; // HETU with a wrong check character
    let bad = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ids, namespace: t}}\nstringData: {{bad: \"{number}\"}}\n",
        grant("  tenant: acme\n  person: {givenName: Bea, familyName: Bad, email: bea@acme.fi, nationalIdRef: {secretName: ids, key: bad}}\n  unit: root\n")
    );
    assert_one_error(&bad, "UserGrant t/bad", "spec.person.nationalIdRef", "HETU");
    let (problems, compiled, _) = compile_with(&bad);
    let shown = format!("{problems:?} {}", serde_json::to_string(&problems).unwrap());
    assert!(!shown.contains(number), "never shown: {shown}");
    let bad_ref = ObjectRef::new(Kind::UserGrant, "t", "bad");
    let view = format!("{:?}", compiled.tenants.iter().find(|t| t.frozen.iter().any(|(o, _)| *o == bad_ref)));
    assert!(!view.contains(number));
}
