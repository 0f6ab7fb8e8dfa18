//! The scim target against a real SCIM server (scim2-server from PyPI), through a proxy that
//! records every request and injects failures.

mod support;
use support::writes;

use support::copy_dir;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use support::scim::{Proxy, ScimServer, TOKEN, list, send, tool};
use support::{Scratch, accord};

const TODAY: &str = "2026-11-22";

/// examples/ with both SCIM extranets pointed at `url`.
fn examples_against(url: &str, dir: &Path) -> PathBuf {
    let root = dir.join("examples");
    copy_dir(&support::examples(), &root);
    for (customer, endpoint) in [
        ("fi-acme", "https://extranet.acme.fi/scim/v2"),
        ("se-vardgivaren", "https://portal.vardgivaren.se/scim/v2"),
    ] {
        let f = root.join(customer).join("integrations.yaml");
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains(endpoint));
        std::fs::write(&f, text.replace(endpoint, url)).unwrap();
        let c = root.join(customer).join("secrets/credentials.yaml");
        std::fs::write(
            &c,
            std::fs::read_to_string(&c)
                .unwrap()
                .replace("token: change-me", &format!("token: {TOKEN}")),
        )
        .unwrap();
    }
    root
}

fn apply(args: &[&str]) -> support::Run {
    let mut all = vec![
        "apply",
        "--today",
        TODAY,
        "--target",
        "acme-extranet",
        "--target",
        "vardgivaren-extranet",
    ];
    all.extend_from_slice(args);
    let run = accord(&all);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn by_user_name(users: &[Value], name: &str) -> Value {
    users
        .iter()
        .find(|u| u["userName"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no user {name}"))
}

fn values(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["value"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn examples_reach_the_extranet_and_a_second_apply_sends_nothing() {
    let scratch = Scratch::new("scim-examples");
    let server = ScimServer::start();
    let proxy = Proxy::start(&server.url());
    let ex = examples_against(&proxy.url(), &scratch.0);
    let exs = ex.to_str().unwrap();
    let first = apply(&[exs]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);

    let users = list(&server.url(), "/Users");
    // acme: 18 grants less one Pending = 17; vardgivaren: 14 less one Pending = 13.
    assert_eq!(users.len(), 30, "{users:#?}");
    let anna = by_user_name(&users, "anna.virtanen@acme.fi");
    assert_eq!(anna["externalId"], "accord:acme:anna-virtanen");
    assert_eq!(anna["active"], true);
    assert_eq!(
        values(&anna["roles"]),
        vec!["documents", "messaging", "reports"]
    );
    // Expanded scopes: acme-helsinki and everything below it.
    assert_eq!(
        values(&anna["entitlements"]),
        vec![
            "acme-helsinki",
            "acme-helsinki-kallio",
            "acme-helsinki-pasila",
            "acme-helsinki-pasila-laboratorio"
        ]
    );
    assert_eq!(
        anna["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "acme/helsinki/kallio"
    );
    assert_eq!(anna["phoneNumbers"][0]["value"], "+358401603028");
    // Suspended (by hand, and by overdue attestation) and expired people are inactive.
    for inactive in [
        "antti.rantanen@acme.fi",
        "sanna.hamalainen@acme.fi",
        "mikko.laaksonen@acme.fi",
        "sara.svensson@vardgivaren.se",
    ] {
        assert_eq!(
            by_user_name(&users, inactive)["active"],
            false,
            "{inactive}"
        );
    }
    // UnitWithDescendants scopes on the Swedish extranet.
    let johan = by_user_name(&users, "johan.larsson@vardgivaren.se");
    assert_eq!(
        values(&johan["entitlements"]),
        vec![
            "vardgivaren-goteborg;descendants",
            "vardgivaren-malmo;descendants"
        ]
    );
    let groups = list(&server.url(), "/Groups");
    let team = groups
        .iter()
        .find(|g| g["externalId"] == "accord:acme:group:hoitotiimi-a")
        .expect("group hoitotiimi-a");
    // anna, outi and eeva; sanna is suspended and riikka pending.
    assert_eq!(team["members"].as_array().unwrap().len(), 3, "{team}");

    let requests = proxy.faults.seen.load(Ordering::SeqCst);
    let second = apply(&[exs]);
    assert_eq!(second.code, 0, "{}", second.stdout);
    assert_eq!(writes(&second.stdout), vec![0, 0], "{}", second.stdout);
    let reads = proxy.faults.seen.load(Ordering::SeqCst) - requests;
    let log = proxy.faults.log.lock().unwrap();
    assert!(
        log[requests..].iter().all(|(m, _, _)| m == "GET"),
        "a no-op apply only reads ({reads} requests)"
    );
}

#[test]
fn every_payload_accord_sends_passes_scim_sanity() {
    let scratch = Scratch::new("scim-sanity");
    let server = ScimServer::start();
    let proxy = Proxy::start(&server.url());
    let ex = examples_against(&proxy.url(), &scratch.0);
    let exs = ex.to_str().unwrap();
    assert_eq!(apply(&[exs]).code, 0);
    // Some updates: a changed phone, a removed feature, a new team member.
    let g = ex.join("fi-acme/grants/anna-virtanen.yaml");
    let text = std::fs::read_to_string(&g)
        .unwrap()
        .replace("+358 40 160 3028", "+358 40 111 2222")
        .replace(
            "features: [messaging, documents, reports]",
            "features: [messaging, reports]",
        );
    std::fs::write(&g, text).unwrap();
    let g = ex.join("fi-acme/grants/juha-koskinen.yaml");
    std::fs::write(
        &g,
        std::fs::read_to_string(&g)
            .unwrap()
            .replace("groups: [esimiehet]", "groups: [esimiehet, hoitotiimi-a]"),
    )
    .unwrap();
    assert_eq!(apply(&[exs]).code, 0);

    let mut checked = BTreeSet::new();
    for (method, flag) in [("POST", None), ("PATCH", Some("--patch"))] {
        let bodies = proxy.bodies(method);
        assert!(!bodies.is_empty(), "accord sent no {method}");
        for (i, body) in bodies.iter().enumerate() {
            let f = scratch.0.join(format!("{method}-{i}.json"));
            std::fs::write(&f, body).unwrap();
            let mut cmd = std::process::Command::new(tool("scim-sanity"));
            cmd.arg(&f);
            if let Some(flag) = flag {
                cmd.arg(flag);
            }
            let out = cmd
                .output()
                .expect("scim-sanity runs (bash scripts/test.sh installs it into .venv)");
            assert!(
                out.status.success(),
                "{method} payload fails scim-sanity:\n{body}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            checked.insert(method);
        }
    }
    assert_eq!(checked.len(), 2);
}

#[test]
fn drift_by_hand_is_reported_and_repaired_and_foreign_users_are_left_alone() {
    let scratch = Scratch::new("scim-drift");
    let server = ScimServer::start();
    let ex = examples_against(&server.url(), &scratch.0);
    let exs = ex.to_str().unwrap();
    assert_eq!(apply(&[exs]).code, 0);
    let base = server.url();
    let anna = by_user_name(&list(&base, "/Users"), "anna.virtanen@acme.fi");
    let id = anna["id"].as_str().unwrap();
    let (status, _) = send(
        &base,
        "PATCH",
        &format!("/Users/{id}"),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "roles", "value": [{"value": "messaging"}, {"value": "reports"}]}]}),
        ),
    );
    assert!(status < 300, "{status}");
    let (status, _) = send(
        &base,
        "POST",
        "/Users",
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "foreign@acme.fi", "externalId": "hr-system:42", "active": true}),
        ),
    );
    assert_eq!(status, 201);

    let plan = accord(&["plan", "--today", TODAY, "--target", "acme-extranet", exs]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("~ person anna-virtanen\n      roles: +documents"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("foreign"), "{}", plan.stdout);
    let fixed = apply(&[exs]);
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    let users = list(&base, "/Users");
    assert_eq!(
        values(&by_user_name(&users, "anna.virtanen@acme.fi")["roles"]),
        vec!["documents", "messaging", "reports"]
    );
    assert_eq!(
        by_user_name(&users, "foreign@acme.fi")["externalId"],
        "hr-system:42"
    );
    assert_eq!(
        accord(&["plan", "--today", TODAY, "--target", "acme-extranet", exs]).code,
        0
    );
}

