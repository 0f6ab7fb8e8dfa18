//! Checking every roster row before anything is written. Pure.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::engine::tree::OrgTree;
use crate::validate::{Country, normalise_phone, validate_email, validate_national_id};

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

/// A row that passed every check, normalised. Fields the roster has no column for are None.
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
    pub country: Option<Country>,
    pub roles: Vec<String>,
    pub features: Vec<String>,
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
pub fn parse_date(s: &str) -> Result<Date, String> {
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
            _ => return Err("is not a date (use 2027-12-31 or 31.12.2027)".into()),
        }
    };
    let num = |v: &str| {
        v.trim()
            .parse::<i32>()
            .map_err(|_| "is not a date (use 2027-12-31 or 31.12.2027)".to_string())
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(1900..=2200).contains(&y) {
        return Err("has a year out of range".into());
    }
    Date::new(y as i16, m.clamp(0, 99) as i8, d.clamp(0, 99) as i8)
        .map_err(|_| format!("is a date that does not exist ({d:02}.{m:02}.{y})"))
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

pub fn check_rows(
    table: &Table,
    fields: &[Field],
    ctx: &RowContext,
) -> (Vec<PersonRow>, Vec<RowProblem>) {
    let mut good = Vec::new();
    let mut problems = Vec::new();
    let mut emails: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for (row, cells) in &table.rows {
        let before = problems.len();
        let mut bad = |col: usize, reason: String| {
            let field = fields.get(col).copied().unwrap_or(Field::Ignore);
            problems.push(RowProblem {
                row: *row,
                column: table
                    .headers
                    .get(col)
                    .cloned()
                    .unwrap_or_else(|| format!("column {}", col + 1)),
                value: mask(field, cells.get(col).map(String::as_str).unwrap_or("")),
                reason: crate::validate::redact::shown(&reason).into_owned(),
            });
        };
        let mut p = PersonRow {
            row: *row,
            ..Default::default()
        };
        for (col, field) in fields.iter().enumerate() {
            let cell = cells.get(col).map(String::as_str).unwrap_or("");
            if is_formula(cell) {
                bad(
                    col,
                    "is a spreadsheet formula; rosters must hold values".into(),
                );
                continue;
            }
            let value = cell.trim();
            if !field.is_sensitive()
                && *field != Field::Ignore
                && crate::validate::redact::has_national_id(value)
                && !(*field == Field::Phone && value.chars().all(|c| c.is_ascii_digit() || " +()-".contains(c)) && !value.contains('-'))
            {
                bad(
                    col,
                    "holds what looks like a national identity number; those belong only in the national identity number column (have the columns shifted?)".into(),
                );
                continue;
            }
            match field {
                Field::GivenName | Field::FamilyName => {
                    if value.is_empty() {
                        bad(col, "is empty".into());
                    } else if *field == Field::GivenName {
                        p.given_name = value.to_string();
                    } else {
                        p.family_name = value.to_string();
                    }
                }
                Field::Email => {
                    let email = value.to_lowercase();
                    if let Err(e) = validate_email(&email) {
                        bad(col, e);
                    } else if let Some(first) = emails.get(&email) {
                        bad(
                            col,
                            format!("duplicate person: the same e-mail as row {first}"),
                        );
                    } else {
                        p.email = email;
                    }
                }
                Field::Phone => match value {
                    "" => p.phone = Some(None),
                    v => match normalise_phone(v, ctx.country) {
                        Ok(n) => p.phone = Some(Some(n)),
                        Err(e) => bad(
                            col,
                            format!("is not a phone number that can be written in E.164: it {e}"),
                        ),
                    },
                },
                Field::Unit => match ctx.tree.find(value) {
                    Some(u) => p.unit = u.name.clone(),
                    None if value.is_empty() => bad(col, "is empty".into()),
                    None => bad(
                        col,
                        format!(
                            "is no unit of tenant {} (write the display path, e.g. {}, or an OrgUnit's name)",
                            ctx.tenant,
                            ctx.tree
                                .units
                                .values()
                                .find(|u| u.depth == 1)
                                .map_or("root/unit".to_string(), |u| u.path.clone())
                        ),
                    ),
                },
                Field::NationalId => match (value, ctx.country) {
                    ("", _) => p.national_id = Some(None),
                    (_, None) => bad(
                        col,
                        "cannot be checked: the Tenant has no country (spec.country)".into(),
                    ),
                    (v, Some(c)) => match validate_national_id(c, v) {
                        Err(e) => bad(col, format!("is not a valid {}: {e}", c.id_name())),
                        Ok(()) => {
                            if let Some(first) = ids.get(v) {
                                bad(
                                    col,
                                    format!(
                                        "duplicate person: the same {} as row {first}",
                                        c.id_name()
                                    ),
                                );
                            } else {
                                p.national_id = Some(Some(v.to_string()));
                            }
                        }
                    },
                },
                Field::ValidFrom | Field::ValidUntil => {
                    let parsed = if value.is_empty() {
                        Ok(None)
                    } else {
                        parse_date(value).map(Some)
                    };
                    match parsed {
                        Ok(d) if *field == Field::ValidFrom => p.valid_from = Some(d),
                        Ok(d) => p.valid_until = Some(d),
                        Err(e) => bad(col, e),
                    }
                }
                Field::Roles | Field::Features => {
                    let items = list(value);
                    let declared = if *field == Field::Roles {
                        &ctx.roles
                    } else {
                        &ctx.features
                    };
                    let unknown: Vec<&String> =
                        items.iter().filter(|i| !declared.contains(i)).collect();
                    if !unknown.is_empty() {
                        bad(
                            col,
                            format!("{unknown:?} not declared on Tenant {}", ctx.tenant),
                        );
                    } else if *field == Field::Roles {
                        p.roles = Some(items);
                    } else {
                        p.features = Some(items);
                    }
                }
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
        }
        // Only rows that are imported count as seen: a bad row hides nobody.
        if problems.len() == before {
            emails.insert(p.email.clone(), *row);
            if let Some(Some(id)) = &p.national_id {
                ids.insert(id.clone(), *row);
            }
            good.push(p);
        }
    }
    (good, problems)
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
