//! The Perl expressions accord gives LemonLDAP::NG, and a checker of exactly their grammar.
//!
//! The Manager API stores any rule or macro, even broken Perl, and the portal then drops the
//! whole relying party in silence. So accord writes only these forms, from validated names,
//! and checks every expression against this grammar before sending it:
//!
//! ```text
//! rule   := "0"                                       (nobody)
//!         | [ "$_dn =~ /," DN "\z/i and " ] "$uid =~ /\A(?:" NAME { "|" NAME } ")\z/"
//! NAME   := [a-z0-9] { [a-z0-9] | "-" | "\." } ; a Kubernetes name, dots escaped
//! DN     := { [A-Za-z0-9 _-] | "\." | "\x3d" | "," }    ; `=` written \x3d: the manager
//!                                                       ; takes a bare `=` for an assignment
//! macro  := one of LIST_MACROS, verbatim
//! ```
//!
//! LemonLDAP rewrites expressions before compiling them: `$name` becomes a session variable
//! and the word `skip` becomes a constant, even inside a regular expression. accord's
//! expressions hold no `$` but the two variables above, and `skip` is written `[s]kip`.

use crate::validate::Invalid;
use crate::validate::redact::Quoted;

/// Session variables accord computes per relying party from the directory's groups
/// (`role-*`, `feature-*`, `group-*`, joined by `"; "` in LemonLDAP's `groups`).
pub const LIST_MACROS: [(&str, &str, &str); 3] = [
    (
        "roles",
        "accordRoles",
        r#"join("; ", map { substr($_, 5) } grep { /\Arole-/ } split(/; /, $groups))"#,
    ),
    (
        "features",
        "accordFeatures",
        r#"join("; ", map { substr($_, 8) } grep { /\Afeature-/ } split(/; /, $groups))"#,
    ),
    (
        "groups",
        "accordGroups",
        r#"join("; ", map { substr($_, 6) } grep { /\Agroup-/ } split(/; /, $groups))"#,
    ),
];

/// The macro (session variable, expression) that computes a list claim, if it is one.
pub fn macro_for(claim: &str) -> Option<(&'static str, &'static str)> {
    LIST_MACROS
        .iter()
        .find(|(c, _, _)| *c == claim)
        .map(|(_, var, expr)| (*var, *expr))
}

/// Checks a macro: only accord's own, verbatim.
pub fn check_macro(var: &str, expr: &str) -> Result<(), Invalid> {
    if LIST_MACROS.iter().any(|(_, v, e)| *v == var && *e == expr) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "macro {} is not one accord writes; refused before sending",
            Quoted(var)
        )))
    }
}

/// The access rule letting in exactly `people` (UserGrant names), and only under
/// `people_dn` when the directory is known.
pub fn rule(people_dn: Option<&str>, people: &[String]) -> Result<String, Invalid> {
    if people.is_empty() {
        return Ok("0".into());
    }
    let mut names = Vec::with_capacity(people.len());
    for p in people {
        names.push(name_literal(p)?);
    }
    let uid = format!(r"$uid =~ /\A(?:{})\z/", names.join("|"));
    let out = match people_dn {
        Some(dn) => format!(r"$_dn =~ /,{}\z/i and {uid}", dn_literal(dn)?),
        None => uid,
    };
    // What is sent is what the checker accepts, always.
    parse_rule(&out)?;
    Ok(out)
}

/// A rule read back: the people it lets in and the DN suffix it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRule {
    pub people_dn: Option<String>,
    pub people: Vec<String>,
}

/// Parses a rule of accord's grammar; anything else is refused with where it went wrong.
pub fn parse_rule(s: &str) -> Result<ParsedRule, Invalid> {
    if s == "0" {
        return Ok(ParsedRule {
            people_dn: None,
            people: vec![],
        });
    }
    let fail = |why: &str| Err(Invalid(format!("the rule is not one accord writes: {why}")));
    let (people_dn, rest) = match s.strip_prefix("$_dn =~ /,") {
        Some(r) => {
            let Some((dn, rest)) = r.split_once(r"\z/i and ") else {
                return fail("the DN condition does not end in \\z/i and");
            };
            let Some(dn) = read_dn(dn) else {
                return fail("the DN holds something other than letters, digits, ' ', '_', '-', '\\.', '\\x3d' and ','");
            };
            (Some(dn), rest)
        }
        None => (None, s),
    };
    let Some(list) = rest
        .strip_prefix(r"$uid =~ /\A(?:")
        .and_then(|r| r.strip_suffix(r")\z/"))
    else {
        return fail("no $uid =~ /\\A(?:…)\\z/ list");
    };
    let mut people = Vec::new();
    for lit in list.split('|') {
        match read_name(lit) {
            Some(n) => people.push(n),
            None => return fail("a name in the list is not a plain name"),
        }
    }
    Ok(ParsedRule { people_dn, people })
}

/// A Kubernetes name as a regex literal: dots escaped, `skip` broken up.
fn name_literal(name: &str) -> Result<String, Invalid> {
    let plain = !name.is_empty()
        && name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !plain {
        return Err(Invalid(format!(
            "{} is not a name accord puts into a LemonLDAP rule",
            Quoted(name)
        )));
    }
    Ok(break_skip(&name.replace('.', r"\.")))
}

