//! `accord import` on the shared rosters and on hand-made edge cases.

mod support;

use support::copy_dir;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use support::{Scratch, accord};

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/import")
        .join(name)
}

fn files(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.insert(p.clone(), std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// Row numbers of the rows a `.bad.json` lists, found in the roster itself.
fn expected_bad_rows(roster: &Path) -> BTreeSet<usize> {
    let bad: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(roster.with_extension(format!(
            "{}.bad.json",
            roster.extension().unwrap().to_str().unwrap()
        )))
        .unwrap(),
    )
    .unwrap();
    let table = accord::producers::import::table::read_table(roster, None).unwrap();
    bad.iter()
        .map(|b| {
            let cells: Vec<String> = b["row"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            let hits: Vec<usize> = table
                .rows
                .iter()
                .filter(|(_, r)| {
                    // A formula cell reads back as its formula, with `=`.
                    r.iter().zip(&cells).all(|(got, want)| {
                        got == want || got.trim_start_matches('=') == want.trim_start_matches('=')
                    })
                })
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(
                hits.len(),
                1,
                "{} row {cells:?} found {} times",
                b["kind"],
                hits.len()
            );
            hits[0]
        })
        .collect()
}

fn reported_rows(report: &Path) -> BTreeSet<usize> {
    std::fs::read_to_string(report)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("row ")?.split(':').next()?.parse().ok())
        .collect()
}

fn national_ids(roster: &Path, column: usize) -> Vec<String> {
    let table = accord::producers::import::table::read_table(roster, None).unwrap();
    table
        .rows
        .iter()
        .filter_map(|(_, r)| r.get(column).filter(|c| c.len() > 8).cloned())
        .collect()
}

#[test]
fn the_shared_rosters_import_with_exactly_their_bad_rows_and_plan_cleanly() {
    for (roster, tenant, customer) in [
        ("acme-henkilosto.csv", "acme", "fi-acme"),
        ("aarhus-medarbejdere.csv", "aarhus-kommune", "dk-aarhus"),
        ("vardgivaren-personal.xlsx", "vardgivaren", "se-vardgivaren"),
    ] {
        let scratch = Scratch::new("import");
        let root = scratch.0.join(customer);
        copy_dir(&support::examples().join(customer), &root);
        let out = root.join("imported");
        let roster = shared(roster);
        let import = || {
            accord(&[
                "import",
                roster.to_str().unwrap(),
                "--tenant",
                tenant,
                "--from",
                root.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
        };
        let run = import();
        assert_eq!(
            run.code, 2,
            "{roster:?}: bad rows were skipped: {}{}",
            run.stdout, run.stderr
        );
        assert!(
            !run.stdout.contains('\r') && !run.stderr.contains('\r'),
            "no progress bar when stdout is not a terminal"
        );
        let expected = expected_bad_rows(&roster);
        assert_eq!(expected.len(), 8);
        assert_eq!(
            reported_rows(&out.join("import-report.txt")),
            expected,
            "{roster:?}"
        );
        let table = accord::producers::import::table::read_table(&roster, None).unwrap();
        let summary = run.stdout.lines().last().unwrap().to_string();
        let (created, updated) = (
            summary
                .split(" created")
                .next()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
            summary
                .split(" updated")
                .next()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
        );
        assert_eq!(created + updated, table.rows.len() - 8, "{summary}");

        // The result is valid input for accord.
        let plan = accord(&[
            "plan",
            "--offline",
            "--today",
            "2026-11-22",
            root.to_str().unwrap(),
        ]);
        assert_eq!(plan.code, 2, "{roster:?}: {}", plan.stderr);
        assert!(plan.stderr.is_empty(), "{roster:?}: {}", plan.stderr);

        // National identity numbers only in the Secret, never in a grant, the report or the output.
        let column = table
            .headers
            .iter()
            .position(|h| ["Henkilötunnus", "CPR", "Personnummer"].contains(&h.as_str()))
            .unwrap();
        let ids = national_ids(&roster, column);
        assert!(ids.len() > 80);
        for (path, text) in files(&root) {
            let is_secret = text.contains("kind: Secret");
            for id in &ids {
                assert!(
                    is_secret || !text.contains(id.as_str()),
                    "{} holds a national identity number",
                    path.display()
                );
                assert!(!run.stdout.contains(id.as_str()) && !run.stderr.contains(id.as_str()));
            }
        }
        let gitignore = std::fs::read_to_string(root.join("secrets/.gitignore"))
            .or_else(|_| std::fs::read_to_string(out.join(".gitignore")))
            .unwrap();
        assert!(
            gitignore.contains("national-ids") || gitignore.contains(".yaml"),
            "{gitignore}"
        );

        // Re-importing the same roster changes nothing.
        let before = files(&root);
        let again = import();
        assert!(
            again.stdout.contains(" 0 created, 0 updated, "),
            "{}",
            again.stdout
        );
        assert_eq!(files(&root), before, "{roster:?}: a re-import is a no-op");
    }
}

const HEAD: &str =
    "Etunimi;Sukunimi;Sähköposti;Puhelin;Yksikkö;Ryhmät;Henkilötunnus;Voimassa asti\n";

fn small(dir: &Path, rows: &str) -> (PathBuf, PathBuf) {
    let root = dir.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let roster = dir.join("roster.csv");
    std::fs::write(&roster, format!("{HEAD}{rows}")).unwrap();
    (root, roster)
}

fn import(roster: &Path, root: &Path, extra: &[&str]) -> support::Run {
    let out = root.join("imported");
    let mut args = vec![
        "import",
        roster.to_str().unwrap(),
        "--tenant",
        "acme",
        "--from",
        root.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    accord(&args)
}

#[test]
fn a_changed_row_changes_only_its_file_and_hand_edits_survive() {
    let scratch = Scratch::new("import-change");
    let (root, roster) = small(
        &scratch.0,
        "Aino;Aalto;aino.aalto@acme.fi;040 111 2222;acme/helsinki;a;;\nBo;Berg;bo.berg@acme.fi;+358 40 333 4444;Acme/Tampere/Hervanta;b;;31.12.2027\n",
    );
    assert_eq!(import(&roster, &root, &[]).code, 0);
    let aino = root.join("imported/aino-aalto.yaml");
    let text = std::fs::read_to_string(&aino).unwrap();
    assert!(
        text.contains("phone: \"+358401112222\"") && text.contains("unit: acme-helsinki"),
        "{text}"
    );
    let bo = std::fs::read_to_string(root.join("imported/bo-berg.yaml")).unwrap();
    assert!(
        bo.contains("unit: acme-tampere-hervanta") && bo.contains("validUntil: \"2027-12-31\""),
        "{bo}"
    );
    // A hand edit of fields the roster does not carry.
    std::fs::write(
        &aino,
        text.replace(
            "  groups:\n",
            "  roles:\n  - employee\n  features:\n  - messaging\n  groups:\n",
        ),
    )
    .unwrap();
    let before = files(&root);
    std::fs::write(&roster, format!("{HEAD}Aino;Aalto;aino.aalto@acme.fi;040 999 8888;acme/helsinki;a;;\nBo;Berg;bo.berg@acme.fi;+358 40 333 4444;Acme/Tampere/Hervanta;b;;31.12.2027\n")).unwrap();
    let run = import(&roster, &root, &[]);
    assert!(
        run.stdout.contains("0 created, 1 updated, 1 unchanged"),
        "{}",
        run.stdout
    );
    let after = files(&root);
    let changed: Vec<&PathBuf> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(changed, vec![&aino]);
    let text = std::fs::read_to_string(&aino).unwrap();
    assert!(
        text.contains("+358409998888")
            && text.contains("- employee")
            && text.contains("- messaging"),
        "{text}"
    );
}

#[test]
fn strict_writes_nothing_when_a_row_is_bad() {
    let scratch = Scratch::new("import-strict");
    let (root, roster) = small(
        &scratch.0,
        "Aino;Aalto;aino.aalto@acme.fi;040 111 2222;acme/helsinki;a;;\nBad;Row;not-an-email;;acme;;;\n",
    );
    let run = import(&roster, &root, &["--strict"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("row 3: column \"Sähköposti\": \"not-an-email\" has no @"),
        "{}",
        run.stdout
    );
    assert!(!root.join("imported").exists());
}

#[test]
fn windows_1252_commas_and_quoted_newlines() {
    let scratch = Scratch::new("import-1252");
    let root = scratch.0.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let roster = scratch.0.join("roster.csv");
    // "Förnamn,Efternamn,…" in Windows-1252 with a quoted street over two lines.
    let mut bytes = b"F\xf6rnamn,Efternamn,E-post,Enhet,Gatuadress\n".to_vec();
    bytes.extend_from_slice(b"\xc5sa,Str\xf6m,asa.strom@acme.fi,acme/oulu,\"Isokatu 1\nB 12\"\n");
    std::fs::write(&roster, bytes).unwrap();
    let run = import(&roster, &root, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let text = std::fs::read_to_string(root.join("imported/asa-strom.yaml")).unwrap();
    assert!(
        text.contains("givenName: Åsa") && text.contains("familyName: Ström"),
        "{text}"
    );
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        v["spec"]["person"]["address"]["street"].as_str(),
        Some("Isokatu 1\nB 12")
    );
}

#[test]
fn unknown_columns_need_a_mapping_file() {
    let scratch = Scratch::new("import-mapping");
    let root = scratch.0.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let roster = scratch.0.join("roster.csv");
    std::fs::write(&roster, "Etunimi;Sukunimi;Sähköposti;Yksikkö;Työnimike;Kustannuspaikka\nAino;Aalto;aino@acme.fi;acme;Hoitaja;4410\n").unwrap();
    let run = import(&roster, &root, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("columns \"Työnimike\", \"Kustannuspaikka\" are not known"),
        "{}",
        run.stderr
    );
    let mapping = scratch.0.join("mapping.yaml");
    std::fs::write(&mapping, "columns: {\"Työnimike\": title, \"Kustannuspaikka\": ignore}\ndefaults: {roles: [employee], features: [messaging]}\n").unwrap();
    let run = import(&roster, &root, &["--mapping", mapping.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let text = std::fs::read_to_string(root.join("imported/aino.yaml")).unwrap();
    assert!(
        text.contains("title: Hoitaja")
            && text.contains("- employee")
            && text.contains("- messaging"),
        "{text}"
    );
}
