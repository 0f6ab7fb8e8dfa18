//! Distinguished names (RFC 4514) and filters (RFC 4515): parsing what the server returns,
//! escaping what accord sends, and where each kind of object lives in the tree.

use crate::validate::Invalid;
use std::fmt;

/// One RDN: attribute type and (unescaped) value. Multi-valued RDNs are kept whole in
/// `value` of the first pair; accord never creates them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rdn {
    pub attr: String,
    pub value: String,
}

/// A parsed DN, leaf first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dn(pub Vec<Rdn>);

impl Dn {
    pub fn parse(s: &str) -> Result<Dn, Invalid> {
        let mut rdns = Vec::new();
        if s.trim().is_empty() {
            return Ok(Dn(rdns));
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        loop {
            // attribute type
            let start = i;
            while i < bytes.len() && bytes[i] != b'=' {
                i += 1;
            }
            if i >= bytes.len() {
                return Err(Invalid::from(format!("{s:?} is not a DN: an RDN has no '='")));
            }
            let attr = s[start..i].trim().to_string();
            i += 1;
            // value, with escapes; unescaped leading spaces are not part of it
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            let mut value: Vec<u8> = Vec::new();
            let mut trailing_space_from = None;
            while i < bytes.len() && bytes[i] != b',' && bytes[i] != b';' && bytes[i] != b'+' {
                if bytes[i] == b'\\' {
                    let next = *bytes
                        .get(i + 1)
                        .ok_or_else(|| format!("{s:?} ends in a lone backslash"))?;
                    if next.is_ascii_hexdigit()
                        && bytes.get(i + 2).is_some_and(|b| b.is_ascii_hexdigit())
                    {
                        let hex =
                            std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|e| e.to_string())?;
                        value.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                        i += 3;
                    } else {
                        value.push(next);
                        i += 2;
                    }
                    trailing_space_from = None;
                } else {
                    if bytes[i] == b' ' {
                        trailing_space_from.get_or_insert(value.len());
                    } else {
                        trailing_space_from = None;
                    }
                    value.push(bytes[i]);
                    i += 1;
                }
            }
            if let Some(cut) = trailing_space_from {
                value.truncate(cut); // unescaped trailing spaces are not part of the value
            }
            let value = String::from_utf8(value)
                .map_err(|_| format!("{s:?} has a value that is not UTF-8"))?;
            if bytes.get(i) == Some(&b'+') {
                // A multi-valued RDN: keep the rest of it in the value, raw.
                let rest_start = i;
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b';' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let raw = format!("{value}{}", &s[rest_start..i.min(s.len())]);
                rdns.push(Rdn { attr, value: raw });
            } else {
                rdns.push(Rdn { attr, value });
            }
            if i >= bytes.len() {
                break;
            }
            i += 1; // the separator
        }
        Ok(Dn(rdns))
    }

    pub fn child(&self, attr: &str, value: &str) -> Dn {
        let mut v = vec![Rdn {
            attr: attr.to_string(),
            value: value.to_string(),
        }];
        v.extend(self.0.iter().cloned());
        Dn(v)
    }

    pub fn parent(&self) -> Dn {
        Dn(self.0.iter().skip(1).cloned().collect())
    }

    pub fn rdn(&self) -> Option<&Rdn> {
        self.0.first()
    }

    /// Comparison form: attribute types and values lower-cased, canonical escaping.
    pub fn normalized(&self) -> String {
        self.0
            .iter()
            .map(|r| {
                format!(
                    "{}={}",
                    r.attr.to_ascii_lowercase(),
                    escape_value(&r.value.to_lowercase())
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn is_under(&self, ancestor: &Dn) -> bool {
        self.0.len() > ancestor.0.len()
            && Dn(self.0[self.0.len() - ancestor.0.len()..].to_vec()).normalized()
                == ancestor.normalized()
    }

    pub fn same(&self, other: &Dn) -> bool {
        self.normalized() == other.normalized()
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| format!("{}={}", r.attr, escape_value(&r.value)))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// Escapes an RDN value (RFC 4514 section 2.4).
pub fn escape_value(v: &str) -> String {
    ldap3::dn_escape(v).into_owned()
}

/// Escapes a value for a search filter (RFC 4515 section 3).
pub fn escape_filter(v: &str) -> String {
    ldap3::ldap_escape(v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_hard_names() {
        for value in [
            "O'Brien, Jr.",
            "Anna+Liisa",
            "*)(uid=*",
            "#1 team",
            " leading",
            "trailing ",
            "a\\b",
            "x=y;z",
            "Ääkkönen <ö>",
        ] {
            let dn = Dn(vec![]).child("dc", "fi").child("cn", value);
            let text = dn.to_string();
            let back = Dn::parse(&text).unwrap();
            assert_eq!(back.rdn().unwrap().value, value, "{text}");
            assert_eq!(back.0.len(), 2, "{text}");
        }
    }

    #[test]
    fn reads_hex_escapes_as_servers_send_them() {
        let dn = Dn::parse("cn=group-O'Brien\\2C Jr.,ou=groups,dc=acme,dc=fi").unwrap();
        assert_eq!(dn.rdn().unwrap().value, "group-O'Brien, Jr.");
        assert_eq!(dn.parent().to_string(), "ou=groups,dc=acme,dc=fi");
        assert!(dn.is_under(&Dn::parse("DC=Acme, dc=FI").unwrap()));
        assert!(
            Dn::parse("cn=x\\2c y,dc=fi")
                .unwrap()
                .same(&Dn::parse("CN=X\\, Y,DC=fi").unwrap())
        );
    }

    #[test]
    fn filter_values_cannot_change_a_search() {
        assert_eq!(escape_filter("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(escape_filter("a\\b"), "a\\5cb");
    }
}
