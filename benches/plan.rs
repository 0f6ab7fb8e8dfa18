//! Benchmark: `accord plan --offline` over a generated estate — by default 100 tenants,
//! 5,000 OrgUnits and 100,000 UserGrants — end to end: read and parse the YAML files,
//! compile, diff, render the plan as JSON. Reports wall time per stage and peak memory.
//!
//!     cargo bench --bench plan
//!     ACCORD_BENCH_TENANTS=10 ACCORD_BENCH_GRANTS=10000 cargo bench --bench plan
//!
//! The estate is written once under target/bench-estate-* and reused.
//!
//! It then parses the same documents with three readers side by side, each on every core:
//! serde_yaml 0.9 (archived upstream; what accord used before), serde-saphyr alone, and
//! accord's reader (a fast path for the manifest subset, serde-saphyr for the rest);
//! `ACCORD_BENCH_PARSERS=0` leaves that out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use accord::api::{Integration, OrgUnit, Tenant, UserGrant};
use accord::engine::{compile, make_plan};
use accord::manifests::load_paths;
use accord::manifests::yaml::{self, Document};
use serde::de::DeserializeOwned;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes one folder per tenant: tenant + integration, units (a tree 3 levels deep), and
/// grants in files of 500 documents.
fn generate(dir: &Path, tenants: usize, units_per_tenant: usize, grants_per_tenant: usize) {
    let roles = ["admin", "unit-admin", "nurse", "physician", "employee"];
    let features = [
        "messaging",
        "documents",
        "reports",
        "employment",
        "sickLeave",
        "workplaceSurvey",
        "workAbility",
    ];
    for t in 0..tenants {
        let ns = format!("customer-{t:03}");
        let tn = format!("t{t:03}");
        let tdir = dir.join(&tn);
        std::fs::create_dir_all(&tdir).unwrap();
        let mut head = format!(
            "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: {tn}, namespace: {ns}}}\nspec:\n  displayName: Customer {t}\n  country: FI\n  integrations: {{directory: {tn}-ldap, extranet: [{tn}-scim]}}\n  features: [{}]\n  roles: [{}]\n  policy: {{minAdmins: 2}}\n",
            features.join(", "),
            roles
                .iter()
                .map(|r| format!("{{name: {r}, admin: {}}}", *r == "admin"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = write!(
            head,
            "---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: {tn}-ldap, namespace: {ns}}}\nspec: {{tenant: {tn}, kind: ldap, endpoint: 'ldap://127.0.0.1:1', ldap: {{baseDN: 'dc={tn},dc=example'}}}}\n"
        );
        let _ = write!(
            head,
            "---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {{name: {tn}-scim, namespace: {ns}}}\nspec: {{tenant: {tn}, kind: scim, endpoint: 'http://127.0.0.1:1/scim/v2'}}\n"
        );
        std::fs::write(tdir.join("tenant.yaml"), head).unwrap();
        let mut units = String::new();
        for u in 0..units_per_tenant {
            // unit 0 is the root; 1..=9 its children; the rest hang under those.
            let parent = match u {
                0 => String::new(),
                1..=9 => format!("\n  parent: {tn}-u0"),
                _ => format!("\n  parent: {tn}-u{}", 1 + u % 9),
            };
            let _ = write!(
                units,
                "---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: {tn}-u{u}, namespace: {ns}}}\nspec:\n  tenant: {tn}\n  displayName: Unit {u}{parent}\n"
            );
        }
        std::fs::write(tdir.join("units.yaml"), units).unwrap();
        let mut file = String::new();
        for g in 0..grants_per_tenant {
            let role = if g < 3 { "admin" } else { roles[1 + g % 4] };
            let unit = g % units_per_tenant;
            let _ = write!(
                file,
                "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{g:05}, namespace: {ns}}}\nspec:\n  tenant: {tn}\n  person:\n    givenName: Given{g}\n    familyName: Family{t}\n    email: p{g:05}@{tn}.example.fi\n    phone: \"+358 40 {:03} {:04}\"\n    employeeNumber: E{g:05}\n  unit: {tn}-u{unit}\n  roles: [{role}]\n  groups: [team-{}]\n  features: [{}, {}]\n  scopes: [{{unit: {tn}-u{}, includeDescendants: {}}}]\n  validFrom: 2026-01-01\n  attestation: {{lastAttested: 2026-10-01, attestedBy: p00000@{tn}.example.fi}}\n",
                g % 1000,
                g % 10000,
                g % 20,
                features[g % 7],
                features[(g + 3) % 7],
                1 + g % 9,
                g % 2 == 0
            );
            if (g + 1) % 500 == 0 || g + 1 == grants_per_tenant {
                std::fs::write(
                    tdir.join(format!("grants-{:03}.yaml", g / 500)),
                    std::mem::take(&mut file),
                )
                .unwrap();
            }
        }
    }
}

/// Counts the bytes of JSON without keeping them, as `plan -o json > file` would.
struct Counter(usize);
impl std::io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run small then.
    let full = std::env::args().any(|a| a == "--bench");
    let tenants = env("ACCORD_BENCH_TENANTS", if full { 100 } else { 2 });
    let grants = env("ACCORD_BENCH_GRANTS", if full { 100_000 } else { 200 });
    let units = env("ACCORD_BENCH_UNITS", if full { 5_000 } else { 20 });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-estate-{tenants}-{units}-{grants}"));
    if !dir.join("done").exists() {
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, tenants, units / tenants, grants / tenants);
        std::fs::write(dir.join("done"), "").unwrap();
        eprintln!(
            "generated {tenants} tenants, {units} units, {grants} grants in {:.1?}",
            t.elapsed()
        );
    }

    let start = Instant::now();
    let loaded = load_paths(&[dir.clone()], "default");
    let t_load = start.elapsed();
    let compiled = compile(&loaded.snapshot, jiff::civil::date(2026, 11, 22), accord::connectors::registry());
    let t_compile = start.elapsed() - t_load;
    assert!(
        compiled.problems.is_empty() && loaded.problems.is_empty(),
        "{:?}",
        compiled.problems.first().or(loaded.problems.first())
    );
    let n_grants = loaded.snapshot.user_grants.len();
    let n_units = loaded.snapshot.org_units.len();
    drop(loaded);
    let plan = make_plan(compiled, &BTreeMap::new(), &BTreeMap::new());
    let t_diff = start.elapsed() - t_load - t_compile;
    let text = plan.render_text(false);
    let total = start.elapsed();
    let t_render = total - t_load - t_compile - t_diff;
    let rss = peak_rss_mib();
    let json_start = Instant::now();
    let mut counter = Counter(0);
    plan.write_json(&mut counter).unwrap();
    let t_json = json_start.elapsed();
    println!(
        "plan --offline over {n_grants} UserGrants, {n_units} OrgUnits, {tenants} tenants ({} targets, {} operations):",
        plan.targets.len(),
        plan.summary.create,
    );
    println!(
        "  read+parse {t_load:.2?}, compile {t_compile:.2?}, diff {t_diff:.2?}, text render {t_render:.2?} ({} MB)",
        text.len() / 1_000_000
    );
    println!("  total {total:.2?}, peak memory {rss:.0} MiB");
    println!(
        "  -o json instead of text: {t_json:.2?} more for {} MB, peak memory then {:.0} MiB",
        counter.0 / 1_000_000,
        peak_rss_mib()
    );
    drop(plan);
    // ACCORD_BENCH_PARSERS=0 leaves the comparison out (timing the plan alone from outside).
    if env("ACCORD_BENCH_PARSERS", 1) != 0 {
        compare_parsers(&dir);
    }
}

/// The documents of every file, split as accord splits them.
fn documents(dir: &Path) -> Vec<Vec<Document>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    accord::par::map_ordered(&files, |f| {
        yaml::split_documents(&std::fs::read_to_string(f).unwrap())
    })
}

