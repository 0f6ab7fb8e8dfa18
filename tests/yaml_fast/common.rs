//! Shared by the differential and fuzz tests: the example corpus, target types mirroring a
//! Kubernetes object, and the comparison against serde-saphyr.
#![allow(dead_code)]

#[path = "variants.rs"]
pub mod variants;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

// ------------------------------------------------------------------------------------------
// Corpus
// ------------------------------------------------------------------------------------------

/// Every `.yaml` file under `dir`, in name order.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Splits a stream on `---`/`...` lines, as /work/main's `split_documents` does.
pub fn split_documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") || t == "..." {
            docs.push(std::mem::take(&mut current));
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push(current);
    docs.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// (file:index, document) for every document of the examples.
pub fn example_docs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in yaml_files(Path::new(EXAMPLES)) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, d) in split_documents(&text).into_iter().enumerate() {
            out.push((format!("{}#{i}", f.display()), d));
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Target types: a Kubernetes-like object (covers every example kind)
// ------------------------------------------------------------------------------------------

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub metadata: Meta,
    #[serde(default)]
    pub spec: Option<Spec>,
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    pub string_data: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize, Debug)]
pub struct Meta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub tenant: Option<String>,
    pub display_name: Option<String>,
    pub country: Option<String>,
    pub parent: Option<String>,
    pub unit: Option<String>,
    pub person: Option<Person>,
    /// Names (UserGrant) or definitions (Tenant): an untagged enum, read through Content.
    pub roles: Option<Roles>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub identifiers: Vec<Code>,
    #[serde(default)]
    pub codes: Vec<Code>,
    /// Dates, read as strings.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub suspended: bool,
    pub attestation: Option<GrantAttestation>,
    pub policy: Option<Policy>,
    pub integrations: Option<BTreeMap<String, serde_json::Value>>,
    pub kind: Option<IntegrationKind>,
    pub endpoint: Option<String>,
    pub credentials_ref: Option<SecretRef>,
    pub sync: Option<SyncSettings>,
    pub lemonldap: Option<Idp>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub employee_number: Option<String>,
    pub title: Option<String>,
    #[serde(default)]
    pub occupation_codes: Vec<Code>,
    pub hsa_id: Option<String>,
    pub national_id_ref: Option<SecretKeyRef>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub secret_name: String,
    pub key: String,
}

/// With a flattened remainder: read through Content.
#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    pub secret_name: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(untagged)]
pub enum Roles {
    Names(Vec<String>),
    Defs(Vec<RoleDef>),
}

#[derive(Deserialize, Serialize, Debug)]
pub struct RoleDef {
    pub name: String,
    #[serde(default)]
    pub admin: bool,
    pub description: Option<String>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub unit: String,
    #[serde(default)]
    pub include_descendants: bool,
}

#[derive(Deserialize, Serialize, Debug)]
pub struct Code {
    pub scheme: String,
    pub value: String,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct GrantAttestation {
    pub last_attested: String,
    pub attested_by: String,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub management: Management,
    pub min_admins: u32,
    pub shared_accounts: String,
    pub attestation: AttestationPolicy,
    pub deletion: Deletion,
    pub login: Login,
    pub session: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize, Debug, PartialEq)]
