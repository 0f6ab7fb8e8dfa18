//! Fail closed, against a live directory: the examples are applied to a private slapd, then
//! one file is damaged the way people and tools damage files, and `accord apply` runs
//! again. The directory must be exactly as it was (every entry, every attribute, every
//! operational timestamp), the exit code 1, the message must name the file (and the object
//! where it can be known), and nothing may panic. One test per class of damage.

mod support;

use std::path::{Path, PathBuf};

use support::slapd::Slapd;
use support::{SUFFIXES, Scratch, copy_dir, examples_against};

const TODAY: &str = "2026-11-22";
const LDAP_TARGETS: [&str; 6] = [
    "--target",
    "acme-ldap",
    "--target",
    "aarhus-ldap",
    "--target",
    "vardgivaren-ldap",
];

/// The examples applied to a private slapd: the state every damaged apply must leave alone.
struct Estate {
    scratch: Scratch,
    slapd: Slapd,
    good: PathBuf,
    before: String,
}

impl Estate {
    fn new(label: &str) -> Self {
        let scratch = Scratch::new(label);
        let slapd = Slapd::start(&scratch.0, &SUFFIXES);
        let good = examples_against(&slapd, &scratch.0);
        let run = apply(&good);
        assert_eq!(run.code, 0, "the good apply: {}{}", run.stdout, run.stderr);
        let before = dump(&slapd);
        assert!(before.matches("\ndn: ").count() > 60, "the examples are in the directory");
        Estate {
            scratch,
            slapd,
            good,
            before,
        }
    }

    /// Applies a damaged copy of the examples; `damage` gets the copy's root.
    fn damaged(&self, case: &str, damage: impl FnOnce(&Path)) -> Damaged {
        let root = self.scratch.0.join(format!("case-{case}"));
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(&self.good, &root);
        damage(&root);
        let run = apply(&root);
        let after = dump(&self.slapd);
        Damaged {
            case: case.to_string(),
            code: run.code,
            out: format!("{}\n{}", run.stdout, run.stderr),
            errors: run
                .stderr
                .lines()
                .filter(|l| l.starts_with("error: "))
                .map(String::from)
                .collect(),
            unchanged: after == self.before,
        }
    }
}

struct Damaged {
    case: String,
    code: i32,
    out: String,
    errors: Vec<String>,
    unchanged: bool,
}

impl Damaged {
    /// The directory untouched, exit 1, no panic, and every `names` in one error line.
    fn held(&self, names: &[&str]) -> &Self {
        let case = &self.case;
        assert!(!self.out.contains("panicked"), "{case}: panicked:\n{}", self.out);
        assert!(self.unchanged, "{case}: the directory changed:\n{}", self.out);
        assert_eq!(self.code, 1, "{case}: exit code:\n{}", self.out);
        assert!(
            self.errors.iter().any(|e| names.iter().all(|n| e.contains(n))),
            "{case}: no error line names {names:?}:\n{:#?}",
            self.errors
        );
        self
    }
}