#[test]
fn failing_server_503_429_and_outage_converge_without_duplicates() {
    let scratch = Scratch::new("scim-faults");
    let server = ScimServer::start();
    let mut proxy = Proxy::start(&server.url());
    let ex = examples_against(&proxy.url(), &scratch.0);
    let exs = ex.to_str().unwrap();
    proxy.faults.every_503.store(5, Ordering::SeqCst);
    proxy.faults.every_429.store(7, Ordering::SeqCst);
    let run = apply(&[exs]);
    assert_eq!(run.code, 0, "retries ride out 503 and 429:\n{}", run.stdout);
    let users = list(&server.url(), "/Users");
    let names: BTreeSet<&str> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!((users.len(), names.len()), (30, 30), "nothing duplicated");

    // An outage: the server goes away; the apply says so and stops.
    proxy.faults.every_503.store(0, Ordering::SeqCst);
    proxy.faults.every_429.store(0, Ordering::SeqCst);
    for f in std::fs::read_dir(ex.join("fi-acme/grants")).unwrap() {
        let f = f.unwrap().path();
        std::fs::write(
            &f,
            std::fs::read_to_string(&f)
                .unwrap()
                .replace("features: [messaging", "features: [workAbility, messaging"),
        )
        .unwrap();
    }
    proxy.stop();
    let down = apply(&[exs]);
    assert_eq!(down.code, 1, "{}", down.stdout);
    assert!(
        down.stdout.contains("NOT APPLIED: ")
            && down.stdout.contains("cannot reach http://127.0.0.1:"),
        "{}",
        down.stdout
    );
    proxy.resume();
    let up = apply(&[exs]);
    assert_eq!(up.code, 0, "{}", up.stdout);
    let users = list(&server.url(), "/Users");
    assert_eq!(users.len(), 30);
    for u in users.iter().filter(|u| {
        u["externalId"]
            .as_str()
            .unwrap()
            .starts_with("accord:acme:")
    }) {
        let name = u["externalId"]
            .as_str()
            .unwrap()
            .trim_start_matches("accord:acme:");
        let grant =
            std::fs::read_to_string(ex.join(format!("fi-acme/grants/{name}.yaml"))).unwrap();
        assert_eq!(
            values(&u["roles"]).contains(&"workAbility".to_string()),
            grant.contains("workAbility"),
            "{name}"
        );
    }
    assert_eq!(writes(&apply(&[exs]).stdout), vec![0, 0]);
}

