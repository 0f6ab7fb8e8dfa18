//! Differential tests: the fast path against serde-saphyr on the examples, on rewrites of
//! them, on every tricky scalar in every typed position, and on hand-picked edge cases.


use super::common::*;
use accord::manifests::fast::{self, from_str_fast};
use serde_json::Value;

#[test]
fn examples_take_the_fast_path_and_agree() {
    let docs = example_docs();
    assert!(docs.len() >= 60, "examples not found: {}", docs.len());
    let (mut value, mut typed) = (Tally::default(), Tally::default());
    for (name, doc) in &docs {
        value.add(doc, check::<Value>(doc));
        typed.add(doc, check::<Object>(doc));
        if value.bail + typed.bail > 0 {
            panic!("the fast path gave up on {name}:\n{doc}");
        }
    }
    value.assert_clean("examples → serde_json::Value");
    typed.assert_clean("examples → typed Object");
    println!("bail rate on the {} example documents: 0", docs.len());
}

#[test]
fn examples_report_ignored_fields() {
    // Integrations carry `tls`, `ldap`, `scim` that `Object` does not know.
    let doc = example_docs()
        .into_iter()
        .find(|(_, d)| d.contains("  tls: "))
        .unwrap()
        .1;
    let mut ignored = Vec::new();
    let _: Object = from_str_fast(&doc, &mut |p| ignored.push(p)).unwrap();
    assert_eq!(ignored, ["spec.?.tls", "spec.?.ldap"]); // `?`: inside an Option
}

#[test]
fn head_reads_what_saphyr_reads() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct H {
        api_version: Option<String>,
        kind: Option<String>,
        metadata: Option<M>,
    }
    #[derive(serde::Deserialize)]
    struct M {
        name: Option<String>,
        namespace: Option<String>,
    }
    for (_, doc) in example_docs() {
        let h = fast::head(&doc).unwrap();
        let s: H = serde_saphyr::from_str(&doc).unwrap();
        let m = s.metadata.unwrap();
        assert_eq!(
            (h.api_version, h.kind, h.name, h.namespace),
            (s.api_version, s.kind, m.name, m.namespace)
        );
    }
}

#[test]
fn generated_variants_agree() {
    let mut rng = Rng::new(7);
    let (mut value, mut typed) = (Tally::default(), Tally::default());
    for (_, doc) in example_docs() {
        for v in variants::variants(&doc, &mut rng, 60) {
            value.add(&v, check::<Value>(&v));
            typed.add(&v, check::<Object>(&v));
        }
    }
    value.assert_clean("variants → serde_json::Value");
    typed.assert_clean("variants → typed Object");
}

#[test]
fn style_rewrites_stay_on_the_fast_path() {
    use variants::*;
    for (name, doc) in example_docs() {
        let rewrites = [
            reindent(&doc, 2),
            seq_at_key_indent(&doc),
            commented(&doc),
            flow_to_block(&doc),
            seq_at_key_indent(&flow_to_block(&doc)),
            with_metadata(&doc, false),
            with_metadata(&doc, true),
            with_unknown_fields(&doc),
        ];
        for r in rewrites {
            assert_eq!(check::<Value>(&r), Outcome::Agree, "{name}:\n{r}");
            assert_eq!(check::<Object>(&r), Outcome::Agree, "{name}:\n{r}");
        }
    }
}

/// Every scalar of the tricky list as a value of every field type, in block and flow style
/// and as sequence items.
#[test]
fn every_scalar_in_every_typed_position() {
    let (mut value, mut typed) = (Tally::default(), Tally::default());
    for key in "abcdefghijklmopqrst".chars() {
        for s in SCALARS {
            for doc in [
                format!("{key}: {s}\n"),
                format!("{key}: {s} # c\n"),
                format!("{key}: [{s}]\n"),
                format!("{key}: [x, {s}]\n"),
                format!("{key}:\n- {s}\n"),
                format!("{key}:\n  - {s}\n  - y\n"),
                format!("{key}: {{x: {s}}}\n"),
                format!("{key}:\n  x: {s}\n"),
                format!("j:\n  {key}: {s}\n"),
                format!("k:\n- {key}: {s}\n  p: x\n"),
                format!("k: [{{{key}: {s}}}]\n"),
            ] {
                value.add(&doc, check::<Value>(&doc));
                typed.add(&doc, check::<Mixed>(&doc));
            }
        }
    }
    value.assert_clean("scalars → serde_json::Value");
    typed.assert_clean("scalars → Mixed");
}

