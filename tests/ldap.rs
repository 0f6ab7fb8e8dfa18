//! The ldap target against a real OpenLDAP started by the tests (see support/slapd.rs).

mod support;
use support::writes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::slapd::{ADMIN_PW, Slapd};
use support::{SUFFIXES, Scratch, accord, examples_against};

const TODAY: &str = "2026-11-22";
const LDAP_TARGETS: [&str; 6] = [
    "--target",
    "acme-ldap",
    "--target",
    "aarhus-ldap",
    "--target",
    "vardgivaren-ldap",
];

fn apply(args: &[&str]) -> support::Run {
    let mut all = vec!["apply", "--today", TODAY];
    all.extend_from_slice(args);
    let run = accord(&all);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn plan(args: &[&str]) -> support::Run {
    let mut all = vec!["plan", "--today", TODAY];
    all.extend_from_slice(args);
    accord(&all)
}

#[test]
fn examples_converge_and_a_second_apply_writes_nothing() {
    let scratch = Scratch::new("ldap-examples");
    let slapd = Slapd::start(&scratch.0, &SUFFIXES);
    let ex = examples_against(&slapd, &scratch.0);
    let ex = ex.to_str().unwrap();
    let mut args = LDAP_TARGETS.to_vec();
    args.push(ex);

    let first = apply(&args);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(
        writes(&first.stdout).iter().all(|w| *w > 0),
        "{}",
        first.stdout
    );

    // Every person, unit and group the plan wanted is there, with the right attributes.
    let offline = plan(&["--offline", "-o", "json", ex]);
    let json: serde_json::Value = serde_json::from_str(&offline.stdout).unwrap();
    for t in json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "ldap")
    {
        let suffix = match t["tenant"].as_str().unwrap() {
            "acme" => SUFFIXES[0],
            "aarhus-kommune" => SUFFIXES[1],
            _ => SUFFIXES[2],
        };
        for (kind, class) in [
            ("person", "inetOrgPerson"),
            ("unit", "organizationalUnit"),
            ("group", "groupOfNames"),
        ] {
            let want = t["ops"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["object"]["kind"] == kind)
                .count();
            let filter = format!("(&(objectClass={class})(seeAlso=*))");
            assert_eq!(slapd.dns(suffix, &filter).len(), want, "{suffix}: {kind}s");
        }
    }
    let anna = slapd.search("dc=acme,dc=fi", "(uid=anna-virtanen)", &["*", "memberOf"]);
    assert!(anna.contains("dn: uid=anna-virtanen,ou=acme-helsinki-kallio,ou=acme-helsinki,ou=acme,ou=people,dc=acme,dc=fi"), "{anna}");
    for line in [
        "mail: anna.virtanen@acme.fi",
        "cn: Anna Virtanen",
        "sn: Virtanen",
        "telephoneNumber: +358401603028",
        "employeeNumber: E1003",
        "ou: Kallio",
        "memberOf: cn=role-unit-admin,ou=groups,dc=acme,dc=fi",
        "memberOf: cn=feature-reports,ou=groups,dc=acme,dc=fi",
        "memberOf: cn=group-hoitotiimi-a,ou=groups,dc=acme,dc=fi",
    ] {
        assert!(anna.contains(line), "{line} in\n{anna}");
    }
    let admins = slapd.search(
        "cn=role-tenant-admin,ou=groups,dc=acme,dc=fi",
        "(objectClass=*)",
        &["member"],
    );
    assert!(
        admins.contains(
            "member: uid=liisa-korhonen,ou=acme-helsinki,ou=acme,ou=people,dc=acme,dc=fi"
        ) && admins.contains("uid=matti-nieminen"),
        "{admins}"
    );
    // Expired (Aarhus: MoveToBranch) sits in the disabled branch, out of every group.
    assert_eq!(
        slapd.dns("dc=aarhus,dc=dk", "(uid=kirsten-larsen)"),
        vec!["uid=kirsten-larsen,ou=disabled,dc=aarhus,dc=dk"]
    );
    assert!(
        slapd
            .dns(
                "dc=aarhus,dc=dk",
                "(member=uid=kirsten-larsen,ou=disabled,dc=aarhus,dc=dk)"
            )
            .is_empty()
    );
    // Swedish HSA attributes from the Integration's mapping.
    let karin = slapd.search(
        "dc=vardgivaren,dc=se",
        "(uid=karin-lindqvist)",
        &["hsaIdentity", "hsaTitleCode", "objectClass"],
    );
    assert!(
        karin.contains("hsaIdentity: SE5560360793-")
            && karin.contains("hsaTitleCode: 121110")
            && karin.contains("objectClass: hsaPerson"),
        "{karin}"
    );
    // Empty groups are valid groupOfNames.
    let empty = slapd.search(
        "cn=feature-workAbility,ou=groups,dc=acme,dc=fi",
        "(objectClass=*)",
        &["member"],
    );
    assert!(empty.contains("dn: cn=feature-workAbility"), "{empty}");
    // No national identity number anywhere in the directory.
    let all = slapd.search("dc=acme,dc=fi", "(objectClass=*)", &["*"]);
    let ids =
        std::fs::read_to_string(support::examples().join("fi-acme/secrets/national-ids.yaml"))
            .unwrap();
    let numbers: Vec<&str> = ids
        .split("stringData:")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| l.contains(':'))
        .collect();
    assert_eq!(numbers.len(), 18);
    for line in numbers {
        let number = line.split(':').nth(1).unwrap().trim().trim_matches('"');
        assert!(!all.contains(number));
    }

    let second = apply(&args);
    assert_eq!(second.code, 0, "{}", second.stdout);
    assert_eq!(writes(&second.stdout), vec![0, 0, 0], "{}", second.stdout);
    let mut plan_args = LDAP_TARGETS.to_vec();
    plan_args.push(ex);
    let live = plan(&plan_args);
    assert_eq!(live.code, 0, "nothing to change: {}", live.stdout);
    assert!(live.stdout.contains("against the live target"));
}