#[test]
fn a_user_name_taken_by_someone_else_is_adopted_only_when_allowed() {
    let scratch = Scratch::new("scim-adopt");
    let server = ScimServer::start();
    let base = server.url();
    let (status, _) = send(
        &base,
        "POST",
        "/Users",
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "anna.virtanen@acme.fi", "externalId": "hr-system:7"}),
        ),
    );
    assert_eq!(status, 201);
    let ex = examples_against(&base, &scratch.0);
    let exs = ex.to_str().unwrap();
    let refused = accord(&["apply", "--today", TODAY, "--target", "acme-extranet", exs]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stdout.contains("userName \"anna.virtanen@acme.fi\" is already taken by a SCIM resource accord does not own"), "{}", refused.stdout);
    assert_eq!(
        by_user_name(&list(&base, "/Users"), "anna.virtanen@acme.fi")["externalId"],
        "hr-system:7"
    );
    let integ = ex.join("fi-acme/integrations.yaml");
    std::fs::write(
        &integ,
        std::fs::read_to_string(&integ).unwrap().replace(
            "scim: {scopes: Expanded}",
            "scim: {scopes: Expanded, adopt: true}",
        ),
    )
    .unwrap();
    let adopted = accord(&["apply", "--today", TODAY, "--target", "acme-extranet", exs]);
    assert_eq!(adopted.code, 0, "{}", adopted.stdout);
    assert_eq!(
        by_user_name(&list(&base, "/Users"), "anna.virtanen@acme.fi")["externalId"],
        "accord:acme:anna-virtanen"
    );
}

#[test]
fn without_patch_support_changes_are_put_whole() {
    let scratch = Scratch::new("scim-put");
    let spc = scratch.write(
        "spc.json",
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"], "patch": {"supported": false}, "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0}, "filter": {"supported": true, "maxResults": 200}, "changePassword": {"supported": false}, "sort": {"supported": false}, "etag": {"supported": true}, "authenticationSchemes": []}"#,
    );
    let server = ScimServer::start_with(&["--service-provider-config", spc.to_str().unwrap()]);
    let proxy = Proxy::start(&server.url());
    let ex = examples_against(&proxy.url(), &scratch.0);
    let exs = ex.to_str().unwrap();
    assert_eq!(apply(&[exs]).code, 0);
    let g = ex.join("fi-acme/grants/anna-virtanen.yaml");
    std::fs::write(
        &g,
        std::fs::read_to_string(&g).unwrap().replace(
            "features: [messaging, documents, reports]",
            "features: [messaging]",
        ),
    )
    .unwrap();
    let run = apply(&[exs]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        proxy.bodies("PATCH").is_empty(),
        "no PATCH to a server without it"
    );
    let puts = proxy.bodies("PUT");
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(
        puts[0].contains("anna.virtanen@acme.fi") && !puts[0].contains("\"meta\""),
        "{}",
        puts[0]
    );
    assert_eq!(
        values(&by_user_name(&list(&server.url(), "/Users"), "anna.virtanen@acme.fi")["roles"]),
        vec!["messaging"]
    );
}