/// Documents that are valid YAML inside the subset: the fast path must answer, and agree.
const INSIDE: &[&str] = &[
    "a: 1\n",
    "a: b # c\n",
    "a: b#c\n",
    "a: x:y\n",
    "a: dc=x,dc=y\n",
    "a: x]y\n",
    "a: x :y\n",
    "a: ~x\n",
    "m: [oidc:entra@substantial, https://x.y/z]\n",
    "- a:\n  - x\n  b: 1\n- c\n",
    "a:\n- x\nb: 2\n",
    "a:\n- x\n-\n  - z\n",
    "\"a\": 1\n'b': 2\n",
    "a: \"x\\/y\\x41\\u00e9\\U0001F600\"\n",
    "a: 'it''s'\n",
    "a: \"\\0\"\n",
    "a: [x y, z]\n",
    "a: {b: [1, {c: d}]}\n",
    "k: [\"a\" , 'b' ]\n",
    "k: {a: b}  # x\n",
    "k: { a: b }\n",
    "k: [ ]\n",
    "k: {}\n",
    "k: []\n",
    "k: [a,b]\n",
    "k: {a: b,c: d}\n",
    "a: 1\n  # deeper comment\nb: 2\n",
    "# leading\na: 1\n# trailing\n",
    "a:\n  b:\n    c:\n      - d\n      - e: f\n        g: [h]\n",
    "a:\n    - x\n    -   yy: 1\n        z: 2\n",
    "a: é日本\n",
    "a: 'é'\n",
    "k: [a, [b, [c]]]\n",
    "- [a, b]\n- {c: d}\n- e\n",
    "a: \"\"\nb: ''\n",
    "a:\n  # c\n  b: 1\n",
    "a: x\n\n\nb: w\n",
];

/// Outside the subset (or invalid): the fast path must give up.
const OUTSIDE: &[&str] = &[
    "a: -x\n",
    "y: 1\n",
    "a: {n: 1}\n",
    "m: {a:b}\n",
    "m: {\"a\":b}\n",
    "a: [a, b,]\n",
    "a: {x: , y: 1}\n",
    "a: [a:, b]\n",
    "- - a\n",
    "a: -\n",
    "a: 1\na: 2\n",
    "a: 1\n\"a\": 2\n",
    "k: [a]b\n",
    "k: a\t\n",
    "k: @x\n",
    "k: `x\n",
    "k: %x\n",
    "k: !x\n",
    "k: &a x\n",
    "k: *a\n",
    "k: x\r\n",
    "k: x\u{a0}\n",
    "k: x\u{2028}y\n",
    "k: |\n  x\n",
    "k: >-\n  x\n",
    "? k\n: v\n",
    "<<: {a: 1}\n",
    "a: b\n  c\n",
    "a: \"b\n  c\"\n",
    "a: [b,\n  c]\n",
    "a: b: c\n",
    "  a: 1\n  b: 2\n",
    "x\n",
    "\"x\"\n",
    "[a]\n",
    "a: 1\n- b\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n  - b\n  c: 2\n",
    "a: \"\\a\"\n",
    "a: \"\\\n  b\"\n",
    "a b: 1\n",
    "1: a\n",
    "on: a\n",
    "a: 1\n...\n",
    "a: 1\n---\nb: 2\n",
    "%YAML 1.2\na: 1\n",
];

/// Empty values and null spellings: `None` in an `Option`, as in saphyr.
#[test]
fn nulls_as_options() {
    use std::collections::BTreeMap;
    type M = BTreeMap<String, Option<Value>>;
    type S = Vec<Option<String>>;
    for doc in [
        "a:  \nb: 1\n",
        "a: 1\nb:\n",
        "a:\n",
        "a: ~\nb: null\nc: Null # x\nd: NULL\n",
    ] {
        assert_eq!(check::<M>(doc), Outcome::Agree, "{doc}");
    }
    for doc in ["- \n- a\n", "-\n-\n", "- ~\n- null\n- x\n", "-  # c\n- x\n"] {
        assert_eq!(check::<S>(doc), Outcome::Agree, "{doc}");
    }
    assert_eq!(
        check::<BTreeMap<String, S>>("a:\n  - b\n  -\n"),
        Outcome::Agree
    );
    assert_eq!(check::<Vec<M>>("-\n  a: 1\n"), Outcome::Agree);
    // Null into a String, a struct or Value: saphyr fails or types it; the fast path bails.
    assert_eq!(check::<BTreeMap<String, String>>("a:\n"), Outcome::Bail);
    assert_eq!(check::<Value>("a:\n"), Outcome::Bail);
    assert_eq!(check::<Mixed>("j:\n"), Outcome::Agree); // Option<Box<Mixed>>: None
    assert_eq!(check::<Mixed>("p:\n"), Outcome::Bail); // String
}