#[test]
fn drift_is_reported_repaired_in_enforce_and_left_in_observe() {
    let scratch = Scratch::new("ldap-drift");
    let slapd = Slapd::start(&scratch.0, &SUFFIXES);
    let ex = examples_against(&slapd, &scratch.0);
    let exs = ex.to_str().unwrap();
    let only = ["--target", "acme-ldap", exs];
    assert_eq!(apply(&only).code, 0);

    let anna = "uid=anna-virtanen,ou=acme-helsinki-kallio,ou=acme-helsinki,ou=acme,ou=people,dc=acme,dc=fi";
    slapd.modify("dc=acme,dc=fi", &format!("dn: {anna}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +358409999999\n"));
    slapd.delete(
        "dc=acme,dc=fi",
        "uid=juha-koskinen,ou=acme-helsinki,ou=acme,ou=people,dc=acme,dc=fi",
    );
    slapd.add("dc=acme,dc=fi", "dn: uid=foreign,ou=people,dc=acme,dc=fi\nobjectClass: inetOrgPerson\nuid: foreign\ncn: Not Ours\nsn: Ours\n");

    let p = plan(&only);
    assert_eq!(p.code, 2, "{}", p.stdout);
    assert!(
        p.stdout.contains(
            "~ person anna-virtanen\n      telephoneNumber: +358409999999 → +358401603028"
        ),
        "{}",
        p.stdout
    );
    assert!(p.stdout.contains("+ person juha-koskinen"), "{}", p.stdout);
    // refint took the deleted person out of their groups: that is drift too.
    assert!(
        p.stdout
            .contains("~ group role-occupational-physician\n      member: +juha-koskinen\n"),
        "{}",
        p.stdout
    );
    assert!(
        !p.stdout.contains("foreign"),
        "a foreign entry is not accord's business"
    );

    // Observe: reported, not changed.
    let integ = ex.join("fi-acme/integrations.yaml");
    let text = std::fs::read_to_string(&integ).unwrap();
    std::fs::write(
        &integ,
        text.replace(
            "sync: {interval: 5m, maxConcurrency: 8, requestsPerSecond: 50}",
            "sync: {interval: 5m, management: Observe}",
        ),
    )
    .unwrap();
    let observed = apply(&only);
    assert_eq!(observed.code, 0, "{}", observed.stdout);
    assert!(
        observed
            .stdout
            .contains("Observe mode, nothing changed (9 differences reported)"),
        "{}",
        observed.stdout
    );
    assert!(
        slapd
            .search(anna, "(objectClass=*)", &["telephoneNumber"])
            .contains("+358409999999")
    );

    // Enforce: repaired; the foreign entry stays.
    std::fs::write(&integ, text).unwrap();
    let fixed = apply(&only);
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    assert!(
        slapd
            .search(anna, "(objectClass=*)", &["telephoneNumber"])
            .contains("telephoneNumber: +358401603028")
    );
    assert_eq!(slapd.dns("dc=acme,dc=fi", "(uid=juha-koskinen)").len(), 1);
    assert_eq!(slapd.dns("dc=acme,dc=fi", "(uid=foreign)").len(), 1);
    assert_eq!(plan(&only).code, 0);
}

