//! Reading manifests from files: YAML streams in files and folders → a `Snapshot`, with every
//! problem named by file, line, object and field. The only file I/O of `plan` and `apply`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
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
/// Files are parsed on every core; the result does not depend on how many.
pub fn load_paths(paths: &[PathBuf], default_namespace: &str) -> Loaded {
    let mut out = Loaded::default();
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, &mut out.problems);
    }
    out.files = files.len();
    let parsed = crate::par::map_ordered(&files, |f| parse_file(f, default_namespace));
    for docs in parsed {
        for d in docs {
            merge(d, &mut out);
        }
    }
    out
}

fn parse_file(f: &Path, default_namespace: &str) -> Vec<ParsedDoc> {
    let name = f.display().to_string();
    match std::fs::read(f) {
        Err(e) => vec![ParsedDoc::problem(file_problem(
            f,
            None,
            format!("cannot be read: {e}"),
        ))],
        Ok(bytes) => match String::from_utf8(bytes) {
            Err(_) => vec![ParsedDoc::problem(file_problem(
                f,
                None,
                "is not UTF-8 text".into(),
            ))],
            Ok(text) => parse_text(&name, &text, default_namespace),
        },
    }
}

fn file_problem(path: &Path, line: Option<usize>, reason: String) -> Problem {
    let origin = match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    };
    Problem {
        origin: Some(origin),
        object: None,
        field: String::new(),
        reason,
    }
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
pub fn split_documents(text: &str) -> Vec<(usize, String)> {
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
        .filter(|(_, d)| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Loads one YAML stream; `name` is used in messages.
pub fn load_text(name: &str, text: &str, default_namespace: &str, out: &mut Loaded) {
    for d in parse_text(name, text, default_namespace) {
        merge(d, out);
    }
}

/// One document, parsed on its own; `merge` adds it to the snapshot in file order.
pub struct ParsedDoc {
    origin: Option<String>,
    object: Option<ObjectRef>,
    content: Content,
    problems: Vec<Problem>,
}

enum Content {
    Tenant(Box<Tenant>),
    OrgUnit(Box<OrgUnit>),
    UserGrant(Box<UserGrant>),
    Integration(Box<Integration>),
    Secret(SecretData),
    /// Not read: ignored (other kinds) or failed (problems say why).
    Nothing {
        ignored: bool,
    },
}

impl ParsedDoc {
    fn problem(p: Problem) -> Self {
        Self {
            origin: None,
            object: None,
            content: Content::Nothing { ignored: false },
            problems: vec![p],
        }
    }
}

fn parse_text(name: &str, text: &str, default_namespace: &str) -> Vec<ParsedDoc> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    split_documents(text)
        .into_iter()
        .map(|(start, doc)| {
            parse_document(
                &format!("{name}:{start}"),
                &doc,
                start,
                name,
                default_namespace,
            )
        })
        .collect()
}

/// The top-level `apiVersion:` and `kind:` of a block-style document, found without parsing.
fn scan_head(doc: &str) -> (Option<&str>, Option<&str>) {
    let mut api = None;
    let mut kind = None;
    for line in doc.lines() {
        if let Some(v) = line.strip_prefix("apiVersion:") {
            api = Some(v.trim().trim_matches(['"', '\'']));
        } else if let Some(v) = line.strip_prefix("kind:") {
            kind = Some(v.trim().trim_matches(['"', '\'']));
        }
    }
    (api, kind)
}

fn accord_kind(api_version: &str, kind: &str) -> Option<Kind> {
    match (api_version, kind) {
        (API_VERSION, "Tenant") => Some(Kind::Tenant),
        (API_VERSION, "OrgUnit") => Some(Kind::OrgUnit),
        (API_VERSION, "UserGrant") => Some(Kind::UserGrant),
        (API_VERSION, "Integration") => Some(Kind::Integration),
        ("v1", "Secret") => Some(Kind::Secret),
        _ => None,
    }
}

fn parse_document(
    origin: &str,
    doc: &str,
    start: usize,
    file: &str,
    default_namespace: &str,
) -> ParsedDoc {
    let mut pd = ParsedDoc {
        origin: Some(origin.to_string()),
        object: None,
        content: Content::Nothing { ignored: false },
        problems: vec![],
    };
    // The fast path: a block-style accord document goes straight into its type.
    if let (Some(api), Some(kind)) = scan_head(doc)
        && let Some(kind @ (Kind::Tenant | Kind::OrgUnit | Kind::UserGrant | Kind::Integration)) =
            accord_kind(api, kind)
    {
        let parsed = match kind {
            Kind::Tenant => typed::<Tenant>(doc).map(|o| Content::Tenant(Box::new(o))),
            Kind::OrgUnit => typed::<OrgUnit>(doc).map(|o| Content::OrgUnit(Box::new(o))),
            Kind::UserGrant => typed::<UserGrant>(doc).map(|o| Content::UserGrant(Box::new(o))),
            _ => typed::<Integration>(doc).map(|o| Content::Integration(Box::new(o))),
        };
        match parsed {
            Ok(content) => {
                let meta = match &content {
                    Content::Tenant(o) => &o.metadata,
                    Content::OrgUnit(o) => &o.metadata,
                    Content::UserGrant(o) => &o.metadata,
                    Content::Integration(o) => &o.metadata,
                    _ => unreachable!(),
                };
                let Some(name) = meta.name.clone() else {
                    pd.problems.push(Problem {
                        origin: pd.origin.clone(),
                        object: None,
                        field: "metadata.name".into(),
                        reason: format!("a {} needs a name", kind.as_str()),
                    });
                    return pd;
                };
                let ns = meta
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string());
                pd.object = Some(ObjectRef {
                    kind,
                    namespace: ns,
                    name,
                });
                pd.content = content;
                pd.set_namespace();
                return pd;
            }
            Err(TypedError::Syntax(_)) => {} // reported by the slow path with its line
            Err(TypedError::Fields(fields)) => {
                // Name the object if the document says who it is.
                pd.object = serde_yaml::from_str::<Value>(doc).ok().and_then(|v| {
                    let name = str_at(&v, &["metadata", "name"])?.to_string();
                    let ns = str_at(&v, &["metadata", "namespace"])
                        .unwrap_or(default_namespace)
                        .to_string();
                    Some(ObjectRef {
                        kind,
                        namespace: ns,
                        name,
                    })
                });
                for (field, reason) in fields {
                    pd.problems.push(Problem {
                        origin: pd.origin.clone(),
                        object: pd.object.clone(),
                        field,
                        reason,
                    });
                }
                return pd;
            }
        }
    }
    slow_path(pd, doc, start, file, default_namespace)
}

