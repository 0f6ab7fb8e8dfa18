//! The engine's IdP model, pure: what a tenant's LemonLDAP::NG must hold (client, access
//! rule, level, claims), whose sessions end, what it cannot express and how that is
//! reported, and the bad input it refuses.

mod support;

use std::collections::BTreeMap;

use accord::engine::build::idp::{attr, secret_digest};
use accord::engine::plan::{Baseline, Op};
use accord::engine::status::{Previous, statuses};
use accord::engine::{
    Compiled, DesiredTarget, Object, ObjectKey, ObjectKind, ObservedState, compile, diff,
    make_plan,
};
use accord::manifests::{Loaded, load_text};
use jiff::civil::{Date, date};

const TODAY: Date = date(2026, 11, 22);
const SECRET: &str = "client-secret-value-1";

/// The support BASE tenant with a LemonLDAP IdP, a directory that maps scopes, and people in
/// every lifecycle state, plus a second tenant in the same namespace.
fn tenant(extra_policy: &str, idp: &str, more: &str) -> String {
    let base = support::BASE
        .replace(
            "integrations: {directory: acme-ldap}",
            "integrations: {directory: acme-ldap, idp: acme-idp}",
        )
        .replace(
            "    minAdmins: 2",
            &format!("    minAdmins: 2\n{extra_policy}"),
        )
        .replace(
            "ldap: {baseDN: \"dc=acme,dc=fi\"}",
            "ldap: {baseDN: \"dc=acme,dc=fi\", attributes: {departmentNumber: scopes}}",
        );
    format!(
        r#"{base}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: acme-idp, namespace: t}}
spec:
  tenant: acme
  kind: lemonldap
  endpoint: http://127.0.0.1:1
  {idp}
---
apiVersion: v1
kind: Secret
metadata: {{name: idp-client, namespace: t}}
stringData: {{secret: {SECRET}}}
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {{name: sami, namespace: t}}
spec:
  tenant: acme
  person: {{givenName: Sami, familyName: Suspended, email: sami@acme.fi}}
  unit: helsinki
  suspended: true
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {{name: erkki, namespace: t}}
spec:
  tenant: acme
  person: {{givenName: Erkki, familyName: Expired, email: erkki@acme.fi}}
  unit: helsinki
  validUntil: 2026-01-01
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {{name: pirjo, namespace: t}}
spec:
  tenant: acme
  person: {{givenName: Pirjo, familyName: Pending, email: pirjo@acme.fi}}
  unit: helsinki
  validFrom: 2027-01-01
---
apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: other, namespace: t}}
spec:
  displayName: Other Oy
  country: FI
  policy: {{minAdmins: 0}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: other-root, namespace: t}}
spec: {{tenant: other, displayName: Other}}
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {{name: olli, namespace: t}}
spec:
  tenant: other
  person: {{givenName: Olli, familyName: Other, email: olli@other.fi}}
  unit: other-root
{more}"#
    )
}

const IDP: &str = "lemonldap: {clientId: acme-portal, redirectUris: ['https://extranet.acme.fi/cb', 'http://127.0.0.1:8080/cb'], clientSecretRef: {secretName: idp-client, key: secret}, signingAlgorithm: RS256}";
const POLICY: &str = "    login: {methods: [password, 'oidc:entra@substantial'], minimumLevel: substantial}\n    session: {idleTimeout: 10m, maxLifetime: 90m}";

fn compile_yaml(yaml: &str) -> Compiled {
    let mut loaded = Loaded::default();
    load_text("test.yaml", yaml, "default", &mut loaded);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    compile(&loaded.snapshot, TODAY, accord::connectors::registry())
}

fn idp(c: &Compiled) -> &DesiredTarget {
    c.targets
        .iter()
        .find(|t| t.integration.name == "acme-idp")
        .unwrap_or_else(|| panic!("no IdP target: {:?}", c.problems))
}

fn client(t: &DesiredTarget) -> &Object {
    t.objects
        .values()
        .find(|o| o.key.kind == ObjectKind::Client)
        .expect("a client")
}

