//! The Kubernetes API emulator's own tests: one per behaviour its README promises, through
//! kube's real client.

mod support;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Client, Config, Discovery};
use serde_json::json;
use support::kube::Emulator;

use accord::api::{OrgUnit, OrgUnitSpec, Tenant, TenantSpec};

fn rt() -> tokio::runtime::Runtime {
    accord::connectors::http::crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client(e: &Emulator) -> Client {
    let config = Config::new(e.url().parse().unwrap());
    Client::try_from(config).unwrap()
}

fn tenant(name: &str) -> Tenant {
    Tenant::new(
        name,
        TenantSpec {
            display_name: "T".into(),
            country: None,
            identifiers: vec![],
            integrations: Default::default(),
            features: vec![],
            roles: vec![],
            policy: Default::default(),
        },
    )
}

fn unit(name: &str, display: &str) -> OrgUnit {
    OrgUnit::new(
        name,
        OrgUnitSpec {
            tenant: "t".into(),
            display_name: display.into(),
            parent: None,
            codes: vec![],
        },
    )
}

#[test]
fn discovery_finds_every_kind_accord_uses() {
    let e = Emulator::start();
    rt().block_on(async {
        let d = Discovery::new(client(&e).await).run().await.unwrap();
        let kinds: Vec<String> = d
            .groups()
            .flat_map(|g| {
                g.recommended_resources()
                    .into_iter()
                    .map(|(r, _)| format!("{}/{}", r.group, r.kind))
            })
            .collect();
        for k in [
            "accord.dev/Tenant",
            "accord.dev/OrgUnit",
            "accord.dev/UserGrant",
            "accord.dev/Integration",
            "/Secret",
            "coordination.k8s.io/Lease",
        ] {
            assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
        }
    });
}

#[test]
fn create_get_list_with_limit_and_continue() {
    let e = Emulator::start();
    rt().block_on(async {
        let api: Api<OrgUnit> = Api::namespaced(client(&e).await, "ns");
        for i in 0..7 {
            api.create(&PostParams::default(), &unit(&format!("u{i}"), "U"))
                .await
                .unwrap();
        }
        let dup = api
            .create(&PostParams::default(), &unit("u0", "U"))
            .await
            .unwrap_err();
        assert!(
            matches!(dup, kube::Error::Api(ref s) if s.code == 409),
            "{dup:?}"
        );
        let got = api.get("u3").await.unwrap();
        assert_eq!(got.metadata.generation, Some(1));
        assert!(got.metadata.uid.is_some() && got.metadata.creation_timestamp.is_some());
        let mut names = Vec::new();
        let mut lp = ListParams::default().limit(3);
        loop {
            let page = api.list(&lp).await.unwrap();
            assert!(page.items.len() <= 3);
            names.extend(page.items.iter().map(|u| u.metadata.name.clone().unwrap()));
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => break,
            }
        }
        assert_eq!(names, (0..7).map(|i| format!("u{i}")).collect::<Vec<_>>());
        let err = api.get("nope").await.unwrap_err();
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404));

        // Selectors: equality and inequality on labels and on the supported fields.
        api.patch(
            "u1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "a"}}})),
        )
        .await
        .unwrap();
        let names = |list: kube::core::ObjectList<OrgUnit>| {
            list.items
                .into_iter()
                .map(|u| u.metadata.name.unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(
                api.list(&ListParams::default().labels("tier=a"))
                    .await
                    .unwrap()
            ),
            ["u1"]
        );
        assert_eq!(
            api.list(&ListParams::default().labels("tier!=a"))
                .await
                .unwrap()
                .items
                .len(),
            6
        );
        assert_eq!(
            names(
                api.list(&ListParams::default().fields("metadata.name=u2"))
                    .await
                    .unwrap()
            ),
            ["u2"]
        );
        assert_eq!(
            api.list(&ListParams::default().fields("metadata.name!=u2"))
                .await
                .unwrap()
                .items
                .len(),
            6
        );
        let unknown = api
            .list(&ListParams::default().fields("spec.tenant=t"))
            .await
            .unwrap_err();
        assert!(
            matches!(unknown, kube::Error::Api(ref s) if s.code == 400),
            "{unknown:?}"
        );
        // Secrets also select on their type (accord leaves Helm's release Secrets out).
        let secrets: Api<Secret> = Api::namespaced(client(&e).await, "ns");
        for (name, type_) in [
            ("creds", "Opaque"),
            ("sh.helm.release.v1.acme.v1", "helm.sh/release.v1"),
        ] {
            let secret =
                serde_json::from_value(json!({"metadata": {"name": name}, "type": type_})).unwrap();
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .unwrap();
        }
        let kept = secrets
            .list(&ListParams::default().fields("type!=helm.sh/release.v1"))
            .await
            .unwrap();
        assert_eq!(
            kept.items
                .iter()
                .map(|s| s.metadata.name.clone().unwrap())
                .collect::<Vec<_>>(),
            ["creds"]
        );
    });
}