/// Everything else: Secrets, other kinds, flow-style documents, syntax errors.
fn slow_path(
    mut pd: ParsedDoc,
    doc: &str,
    start: usize,
    file: &str,
    default_namespace: &str,
) -> ParsedDoc {
    let value: Value = match serde_yaml::from_str(doc) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| start + l.line() - 1).unwrap_or(start);
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            pd.problems.push(Problem {
                origin: Some(format!("{file}:{line}")),
                object: None,
                field: String::new(),
                reason: format!("YAML syntax error: {msg}"),
            });
            return pd;
        }
    };
    let origin = pd.origin.clone();
    let problem = |field: &str, reason: String, object: Option<ObjectRef>| Problem {
        origin: origin.clone(),
        object,
        field: field.to_string(),
        reason,
    };
    if value.is_null() {
        pd.content = Content::Nothing { ignored: true };
        return pd;
    }
    if !value.is_mapping() {
        pd.problems.push(problem(
            "",
            "is not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
            None,
        ));
        return pd;
    }
    let api_version = str_at(&value, &["apiVersion"]).unwrap_or("");
    let kind_name = str_at(&value, &["kind"]).unwrap_or("");
    let kind = match accord_kind(api_version, kind_name) {
        Some(k) => k,
        None if api_version.is_empty() || kind_name.is_empty() => {
            pd.problems
                .push(problem("", "has no apiVersion or kind".into(), None));
            return pd;
        }
        None if api_version.starts_with("accord.dev/") => {
            pd.problems.push(problem(
                "kind",
                format!("{api_version} {kind_name} is not an accord kind (known: {API_VERSION} Tenant, OrgUnit, UserGrant, Integration)"),
                None,
            ));
            return pd;
        }
        None => {
            pd.content = Content::Nothing { ignored: true };
            return pd;
        }
    };
    let Some(name) = str_at(&value, &["metadata", "name"]).map(str::to_string) else {
        pd.problems.push(problem(
            "metadata.name",
            format!("a {} needs a name", kind.as_str()),
            None,
        ));
        return pd;
    };
    let namespace = str_at(&value, &["metadata", "namespace"])
        .unwrap_or(default_namespace)
        .to_string();
    let object = ObjectRef {
        kind,
        namespace,
        name,
    };
    pd.object = Some(object.clone());
    let result = match kind {
        Kind::Secret => secret(&value).map(Content::Secret),
        Kind::Tenant => typed_value::<Tenant>(&value).map(|o| Content::Tenant(Box::new(o))),
        Kind::OrgUnit => typed_value::<OrgUnit>(&value).map(|o| Content::OrgUnit(Box::new(o))),
        Kind::UserGrant => {
            typed_value::<UserGrant>(&value).map(|o| Content::UserGrant(Box::new(o)))
        }
        Kind::Integration => {
            typed_value::<Integration>(&value).map(|o| Content::Integration(Box::new(o)))
        }
    };
    match result {
        Ok(c) => {
            pd.content = c;
            pd.set_namespace();
        }
        Err(fields) => {
            for (field, reason) in fields {
                pd.problems
                    .push(problem(&field, reason, Some(object.clone())));
            }
        }
    }
    pd
}

impl ParsedDoc {
    fn set_namespace(&mut self) {
        let Some(ns) = self.object.as_ref().map(|o| o.namespace.clone()) else {
            return;
        };
        let meta = match &mut self.content {
            Content::Tenant(o) => &mut o.metadata,
            Content::OrgUnit(o) => &mut o.metadata,
            Content::UserGrant(o) => &mut o.metadata,
            Content::Integration(o) => &mut o.metadata,
            _ => return,
        };
        meta.namespace = Some(ns);
    }
}

