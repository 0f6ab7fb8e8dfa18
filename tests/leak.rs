//! No national identity number is ever printed. Checksum-valid numbers of Finland, Sweden,
//! Denmark and Norway, in every written form, are fed into every string field of every kind,
//! into every error path (wrong types, unknown fields, names, syntax errors, duplicate keys,
//! import rows whose columns shifted), and every output is searched for them: plan text and
//! JSON, every error line, the binary's stdout and stderr, the import report and the files
//! import writes (except the Secret, where they belong), and the status a cluster would show.

mod support;

use std::collections::BTreeMap;

use accord::engine::status::{Previous, statuses};
use accord::engine::{compile, make_plan};
use accord::manifests::{Loaded, load_text};
use serde_json::Value;
use support::{BASE, Scratch, accord};

/// Every form: HETU (old and 2023 century signs), personnummer (10 and 12 digits, with and
/// without separator, samordningsnummer), CPR (with and without hyphen), fødselsnummer.
const IDS: [&str; 11] = [
    "131052-308T",
    "010594Y9032",
    "010504A906X",
    "811228-9874",
    "8112289874",
    "19811228-9874",
    "701063-2391",
    "070761-4285",
    "0707614285",
    "01019010046",
    "131052-308t",
];

/// The digits of an id, to catch it however an output reformats it.
fn forms(id: &str) -> Vec<String> {
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    vec![id.to_string(), id.to_uppercase(), digits]
}

fn assert_clean(what: &str, output: &str) {
    for id in IDS {
        for form in forms(id) {
            assert!(!output.contains(&form), "{what}: {form} ({id}) is printed:\n{output}");
        }
    }
}

/// Everything a plan prints: text, JSON, and each error line.
fn plan_outputs(yaml: &str) -> String {
    let mut loaded = Loaded::default();
    load_text("leak.yaml", yaml, "t", &mut loaded);
    let mut compiled = compile(&loaded.snapshot, jiff::civil::date(2026, 11, 22), accord::connectors::registry());
    compiled.problems.splice(0..0, loaded.problems);
    let plan = make_plan(compiled, &BTreeMap::new(), &BTreeMap::new());
    let mut json = Vec::new();
    plan.write_json(&mut json).unwrap();
    let errors: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
    // The statuses the operator would write for each tenant.
    let plans: Vec<_> = plan.targets.iter().collect();
    let status: Vec<String> = plan
        .tenants
        .iter()
        .map(|view| {
            let s = statuses(
                view,
                &plans,
                &BTreeMap::new(),
                &plan.errors,
                &plan.policy_violations,
                &|_| Previous::default(),
                jiff::Timestamp::UNIX_EPOCH,
            );
            s.by_object
                .iter()
                .map(|(r, v)| format!("{r}: {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    format!(
        "{}\n{}\n{}\n{}",
        plan.render_text(true),
        String::from_utf8(json).unwrap(),
        errors.join("\n"),
        status.join("\n")
    )
}

/// The BASE documents as values, to be changed field by field.
fn base_docs() -> Vec<Value> {
    accord::manifests::split_documents(BASE)
        .iter()
        .map(|d| accord::manifests::yaml::value(d).unwrap())
        .collect()
}

fn to_yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).unwrap()))
        .collect()
}

/// Paths of every string (and map key) under metadata and spec.
fn string_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::String(_) => out.push(path.clone()),
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone());
                string_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(i.to_string());
                string_paths(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn set(v: &mut Value, path: &[String], to: Value) {
    let mut cur = v;
    for p in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(p).unwrap(),
            Value::Array(a) => &mut a[p.parse::<usize>().unwrap()],
            _ => unreachable!(),
        };
    }
    *cur = to;
}

#[test]
fn no_number_in_any_string_field_of_any_kind_is_printed() {
    let docs = base_docs();
    let mut fields = 0;
    for (d, doc) in docs.iter().enumerate() {
        let mut paths = Vec::new();
        for top in ["metadata", "spec"] {
            if let Some(v) = doc.get(top) {
                string_paths(v, &mut vec![top.to_string()], &mut paths);
            }
        }
        for path in paths {
            fields += 1;
            for id in IDS {
                for value in [id.to_string(), format!("see {id} here")] {
                    let mut changed = docs.clone();
                    set(&mut changed[d], &path, Value::String(value.clone()));
                    let out = plan_outputs(&to_yaml(&changed));
                    assert_clean(&format!("{} = {value}", path.join(".")), &out);
                }
            }
        }
    }
    assert!(fields > 40, "every string field of BASE: {fields}");
}

