//! accord's finalizer (`accord.dev/cleanup`), added and released with JSON patches that are
//! guarded by a `test` of exactly what they change: another controller's finalizer is never
//! dropped, and a patch against a stale copy fails (and is retried) instead of overwriting.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, TestOperation};
use kube::api::{Patch as KubePatch, PatchParams};
use kube::{Api, Resource};
use serde_json::{Value, json};

use super::FINALIZER;

fn pointer(p: &str) -> PointerBuf {
    PointerBuf::parse(p).expect("a literal JSON pointer")
}

/// Adds accord's finalizer after the ones there; None when it is there already.
/// `current` is the object's list (None: it has none), `rv` its resourceVersion.
pub fn add_patch(current: Option<&[String]>, rv: Option<&str>) -> Option<Patch> {
    match current {
        Some(list) if list.iter().any(|f| f == FINALIZER) => None,
        // The list is there: it must still be the list seen, then ours goes at the end.
        Some(list) if !list.is_empty() => Some(Patch(vec![
            PatchOperation::Test(TestOperation {
                path: pointer("/metadata/finalizers"),
                value: json!(list),
            }),
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers/-"),
                value: json!(FINALIZER),
            }),
        ])),
        // No list: adding one would replace one added meanwhile, so the object must be the
        // version seen.
        _ => Some(Patch(vec![
            PatchOperation::Test(TestOperation {
                path: pointer("/metadata/resourceVersion"),
                value: json!(rv.unwrap_or_default()),
            }),
            PatchOperation::Add(AddOperation {
                path: pointer("/metadata/finalizers"),
                value: json!([FINALIZER]),
            }),
        ])),
    }
}

/// Removes accord's finalizer, and only it: the entry at its index must still be accord's.
pub fn release_patch(current: &[String]) -> Option<Patch> {
    let i = current.iter().position(|f| f == FINALIZER)?;
    let at = pointer(&format!("/metadata/finalizers/{i}"));
    Some(Patch(vec![
        PatchOperation::Test(TestOperation {
            path: at.clone(),
            value: Value::String(FINALIZER.into()),
        }),
        PatchOperation::Remove(RemoveOperation { path: at }),
    ]))
}

/// Sends a finalizer patch. A failed `test` (409/422) means the object changed meanwhile:
/// the next reconcile sees the new version and tries again.
pub async fn send<K>(api: &Api<K>, name: &str, patch: Patch) -> Result<(), kube::Error>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    api.patch(name, &PatchParams::default(), &KubePatch::<()>::Json(patch))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(doc: &mut Value, patch: &Patch) -> Result<(), json_patch::PatchError> {
        json_patch::patch(doc, patch)
    }

    #[test]
    fn adding_keeps_other_finalizers_and_fails_on_a_changed_list() {
        let theirs = vec!["example.com/keep".to_string()];
        let p = add_patch(Some(&theirs), Some("7")).unwrap();
        let mut doc = json!({"metadata": {"resourceVersion": "7", "finalizers": ["example.com/keep"]}});
        apply(&mut doc, &p).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["example.com/keep", FINALIZER]));
        // Someone added another meanwhile: the guarded patch fails instead of losing it.
        let mut changed = json!({"metadata": {"finalizers": ["example.com/keep", "other/one"]}});
        assert!(apply(&mut changed, &p).is_err());
        assert_eq!(add_patch(Some(&[FINALIZER.to_string()]), None), None);
    }

    #[test]
    fn adding_the_first_needs_the_version_seen() {
        let p = add_patch(None, Some("7")).unwrap();
        let mut doc = json!({"metadata": {"resourceVersion": "7"}});
        apply(&mut doc, &p).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!([FINALIZER]));
        let mut newer = json!({"metadata": {"resourceVersion": "8", "finalizers": ["x/y"]}});
        assert!(apply(&mut newer, &p).is_err());
        assert_eq!(newer["metadata"]["finalizers"], json!(["x/y"]));
    }

    #[test]
    fn releasing_removes_only_accords() {
        let list = vec!["a/one".to_string(), FINALIZER.to_string(), "b/two".to_string()];
        let p = release_patch(&list).unwrap();
        let mut doc = json!({"metadata": {"finalizers": list}});
        apply(&mut doc, &p).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["a/one", "b/two"]));
        // The list moved on meanwhile: nothing is removed.
        let mut moved = json!({"metadata": {"finalizers": ["a/one", "b/two", FINALIZER]}});
        assert!(apply(&mut moved, &p).is_err());
        assert_eq!(release_patch(&["a/one".to_string()]), None);
    }
}
