//! The `keycloak` connector against recorded request/response pairs that follow Keycloak 26's
//! published Admin REST API (tests/fixtures/keycloak/*.json), served by a loopback replayer
//! that records what the connector sent. No Keycloak runs here: these pin the contract, the
//! drift reading (Keycloak's added defaults and masked secret are no drift, a hand edit is)
//! and the failure handling.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use accord::api::IntegrationKind;
use accord::connectors::{ApplyOptions, ApplyReport, Registry, find_integration};
use accord::engine::plan::{Op, Plan, TargetPlan};
use accord::engine::state::{ObservedState, TargetRole};
use accord::engine::{ObjectRef, Observation, Snapshot, compile, decide, make_plan};
use serde_json::{Value, json};
use support::Scratch;
use support::replay::{Exchange, Replayer, fixture};

const NS: &str = "customer-acme";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keycloak")
}

fn load(name: &str) -> Vec<Exchange> {
    fixture(&fixtures().join(name))
}

/// The example customer acme, its IdP a Keycloak at `url`.
struct Tree {
    _scratch: Scratch,
    dir: PathBuf,
}

const IDP: &str = r#"apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {name: acme-idp, namespace: customer-acme}
spec:
  tenant: acme
  kind: keycloak
  endpoint: URL
  credentialsRef: {secretName: acme-keycloak-admin}
  keycloak:
    realm: acme
    clientId: acme-extranet
    redirectUris: [https://extranet.acme.fi/oidc/callback]
    clientSecretRef: {secretName: acme-oidc, key: secret}
    signingAlgorithm: RS256
  sync: {maxConcurrency: 1, requestsPerSecond: 1000}
"#;

const SECRETS: &str = r#"apiVersion: v1
kind: Secret
metadata: {name: acme-keycloak-admin, namespace: customer-acme}
stringData: {clientId: accord-admin, clientSecret: admin-secret-1}
---
apiVersion: v1
kind: Secret
metadata: {name: acme-oidc, namespace: customer-acme}
stringData: {secret: acme-client-secret-1}
"#;

impl Tree {
    fn new(url: &str) -> Tree {
        let scratch = Scratch::new("keycloak");
        let dir = scratch.0.join("acme");
        support::copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fi-acme"), &dir);
        let integrations = std::fs::read_to_string(dir.join("integrations.yaml")).unwrap();
        let kept: Vec<&str> = integrations
            .split("\n---\n")
            .filter(|d| !d.contains("name: acme-idp"))
            .collect();
        std::fs::write(dir.join("integrations.yaml"), kept.join("\n---\n")).unwrap();
        // Three active people and a suspended one.
        let keep = ["anna-virtanen", "liisa-korhonen", "matti-nieminen", "antti-rantanen"];
        for e in std::fs::read_dir(dir.join("grants")).unwrap() {
            let p = e.unwrap().path();
            if !keep.iter().any(|k| p.file_stem().unwrap() == *k) {
                std::fs::remove_file(p).unwrap();
            }
        }
        let t = Tree { _scratch: scratch, dir };
        t.write("keycloak.yaml", &IDP.replace("URL", url));
        t.write("secrets/keycloak.yaml", SECRETS);
        t
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn edit(&self, name: &str, from: &str, to: &str) {
        let p = self.dir.join(name);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{name} has no {from:?}");
        std::fs::write(p, text.replacen(from, to, 1)).unwrap();
    }

    fn snapshot(&self) -> (Snapshot, Vec<String>) {
        let loaded = accord::manifests::load_paths(&[self.dir.clone()], "default");
        let problems = loaded.problems.iter().map(|p| format!("{p:?}")).collect();
        (loaded.snapshot, problems)
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn idp_ref() -> ObjectRef {
    ObjectRef::new(accord::engine::Kind::Integration, NS, "acme-idp")
}

/// Compile and observe the IdP target; the plan for it.
fn plan(snap: &Snapshot) -> (Plan, BTreeMap<ObjectRef, Observation>) {
    let registry = Registry::standard();
    let mut compiled = compile(snap, jiff::civil::date(2026, 11, 22), &registry);
    compiled.targets.retain(|t| t.role == TargetRole::Idp);
    let observed = rt().block_on(registry.observe_all(&compiled.targets, snap));
    (make_plan(compiled, &observed, &BTreeMap::new()), observed)
}

fn target(plan: &Plan) -> &TargetPlan {
    plan.targets.iter().find(|t| t.integration == idp_ref()).expect("the IdP is planned")
}

fn apply(snap: &Snapshot, tp: &TargetPlan, observed: &ObservedState) -> ApplyReport {
    let registry = Registry::standard();
    let i = find_integration(snap, &tp.integration).unwrap();
    let c = registry.connect(i, snap).unwrap();
    rt().block_on(c.apply(tp, observed, ApplyOptions::default()))
}

fn observed_ok(observed: &BTreeMap<ObjectRef, Observation>) -> ObservedState {
    observed[&idp_ref()].clone().expect("observed")
}


fn changes(op: &Op) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let Op::Update { changes, .. } = op else { panic!("not an update: {op:?}") };
    changes.iter().map(|c| (c.attr.clone(), (c.desired.clone(), c.actual.clone()))).collect()
}

fn writes(r: &Replayer) -> Vec<String> {
    r.sent()
        .iter()
        .filter(|s| s.method != "GET" && !s.path.ends_with("/openid-connect/token"))
        .map(|s| s.line())
        .collect()
}

#[test]
fn create_observe_update_delete_send_exactly_the_recorded_requests_and_drift_settles() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, problems) = tree.snapshot();
    assert!(problems.is_empty(), "{problems:?}");

    // Nothing there yet: the client is created, with its roles; the IdPs are checked.
    r.serve(load("observe-empty.json"));
    let (p, observed) = plan(&snap);
    r.assert_sent_exactly(&load("observe-empty.json"));
    let tp = target(&p);
    let created: Vec<String> = tp.ops.iter().map(|o| format!("{}", o.key())).collect();
    assert_eq!(
        created,
        ["person anna-virtanen", "person liisa-korhonen", "person matti-nieminen", "client acme-extranet"],
        "the active people (not the suspended antti-rantanen) and the client"
    );
    assert!(tp.ops.iter().all(|o| matches!(o, Op::Create { .. })));
    r.serve(load("create.json"));
    let report = apply(&snap, tp, &observed_ok(&observed));
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.writes, 12, "the client, 7 roles, 3 users, anna's role mappings");
    r.assert_sent_exactly(&load("create.json"));

    // Read back with Keycloak's defaults, masked secret and mapper ids: nothing to do.
    r.serve(load("observe-created.json"));
    let (p, observed) = plan(&snap);
    r.assert_sent_exactly(&load("observe-created.json"));
    let tp = target(&p);
    assert!(tp.ops.is_empty(), "drift on Keycloak's own defaults: {}", serde_json::to_string_pretty(&tp.ops).unwrap());
    assert_eq!(tp.unchanged, 4, "the client and three users");
    let created = observed_ok(&observed);

    // Edited by hand: a redirect URI added, the roles mapper removed — drift naming each.
    r.serve(load("observe-edited.json"));
    let (p, observed) = plan(&snap);
    let tp = target(&p);
    assert_eq!(tp.ops.len(), 2);
    let anna = changes(&tp.ops[0]);
    assert_eq!(tp.ops[0].key().id, "anna-virtanen");
    assert_eq!(anna["roles"], (vec!["occupational-nurse".into(), "unit-admin".into()], vec!["unit-admin".to_string()]));
    assert_eq!(anna["features"].1, ["documents", "messaging"]);
    assert_eq!(anna.len(), 2, "{anna:?}");
    let c = changes(&tp.ops[1]);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["claims", "redirectUris"], "{c:?}");
    assert_eq!(c["redirectUris"].1, ["https://evil.example/cb", "https://extranet.acme.fi/oidc/callback"]);
    assert!(c["claims"].0.contains(&"roles".to_string()) && !c["claims"].1.contains(&"roles".to_string()));
    // Repaired in Enforce: the client PUT (mappers untouched by it), the mapper re-added;
    // anna's user PUT, her role given back.
    r.serve(load("update.json"));
    let report = apply(&snap, tp, &observed_ok(&observed));
    assert!(report.ok(), "{report:?}");
    r.assert_sent_exactly(&load("update.json"));

    // Deleting the Integration removes the client and the users accord made.
    let cleanup = decide::cleanup_plan(idp_ref(), "acme", IntegrationKind::Keycloak, &created);
    r.serve(load("delete.json"));
    let report = apply(&snap, &cleanup, &created);
    assert!(report.ok(), "{report:?}");
    r.assert_sent_exactly(&load("delete.json"));
}

