//! Fuzzing the two readers that take input from outside: the manifest reader (and compile
//! behind it) and the roster reader (CSV and XLSX). A fixed number of mutated inputs from a
//! deterministic generator, so that a failure reproduces: none may panic, and none may make
//! the process allocate more than a bound (counted by this test binary's own allocator).
//! Then the workbook bombs the issue names: a sheet whose dimension claims a million rows by
//! 16,384 columns, a shared-string count of billions, and a 1 GiB cell.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live bytes and the peak since the last reset.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, failing on a panic or on more than `limit` bytes allocated above the start.
fn bounded(what: &str, limit: usize, f: impl FnOnce()) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = catch_unwind(AssertUnwindSafe(f));
    assert!(r.is_ok(), "{what}: panicked");
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(used < limit, "{what}: allocated {} MiB (bound {} MiB)", used >> 20, limit >> 20);
}

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
}

/// One random edit: a byte inserted, removed or replaced (favouring YAML and CSV syntax),
/// a slice duplicated or cut, or a piece of another input spliced in.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    const SPECIAL: &[u8] = b"\t\n\r :-[]{},#&*!|>'\"%@`;\\\x00\xff\xc3\xa4";
    let pos = |rng: &mut Rng, v: &Vec<u8>| rng.below(v.len() + 1);
    let byte = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            SPECIAL[rng.below(SPECIAL.len())]
        } else {
            rng.next() as u8
        }
    };
    match rng.below(6) {
        0 => {
            let at = pos(rng, input);
            let b = byte(rng);
            input.insert(at, b);
        }
        1 if !input.is_empty() => {
            let at = rng.below(input.len());
            input.remove(at);
        }
        2 if !input.is_empty() => {
            let at = rng.below(input.len());
            input[at] = byte(rng);
        }
        3 if !input.is_empty() => {
            let a = rng.below(input.len());
            let b = (a + 1 + rng.below(200)).min(input.len());
            let piece = input[a..b].to_vec();
            let at = pos(rng, input);
            input.splice(at..at, piece.iter().cycle().take(piece.len() * (1 + rng.below(4))).copied());
        }
        4 if !input.is_empty() => {
            let a = rng.below(input.len());
            let b = (a + rng.below(300)).min(input.len());
            input.drain(a..b);
        }
        _ if !other.is_empty() => {
            let a = rng.below(other.len());
            let b = (a + rng.below(400)).min(other.len());
            let at = pos(rng, input);
            input.splice(at..at, other[a..b].iter().copied());
        }
        _ => {}
    }
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

#[test]
fn the_manifest_reader_and_compile_survive_mutated_manifests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    files_under(&root.join("examples"), "yaml", &mut seeds);
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let today = jiff::civil::date(2026, 11, 22);
    let mut rng = Rng(0x5eed_f00d_0123_4567);
    for case in 0..4_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        let other = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(6) {
            mutate(&mut rng, &mut input, &other);
        }
        let text = String::from_utf8_lossy(&input).into_owned();
        bounded(&format!("manifest case {case}"), 64 << 20, || {
            let mut loaded = accord::manifests::Loaded::default();
            accord::manifests::load_text("fuzz.yaml", &text, "t", &mut loaded);
            let compiled = accord::engine::compile(&loaded.snapshot, today, accord::connectors::registry());
            let plan = accord::engine::make_plan(compiled, &Default::default(), &Default::default());
            let _ = plan.render_text(true);
        });
    }
}

