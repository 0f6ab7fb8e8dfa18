//! `accord attest`: record that the information owner confirmed people still belong, or
//! list who is due (`--due`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::Args;
use jiff::ToSpan;

use crate::engine::lifecycle::AttestationState;
use crate::engine::problem::Kind;
use crate::engine::tree::build_tree;
use crate::engine::{ObjectRef, compile};
use crate::manifests::load_paths;
use crate::validate::{parse_duration, validate_email};

use super::default_paths;
use super::plan::today_or;

#[derive(Args, Debug)]
pub struct AttestArgs {
    /// Manifest files or folders (default: examples)
    pub paths: Vec<PathBuf>,
    /// List who is due or overdue, per unit, instead of attesting.
    #[arg(long)]
    pub due: bool,
    /// With --due: also people due within this long (default 30d).
    #[arg(long, default_value = "30d")]
    pub within: String,
    /// Who attests (an e-mail address).
    #[arg(long)]
    pub by: Option<String>,
    /// UserGrants to attest, by name (repeatable).
    #[arg(long = "person")]
    pub persons: Vec<String>,
    /// Attest everyone whose home unit is this OrgUnit (repeatable).
    #[arg(long = "unit")]
    pub units: Vec<String>,
    /// With --unit: the units below it too.
    #[arg(long)]
    pub descendants: bool,
    /// Attest everyone of the tenant.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// The date of the attestation and of the due list (default today).
    #[arg(long)]
    pub today: Option<jiff::civil::Date>,
    /// Work on the live resources of the cluster (kubeconfig) instead of manifest files;
    /// `--namespace` names the namespace (default: the kubeconfig's).
    #[arg(long)]
    pub cluster: bool,
}

/// The namespace's resources, read from the cluster.
async fn cluster_snapshot(
    namespace: Option<&str>,
) -> Result<(crate::engine::Snapshot, kube::Client, String), AttestError> {
    use kube::api::ListParams;
    crate::connectors::http::crypto_provider();
    let client = kube::Client::try_default()
        .await
        .map_err(AttestError::Connect)?;
    let ns = namespace
        .map(String::from)
        .unwrap_or_else(|| client.default_namespace().to_string());
    async fn all<K>(client: &kube::Client, ns: &str) -> Result<Vec<K>, AttestError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
    {
        let api: kube::Api<K> = kube::Api::namespaced(client.clone(), ns);
        api.list(&ListParams::default())
            .await
            .map(|l| l.items)
            .map_err(|source| AttestError::List {
                what: match K::plural(&()).as_ref() {
                    "tenants" => "tenants",
                    "orgunits" => "orgunits",
                    "usergrants" => "usergrants",
                    "integrations" => "integrations",
                    _ => "secrets",
                },
                source,
            })
    }
    let mut snap = crate::engine::Snapshot {
        tenants: all(&client, &ns).await?,
        org_units: all(&client, &ns).await?,
        user_grants: all(&client, &ns).await?,
        integrations: all(&client, &ns).await?,
        ..Default::default()
    };
    // Grants are only valid with their Secrets; without the right to read them, grants that
    // reference one are reported as unchecked rather than listed wrongly.
    match all::<k8s_openapi::api::core::v1::Secret>(&client, &ns).await {
        Ok(secrets) => {
            for s in secrets {
                let mut data: std::collections::BTreeMap<String, String> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, String::from_utf8(v.0).ok()?)))
                    .collect();
                data.extend(s.string_data.unwrap_or_default());
                snap.secrets.insert(
                    (ns.clone(), s.metadata.name.unwrap_or_default()),
                    crate::engine::SecretData(data),
                );
            }
        }
        Err(e) => eprintln!("warning: {e}; grants that reference Secrets cannot be checked"),
    }
    Ok((snap, client, ns))
}

