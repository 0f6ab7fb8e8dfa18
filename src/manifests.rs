//! Reading manifests from files: YAML streams in files and folders → a `Snapshot`, with every
//! problem named by file, line, object and field. The only file I/O of `plan` and `apply`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use crate::api::{API_VERSION, Integration, OrgUnit, Tenant, UserGrant};
use crate::engine::problem::{Kind, ObjectRef, Problem};
use crate::engine::snapshot::{SecretData, Snapshot};

#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Snapshot,
    pub problems: Vec<Problem>,
    pub files: usize,
    /// Documents of other kinds (Kustomizations, ConfigMaps …), passed over.
    pub ignored: usize,
}

/// Reads every `.yaml`/`.yml` file under `paths` (folders recursively, in name order).
pub fn load_paths(paths: &[PathBuf], default_namespace: &str) -> Loaded {
    let mut out = Loaded::default();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, &mut out.problems);
    }
    for f in files {
        out.files += 1;
        match std::fs::read(&f) {
            Err(e) => out.problems.push(file_problem(&f, None, format!("cannot be read: {e}"))),
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(_) => out.problems.push(file_problem(&f, None, "is not UTF-8 text".into())),
                Ok(text) => load_text(&f.display().to_string(), &text, default_namespace, &mut out),
            },
        }
    }
    out
}

fn file_problem(path: &Path, line: Option<usize>, reason: String) -> Problem {
    let origin = match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    };
    Problem { origin: Some(origin), object: None, field: String::new(), reason }
}

fn collect(path: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    match std::fs::metadata(path) {
        Err(e) => problems.push(file_problem(path, None, format!("cannot be read: {e}"))),
        Ok(m) if m.is_file() => files.push(path.to_path_buf()),
        Ok(_) => {
            let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => {
                    problems.push(file_problem(path, None, format!("cannot be read: {e}")));
                    return;
                }
            };
            entries.sort();
            for e in entries {
                let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with('.') {
                    continue;
                }
                if e.is_dir() {
                    collect(&e, files, problems);
                } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                    files.push(e);
                }
            }
        }
    }
}

/// Splits a YAML stream into documents with the line each starts on (1-based).
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs.into_iter()
        .filter(|(_, d)| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .collect()
}

/// Loads one YAML stream; `name` is used in messages.
pub fn load_text(name: &str, text: &str, default_namespace: &str, out: &mut Loaded) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (start, doc) in split_documents(text) {
        let value: Value = match serde_yaml::from_str(&doc) {
            Ok(v) => v,
            Err(e) => {
                let line = e.location().map(|l| start + l.line() - 1).unwrap_or(start);
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                out.problems.push(Problem { origin: Some(format!("{name}:{line}")), object: None, field: String::new(), reason: format!("YAML syntax error: {msg}") });
                continue;
            }
        };
        let origin = format!("{name}:{start}");
        load_document(&origin, value, default_namespace, out);
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn load_document(origin: &str, value: Value, default_namespace: &str, out: &mut Loaded) {
    if value.is_null() {
        return;
    }
    let problem = |field: &str, reason: String, object: Option<ObjectRef>| Problem {
        origin: Some(origin.to_string()),
        object,
        field: field.to_string(),
        reason,
    };
    if !value.is_mapping() {
        out.problems.push(problem("", "is not a Kubernetes object (expected a mapping with apiVersion and kind)".into(), None));
        return;
    }
    let api_version = str_at(&value, &["apiVersion"]).unwrap_or("");
    let kind_name = str_at(&value, &["kind"]).unwrap_or("");
    let kind = match (api_version, kind_name) {
        (API_VERSION, "Tenant") => Kind::Tenant,
        (API_VERSION, "OrgUnit") => Kind::OrgUnit,
        (API_VERSION, "UserGrant") => Kind::UserGrant,
        (API_VERSION, "Integration") => Kind::Integration,
        ("v1", "Secret") => Kind::Secret,
        ("", _) | (_, "") => {
            out.problems.push(problem("", "has no apiVersion or kind".into(), None));
            return;
        }
        (v, k) if v.starts_with("accord.dev/") => {
            out.problems.push(problem(
                "kind",
                format!("{v} {k} is not an accord kind (known: {API_VERSION} Tenant, OrgUnit, UserGrant, Integration)"),
                None,
            ));
            return;
        }
        _ => {
            out.ignored += 1;
            return;
        }
    };
    let Some(name) = str_at(&value, &["metadata", "name"]).map(str::to_string) else {
        out.problems.push(problem("metadata.name", format!("a {} needs a name", kind.as_str()), None));
        return;
    };
    let namespace = str_at(&value, &["metadata", "namespace"]).unwrap_or(default_namespace).to_string();
    let object = ObjectRef { kind, namespace: namespace.clone(), name: name.clone() };
    if let Err(e) = check_name(&name) {
        out.problems.push(problem("metadata.name", format!("{name:?} {e}"), Some(object)));
        return;
    }
    if let Some(first) = out.snapshot.origins.get(&object) {
        out.problems.push(problem("metadata.name", format!("is defined twice (first at {first})"), Some(object)));
        return;
    }
    let mut report = |field: String, reason: String| out.problems.push(problem(&field, reason, Some(object.clone())));
    let read = match kind {
        Kind::Tenant => typed::<Tenant>(&value, &namespace, &mut report).map(|t| out.snapshot.tenants.push(t)),
        Kind::OrgUnit => typed::<OrgUnit>(&value, &namespace, &mut report).map(|t| out.snapshot.org_units.push(t)),
        Kind::UserGrant => typed::<UserGrant>(&value, &namespace, &mut report).map(|t| out.snapshot.user_grants.push(t)),
        Kind::Integration => typed::<Integration>(&value, &namespace, &mut report).map(|t| out.snapshot.integrations.push(t)),
        Kind::Secret => secret(&value, &mut report).map(|s| {
            out.snapshot.secrets.insert((namespace.clone(), name.clone()), s);
        }),
    };
    if read.is_none() {
        out.snapshot.unreadable.insert(object.clone());
    }
    out.snapshot.origins.insert(object, origin.to_string());
}

/// DNS-1123 subdomain, as Kubernetes requires of these names.
fn check_name(name: &str) -> Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err("is not a valid name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)") }
}

