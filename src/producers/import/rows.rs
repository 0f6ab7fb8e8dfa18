//! Reading every roster row into a person: cells parsed as a roster writes them (formulas
//! refused, Nordic dates, lists, units by display path). Whether the person is valid is the
//! engine's validator's to say, afterwards, with plan's rules and messages. Pure.

use crate::validate::Invalid;
use jiff::civil::Date;

use crate::engine::tree::OrgTree;

use super::mapping::Field;
use super::table::Table;

/// One bad cell of one row. `value` is masked where the column is sensitive.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowProblem {
    pub row: usize,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// A row as read. Fields the roster has no column for are None.
#[derive(Clone, Debug, Default)]
pub struct PersonRow {
    pub row: usize,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub unit: String,
    pub phone: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub street: Option<Option<String>>,
    pub postal_code: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub national_id: Option<Option<String>>,
    pub valid_from: Option<Option<Date>>,
    pub valid_until: Option<Option<Date>>,
    pub employee_number: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub hsa_id: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
    pub features: Option<Vec<String>>,
}

pub struct RowContext<'a> {
    pub tenant: &'a str,
    pub tree: &'a OrgTree,
}

/// What a spreadsheet would run: a cell starting with `=`, `@`, tab or CR, or with `+` or `-`
/// unless what follows is a plain number or phone number (`+358 40 123 4567`, `-5`).
pub fn is_formula(cell: &str) -> bool {
    let t = cell.trim_start_matches(' ');
    let mut chars = t.chars();
    let phone_like = |rest: &str| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || " ()-./".contains(c))
    };
    match chars.next() {
        Some('=') | Some('@') | Some('\t') | Some('\r') => true,
        Some('+') => !phone_like(chars.as_str()),
        Some('-') => chars.as_str().trim().parse::<f64>().is_err(),
        _ => false,
    }
}

