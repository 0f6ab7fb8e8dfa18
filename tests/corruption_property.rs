//! A property of the whole read → compile → diff path: for a random valid tree of manifests
//! and a random single-file corruption (truncate, insert a byte, delete a line, duplicate a
//! line, change an apiVersion), `plan` never proposes a deletion, a disable, a move or a
//! removal that the uncorrupted tree would not.
//!
//! The baseline is the uncorrupted tree already applied, so the uncorrupted plan proposes
//! nothing. Two cases:
//! - the corrupted tree has any problem: no removal at all may be proposed;
//! - it reads cleanly (a corruption can produce another valid file, e.g. a truncation right
//!   at a line end that drops an optional field): then it is a valid edit of that file, and
//!   removals may touch only what that file declared. This is checked for grant files, whose
//!   reach is known (their people and those people's group memberships).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use accord::engine::diff::is_destructive;
use accord::engine::plan::Op;
use accord::engine::{ObjectKind, ObservedState, compile, make_plan};
use accord::manifests::load_paths;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const ROLES: [&str; 4] = ["admin", "nurse", "doctor", "employee"];
const FEATURES: [&str; 4] = ["messaging", "documents", "reports", "surveys"];
const GROUPS: [&str; 3] = ["team-a", "team-b", "night"];
const HETUS: [&str; 4] = ["131052-308T", "010594Y9032", "010504A906X", "050782-668K"];

/// A valid tree: files by relative path. Returns the files and, for each grant file, the
/// people it declares.
fn tree(rng: &mut Rng) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let mut files = BTreeMap::new();
    files.insert(
        "tenant.yaml".to_string(),
        "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {name: acme, namespace: t}\nspec:\n  displayName: Acme\n  country: FI\n  integrations: {directory: dir, extranet: [ext]}\n  features: [messaging, documents, reports, surveys]\n  roles:\n    - {name: admin, admin: true}\n    - {name: nurse}\n    - {name: doctor}\n    - {name: employee}\n  policy:\n    minAdmins: 0\n    deletion: {maxPerSync: 1000, maxPercent: 100}\n".to_string(),
    );
    files.insert(
        "integrations.yaml".to_string(),
        "apiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {name: dir, namespace: t}\nspec:\n  tenant: acme\n  kind: ldap\n  endpoint: ldap://127.0.0.1:1\n  credentialsRef: {secretName: bind}\n  ldap: {baseDN: \"dc=acme,dc=fi\", disabled: RemoveFromGroups}\n---\napiVersion: accord.dev/v1alpha1\nkind: Integration\nmetadata: {name: ext, namespace: t}\nspec:\n  tenant: acme\n  kind: scim\n  endpoint: https://extranet.example/scim/v2\n  credentialsRef: {secretName: scim}\n".to_string(),
    );
    let units = 2 + rng.below(6);
    let mut text = String::new();
    for u in 0..units {
        let parent = if u == 0 { String::new() } else { format!("\n  parent: u{}", rng.below(u)) };
        text.push_str(&format!(
            "---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata:\n  name: u{u}\n  namespace: t\nspec:\n  tenant: acme\n  displayName: Unit {u}{parent}\n"
        ));
    }
    files.insert("orgunits.yaml".to_string(), text);
    let mut secret = String::from("apiVersion: v1\nkind: Secret\nmetadata: {name: ids, namespace: t}\nstringData:\n");
    let mut declared = BTreeMap::new();
    let people = 3 + rng.below(10);
    let mut file = 0;
    let mut p = 0;
    while p < people {
        let in_file = 1 + rng.below(3).min(people - p - 1);
        let mut text = String::new();
        let mut names = Vec::new();
        for _ in 0..in_file {
            let name = format!("p{p}");
            let roles: BTreeSet<&str> = (0..1 + rng.below(2)).map(|_| *rng.pick(&ROLES)).collect();
            let features: BTreeSet<&str> = (0..rng.below(3)).map(|_| *rng.pick(&FEATURES)).collect();
            let groups: BTreeSet<&str> = (0..rng.below(3)).map(|_| *rng.pick(&GROUPS)).collect();
            let list = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
            let mut g = format!(
                "---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata:\n  name: {name}\n  namespace: t\nspec:\n  tenant: acme\n  person:\n    givenName: Given{p}\n    familyName: Family\n    email: {name}@acme.fi\n    phone: \"+35840{:07}\"\n",
                1_000_000 + p
            );
            if p < HETUS.len() && rng.below(2) == 0 {
                g.push_str(&format!("    nationalIdRef: {{secretName: ids, key: {name}}}\n"));
                secret.push_str(&format!("  {name}: \"{}\"\n", HETUS[p]));
            }
            g.push_str(&format!("  unit: u{}\n  roles: [{}]\n", rng.below(units), list(&roles)));
            if !features.is_empty() {
                g.push_str(&format!("  features: [{}]\n", list(&features)));
            }
            if !groups.is_empty() {
                g.push_str("  groups:\n");
                for gr in &groups {
                    g.push_str(&format!("    - {gr}\n"));
                }
            }
            if rng.below(3) == 0 {
                g.push_str(&format!("  scopes:\n    - {{unit: u{}, includeDescendants: true}}\n", rng.below(units)));
            }
            if rng.below(4) == 0 {
                g.push_str("  validUntil: 2027-12-31\n");
            }
            text.push_str(&g);
            names.push(name);
            p += 1;
        }
        let path = format!("grants/g{file}.yaml");
        declared.insert(path.clone(), names);
        files.insert(path, text);
        file += 1;
    }
    files.insert(
        "secrets.yaml".to_string(),
        format!("{secret}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: bind, namespace: t}}\nstringData: {{bindDN: \"cn=admin,dc=acme,dc=fi\", password: pw}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: scim, namespace: t}}\nstringData: {{token: t0k}}\n"),
    );
    (files, declared)
}