pub enum Management {
    Enforce,
    Observe,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AttestationPolicy {
    pub interval: String,
    pub grace_period: String,
    pub on_overdue: OnOverdue,
}

#[derive(Deserialize, Serialize, Debug)]
pub enum OnOverdue {
    Report,
    Suspend,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    pub max_per_sync: u32,
    pub max_percent: u8,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub methods: Vec<String>,
    pub minimum_level: String,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    Ldap,
    Scim,
    Lemonldap,
    Keycloak,
    Webhook,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SyncSettings {
    pub interval: String,
    pub max_concurrency: Option<u32>,
    pub requests_per_second: Option<u64>,
}

#[derive(Deserialize, Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Idp {
    pub client_id: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// Every field type the fast path handles, for generated documents whose keys are these
/// field names.
#[derive(Deserialize, Serialize, Debug)]
pub struct Mixed {
    pub a: Option<String>,
    pub b: Option<bool>,
    pub c: Option<u32>,
    pub d: Option<i64>,
    pub e: Option<u8>,
    pub f: Option<f64>,
    pub t: Option<f32>,
    pub g: Option<Vec<String>>,
    pub h: Option<BTreeMap<String, String>>,
    pub i: Option<Management>,
    pub j: Option<Box<Mixed>>,
    pub k: Option<Vec<Mixed>>,
    pub l: Option<serde_json::Value>,
    pub m: Option<Newtype>,
    pub s: Option<Vec<Option<String>>>,
    pub o: Option<Roles>,
    #[serde(default)]
    pub p: String,
    #[serde(default)]
    pub q: bool,
    #[serde(default)]
    pub r: u16,
}

#[derive(Deserialize, Serialize, Debug)]
pub struct Newtype(pub String);

// ------------------------------------------------------------------------------------------
// Comparison
// ------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The fast path returned a value and saphyr agreed (value and ignored paths).
    Agree,
    /// The fast path gave up.
    Bail,
    /// The fast path returned something saphyr does not.
    Mismatch(String),
}

pub fn saphyr_with_ignored<T: DeserializeOwned>(doc: &str) -> Result<(T, Vec<String>), String> {
    let mut ignored = Vec::new();
    let v = serde_saphyr::with_deserializer_from_str(doc, |de| {
        T::deserialize(serde_ignored::Deserializer::new(
            de,
            &mut |p: serde_ignored::Path| ignored.push(p.to_string()),
        ))
    })
    .map_err(|e| e.to_string())?;
    Ok((v, ignored))
}

/// Runs the fast path; when it answers, checks it against serde-saphyr (plain `from_str`,
/// and wrapped in serde_ignored) and against the fast path wrapped in serde_path_to_error.
pub fn check<T: DeserializeOwned + Serialize>(doc: &str) -> Outcome {
    let mut fast_ignored = Vec::new();
    let Some(fast) = accord::manifests::fast::from_str_fast::<T>(doc, &mut |p: String| fast_ignored.push(p))
    else {
        return Outcome::Bail;
    };
    let fast = serde_json::to_value(&fast).unwrap();
    let plain = match serde_saphyr::from_str::<T>(doc) {
        Ok(v) => serde_json::to_value(&v).unwrap(),
        Err(e) => return Outcome::Mismatch(format!("saphyr fails: {e}\nfast: {fast}")),
    };
    if plain != fast {
        return Outcome::Mismatch(format!("values differ\nfast:   {fast}\nsaphyr: {plain}"));
    }
    match saphyr_with_ignored::<T>(doc) {
        Ok((v, ign)) => {
            let v = serde_json::to_value(&v).unwrap();
            if v != fast || ign != fast_ignored {
                return Outcome::Mismatch(format!(
                    "ignored paths differ\nfast:   {fast_ignored:?}\nsaphyr: {ign:?}"
                ));
            }
        }
        Err(e) => return Outcome::Mismatch(format!("saphyr+serde_ignored fails: {e}")),
    }
    // Wrapped in serde_path_to_error (as a caller tracking paths would): same value.
    let d = accord::manifests::fast::Document::parse(doc).unwrap();
    let mut track = serde_path_to_error::Track::new();
    let tracked = T::deserialize(serde_path_to_error::Deserializer::new(
        d.deserializer(),
        &mut track,
    ));
    match tracked {
        Ok(v) if !d.bailed() && serde_json::to_value(&v).unwrap() == fast => Outcome::Agree,
        _ => Outcome::Mismatch("differs under serde_path_to_error".into()),
    }
}

#[derive(Default, Debug)]
pub struct Tally {
    pub cases: usize,
    pub agree: usize,
    pub bail: usize,
    pub mismatches: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, doc: &str, outcome: Outcome) {
        self.cases += 1;
        match outcome {
            Outcome::Agree => self.agree += 1,
            Outcome::Bail => self.bail += 1,
            Outcome::Mismatch(why) => {
                if self.mismatches.len() < 20 {
                    self.mismatches
                        .push(format!("{why}\n--- document:\n{doc}---"));
                }
            }
        }
    }

    pub fn mismatch_count(&self) -> usize {
        self.cases - self.agree - self.bail
    }

    pub fn assert_clean(&self, what: &str) {
        println!(
            "{what}: {} cases, {} fast-path answers agreed with saphyr, {} bailed, {} mismatches",
            self.cases,
            self.agree,
            self.bail,
            self.mismatch_count()
        );
        if self.mismatch_count() > 0 {
            panic!("{what}: mismatches:\n{}", self.mismatches.join("\n\n"));
        }
    }
}

// ------------------------------------------------------------------------------------------
// Deterministic randomness
// ------------------------------------------------------------------------------------------

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// xorshift64*
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

// ------------------------------------------------------------------------------------------
// Scalars worth trying in every position
// ------------------------------------------------------------------------------------------

pub const SCALARS: &[&str] = &[
    "",
    "~",
    "null",
    "Null",
    "NULL",
    "nULL",
    "true",
    "false",
    "True",
    "TRUE",
    "yes",
    "No",
    "on",
    "off",
    "y",
    "n",
    "0",
    "7",
    "42",
    "255",
    "256",
    "65536",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "00100",
    "0100",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "1e3",
    "1E3",
    ".5",
    "5.",
    "1.5",
    "-5",
    "+5",
    "-0",
    ".inf",
    "-.inf",
    ".nan",
    "inf",
    "nan",
    "infinity",
    "1e999",
    "2026-01-01",
    "2026-01-01T10:00:00Z",
    "1:30",
    "10.0.0.1",
    "90d",
    "+358 40 160 3028",
    "E1003",
    "Enforce",
    "Observe",
    "Report",
    "ldap",
    "a b c",
    "x#y",
    "x # comment",
    "a,b",
    "a:b",
    "https://x.y/z",
    "dc=acme,dc=fi",
    "-x",
    "~x",
    "é",
    "日本語",
    "Hämeenkatu 81",
    "\"q\"",
    "\"\"",
    "''",
    "'it''s'",
    "\"esc\\n\\t\\\\\"",
    "\"\\u00e9\\x41\\U0001F600\"",
    "\"\\e\"",
    "'a''b",
    "\"null\"",
    "'true'",
    "\"5\"",
    "'0x1F'",
    "[]",
    "{}",
    "[a, b]",
    "[a, [b, c]]",
    "{a: b}",
    "{a: [1, 2], b: {c: d}}",
    "[x, {y: z}]",
    "[\"a\", 'b']",
    "{\"k\": v}",
    "[a,b]",
    "[ a ]",
    "{ a: b }",
    "[a, ]",
    "{a: }",
    "{a}",
    "[a: b]",
    "- x",
    "-",
    "&a x",
    "*a",
    "!t x",
    "|",
    ">",
    "? x",
    "@x",
    "`x",
    "%x",
    "a: b",
    "a:",
    "#x",
    "'unterminated",
    "\"unterminated",
    "=",
    "<<",
    "1.0e5",
    "0.0",
    "0.5",
    "-.5",
    "+",
    "?",
    ":",
    "--x",
    "a\\b",
    "1.25",
    "123456789012345678901234567890123456789012345678901234567890.5",
    "1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111.5",
];
