//! Organisation identifiers and login methods.

use super::Invalid;
use crate::api::{AssuranceLevel, IdentifierScheme};

use super::national_id::Country;

/// Checks an organisation identifier's format and check digit.
pub fn validate_identifier(scheme: IdentifierScheme, value: &str) -> Result<(), Invalid> {
    let d: Option<Vec<u32>> = value
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_digit(10))
        .collect();
    match scheme {
        IdentifierScheme::FiBusinessId => {
            // 1234567-8: weights 7 9 10 5 8 4 2, mod 11; remainder 1 is never issued.
            let d = d
                .filter(|d| d.len() == 8 && value.len() == 9 && value.as_bytes()[7] == b'-')
                .ok_or("a Finnish business ID is written 1234567-8")?;
            let s: u32 = [7, 9, 10, 5, 8, 4, 2]
                .iter()
                .zip(&d)
                .map(|(w, x)| w * x)
                .sum();
            let check = match s % 11 {
                0 => 0,
                1 => return Err(Invalid::from("is not a valid Finnish business ID (check digit)")),
                r => 11 - r,
            };
            if check != d[7] {
                return Err(Invalid::from("is not a valid Finnish business ID (check digit)"));
            }
        }
        IdentifierScheme::SeOrgNumber => {
            let d = d
                .filter(|d| d.len() == 10)
                .ok_or("a Swedish organisation number is written 556677-8899")?;
            let luhn = super::national_id::luhn_ok(&d);
            if !luhn {
                return Err(Invalid::from("is not a valid Swedish organisation number (Luhn)"));
            }
        }
        IdentifierScheme::DkCvr => {
            let d = d
                .filter(|d| d.len() == 8)
                .ok_or("a Danish CVR number has eight digits")?;
            let s: u32 = [2, 7, 6, 5, 4, 3, 2, 1]
                .iter()
                .zip(&d)
                .map(|(w, x)| w * x)
                .sum();
            if s % 11 != 0 {
                return Err(Invalid::from("is not a valid Danish CVR number (mod 11)"));
            }
        }
        IdentifierScheme::HsaId => {
            // Byte positions are safe once the value is known to be ASCII.
            let ok = value.is_ascii()
                && value.len() > 13
                && value[..2].chars().all(|c| c.is_ascii_uppercase())
                && value[2..12].chars().all(|c| c.is_ascii_digit())
                && value.as_bytes()[12] == b'-'
                && value[13..].chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(Invalid::from("an HSA-id is written SE2321000016-XXXX"));
            }
        }
        IdentifierScheme::Other => {}
    }
    Ok(())
}

/// The country an identifier scheme belongs to.
pub fn scheme_country(scheme: IdentifierScheme) -> Option<Country> {
    match scheme {
        IdentifierScheme::FiBusinessId => Some(Country::Fi),
        IdentifierScheme::SeOrgNumber | IdentifierScheme::HsaId => Some(Country::Se),
        IdentifierScheme::DkCvr => Some(Country::Dk),
        IdentifierScheme::Other => None,
    }
}

/// The eIDAS level a login method reaches. `METHOD@level` states it explicitly
/// (`oidc:entra@substantial`), for IdPs whose level accord cannot know.
pub fn login_method_level(method: &str) -> Result<AssuranceLevel, Invalid> {
    let (name, explicit) = match method.split_once('@') {
        Some((n, l)) => (n, Some(l)),
        None => (method, None),
    };
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == ':')
        && name.matches(':').count() <= 1
        && !name.ends_with(':');
    if !valid_name {
        return Err(Invalid::from(format!(
            "{method:?} is not a login method; write e.g. password, oidc:entra, saml:kombit, siths, suomifi"
        )));
    }
    if let Some(level) = explicit {
        return match level {
            "low" => Ok(AssuranceLevel::Low),
            "substantial" => Ok(AssuranceLevel::Substantial),
            "high" => Ok(AssuranceLevel::High),
            _ => Err(Invalid::from(format!(
                "{method:?} names level {level:?}; use low, substantial or high"
            ))),
        };
    }
    let (family, provider) = name.split_once(':').unwrap_or((name, ""));
    Ok(match (family, provider) {
        ("password", _) => AssuranceLevel::Low,
        ("siths", _) | ("bankid", _) | ("mitid", _) | ("frejaeid", _) => {
            AssuranceLevel::Substantial
        }
        ("suomifi", _) => AssuranceLevel::Substantial,
        ("saml", "kombit") | ("saml", "mitid") | ("oidc", "mitid") => AssuranceLevel::Substantial,
        ("saml", "siths") | ("oidc", "siths") => AssuranceLevel::High,
        ("oidc" | "saml", _) => AssuranceLevel::Low,
        _ => {
            return Err(Invalid::from(format!(
                "{method:?} is not a known login method; write e.g. password, oidc:entra, saml:kombit, siths, suomifi"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(validate_identifier(IdentifierScheme::FiBusinessId, "0112038-9").is_ok());
        assert!(validate_identifier(IdentifierScheme::FiBusinessId, "0112038-8").is_err());
        assert!(validate_identifier(IdentifierScheme::SeOrgNumber, "556036-0793").is_ok());
        assert!(validate_identifier(IdentifierScheme::SeOrgNumber, "556036-0794").is_err());
        assert!(validate_identifier(IdentifierScheme::DkCvr, "55133018").is_ok());
        assert!(validate_identifier(IdentifierScheme::DkCvr, "55133019").is_err());
        assert!(validate_identifier(IdentifierScheme::HsaId, "SE2321000016-1A2B").is_ok());
        assert!(validate_identifier(IdentifierScheme::HsaId, "SE23-1A2B").is_err());
    }

    #[test]
    fn login_levels() {
        assert_eq!(login_method_level("password"), Ok(AssuranceLevel::Low));
        assert_eq!(
            login_method_level("saml:kombit"),
            Ok(AssuranceLevel::Substantial)
        );
        assert_eq!(
            login_method_level("oidc:entra@substantial"),
            Ok(AssuranceLevel::Substantial)
        );
        assert!(login_method_level("fax").is_err());
        assert!(login_method_level("Password").is_err());
    }
}