#[test]
fn no_number_in_an_error_path_is_printed() {
    let grant = |body: &str| {
        format!("{BASE}\n---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: bad, namespace: t}}\nspec:\n  tenant: acme\n  person: {{givenName: B, familyName: B, email: b@acme.fi}}\n  unit: root\n{body}")
    };
    for id in IDS {
        let lower = id.to_lowercase();
        let cases = [
            grant(&format!("  validFrom: {id}\n")),
            grant(&format!("  validFrom: \"{id}\"\n")),
            grant(&format!("  roles: {id}\n")),
            grant(&format!("  suspended: {id}\n")),
            grant(&format!("  scopes: [{{unit: {id}}}]\n")),
            grant(&format!("  {id}: x\n")),
            grant(&format!("  attestation: {{lastAttested: {id}, attestedBy: x}}\n")),
            grant(&format!("  person: {{givenName: \"{id}\n")),
            grant(&format!("  unit: root\n  unit: {id}\n")),
            grant(&format!("  {id}: 1\n  {id}: 2\n")),
            format!("{BASE}\n---\napiVersion: {id}\nkind: UserGrant\nmetadata: {{name: x, namespace: t}}\n"),
            format!("{BASE}\n---\napiVersion: accord.dev/v1alpha1\nkind: {id}\nmetadata: {{name: x, namespace: t}}\n"),
            format!("{BASE}\n---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: \"{lower}\", namespace: t}}\nspec: {{}}\n"),
            format!("{BASE}\n---\napiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: x, namespace: \"{lower}\"}}\nspec: {{}}\n"),
            format!("{BASE}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: t}}\ndata: {{k: \"{id}\"}}\n"),
            format!("{BASE}\n---\napiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: x, namespace: t}}\nspec: {{displayName: X, policy: {{minAdmins: {id}}}}}\n"),
            format!("{BASE}\n---\n{id}\n"),
            format!("{BASE}\n---\n- {id}\n"),
        ];
        for case in cases {
            assert_clean(&case, &plan_outputs(&case));
        }
    }
}

#[test]
fn the_binary_prints_none_in_plan_apply_or_usage_errors() {
    let dir = Scratch::new("leak-bin");
    let mut docs = base_docs();
    set(&mut docs[4], &["spec".into(), "person".into(), "givenName".into()], Value::String(IDS[0].into()));
    set(&mut docs[2], &["spec".into(), "displayName".into()], Value::String(IDS[3].into()));
    dir.write("tree.yaml", &to_yaml(&docs));
    dir.write("broken.yaml", &format!("apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: z, namespace: t}}\nspec: {{tenant: acme, validFrom: {}}}\n", IDS[7]));
    let path = dir.0.to_str().unwrap();
    for args in [
        vec!["plan", "--offline", path],
        vec!["plan", "--offline", "-o", "json", path],
        vec!["apply", path],
        vec!["plan", "--today", IDS[0], path],
        vec!["plan", "--target", IDS[3], path],
        vec!["plan", IDS[8]],
    ] {
        let run = accord(&args);
        assert_clean(&format!("accord {args:?}"), &format!("{}\n{}", run.stdout, run.stderr));
    }
}

#[test]
fn the_import_report_and_what_import_writes_show_none() {
    let dir = Scratch::new("leak-import");
    support::copy_dir(&support::examples().join("fi-acme"), &dir.0.join("acme"));
    // Rows whose columns shifted: the number lands in every other column in turn.
    let header = "Etunimi;Sukunimi;Sähköposti;Puhelin;Yksikkö;Henkilötunnus;Työntekijänumero";
    let mut rows = vec![header.to_string()];
    for (i, id) in IDS.iter().enumerate() {
        for col in 0..7 {
            let mut cells = vec![
                format!("Leak{i}"),
                "Test".into(),
                format!("leak{i}.{col}@acme.fi"),
                "+358401234567".into(),
                "acme/helsinki".into(),
                "131052-308T".into(),
                format!("E9{i}{col}"),
            ];
            cells[col] = id.to_string();
            rows.push(cells.join(";"));
        }
    }
    let roster = dir.write("roster.csv", &rows.join("\n"));
    let out = dir.0.join("acme/grants");
    let run = accord(&[
        "import",
        roster.to_str().unwrap(),
        "--tenant",
        "acme",
        "--from",
        dir.0.join("acme").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_clean("import output", &format!("{}\n{}", run.stdout, run.stderr));
    assert_eq!(run.code, 2, "some rows imported, the shifted ones not:\n{}{}", run.stdout, run.stderr);
    let report = std::fs::read_to_string(out.join("import-report.txt")).unwrap();
    assert!(report.lines().count() > 20, "the report lists the bad rows:\n{report}");
    assert_clean("import-report.txt", &report);
    for f in std::fs::read_dir(&out).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().contains("national-ids") {
            continue; // where they belong
        }
        if p.is_file() {
            assert_clean(&p.display().to_string(), &std::fs::read_to_string(&p).unwrap());
        }
    }
    // The plan of what import wrote shows none either.
    let run = accord(&["plan", "--offline", "--today", "2026-11-22", dir.0.join("acme").to_str().unwrap()]);
    assert_clean("plan after import", &format!("{}\n{}", run.stdout, run.stderr));
}
