//! Helpers shared by the integration tests: scratch folders and running the real binary.
#![allow(dead_code)]

pub mod apiserver;
pub mod cluster;
pub mod kube;
pub mod lemonldap;
pub mod oidc;
pub mod replay;
pub mod scim;
pub mod slapd;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh folder under the target directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies a folder tree, as tests do with examples/ before changing it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest)
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// One request to a Kubernetes API as the server saw it: who, what, and its answer. The real
/// server's audit log and the emulator's request log both give these, so tests can count
/// and check the operator's calls the same way on both.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiCall {
    pub user: String,
    /// get, list, watch, create, update, patch, delete
    pub verb: String,
    pub namespace: String,
    pub resource: String,
    /// `status`, or empty
    pub subresource: String,
    pub code: u16,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn accord(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("accord runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The writes of each target in `accord apply`'s report ("… operations done, N writes").
pub fn writes(out: &str) -> Vec<usize> {
    out.lines()
        .filter_map(|l| {
            l.split(" operations done, ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The directory suffixes of the three example customers.
pub const SUFFIXES: [&str; 3] = ["dc=acme,dc=fi", "dc=aarhus,dc=dk", "dc=vardgivaren,dc=se"];

/// A copy of examples/ whose directory Integrations point at `slapd` as its admin.
pub fn examples_against(slapd: &slapd::Slapd, dir: &Path) -> PathBuf {
    let root = dir.join("examples");
    copy_dir(&examples(), &root);
    for (customer, endpoint) in [
        ("fi-acme", "ldaps://ldap.acme.internal:636"),
        ("dk-aarhus", "ldap://ldap.aarhus.internal:389"),
        ("se-vardgivaren", "ldaps://katalog.vardgivaren.se:636"),
    ] {
        let f = root.join(customer).join("integrations.yaml");
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains(endpoint));
        let text: String = text
            .replace(endpoint, &slapd.url())
            .lines()
            .filter(|l| !l.starts_with("  tls:"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&f, text).unwrap();
        let c = root.join(customer).join("secrets/credentials.yaml");
        let text = std::fs::read_to_string(&c)
            .unwrap()
            .replace("cn=accord,ou=services,", "cn=admin,")
            .replace("change-me", slapd::ADMIN_PW);
        std::fs::write(&c, text).unwrap();
    }
    root
}

/// A small valid tenant with two units, one admin pair and an LDAP directory.
pub const BASE: &str = r#"
apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {name: acme, namespace: t}
spec:
  displayName: Acme Oy
  country: FI
  integrations: {directory: acme-ldap}
  features: [messaging, documents]
  roles:
    - {name: admin, admin: true}
    - {name: employee}
  policy:
    minAdmins: 2
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {name: acme-ldap, namespace: t}
spec:
  tenant: acme
  kind: ldap
  endpoint: ldap://127.0.0.1:1
  ldap: {baseDN: "dc=acme,dc=fi"}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {name: root, namespace: t}
spec: {tenant: acme, displayName: Acme}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {name: helsinki, namespace: t}
spec: {tenant: acme, displayName: Helsinki, parent: root}
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {name: anna, namespace: t}
spec:
  tenant: acme
  person: {givenName: Anna, familyName: Virtanen, email: anna@acme.fi}
  unit: helsinki
  roles: [admin]
  features: [messaging]
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {name: liisa, namespace: t}
spec:
  tenant: acme
  person: {givenName: Liisa, familyName: Korhonen, email: liisa@acme.fi}
  unit: root
  roles: [admin]
  scopes: [{unit: root, includeDescendants: true}]
"#;
