//! `accord plan` on manifest files: exit codes, one clear error line per broken manifest,
//! and no national identity number in any output. Each compile rule's message is checked
//! directly in tests/compile_rules.rs; these are the checks that need the binary.

mod support;

use support::{BASE, Scratch, accord};

/// Runs `plan --offline` on BASE plus `bad` and returns (exit code, error lines, stdout).
fn plan_with(label: &str, bad: &str) -> (i32, Vec<String>, String) {
    let dir = Scratch::new(label);
    dir.write("base.yaml", BASE);
    dir.write("more/bad.yaml", bad);
    let run = accord(&[
        "plan",
        "--offline",
        "--today",
        "2026-11-22",
        dir.0.to_str().unwrap(),
    ]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let errors: Vec<String> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(String::from)
        .collect();
    (run.code, errors, run.stdout)
}

/// One error line, naming the file, the object, the field and the reason.
fn assert_one_error(label: &str, bad: &str, object: &str, field: &str, reason: &str) {
    let (code, errors, stdout) = plan_with(label, bad);
    assert_eq!(code, 1, "{label}: exit code; errors: {errors:?}");
    assert_eq!(
        errors.len(),
        1,
        "{label}: exactly one error line: {errors:#?}"
    );
    let e = &errors[0];
    assert!(
        e.contains("bad.yaml:"),
        "{label}: names the file and line: {e}"
    );
    assert!(e.contains(object), "{label}: names {object}: {e}");
    assert!(e.contains(field), "{label}: names field {field}: {e}");
    assert!(e.contains(reason), "{label}: says {reason:?}: {e}");
    assert!(
        stdout.contains("Errors (1)"),
        "{label}: the plan lists the error too"
    );
}

const GRANT_HEAD: &str = "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: bad, namespace: t}\nspec:\n";

fn grant(body: &str) -> String {
    format!("{GRANT_HEAD}{body}")
}

const PERSON: &str = "  person: {givenName: Bea, familyName: Bad, email: bea@acme.fi}\n";

#[test]
fn unknown_tenant() {
    let bad = grant(&format!("  tenant: nobody\n{PERSON}  unit: root\n"));
    assert_one_error(
        "unknown-tenant",
        &bad,
        "UserGrant t/bad",
        "spec.tenant",
        "Tenant \"nobody\" does not exist",
    );
}

#[test]
fn yaml_syntax_error() {
    let bad = "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: bad, namespace: t\nspec:\n  tenant: acme\n";
    let (code, errors, _) = plan_with("yaml", bad);
    assert_eq!(code, 1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("bad.yaml:") && errors[0].contains("YAML syntax error"),
        "{}",
        errors[0]
    );
}

#[test]
fn national_id_failing_its_check_is_named_but_never_shown() {
    let number = "131052-308U"; // HETU with a wrong check character
    let bad = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ids, namespace: t}}\nstringData: {{bad: \"{number}\"}}\n",
        grant(&format!(
            "  tenant: acme\n  person: {{givenName: Bea, familyName: Bad, email: bea@acme.fi, nationalIdRef: {{secretName: ids, key: bad}}}}\n  unit: root\n"
        ))
    );
    let (code, errors, stdout) = plan_with("hetu", &bad);
    assert_eq!(code, 1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("spec.person.nationalIdRef") && errors[0].contains("HETU"),
        "{}",
        errors[0]
    );
    assert!(!errors[0].contains(number) && !stdout.contains(number));
}

#[test]
fn a_bad_object_does_not_stop_the_rest_and_is_left_unchanged() {
    let bad = grant(
        "  tenant: acme\n  person: {givenName: Bea, familyName: Bad, email: nope}\n  unit: root\n",
    );
    let (code, _, stdout) = plan_with("partial", &bad);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("+ person anna"),
        "the valid grants are still planned:\n{stdout}"
    );
    assert!(
        stdout.contains("unchanged because of errors: UserGrant t/bad"),
        "{stdout}"
    );
    assert!(!stdout.contains("+ person bad"));
}

