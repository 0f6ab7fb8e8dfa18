//! The manifest reader's fast path (src/manifests/fast.rs) against serde-saphyr, the YAML
//! parser it stands in for: on every example document, on rewrites of them, on every tricky
//! scalar in every typed position, on mutated and grammar-generated documents, whenever the
//! fast path answers, serde-saphyr answers the same, value and ignored fields alike; and the
//! fast path never panics. `FUZZ_CASES` sets the number of mutation cases.

#[path = "yaml_fast/common.rs"]
mod common;
#[path = "yaml_fast/diff.rs"]
mod diff;
#[path = "yaml_fast/fuzz.rs"]
mod fuzz;