/// Adds one parsed document to the snapshot: names checked, duplicates caught, objects that
/// failed to read remembered as unreadable.
fn merge(pd: ParsedDoc, out: &mut Loaded) {
    out.problems.extend(pd.problems.iter().cloned());
    let Some(object) = pd.object else {
        if let Content::Nothing { ignored: true } = pd.content {
            out.ignored += 1;
        }
        return;
    };
    let origin = pd.origin.unwrap_or_default();
    let problem = |field: &str, reason: String| Problem {
        origin: Some(origin.clone()),
        object: Some(object.clone()),
        field: field.into(),
        reason,
    };
    if let Err(e) = check_name(&object.name) {
        out.problems
            .push(problem("metadata.name", format!("{:?} {e}", object.name)));
        return;
    }
    if let Some(first) = out.snapshot.origins.get(&object) {
        out.problems.push(problem(
            "metadata.name",
            format!("is defined twice (first at {first})"),
        ));
        return;
    }
    match pd.content {
        Content::Tenant(o) => out.snapshot.tenants.push(*o),
        Content::OrgUnit(o) => out.snapshot.org_units.push(*o),
        Content::UserGrant(o) => out.snapshot.user_grants.push(*o),
        Content::Integration(o) => out.snapshot.integrations.push(*o),
        Content::Secret(s) => {
            out.snapshot
                .secrets
                .insert((object.namespace.clone(), object.name.clone()), s);
        }
        Content::Nothing { .. } => {
            out.snapshot.unreadable.insert(object.clone());
        }
    }
    out.snapshot.origins.insert(object, origin);
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// DNS-1123 subdomain, as Kubernetes requires of these names.
fn check_name(name: &str) -> Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(
            "is not a valid name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)",
        )
    }
}

enum TypedError {
    Syntax(#[allow(dead_code)] String),
    /// (field path, reason) pairs.
    Fields(Vec<(String, String)>),
}

/// Deserialises straight from the text, with the failing field's path, and reports fields
/// the type does not know (a misspelt field would otherwise be silently dropped).
fn typed<T: DeserializeOwned>(doc: &str) -> Result<T, TypedError> {
    let de = serde_yaml::Deserializer::from_str(doc);
    run_typed(de, || {
        serde_yaml::from_str::<serde::de::IgnoredAny>(doc).is_err()
    })
    .map_err(|e| match e {
        Err(syntax) => TypedError::Syntax(syntax),
        Ok(fields) => TypedError::Fields(fields),
    })
}

fn typed_value<T: DeserializeOwned>(value: &Value) -> Result<T, Vec<(String, String)>> {
    run_typed(value.clone(), || false)
        .map_err(|e| e.unwrap_or_else(|syntax| vec![(String::new(), syntax)]))
}

/// Err(Err(_)) is a YAML syntax error; Err(Ok(fields)) names bad or unknown fields.
/// `syntax_broken` tells a syntax error from a field error, which serde_yaml reports alike.
fn run_typed<'de, T: DeserializeOwned, D: serde::Deserializer<'de, Error = serde_yaml::Error>>(
    de: D,
    syntax_broken: impl FnOnce() -> bool,
) -> Result<T, Result<Vec<(String, String)>, String>> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let de = serde_path_to_error::Deserializer::new(de, &mut track);
        let mut note = |path: serde_ignored::Path| {
            let p = path.to_string();
            // Status and metadata carry what the cluster writes; only spec is checked.
            if p.starts_with("spec.") {
                unknown.push(p);
            }
        };
        T::deserialize(serde_ignored::Deserializer::new(de, &mut note))
    };
    match result {
        Ok(v) if unknown.is_empty() => Ok(v),
        Ok(_) => Err(Ok(unknown
            .into_iter()
            .map(|f| (f, "is not a field of this kind (misspelt?)".to_string()))
            .collect())),
        Err(e) => {
            let path = track.path().to_string();
            if e.location().is_some() && syntax_broken() {
                return Err(Err(e.to_string()));
            }
            let msg = e.to_string();
            // serde_yaml appends a position; the path already says where.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            Err(Ok(vec![(
                if path == "." { String::new() } else { path },
                msg,
            )]))
        }
    }
}

fn secret(value: &Value) -> Result<SecretData, Vec<(String, String)>> {
    let s: Secret = match serde_path_to_error::deserialize(value.clone()) {
        Ok(s) => s,
        // Never echo the value: only where and what kind of problem.
        Err(e) => {
            return Err(vec![(
                e.path().to_string(),
                "cannot be read (data values must be base64)".into(),
            )]);
        }
    };
    let mut out = BTreeMap::new();
    for (k, v) in s.data.unwrap_or_default() {
        match String::from_utf8(v.0) {
            Ok(text) => {
                out.insert(k, text);
            }
            Err(_) => return Err(vec![(format!("data.{k}"), "is not UTF-8 text".into())]),
        }
    }
    for (k, v) in s.string_data.unwrap_or_default() {
        out.insert(k, v);
    }
    Ok(SecretData(out))
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