#[test]
fn edge_cases() {
    for doc in INSIDE {
        assert_eq!(
            check::<Value>(doc),
            Outcome::Agree,
            "should be read:\n{doc}"
        );
    }
    for doc in OUTSIDE {
        assert_eq!(check::<Value>(doc), Outcome::Bail, "should bail:\n{doc}");
    }
}

/// Limits sit at or below saphyr's budget (64 levels, 1024-character keys, 32 buffered
/// comments): documents at the edge either agree or bail, never fail in saphyr only.
#[test]
fn limits() {
    let mut t = Tally::default();
    for n in [60, 62, 63, 64, 65, 70, 200] {
        let mut block = String::new();
        for i in 0..n {
            block.push_str(&format!("{}a:\n", "  ".repeat(i)));
        }
        block.push_str(&format!("{}b: 1\n", "  ".repeat(n)));
        let flow = format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        let mut seqs: String = (0..n).map(|i| format!("{}-\n", "  ".repeat(i))).collect();
        seqs.push_str(&format!("{}x\n", "  ".repeat(n)));
        for d in [block, flow, seqs] {
            t.add(&d, check::<Value>(&d));
        }
    }
    for n in [10, 16, 17, 31, 32, 40] {
        let c = "# c\n".repeat(n);
        for d in [
            format!("a:\n{c}  b: 2\n"),
            format!("a: 1\n{c}b: 2\n"),
            format!("a:\n- 1\n{c}- 2\n"),
            format!("a: # t\n{c}  b: 2\n"),
        ] {
            t.add(&d, check::<Value>(&d));
        }
    }
    for n in [200, 256, 257, 1000, 1024, 1025, 3000] {
        let k = "k".repeat(n);
        for d in [
            format!("{k}: 1\n"),
            format!("\"{k}\": 1\n"),
            format!("a: {k}\n"),
            format!("a: [{k}]\n"),
            format!("a: {{{k}: 1}}\n"),
            format!("- {k}: 1\n"),
        ] {
            t.add(&d, check::<Value>(&d));
        }
    }
    // Just under and over the size limit.
    let line = "key0000000: value value value value value\n";
    for target in [(1 << 20) - 100, (1 << 20) + 100] {
        let mut d = String::new();
        let mut i = 0;
        while d.len() + line.len() < target {
            d.push_str(&format!("key{i:07}: value value value value value\n"));
            i += 1;
        }
        t.add(&d, check::<Value>(&d));
    }
    // Many nodes in one flow sequence.
    let many = format!("a: [{}]\n", vec!["x"; 120_000].join(","));
    t.add(&many, check::<Value>(&many));
    t.assert_clean("limits");
    assert!(t.agree > 0 && t.bail > 0);
}

#[test]
fn ignored_paths_are_reported_only_on_success() {
    let mut seen = Vec::new();
    let r: Option<Mixed> = from_str_fast("zz: 1\np: yes\n", &mut |p| seen.push(p));
    assert!(r.is_none());
    assert!(seen.is_empty());
    let r: Option<Mixed> = from_str_fast("zz: 1\nk:\n- yy: [1]\n", &mut |p| seen.push(p));
    assert!(r.is_some());
    assert_eq!(seen, ["zz", "k.?.0.yy"]);
}

/// A type that swallows errors (here: `Option` from a failed inner value) must not turn a
/// bail into a value.
#[test]
fn swallowed_errors_still_bail() {
    fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Ok(<u32 as serde::Deserialize>::deserialize(d).ok())
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        #[serde(deserialize_with = "lenient")]
        num: Option<u32>,
    }
    assert!(from_str_fast::<T>("num: 5\n", &mut |_| {}).is_some());
    assert!(from_str_fast::<T>("num: 0x5\n", &mut |_| {}).is_none());
    let saphyr: T = serde_saphyr::from_str("num: 0x5\n").unwrap();
    assert_eq!(saphyr.num, Some(5)); // the fast path would have said None
}