#[test]
fn drift_in_observe_mode_is_reported_and_nothing_is_written() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    tree.edit("keycloak.yaml", "  sync: {maxConcurrency: 1, requestsPerSecond: 1000}", "  sync: {maxConcurrency: 1, requestsPerSecond: 1000, management: Observe}");
    let (snap, problems) = tree.snapshot();
    assert!(problems.is_empty(), "{problems:?}");
    r.serve(load("observe-edited.json"));
    let (p, _) = plan(&snap);
    let tp = target(&p);
    assert_eq!(tp.ops.len(), 2);
    assert!(matches!(decide::action(tp, false), decide::Action::Report));
    assert!(writes(&r).is_empty());
}

#[test]
fn keycloaks_own_values_are_no_drift_but_owned_keys_changed_by_hand_are() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, _) = tree.snapshot();
    let mut script = load("observe-created.json");
    let Some(support::replay::Response_::Json(list)) = script.get_mut(1).map(|e| &mut e.response) else { panic!() };
    let c = &mut list[0];
    // Keycloak's own: other attributes, defaults, a masked secret, extra mapper config.
    c["attributes"]["use.refresh.tokens"] = json!("true");
    c["attributes"]["acr.loa.map"] = json!("{\"http://eidas.europa.eu/LoA/low\":\"1\",\"http://eidas.europa.eu/LoA/substantial\":\"2\",\"http://eidas.europa.eu/LoA/high\":\"3\"}");
    c["secret"] = json!("**********");
    c["protocolMappers"][0]["config"]["lightweight.claim"] = json!("false");
    c["webOrigins"] = json!(["+"]);
    r.serve(script.clone());
    let (p, _) = plan(&snap);
    assert!(target(&p).ops.is_empty(), "{:?}", target(&p).ops);

    // Owned keys changed by hand: each is drift on its field.
    let Some(support::replay::Response_::Json(list)) = script.get_mut(1).map(|e| &mut e.response) else { panic!() };
    let c = &mut list[0];
    c["attributes"]["minimum.acr.value"] = json!("http://eidas.europa.eu/LoA/low");
    c["attributes"]["client.session.idle.timeout"] = json!("86400");
    c["attributes"]["id.token.signed.response.alg"] = json!("HS256");
    c["directAccessGrantsEnabled"] = json!(true);
    c["protocolMappers"][2]["config"]["usermodel.clientRoleMapping.clientId"] = json!("other-client");
    let secret = script.iter_mut().find(|e| e.path.ends_with("/client-secret")).unwrap();
    secret.response = support::replay::Response_::Json(json!({"type": "secret", "value": "rotated-by-hand"}));
    r.serve(script);
    let (p, _) = plan(&snap);
    let c = changes(&target(&p).ops[0]);
    assert_eq!(
        c.keys().map(String::as_str).collect::<Vec<_>>(),
        ["claims", "clientSecret", "flows", "idleTimeoutSeconds", "minimumLevel", "signingAlgorithm"]
    );
    assert!(c["claims"].1.contains(&"accord-features=oidc-usermodel-client-role-mapper".to_string()), "{:?}", c["claims"]);
    assert_eq!(c["minimumLevel"].1, ["low"]);
    let shown = serde_json::to_string(&p).unwrap();
    assert!(!shown.contains("rotated-by-hand") && !shown.contains("acme-client-secret-1"), "a secret in the plan");
}

