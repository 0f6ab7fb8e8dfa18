//! Reading a roster as a table of strings: CSV (delimiter and encoding detected) or XLSX.

use std::path::Path;

use crate::validate::Invalid;

use super::ImportError;

fn invalid(reason: impl Into<String>) -> Invalid {
    Invalid(reason.into())
}

/// A roster: the header cells and every data row with its spreadsheet row number
/// (the header is row 1).
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Limits that keep a hostile or broken roster from eating the machine: no real staff list
/// comes near them, and each has its own clear error.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
pub const MAX_ROWS: usize = 200_000;
pub const MAX_COLUMNS: usize = 256;
pub const MAX_CELL_CHARS: usize = 32 * 1024;
/// Unpacked size of any one part of a workbook, and of all parts together.
const MAX_PART_BYTES: u64 = 64 << 20;
const MAX_UNPACKED_BYTES: u64 = 256 << 20;

pub fn read_table(path: &Path, sheet: Option<&str>) -> Result<Table, ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let fail = |reason: String| ImportError::read(path, reason);
    let size = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot be read: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "is {} MiB; rosters of more than {} MiB are not read",
            size >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    match ext.as_str() {
        "xlsx" | "xlsm" => read_workbook(path, sheet).map_err(|e| fail(e.to_string())),
        "xls" | "ods" => Err(fail(format!(
            ".{ext} workbooks are not read; save it as .xlsx or .csv"
        ))),
        _ => {
            let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
            read_csv(&bytes).map_err(|e| fail(e.to_string()))
        }
    }
}

/// Checks one row against the limits; `row` as a spreadsheet numbers it.
fn check_row(row: usize, cells: &[String], rows_so_far: usize) -> Result<(), Invalid> {
    if rows_so_far > MAX_ROWS {
        return Err(invalid(format!("has more than {MAX_ROWS} rows; split the roster")));
    }
    if cells.len() > MAX_COLUMNS {
        return Err(invalid(format!(
            "row {row} has {} columns; at most {MAX_COLUMNS} are read",
            cells.len()
        )));
    }
    if let Some(c) = cells.iter().position(|c| c.chars().count() > MAX_CELL_CHARS) {
        return Err(invalid(format!(
            "row {row}, column {}: the cell holds more than {MAX_CELL_CHARS} characters",
            c + 1
        )));
    }
    Ok(())
}

/// UTF-8 with or without BOM; anything that is not UTF-8 is read as Windows-1252, which is
/// what Excel on Nordic Windows writes.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => b as char, // the rest of Windows-1252 is Latin-1
    }
}

/// The delimiter is the one of `;`, `,` and tab that splits the header line most.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

pub fn read_csv(bytes: &[u8]) -> Result<Table, Invalid> {
    let text = decode(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(&text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Table::default();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", i + 1))?;
        let cells: Vec<String> = record.iter().map(|c| c.to_string()).collect();
        // Rows as a spreadsheet shows them: a quoted field over several lines is one row.
        let row = record.position().map_or(i + 1, |p| p.record() as usize + 1);
        check_row(row, &cells, i)?;
        if i == 0 {
            table.headers = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((row, cells));
        }
    }
    if table.headers.is_empty() {
        return Err(invalid("is empty"));
    }
    Ok(table)
}

/// Unpacks every part of the workbook once, counting, before calamine sees it: a part may
/// claim to be small and unpack to gigabytes, and calamine reserves what the file declares
/// (shared strings, sheet dimensions) before it reads.
fn check_workbook(path: &Path) -> Result<(), Invalid> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|_| invalid("is not an .xlsx workbook (not a zip file)"))?;
    if zip.len() > 10_000 {
        return Err(invalid("has more than 10000 parts; it is not a roster"));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| format!("a part cannot be read: {e}"))?;
        let name = part.name().map(|n| n.to_string()).unwrap_or_default();
        let mut head = Vec::new();
        let n = std::io::copy(
            &mut (&mut part).take(MAX_PART_BYTES + 1).inspect_head(&mut head),
            &mut std::io::sink(),
        )
        .map_err(|e| format!("part {name} cannot be unpacked: {e}"))?;
        if n > MAX_PART_BYTES {
            return Err(invalid(format!("part {name} unpacks to more than {} MiB", MAX_PART_BYTES >> 20)));
        }
        total += n;
        if total > MAX_UNPACKED_BYTES {
            return Err(invalid(format!("unpacks to more than {} MiB", MAX_UNPACKED_BYTES >> 20)));
        }
        if name.ends_with("sharedStrings.xml") && declared_count(&head) > (MAX_ROWS * MAX_COLUMNS) as u64 {
            return Err(invalid("declares more shared strings than any roster has"));
        }
    }
    Ok(())
}

/// The `count`/`uniqueCount` a shared-strings part declares (0 when it says none).
fn declared_count(head: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(head);
    ["uniqueCount=\"", " count=\""]
        .iter()
        .filter_map(|attr| {
            let at = text.find(attr)? + attr.len();
            let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
            Some(digits.parse::<u64>().unwrap_or(u64::MAX))
        })
        .max()
        .unwrap_or(0)
}

/// Keeps the first few KiB read through it, for looking at a part's header.
trait InspectHead: std::io::Read + Sized {
    fn inspect_head(self, head: &mut Vec<u8>) -> Head<'_, Self> {
        Head { inner: self, head }
    }
}
impl<R: std::io::Read> InspectHead for R {}

