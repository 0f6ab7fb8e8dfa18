//! Every object held to what the API server would hold it to, in file mode as in a cluster:
//! the limits of its CRD's OpenAPI schema (patterns, lengths, ranges, list sizes). And no
//! string anywhere in it may look like a national identity number: those live only in the
//! Secret a `nationalIdRef` names. One walk over the typed object does both.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use super::problem::Kind;
use super::walk::{PathTracker, Step, Visit, walk};
use crate::validate::redact::{find_national_ids, masked, shown};

/// The checkable part of one schema node.
#[derive(Default)]
struct Node {
    properties: BTreeMap<String, Node>,
    items: Option<Box<Node>>,
    additional: Option<Box<Node>>,
    pattern: Option<(Regex, String)>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    max_items: Option<usize>,
    enumeration: Option<Vec<String>>,
}

impl Node {
    fn from_schema(v: &Value) -> Node {
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        let size = |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize);
        Node {
            properties: v
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .map(|(k, s)| (k.clone(), Node::from_schema(s)))
                        .collect()
                })
                .unwrap_or_default(),
            items: v.get("items").map(|s| Box::new(Node::from_schema(s))),
            additional: v
                .get("additionalProperties")
                .filter(|s| s.is_object())
                .map(|s| Box::new(Node::from_schema(s))),
            pattern: v
                .get("pattern")
                .and_then(Value::as_str)
                .and_then(|p| Regex::new(p).ok().map(|r| (r, p.to_string()))),
            min_length: size("minLength"),
            max_length: size("maxLength"),
            minimum: num("minimum"),
            maximum: num("maximum"),
            max_items: size("maxItems"),
            enumeration: v.get("enum").and_then(Value::as_array).map(|e| {
                e.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            }),
        }
    }
}

/// The four kinds' schemas, from the CRDs accord generates (the same ones a cluster has).
fn schemas() -> &'static BTreeMap<Kind, Node> {
    static SCHEMAS: OnceLock<BTreeMap<Kind, Node>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        crate::api::crds()
            .into_iter()
            .filter_map(|crd| {
                let kind = match crd.spec.names.kind.as_str() {
                    "Tenant" => Kind::Tenant,
                    "OrgUnit" => Kind::OrgUnit,
                    "UserGrant" => Kind::UserGrant,
                    "Integration" => Kind::Integration,
                    _ => return None,
                };
                let schema = crd.spec.versions.first()?.schema.as_ref()?;
                let v = serde_json::to_value(schema.open_api_v3_schema.as_ref()?).ok()?;
                Some((kind, Node::from_schema(&v)))
            })
            .collect()
    })
}

/// Fields whose values may run over lines (a street address with its staircase and flat);
/// everywhere else a value is one line, so that it can neither forge output nor hide text.
const MULTI_LINE: [&str; 1] = ["spec.person.address.street"];

/// Where a national identity number is allowed to look like one: nowhere, except that a
/// phone number written with digits only is checked once normalised (`0401234567` is a
/// Finnish mobile number, not a CPR number).
fn phone_path(path: &str) -> bool {
    path == "spec.person.phone"
}

struct Check<'a> {
    path: PathTracker,
    /// The schema node at each level of the path; None below what the schema describes.
    nodes: Vec<Option<&'a Node>>,
    problems: Vec<(String, String)>,
}

impl<'a> Check<'a> {
    fn node(&self) -> Option<&'a Node> {
        self.nodes.last().copied().flatten()
    }
    fn report(&mut self, reason: String) {
        self.problems.push((self.path.to_string(), reason));
    }
}

impl<'a> Visit for Check<'a> {
    fn enter(&mut self, step: &Step) {
        let child = self.node().and_then(|n| match step {
            Step::Field(name) => n.properties.get(*name),
            Step::Key(k) => n.properties.get(k).or(n.additional.as_deref()),
            Step::Index(_) => n.items.as_deref(),
        });
        self.path.0.push(step.clone());
        self.nodes.push(child);
    }