/// Deserialises with the failing field's path, then reports fields the type does not know.
fn typed<T: DeserializeOwned + Serialize + kube::Resource>(value: &Value, namespace: &str, report: &mut impl FnMut(String, String)) -> Option<T> {
    let mut obj: T = match serde_path_to_error::deserialize(value.clone()) {
        Ok(o) => o,
        Err(e) => {
            let path = e.path().to_string();
            report(if path == "." { String::new() } else { path }, e.into_inner().to_string());
            return None;
        }
    };
    obj.meta_mut().namespace = Some(namespace.to_string());
    if let (Some(spec), Ok(round)) = (value.get("spec"), serde_yaml::to_value(&obj))
        && let Some(known) = round.get("spec")
    {
        let mut unknown = Vec::new();
        unknown_fields(spec, known, "spec", &mut unknown);
        if !unknown.is_empty() {
            for field in unknown {
                report(field, "is not a field of this kind (misspelt?)".into());
            }
            return None;
        }
    }
    Some(obj)
}

/// Fields present in `given` with a non-empty value that did not survive a typed round trip.
fn unknown_fields(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (given, known) {
        (Value::Mapping(g), Value::Mapping(k)) => {
            for (key, gv) in g {
                let Some(name) = key.as_str() else { continue };
                let here = format!("{path}.{name}");
                match k.get(name) {
                    Some(kv) => unknown_fields(gv, kv, &here, out),
                    None if is_empty(gv) => {}
                    None => {
                        // Typed maps (e.g. ldap.attributes) keep every key, so a missing
                        // key means the field itself is unknown.
                        out.push(here)
                    }
                }
            }
        }
        (Value::Sequence(g), Value::Sequence(k)) => {
            for (i, (gv, kv)) in g.iter().zip(k).enumerate() {
                unknown_fields(gv, kv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        Value::Bool(b) => !b,
        _ => false,
    }
}

fn secret(value: &Value, report: &mut impl FnMut(String, String)) -> Option<SecretData> {
    let s: Secret = match serde_path_to_error::deserialize(value.clone()) {
        Ok(s) => s,
        Err(e) => {
            // Never echo the value: only where and what kind of problem.
            report(e.path().to_string(), "cannot be read (data values must be base64)".into());
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for (k, v) in s.data.unwrap_or_default() {
        match String::from_utf8(v.0) {
            Ok(text) => {
                out.insert(k, text);
            }
            Err(_) => report(format!("data.{k}"), "is not UTF-8 text".into()),
        }
    }
    for (k, v) in s.string_data.unwrap_or_default() {
        out.insert(k, v);
    }
    Some(SecretData(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines() {
        let docs = split_documents("# c\n---\na: 1\n---\n\n---\nb: 2\nc: 3\n");
        assert_eq!(docs.iter().map(|d| d.0).collect::<Vec<_>>(), vec![3, 7]);
    }
}
