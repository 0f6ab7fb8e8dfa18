//! Reading manifests from files: YAML streams in files and folders → a `Snapshot`, with every
//! problem named by file, line, object and field. The only file I/O of `plan` and `apply`.
//!
//! Fail closed: what cannot be fully read is remembered. An object whose identity is known
//! but whose content is not is frozen (`Snapshot::unreadable`); an input whose objects
//! cannot be known (a syntax error, an unknown apiVersion, a file that cannot be opened)
//! holds every removal in the namespaces it may speak for (`Snapshot::unread`).

pub mod fast;
pub mod files;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{API_VERSION, GROUP, Integration, OrgUnit, Tenant, UserGrant};
use crate::engine::problem::{Kind, ObjectRef, Problem};
use crate::engine::snapshot::{SecretData, Snapshot, UnreadInput};
use crate::validate::redact::Quoted;

use yaml::{Document, ParseError};

pub use yaml::split_documents;

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
    let found = files::collect(paths);
    for (path, why) in &found.unreadable {
        let input = path.display().to_string();
        out.problems.push(file_problem(&input, why.clone()));
        out.snapshot.unread.push(UnreadInput {
            input,
            reason: why.clone(),
            namespace: None,
        });
    }
    for (path, why) in &found.notes {
        out.problems
            .push(file_problem(&path.display().to_string(), why.clone()));
    }
    if found.files.is_empty() && found.unreadable.is_empty() {
        let where_ = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        out.problems.push(file_problem(
            &where_,
            "holds no manifests (no .yaml or .yml files)".into(),
        ));
    }
    out.files = found.files.len();
    let parsed = crate::par::map_ordered(&found.files, |f| parse_file(f, default_namespace));
    reserve_for(&parsed, &mut out.snapshot);
    for docs in parsed {
        for d in docs {
            merge(d, &mut out);
        }
    }
    out
}

/// Room for exactly what was parsed: at 100,000 UserGrants a vector that doubles as it
/// grows holds a third more than it needs, and two copies while it moves.
fn reserve_for(parsed: &[Vec<ParsedDoc>], snap: &mut Snapshot) {
    let mut counts = [0usize; 4];
    for d in parsed.iter().flatten() {
        match d.content {
            Content::Tenant(_) => counts[0] += 1,
            Content::OrgUnit(_) => counts[1] += 1,
            Content::UserGrant(_) => counts[2] += 1,
            Content::Integration(_) => counts[3] += 1,
            _ => {}
        }
    }
    snap.tenants.reserve_exact(counts[0]);
    snap.org_units.reserve_exact(counts[1]);
    snap.user_grants.reserve_exact(counts[2]);
    snap.integrations.reserve_exact(counts[3]);
}

/// Loads one YAML stream; `name` is used in messages.
pub fn load_text(name: &str, text: &str, default_namespace: &str, out: &mut Loaded) {
    for d in parse_text(name, text, default_namespace) {
        merge(d, out);
    }
}

fn file_problem(origin: &str, reason: String) -> Problem {
    Problem {
        origin: Some(origin.to_string()),
        object: None,
        field: String::new(),
        reason,
    }
}

fn parse_file(f: &Path, default_namespace: &str) -> Vec<ParsedDoc> {
    let name = f.display().to_string();
    match files::read_text(f) {
        Err(why) => vec![ParsedDoc::unread(&name, None, None, String::new(), why.into())],
        Ok(text) if text.trim_start_matches('\u{feff}').trim().is_empty() => vec![ParsedDoc::unread(
            &name,
            None,
            None,
            String::new(),
            "is empty: it may be a manifest that lost its content, so nothing it could have \
             declared is removed until it is filled or deleted"
                .into(),
        )],
        Ok(text) => parse_text(&name, &text, default_namespace),
    }
}

/// One parsed document (or List item); `merge` adds it to the snapshot in file order.
pub struct ParsedDoc {
    origin: String,
    object: Option<ObjectRef>,
    content: Content,
    problems: Vec<Problem>,
    /// Set when what this input declared cannot be known.
    unread: Option<UnreadInput>,
    /// Whether the document says its namespace (rather than taking the default): only then
    /// is the namespace of a document with problems known.
    namespace_stated: bool,
}

