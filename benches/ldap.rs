//! Benchmark: accord into a real slapd.
//!
//!     cargo bench --bench ldap                 # 10,000 people
//!     ACCORD_BENCH_PEOPLE=2000 cargo bench --bench ldap
//!
//! 1. cold: every person, unit and group created by `apply` (in process, as the CLI does);
//! 2. the same entries loaded by 8 concurrent `ldapadd` processes (parents first, then the
//!    leaves split eight ways) into a second, empty suffix of the same server, side by side;
//!    and by one `ldapadd`, for reference;
//! 3. a no-op rerun: observe + diff + apply with nothing to do;
//! 4. one edited grant: how many writes it takes.

#[path = "../tests/support/slapd.rs"]
mod slapd;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use accord::engine::{compile, make_plan};
use accord::manifests::load_paths;
use accord::connectors::{ApplyReport, find_integration, registry};

fn write_estate(dir: &Path, url: &str, people: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = format!(
        r#"apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: bench, namespace: ns}}
spec:
  displayName: Bench Oy
  country: FI
  integrations: {{directory: dir}}
  features: [messaging, documents, reports, sickLeave]
  roles: [{{name: admin, admin: true}}, {{name: nurse}}, {{name: physician}}, {{name: employee}}]
  policy: {{minAdmins: 0}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: dir, namespace: ns}}
spec:
  tenant: bench
  kind: ldap
  endpoint: "{url}"
  credentialsRef: {{secretName: bind}}
  ldap: {{baseDN: "dc=acme,dc=fi"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: bind, namespace: ns}}
stringData: {{bindDN: "cn=admin,dc=acme,dc=fi", password: secret}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: root, namespace: ns}}
spec: {{tenant: bench, displayName: Root}}
"#
    );
    for u in 0..20 {
        let _ = write!(
            s,
            "---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: u{u}, namespace: ns}}\nspec: {{tenant: bench, displayName: Unit {u}, parent: root}}\n"
        );
    }
    std::fs::write(dir.join("base.yaml"), s).unwrap();
    let roles = ["nurse", "physician", "employee"];
    let features = ["messaging", "documents", "reports", "sickLeave"];
    let mut g = String::new();
    for i in 0..people {
        let _ = write!(
            g,
            "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{i:05}, namespace: ns}}\nspec:\n  tenant: bench\n  person: {{givenName: Given{i}, familyName: Family{}, email: p{i:05}@bench.fi, phone: \"+358 40 {:07}\", employeeNumber: E{i:05}}}\n  unit: u{}\n  roles: [{}]\n  groups: [team-{}]\n  features: [{}, {}]\n",
            i % 97,
            i,
            i % 20,
            roles[i % 3],
            i % 50,
            features[i % 4],
            features[(i + 1) % 4]
        );
    }
    std::fs::write(dir.join("grants.yaml"), g).unwrap();
}

struct Run {
    took: Duration,
    ops: usize,
    report: ApplyReport,
}