/// A one-tenant estate against `url`, with `grants` generated people and extra YAML.
fn tenant(
    dir: &Path,
    url: &str,
    ldap_extra: &str,
    sync: &str,
    grants: usize,
    extra: &str,
) -> PathBuf {
    let root = dir.join("manifests");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("grants")).unwrap();
    std::fs::write(
        root.join("base.yaml"),
        format!(
            r#"apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: t, namespace: ns}}
spec:
  displayName: Test Oy
  country: FI
  integrations: {{directory: dir}}
  features: [messaging]
  roles: [{{name: admin, admin: true}}, {{name: employee}}]
  policy: {{minAdmins: 0, deletion: {{maxPerSync: 25, maxPercent: 10}}}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: dir, namespace: ns}}
spec:
  tenant: t
  kind: ldap
  endpoint: "{url}"
  credentialsRef: {{secretName: bind}}
  ldap: {{baseDN: "dc=acme,dc=fi"{ldap_extra}}}
  sync: {{{sync}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: bind, namespace: ns}}
stringData: {{bindDN: "cn=admin,dc=acme,dc=fi", password: {ADMIN_PW}}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: root, namespace: ns}}
spec: {{tenant: t, displayName: Root}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: north, namespace: ns}}
spec: {{tenant: t, displayName: North, parent: root}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: south, namespace: ns}}
spec: {{tenant: t, displayName: South, parent: root}}
{extra}"#
        ),
    )
    .unwrap();
    for i in 0..grants {
        let unit = if i % 2 == 0 { "north" } else { "south" };
        std::fs::write(root.join(format!("grants/p{i:04}.yaml")), format!(
            "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: p{i:04}, namespace: ns}}\nspec:\n  tenant: t\n  person: {{givenName: Given{i}, familyName: Family, email: p{i}@test.fi}}\n  unit: {unit}\n  roles: [employee]\n  features: [messaging]\n"
        )).unwrap();
    }
    root
}

