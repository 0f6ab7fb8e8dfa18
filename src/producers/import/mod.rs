//! `accord import`: a staff roster (CSV or XLSX) → one UserGrant manifest per person, for a
//! pull request. Each row is read (`rows`), becomes the grant it would be, and is checked by
//! the engine's validator with plan's own rules (`people`); only then is anything written
//! (`write`). National identity numbers go only into a Secret manifest kept apart.

pub mod mapping;
mod people;
pub mod rows;
pub mod secret;
pub mod table;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::api::{OrgUnit, Tenant};
use crate::engine::tree::{OrgTree, build_tree};
use crate::manifests::{Loaded, load_paths};
use crate::validate::redact::shown;

use mapping::{MappingFile, map_columns};
use rows::{RowContext, RowProblem, read_rows};

pub struct ImportRequest {
    pub file: PathBuf,
    pub tenant: String,
    pub namespace: Option<String>,
    /// Manifests holding the Tenant, its OrgUnits and existing UserGrants.
    pub from: Vec<PathBuf>,
    pub mapping: Option<PathBuf>,
    pub sheet: Option<String>,
    pub out: PathBuf,
    pub strict: bool,
    pub progress: bool,
}

#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub problems: Vec<RowProblem>,
    pub written: bool,
    pub report: Option<PathBuf>,
}

/// What stops a whole import (as opposed to bad rows, which are reported and skipped).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file import reads (the roster, the mapping file, the Secret's file).
    #[error("{}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// The manifests import builds on (`--from`).
    #[error("{0}")]
    Manifests(String),
    /// A file import writes, or what it would write did not read back as meant.
    #[error("{}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

impl ImportError {
    pub fn read(path: &Path, reason: impl Into<String>) -> Self {
        Self::Read {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
    pub fn write(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::Write {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// The tenant import writes for, as the manifests in `--from` hold it.
pub struct Destination<'a> {
    pub tenant: &'a Tenant,
    pub name: &'a str,
    pub namespace: String,
    pub tree: OrgTree,
    pub loaded: &'a Loaded,
    pub out: &'a Path,
}

pub fn import(req: &ImportRequest) -> Result<ImportOutcome, ImportError> {
    let mapping = read_mapping(req.mapping.as_deref())?;
    let from = if req.from.is_empty() {
        vec![req.out.clone()]
    } else {
        req.from.clone()
    };
    let loaded = load_paths(&from, "default");
    refuse_unread(&loaded, &from)?;
    let dest = destination(&loaded, req, &from)?;
    let table = table::read_table(&req.file, req.sheet.as_deref())?;
    let fields = map_columns(&table.headers, &mapping)
        .map_err(|e| ImportError::read(&req.file, e))?;
    let ctx = RowContext {
        tenant: &req.tenant,
        tree: &dest.tree,
    };
    let (rows, mut problems) = read_rows(&table, &fields, &ctx);
    let today = jiff::Zoned::now().date();
    let people = people::check(&dest, &mapping, rows, (&table, &fields), today, &mut problems);
    let mut outcome = ImportOutcome {
        rows: table.rows.len(),
        problems,
        ..Default::default()
    };
    if req.strict && !outcome.problems.is_empty() {
        return Ok(outcome);
    }
    write::all(req, &dest, people, &mut outcome)?;
    outcome.written = true;
    Ok(outcome)
}

fn read_mapping(path: Option<&Path>) -> Result<MappingFile, ImportError> {
    let Some(p) = path else {
        return Ok(MappingFile::default());
    };
    let text = std::fs::read_to_string(p).map_err(|e| ImportError::read(p, format!("cannot be read: {e}")))?;
    crate::manifests::yaml::from_single(&text).map_err(|e| {
        let field = if e.field.is_empty() { String::new() } else { format!("{}: ", e.field) };
        ImportError::read(p, format!("line {}: {field}{}", e.line, e.reason))
    })
}

/// The Tenant, its namespace and its unit tree.
fn destination<'a>(
    loaded: &'a Loaded,
    req: &'a ImportRequest,
    from: &[PathBuf],
) -> Result<Destination<'a>, ImportError> {
    let tenant = find_tenant(loaded, &req.tenant, req.namespace.as_deref())?;
    let namespace = tenant
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let units: BTreeMap<&str, &OrgUnit> = loaded
        .snapshot
        .org_units
        .iter()
        .filter(|u| u.metadata.namespace.as_deref() == Some(&namespace))
        .map(|u| (u.metadata.name.as_deref().unwrap_or_default(), u))
        .collect();
    let (tree, _) = build_tree(&namespace, &req.tenant, &units, &BTreeSet::new(), false);
    if tree.units.is_empty() {
        return Err(ImportError::Manifests(format!(
            "Tenant {namespace}/{} has no OrgUnits in {}: import needs the unit tree",
            req.tenant,
            show(from)
        )));
    }
    Ok(Destination {
        tenant,
        name: &req.tenant,
        namespace,
        tree,
        loaded,
        out: &req.out,
    })
}

/// One bad row for people; every part masked and escaped (`value` already is).
pub fn describe(p: &RowProblem) -> String {
    use crate::validate::redact::Quoted;
    if p.column.is_empty() {
        format!("row {}: {}: {}", p.row, p.value, shown(&p.reason))
    } else {
        format!(
            "row {}: column {}: \"{}\" {}",
            p.row,
            Quoted(&p.column),
            p.value.replace('"', "\\\""),
            shown(&p.reason)
        )
    }
}

fn show(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

pub(super) fn strip_comment(text: &str) -> &str {
    text.split_once('\n')
        .filter(|(first, _)| first.starts_with('#'))
        .map_or(text, |(_, rest)| rest)
}

fn find_tenant<'a>(
    loaded: &'a Loaded,
    name: &str,
    namespace: Option<&str>,
) -> Result<&'a Tenant, ImportError> {
    let found: Vec<&Tenant> = loaded
        .snapshot
        .tenants
        .iter()
        .filter(|t| {
            t.metadata.name.as_deref() == Some(name)
                && namespace.is_none_or(|ns| t.metadata.namespace.as_deref() == Some(ns))
        })
        .collect();
    match found.as_slice() {
        [t] => Ok(t),
        [] => Err(ImportError::Manifests(format!(
            "no Tenant {} in the manifests given with --from",
            crate::validate::redact::Quoted(name)
        ))),
        _ => Err(ImportError::Manifests(format!(
            "Tenant {} is in several namespaces; say which with --namespace",
            crate::validate::redact::Quoted(name)
        ))),
    }
}

/// Import builds on the manifests in `--from`; if any of them could not be read, what it
/// writes could clash with what they hold (a second Secret, a person twice).
fn refuse_unread(loaded: &Loaded, from: &[PathBuf]) -> Result<(), ImportError> {
    let unread = loaded.snapshot.unread.first().map(ToString::to_string).or_else(|| {
        loaded
            .snapshot
            .unreadable
            .iter()
            .next()
            .map(|(r, why)| format!("{r}: {why}"))
    });
    match unread {
        None => Ok(()),
        Some(first) => Err(ImportError::Manifests(format!(
            "the manifests in {} could not all be read ({}); import writes nothing until they are fixed (`accord plan` lists every error)",
            show(from),
            shown(&first)
        ))),
    }
}


fn progress_bar(enabled: bool, len: usize) -> indicatif::ProgressBar {
    if enabled && std::io::stdout().is_terminal() {
        indicatif::ProgressBar::new(len as u64)
    } else {
        indicatif::ProgressBar::hidden()
    }
}
