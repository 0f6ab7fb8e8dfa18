//! The real API server harness (tests/support/apiserver.rs) works: kube-apiserver 1.20 on
//! etcd takes accord's CRDs (made acceptable to 1.20), serves an example Tenant, enforces
//! RBAC for an ordinary user, and comes back after an etcd compaction with watches from
//! before it answered 410 Gone.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::apiserver::{ApiServer, crd_names, crds_for_1_20};

#[test]
fn crds_for_1_20_drop_cel_rules_and_enums_have_no_null_member() {
    let original = accord::api::crds_yaml();
    assert!(original.contains("x-kubernetes-validations"));
    // 1.20 refuses a null enum member; accord's CRDs never write one.
    assert!(!original.contains("- null"));
    let processed = crds_for_1_20(&original);
    assert!(!processed.contains("x-kubernetes-validations"));
    assert!(!processed.contains("- null"));
    assert!(
        processed.contains("- Revoked"),
        "the other enum members stay"
    );
    assert_eq!(crd_names(&processed), crd_names(&original));
    assert_eq!(crd_names(&processed).len(), 4);
}

#[test]
fn real_apiserver_serves_accord_resources_with_rbac_and_survives_compaction() {
    let mut api = ApiServer::start();
    eprintln!("kube-apiserver ready in {:?}", api.ready_in);
    api.install_accord_crds();

    // The example Tenant, as a person would create it.
    api.kubectl(&["create", "namespace", "customer-acme"]);
    let tenant = std::fs::read_to_string(support::examples().join("fi-acme/tenant.yaml")).unwrap();
    api.apply_yaml(&tenant);
    let got: Value = serde_json::from_str(&api.kubectl(&[
        "get",
        "tenant",
        "acme",
        "-n",
        "customer-acme",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(got["spec"]["displayName"], "Acme Työterveys Oy");
    assert_eq!(got["spec"]["roles"].as_array().unwrap().len(), 7);
    // Defaults from the schema are filled in by the server.
    assert_eq!(got["spec"]["roles"][6]["admin"], false);
    // An empty string is a string, not null (the vendor/ patch of the validator).
    let empty = tenant.replace(
        "- {name: employee}",
        "- {name: employee, description: \"\"}",
    );
    api.apply_yaml(&empty);
    // The printer columns work against 1.20 (server-side table output).
    let table = api.kubectl(&["get", "tenants", "-n", "customer-acme"]);
    assert!(table.contains("acme"), "{table}");

    // An ordinary user may not list UserGrants until a Role and RoleBinding allow it.
    let denied = api.kubectl_as(
        "accord-operator",
        &["get", "usergrants", "-n", "customer-acme"],
    );
    assert_ne!(denied.code, 0, "{}", denied.stdout);
    assert!(
        denied.stderr.contains("Forbidden") || denied.stderr.contains("forbidden"),
        "{}",
        denied.stderr
    );
    api.apply_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: usergrant-reader, namespace: customer-acme}
rules:
  - apiGroups: [accord.dev]
    resources: [usergrants]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: accord-operator-reads-usergrants, namespace: customer-acme}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: usergrant-reader}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: accord-operator}
"#,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = api.kubectl_as(
            "accord-operator",
            &["get", "usergrants", "-n", "customer-acme"],
        );
        if r.code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the RoleBinding never took effect: {}",
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Another namespace stays closed, and so does the second ordinary user.
    assert_ne!(
        api.kubectl_as("accord-operator", &["get", "usergrants", "-n", "default"])
            .code,
        0
    );
    assert_ne!(
        api.kubectl_as(
            "accord-viewer",
            &["get", "usergrants", "-n", "customer-acme"]
        )
        .code,
        0
    );

    // After a compaction and a restart, a watch from before it gets 410 Gone.
    let list: Value = serde_json::from_str(&api.kubectl(&[
        "get",
        "--raw",
        "/apis/accord.dev/v1alpha1/namespaces/customer-acme/tenants",
    ]))
    .unwrap();
    let old_rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    api.kubectl(&["create", "configmap", "bump", "-n", "customer-acme"]);
    api.compact_and_restart();
    eprintln!("kube-apiserver ready again in {:?}", api.ready_in);
    let watch = api.kubectl_as(
        "admin",
        &[
            "get",
            "--raw",
            &format!(
                "/apis/accord.dev/v1alpha1/namespaces/customer-acme/tenants?watch=1&resourceVersion={old_rv}&timeoutSeconds=5"
            ),
        ],
    );
    // The watch stream's one event: {"type":"ERROR","object":{"kind":"Status",…,
    // "message":"too old resource version: …","reason":"Expired","code":410}}
    assert!(
        watch.stdout.contains(r#""type":"ERROR""#) && watch.stdout.contains(r#""code":410"#),
        "a watch from the compacted resourceVersion {old_rv}: {}{}",
        watch.stdout,
        watch.stderr
    );
    // The data survived: the Tenant is still there.
    let again: Value = serde_json::from_str(&api.kubectl(&[
        "get",
        "tenant",
        "acme",
        "-n",
        "customer-acme",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(again["spec"]["displayName"], "Acme Työterveys Oy");
}
