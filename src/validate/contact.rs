//! E-mail addresses and phone numbers.

use super::Invalid;
use super::national_id::Country;

/// A practical RFC 5321 address check: one `@`, a dot-atom local part, a domain of
/// letter/digit/hyphen labels with at least one dot.
pub fn validate_email(email: &str) -> Result<(), Invalid> {
    if email.len() > 254 {
        return Err(Invalid::from("is longer than 254 characters"));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(Invalid::from("has no @"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(Invalid::from("has an empty or over-long part before @"));
    }
    let local_ok = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
    });
    if !local_ok {
        return Err(Invalid::from("has characters or dots not allowed before @"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(Invalid::from("has a domain without a dot"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(Invalid::from("has a domain that is not a host name"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(Invalid::from("has a domain without a top-level domain"));
    }
    Ok(())
}

/// Normalises a phone number to E.164 (`+358401234567`). National numbers (leading 0) take
/// the calling code of `country`; `00` is read as `+`.
pub fn normalise_phone(phone: &str, country: Option<Country>) -> Result<String, Invalid> {
    let trimmed = phone.trim();
    // `+358 (0) 40 123 4567`: the trunk 0 in brackets is dialled only from inside the country.
    let without_trunk;
    let trimmed = match trimmed.find("(0)") {
        Some(i) if trimmed.starts_with('+') && trimmed[..i].chars().filter(char::is_ascii_digit).count() <= 3 => {
            without_trunk = format!("{}{}", &trimmed[..i], &trimmed[i + 3..]);
            without_trunk.as_str()
        }
        _ => trimmed,
    };
    let mut digits = String::new();
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => digits.push('+'),
            ' ' | '-' | '(' | ')' | '.' | '/' | '\u{a0}' => {}
            _ => {
                return Err(Invalid::from(format!(
                    "has a character that is not part of a phone number: {c:?}"
                )));
            }
        }
    }
    let e164 = if let Some(rest) = digits.strip_prefix('+') {
        format!("+{rest}")
    } else if let Some(rest) = digits.strip_prefix("00") {
        format!("+{rest}")
    } else if let Some(rest) = digits.strip_prefix('0') {
        let Some(c) = country else {
            return Err(Invalid::from("is a national number and the country is unknown; write it with +"));
        };
        format!("+{}{rest}", c.calling_code())
    } else if let Some(c) =
        country.filter(|c| matches!(c, Country::Dk | Country::No) && digits.len() == 8)
    {
        // Danish and Norwegian numbers have no trunk prefix.
        format!("+{}{digits}", c.calling_code())
    } else {
        return Err(Invalid::from("does not start with +, 00 or a national 0"));
    };
    let n = e164.len() - 1;
    if !(7..=15).contains(&n) || e164[1..].starts_with('0') {
        return Err(Invalid::from("is not an E.164 number (7 to 15 digits after +)"));
    }
    Ok(e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(validate_email("anna.virtanen@acme.fi").is_ok());
        assert!(validate_email("o'brien+jr@care.example.se").is_ok());
        for bad in [
            "not-an-email",
            "a@b",
            "a..b@acme.fi",
            "@acme.fi",
            "a@-acme.fi",
            "a b@acme.fi",
            "a@acme.1",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalise_phone("+358 40 123 4567", None).unwrap(),
            "+358401234567"
        );
        assert_eq!(
            normalise_phone("040-123 4567", Some(Country::Fi)).unwrap(),
            "+358401234567"
        );
        assert_eq!(
            normalise_phone("0046 70 123 45 67", None).unwrap(),
            "+46701234567"
        );
        assert_eq!(
            normalise_phone("38 38 92 33", Some(Country::Dk)).unwrap(),
            "+4538389233"
        );
        assert_eq!(
            normalise_phone("+358 (0) 40 123 4567", None).unwrap(),
            "+358401234567"
        );
        assert_eq!(
            normalise_phone("+46 (0)70-123 45 67", None).unwrap(),
            "+46701234567"
        );
        assert!(normalise_phone("call me", Some(Country::Fi)).is_err());
        assert!(normalise_phone("123", Some(Country::Fi)).is_err());
    }
}
