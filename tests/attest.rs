//! `accord attest` on manifest files.

mod support;

use support::copy_dir;

use support::{Scratch, accord};

#[test]
fn attesting_a_unit_and_its_subunits_clears_them_from_the_due_list() {
    let scratch = Scratch::new("attest");
    let root = scratch.0.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let r = root.to_str().unwrap();
    let due = accord(&["attest", "--due", "--today", "2026-11-22", r]);
    assert_eq!(due.code, 0);
    assert!(
        due.stdout.contains("acme/helsinki/kallio")
            && due.stdout.contains("sanna-hamalainen")
            && due.stdout.contains("OVERDUE"),
        "{}",
        due.stdout
    );
    assert!(due.stdout.contains("heli-heinonen"), "{}", due.stdout);

    let untouched = std::fs::read_to_string(root.join("grants/heli-heinonen.yaml")).unwrap();
    let run = accord(&[
        "attest",
        "--unit",
        "acme/helsinki",
        "--descendants",
        "--by",
        "liisa.korhonen@acme.fi",
        "--today",
        "2026-11-22",
        r,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("attested 10 people on 2026-11-22 by liisa.korhonen@acme.fi"),
        "{}",
        run.stdout
    );
    let anna: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("grants/anna-virtanen.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        anna["spec"]["attestation"]["lastAttested"].as_str(),
        Some("2026-11-22")
    );
    assert_eq!(
        anna["spec"]["attestation"]["attestedBy"].as_str(),
        Some("liisa.korhonen@acme.fi")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("grants/heli-heinonen.yaml")).unwrap(),
        untouched,
        "Tampere is not under Helsinki"
    );

    let due = accord(&["attest", "--due", "--today", "2026-11-22", r]);
    assert!(!due.stdout.contains("acme/helsinki"), "{}", due.stdout);
    assert!(due.stdout.contains("heli-heinonen"), "{}", due.stdout);
    // Still valid manifests, and the suspended-by-policy person is active again.
    let plan = accord(&["plan", "--offline", "--today", "2026-11-22", r]);
    assert!(plan.stderr.is_empty(), "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("18 people (15 active, 1 pending, 1 suspended, 1 expired"),
        "{}",
        plan.stdout
    );
}

#[test]
fn attest_names_bad_requests() {
    let scratch = Scratch::new("attest-bad");
    let root = scratch.0.join("fi-acme");
    copy_dir(&support::examples().join("fi-acme"), &root);
    let r = root.to_str().unwrap();
    let no_by = accord(&["attest", "--person", "anna-virtanen", r]);
    assert_eq!(no_by.code, 1);
    assert!(no_by.stderr.contains("--by EMAIL"));
    let bad_by = accord(&["attest", "--person", "anna-virtanen", "--by", "liisa", r]);
    assert!(
        bad_by.stderr.contains("--by \"liisa\" has no @"),
        "{}",
        bad_by.stderr
    );
    let nobody = accord(&["attest", "--person", "nobody", "--by", "a@acme.fi", r]);
    assert!(
        nobody
            .stderr
            .contains("--person \"nobody\" is no UserGrant"),
        "{}",
        nobody.stderr
    );
    let unit = accord(&["attest", "--unit", "acme/nowhere", "--by", "a@acme.fi", r]);
    assert!(
        unit.stderr
            .contains("--unit \"acme/nowhere\" is no OrgUnit of tenant acme"),
        "{}",
        unit.stderr
    );
    let one = accord(&[
        "attest",
        "--person",
        "anna-virtanen",
        "--by",
        "a@acme.fi",
        "--today",
        "2026-11-22",
        r,
    ]);
    assert!(one.stdout.contains("attested 1 people"), "{}", one.stdout);
}

#[test]
fn attest_on_the_live_cluster() {
    let scratch = Scratch::new("attest-cluster");
    let e = support::kube::Emulator::start();
    e.load_dir(&support::examples().join("fi-acme"));
    let kubeconfig = scratch.0.join("kubeconfig");
    e.kubeconfig(&kubeconfig, "customer-acme");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, due, err) = run(&["attest", "--cluster", "--due", "--today", "2026-11-22"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        due.contains("sanna-hamalainen") && due.contains("OVERDUE"),
        "{due}"
    );
    let (code, out, err) = run(&[
        "attest",
        "--cluster",
        "--unit",
        "acme/helsinki/kallio",
        "--by",
        "liisa.korhonen@acme.fi",
        "--today",
        "2026-11-22",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("attested 4 people"), "{out}");
    let sanna = e
        .get(
            "accord.dev",
            "usergrants",
            "customer-acme",
            "sanna-hamalainen",
        )
        .unwrap();
    assert_eq!(
        sanna["spec"]["attestation"],
        serde_json::json!({"lastAttested": "2026-11-22", "attestedBy": "liisa.korhonen@acme.fi"})
    );
    assert_eq!(sanna["metadata"]["generation"], 2, "a spec change");
    let (_, due, _) = run(&["attest", "--cluster", "--due", "--today", "2026-11-22"]);
    assert!(!due.contains("sanna-hamalainen"), "{due}");
}
