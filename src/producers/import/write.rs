//! Writing what an import decided: the Secret of national identity numbers first (so that no
//! grant ever points at a key that is not there), then each grant's file, each read back
//! before it replaces the old one; then the report of bad rows and the `.gitignore`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::api::{SecretKeyRef, UserGrant};
use crate::manifests::Loaded;

use super::people::Checked;
use super::secret::{SecretFile, write_atomically};
use super::{Destination, ImportError, ImportOutcome, ImportRequest, describe, file_name, strip_comment};

pub fn all(
    req: &ImportRequest,
    dest: &Destination,
    people: Vec<Checked>,
    outcome: &mut ImportOutcome,
) -> Result<(), ImportError> {
    std::fs::create_dir_all(dest.out).map_err(|e| ImportError::write(dest.out, e))?;
    let secret_name = format!("{}-national-ids", dest.name);
    // An existing Secret of that name is updated where it is (other documents of its file
    // kept); otherwise one is written beside the grants.
    let secret_file = dest
        .loaded
        .snapshot
        .origin(&crate::engine::ObjectRef::new(
            crate::engine::Kind::Secret,
            &dest.namespace,
            &secret_name,
        ))
        .map(|o| std::path::PathBuf::from(o.rsplit_once(':').map_or(o.as_str(), |(f, _)| f)))
        .unwrap_or_else(|| dest.out.join(format!("{secret_name}.yaml")));
    let mut secret = SecretFile::load(&secret_file, &secret_name, &dest.namespace)?;
    let mut updated: BTreeMap<String, String> = BTreeMap::new();
    let mut files = Vec::new();
    for mut p in people {
        let name = p.grant.metadata.name.clone().unwrap_or_default();
        match p.national_id.take() {
            Some(Some(id)) => {
                let id = id.trim().to_string();
                if secret.get(&name).as_deref() != Some(id.as_str()) {
                    secret.set(&name, id.clone());
                    updated.insert(name.clone(), id);
                }
                p.grant.spec.person.national_id_ref = Some(SecretKeyRef {
                    secret_name: secret_name.clone(),
                    key: name.clone(),
                });
            }
            Some(None) => p.grant.spec.person.national_id_ref = None,
            None => {}
        }
        let text = format!(
            "# Imported by accord from {}; edit freely: a re-import keeps fields the roster does not carry.\n{}",
            file_name(&req.file),
            serde_saphyr::to_string(&p.grant).map_err(|e| ImportError::write(&p.path, e))?
        );
        files.push((p.path, text, p.grant));
    }
    secret.write(&updated)?;
    let bar = super::progress_bar(req.progress, files.len());
    for (path, text, grant) in &files {
        bar.inc(1);
        match std::fs::read_to_string(path) {
            Ok(old) if strip_comment(&old) == strip_comment(text) => outcome.unchanged += 1,
            old => {
                write_grant(path, text, grant, &dest.namespace)?;
                if old.is_ok() {
                    outcome.updated += 1;
                } else {
                    outcome.created += 1;
                }
            }
        }
    }
    bar.finish_and_clear();
    ensure_gitignore(dest.out, &["import-report.txt"])?;
    if let (Some(dir), Some(file)) = (secret.path.parent(), secret.path.file_name()) {
        ensure_gitignore(dir, &[&file.to_string_lossy()])?;
    }
    report(req, dest.out, outcome)
}

/// `import-report.txt`: every bad row, masked; removed when there are none.
fn report(req: &ImportRequest, out: &Path, outcome: &mut ImportOutcome) -> Result<(), ImportError> {
    let path = out.join("import-report.txt");
    if outcome.problems.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    let lines: String = outcome
        .problems
        .iter()
        .map(|p| format!("{}\n", describe(p)))
        .collect();
    let text = format!("# Rows of {} that were not imported\n{lines}", file_name(&req.file));
    std::fs::write(&path, text).map_err(|e| ImportError::write(&path, e))?;
    outcome.report = Some(path);
    Ok(())
}

/// Writes one grant's file after reading the text back: it must be exactly the grant meant.
fn write_grant(path: &Path, text: &str, grant: &UserGrant, ns: &str) -> Result<(), ImportError> {
    let mut check = Loaded::default();
    crate::manifests::load_text(&path.display().to_string(), text, ns, &mut check);
    let same = check.problems.is_empty()
        && check.snapshot.user_grants.len() == 1
        && serde_json::to_value(&check.snapshot.user_grants[0].spec).ok()
            == serde_json::to_value(&grant.spec).ok();
    if !same {
        return Err(ImportError::write(
            path,
            "not written, because the new text would not read back as the same UserGrant",
        ));
    }
    write_atomically(path, text)
}

fn ensure_gitignore(dir: &Path, entries: &[&str]) -> Result<(), ImportError> {
    let path = dir.join(".gitignore");
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let before = text.clone();
    for e in entries {
        if !text.lines().any(|l| l.trim() == *e) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(e);
            text.push('\n');
        }
    }
    if text != before {
        std::fs::write(&path, text).map_err(|e| ImportError::write(&path, e))?;
    }
    Ok(())
}