/// One random corruption of one file; returns the file's name and what was done.
fn corrupt(rng: &mut Rng, files: &mut BTreeMap<String, Vec<u8>>) -> (String, &'static str) {
    let names: Vec<String> = files.keys().cloned().collect();
    let name = rng.pick(&names).clone();
    let bytes = files.get_mut(&name).unwrap();
    let kind = *rng.pick(&["truncate", "insert", "delete-line", "duplicate-line", "api-version"]);
    match kind {
        "truncate" => {
            let at = 1 + rng.below(bytes.len() - 1);
            bytes.truncate(at);
        }
        "insert" => {
            let b = *rng.pick(&[b'\t', b'\n', 0xff, 0xc3, b':', b'-', b'{', b'[', b'"', b'\'', b'#', b'&', b'*', b'!', b' ', b'x', b'0']);
            let at = rng.below(bytes.len() + 1);
            bytes.insert(at, b);
        }
        "delete-line" | "duplicate-line" => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            let i = rng.below(lines.len());
            if kind == "delete-line" {
                lines.remove(i);
            } else {
                lines.insert(i, lines[i]);
            }
            *bytes = lines.concat().into_bytes();
        }
        _ => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let count = text.matches("apiVersion: ").count();
            let which = rng.below(count);
            let typo = *rng.pick(&["accord.dev/v1", "acord.dev/v1alpha1", "accord.dev/v1alpha2", "v1", "apps/v1", "accord.dev/V1alpha1"]);
            let mut n = 0;
            let new: String = text
                .split_inclusive('\n')
                .map(|l| {
                    if l.starts_with("apiVersion: ") {
                        n += 1;
                        if n - 1 == which {
                            return format!("apiVersion: {typo}\n");
                        }
                    }
                    l.to_string()
                })
                .collect();
            *bytes = new.into_bytes();
        }
    }
    (name, kind)
}