#[test]
fn a_hand_made_client_with_the_tenants_client_id_is_shown_and_left_alone() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, _) = tree.snapshot();
    r.serve(load("observe-hand-made.json"));
    let (p, observed) = plan(&snap);
    r.assert_sent_exactly(&load("observe-hand-made.json"));
    let mut tp = target(&p).clone();
    tp.ops.retain(|o| o.key().kind == accord::engine::state::ObjectKind::Client);
    let c = changes(&tp.ops[0]);
    assert!(c["managedBy"].1[0].starts_with("not accord"), "{:?}", c["managedBy"]);
    r.serve(load("observe-empty.json")[..1].to_vec());
    let report = apply(&snap, &tp, &observed_ok(&observed));
    assert!(!report.ok());
    assert!(report.failed[0].1.contains("left alone"), "{report:?}");
    let held = observed_ok(&observed);
    let cleanup = decide::cleanup_plan(idp_ref(), "acme", IntegrationKind::Keycloak, &held);
    let report = apply(&snap, &cleanup, &held);
    assert!(report.failed[0].1.contains("left alone"), "{report:?}");
    assert!(r.sent().is_empty(), "nothing sent for a client that is not accord's: {:?}", r.sent());
}

/// Bad input: the error names the object and the field, and the IdP is left as it is.
fn refused(tree: &Tree, r: &Replayer, object: &str, field: &str, reason: &str) {
    let (snap, problems) = tree.snapshot();
    assert!(problems.is_empty(), "{problems:?}");
    r.serve(load("observe-created.json"));
    let (p, _) = plan(&snap);
    let e = p
        .errors
        .iter()
        .find(|e| e.field == field)
        .unwrap_or_else(|| panic!("no error on {field}: {:?}", p.errors));
    assert_eq!(e.object.as_ref().map(|o| o.name.as_str()), Some(object), "{e:?}");
    assert!(e.reason.contains(reason), "{e:?}");
    for tp in &p.targets {
        assert!(tp.ops.iter().all(|o| matches!(o, Op::Create { .. })), "{:?}", tp.ops);
    }
    assert!(writes(r).is_empty());
}

