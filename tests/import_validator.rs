//! Import and plan share one validator, so every row `accord import` accepts is a UserGrant
//! `accord plan` accepts. Checked on random rosters for the three example customers: rows
//! drawn from valid and broken values of every column (names, e-mail in any case and twice,
//! phones in every format, units by path and by name, identity numbers valid, broken and
//! repeated, Nordic and ISO dates, roles and features declared or not, groups, HSA-ids,
//! employee numbers repeated). Every imported grant must compile without a problem.

use std::path::Path;

use accord::producers::import::{ImportRequest, import};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

struct Customer {
    dir: &'static str,
    tenant: &'static str,
    header: &'static str,
    units: &'static [&'static str],
    ids: &'static [&'static str],
    roles: &'static [&'static str],
}

const CUSTOMERS: [Customer; 3] = [
    Customer {
        dir: "fi-acme",
        tenant: "acme",
        header: "Etunimi;Sukunimi;Sähköposti;Puhelin;Yksikkö;Henkilötunnus;Voimassa asti;Roolit;Ryhmät;Henkilönumero;HSA-id",
        units: &["acme/helsinki", "acme/helsinki/kallio", "acme-tampere", "ACME/Oulu", "acme/nowhere", ""],
        ids: &["131052-308T", "010594Y9032", "010504A906X", "", "131052-308U", "1310523", "131052-308T"],
        roles: &["employee", "occupational-nurse", "unit-admin,employee", "", "wizard", "employee,ghost"],
    },
    Customer {
        dir: "se-vardgivaren",
        tenant: "vardgivaren",
        header: "Förnamn;Efternamn;E-post;Telefon;Enhet;Personnummer;Giltig till;Roller;Grupper;Anställningsnummer;HSA-id",
        units: &["vardgivaren/stockholm", "vardgivaren-malmo", "vardgivaren/goteborg", "vardgivaren/x", ""],
        ids: &["811228-9874", "19811228-9874", "701063-2391", "", "811228-9875", "8112", "701063-2391"],
        roles: &["sjukskoterska", "lakare,enhetschef", "", "wizard", "lakare,ghost"],
    },
    Customer {
        dir: "dk-aarhus",
        tenant: "aarhus-kommune",
        header: "Fornavn;Efternavn;E-mail;Telefon;Enhed;CPR;Gyldig til;Roller;Grupper;Medarbejdernummer;HSA-id",
        units: &["aarhus-kommune/plejecenter-lyngbo", "aarhus-kommune", "aarhus-kommune/none", ""],
        ids: &["070761-4285", "0707614285", "", "320761-4285", "07076", "070761-4285"],
        roles: &["sygeplejerske", "sosu-assistent,leder", "", "wizard", "ghost"],
    },
];

/// One value of a column: mostly a good one, one time in eight a broken one.
fn cell(rng: &mut Rng, good: &[&str], bad: &[&str]) -> String {
    if rng.next() % 8 == 0 && !bad.is_empty() {
        rng.pick(bad).to_string()
    } else {
        rng.pick(good).to_string()
    }
}

fn row(rng: &mut Rng, c: &Customer, n: usize) -> String {
    let (units_good, units_bad) = c.units.split_at(c.units.len() - 2);
    let (ids_good, ids_bad) = c.ids.split_at(c.ids.len() - 3);
    let (roles_good, roles_bad) = c.roles.split_at(c.roles.len() - 2);
    let email = match rng.next() % 16 {
        0 => "same@example.fi".to_string(),
        1 => "SAME@example.fi".to_string(),
        2 => "not-an-email".to_string(),
        3 => format!("Person{n}@Example.FI"),
        _ => format!("person{n}.{}@example.fi", rng.next() % 1000),
    };
    let cells = [
        cell(rng, &["Anna", "Åsa", "Bjørn", "O'Brien", "Li", "  Pekka "], &["", "A\u{1b}[2J"]),
        cell(rng, &["Virtanen", "Ström", "Nielsen"], &[""]),
        email,
        cell(rng, &["+358 40 123 4567", "0046 70 123 45 67", "+46 (0)70 123 45 67", "+45 38 38 92 33", ""], &["call me", "123"]),
        cell(rng, units_good, units_bad),
        cell(rng, ids_good, ids_bad),
        cell(rng, &["2027-12-31", "31.12.2027", ""], &["2027-02-30", "soon"]),
        format!("\"{}\"", cell(rng, roles_good, roles_bad)),
        format!("\"{}\"", cell(rng, &["team-a", "team-a,night", ""], &[])),
        match rng.next() % 10 {
            0 => "E1".to_string(),
            1 => String::new(),
            _ => format!("E{n}-{}", rng.next() % 1000),
        },
        if c.dir == "se-vardgivaren" {
            cell(rng, &["SE5560360793-ABCD", "SE5560360793-XY12", ""], &["SE556036079-1"])
        } else {
            String::new()
        },
    ];
    cells.join(";")
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy(&p, &dest)
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn every_row_import_accepts_plan_accepts() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut imported = 0;
    let mut refused = 0;
    for round in 0..6 {
        for c in &CUSTOMERS {
            let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("import-validator-{}-{round}-{}", std::process::id(), c.dir));
            let _ = std::fs::remove_dir_all(&work);
            copy(&examples.join(c.dir), &work);
            let mut lines = vec![c.header.to_string()];
            lines.extend((0..40).map(|n| row(&mut rng, c, n)));
            let roster = work.join("roster.csv");
            std::fs::write(&roster, lines.join("\n")).unwrap();
            let out = work.join("imported");
            let req = ImportRequest {
                file: roster,
                tenant: c.tenant.into(),
                namespace: None,
                from: vec![work.clone()],
                mapping: None,
                sheet: None,
                out: out.clone(),
                strict: false,
                progress: false,
            };
            let outcome = import(&req).unwrap();
            imported += outcome.created + outcome.updated;
            refused += outcome.problems.len();
            // Everything import wrote, with the customer's manifests, through plan's compile.
            let loaded = accord::manifests::load_paths(&[work.clone()], "default");
            assert!(loaded.problems.is_empty(), "{}: {:?}", c.dir, loaded.problems);
            let compiled = accord::engine::compile(
                &loaded.snapshot,
                jiff::Zoned::now().date(),
                accord::connectors::registry(),
            );
            let written: Vec<_> = std::fs::read_dir(&out)
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .collect();
            for p in compiled.problems.iter().filter(|p| {
                p.origin.as_deref().is_some_and(|o| written.iter().any(|w| o.starts_with(&w.display().to_string())))
            }) {
                panic!("{}: import accepted a row that plan refuses: {p}", c.dir);
            }
            let _ = std::fs::remove_dir_all(&work);
        }
    }
    assert!(imported > 100 && refused > 100, "both kinds of rows: {imported} imported, {refused} refused");
}