fn write(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// The removals a plan proposes (not the held ones), as (integration, op).
fn removals(plan: &accord::engine::Plan) -> Vec<(String, Op)> {
    plan.targets
        .iter()
        .flat_map(|t| {
            t.ops
                .iter()
                .filter(|o| is_destructive(o))
                .map(|o| (t.integration.name.clone(), o.clone()))
        })
        .collect()
}

/// Whether a removal touches only the people `mine` (their entries, or their memberships).
fn only_touches(op: &Op, mine: &[String]) -> bool {
    let key = op.key();
    match key.kind {
        ObjectKind::Person => mine.contains(&key.id),
        ObjectKind::Group => match op {
            Op::Update { changes, .. } => changes.iter().all(|c| {
                c.actual
                    .iter()
                    .filter(|v| !c.desired.contains(v))
                    .all(|v| mine.contains(v))
            }),
            // A group goes when its last members left it.
            Op::Delete { .. } => true,
            Op::Create { .. } => true,
        },
        _ => false,
    }
}

/// Whether a removal takes anything from one of `people`: deletes, moves or updates them, or
/// takes them out of a group.
fn touches(op: &Op, people: &[String]) -> bool {
    let key = op.key();
    match (key.kind, op) {
        (ObjectKind::Person, _) => people.contains(&key.id),
        (ObjectKind::Group, Op::Update { changes, .. }) => changes.iter().any(|c| {
            c.actual
                .iter()
                .any(|v| !c.desired.contains(v) && people.contains(v))
        }),
        _ => false,
    }
}

#[test]
fn no_corruption_of_one_file_removes_what_the_whole_tree_would_not() {
    let today = jiff::civil::date(2026, 11, 22);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("corruption-{}", std::process::id()));
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let (mut with_problems, mut clean_grant_files, mut clean_other) = (0, 0, 0);
    for case in 0..300 {
        let (texts, declared) = tree(&mut rng);
        let good: BTreeMap<String, Vec<u8>> =
            texts.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        write(&root, &good);
        let loaded = load_paths(&[root.clone()], "default");
        assert!(loaded.problems.is_empty(), "case {case}: the generated tree is valid: {:?}", loaded.problems);
        let compiled = compile(&loaded.snapshot, today, accord::connectors::registry());
        assert!(compiled.problems.is_empty(), "case {case}: {:?}", compiled.problems);
        // The uncorrupted tree, already applied: the baseline every corrupted plan runs against.
        let observed: BTreeMap<_, _> = compiled
            .targets
            .iter()
            .map(|t| (t.integration.clone(), Ok(ObservedState::from_objects(t.objects.values().cloned()))))
            .collect();
        assert!(removals(&make_plan(compile(&loaded.snapshot, today, accord::connectors::registry()), &observed, &BTreeMap::new())).is_empty());

        for _ in 0..5 {
            let mut bad = good.clone();
            let (file, how) = corrupt(&mut rng, &mut bad);
            write(&root, &bad);
            let loaded = load_paths(&[root.clone()], "default");
            let unread = !loaded.problems.is_empty();
            let compiled = compile(&loaded.snapshot, today, accord::connectors::registry());
            let frozen: BTreeSet<String> = compiled
                .tenants
                .iter()
                .flat_map(|t| &t.frozen)
                .filter(|(r, _)| r.kind == accord::engine::Kind::UserGrant)
                .map(|(r, _)| r.name.clone())
                .collect();
            let plan = make_plan(compiled, &observed, &BTreeMap::new());
            let removed = removals(&plan);
            let shown = || format!("{}\n--- {file} now:\n{}", plan.render_text(false), String::from_utf8_lossy(&bad[&file]));
            // A person left as they are because of errors loses nothing, whatever was damaged.
            let frozen: Vec<String> = frozen.into_iter().collect();
            for (target, op) in &removed {
                assert!(
                    !touches(op, &frozen),
                    "case {case}: {how} of {file}: {target} removes from a frozen person: {op:?}\n{}",
                    shown()
                );
            }
            if unread {
                with_problems += 1;
                assert!(
                    removed.is_empty(),
                    "case {case}: {how} of {file} could not be read, yet the plan removes {removed:#?}\n{}",
                    shown()
                );
            } else if let Some(mine) = declared.get(&file) {
                clean_grant_files += 1;
                for (target, op) in &removed {
                    assert!(
                        only_touches(op, mine),
                        "case {case}: {how} of {file} (read cleanly) removes {target}: {op:?}, beyond what it declared ({mine:?})\n{}",
                        shown()
                    );
                }
            } else {
                clean_other += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("corruptions: {with_problems} with problems, {clean_grant_files} clean grant files, {clean_other} clean others");
    assert!(with_problems > 600, "most corruptions break the input: {with_problems}");
}
