//! The Secret of national identity numbers that `import` keeps: read fully or not at all,
//! and written back keeping every key it held (`data` in base64 and `stringData` alike) and
//! every other document of its file. The new file is read back and compared before it
//! replaces the old one, so a bug here can never destroy what was there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::manifests::{self, Loaded, yaml};

use super::ImportError;

pub struct SecretFile {
    pub path: PathBuf,
    name: String,
    namespace: String,
    /// The file's documents as text; `ours` is the index of the Secret's, if it exists.
    documents: Vec<String>,
    ours: Option<usize>,
    /// Values from `data`, still base64 (they may not be UTF-8): kept as they are.
    data: BTreeMap<String, String>,
    string_data: BTreeMap<String, String>,
    /// Every key and value before, decoded, to check the new file against.
    before: BTreeMap<String, String>,
}

impl SecretFile {
    /// The Secret `name` in `path` (which need not exist yet). Any document of the file that
    /// cannot be read, or a Secret that cannot be, stops the import: nothing is written then.
    pub fn load(path: &Path, name: &str, namespace: &str) -> Result<Self, ImportError> {
        let mut file = SecretFile {
            path: path.to_path_buf(),
            name: name.to_string(),
            namespace: namespace.to_string(),
            documents: Vec::new(),
            ours: None,
            data: BTreeMap::new(),
            string_data: BTreeMap::new(),
            before: BTreeMap::new(),
        };
        let text = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(file),
            Err(e) => return Err(ImportError::read(path, format!("cannot be read: {e}"))),
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| ImportError::read(path, "is not UTF-8 text"))?,
        };
        let text = yaml::normalise(&text);
        let docs = yaml::split_documents(&text);
        // Text before the first document (comments) stays with it.
        for (i, doc) in docs.iter().enumerate() {
            let value = yaml::value(doc).map_err(|e| {
                ImportError::read(path, format!("line {}: cannot be read ({}); nothing is written", e.line, e.reason))
            })?;
            let is_ours = value.get("kind").and_then(|k| k.as_str()) == Some("Secret")
                && value.pointer("/metadata/name").and_then(|n| n.as_str()) == Some(name);
            if is_ours {
                file.ours = Some(i);
                file.read_keys(&value)?;
            }
            file.documents.push(doc.text.clone());
        }
        file.before = file.decoded()?;
        Ok(file)
    }

    fn read_keys(&mut self, value: &serde_json::Value) -> Result<(), ImportError> {
        let strings = |key: &str| -> Result<BTreeMap<String, String>, ImportError> {
            match value.get(key) {
                None | Some(serde_json::Value::Null) => Ok(BTreeMap::new()),
                Some(serde_json::Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) => Ok((k.clone(), s.to_string())),
                        None => Err(ImportError::read(
                            &self.path,
                            format!("Secret {}: {key}.{k} is not a string; nothing is written", self.name),
                        )),
                    })
                    .collect(),
                Some(_) => Err(ImportError::read(
                    &self.path,
                    format!("Secret {}: {key} is not a mapping; nothing is written", self.name),
                )),
            }
        };
        self.data = strings("data")?;
        self.string_data = strings("stringData")?;
        Ok(())
    }

    /// Every key with its value as Kubernetes would see it (stringData over data).
    fn decoded(&self) -> Result<BTreeMap<String, String>, ImportError> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.data {
            let bytes = base64_decode(v).ok_or_else(|| {
                ImportError::read(
                    &self.path,
                    format!("Secret {}: data.{k} is not base64; nothing is written", self.name),
                )
            })?;
            out.insert(k.clone(), String::from_utf8_lossy(&bytes).into_owned());
        }
        out.extend(self.string_data.clone());
        Ok(out)
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.string_data.get(key).cloned().or_else(|| {
            self.data
                .get(key)
                .and_then(|v| base64_decode(v))
                .and_then(|b| String::from_utf8(b).ok())
        })
    }

    pub fn set(&mut self, key: &str, value: String) {
        self.data.remove(key);
        self.string_data.insert(key.to_string(), value);
    }

    pub fn changed(&self) -> bool {
        self.decoded().map(|d| d != self.before).unwrap_or(true)
    }

    fn render_secret(&self) -> String {
        let mut text = format!(
            "# National identity numbers written by accord import. Keep this file out of Git (it is in\n\
             # .gitignore): seal it or load it into the cluster's secret store.\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n  namespace: {}\ntype: Opaque\n",
            self.name, self.namespace
        );
        // JSON strings are YAML double-quoted scalars: any key or value is written safely.
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        for (section, map) in [("data", &self.data), ("stringData", &self.string_data)] {
            if !map.is_empty() {
                text.push_str(section);
                text.push_str(":\n");
                for (k, v) in map {
                    text.push_str(&format!("  {}: {}\n", q(k), q(v)));
                }
            }
        }
        text
    }

    /// The whole new file: the other documents as they were, the Secret rewritten.
    fn render(&self) -> String {
        let mut docs = self.documents.clone();
        match self.ours {
            Some(i) => docs[i] = self.render_secret(),
            None => docs.push(self.render_secret()),
        }
        let mut text = String::new();
        for (i, d) in docs.iter().enumerate() {
            let d = d.strip_prefix("---\n").unwrap_or(d);
            if i > 0 {
                // A directive may only follow the end of the document before it.
                text.push_str(if d.starts_with('%') { "...\n" } else { "---\n" });
            }
            text.push_str(d);
        }
        text
    }

    /// Writes the file if the Secret changed, after reading the new text back: every key the
    /// Secret held keeps its value unless `set` changed it, and every other document is still
    /// there. The old file is replaced only then, in one rename.
    pub fn write(&self, updated: &BTreeMap<String, String>) -> Result<bool, ImportError> {
        if !self.changed() {
            return Ok(false);
        }
        let text = self.render();
        let mut check = Loaded::default();
        manifests::load_text(&self.path.display().to_string(), &text, &self.namespace, &mut check);
        let fail = |why: &str| Err(ImportError::write(&self.path, format!("not written, because {why}")));
        if !check.problems.is_empty() || !check.snapshot.unread.is_empty() {
            return fail("the new text would not read back cleanly");
        }
        let Some(after) = check.snapshot.secret(&self.namespace, &self.name) else {
            return fail("the Secret would be missing from it");
        };
        for (k, v) in &self.before {
            let want = updated.get(k).unwrap_or(v);
            if after.get(k) != Some(want.as_str()) {
                return fail("a key the Secret held would be lost or changed");
            }
        }
        let documents = self.documents.len() + usize::from(self.ours.is_none());
        let objects = check.snapshot.origins.len() + check.ignored;
        if objects != documents {
            return fail("another document of the file would be lost");
        }
        write_atomically(&self.path, &text)?;
        Ok(true)
    }
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ImportError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| ImportError::write(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ImportError::write(path, e)
    })
}

