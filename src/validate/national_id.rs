//! National identity numbers: Finnish HETU, Swedish personnummer and samordningsnummer,
//! Danish CPR. Error messages never repeat the number itself.

use super::Invalid;
use jiff::civil::Date;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Country {
    Fi,
    Se,
    Dk,
    No,
}

impl Country {
    pub fn from_code(code: &str) -> Option<Self> {
        match code.to_ascii_uppercase().as_str() {
            "FI" => Some(Self::Fi),
            "SE" => Some(Self::Se),
            "DK" => Some(Self::Dk),
            "NO" => Some(Self::No),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Self::Fi => "FI",
            Self::Se => "SE",
            Self::Dk => "DK",
            Self::No => "NO",
        }
    }
    pub fn calling_code(self) -> &'static str {
        match self {
            Self::Fi => "358",
            Self::Se => "46",
            Self::Dk => "45",
            Self::No => "47",
        }
    }
    /// The name of the national identity number, for messages.
    pub fn id_name(self) -> &'static str {
        match self {
            Self::Fi => "HETU",
            Self::Se => "personnummer",
            Self::Dk => "CPR number",
            Self::No => "fødselsnummer",
        }
    }
}

/// Checks a national identity number of `country`. The error says why, without the number.
pub fn validate_national_id(country: Country, value: &str) -> Result<(), Invalid> {
    let v = value.trim();
    match country {
        Country::Fi => hetu(v),
        Country::Se => personnummer(v),
        Country::Dk => cpr(v),
        Country::No => fodselsnummer(v),
    }
}

fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

fn num(d: &[u32]) -> i32 {
    d.iter().fold(0i32, |acc, x| acc * 10 + *x as i32)
}

fn date_ok(year: i32, month: i32, day: i32) -> bool {
    Date::new(year as i16, month as i8, day as i8).is_ok()
}

const HETU_CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// DDMMYYCZZZQ; the century sign is `+` (1800s), `-YXWVU` (1900s) or `ABCDEF` (2000s) since 2023.
fn hetu(v: &str) -> Result<(), Invalid> {
    let b: Vec<char> = v.chars().collect();
    if b.len() != 11 {
        return Err(Invalid::from("a HETU has 11 characters (DDMMYYCZZZQ)"));
    }
    let date = digits(&b[0..6].iter().collect::<String>())
        .ok_or("a HETU starts with six digits (DDMMYY)")?;
    let century = match b[6] {
        '+' => 1800,
        '-' | 'Y' | 'X' | 'W' | 'V' | 'U' => 1900,
        'A' | 'B' | 'C' | 'D' | 'E' | 'F' => 2000,
        _ => return Err(Invalid::from("the HETU century sign is not one of + - Y X W V U A B C D E F")),
    };
    let ind = digits(&b[7..10].iter().collect::<String>())
        .ok_or("the HETU individual number is not three digits")?;
    let (day, month, year) = (
        num(&date[0..2]),
        num(&date[2..4]),
        century + num(&date[4..6]),
    );
    if !date_ok(year, month, day) {
        return Err(Invalid::from("the HETU birth date does not exist"));
    }
    if num(&ind) < 2 {
        return Err(Invalid::from("the HETU individual number must be 002 or more"));
    }
    let n = num(&date) as i64 * 1000 + num(&ind) as i64;
    let expected = HETU_CHECK[(n % 31) as usize] as char;
    if b[10].to_ascii_uppercase() != expected {
        return Err(Invalid::from("the HETU check character does not match"));
    }
    Ok(())
}

/// The Luhn check (personnummer, Swedish organisation numbers).
pub(crate) fn luhn_ok(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

/// YYMMDD-NNNC, YYMMDD+NNNC or YYYYMMDDNNNC; the day is +60 for a samordningsnummer.
fn personnummer(v: &str) -> Result<(), Invalid> {
    let compact: String = v.chars().filter(|c| *c != '-' && *c != '+').collect();
    let d = digits(&compact).ok_or("a personnummer has only digits and one - or +")?;
    let ten = match d.len() {
        10 => d.clone(),
        12 => d[2..].to_vec(),
        _ => return Err(Invalid::from("a personnummer has 10 or 12 digits")),
    };
    let (month, mut day) = (num(&ten[2..4]), num(&ten[4..6]));
    if day > 60 {
        day -= 60; // samordningsnummer
    }
    // The century only matters for 29 February; take a leap-capable year when unknown.
    let year = if d.len() == 12 {
        num(&d[0..4])
    } else {
        2000 + num(&ten[0..2])
    };
    let leap_safe_year = if d.len() == 12 {
        year
    } else if num(&ten[0..2]) % 4 == 0 {
        2000
    } else {
        2001
    };
    if !date_ok(leap_safe_year, month, day) {
        return Err(Invalid::from("the personnummer birth date does not exist"));
    }
    if !luhn_ok(&ten) {
        return Err(Invalid::from("the personnummer check digit does not match (Luhn)"));
    }
    Ok(())
}

/// DDMMYY-SSSS; no mandatory checksum since 2007, so only the date is checked, with the
/// century taken from the seventh digit.
fn cpr(v: &str) -> Result<(), Invalid> {
    let compact: String = v.chars().filter(|c| *c != '-').collect();
    let d = digits(&compact).ok_or("a CPR number has ten digits (DDMMYY-SSSS)")?;
    if d.len() != 10 {
        return Err(Invalid::from("a CPR number has ten digits (DDMMYY-SSSS)"));
    }
    let (day, month, yy, seventh) = (num(&d[0..2]), num(&d[2..4]), num(&d[4..6]), d[6]);
    let century = match seventh {
        0..=3 => 1900,
        4 | 9 => {
            if yy <= 36 {
                2000
            } else {
                1900
            }
        }
        _ => {
            if yy <= 57 {
                2000
            } else {
                1800
            }
        }
    };
    if !date_ok(century + yy, month, day) {
        return Err(Invalid::from("the CPR birth date does not exist"));
    }
    Ok(())
}

/// DDMMYYIIICC with two mod-11 check digits.
fn fodselsnummer(v: &str) -> Result<(), Invalid> {
    let d = digits(v).ok_or("a fødselsnummer has eleven digits")?;
    if d.len() != 11 {
        return Err(Invalid::from("a fødselsnummer has eleven digits"));
    }
    let check = |w: &[u32], n: usize| -> Option<u32> {
        let s: u32 = w.iter().zip(&d[..n]).map(|(a, b)| a * b).sum();
        match 11 - s % 11 {
            11 => Some(0),
            10 => None,
            c => Some(c),
        }
    };
    let k1 = check(&[3, 7, 6, 1, 8, 9, 4, 5, 2], 9);
    let k2 = check(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], 10);
    if k1 != Some(d[9]) || k2 != Some(d[10]) {
        return Err(Invalid::from("the fødselsnummer check digits do not match"));
    }
    Ok(())
}