enum Content {
    Tenant(Box<Tenant>),
    OrgUnit(Box<OrgUnit>),
    UserGrant(Box<UserGrant>),
    Integration(Box<Integration>),
    Secret(SecretData),
    /// Another kind, passed over.
    Ignored,
    /// Not read: the problems say why.
    Failed,
}

impl ParsedDoc {
    fn new(origin: String) -> Self {
        Self {
            origin,
            object: None,
            content: Content::Failed,
            problems: vec![],
            unread: None,
            namespace_stated: false,
        }
    }

    /// A document with problems that did not say its namespace: its `namespace:` line may be
    /// what was lost, so the namespace it meant is unknown and every namespace is held.
    fn hold_if_namespace_unstated(&mut self) {
        if self.has_problems() && !self.namespace_stated && self.unread.is_none() {
            self.unread = Some(UnreadInput {
                input: self.origin.clone(),
                reason: "it cannot be read and does not say its namespace".into(),
                namespace: None,
            });
        }
    }

    /// An input whose content is unknown: one problem, and a hold on `namespace` (all when
    /// None) because accord cannot know what it declared.
    fn unread(
        origin: &str,
        object: Option<ObjectRef>,
        namespace: Option<String>,
        field: String,
        reason: String,
    ) -> Self {
        let mut pd = Self::new(origin.to_string());
        pd.problems.push(Problem {
            origin: Some(origin.to_string()),
            object: object.clone(),
            field: field.clone(),
            reason: reason.clone(),
        });
        pd.unread = Some(UnreadInput {
            input: origin.to_string(),
            reason: if field.is_empty() {
                reason
            } else {
                format!("{field}: {reason}")
            },
            namespace,
        });
        pd.object = object;
        pd
    }

    fn problem(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem {
            origin: Some(self.origin.clone()),
            object: self.object.clone(),
            field: field.into(),
            reason: reason.into(),
        });
    }

    fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }
}

fn parse_text(name: &str, text: &str, default_namespace: &str) -> Vec<ParsedDoc> {
    let text = yaml::normalise(text);
    let mut docs: Vec<ParsedDoc> = yaml::split_documents(&text)
        .into_iter()
        .flat_map(|doc| parse_document(name, &doc, default_namespace))
        .collect();
    // A file cut short ends in a document that cannot be read, and what followed it is
    // gone without a trace: hold the namespace of that last document. Cut short looks like
    // a last line without its line break, or fields missing at the end; a wrong value in a
    // complete document (a typo'd date) does not, and only freezes its own object.
    let ends_mid_line = !text.ends_with('\n');
    if let Some(last) = docs.last_mut()
        && last.has_problems()
        && last.unread.is_none()
        && (ends_mid_line || last.problems.iter().any(looks_cut))
    {
        last.unread = Some(UnreadInput {
            input: last.origin.clone(),
            reason: "the file's last document cannot be read, so the file may have been cut short"
                .into(),
            namespace: last
                .object
                .as_ref()
                .filter(|_| last.namespace_stated)
                .map(|o| o.namespace.clone()),
        });
    }
    docs
}

/// Whether a problem is what a document cut off at a line end shows: a required field
/// missing, or a key whose value is gone.
fn looks_cut(p: &Problem) -> bool {
    p.reason.starts_with("missing field") || p.reason.starts_with("is empty; a value is needed")
}

/// How a document's apiVersion and kind are read.
#[derive(Debug, PartialEq)]
enum Class {
    Accord(Kind),
    Secret,
    List,
    /// Clearly not accord's: passed over.
    Foreign,
    /// Might be accord's, miswritten: an error.
    Suspect(String),
}

const KINDS: [(&str, Kind); 4] = [
    ("Tenant", Kind::Tenant),
    ("OrgUnit", Kind::OrgUnit),
    ("UserGrant", Kind::UserGrant),
    ("Integration", Kind::Integration),
];