/// Standard base64 with padding, as Kubernetes writes Secret data.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_every_other_document_survive() {
        let dir = std::env::temp_dir().join(format!("accord-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.yaml");
        // "MTMxMDUyLTMwOFQ=" is base64 of a HETU kept under `data`.
        std::fs::write(
            &path,
            "# header\napiVersion: v1\nkind: Secret\nmetadata: {name: other, namespace: ns}\nstringData: {a: b}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {name: acme-national-ids, namespace: ns}\n\
             data:\n  old-b64: MTMxMDUyLTMwOFQ=\nstringData:\n  old-plain: \"010594Y9032\"\n",
        )
        .unwrap();
        let mut f = SecretFile::load(&path, "acme-national-ids", "ns").unwrap();
        assert_eq!(f.get("old-b64").as_deref(), Some("131052-308T"));
        f.set("new", "010504A906X".into());
        let updated = BTreeMap::from([("new".to_string(), "010504A906X".to_string())]);
        assert!(f.write(&updated).unwrap());
        let mut check = Loaded::default();
        manifests::load_text("x", &std::fs::read_to_string(&path).unwrap(), "ns", &mut check);
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        let s = check.snapshot.secret("ns", "acme-national-ids").unwrap();
        assert_eq!(s.get("old-b64"), Some("131052-308T"));
        assert_eq!(s.get("old-plain"), Some("010594Y9032"));
        assert_eq!(s.get("new"), Some("010504A906X"));
        assert_eq!(check.snapshot.secret("ns", "other").unwrap().get("a"), Some("b"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_file_that_cannot_be_read_stops_the_import() {
        let dir = std::env::temp_dir().join(format!("accord-secret-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.yaml");
        std::fs::write(&path, "apiVersion: v1\nkind: Secret\nmetadata: {name: x\n").unwrap();
        assert!(SecretFile::load(&path, "x", "ns").is_err());
        std::fs::write(&path, "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: \"**\"}\n").unwrap();
        assert!(SecretFile::load(&path, "x", "ns").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