#[test]
fn bad_input_is_an_error_naming_object_and_field_and_the_idp_is_left_as_it_is() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    tree.edit("keycloak.yaml", "https://extranet.acme.fi/oidc/callback", "http://extranet.acme.fi/oidc/callback");
    refused(&tree, &r, "acme-idp", "spec.keycloak.redirectUris[0]", "is not https");

    let tree = Tree::new(&r.url());
    tree.edit("secrets/keycloak.yaml", "name: acme-oidc", "name: acme-oidc-renamed");
    refused(&tree, &r, "acme-idp", "spec.keycloak.clientSecretRef", "acme-oidc");

    let tree = Tree::new(&r.url());
    tree.edit("tenant.yaml", "methods: [suomifi, oidc:entra@substantial]", "methods: [suomifi, oidc:entra@substantial, bankid]");
    refused(&tree, &r, "acme", "spec.policy.login.methods[2]", "Keycloak has no BankID identity provider");

    let tree = Tree::new(&r.url());
    tree.edit("keycloak.yaml", "    realm: acme\n", "    mode: organization\n");
    refused(&tree, &r, "acme-idp", "spec.keycloak.realm", "is required with mode: organization");

    let tree = Tree::new(&r.url());
    tree.edit("keycloak.yaml", "    realm: acme\n", "    realm: acme/../master\n");
    refused(&tree, &r, "acme-idp", "spec.keycloak.realm", "is not a realm name");
}

#[test]
fn a_login_method_keycloak_serves_only_through_its_flows_is_a_reported_gap() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    tree.edit("tenant.yaml", "methods: [suomifi, oidc:entra@substantial]", "methods: [suomifi, oidc:entra@substantial, siths@high]");
    let (snap, _) = tree.snapshot();
    r.serve(load("observe-created.json"));
    let (p, _) = plan(&snap);
    let tp = target(&p);
    let gap = tp.gaps.iter().find(|g| g.reason == "LoginMethodUpstream").expect("a gap for siths");
    assert!(gap.message.contains("siths") && gap.message.contains("browser flow"), "{gap:?}");
    assert!(tp.ops.is_empty(), "siths is no identity provider to check: {:?}", tp.ops);
}

