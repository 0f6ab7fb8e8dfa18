//! `accord import FILE --tenant T -o DIR`

use std::path::PathBuf;

use clap::Args;

use crate::producers::import::{ImportRequest, describe, import};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The roster: .csv (`;` or `,`, UTF-8 or Windows-1252) or .xlsx
    pub file: PathBuf,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub namespace: Option<String>,
    /// Where the UserGrant manifests go (and the Secret of national identity numbers).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Manifests with the Tenant, its OrgUnits and existing UserGrants (default: the -o folder).
    #[arg(long)]
    pub from: Vec<PathBuf>,
    /// A mapping file: `columns: {"Header": field}`, `defaults: {roles: [...], features: [...]}`.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// The workbook sheet (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Write nothing if any row is bad.
    #[arg(long)]
    pub strict: bool,
}

/// Exit 0: every row imported; 2: bad rows skipped (see the report); 1: nothing written.
pub fn run(args: ImportArgs) -> i32 {
    let req = ImportRequest {
        file: args.file,
        tenant: args.tenant,
        namespace: args.namespace,
        from: args.from,
        mapping: args.mapping,
        sheet: args.sheet,
        out: args.out,
        strict: args.strict,
        progress: true,
    };
    match import(&req) {
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
        Ok(o) => {
            for p in &o.problems {
                println!("bad {}", describe(p));
            }
            let bad_rows = o
                .problems
                .iter()
                .map(|p| p.row)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            if !o.written {
                println!(
                    "{} rows, {bad_rows} bad: nothing written (--strict)",
                    o.rows
                );
                return 1;
            }
            println!(
                "{} rows: {} created, {} updated, {} unchanged, {bad_rows} bad{}",
                o.rows,
                o.created,
                o.updated,
                o.unchanged,
                o.report
                    .as_ref()
                    .map(|r| format!(" (report: {})", r.display()))
                    .unwrap_or_default()
            );
            if bad_rows > 0 { 2 } else { 0 }
        }
    }
}