#[test]
fn exit_codes_and_offline_notice() {
    let dir = Scratch::new("codes");
    dir.write("base.yaml", BASE);
    let run = accord(&[
        "plan",
        "--offline",
        "--today",
        "2026-11-22",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(
        run.code, 2,
        "changes against an empty baseline: {}",
        run.stderr
    );
    assert!(run.stdout.contains("against an EMPTY baseline"));
    assert!(
        run.stdout.contains("+ unit root")
            && run.stdout.contains("+ group role-admin  (2 members)")
            && run.stdout.contains("  (1 member)\n")
            && !run.stdout.contains("(1 members)"),
        "{}",
        run.stdout
    );

    // No integrations: nothing to change.
    let quiet = Scratch::new("quiet");
    quiet.write("t.yaml", "apiVersion: accord.dev/v1alpha1\nkind: Tenant\nmetadata: {name: q, namespace: t}\nspec: {displayName: Quiet}\n");
    let run = accord(&["plan", "--offline", quiet.0.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let missing = accord(&["plan", "--offline", "/nonexistent/accord"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("/nonexistent/accord: cannot be read"),
        "{}",
        missing.stderr
    );
}

#[test]
fn json_output_for_machines() {
    let dir = Scratch::new("json");
    dir.write("base.yaml", BASE);
    let run = accord(&[
        "plan",
        "--offline",
        "-o",
        "json",
        "--today",
        "2026-11-22",
        dir.0.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan -o json is JSON");
    let target = &v["targets"][0];
    assert_eq!(target["integration"]["name"], "acme-ldap");
    assert_eq!(target["baseline"]["type"], "empty");
    assert!(
        target["ops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["op"] == "create" && o["object"]["id"] == "anna")
    );
    assert_eq!(v["summary"]["delete"], 0);
}

#[test]
fn the_examples_plan_cleanly_and_never_show_a_national_identity_number() {
    let examples = support::examples();
    let ex = examples.to_str().unwrap();
    let text = accord(&["plan", "--offline", "--detail", "--today", "2026-11-22", ex]);
    let json = accord(&[
        "plan",
        "--offline",
        "-o",
        "json",
        "--today",
        "2026-11-22",
        ex,
    ]);
    assert_eq!(text.code, 2, "{}", text.stderr);
    assert!(
        text.stderr.is_empty(),
        "the examples have no errors: {}",
        text.stderr
    );
    assert!(
        !text.stdout.contains("Policy findings"),
        "the examples break no policy:\n{}",
        text.stdout
    );
    // Every national identity number in the examples' Secrets.
    let mut numbers = Vec::new();
    for dir in [
        "fi-acme/secrets/national-ids.yaml",
        "dk-aarhus/secrets/cpr.yaml",
        "se-vardgivaren/secrets/personnummer.yaml",
    ] {
        let s = std::fs::read_to_string(examples.join(dir)).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&s).unwrap();
        for (_, v) in doc["stringData"].as_mapping().unwrap() {
            numbers.push(v.as_str().unwrap().to_string());
        }
    }
    assert!(numbers.len() > 40);
    for n in &numbers {
        for out in [&text.stdout, &text.stderr, &json.stdout, &json.stderr] {
            assert!(
                !out.contains(n.as_str()),
                "a national identity number leaked into plan output"
            );
        }
    }
}

/// A usage mistake must never look like "the plan would change something" (exit 2) to a CI
/// pipeline: it exits 1, like any other error.
#[test]
fn usage_errors_exit_1_and_an_empty_folder_says_so() {
    let dir = Scratch::new("usage");
    dir.write("base.yaml", BASE);
    let path = dir.0.to_str().unwrap();
    for args in [
        vec!["plan", "--offlin", path],
        vec!["plan", "--today", "2026-02-30", path],
        vec!["plan", "--today", "tomorrow", path],
        vec!["plan", "--output", "xml", path],
        vec!["apply", "--confirm-deletions", "-3", path],
        vec!["frobnicate"],
    ] {
        let run = accord(&args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(accord(&["--help"]).code, 0);
    let empty = Scratch::new("empty");
    let run = accord(&["plan", "--offline", empty.0.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("holds no manifests"), "{}", run.stderr);
}

/// Control characters in names and values are escaped wherever text output shows them.
#[test]
fn values_cannot_forge_plan_lines_or_drive_the_terminal() {
    let dir = Scratch::new("escape");
    dir.write("base.yaml", BASE);
    dir.write(
        "more/bad.yaml",
        "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {name: eve, namespace: t}\nspec:\n  tenant: acme\n  person: {givenName: \"Eve\\n+ person forged\\u001b[2J\", familyName: X, email: eve@acme.fi}\n  unit: root\n  groups: [\"team\\u001b]0;title\\u0007\"]\n",
    );
    let run = accord(&["plan", "--offline", "--today", "2026-11-22", dir.0.to_str().unwrap()]);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "a raw escape reached the output:\n{all}");
    assert!(!all.contains("\n+ person forged"), "a value forged a plan line:\n{all}");
    assert_eq!(run.code, 1, "such values are refused: {all}");
}