#[test]
fn a_missing_identity_provider_fails_the_client_with_what_to_do() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, _) = tree.snapshot();
    let mut script = load("observe-created.json");
    let idps = script.iter_mut().find(|e| e.path.ends_with("/identity-provider/instances")).unwrap();
    let support::replay::Response_::Json(list) = &mut idps.response else { panic!() };
    list[0]["enabled"] = json!(false); // entra disabled by hand
    let edited = script.clone();
    r.serve(script);
    let (p, observed) = plan(&snap);
    let tp = target(&p);
    let c = changes(&tp.ops[0]);
    assert_eq!(c["loginMethods"], (vec!["oidc:entra".to_string(), "suomifi".into()], vec!["suomifi".to_string()]));
    r.serve(vec![load("observe-empty.json")[0].clone(), edited.into_iter().find(|e| e.path.ends_with("/identity-provider/instances")).unwrap()]);
    let report = apply(&snap, tp, &observed_ok(&observed));
    assert!(!report.ok());
    let why = &report.failed[0].1;
    assert!(why.contains("oidc:entra") && why.contains("does not create them"), "{why}");
    assert!(writes(&r).is_empty());
}

/// Observing through `script` fails with a target error containing `says`.
fn unreadable(r: &Replayer, snap: &Snapshot, script: Vec<Exchange>, category: &str, says: &str) {
    r.serve(script);
    let (p, observed) = plan(snap);
    let why = observed[&idp_ref()].clone().expect_err("not observed");
    assert_eq!(why.category, category, "{why:?}");
    assert!(why.reason.contains(says), "{why:?}");
    let tp = target(&p);
    assert!(matches!(decide::action(tp, false), decide::Action::NotApplied(_)));
    assert!(tp.ops.iter().all(|o| matches!(o, Op::Create { .. })));
    assert!(writes(r).is_empty());
}

#[test]
fn unexpected_answers_are_clear_target_errors_and_nothing_is_deleted() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, _) = tree.snapshot();
    let base = load("observe-created.json");
    let with = |status: u16, response: Value, times: usize| {
        let mut s = base.clone();
        s[1].status = status;
        s[1].response = match response {
            Value::String(t) => support::replay::Response_::Raw(t, "text/html"),
            v => support::replay::Response_::Json(v),
        };
        s[1].times = times;
        s
    };
    unreadable(&r, &snap, with(500, json!({"error": "unknown_error"}), 5), "unreachable", "500");
    unreadable(&r, &snap, with(401, json!({"error": "HTTP 401 Unauthorized"}), 1), "auth", "401");
    unreadable(&r, &snap, with(200, json!("<html><body>Keycloak is starting</body></html>"), 1), "unreachable", "not what the Admin API returns");
    let huge = format!("[{}]", "{\"clientId\":\"x\"},".repeat(1_100_000));
    unreadable(&r, &snap, with(200, Value::String(huge), 1), "unreachable", "larger than 16 MiB");
    unreadable(&r, &snap, with(404, json!({"error": "Realm not found."}), 1), "config", "realm acme does not exist");
    let mut token = base.clone();
    token[0].status = 401;
    token[0].response = support::replay::Response_::Json(json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}));
    unreadable(&r, &snap, token, "auth", "refused the credentials of client accord-admin");

    // A write Keycloak refuses: a clear error, the rest left for a rerun.
    r.serve(load("observe-empty.json"));
    let (p, observed) = plan(&snap);
    let mut create = load("create.json");
    create[1].status = 500;
    create[1].response = support::replay::Response_::Raw("<html>Internal Server Error</html>".into(), "text/html");
    r.serve(create);
    let report = apply(&snap, target(&p), &observed_ok(&observed));
    assert!(!report.ok());
    assert!(report.failed[0].1.contains("creating the client: Keycloak answered 500"), "{report:?}");
    let mut create = load("create.json");
    create[1].status = 409;
    create[1].response = support::replay::Response_::Json(json!({"errorMessage": "Client acme-extranet already exists"}));
    r.serve(create);
    let report = apply(&snap, target(&p), &observed_ok(&observed));
    assert!(report.failed[0].1.contains("already exists"), "{report:?}");
}