fn classify(api_version: &str, kind: &str) -> Class {
    if api_version.is_empty() || kind.is_empty() {
        return Class::Suspect("has no apiVersion or kind".into());
    }
    let ours = KINDS.iter().find(|(k, _)| *k == kind).map(|(_, k)| *k);
    match (api_version, ours, kind) {
        (API_VERSION, Some(k), _) => return Class::Accord(k),
        ("v1", _, "Secret") => return Class::Secret,
        ("v1", _, "List") => return Class::List,
        (API_VERSION, None, k) if k.ends_with("List") => return Class::List,
        _ => {}
    }
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(g, _)| g)
        .to_ascii_lowercase();
    let known = "accord.dev/v1alpha1 Tenant, OrgUnit, UserGrant, Integration";
    if group == GROUP || group.contains("accord") || edit_distance(&group, GROUP) <= 2 {
        return Class::Suspect(format!(
            "apiVersion {} kind {} is not one accord reads (known: {known})",
            Quoted(api_version),
            Quoted(kind)
        ));
    }
    let lower = kind.to_ascii_lowercase();
    let near = |name: &str| {
        let n = name.to_ascii_lowercase();
        lower == n || edit_distance(&lower, &n) <= 2
    };
    if KINDS.iter().any(|(k, _)| near(k)) || near("Secret") {
        return Class::Suspect(format!(
            "kind {} with apiVersion {} looks like one of accord's but is not (known: {known}, v1 Secret)",
            Quoted(kind),
            Quoted(api_version)
        ));
    }
    Class::Foreign
}

/// Levenshtein distance, for telling a typo from another group.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
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

fn parse_document(name: &str, doc: &Document, default_namespace: &str) -> Vec<ParsedDoc> {
    let origin = format!("{name}:{}", doc.line);
    // The fast path: a block-style accord document goes straight into its type.
    if let (Some(api), Some(kind)) = scan_head(&doc.text)
        && let Class::Accord(kind) = classify(api, kind)
    {
        return vec![typed_document(&origin, name, doc, kind, default_namespace)];
    }
    let value = match yaml::value(doc) {
        Ok(v) => v,
        Err(e) => return vec![syntax_error(name, e)],
    };
    from_value(&origin, value, "", default_namespace)
}

fn syntax_error(file: &str, e: ParseError) -> ParsedDoc {
    let origin = format!("{file}:{}", e.line);
    let reason = format!("YAML syntax error: {}", e.reason);
    ParsedDoc::unread(&origin, None, None, String::new(), reason)
}

/// An accord object straight from its text, with line numbers in every error.
fn typed_document(
    origin: &str,
    file: &str,
    doc: &Document,
    kind: Kind,
    default_namespace: &str,
) -> ParsedDoc {
    let mut unknown = Vec::new();
    let mut note = |p: String| {
        // Status and metadata carry what the cluster writes; only spec is checked.
        if checked_field(&p) {
            unknown.push(p);
        }
    };
    let parsed = match kind {
        Kind::Tenant => yaml::typed::<Tenant>(doc, &mut note).map(|o| Content::Tenant(Box::new(o))),
        Kind::OrgUnit => yaml::typed::<OrgUnit>(doc, &mut note).map(|o| Content::OrgUnit(Box::new(o))),
        Kind::UserGrant => {
            yaml::typed::<UserGrant>(doc, &mut note).map(|o| Content::UserGrant(Box::new(o)))
        }
        _ => yaml::typed::<Integration>(doc, &mut note)
            .map(|o| Content::Integration(Box::new(o))),
    };
    match parsed {
        Ok(content) => {
            let meta = match &content {
                Content::Tenant(o) => &o.metadata,
                Content::OrgUnit(o) => &o.metadata,
                Content::UserGrant(o) => &o.metadata,
                Content::Integration(o) => &o.metadata,
                _ => unreachable!("typed contents only"),
            };
            let mut pd = ParsedDoc::new(origin.to_string());
            let (name, namespace) = (meta.name.clone(), meta.namespace.clone());
            pd.content = content;
            identify(&mut pd, kind, name, namespace, default_namespace);
            for field in unknown {
                pd.problem(field, "is not a field of this kind (misspelt?)");
            }
            if pd.has_problems() && pd.object.is_some() {
                pd.content = Content::Failed;
                pd.hold_if_namespace_unstated();
            }
            pd
        }
        Err(e) => {
            // Name the object if the document says who it is; otherwise it is unread.
            let v = match yaml::value(doc) {
                Ok(v) => v,
                Err(syntax) => return syntax_error(file, syntax),
            };
            let origin = format!("{file}:{}", e.line);
            let mut pd = ParsedDoc::new(origin);
            let (name, namespace) = name_and_namespace(&v);
            identify(&mut pd, kind, name, namespace, default_namespace);
            pd.problem(e.field, e.reason);
            pd.hold_if_namespace_unstated();
            pd
        }
    }
}

