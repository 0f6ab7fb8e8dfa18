//! Kubernetes-style durations: `90d`, `10m`, `1h30m`.
use super::Invalid;

/// The longest duration accord accepts: a hundred years. Longer ones are typos, and date
/// arithmetic on them would overflow.
pub const MAX_SECONDS: u64 = 36_500 * 86_400;

/// Parses a duration into seconds.
pub fn parse_duration(s: &str) -> Result<u64, Invalid> {
    if s.is_empty() {
        return Err(Invalid::from("is empty; write e.g. 90d, 10m or 1h30m"));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(Invalid::from(format!(
                    "has unit {c:?}; use d, h, m or s, e.g. 90d or 1h30m"
                )));
            }
        };
        if number.is_empty() {
            return Err(Invalid::from(format!("has unit {c:?} without a number before it")));
        }
        let n: u64 = number
            .parse()
            .map_err(|_| "has a number that is too large".to_string())?;
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .filter(|t| *t <= MAX_SECONDS)
            .ok_or("is longer than a hundred years (36500d)")?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(Invalid::from("ends in a number without a unit; write e.g. 90d or 10m"));
    }
    if total > MAX_SECONDS {
        return Err(Invalid::from("is longer than a hundred years (36500d)"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("10m"), Ok(600));
        for bad in ["", "90", "ten minutes", "5w", "m", "1h30", "999999999d", "36501d", "99999999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