#[test]
fn stale_resource_version_conflicts_and_generation_follows_spec_only() {
    let e = Emulator::start();
    rt().block_on(async {
        let api: Api<OrgUnit> = Api::namespaced(client(&e).await, "ns");
        let created = api.create(&PostParams::default(), &unit("u", "One")).await.unwrap();
        let mut changed = created.clone();
        changed.spec.display_name = "Two".into();
        let replaced = api.replace("u", &PostParams::default(), &changed).await.unwrap();
        assert_eq!(replaced.metadata.generation, Some(2));
        assert_ne!(replaced.metadata.resource_version, created.metadata.resource_version);
        let stale = api.replace("u", &PostParams::default(), &changed).await.unwrap_err();
        assert!(matches!(stale, kube::Error::Api(ref s) if s.code == 409), "{stale:?}");
        // A label is not spec: same generation.
        let labelled = api.patch("u", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}))).await.unwrap();
        assert_eq!(labelled.metadata.generation, Some(2));
        // JSON patch.
        let jp: json_patch::Patch = serde_json::from_value(json!([{"op": "replace", "path": "/spec/displayName", "value": "Three"}])).unwrap();
        let patched = api.patch("u", &PatchParams::default(), &Patch::<()>::Json(jp)).await.unwrap();
        assert_eq!((patched.spec.display_name.as_str(), patched.metadata.generation), ("Three", Some(3)));
        // Server-side apply: a merge under a field manager, creating what is missing.
        let ssa = PatchParams::apply("accord-test");
        let applied = api.patch("fresh", &ssa, &Patch::Apply(json!({"apiVersion": "accord.dev/v1alpha1", "kind": "OrgUnit", "metadata": {"name": "fresh"}, "spec": {"tenant": "t", "displayName": "Fresh"}}))).await.unwrap();
        assert_eq!(applied.spec.display_name, "Fresh");
    });
}

#[test]
fn status_subresource_and_main_resource_ignore_each_other() {
    let e = Emulator::start();
    rt().block_on(async {
        let api: Api<OrgUnit> = Api::namespaced(client(&e).await, "ns");
        api.create(&PostParams::default(), &unit("u", "One")).await.unwrap();
        let s = api
            .patch_status("u", &PatchParams::apply("accord"), &Patch::Merge(json!({"spec": {"displayName": "Sneaky"}, "status": {"path": "t/one", "depth": 0}})))
            .await
            .unwrap();
        assert_eq!(s.status.as_ref().unwrap().path.as_deref(), Some("t/one"));
        assert_eq!(s.spec.display_name, "One", "a status write does not change spec");
        assert_eq!(s.metadata.generation, Some(1));
        let m = api.patch("u", &PatchParams::default(), &Patch::Merge(json!({"spec": {"displayName": "Two"}, "status": {"path": "changed"}}))).await.unwrap();
        assert_eq!(m.status.as_ref().unwrap().path.as_deref(), Some("t/one"), "a spec write does not change status");
    });
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let e = Emulator::start();
    rt().block_on(async {
        let api: Api<OrgUnit> = Api::namespaced(client(&e).await, "ns");
        let mut u = unit("u", "One");
        u.metadata.finalizers = Some(vec!["accord.dev/cleanup".into()]);
        api.create(&PostParams::default(), &u).await.unwrap();
        api.delete("u", &DeleteParams::default()).await.unwrap();
        let held = api.get("u").await.unwrap();
        assert!(held.metadata.deletion_timestamp.is_some());
        api.patch(
            "u",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
        assert!(
            matches!(api.get("u").await.unwrap_err(), kube::Error::Api(ref s) if s.code == 404)
        );
    });
}

#[test]
fn watch_events_bookmarks_and_410_after_compaction() {
    let e = Emulator::start();
    rt().block_on(async {
        let api: Api<OrgUnit> = Api::namespaced(client(&e).await, "ns");
        let start = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let mut stream = api
            .watch(&WatchParams::default().timeout(10), &start)
            .await
            .unwrap()
            .boxed();
        api.create(&PostParams::default(), &unit("u", "One"))
            .await
            .unwrap();
        api.patch(
            "u",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"displayName": "Two"}})),
        )
        .await
        .unwrap();
        api.delete("u", &DeleteParams::default()).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 4 {
            match stream.try_next().await.unwrap().unwrap() {
                WatchEvent::Added(_) => seen.push("ADDED"),
                WatchEvent::Modified(_) => seen.push("MODIFIED"),
                WatchEvent::Deleted(_) => seen.push("DELETED"),
                WatchEvent::Bookmark(_) => {
                    if !seen.contains(&"BOOKMARK") {
                        seen.push("BOOKMARK")
                    }
                }
                WatchEvent::Error(err) => panic!("{err:?}"),
            }
        }
        assert!(
            seen.contains(&"ADDED")
                && seen.contains(&"MODIFIED")
                && seen.contains(&"DELETED")
                && seen.contains(&"BOOKMARK"),
            "{seen:?}"
        );
        e.compact();
        let mut old = api
            .watch(&WatchParams::default(), &start)
            .await
            .unwrap()
            .boxed();
        match old.try_next().await.unwrap().unwrap() {
            WatchEvent::Error(err) => assert_eq!(err.code, 410),
            other => panic!("expected 410 Gone, got {other:?}"),
        }
    });
}

#[test]
fn custom_resources_are_validated_against_the_crd_schema() {
    let e = Emulator::start();
    rt().block_on(async {
        let c = client(&e).await;
        let tenants: Api<Tenant> = Api::namespaced(c.clone(), "ns");
        tenants.create(&PostParams::default(), &tenant("good")).await.unwrap();
        let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(c.clone(), "ns", &kube::api::ApiResource::erase::<Tenant>(&()));
        let bad: kube::api::DynamicObject = serde_json::from_value(json!({"apiVersion": "accord.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "bad"}, "spec": {"displayName": "B", "policy": {"management": "Sometimes"}}})).unwrap();
        let err = raw.create(&PostParams::default(), &bad).await.unwrap_err();
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 422);
                assert!(s.message.contains("/spec/policy/management"), "{}", s.message);
            }
            other => panic!("{other:?}"),
        }
        // Built-in kinds are stored as given.
        let secrets: Api<Secret> = Api::namespaced(c, "ns");
        let mut s = Secret::default();
        s.metadata.name = Some("s".into());
        s.string_data = Some([("k".to_string(), "v".to_string())].into());
        secrets.create(&PostParams::default(), &s).await.unwrap();
        assert!(secrets.get("s").await.is_ok());
    });
}