/// ISO 8601 (`2027-12-31`) or the Nordic `31.12.2027`.
pub fn parse_date(s: &str) -> Result<Date, Invalid> {
    let s = s.trim();
    let (y, m, d) = if let Some((d, rest)) = s.split_once('.') {
        let (m, y) = rest
            .split_once('.')
            .ok_or("is not a date (use 2027-12-31 or 31.12.2027)")?;
        (y, m, d)
    } else {
        let mut it = s.splitn(3, '-');
        match (it.next(), it.next(), it.next()) {
            (Some(y), Some(m), Some(d)) => (y, m, d),
            _ => return Err(Invalid::from("is not a date (use 2027-12-31 or 31.12.2027)")),
        }
    };
    let num = |v: &str| {
        v.trim()
            .parse::<i32>()
            .map_err(|_| "is not a date (use 2027-12-31 or 31.12.2027)".to_string())
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(1900..=2200).contains(&y) {
        return Err(Invalid::from("has a year out of range"));
    }
    Date::new(y as i16, m.clamp(0, 99) as i8, d.clamp(0, 99) as i8)
        .map_err(|_| Invalid(format!("is a date that does not exist ({d:02}.{m:02}.{y})")))
}

fn list(cell: &str) -> Vec<String> {
    let mut v: Vec<String> = cell
        .split([',', ';', '\n'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn opt(cell: &str) -> Option<String> {
    let t = cell.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A cell as a report shows it: a sensitive column's value hidden, and any other value with
/// national identity numbers masked (a row whose columns shifted puts one anywhere), escaped
/// and cut short.
pub fn mask(field: Field, value: &str) -> String {
    if field.is_sensitive() && !value.trim().is_empty() {
        return "(hidden)".into();
    }
    let shown = crate::validate::redact::shown(value);
    if shown.chars().count() > 80 {
        format!("{}…", shown.chars().take(80).collect::<String>())
    } else {
        shown.into_owned()
    }
}

/// Every row read; those with a cell that cannot be read are reported instead.
pub fn read_rows(
    table: &Table,
    fields: &[Field],
    ctx: &RowContext,
) -> (Vec<PersonRow>, Vec<RowProblem>) {
    let mut good = Vec::new();
    let mut problems = Vec::new();
    for (row, cells) in &table.rows {
        let before = problems.len();
        let mut bad = |col: usize, reason: String| {
            problems.push(cell_problem(table, fields, *row, cells, col, reason));
        };
        let mut p = PersonRow {
            row: *row,
            ..Default::default()
        };
        for (col, field) in fields.iter().enumerate() {
            let cell = cells.get(col).map(String::as_str).unwrap_or("");
            if let Err(reason) = read_cell(&mut p, *field, cell, ctx) {
                bad(col, reason.into());
            }
        }
        if problems.len() == before {
            good.push(p);
        }
    }
    (good, problems)
}

/// A problem with one cell, its value masked.
pub fn cell_problem(
    table: &Table,
    fields: &[Field],
    row: usize,
    cells: &[String],
    col: usize,
    reason: String,
) -> RowProblem {
    let field = fields.get(col).copied().unwrap_or(Field::Ignore);
    RowProblem {
        row,
        column: table
            .headers
            .get(col)
            .cloned()
            .unwrap_or_else(|| format!("column {}", col + 1)),
        value: mask(field, cells.get(col).map(String::as_str).unwrap_or("")),
        reason: crate::validate::redact::shown(&reason).into_owned(),
    }
}

/// Whether a cell that is not the identity-number column holds what looks like one. A phone
/// number of digits only is left to the phone check.
fn id_out_of_place(field: Field, value: &str) -> bool {
    let digits_only_phone = field == Field::Phone
        && !value.contains('-')
        && value.chars().all(|c| c.is_ascii_digit() || " +()".contains(c));
    !field.is_sensitive()
        && field != Field::Ignore
        && !digits_only_phone
        && crate::validate::redact::has_national_id(value)
}

/// Reads one cell into the person.
fn read_cell(p: &mut PersonRow, field: Field, cell: &str, ctx: &RowContext) -> Result<(), Invalid> {
    if is_formula(cell) {
        return Err(Invalid::from("is a spreadsheet formula; rosters must hold values"));
    }
    let value = cell.trim();
    if id_out_of_place(field, value) {
        return Err(Invalid::from("holds what looks like a national identity number; those belong only in the national identity number column (have the columns shifted?)"));
    }
    match field {
        Field::GivenName | Field::FamilyName if value.is_empty() => return Err(Invalid::from("is empty")),
        Field::GivenName => p.given_name = value.to_string(),
        Field::FamilyName => p.family_name = value.to_string(),
        // Rosters write e-mail in any case; the manifests keep one spelling.
        Field::Email => p.email = value.to_lowercase(),
        Field::Phone => p.phone = Some(opt(value)),
        Field::Unit => p.unit = unit(value, ctx)?,
        Field::NationalId => p.national_id = Some(opt(value)),
        Field::ValidFrom => p.valid_from = Some(date(value)?),
        Field::ValidUntil => p.valid_until = Some(date(value)?),
        Field::Roles => p.roles = Some(list(value)),
        Field::Features => p.features = Some(list(value)),
        Field::Skills => p.skills = Some(list(value)),
        Field::Groups => p.groups = Some(list(value)),
        Field::Street => p.street = Some(opt(value)),
        Field::PostalCode => p.postal_code = Some(opt(value)),
        Field::City => p.city = Some(opt(value)),
        Field::Country => p.country = Some(opt(value).map(|c| c.to_ascii_uppercase())),
        Field::EmployeeNumber => p.employee_number = Some(opt(value)),
        Field::Title => p.title = Some(opt(value)),
        Field::HsaId => p.hsa_id = Some(opt(value)),
        Field::Ignore => {}
    }
    Ok(())
}

fn date(value: &str) -> Result<Option<Date>, Invalid> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_date(value).map(Some)
    }
}

/// A unit by display path (`acme/helsinki`) or by OrgUnit name.
fn unit(value: &str, ctx: &RowContext) -> Result<String, Invalid> {
    match ctx.tree.find(value) {
        Some(u) => Ok(u.name.clone()),
        None if value.is_empty() => Err(Invalid::from("is empty")),
        None => Err(Invalid::from(format!(
            "is no unit of tenant {} (write the display path, e.g. {}, or an OrgUnit's name)",
            ctx.tenant,
            ctx.tree
                .units
                .values()
                .find(|u| u.depth == 1)
                .map_or("root/unit".to_string(), |u| u.path.clone())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_but_not_phone_numbers() {
        assert!(is_formula("=HYPERLINK(\"http://x\",\"click\")"));
        assert!(is_formula("@SUM(A1)"));
        assert!(is_formula("+cmd|' /C calc'!A0"));
        assert!(is_formula("-2+3+cmd"));
        assert!(!is_formula("+358 40 123 4567"));
        assert!(!is_formula("-5"));
        assert!(!is_formula("Mannerheimintie 1"));
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2027-12-31").unwrap(),
            jiff::civil::date(2027, 12, 31)
        );
        assert_eq!(
            parse_date("1.2.2027").unwrap(),
            jiff::civil::date(2027, 2, 1)
        );
        assert!(
            parse_date("31.02.2027")
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(parse_date("soon").is_err());
    }
}
