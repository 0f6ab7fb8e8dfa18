//! Benchmark: `accord import` of the 20,000-row roster, cold and as a no-op re-import.
//!
//!     cargo bench --bench import

use std::path::PathBuf;
use std::time::Instant;

use accord::producers::import::{ImportRequest, import};

#[path = "../tests/support/mod.rs"]
mod support;
use support::copy_dir;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let roster = manifest.join("../shared/data/import").join(if full {
        "acme-large.csv"
    } else {
        "acme-henkilosto.csv"
    });
    if !roster.exists() {
        eprintln!("skipped: {} is not there", roster.display());
        return;
    }
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&manifest.join("examples/fi-acme"), &work.join("fi-acme"));
    let req = ImportRequest {
        file: roster.clone(),
        tenant: "acme".into(),
        namespace: None,
        from: vec![work.join("fi-acme")],
        mapping: None,
        sheet: None,
        out: work.join("fi-acme/imported"),
        strict: false,
        progress: false,
    };
    let t = Instant::now();
    let cold = import(&req).unwrap();
    let t_cold = t.elapsed();
    let t = Instant::now();
    let again = import(&req).unwrap();
    let t_again = t.elapsed();
    println!(
        "accord import {} ({} rows):",
        roster.file_name().unwrap().to_string_lossy(),
        cold.rows
    );
    println!(
        "  cold:      {t_cold:>8.2?}  {} created, {} updated, {} bad rows",
        cold.created,
        cold.updated,
        cold.problems.len()
    );
    println!(
        "  re-import: {t_again:>8.2?}  {} created, {} updated, {} unchanged",
        again.created, again.updated, again.unchanged
    );
    let _ = std::fs::remove_dir_all(&work);
}
