//! The generated CRDs are committed, current, and accept every example.

mod support;

use std::path::Path;

use serde_json::Value;

#[test]
fn committed_crds_are_current() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/accord.dev.yaml"))
            .unwrap();
    assert!(
        committed == accord::api::crds_yaml(),
        "crds/accord.dev.yaml is stale: run `cargo run -- crds > crds/accord.dev.yaml`"
    );
}

#[test]
fn crds_carry_status_columns_categories_and_cel_rules() {
    let yaml = accord::api::crds_yaml();
    for crd in accord::api::crds() {
        let v = &crd.spec.versions[0];
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has a status subresource",
            crd.spec.names.kind
        );
        assert!(
            v.additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c.name == "Ready"))
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["accord".to_string()][..])
        );
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty())
        );
        assert_eq!(crd.spec.scope, "Namespaced");
    }
    assert!(yaml.contains("self.validFrom <= self.validUntil"));
    assert_eq!(
        yaml.matches("tenant is immutable").count(),
        3,
        "tenant is immutable on OrgUnit, UserGrant and Integration"
    );
}

fn documents(dir: &Path, out: &mut Vec<(String, Value)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            documents(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc).unwrap();
                out.push((p.display().to_string(), v));
            }
        }
    }
}

#[test]
fn every_example_validates_against_its_crd_schema() {
    let schemas = support::kube::crd_validators();
    let mut docs = Vec::new();
    documents(&support::examples(), &mut docs);
    let mut checked = 0;
    for (file, doc) in &docs {
        let kind = doc["kind"].as_str().unwrap();
        if doc["apiVersion"] != "accord.dev/v1alpha1" {
            assert_eq!(kind, "Secret", "{file}");
            continue;
        }
        let (_, v) = schemas
            .iter()
            .find(|(k, _)| k == kind)
            .unwrap_or_else(|| panic!("{file}: unknown kind {kind}"));
        let errors: Vec<String> = v
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        checked += 1;
    }
    assert!(checked >= 50, "checked {checked} accord objects");
}

#[test]
fn the_schema_rejects_what_it_should() {
    let schemas = support::kube::crd_validators();
    let grant = &schemas.iter().find(|(k, _)| k == "UserGrant").unwrap().1;
    let good: Value = serde_json::json!({
        "apiVersion": "accord.dev/v1alpha1", "kind": "UserGrant", "metadata": {"name": "a"},
        "spec": {"tenant": "acme", "unit": "u", "person": {"givenName": "A", "familyName": "B", "email": "a@b.fi", "phone": "+358401234567"}, "validFrom": "2026-01-01"}
    });
    assert!(grant.is_valid(&good));
    for (path, bad) in [
        ("/spec/person/email", serde_json::json!("not-an-email")),
        ("/spec/validFrom", serde_json::json!("2026-02-30")),
        ("/spec/tenant", serde_json::json!("Not A Name")),
        ("/spec/person/phone", serde_json::json!("call me")),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(path).unwrap() = bad.clone();
        assert!(!grant.is_valid(&doc), "{path} = {bad} should be rejected");
    }
    let tenant = &schemas.iter().find(|(k, _)| k == "Tenant").unwrap().1;
    let t = serde_json::json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "a"},
        "spec": {"displayName": "A", "policy": {"attestation": {"interval": "ninety days"}}}});
    assert!(
        !tenant.is_valid(&t),
        "a malformed duration is rejected by the schema"
    );
    let t2 = serde_json::json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "a"},
        "spec": {"displayName": "A", "policy": {"management": "Sometimes"}}});
    assert!(!tenant.is_valid(&t2), "management is an enum");
}