fn apply(rt: &tokio::runtime::Runtime, dir: &Path) -> Run {
    let start = Instant::now();
    let loaded = load_paths(&[dir.to_path_buf()], "default");
    let compiled = compile(&loaded.snapshot, jiff::civil::date(2026, 11, 22), registry());
    assert!(compiled.problems.is_empty() && loaded.problems.is_empty());
    let observed = rt.block_on(registry().observe_all(&compiled.targets, &loaded.snapshot));
    let plan = make_plan(compiled, &observed, &BTreeMap::new());
    let tp = &plan.targets[0];
    let actual = observed[&tp.integration]
        .as_ref()
        .expect("slapd is reachable");
    let target = registry()
        .connect(
            find_integration(&loaded.snapshot, &tp.integration).unwrap(),
            &loaded.snapshot,
        )
        .unwrap();
    let report = rt.block_on(target.apply(tp, actual, Default::default()));
    assert!(report.ok(), "{:?}", report.failed.first());
    Run {
        took: start.elapsed(),
        ops: tp.ops.len(),
        report,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let people: usize = std::env::var("ACCORD_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 300 });
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-ldap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let server = slapd::Slapd::start(&work, &["dc=acme,dc=fi", "dc=raw,dc=fi", "dc=one,dc=fi"]);
    let estate = work.join("estate");
    write_estate(&estate, &server.url(), people);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let cold = apply(&rt, &estate);

    // The same entries, as LDIF, into two more empty suffixes: eight ldapadds at once, and one.
    let dump = server.search("dc=acme,dc=fi", "(seeAlso=*)", &["*"]);
    let entries = dump.matches("\ndn: ").count() + usize::from(dump.starts_with("dn: "));
    let concurrent = ldapadd_concurrently(&server, &work, &dump, "dc=raw,dc=fi", 8);
    let one_ldapadd = ldapadd_concurrently(&server, &work, &dump, "dc=one,dc=fi", 1);

    let noop = apply(&rt, &estate);

    // One edited grant: a new phone number and another team.
    let grants = estate.join("grants.yaml");
    let text = std::fs::read_to_string(&grants).unwrap();
    let edited = text.replacen("phone: \"+358 40 0000007\", employeeNumber: E00007}\n  unit: u7\n  roles: [physician]\n  groups: [team-7]", "phone: \"+358 40 7777777\", employeeNumber: E00007}\n  unit: u7\n  roles: [physician]\n  groups: [team-8]", 1);
    assert_ne!(text, edited, "the edit applies");
    std::fs::write(&grants, edited).unwrap();
    let one = apply(&rt, &estate);

    println!(
        "accord apply into slapd, {people} people ({} entries in all):",
        entries
    );
    println!(
        "  cold:          {:>8.2?}  {} operations, {} writes",
        cold.took, cold.ops, cold.report.writes
    );
    println!(
        "  8 × ldapadd:   {:>8.2?}  same {} entries, 8 processes at once → accord/ldapadd = {:.2}x",
        concurrent,
        entries,
        cold.took.as_secs_f64() / concurrent.as_secs_f64()
    );
    println!(
        "  1 × ldapadd:   {:>8.2?}  same entries, one process (for reference)",
        one_ldapadd
    );
    println!(
        "  no-op rerun:   {:>8.2?}  {} operations, {} writes",
        noop.took, noop.ops, noop.report.writes
    );
    println!(
        "  one edit:      {:>8.2?}  {} operations, {} writes (person p00007, groups team-7 and team-8)",
        one.took, one.ops, one.report.writes
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
}

/// Loads `dump` (accord's entries under dc=acme,dc=fi) into the empty suffix `base` with
/// `ways` concurrent `ldapadd` processes: the containers and every entry that has children
/// first, by depth, one process per depth; then the leaves, split `ways` ways. Returns the
/// wall time of it all.
fn ldapadd_concurrently(
    server: &slapd::Slapd,
    work: &Path,
    dump: &str,
    base: &str,
    ways: usize,
) -> Duration {
    let ldif = dump.replace("dc=acme,dc=fi", base);
    let records: Vec<&str> = ldif
        .split("\n\n")
        .map(str::trim)
        .filter(|r| r.starts_with("dn: "))
        .collect();
    let dn = |r: &str| r.lines().next().unwrap_or("")[4..].to_ascii_lowercase();
    let dns: Vec<String> = records.iter().map(|r| dn(r)).collect();
    let has_children = |d: &str| {
        let suffix = format!(",{d}");
        dns.iter().any(|o| o.ends_with(&suffix))
    };
    let mut parents: Vec<&str> = records
        .iter()
        .copied()
        .filter(|r| has_children(&dn(r)))
        .collect();
    parents.sort_by_key(|r| dn(r).matches(',').count());
    let containers = format!(
        "dn: ou=people,{base}\nobjectClass: organizationalUnit\nou: people\n\ndn: ou=groups,{base}\nobjectClass: organizationalUnit\nou: groups\n"
    );
    let mut leaves: Vec<String> = vec![String::new(); ways];
    for (i, r) in records
        .iter()
        .filter(|r| !has_children(&dn(r)))
        .enumerate()
    {
        let _ = write!(leaves[i % ways], "{r}\n\n");
    }
    let file = |name: &str, text: &str| {
        let path = work.join(format!("{}-{name}.ldif", base.replace([',', '='], "_")));
        std::fs::write(&path, text).unwrap();
        path
    };
    let first = file("parents", &format!("{containers}\n{}\n", parents.join("\n\n")));
    let rest: Vec<PathBuf> = leaves
        .iter()
        .enumerate()
        .map(|(i, text)| file(&format!("leaves-{i}"), text))
        .collect();
    let ldapadd = |path: &Path| {
        Command::new("ldapadd")
            .args(["-x", "-H", &server.url(), "-D", &format!("cn=admin,{base}"), "-w", slapd::ADMIN_PW, "-f"])
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let start = Instant::now();
    let check = |child: std::process::Child| {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    check(ldapadd(&first));
    let children: Vec<_> = rest.iter().map(|p| ldapadd(p)).collect();
    children.into_iter().for_each(check);
    start.elapsed()
}