    fn leave(&mut self) {
        self.path.0.pop();
        self.nodes.pop();
    }

    fn string(&mut self, s: &str) {
        // The path is only spelled out when a value needs it: this runs for every string of
        // every object.
        let ids = find_national_ids(s);
        let id_here = !ids.is_empty()
            && (!phone_path(&self.path.to_string())
                // Only the written-out forms (with - or a century sign) in a phone number.
                || ids
                    .iter()
                    .any(|(r, _)| !s[r.clone()].bytes().all(|b| b.is_ascii_digit())));
        if id_here {
            self.report(format!(
                "holds what looks like a national identity number ({}); national identity numbers belong only in the Secret that spec.person.nationalIdRef names",
                short(&masked(s))
            ));
            return; // its other problems would only show it again
        }
        if s.chars().any(char::is_control) {
            let multi_line = MULTI_LINE.contains(&self.path.to_string().as_str());
            if s.chars().any(|c| c.is_control() && !(multi_line && c == '\n')) {
                self.report(format!(
                    "{} holds a control character (a line break, tab or terminal escape); values are one line of plain text",
                    quoted(s)
                ));
                return;
            }
        }
        let Some(node) = self.node() else { return };
        let chars = s.chars().count();
        if let Some(max) = node.max_length
            && chars > max
        {
            self.report(format!(
                "is {chars} characters long; at most {max} are allowed"
            ));
            return;
        }
        if let Some(min) = node.min_length
            && chars < min
        {
            self.report(if min == 1 {
                "must not be empty".into()
            } else {
                format!("is {chars} characters long; at least {min} are needed")
            });
        }
        if let Some((re, source)) = &node.pattern
            && !re.is_match(s)
        {
            self.report(pattern_reason(source, s));
        }
        if let Some(allowed) = &node.enumeration
            && !allowed.iter().any(|a| a == s)
        {
            self.report(format!(
                "{} is not one of {}",
                quoted(s),
                allowed.join(", ")
            ));
        }
    }

    fn number(&mut self, n: f64) {
        let Some(node) = self.node() else { return };
        if let Some(max) = node.maximum
            && n > max
        {
            self.report(format!("{n} is above the maximum {max}"));
        }
        if let Some(min) = node.minimum
            && n < min
        {
            self.report(format!("{n} is below the minimum {min}"));
        }
    }

    fn list(&mut self, len: usize) {
        if let Some(max) = self.node().and_then(|n| n.max_items)
            && len > max
        {
            self.report(format!("has {len} entries; at most {max} are allowed"));
        }
    }
}

/// Why a value does not fit its pattern, in words where the pattern has a name.
fn pattern_reason(pattern: &str, value: &str) -> String {
    if pattern == crate::api::DURATION_PATTERN
        && let Err(e) = crate::validate::parse_duration(value)
    {
        return format!("{} {e}", quoted(value));
    }
    format!("{} does not match the pattern {pattern}", quoted(value))
}

/// A value for a message: masked, escaped, quoted and cut short.
fn quoted(s: &str) -> String {
    format!("\"{}\"", short(&shown(s)).replace('"', "\\\""))
}