#[test]
fn a_suspended_persons_user_is_deleted_and_with_unreadable_input_nothing_is() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    tree.edit("grants/anna-virtanen.yaml", "  validFrom: 2026-01-01\n", "  validFrom: 2026-01-01\n  suspended: true\n");
    let (snap, problems) = tree.snapshot();
    assert!(problems.is_empty(), "{problems:?}");
    r.serve(load("observe-created.json"));
    let (p, observed) = plan(&snap);
    let tp = target(&p);
    let ops: Vec<String> = tp.ops.iter().map(|o| format!("{:?} {}", std::mem::discriminant(o), o.key())).collect();
    assert_eq!(tp.ops.len(), 1, "{ops:?}");
    assert!(matches!(&tp.ops[0], Op::Delete { key, .. } if key.id == "anna-virtanen"), "{ops:?}");
    // Deleting the user ends her Keycloak sessions with it.
    let script = vec![
        load("observe-empty.json")[0].clone(),
        Exchange::from_json(&json!({"method": "DELETE", "path": "/admin/realms/acme/users/9d2b1f0e-8a7c-4e6d-b5a4-3c2b1a0f9e81", "status": 204})),
    ];
    r.serve(script.clone());
    let report = apply(&snap, tp, &observed_ok(&observed));
    assert!(report.ok(), "{report:?}");
    r.assert_sent_exactly(&script);

    // A file that cannot be read may hold what would keep her: the deletion is held.
    tree.write("grants/broken.yaml", "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: x, namespace: customer-acme\n");
    let (snap, _) = tree.snapshot();
    r.serve(load("observe-created.json"));
    let (p, _) = plan(&snap);
    let tp = target(&p);
    assert!(tp.ops.iter().all(|o| !matches!(o, Op::Delete { .. })), "{:?}", tp.ops);
    assert!(tp.unread[0].contains("broken.yaml"), "{:?}", tp.unread);
    assert!(tp.ops.is_empty() && tp.frozen > 0, "anna's user is left as it is: {:?}", tp.ops);
    assert!(writes(&r).is_empty());
}

#[test]
fn a_name_keycloak_refuses_is_an_error_on_the_usergrant_and_the_user_stays() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    tree.edit("grants/anna-virtanen.yaml", "givenName: Anna", "givenName: \"Anna (Anne)\"");
    let (snap, _) = tree.snapshot();
    r.serve(load("observe-created.json"));
    let (p, _) = plan(&snap);
    let e = p.errors.iter().find(|e| e.field == "spec.person.givenName").expect("an error on the name");
    assert_eq!(e.object.as_ref().unwrap().name, "anna-virtanen");
    assert!(e.reason.contains("Keycloak's user profile refuses"), "{e:?}");
    let tp = target(&p);
    assert!(tp.ops.is_empty(), "anna is left as she is: {:?}", tp.ops);
    assert!(writes(&r).is_empty());
}

#[test]
fn a_user_someone_else_made_with_a_persons_username_is_reported_not_taken_over() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, _) = tree.snapshot();
    let mut script = load("observe-created.json");
    let users = script.iter_mut().find(|e| e.path.ends_with("/users")).unwrap();
    let support::replay::Response_::Json(list) = &mut users.response else { panic!() };
    list.as_array_mut().unwrap().retain(|u| u["username"] != "matti-nieminen");
    r.serve(script);
    let (p, observed) = plan(&snap);
    let tp = target(&p);
    assert_eq!(tp.ops.len(), 1);
    let mut create = load("create.json");
    create.retain(|e| e.path.ends_with("/token") || (e.method == "POST" && e.path.ends_with("/users") && e.body.as_ref().unwrap()["username"] == "matti-nieminen"));
    create[1].status = 409;
    create[1].headers.clear();
    create[1].response = support::replay::Response_::Json(json!({"errorMessage": "User exists with same username"}));
    r.serve(create.clone());
    let report = apply(&snap, tp, &observed_ok(&observed));
    assert!(report.failed[0].1.contains("is not accord's: left alone"), "{report:?}");
    r.assert_sent_exactly(&create);
}