fn errors(c: &Compiled) -> Vec<String> {
    c.problems.iter().map(ToString::to_string).collect()
}

#[test]
fn the_client_holds_exactly_the_active_people_the_level_and_the_claims() {
    let c = compile_yaml(&tenant(POLICY, IDP, ""));
    assert!(c.problems.is_empty(), "{:?}", errors(&c));
    let t = idp(&c);
    let cl = client(t);
    assert_eq!(cl.key.id, "acme-portal");
    assert_eq!(
        cl.attrs[attr::REDIRECT_URIS],
        ["http://127.0.0.1:8080/cb", "https://extranet.acme.fi/cb"]
    );
    // Active people only: not the suspended, expired or pending one, nor another tenant's.
    assert_eq!(cl.attrs[attr::ALLOWED_PEOPLE], ["anna", "liisa"]);
    assert_eq!(cl.get(attr::MINIMUM_LEVEL), Some("substantial"));
    assert_eq!(
        cl.get(attr::ACR),
        Some("http://eidas.europa.eu/LoA/substantial")
    );
    assert_eq!(cl.get(attr::SIGNING), Some("RS256"));
    assert_eq!(
        cl.attrs[attr::CLAIMS],
        [
            "email",
            "family_name",
            "features",
            "given_name",
            "groups",
            "name",
            "roles",
            "scopes"
        ]
    );
    // password is below substantial: left out (a policy finding says so).
    assert_eq!(cl.attrs[attr::LOGIN_METHODS], ["oidc:entra"]);
    assert_eq!(cl.get(attr::IDLE_TIMEOUT), Some("600"));
    assert_eq!(cl.get(attr::MAX_LIFETIME), Some("5400"));
    // The secret is a hash, sensitive, and never the value.
    assert_eq!(cl.get(attr::CLIENT_SECRET), Some(secret_digest(SECRET).as_str()));
    assert!(cl.sensitive.contains(attr::CLIENT_SECRET));
    let shown = format!("{cl:?} {}", serde_json::to_string(cl).unwrap());
    assert!(!shown.contains(SECRET) && !shown.contains("sha256:"), "{shown}");
    // LemonLDAP holds no people: only the sessions of the active ones may stay.
    let sessions: Vec<&str> = t
        .objects
        .keys()
        .filter(|k| k.kind == ObjectKind::Session)
        .map(|k| k.id.as_str())
        .collect();
    assert_eq!(sessions, ["anna", "liisa"]);
    assert!(!t.objects.keys().any(|k| k.kind == ObjectKind::Person));
}

#[test]
fn a_client_without_a_secret_is_public_and_scopes_need_the_directory() {
    let yaml = tenant("", "lemonldap: {redirectUris: ['https://x.acme.fi/cb']}", "")
        .replace(", attributes: {departmentNumber: scopes}", "");
    let c = compile_yaml(&yaml);
    assert!(c.problems.is_empty(), "{:?}", errors(&c));
    let t = idp(&c);
    let cl = client(t);
    assert_eq!(cl.key.id, "acme-extranet", "the default client id");
    assert_eq!(cl.get(attr::PUBLIC), Some("true"));
    assert!(cl.get(attr::CLIENT_SECRET).is_none());
    assert!(!cl.attrs[attr::CLAIMS].contains(&"scopes".to_string()));
    assert_eq!(cl.get(attr::MINIMUM_LEVEL), Some("low"));
    let gap = t
        .gaps
        .iter()
        .find(|g| g.reason == "ClaimUnavailable")
        .expect("the missing scopes claim is reported");
    assert!(gap.message.contains("departmentNumber: scopes"), "{}", gap.message);
}