fn short(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

/// The metadata a person writes. What the API server assigns (uid, resourceVersion,
/// timestamps, managedFields) is not checked: a random uid can look like an identity number
/// (a real server's `ce820323-3724-…` holds a personnummer valid by Luhn) and would freeze
/// the object for ever.
const WRITTEN_METADATA: &[&str] = &["name", "generateName", "namespace", "labels", "annotations", "finalizers"];

fn written_metadata<M: Serialize>(metadata: &M) -> serde_json::Value {
    match serde_json::to_value(metadata) {
        Ok(serde_json::Value::Object(m)) => serde_json::Value::Object(
            m.into_iter()
                .filter(|(k, _)| WRITTEN_METADATA.contains(&k.as_str()))
                .collect(),
        ),
        _ => serde_json::Value::Null,
    }
}

/// (field, reason) for every place where `metadata` (as a person writes it) or `spec` breaks
/// its CRD's limits or holds what looks like a national identity number.
pub fn check<M: Serialize, S: Serialize>(kind: Kind, metadata: &M, spec: &S) -> Vec<(String, String)> {
    let root = schemas().get(&kind);
    let mut c = Check {
        path: PathTracker::default(),
        nodes: vec![root],
        problems: Vec::new(),
    };
    c.enter(&Step::Field("metadata"));
    walk(&written_metadata(metadata), &mut c);
    c.leave();
    c.enter(&Step::Field("spec"));
    walk(spec, &mut c);
    c.leave();
    c.problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(spec: Value) -> Vec<(String, String)> {
        let meta = serde_json::json!({"name": "anna", "namespace": "ns"});
        check(Kind::UserGrant, &meta, &spec)
    }

    #[test]
    fn crd_limits_hold_in_file_mode_too() {
        let tenant = serde_json::json!({"displayName": "Acme",
            "policy": {"deletion": {"maxPercent": 250}, "minAdmins": 2}});
        let meta = serde_json::json!({"name": "acme"});
        let p = check(Kind::Tenant, &meta, &tenant);
        assert_eq!(
            p,
            [(
                "spec.policy.deletion.maxPercent".to_string(),
                "250 is above the maximum 100".to_string()
            )]
        );
        let long = "x".repeat(129);
        let p = grant(serde_json::json!({"person": {"givenName": long, "familyName": "V"}}));
        assert_eq!(p[0].0, "spec.person.givenName");
        assert_eq!(p[0].1, "is 129 characters long; at most 128 are allowed");
    }

    #[test]
    fn a_national_id_anywhere_but_its_secret_is_refused_masked() {
        // Checksum-valid identity numbers, kept with the test fixtures, not in product source.
        let ids: Vec<&str> = include_str!("../../tests/fixtures/national-ids/unit-tests.txt")
            .lines()
            .collect();
        for (spec, field) in [
            (serde_json::json!({"person": {"givenName": ids[0]}}), "spec.person.givenName"),
            (serde_json::json!({"groups": ["x", format!("team {}", ids[1])]}), "spec.groups[1]"),
            (serde_json::json!({"person": {"phone": ids[2]}}), "spec.person.phone"),
        ] {
            let p = grant(spec);
            assert_eq!(p.len(), 1, "{p:?}");
            assert_eq!(p[0].0, field);
            assert!(p[0].1.contains("national identity number"), "{}", p[0].1);
            for id in &ids {
                assert!(!p[0].1.contains(id), "{}", p[0].1);
            }
        }
        // A phone number of digits only is not taken for a CPR number.
        assert_eq!(grant(serde_json::json!({"person": {"phone": "0401234567"}})), []);
    }

    #[test]
    fn what_the_api_server_assigns_is_not_taken_for_a_national_id() {
        let spec = serde_json::json!({"person": {"givenName": "Anna", "familyName": "V"}});
        // A uid a real kube-apiserver gave a UserGrant: 820323-3724 is a Luhn-valid
        // personnummer.
        let meta = serde_json::json!({"name": "p356", "namespace": "ns",
            "uid": "ce820323-3724-4bea-bbe9-ef0882bcefd7", "resourceVersion": "1585",
            "managedFields": [{"manager": "820323-3724"}]});
        assert_eq!(check(Kind::UserGrant, &meta, &spec), []);
        // What a person writes in metadata still is.
        let meta = serde_json::json!({"name": "p356", "annotations": {"note": "820323-3724"}});
        let p = check(Kind::UserGrant, &meta, &spec);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "metadata.annotations.note");
        assert!(!p[0].1.contains("820323-3724"), "{}", p[0].1);
    }
}