fn read_name(lit: &str) -> Option<String> {
    let name = unbracket(lit).replace(r"\.", ".");
    let ok = name_literal(&name).ok()? == lit;
    ok.then_some(name)
}

fn dn_literal(dn: &str) -> Result<String, Invalid> {
    if dn.is_empty()
        || !dn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '=' | ','))
    {
        return Err(Invalid(format!(
            "the people DN {} holds characters accord does not put into a LemonLDAP rule",
            Quoted(dn)
        )));
    }
    Ok(break_skip(
        &dn.replace('.', r"\.").replace('=', r"\x3d"),
    ))
}

fn read_dn(lit: &str) -> Option<String> {
    let dn = unbracket(lit).replace(r"\x3d", "=").replace(r"\.", ".");
    (dn_literal(&dn).ok()? == lit).then_some(dn)
}

/// Undoes `break_skip` (the caller checks that writing it again gives the same text).
fn unbracket(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let mut cs = tail.chars();
        match (cs.next(), cs.next()) {
            (Some(c), Some(']')) => {
                out.push(c);
                rest = &tail[c.len_utf8() + 1..];
            }
            _ => {
                out.push('[');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `skip` as a word would be rewritten by the portal: write its first letter as a class.
fn break_skip(s: &str) -> String {
    let b = s.as_bytes();
    let word = |i: usize| i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_');
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let at_word_start = i == 0 || !word(i - 1);
        if at_word_start && s[i..].len() >= 4 && s[i..i + 4].eq_ignore_ascii_case("skip") && !word(i + 4) {
            out.push('[');
            out.push_str(&s[i..i + 1]);
            out.push(']');
            out.push_str(&s[i + 1..i + 4]);
            i += 4;
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// An `exportedVars` value accord writes: `var` or `var;string;always`.
pub fn check_exported(spec: &str) -> Result<(), Invalid> {
    let mut parts = spec.split(';');
    let var = parts.next().unwrap_or("");
    let var_ok = var.starts_with(|c: char| c.is_ascii_alphabetic())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest: Vec<&str> = parts.collect();
    let rest_ok = rest.is_empty() || rest == ["string", "always"];
    if var_ok && rest_ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "exported variable {} is not one accord writes",
            Quoted(spec)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_rule_lists_exactly_the_people_and_reads_back() {
        let r = rule(Some("ou=people,dc=acme,dc=fi"), &names(&["anna", "liisa.k", "skip", "a-skip-b"])).unwrap();
        assert_eq!(
            r,
            r"$_dn =~ /,ou\x3dpeople,dc\x3dacme,dc\x3dfi\z/i and $uid =~ /\A(?:anna|liisa\.k|[s]kip|a-[s]kip-b)\z/"
        );
        assert!(!r.contains("skip"), "the portal would rewrite the word skip");
        let back = parse_rule(&r).unwrap();
        assert_eq!(back.people, names(&["anna", "liisa.k", "skip", "a-skip-b"]));
        assert_eq!(back.people_dn.as_deref(), Some("ou=people,dc=acme,dc=fi"));
        assert_eq!(rule(None, &names(&["anna"])).unwrap(), r"$uid =~ /\A(?:anna)\z/");
    }

    #[test]
    fn nobody_is_zero_never_an_empty_list() {
        assert_eq!(rule(Some("ou=people,dc=x"), &[]).unwrap(), "0");
        assert_eq!(parse_rule("0").unwrap().people, Vec::<String>::new());
        assert!(parse_rule(r"$uid =~ /\A(?:)\z/").is_err());
    }

    #[test]
    fn anything_but_accords_grammar_is_refused() {
        for bad in [
            "1",
            r"$uid =~ /\A(?:anna)\z/ or 1",
            r"$uid =~ /\A(?:anna|.*)\z/",
            r"$uid =~ /\A(?:anna)\z/; system('x')",
            r"$uid =~ /\A(?:ann$a)\z/",
            r#"$uid =~ /\A(?:anna")\z/"#,
            r"$_dn =~ /,ou=people\z/i and $uid =~ /\A(?:anna)\z/",
            r"$_dn =~ /,ou\x3dpeople\z/i and 1",
            r"inGroup('x')",
            r"$uid =~ /\A(?:skip)\z/",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_dns_that_cannot_be_written_are_refused() {
        assert!(rule(None, &names(&["Anna"])).is_err());
        assert!(rule(None, &names(&["a$b"])).is_err());
        assert!(rule(None, &names(&["a|b"])).is_err());
        assert!(rule(Some("ou=people,dc=a(b)"), &names(&["a"])).is_err());
        assert!(rule(Some("ou=pe\"ople"), &names(&["a"])).is_err());
    }

    #[test]
    fn macros_and_exported_variables_are_accords_own() {
        for (_, var, expr) in LIST_MACROS {
            assert_eq!(check_macro(var, expr), Ok(()));
            assert!(!expr.contains("skip") && !expr.contains("sort"));
        }
        assert!(check_macro("accordRoles", "1").is_err());
        assert!(check_macro("other", LIST_MACROS[0].2).is_err());
        assert_eq!(check_exported("mail"), Ok(()));
        assert_eq!(check_exported("accordRoles;string;always"), Ok(()));
        assert!(check_exported("mail;int;never").is_err());
        assert!(check_exported("$x").is_err());
        assert!(check_exported("").is_err());
    }
}