#[test]
fn hard_names_are_stored_exactly_and_never_change_a_search() {
    let scratch = Scratch::new("ldap-escape");
    let slapd = Slapd::start(&scratch.0, &SUFFIXES[..1]);
    let extra = r##"---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {name: obrien, namespace: ns}
spec:
  tenant: t
  person: {givenName: "Anna+Liisa", familyName: "O'Brien, Jr.", email: "obrien@test.fi", title: "#1 nurse"}
  unit: north
  groups: ["*)(uid=*", "night;shift=a", "#team"]
"##;
    let m = tenant(
        &scratch.0,
        &slapd.url(),
        "",
        "requestsPerSecond: 1000",
        1,
        extra,
    );
    let run = apply(&[m.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let found = slapd.search(
        "dc=acme,dc=fi",
        "(sn=O'Brien, Jr.)",
        &["cn", "givenName", "title", "memberOf"],
    );
    assert!(
        found.contains("cn: Anna+Liisa O'Brien, Jr.")
            && found.contains("givenName: Anna+Liisa")
            && found.contains("title: #1 nurse"),
        "{found}"
    );
    assert_eq!(found.matches("memberOf: cn=group-").count(), 3, "{found}");
    assert!(
        found.contains("memberOf: cn=group-*)(uid\\3D*,ou=groups,dc=acme,dc=fi"),
        "{found}"
    );
    // The group named like an injection is one group, found only by its exact escaped name.
    assert_eq!(
        slapd
            .dns("dc=acme,dc=fi", "(cn=group-\\2a\\29\\28uid=\\2a)")
            .len(),
        1
    );
    assert_eq!(
        slapd.dns("dc=acme,dc=fi", "(cn=group-night;shift=a)").len(),
        1
    );
    assert_eq!(slapd.dns("dc=acme,dc=fi", "(cn=group-#team)").len(), 1);
    let again = apply(&[m.to_str().unwrap()]);
    assert_eq!(
        writes(&again.stdout),
        vec![0],
        "escaped DNs read back as the same objects: {}",
        again.stdout
    );
}

#[test]
fn slapd_stopped_mid_apply_then_a_rerun_converges() {
    let scratch = Scratch::new("ldap-crash");
    let mut slapd = Slapd::start(&scratch.0, &SUFFIXES[..1]);
    // Paced to 150 writes a second so that 400 people take seconds, not milliseconds.
    let m = tenant(
        &scratch.0,
        &slapd.url(),
        "",
        "requestsPerSecond: 150, maxConcurrency: 4",
        400,
        "",
    );
    let ms = m.to_str().unwrap().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["apply", "--today", TODAY, &ms])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while slapd
        .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
        .len()
        < 40
    {
        assert!(Instant::now() < deadline, "the apply never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    slapd.stop();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("stopped: lost the connection to ldap://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("operations left for the next run"),
        "{stdout}"
    );

    slapd.restart();
    let rerun = apply(&[&ms]);
    assert_eq!(rerun.code, 0, "{}", rerun.stdout);
    let people = slapd.dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)");
    assert_eq!(people.len(), 400, "nothing lost, nothing duplicated");
    let members = slapd.search(
        "cn=role-employee,ou=groups,dc=acme,dc=fi",
        "(objectClass=*)",
        &["member"],
    );
    assert_eq!(
        members
            .lines()
            .filter(|l| l.starts_with("member: "))
            .count(),
        400
    );
    assert_eq!(writes(&apply(&[&ms]).stdout), vec![0]);
}

#[test]
fn deletions_past_the_threshold_are_held_until_confirmed() {
    let scratch = Scratch::new("ldap-held");
    let slapd = Slapd::start(&scratch.0, &SUFFIXES[..1]);
    let m = tenant(
        &scratch.0,
        &slapd.url(),
        "",
        "requestsPerSecond: 1000",
        20,
        "",
    );
    let ms = m.to_str().unwrap();
    assert_eq!(apply(&[ms]).code, 0);
    for i in 0..5 {
        std::fs::remove_file(m.join(format!("grants/p{i:04}.yaml"))).unwrap();
    }
    let held = apply(&[ms]);
    assert_eq!(held.code, 0, "{}", held.stdout);
    assert!(
        held.stdout
            .contains("HELD: 5 of 20 people would be deleted"),
        "{}",
        held.stdout
    );
    assert!(held.stdout.contains("5 deletions HELD"), "{}", held.stdout);
    assert_eq!(
        slapd
            .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
            .len(),
        20
    );
    let released = apply(&["--confirm-deletions", "5", ms]);
    assert_eq!(released.code, 0, "{}", released.stdout);
    assert_eq!(
        slapd
            .dns("dc=acme,dc=fi", "(objectClass=inetOrgPerson)")
            .len(),
        15
    );
}

#[test]
fn tls_verifies_the_server_against_the_ca_from_a_secret() {
    let scratch = Scratch::new("ldap-tls");
    let slapd = Slapd::start_with(&scratch.0, &SUFFIXES[..1], true);
    let ca_secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ca, namespace: ns}}\nstringData:\n  ca.crt: |\n{}",
        slapd
            .ca_pem()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let with_tls = |dir: &Path, url: &str, tls: &str| {
        let m = tenant(dir, url, "", "requestsPerSecond: 1000", 3, &ca_secret);
        let base = m.join("base.yaml");
        let text = std::fs::read_to_string(&base).unwrap().replace(
            "  credentialsRef: {secretName: bind}",
            &format!("  credentialsRef: {{secretName: bind}}\n  tls: {tls}"),
        );
        std::fs::write(&base, text).unwrap();
        m
    };
    // LDAPS with the CA: works.
    let m = with_tls(
        &scratch.0,
        &slapd.ldaps_url(),
        "{caSecretRef: {secretName: ca, key: ca.crt}}",
    );
    let run = apply(&[m.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // LDAPS without it: the server's certificate is not trusted, and the plan says why.
    let m = with_tls(&scratch.0, &slapd.ldaps_url(), "{}");
    let p = plan(&[m.to_str().unwrap()]);
    assert!(
        p.stdout
            .contains("against an EMPTY baseline: cannot connect to ldaps://127.0.0.1"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.to_lowercase().contains("certificate"),
        "{}",
        p.stdout
    );
    // insecureSkipVerify turns verification off.
    let m = with_tls(&scratch.0, &slapd.ldaps_url(), "{insecureSkipVerify: true}");
    assert_eq!(plan(&[m.to_str().unwrap()]).code, 0);
    // StartTLS on the plain port, verified.
    let m = with_tls(
        &scratch.0,
        &slapd.url(),
        "{startTls: true, caSecretRef: {secretName: ca, key: ca.crt}}",
    );
    let p = plan(&[m.to_str().unwrap()]);
    assert_eq!(p.code, 0, "{}", p.stdout);
    assert!(p.stdout.contains("against the live target"));
}

#[test]
fn existing_entries_are_adopted_only_when_the_integration_says_so() {
    let scratch = Scratch::new("ldap-adopt");
    let slapd = Slapd::start(&scratch.0, &SUFFIXES[..1]);
    slapd.add("dc=acme,dc=fi", "dn: ou=people,dc=acme,dc=fi\nobjectClass: organizationalUnit\nou: people\n\ndn: ou=root,ou=people,dc=acme,dc=fi\nobjectClass: organizationalUnit\nou: root\ndescription: made by hand\n");
    let m = tenant(
        &scratch.0,
        &slapd.url(),
        "",
        "requestsPerSecond: 1000",
        2,
        "",
    );
    let refused = apply(&[m.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stdout.contains("ou=root,ou=people,dc=acme,dc=fi already exists and accord does not own it; set ldap.adopt: true"), "{}", refused.stdout);
    assert!(
        slapd
            .search(
                "ou=root,ou=people,dc=acme,dc=fi",
                "(objectClass=*)",
                &["description"]
            )
            .contains("made by hand")
    );

    let m = tenant(
        &scratch.0,
        &slapd.url(),
        ", adopt: true",
        "requestsPerSecond: 1000",
        2,
        "",
    );
    let adopted = apply(&[m.to_str().unwrap()]);
    assert_eq!(adopted.code, 0, "{}", adopted.stdout);
    let root = slapd.search(
        "ou=root,ou=people,dc=acme,dc=fi",
        "(objectClass=*)",
        &["description", "seeAlso"],
    );
    assert!(
        root.contains("description: Root") && root.contains("seeAlso: cn=accord,ou=t,ou=ns"),
        "{root}"
    );
    assert_eq!(writes(&apply(&[m.to_str().unwrap()]).stdout), vec![0]);
}

#[test]
fn a_new_unit_moves_the_entry_and_suspension_empties_its_groups() {
    let scratch = Scratch::new("ldap-move");
    let slapd = Slapd::start(&scratch.0, &SUFFIXES[..1]);
    let m = tenant(
        &scratch.0,
        &slapd.url(),
        "",
        "requestsPerSecond: 1000",
        2,
        "",
    );
    let ms = m.to_str().unwrap();
    assert_eq!(apply(&[ms]).code, 0);
    let g = m.join("grants/p0000.yaml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(&g, text.replace("unit: north", "unit: south")).unwrap();
    let p = plan(&[ms]);
    assert!(
        p.stdout
            .contains("~ person p0000\n      moved: north → south"),
        "{}",
        p.stdout
    );
    let moved = apply(&[ms]);
    assert_eq!(
        writes(&moved.stdout),
        vec![2],
        "one modrdn and one modify (ou): {}",
        moved.stdout
    );
    assert_eq!(
        slapd.dns("dc=acme,dc=fi", "(uid=p0000)"),
        vec!["uid=p0000,ou=south,ou=root,ou=people,dc=acme,dc=fi"]
    );
    let members = slapd.search(
        "cn=role-employee,ou=groups,dc=acme,dc=fi",
        "(objectClass=*)",
        &["member"],
    );
    assert!(
        members.contains("member: uid=p0000,ou=south,ou=root,ou=people,dc=acme,dc=fi"),
        "refint follows the move: {members}"
    );

    std::fs::write(
        &g,
        std::fs::read_to_string(&g).unwrap() + "  suspended: true\n",
    )
    .unwrap();
    assert_eq!(apply(&[ms]).code, 0);
    assert_eq!(
        slapd.dns("dc=acme,dc=fi", "(uid=p0000)").len(),
        1,
        "RemoveFromGroups keeps the entry"
    );
    assert!(
        slapd
            .dns(
                "dc=acme,dc=fi",
                "(member=uid=p0000,ou=south,ou=root,ou=people,dc=acme,dc=fi)"
            )
            .is_empty()
    );
}
