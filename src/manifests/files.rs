//! Finding manifest files: folders recursively in name order, each directory followed once
//! (a symbolic link loop is named, not walked for ever), each file read once however many
//! links lead to it, and nothing opened that is not a regular file (a FIFO would hang).

use crate::validate::Invalid;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The largest manifest file accord reads. Manifests are small; a `kubectl get -o yaml`
/// List of a large tenant is tens of MB. Past this, the file is refused unread.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// What a walk found: files to read, and paths that could not be looked at.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    /// (path, why): each is an input accord could not read.
    pub unreadable: Vec<(PathBuf, String)>,
    /// (path, why): problems that hide nothing (a link loop back into what was read).
    pub notes: Vec<(PathBuf, String)>,
}

pub fn collect(paths: &[PathBuf]) -> Found {
    let mut walk = Walk::default();
    for p in paths {
        walk.visit(p, true);
    }
    walk.found
}

#[derive(Default)]
struct Walk {
    found: Found,
    /// Canonical directories and files already taken, so that links cannot repeat them.
    dirs: BTreeSet<PathBuf>,
    files: BTreeSet<PathBuf>,
}

fn is_manifest(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

impl Walk {
    /// `named`: the path was given on the command line, so any file counts, not only .yaml.
    fn visit(&mut self, path: &Path, named: bool) {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                let why = if std::fs::symlink_metadata(path).is_ok() {
                    format!("is a link to nothing that can be read ({e})")
                } else {
                    format!("cannot be read: {e}")
                };
                self.found.unreadable.push((path.to_path_buf(), why));
                return;
            }
        };
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if meta.is_dir() {
            if !self.dirs.insert(canonical.clone()) {
                self.found.notes.push((
                    path.to_path_buf(),
                    format!(
                        "is a link back to {}, which is read already; not followed again",
                        canonical.display()
                    ),
                ));
                return;
            }
            self.visit_dir(path);
        } else if meta.is_file() {
            if meta.len() > MAX_FILE_BYTES {
                self.found.unreadable.push((
                    path.to_path_buf(),
                    format!(
                        "is {} MiB; manifest files of more than {} MiB are not read",
                        meta.len() >> 20,
                        MAX_FILE_BYTES >> 20
                    ),
                ));
            } else if self.files.insert(canonical) {
                self.found.files.push(path.to_path_buf());
            }
        } else if named || path.file_name().and_then(|n| n.to_str()).is_some_and(is_manifest) {
            self.found.unreadable.push((
                path.to_path_buf(),
                "is not a regular file (a pipe, socket or device), so it is not read".into(),
            ));
        }
    }

    fn visit_dir(&mut self, dir: &Path) {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                self.found
                    .unreadable
                    .push((dir.to_path_buf(), format!("cannot be read: {e}")));
                return;
            }
        };
        entries.sort();
        for e in entries {
            let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            let is_dir = std::fs::metadata(&e).map(|m| m.is_dir()).unwrap_or(false);
            if is_dir || is_manifest(name) {
                self.visit(&e, false);
            }
        }
    }
}

/// A file's text, or why it cannot be had. Invalid UTF-8 names the line of the first bad byte.
pub fn read_text(path: &Path) -> Result<String, Invalid> {
    let bytes = std::fs::read(path).map_err(|e| Invalid(format!("cannot be read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..good].iter().filter(|b| **b == b'\n').count();
        Invalid(format!("line {line} is not UTF-8 text (save the file as UTF-8)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_loops_are_named_and_walked_once() {
        let dir = std::env::temp_dir().join(format!("accord-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/x.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink(dir.join("a"), dir.join("a/b/loop")).unwrap();
        std::os::unix::fs::symlink(dir.join("a/b"), dir.join("a/again")).unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("a/dangling.yaml")).unwrap();
        let found = collect(&[dir.clone()]);
        assert_eq!(found.files.len(), 1, "{found:?}");
        assert_eq!(found.notes.len(), 2, "{found:?}");
        assert_eq!(found.unreadable.len(), 1, "{found:?}");
        assert!(found.unreadable[0].1.contains("link to nothing"), "{found:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