/// `accord apply` of `root`, with its address space capped at 2 GiB: input that makes
/// accord reach for more (as a dimension or alias bomb would) aborts the run and fails the
/// test instead of going unnoticed.
fn apply(root: &Path) -> support::Run {
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 2097152; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_accord"))
        .args(["apply", "--today", TODAY])
        .args(LDAP_TARGETS)
        .arg(root)
        .output()
        .expect("accord runs");
    support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every entry of every suffix with operational attributes (entryCSN, modifyTimestamp): any
/// write at all changes it.
fn dump(slapd: &Slapd) -> String {
    SUFFIXES
        .iter()
        .map(|s| slapd.search(s, "(objectClass=*)", &["*", "+"]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let new = f(text.clone());
    assert_ne!(new, text, "{} was not changed", path.display());
    std::fs::write(path, new).unwrap();
}

fn grant(root: &Path, name: &str) -> PathBuf {
    root.join("fi-acme/grants").join(format!("{name}.yaml"))
}

#[test]
fn yaml_that_does_not_parse_holds_its_namespace() {
    let e = Estate::new("syntax");
    e.damaged("tab-in-grant", |r| {
        edit(&grant(r, "anna-virtanen"), |t| t.replacen("    familyName", "\tfamilyName", 1))
    })
    .held(&["anna-virtanen.yaml:"]);
    e.damaged("tab-in-orgunits", |r| {
        edit(&r.join("fi-acme/orgunits.yaml"), |t| {
            t.replacen("  displayName: Helsinki", "\tdisplayName: Helsinki", 1)
        })
    })
    .held(&["orgunits.yaml:"]);
    e.damaged("unclosed-flow", |r| {
        edit(&grant(r, "matti-nieminen"), |t| t.replacen("roles: [", "roles: [[", 1))
    })
    .held(&["matti-nieminen.yaml:"]);
    e.damaged("truncated-mid-line", |r| {
        edit(&grant(r, "liisa-korhonen"), |t| t[..t.len() * 2 / 3].to_string())
    })
    .held(&["liisa-korhonen.yaml:"]);
    e.damaged("stray-colon", |r| {
        edit(&r.join("dk-aarhus/orgunits.yaml"), |t| t.replacen("spec:", "spec: x:", 1))
    })
    .held(&["dk-aarhus/orgunits.yaml:"]);
}

#[test]
fn text_that_is_not_utf8_holds_its_namespace() {
    let e = Estate::new("encoding");
    e.damaged("latin1", |r| {
        let p = grant(r, "anna-virtanen");
        let bytes = std::fs::read(&p).unwrap();
        // "Hämeenkatu" as Windows-1252 writes it.
        let mut latin1 = Vec::new();
        for c in String::from_utf8(bytes).unwrap().chars() {
            if (c as u32) < 256 {
                latin1.push(c as u32 as u8)
            } else {
                latin1.extend(c.to_string().bytes())
            }
        }
        std::fs::write(&p, latin1).unwrap();
    })
    .held(&["anna-virtanen.yaml", "UTF-8"]);
    e.damaged("nul-byte", |r| {
        edit(&r.join("se-vardgivaren/orgunits.yaml"), |t| t.replacen("displayName", "display\u{0}Name", 1))
    })
    .held(&["se-vardgivaren/orgunits.yaml:"]);
}

#[test]
fn a_duplicate_key_is_an_error_at_its_line() {
    let e = Estate::new("duplicate");
    let d = e.damaged("unit-twice", |r| {
        edit(&grant(r, "anna-virtanen"), |t| {
            t.replacen("  unit: acme-helsinki-kallio\n", "  unit: acme-helsinki-kallio\n  unit: acme-tampere\n", 1)
        })
    });
    d.held(&["anna-virtanen.yaml:18", "duplicate"]);
    e.damaged("policy-twice", |r| {
        edit(&r.join("fi-acme/tenant.yaml"), |t| t.replacen("  policy:\n", "  policy: {}\n  policy:\n", 1))
    })
    .held(&["tenant.yaml:", "duplicate"]);
}

#[test]
fn files_that_cannot_be_read_hold_everything() {
    let e = Estate::new("unreadable");
    e.damaged("dangling-link", |r| {
        let p = grant(r, "anna-virtanen");
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(r.join("gone.yaml"), &p).unwrap();
    })
    .held(&["anna-virtanen.yaml", "link to nothing"]);
    e.damaged("fifo", |r| {
        let p = grant(r, "anna-virtanen");
        std::fs::remove_file(&p).unwrap();
        let ok = std::process::Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(ok.success());
    })
    .held(&["anna-virtanen.yaml", "not a regular file"]);
    e.damaged("emptied", |r| std::fs::write(grant(r, "anna-virtanen"), "").unwrap())
        .held(&["anna-virtanen.yaml", "is empty"]);
    e.damaged("huge-file", |r| {
        let f = std::fs::File::create(grant(r, "anna-virtanen")).unwrap();
        f.set_len(300 << 20).unwrap(); // sparse: nothing is written to disk
    })
    .held(&["anna-virtanen.yaml", "MiB"]);
}

#[test]
fn an_apiversion_or_kind_accord_does_not_know_is_an_error_not_a_skip() {
    let e = Estate::new("apiversion");
    for (case, from, to, why) in [
        ("v1", "accord.dev/v1alpha1", "accord.dev/v1", "is not one accord reads"),
        ("typo", "accord.dev/v1alpha1", "acord.dev/v1alpha1", "is not one accord reads"),
        ("kind", "kind: UserGrant", "kind: Usergrant", "is not one accord reads"),
        ("core-group", "accord.dev/v1alpha1", "v1", "looks like one of accord's"),
        ("no-apiversion", "apiVersion: accord.dev/v1alpha1\n", "", "has no apiVersion or kind"),
    ] {
        e.damaged(case, |r| edit(&grant(r, "anna-virtanen"), |t| t.replacen(from, to, 1)))
            .held(&["anna-virtanen.yaml:", why]);
    }
}

#[test]
fn fields_of_the_wrong_type_or_value_freeze_their_object() {
    let e = Estate::new("types");
    for (case, from, to, field) in [
        ("impossible-date", "validFrom: 2026-01-01", "validFrom: 2026-02-30", "spec.validFrom"),
        ("string-for-list", "roles: [unit-admin, occupational-nurse]", "roles: unit-admin", "spec.roles"),
        ("word-for-bool", "  unit: acme-helsinki-kallio\n", "  unit: acme-helsinki-kallio\n  suspended: maybe\n", "spec.suspended"),
        ("bad-name", "name: anna-virtanen", "name: Anna_Virtanen", "metadata.name"),
        ("no-name", "  name: anna-virtanen\n", "", "metadata.name"),
        ("list-namespace", "namespace: customer-acme", "namespace: [customer-acme]", "anna-virtanen.yaml"),
        ("long-name", "givenName: Anna", &format!("givenName: {}", "A".repeat(200)), "spec.person.givenName"),
        ("control-character", "givenName: Anna", "givenName: \"Anna\\n+ person forged\"", "spec.person.givenName"),
    ] {
        let d = e.damaged(case, |r| edit(&grant(r, "anna-virtanen"), |t| t.replacen(from, to, 1)));
        d.held(&["anna-virtanen.yaml:", field]);
        assert!(!d.out.contains("\n+ person forged"), "{case}: a value forged a plan line");
    }
    e.damaged("percent-out-of-bounds", |r| {
        edit(&r.join("fi-acme/tenant.yaml"), |t| t.replacen("maxPercent: 10", "maxPercent: 250", 1))
    })
    .held(&["Tenant customer-acme/acme", "spec.policy.deletion.maxPercent", "above the maximum 100"]);
    e.damaged("duration-overflow", |r| {
        edit(&r.join("fi-acme/tenant.yaml"), |t| t.replacen("interval: 90d", "interval: 999999999d", 1))
    })
    .held(&["Tenant customer-acme/acme", "spec.policy.attestation.interval", "hundred years"]);
}

#[test]
fn a_damaged_secret_is_reported_once_not_as_a_cascade() {
    let e = Estate::new("secret");
    let d = e.damaged("secret-syntax", |r| {
        edit(&r.join("fi-acme/secrets/national-ids.yaml"), |t| t.replacen("stringData:", "stringData: [", 1))
    });
    d.held(&["national-ids.yaml:"]);
    assert_eq!(d.errors.len(), 1, "one error at the cause, none per grant: {:#?}", d.errors);
    let d = e.damaged("secret-value-multibyte", |r| {
        edit(&r.join("fi-acme/secrets/national-ids.yaml"), |t| {
            t.replacen("\"050782-668K\"", "\"０５０７８２－６６８Ｋ\"", 1)
        })
    });
    d.held(&["UserGrant customer-acme/liisa-korhonen", "spec.person.nationalIdRef", "not valid"]);
}

#[test]
fn hostile_input_gives_a_clear_error_in_bounded_time_and_memory() {
    let e = Estate::new("hostile");
    e.damaged("symlink-loops", |r| {
        std::os::unix::fs::symlink(r, r.join("fi-acme/grants/loop")).unwrap();
        std::os::unix::fs::symlink(r.join("fi-acme"), r.join("dk-aarhus/again")).unwrap();
        // ...and a damaged file, so that something is to be held.
        std::fs::write(r.join("fi-acme/grants/zz.yaml"), "kind: [\n").unwrap();
    })
    .held(&["loop", "link back to"]);
    e.damaged("50mb-scalar", |r| {
        edit(&grant(r, "anna-virtanen"), |t| t.replacen("givenName: Anna", &format!("givenName: {}", "A".repeat(50 << 20)), 1))
    })
    .held(&["anna-virtanen.yaml:", "spec.person.givenName", "at most 128"]);
    e.damaged("deep-nesting", |r| {
        std::fs::write(r.join("fi-acme/deep.yaml"), format!("{}x{}", "[".repeat(20_000), "]".repeat(20_000))).unwrap()
    })
    .held(&["deep.yaml:"]);
    e.damaged("billion-laughs", |r| {
        let mut t = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (n, p) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"]) {
            t.push_str(&format!("{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"));
        }
        std::fs::write(r.join("fi-acme/laughs.yaml"), t).unwrap()
    })
    .held(&["laughs.yaml:"]);
    e.damaged("20000-deep-units", |r| {
        let mut t = String::new();
        for i in 0..20_000 {
            let parent = if i == 0 { "nowhere".to_string() } else { format!("chain-{}", i - 1) };
            t.push_str(&format!(
                "---\napiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {{name: chain-{i}, namespace: customer-acme}}\nspec: {{tenant: acme, displayName: C{i}, parent: {parent}}}\n"
            ));
        }
        // Its top names a parent that is not there, so nothing of it may be created.
        std::fs::write(r.join("fi-acme/chain.yaml"), t).unwrap();
    })
    .held(&["OrgUnit customer-acme/chain-0", "does not exist"]);
}

/// What people actually write reads the same as the clean file: nothing changes, exit 0.
#[test]
fn lists_merge_keys_directives_boms_and_line_endings_read_as_written() {
    let e = Estate::new("positive");
    let unchanged = |case: &str, damage: &dyn Fn(&Path)| {
        let d = e.damaged(case, damage);
        assert!(!d.out.contains("panicked"), "{case}: {}", d.out);
        assert_eq!(d.code, 0, "{case}: {}", d.out);
        assert!(d.unchanged, "{case}: the directory changed: {}", d.out);
        assert!(d.errors.is_empty(), "{case}: {:#?}", d.errors);
    };
    unchanged("crlf", &|r| edit(&grant(r, "anna-virtanen"), |t| t.replace('\n', "\r\n")));
    unchanged("cr-only", &|r| edit(&r.join("fi-acme/orgunits.yaml"), |t| t.replace('\n', "\r")));
    unchanged("bom", &|r| edit(&r.join("fi-acme/tenant.yaml"), |t| format!("\u{feff}{t}")));
    unchanged("yaml-1.2", &|r| edit(&grant(r, "anna-virtanen"), |t| format!("%YAML 1.2\n---\n{t}")));
    unchanged("merge-keys", &|r| {
        edit(&grant(r, "anna-virtanen"), |t| {
            t.replacen("  person:\n", "  person:\n    <<: {givenName: Someone}\n", 1)
        })
    });
    unchanged("kubectl-list", &|r| {
        // `kubectl get usergrants -o yaml`: one v1 List, items indented under it.
        let dir = r.join("fi-acme/grants");
        let mut items = String::from("apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n");
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            for (i, line) in text.lines().enumerate() {
                items.push_str(if i == 0 { "- " } else { "  " });
                items.push_str(line);
                items.push('\n');
            }
        }
        std::fs::write(dir.join("all.yaml"), items).unwrap();
    });
}
