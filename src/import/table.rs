//! Reading a roster as a table of strings: CSV (delimiter and encoding detected) or XLSX.

use std::path::Path;

/// A roster: the header cells and every data row with its spreadsheet row number
/// (the header is row 1).
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

pub fn read_table(path: &Path, sheet: Option<&str>) -> Result<Table, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => read_workbook(path, sheet),
        _ => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
            read_csv(&bytes).map_err(|e| format!("{}: {e}", path.display()))
        }
    }
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

pub fn read_csv(bytes: &[u8]) -> Result<Table, String> {
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
        if i == 0 {
            table.headers = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((row, cells));
        }
    }
    if table.headers.is_empty() {
        return Err("is empty".into());
    }
    Ok(table)
}

fn read_workbook(path: &Path, sheet: Option<&str>) -> Result<Table, String> {
    use calamine::{Data, Reader, open_workbook_auto};
    let mut wb = open_workbook_auto(path)
        .map_err(|e| format!("{}: cannot be read as a workbook: {e}", path.display()))?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(s))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{}: has no sheet {s:?} (sheets: {})",
                    path.display(),
                    names.join(", ")
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| format!("{}: has no sheets", path.display()))?,
    };
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| format!("{}: sheet {name}: {e}", path.display()))?;
    // Formulas are kept apart from values; a formula cell is shown as `=FORMULA` so that the
    // check for formulas sees it.
    let formulas = wb.worksheet_formula(&name).ok();
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut table = Table::default();
    for (r, row) in range.rows().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let abs = (row0 + r as u32, col0 + c as u32);
                if let Some(f) = formulas
                    .as_ref()
                    .and_then(|f| f.get_value(abs))
                    .filter(|f| !f.is_empty())
                {
                    return format!("={f}");
                }
                match cell {
                    Data::Empty => String::new(),
                    Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
                    Data::Int(i) => i.to_string(),
                    Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                    Data::Float(f) => f.to_string(),
                    Data::Bool(b) => b.to_string(),
                    Data::DateTime(d) => excel_date(d.as_f64()),
                    Data::Error(e) => format!("#{e:?}"),
                }
            })
            .collect();
        if r == 0 {
            table.headers = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((row0 as usize + r + 1, cells));
        }
    }
    Ok(table)
}

/// An Excel serial date (days since 1899-12-30) as ISO 8601.
fn excel_date(serial: f64) -> String {
    let epoch = jiff::civil::date(1899, 12, 30);
    match epoch.checked_add(jiff::Span::new().days(serial.floor() as i64)) {
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