#[test]
fn in_a_shared_realm_the_tenant_is_an_organization_with_its_providers_and_people() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    tree.edit("keycloak.yaml", "    realm: acme\n", "    realm: care\n    mode: organization\n");
    let (snap, problems) = tree.snapshot();
    assert!(problems.is_empty(), "{problems:?}");

    r.serve(load("org-observe-empty.json"));
    let (p, observed) = plan(&snap);
    r.assert_sent_exactly(&load("org-observe-empty.json"));
    let tp = target(&p);
    assert_eq!(tp.ops.len(), 4);
    let gap = tp.gaps.iter().find(|g| g.message.contains("Organization")).expect("the shared-realm gap");
    assert!(gap.message.contains("extranet must refuse tokens without it"), "{gap:?}");
    // The client with the organization claim, the Organization linked to the tenant's
    // providers (not the other tenant's kombit), each person made a member.
    r.serve(load("org-create.json"));
    let report = apply(&snap, tp, &observed_ok(&observed));
    assert!(report.ok(), "{report:?}");
    r.assert_sent_exactly(&load("org-create.json"));

    r.serve(load("org-observe-created.json"));
    let (p, observed) = plan(&snap);
    r.assert_sent_exactly(&load("org-observe-created.json"));
    let tp = target(&p);
    assert!(tp.ops.is_empty(), "{}", serde_json::to_string_pretty(&tp.ops).unwrap());
    let created = observed_ok(&observed);

    // A member removed and a provider unlinked by hand: drift on each.
    let mut script = load("org-observe-created.json");
    let Some(support::replay::Response_::Json(members)) = script.get_mut(3).map(|e| &mut e.response) else { panic!() };
    members.as_array_mut().unwrap().retain(|m| m["username"] != "liisa-korhonen");
    let Some(support::replay::Response_::Json(linked)) = script.get_mut(2).map(|e| &mut e.response) else { panic!() };
    linked.as_array_mut().unwrap().retain(|p| p["alias"] != "entra");
    r.serve(script);
    let (p, _) = plan(&snap);
    let tp = target(&p);
    let drift: BTreeMap<String, Vec<String>> = tp
        .ops
        .iter()
        .map(|o| (o.key().id.clone(), changes(o).into_keys().collect()))
        .collect();
    assert_eq!(drift["liisa-korhonen"], ["organization"]);
    assert_eq!(drift["acme-extranet"], ["loginMethods"]);

    // Deleting the Integration: the client, the Organization (no client of the tenant is
    // left), the users.
    let cleanup = decide::cleanup_plan(idp_ref(), "acme", IntegrationKind::Keycloak, &created);
    r.serve(load("org-delete.json"));
    let report = apply(&snap, &cleanup, &created);
    assert!(report.ok(), "{report:?}");
    r.assert_sent_exactly(&load("org-delete.json"));
}

#[test]
fn an_admin_token_that_runs_out_is_fetched_again() {
    let r = Replayer::start();
    let tree = Tree::new(&r.url());
    let (snap, _) = tree.snapshot();
    // A token that has run out at once: every request logs in again first.
    let script = load("observe-created.json");
    let mut token = script[0].clone();
    let support::replay::Response_::Json(t) = &mut token.response else { panic!() };
    t["expires_in"] = json!(0);
    let rest = &script[1..];
    token.times = rest.len();
    let mut served = vec![token.clone()];
    served.extend(rest.iter().cloned());
    r.serve(served);
    let (p, _) = plan(&snap);
    assert!(target(&p).ops.is_empty(), "{:?}", target(&p).ops);
    let mut expected = Vec::new();
    for e in rest {
        expected.push(Exchange { times: 1, ..token.clone() });
        expected.push(e.clone());
    }
    r.assert_sent_exactly(&expected);
}