struct Head<'a, R> {
    inner: R,
    head: &'a mut Vec<u8>,
}

impl<R: std::io::Read> std::io::Read for Head<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = 4096usize.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

fn read_workbook(path: &Path, sheet: Option<&str>) -> Result<Table, Invalid> {
    use calamine::{Reader, Xlsx, open_workbook};
    check_workbook(path)?;
    let mut wb: Xlsx<_> =
        open_workbook(path).map_err(|e| invalid(format!("cannot be read as a workbook: {e}")))?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(s))
            .cloned()
            .ok_or_else(|| {
                invalid(format!(
                    "has no sheet {} (sheets: {})",
                    crate::validate::redact::Quoted(s),
                    names.join(", ")
                ))
            })?,
        None => names.first().cloned().ok_or_else(|| invalid("has no sheets"))?,
    };
    let grid = read_cells(&mut wb, &name).map_err(|e| invalid(format!("sheet {name}: {e}")))?;
    let mut table = Table::default();
    for (r, (row, cells)) in grid.into_iter().enumerate() {
        check_row(row as usize + 1, &cells, r)?;
        if r == 0 {
            table.headers = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((row as usize + 1, cells));
        }
    }
    Ok(table)
}

/// The sheet's cells, streamed: rows in order, each as text, with a formula cell shown as
/// `=FORMULA` so that the check for formulas sees it. Nothing is allocated for the sheet's
/// declared dimensions, only for cells that exist, and no more than the limits allow.
fn read_cells<R: std::io::Read + std::io::Seek>(
    wb: &mut calamine::Xlsx<R>,
    name: &str,
) -> Result<Vec<(u32, Vec<String>)>, Invalid> {
    use calamine::DataRef;
    let mut reader = wb.worksheet_cells_reader(name).map_err(|e| e.to_string())?;
    let mut rows: std::collections::BTreeMap<u32, Vec<String>> = std::collections::BTreeMap::new();
    let mut cells = 0usize;
    while let Some(cell) = reader.next_cell_with_formula().map_err(|e| e.to_string())? {
        let (r, c) = cell.pos;
        if c as usize >= MAX_COLUMNS {
            return Err(invalid(format!("row {}: a cell beyond column {MAX_COLUMNS}", r + 1)));
        }
        cells += 1;
        if cells > MAX_ROWS * 64 || rows.len() > MAX_ROWS + 1 {
            return Err(invalid(format!("has more than {MAX_ROWS} rows; split the roster")));
        }
        let text = match (cell.formula.filter(|f| !f.is_empty()), &cell.value) {
            (Some(f), _) => format!("={f}"),
            (None, DataRef::Empty) => continue,
            (None, DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s)) => s.clone(),
            (None, DataRef::SharedString(s)) => s.to_string(),
            (None, DataRef::Int(i)) => i.to_string(),
            (None, DataRef::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            (None, DataRef::Float(f)) => f.to_string(),
            (None, DataRef::Bool(b)) => b.to_string(),
            (None, DataRef::DateTime(d)) => excel_date(d.as_f64()),
            (None, DataRef::Error(e)) => format!("#{e:?}"),
        };
        if text.chars().count() > MAX_CELL_CHARS {
            return Err(invalid(format!(
                "row {}, column {}: the cell holds more than {MAX_CELL_CHARS} characters",
                r + 1,
                c + 1
            )));
        }
        let row = rows.entry(r).or_default();
        if row.len() <= c as usize {
            row.resize(c as usize + 1, String::new());
        }
        row[c as usize] = text;
    }
    Ok(rows.into_iter().collect())
}

/// An Excel serial date (days since 1899-12-30) as ISO 8601.
fn excel_date(serial: f64) -> String {
    let epoch = jiff::civil::date(1899, 12, 30);
    let days = serial.floor();
    if !(0.0..=2_958_465.0).contains(&days) {
        return serial.to_string(); // outside what Excel can hold: left as a number
    }
    match epoch.checked_add(jiff::Span::new().days(days as i64)) {
        Ok(d) => d.to_string(),
        Err(_) => serial.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_delimiter_bom_and_windows_1252() {
        let t = read_csv(b"\xEF\xBB\xBFEtunimi;Sukunimi\nAnna;Virtanen\n").unwrap();
        assert_eq!(t.headers, vec!["Etunimi", "Sukunimi"]);
        assert_eq!(
            t.rows,
            vec![(2, vec!["Anna".to_string(), "Virtanen".to_string()])]
        );
        let t = read_csv(b"F\xf6rnamn,Efternamn\n\xc5sa,Str\xf6m\n").unwrap();
        assert_eq!(t.headers[0], "Förnamn");
        assert_eq!(t.rows[0].1, vec!["Åsa", "Ström"]);
    }

    #[test]
    fn quoted_fields_with_newlines_keep_row_numbers() {
        let t = read_csv(b"a,b\n\"line one\nline two\",x\nnext,y\n").unwrap();
        assert_eq!(t.rows[0].1[0], "line one\nline two");
        assert_eq!(
            t.rows[1].0, 3,
            "a spreadsheet shows the two-line field in one row, so the next is row 3"
        );
        assert_eq!(excel_date(46023.0), "2026-01-01");
    }
}