#[test]
fn the_roster_reader_survives_mutated_csv_and_xlsx() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/import");
    let csv: Vec<Vec<u8>> = ["acme-henkilosto.csv", "aarhus-medarbejdere.csv"]
        .iter()
        .map(|f| std::fs::read(data.join(f)).unwrap())
        .collect();
    let xlsx = std::fs::read(data.join("vardgivaren-personal.xlsx")).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-rosters-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    for case in 0..3_000 {
        let mut input = csv[rng.below(csv.len())].clone();
        let other = csv[rng.below(csv.len())].clone();
        for _ in 0..1 + rng.below(8) {
            mutate(&mut rng, &mut input, &other);
        }
        bounded(&format!("csv case {case}"), 64 << 20, || {
            if let Ok(table) = accord::producers::import::table::read_csv(&input) {
                let _ = accord::producers::import::mapping::map_columns(&table.headers, &Default::default());
            }
        });
    }
    for case in 0..400 {
        let mut input = xlsx.clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input, &[]);
        }
        let p = dir.join("fuzz.xlsx");
        std::fs::write(&p, &input).unwrap();
        bounded(&format!("xlsx case {case}"), 256 << 20, || {
            let _ = accord::producers::import::table::read_table(&p, None);
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------- workbook bombs ----------

/// A zip archive written by hand: `(name, stored bytes, method, uncompressed size, crc)`.
fn zip(entries: &[(&str, Vec<u8>, u16, u64, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, method, size, crc) in entries {
        let offset = out.len() as u32;
        let size32 = (*size).min(u32::MAX as u64) as u32;
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes());
            }
            h.extend(20u16.to_le_bytes()); // version needed
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(method.to_le_bytes());
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend(size32.to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend([0u8; 6]); // comment len, disk, internal attrs
                h.extend(0u32.to_le_bytes()); // external attrs
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(data);
        central.extend(header(0x0201_4b50, true));
    }
    let at = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn stored(name: &'static str, text: &str) -> (&'static str, Vec<u8>, u16, u64, u32) {
    (name, text.as_bytes().to_vec(), 0, text.len() as u64, crc32(text.as_bytes()))
}

/// The parts every workbook has, around a sheet and shared strings of the test's choosing.
fn workbook(sheet: &str, shared: (&'static str, Vec<u8>, u16, u64, u32)) -> Vec<u8> {
    zip(&[
        stored("[Content_Types].xml", r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#),
        stored("_rels/.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        stored("xl/workbook.xml", r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Personal" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
        stored("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#),
        stored("xl/worksheets/sheet1.xml", sheet),
        shared,
    ])
}

const SHEET_HEAD: &str = r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

#[test]
fn a_sheet_claiming_a_million_rows_by_16384_columns_is_read_by_its_cells() {
    let sheet = format!(
        r#"{SHEET_HEAD}<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Anna</t></is></c><c r="B2" t="inlineStr"><is><t>Virtanen</t></is></c></row></sheetData></worksheet>"#
    );
    let shared = r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>Etunimi</t></si><si><t>Sukunimi</t></si></sst>"#;
    let p = write_tmp("dimension.xlsx", &workbook(&sheet, stored("xl/sharedStrings.xml", shared)));
    bounded("dimension bomb", 64 << 20, || {
        let t = accord::producers::import::table::read_table(&p, None).unwrap();
        assert_eq!(t.headers, ["Etunimi", "Sukunimi"]);
        assert_eq!(t.rows, [(2, vec!["Anna".to_string(), "Virtanen".to_string()])]);
    });
    // A cell far out in that space is refused by name, not allocated for.
    let far = format!(r#"{SHEET_HEAD}<sheetData><row r="1"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>"#);
    let p = write_tmp("far.xlsx", &workbook(&far, stored("xl/sharedStrings.xml", shared)));
    bounded("far cell", 64 << 20, || {
        let e = accord::producers::import::table::read_table(&p, None).unwrap_err().to_string();
        assert!(e.contains("beyond column 256"), "{e}");
    });
}

#[test]
fn a_shared_string_count_of_billions_is_refused_before_it_is_reserved() {
    let sheet = format!(r#"{SHEET_HEAD}<sheetData/></worksheet>"#);
    let shared = r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4000000000" uniqueCount="4000000000"><si><t>a</t></si></sst>"#;
    let p = write_tmp("count.xlsx", &workbook(&sheet, stored("xl/sharedStrings.xml", shared)));
    bounded("shared string count", 64 << 20, || {
        let e = accord::producers::import::table::read_table(&p, None).unwrap_err().to_string();
        assert!(e.contains("shared strings"), "{e}");
    });
}

#[test]
fn a_1_gib_cell_is_refused_while_it_is_unpacked() {
    // One shared string of 1 GiB, deflated: 1,024 copies of one fully flushed deflate block
    // of 1 MiB, then an empty final block. The archive itself is about a megabyte.
    let mib = vec![b'A'; 1 << 20];
    let mut block = Vec::with_capacity(1 << 16);
    let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
    c.compress_vec(&mib, &mut block, flate2::FlushCompress::Full).unwrap();
    let head = br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#;
    let mut data = Vec::new();
    let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
    let mut first = Vec::with_capacity(1024);
    c.compress_vec(head, &mut first, flate2::FlushCompress::Full).unwrap();
    data.extend(&first);
    for _ in 0..1024 {
        data.extend(&block);
    }
    data.extend([0x03, 0x00]); // an empty final block
    let size = head.len() as u64 + (1u64 << 30);
    let shared = ("xl/sharedStrings.xml", data, 8, size, 0);
    let sheet = format!(r#"{SHEET_HEAD}<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#);
    let p = write_tmp("gib.xlsx", &workbook(&sheet, shared));
    assert!(std::fs::metadata(&p).unwrap().len() < 16 << 20);
    bounded("1 GiB cell", 256 << 20, || {
        let e = accord::producers::import::table::read_table(&p, None).unwrap_err().to_string();
        assert!(e.contains("unpacks to more than"), "{e}");
    });
}