pub fn run(args: AttestArgs) -> i32 {
    let paths = default_paths(args.paths.clone());
    let runtime = super::runtime();
    let (snapshot, cluster) = if args.cluster {
        let ns = (args.namespace != "default").then_some(args.namespace.as_str());
        match runtime.block_on(cluster_snapshot(ns)) {
            Ok((snap, client, ns)) => (snap, Some((client, ns))),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    } else {
        let loaded = load_paths(&paths, &args.namespace);
        if !loaded.problems.is_empty() {
            for p in &loaded.problems {
                eprintln!("error: {p}");
            }
            return 1;
        }
        (loaded.snapshot, None)
    };
    let today = today_or(args.today);
    if args.due {
        return due(&args, &snapshot, today);
    }
    let Some(by) = args.by.as_deref() else {
        eprintln!("error: say who attests with --by EMAIL");
        return 1;
    };
    if let Err(e) = validate_email(by) {
        eprintln!("error: --by {by:?} {e}");
        return 1;
    }
    if args.persons.is_empty() && args.units.is_empty() && !args.all {
        eprintln!("error: choose people with --person, --unit or --all");
        return 1;
    }
    let snap = &snapshot;
    let grants: Vec<&crate::api::UserGrant> = snap
        .user_grants
        .iter()
        .filter(|g| args.tenant.as_deref().is_none_or(|t| g.spec.tenant == t))
        .collect();
    let tenants: BTreeSet<(&str, &str)> = grants
        .iter()
        .map(|g| {
            (
                g.metadata.namespace.as_deref().unwrap_or("default"),
                g.spec.tenant.as_str(),
            )
        })
        .collect();
    if (args.all || !args.units.is_empty()) && tenants.len() > 1 {
        eprintln!("error: the manifests hold several tenants; say which with --tenant");
        return 1;
    }
    // Units chosen, with their subtrees when asked.
    let mut units: BTreeSet<String> = BTreeSet::new();
    if let Some((ns, tenant)) = tenants.iter().next() {
        let all_units = snap
            .org_units
            .iter()
            .filter(|u| u.metadata.namespace.as_deref() == Some(ns))
            .map(|u| (u.metadata.name.as_deref().unwrap_or_default(), u))
            .collect();
        let (tree, _) = build_tree(ns, tenant, &all_units, &BTreeSet::new(), false);
        for u in &args.units {
            let Some(node) = tree.find(u) else {
                eprintln!("error: --unit {u:?} is no OrgUnit of tenant {tenant}");
                return 1;
            };
            if args.descendants {
                units.extend(tree.subtree(&node.name).into_iter().map(String::from));
            } else {
                units.insert(node.name.clone());
            }
        }
    }
    let mut chosen = Vec::new();
    for g in &grants {
        let name = g.metadata.name.as_deref().unwrap_or_default();
        if args.all || args.persons.iter().any(|p| p == name) || units.contains(&g.spec.unit) {
            chosen.push(ObjectRef::new(
                Kind::UserGrant,
                g.metadata.namespace.as_deref().unwrap_or("default"),
                name,
            ));
        }
    }
    for p in &args.persons {
        if !chosen.iter().any(|c| &c.name == p) {
            if cluster.is_some() {
                eprintln!("error: --person {p:?} is no UserGrant in the cluster");
                return 1;
            }
            eprintln!(
                "error: --person {p:?} is no UserGrant in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            return 1;
        }
    }
    if let Some((client, ns)) = cluster {
        let api: kube::Api<crate::api::UserGrant> = kube::Api::namespaced(client, &ns);
        let patch = serde_json::json!({"spec": {"attestation": {"lastAttested": today.to_string(), "attestedBy": by}}});
        for c in &chosen {
            if let Err(e) = runtime.block_on(api.patch(
                &c.name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )) {
                eprintln!("error: UserGrant {ns}/{}: {e}", c.name);
                return 1;
            }
        }
        println!("attested {} people on {today} by {by}", chosen.len());
        return 0;
    }
    // Group by file so that each file is read and written once.
    let mut by_file: BTreeMap<PathBuf, Vec<ObjectRef>> = BTreeMap::new();
    for c in chosen {
        let Some(origin) = snap.origin(&c) else {
            continue;
        };
        let file = PathBuf::from(origin.rsplit_once(':').map_or(origin.as_str(), |(f, _)| f));
        by_file.entry(file).or_default().push(c);
    }
    let mut count = 0;
    for (file, refs) in by_file {
        match set_attestation(&file, &refs, today, by) {
            Ok(n) => count += n,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return 1;
            }
        }
    }
    println!("attested {count} people on {today} by {by}");
    0
}

/// Why an attestation could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Connect(#[source] kube::Error),
    #[error("cannot list {what}: {source}")]
    List {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// A manifest file, and why it was left as it was.
    #[error("{reason}")]
    File { reason: String },
}

fn file_error(reason: impl std::fmt::Display) -> AttestError {
    AttestError::File {
        reason: reason.to_string(),
    }
}

/// Rewrites the documents of `refs` in `file` with a new `spec.attestation`. Every other
/// document stays exactly as it was, comments and all; the new text is read back and must
/// differ from the old only in those attestations before it replaces the file.
fn set_attestation(
    file: &std::path::Path,
    refs: &[ObjectRef],
    today: jiff::civil::Date,
    by: &str,
) -> Result<usize, AttestError> {
    use crate::manifests::{Loaded, load_text, yaml};
    let text = std::fs::read_to_string(file).map_err(file_error)?;
    let text = yaml::normalise(&text).into_owned();
    let mut out = String::new();
    let mut n = 0;
    for (i, doc) in yaml::split_documents(&text).into_iter().enumerate() {
        let mut value = yaml::value(&doc).map_err(|e| file_error(format!("line {}: {}", e.line, e.reason)))?;
        let name = value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("");
        let mine = value.get("kind").and_then(|k| k.as_str()) == Some("UserGrant")
            && refs.iter().any(|r| r.name == name);
        if i > 0 && !doc.text.starts_with("---") {
            out.push_str("---\n");
        }
        if !mine {
            out.push_str(&doc.text);
            continue;
        }
        let spec = value
            .get_mut("spec")
            .and_then(|s| s.as_object_mut())
            .ok_or_else(|| file_error("a UserGrant without spec"))?;
        spec.insert(
            "attestation".into(),
            serde_json::json!({"lastAttested": today.to_string(), "attestedBy": by}),
        );
        // The document's own leading comments stay above it.
        let comments: String = doc
            .text
            .lines()
            .take_while(|l| l.starts_with('#') || l.trim() == "---")
            .map(|l| format!("{l}\n"))
            .collect();
        out.push_str(&comments);
        out.push_str(&serde_saphyr::to_string(&value).map_err(file_error)?);
        n += 1;
    }
    let (mut before, mut after) = (Loaded::default(), Loaded::default());
    let name = file.display().to_string();
    load_text(&name, &text, "default", &mut before);
    load_text(&name, &out, "default", &mut after);
    if !after.problems.is_empty() || !same_but_attestation(&before, &after, refs) {
        return Err(file_error("not written: the new text would not read back as the same manifests"));
    }
    crate::producers::import::secret::write_atomically(file, &out).map_err(file_error)?;
    Ok(n)
}

/// Whether two readings of a file hold the same objects, apart from the attestation of `refs`.
fn same_but_attestation(
    before: &crate::manifests::Loaded,
    after: &crate::manifests::Loaded,
    refs: &[ObjectRef],
) -> bool {
    let json = |l: &crate::manifests::Loaded| {
        let mut grants: Vec<serde_json::Value> = l
            .snapshot
            .user_grants
            .iter()
            .map(|g| {
                let mut v = serde_json::to_value(g).unwrap_or_default();
                if refs.iter().any(|r| Some(&r.name) == g.metadata.name.as_ref())
                    && let Some(spec) = v.get_mut("spec").and_then(|s| s.as_object_mut())
                {
                    spec.remove("attestation");
                }
                v
            })
            .collect();
        grants.sort_by_key(|v| v.to_string());
        let rest = serde_json::to_value((
            &l.snapshot.tenants,
            &l.snapshot.org_units,
            &l.snapshot.integrations,
        ))
        .unwrap_or_default();
        (grants, rest, l.snapshot.secrets.len(), l.ignored)
    };
    json(before) == json(after)
}

fn due(args: &AttestArgs, snap: &crate::engine::Snapshot, today: jiff::civil::Date) -> i32 {
    let within = match parse_duration(&args.within) {
        Ok(s) => (s / 86_400) as i64,
        Err(e) => {
            eprintln!("error: --within {:?} {e}", args.within);
            return 1;
        }
    };
    let horizon = today.saturating_add(within.days());
    let compiled = compile(snap, today, crate::connectors::registry());
    let mut listed = 0;
    for t in compiled
        .tenants
        .iter()
        .filter(|t| args.tenant.as_deref().is_none_or(|n| t.object.name == n))
    {
        let paths: BTreeMap<&str, &str> = t
            .units
            .iter()
            .map(|u| (u.object.name.as_str(), u.path.as_str()))
            .collect();
        let mut per_unit: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for g in &t.grants {
            let l = &g.lifecycle;
            if l.attestation == AttestationState::Current && l.attestation_due > horizon {
                continue;
            }
            let state = match l.attestation {
                AttestationState::Overdue => {
                    format!("OVERDUE (was due {}; grace period over)", l.attestation_due)
                }
                AttestationState::Due => format!("due since {}", l.attestation_due),
                AttestationState::Current => format!("due {}", l.attestation_due),
            };
            let person = snap.user_grants.iter().find(|u| {
                u.metadata.name.as_deref() == Some(&g.object.name)
                    && u.metadata.namespace.as_deref() == Some(&g.object.namespace)
            });
            let who = person
                .map(|p| {
                    format!(
                        "{} {} <{}>",
                        p.spec.person.given_name, p.spec.person.family_name, p.spec.person.email
                    )
                })
                .unwrap_or_default();
            per_unit
                .entry(
                    paths
                        .get(g.unit.as_str())
                        .copied()
                        .unwrap_or(g.unit.as_str()),
                )
                .or_default()
                .push(format!("{:<28} {who:<50} {state}", g.object.name));
            listed += 1;
        }
        if per_unit.is_empty() {
            continue;
        }
        println!("{} — attestation due by {horizon}:", t.object);
        for (unit, people) in per_unit {
            println!("  {unit}");
            for p in people {
                println!("    {p}");
            }
        }
    }
    if listed == 0 {
        println!("nobody is due by {horizon}");
    }
    0
}