#[test]
fn what_lemonldap_cannot_express_is_in_the_plan_and_on_both_statuses() {
    let c = compile_yaml(&tenant(POLICY, IDP, ""));
    let reasons: Vec<(&str, Option<&str>)> =
        idp(&c).gaps.iter().map(|g| (g.reason, g.attr)).collect();
    assert_eq!(
        reasons,
        [
            ("LoginMethodsGlobal", Some(attr::LOGIN_METHODS)),
            ("SessionPolicyGlobal", Some(attr::IDLE_TIMEOUT)),
            ("SessionPolicyGlobal", Some(attr::MAX_LIFETIME)),
        ]
    );
    let plan = make_plan(c, &BTreeMap::new(), &BTreeMap::new());
    let text = plan.render_text(false);
    assert!(
        text.contains("  cannot express: session.maxLifetime (5400 s) cannot be set per tenant: LemonLDAP::NG's timeout is global to the portal"),
        "{text}"
    );
    assert!(text.contains("  cannot express: login methods (oidc:entra)"), "{text}");

    let view = plan.tenants.iter().find(|v| v.object.name == "acme").unwrap();
    let plans: Vec<_> = plan.targets.iter().filter(|t| t.tenant == "acme").collect();
    let now: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
    let st = statuses(view, &plans, &BTreeMap::new(), &plan.errors, &plan.policy_violations, &|_| Previous::default(), now);
    for name in ["acme", "acme-idp"] {
        let (_, status) = st.by_object.iter().find(|(o, _)| o.name == name).unwrap();
        let gap = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PolicyGap")
            .unwrap_or_else(|| panic!("{name}: {status}"));
        assert_eq!(gap["status"], "True", "{name}: {gap}");
        assert_eq!(gap["reason"], "CannotExpress", "{name}: {gap}");
        let message = gap["message"].as_str().unwrap();
        assert!(message.contains("acme-idp: session.idleTimeout (600 s)"), "{message}");
    }
    // A directory's status says it expresses everything.
    let (_, ldap) = st.by_object.iter().find(|(o, _)| o.name == "acme-ldap").unwrap();
    assert!(ldap["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "PolicyGap" && c["status"] == "False" && c["reason"] == "Expressed"));
}

#[test]
fn attributes_lemonldap_cannot_hold_are_never_drift() {
    let c = compile_yaml(&tenant(POLICY, IDP, ""));
    let desired = idp(&c).clone();
    let mut held = client(&desired).clone();
    for a in [attr::LOGIN_METHODS, attr::IDLE_TIMEOUT, attr::MAX_LIFETIME] {
        held.attrs.remove(a);
    }
    let observed = ObservedState::from_objects([held]);
    let plan = diff(desired, &observed, Baseline::Live, 0);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
}

fn session(id: &str) -> Object {
    Object::new(ObjectKind::Session, id)
}

#[test]
fn sessions_of_people_who_may_not_log_in_are_ended_after_the_client_changes() {
    let c = compile_yaml(&tenant(POLICY, IDP, ""));
    let desired = idp(&c).clone();
    let observed = ObservedState::from_objects([
        client(&desired).clone(),
        session("anna"),
        session("sami"),   // suspended
        session("erkki"),  // expired
        session("ghost"),  // deleted from the manifests
    ]);
    let plan = diff(desired, &observed, Baseline::Live, 0);
    let ended: Vec<&str> = plan
        .ops
        .iter()
        .map(|o| match o {
            Op::Delete { key, .. } if key.kind == ObjectKind::Session => key.id.as_str(),
            other => panic!("only session ends: {other:?}"),
        })
        .collect();
    assert_eq!(ended, ["erkki", "ghost", "sami"]);
    // Wanted sessions are never created, and a live one is not "unchanged" state accord keeps.
    assert_eq!(plan.unchanged, 1, "the client only");
    let text = accord::engine::Plan::new(vec![], vec![plan], vec![], vec![]).render_text(false);
    assert!(text.contains("- session ghost  (end live sessions)"), "{text}");
}

#[test]
fn a_frozen_person_keeps_their_sessions_and_unread_input_ends_none() {
    // Sami's grant has an error now: frozen, so his session is left as it is.
    let yaml = tenant(POLICY, IDP, "").replace(
        "  person: {givenName: Sami, familyName: Suspended, email: sami@acme.fi}",
        "  person: {givenName: Sami, familyName: Suspended, email: not-an-email}",
    );
    let c = compile_yaml(&yaml);
    assert!(errors(&c).iter().any(|e| e.contains("UserGrant t/sami: spec.person.email")));
    let desired = idp(&c).clone();
    // The client lets him in now: he keeps his place in its list, as he is.
    let mut held = client(&desired).clone();
    let mut people = held.attrs[attr::ALLOWED_PEOPLE].clone();
    people.push("sami".into());
    held.attrs.insert(attr::ALLOWED_PEOPLE.into(), people);
    assert!(!client(&desired).attrs[attr::ALLOWED_PEOPLE].contains(&"sami".to_string()));
    let observed = ObservedState::from_objects([held, session("sami")]);
    let plan = diff(desired.clone(), &observed, Baseline::Live, 0);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);

    // Input that could not be read may have declared Ghost: their session is held.
    let mut unread = desired;
    unread.unread = vec!["grants/broken.yaml:3: YAML syntax error".into()];
    let observed = ObservedState::from_objects([client(&unread).clone(), session("ghost")]);
    let plan = diff(unread, &observed, Baseline::Live, 0);
    assert!(plan.ops.is_empty(), "{:?}", plan.ops);
    assert_eq!(plan.held_unread.len(), 1);
    assert_eq!(plan.held_unread[0].key(), &ObjectKey::new(ObjectKind::Session, "ghost"));
}

#[test]
fn a_deleted_grant_is_gone_everywhere_only_once_its_sessions_are_ended() {
    use accord::engine::decide::person_gone_everywhere;
    use accord::engine::status::Outcome;
    let c = compile_yaml(&tenant(POLICY, IDP, ""));
    let desired = idp(&c).clone();
    let iref = desired.integration.clone();
    let observed = ObservedState::from_objects([client(&desired).clone(), session("ghost")]);
    let plan = diff(desired, &observed, Baseline::Live, 0);
    let plans = [plan];
    assert!(!person_gone_everywhere("ghost", &plans, &BTreeMap::new()));
    let done = BTreeMap::from([(
        iref,
        Outcome {
            applied: true,
            ..Default::default()
        },
    )]);
    assert!(person_gone_everywhere("ghost", &plans, &done));
}

// ---------- bad input: each names the object and the field; nothing of it is planned ----------

fn refused(yaml: &str, expected: &str) -> Compiled {
    let c = compile_yaml(yaml);
    let errs = errors(&c);
    assert!(
        errs.iter().any(|e| e.contains(expected)),
        "expected {expected:?} in {errs:#?}"
    );
    c
}

#[test]
fn a_redirect_uri_that_is_not_https_is_refused_and_the_idp_left_alone() {
    let c = refused(
        &tenant(POLICY, &IDP.replace("http://127.0.0.1:8080/cb", "http://extranet.acme.fi/cb"), ""),
        "Integration t/acme-idp: spec.lemonldap.redirectUris[1]: \"http://extranet.acme.fi/cb\" is not https; plain http is allowed on a loopback address only",
    );
    assert!(!c.targets.iter().any(|t| t.integration.name == "acme-idp"));
    assert!(c.targets.iter().any(|t| t.integration.name == "acme-ldap"), "the directory is still planned");
}

#[test]
fn a_missing_client_secret_is_refused() {
    refused(
        &tenant(POLICY, &IDP.replace("secretName: idp-client", "secretName: nowhere"), ""),
        "Integration t/acme-idp: spec.lemonldap.clientSecretRef: Secret \"nowhere\" does not exist in namespace t",
    );
    let c = refused(
        &tenant(POLICY, &IDP.replace("key: secret}", "key: other}"), ""),
        "Integration t/acme-idp: spec.lemonldap.clientSecretRef: Secret \"idp-client\" has no key \"other\"",
    );
    assert!(!c.targets.iter().any(|t| t.integration.name == "acme-idp"));
}

#[test]
fn a_login_method_lemonldap_cannot_offer_is_refused_on_the_tenant() {
    let c = refused(
        &tenant("    login: {methods: [password, bankid]}", IDP, ""),
        "Tenant t/acme: spec.policy.login.methods[1]: \"bankid\" cannot be offered by the lemonldap IdP \"acme-idp\": LemonLDAP::NG has no BankID login module",
    );
    assert!(!c.targets.iter().any(|t| t.integration.name == "acme-idp"));
}

#[test]
fn values_that_would_break_an_expression_freeze_their_grant() {
    let cases = [
        ("groups: [\"team\\\"a\"]", "UserGrant t/anna: spec.groups[0]: \"team\\\"a\" contains '\"'"),
        ("groups: [\"a$b\"]", "spec.groups[0]: \"a$b\" contains '$'"),
        ("groups: [\"a;b\"]", "spec.groups[0]: \"a;b\" contains ';'"),
        ("groups: [\"a@b\"]", "spec.groups[0]: \"a@b\" contains '@'"),
        ("groups: [\"a\\\\b\"]", "spec.groups[0]: \"a\\b\" contains '\\\\'"),
        ("groups: [\"a\\nb\"]", "spec.groups[0]: \"a\\nb\" holds a control character"),
    ];
    for (line, expected) in cases {
        let yaml = tenant(POLICY, IDP, "").replace(
            "  roles: [admin]\n  features: [messaging]",
            &format!("  roles: [admin]\n  features: [messaging]\n  {line}"),
        );
        let c = refused(&yaml, expected);
        // Anna is frozen in every target: nothing of hers is planned, nothing is lost.
        for t in &c.targets {
            assert!(t.frozen.contains(&ObjectKey::new(ObjectKind::Person, "anna")), "{line}");
        }
        let idp = idp(&c);
        assert!(idp.frozen.contains(&ObjectKey::new(ObjectKind::Session, "anna")));
    }
    let yaml = tenant(POLICY, IDP, "").replace(
        "{givenName: Anna, familyName: Virtanen",
        "{givenName: \"Anna\\nMalin\", familyName: Virtanen",
    );
    refused(&yaml, "UserGrant t/anna: spec.person.givenName: \"Anna\\nMalin\" holds a control character");
    // An apostrophe in a name is fine: names never go into an expression.
    let yaml = tenant(POLICY, IDP, "").replace("familyName: Virtanen", "familyName: \"O'Brien\"");
    assert!(compile_yaml(&yaml).problems.is_empty());
}

#[test]
fn the_same_values_are_fine_for_a_tenant_without_lemonldap() {
    let yaml = support::BASE.replace(
        "  roles: [admin]\n  features: [messaging]",
        "  roles: [admin]\n  features: [messaging]\n  groups: [\"a$b\"]",
    );
    let c = compile_yaml(&yaml);
    assert!(c.problems.is_empty(), "{:?}", errors(&c));
}

#[test]
fn a_long_list_change_is_named_in_part_with_a_count() {
    let c = compile_yaml(&tenant(POLICY, IDP, ""));
    let desired = idp(&c).clone();
    let mut hand = client(&desired).clone();
    hand.attrs.insert(
        attr::ALLOWED_PEOPLE.into(),
        (0..300).map(|i| format!("p{i:03}")).collect(),
    );
    let observed = ObservedState::from_objects([hand]);
    let plan = diff(desired, &observed, Baseline::Live, 0);
    let text = accord::engine::Plan::new(vec![], vec![plan], vec![], vec![]).render_text(false);
    let line = text.lines().find(|l| l.contains("allowedPeople:")).unwrap();
    // Indented under its target and op; what matters is what it names.
    assert!(line.trim_start().starts_with("allowedPeople: +anna +liisa -p000 -p001 "), "{line}");
    assert!(line.ends_with("-p097 … and 202 more"), "{line}");
}