/// Whether an unknown field is reported: anything in spec, and any top-level key (a misspelt
/// `metadata` would otherwise leave the object nameless without a word). Status and
/// metadata carry what the cluster writes.
fn checked_field(path: &str) -> bool {
    path.starts_with("spec.")
        || (!path.contains(['.', '[']) && path != "apiVersion" && path != "kind")
}

/// metadata.name and metadata.namespace when they are strings; a namespace that is there
/// but not a string counts as unknown (Some("") is never returned for it).
fn name_and_namespace(v: &Value) -> (Option<String>, Option<String>) {
    let meta = v.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(String::from);
    let namespace = match meta.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => Some(String::from("\u{0}")), // unknown: caught by identify
    };
    (name, namespace)
}

/// Sets the document's object from its name and namespace, or marks it unread when the name
/// is missing (the namespace is then still known, unless it was not a string either).
fn identify(
    pd: &mut ParsedDoc,
    kind: Kind,
    name: Option<String>,
    namespace: Option<String>,
    default_namespace: &str,
) {
    pd.namespace_stated = namespace.as_ref().is_some_and(|ns| !ns.contains('\u{0}'));
    let namespace = match namespace {
        None => Some(default_namespace.to_string()),
        Some(ns) if ns.contains('\u{0}') => None,
        Some(ns) => Some(ns),
    };
    match (name, namespace) {
        (Some(name), Some(namespace)) if !name.is_empty() => {
            pd.object = Some(ObjectRef {
                kind,
                namespace,
                name,
            });
        }
        _ => {
            // Without a name nothing ties it to what it was; its namespace line may be gone
            // with the name, so which namespace it meant is not known either.
            let reason = format!("a {} needs a name", kind.as_str());
            *pd = ParsedDoc::unread(&pd.origin, None, None, "metadata.name".into(), reason);
        }
    }
}

/// A document (or List item) read as a generic value first: other kinds, Lists, Secrets,
/// flow-style accord documents.
fn from_value(origin: &str, value: Value, prefix: &str, default_namespace: &str) -> Vec<ParsedDoc> {
    let mut pd = ParsedDoc::new(origin.to_string());
    if value.is_null() {
        pd.content = Content::Ignored;
        return vec![pd];
    }
    let field = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else if f.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{f}")
        }
    };
    if !value.is_object() {
        return vec![ParsedDoc::unread(
            origin,
            None,
            None,
            field(""),
            "is not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
        )];
    }
    let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (api_version, kind_name) = (text("apiVersion"), text("kind"));
    let (name, namespace) = name_and_namespace(&value);
    let kind = match classify(&api_version, &kind_name) {
        Class::Foreign => {
            pd.content = Content::Ignored;
            return vec![pd];
        }
        Class::List => return list_items(origin, value, prefix, default_namespace),
        Class::Suspect(why) => {
            // Only a namespace the document states is known: a missing line may be damage.
            let ns = namespace.filter(|ns| !ns.contains('\u{0}'));
            return vec![ParsedDoc::unread(origin, None, ns, field("kind"), why)];
        }
        Class::Secret => Kind::Secret,
        Class::Accord(k) => k,
    };
    identify(&mut pd, kind, name, namespace, default_namespace);
    if pd.object.is_none() {
        if let Some(p) = pd.problems.first_mut() {
            p.field = field(&p.field);
        }
        return vec![pd];
    }
    let mut unknown = Vec::new();
    let mut note = |p: String| {
        if checked_field(&p) {
            unknown.push(p);
        }
    };
    let result = match kind {
        Kind::Secret => secret(value).map(Content::Secret),
        Kind::Tenant => typed_value::<Tenant>(value, &mut note).map(|o| Content::Tenant(Box::new(o))),
        Kind::OrgUnit => typed_value::<OrgUnit>(value, &mut note).map(|o| Content::OrgUnit(Box::new(o))),
        Kind::UserGrant => {
            typed_value::<UserGrant>(value, &mut note).map(|o| Content::UserGrant(Box::new(o)))
        }
        Kind::Integration => {
            typed_value::<Integration>(value, &mut note).map(|o| Content::Integration(Box::new(o)))
        }
    };
    match result {
        Ok(c) if unknown.is_empty() => pd.content = c,
        Ok(_) => {
            for f in unknown {
                pd.problem(field(&f), "is not a field of this kind (misspelt?)");
            }
        }
        Err((f, reason)) => pd.problem(field(&f), reason),
    }
    pd.hold_if_namespace_unstated();
    vec![pd]
}