/// Parses every document into its typed resource with `parse`, on every core; returns the
/// time and how many parsed.
fn parse_all(
    files: &[Vec<Document>],
    parse: &(dyn Fn(&Document, &str) -> bool + Sync),
) -> (std::time::Duration, usize) {
    let start = Instant::now();
    let ok: usize = accord::par::map_ordered(files, |docs| {
        docs.iter()
            .filter(|d| {
                let kind = d
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix("kind: "))
                    .unwrap_or("");
                parse(d, kind.trim())
            })
            .count()
    })
    .into_iter()
    .sum();
    (start.elapsed(), ok)
}

/// Calls `$p::<Resource>($arg)` for the resource `$kind` names.
macro_rules! by_kind {
    ($kind:expr, $p:ident($arg:expr)) => {
        match $kind {
            "Tenant" => $p::<Tenant>($arg),
            "OrgUnit" => $p::<OrgUnit>($arg),
            "UserGrant" => $p::<UserGrant>($arg),
            "Integration" => $p::<Integration>($arg),
            _ => false,
        }
    };
}

fn compare_parsers(dir: &Path) {
    let files = documents(dir);
    let n: usize = files.iter().map(Vec::len).sum();
    let bytes: usize = files.iter().flatten().map(|d| d.text.len()).sum();
    println!(
        "YAML readers side by side over the same {n} documents ({} MB), each on every core:",
        bytes / 1_000_000
    );
    let serde_yaml = |d: &Document, kind: &str| {
        fn p<T: DeserializeOwned>(t: &str) -> bool {
            serde_yaml::from_str::<T>(t).is_ok()
        }
        by_kind!(kind, p(&d.text))
    };
    let saphyr = |d: &Document, kind: &str| {
        fn p<T: DeserializeOwned>(t: &str) -> bool {
            serde_saphyr::from_str::<T>(t).is_ok()
        }
        by_kind!(kind, p(&d.text))
    };
    let accords = |d: &Document, kind: &str| {
        fn p<T: DeserializeOwned>(d: &Document) -> bool {
            yaml::typed::<T>(d, &mut |_| {}).is_ok()
        }
        by_kind!(kind, p(d))
    };
    for (name, parse) in [
        ("serde_yaml 0.9       ", &serde_yaml as &(dyn Fn(&Document, &str) -> bool + Sync)),
        ("serde-saphyr 2       ", &saphyr),
        ("accord (fast+saphyr) ", &accords),
    ] {
        let (t, ok) = parse_all(&files, parse);
        println!("  {name} {t:>9.2?}  {ok} of {n} parsed");
    }
}