fn typed_value<T: DeserializeOwned>(
    value: Value,
    note: &mut dyn FnMut(String),
) -> Result<T, (String, String)> {
    yaml::from_value(value, note)
}

/// `kind: List` (`kubectl get -o yaml`): each item as if it were a document of its own.
fn list_items(origin: &str, mut value: Value, prefix: &str, default_namespace: &str) -> Vec<ParsedDoc> {
    let at = if prefix.is_empty() { "items".to_string() } else { format!("{prefix}.items") };
    let items = match value.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return vec![ParsedDoc::unread(
                origin,
                None,
                None,
                at,
                "a List's items must be a list".into(),
            )];
        }
    };
    if !prefix.is_empty() {
        return vec![ParsedDoc::unread(origin, None, None, at, "a List inside a List is not read".into())];
    }
    items
        .into_iter()
        .enumerate()
        .flat_map(|(i, item)| from_value(origin, item, &format!("{at}[{i}]"), default_namespace))
        .collect()
}

fn secret(value: Value) -> Result<SecretData, (String, String)> {
    let s: Secret = yaml::from_value(value, &mut |_| {})
        .map_err(|(field, _)| (field, "cannot be read (data values must be base64)".to_string()))?;
    let mut out = BTreeMap::new();
    for (k, v) in s.data.unwrap_or_default() {
        match String::from_utf8(v.0) {
            Ok(text) => {
                out.insert(k, text);
            }
            Err(_) => return Err((format!("data.{k}"), "is not UTF-8 text".into())),
        }
    }
    for (k, v) in s.string_data.unwrap_or_default() {
        out.insert(k, v);
    }
    Ok(SecretData(out))
}

/// Adds one parsed document to the snapshot: names checked, duplicates caught, objects that
/// failed to read remembered as unreadable, inputs that could not be read as unread.
fn merge(pd: ParsedDoc, out: &mut Loaded) {
    out.problems.extend(pd.problems.iter().cloned());
    if let Some(u) = pd.unread.clone() {
        out.snapshot.unread.push(u);
    }
    let Some(object) = pd.object else {
        if let Content::Ignored = pd.content {
            out.ignored += 1;
        }
        return;
    };
    let origin = pd.origin;
    let problem = |field: &str, reason: String| Problem {
        origin: Some(origin.clone()),
        object: Some(object.clone()),
        field: field.into(),
        reason,
    };
    if let Err(e) = check_name(&object.name) {
        out.problems.push(problem(
            "metadata.name",
            format!("{} {e}", Quoted(&object.name)),
        ));
        // Which object it meant cannot be known: hold its namespace.
        out.snapshot.unread.push(UnreadInput {
            input: origin.clone(),
            reason: "metadata.name is not a valid name".into(),
            namespace: Some(object.namespace.clone()),
        });
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
        Content::Ignored | Content::Failed => {
            out.snapshot
                .unreadable
                .insert(object.clone(), format!("it could not be read ({origin})"));
        }
    }
    out.snapshot.origins.insert(object, origin);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_ours_foreign_or_suspect() {
        assert_eq!(classify("accord.dev/v1alpha1", "UserGrant"), Class::Accord(Kind::UserGrant));
        assert_eq!(classify("v1", "Secret"), Class::Secret);
        assert_eq!(classify("v1", "List"), Class::List);
        assert_eq!(classify("apps/v1", "Deployment"), Class::Foreign);
        assert_eq!(classify("kustomize.config.k8s.io/v1beta1", "Kustomization"), Class::Foreign);
        assert_eq!(classify("v1", "ConfigMap"), Class::Foreign);
        for (api, kind) in [
            ("accord.dev/v1", "UserGrant"),
            ("acord.dev/v1alpha1", "UserGrant"),
            ("accord.dev/v1alpha1", "Usergrant"),
            ("v1", "UserGrant"),
            ("example.com/v1", "UserGrnat"),
            ("v1beta1", "Secret"),
            ("", "UserGrant"),
        ] {
            assert!(matches!(classify(api, kind), Class::Suspect(_)), "{api} {kind}");
        }
    }
}
