//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsing, bounded in length,
//! tokens and depth, and evaluation against a resource held as JSON. Attribute names compare
//! without regard to case; string values too, except for attributes that are case-exact
//! (`id`, `externalId`, `value` of a reference).

use serde_json::Value;

use super::error::ScimError;

/// Longest filter or path accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Most tokens in one filter.
const MAX_TOKENS: usize = 512;
/// Deepest nesting of parentheses, `not` and value filters.
const MAX_DEPTH: usize = 16;

/// `urn:…:User:name.givenName` → urn, attribute `name`, sub-attribute `givenName`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn parse(text: &str) -> Result<AttrPath, ScimError> {
        let bad = || ScimError::invalid_path(format!("{:?} is not an attribute path", clip(text)));
        // A schema's URN alone (an extension as a whole).
        if super::schema::is_known_urn(text) {
            return Ok(AttrPath { urn: Some(text.to_string()), attr: String::new(), sub: None });
        }
        let (urn, rest) = match text.rfind(':') {
            Some(i) if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") => {
                (Some(text[..i].to_string()), &text[i + 1..])
            }
            Some(_) => return Err(bad()),
            None => (None, text),
        };
        let mut parts = rest.splitn(2, '.');
        let attr = parts.next().unwrap_or_default();
        let sub = parts.next();
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 128
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !name_ok(attr) || sub.is_some_and(|s| !name_ok(s)) {
            // A URN alone names an extension as a whole.
            if urn.is_some() && rest.is_empty() {
                return Ok(AttrPath { urn: Some(text.to_string()), attr: String::new(), sub: None });
            }
            return Err(bad());
        }
        Ok(AttrPath {
            urn,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// The attribute as text, for messages.
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.urn {
            s.push_str(u);
            if !self.attr.is_empty() {
                s.push(':');
            }
        }
        s.push_str(&self.attr);
        if let Some(sub) = &self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some value of a multi-valued attribute matches.
    ValuePath(AttrPath, Box<Filter>),
}

/// A PATCH path: an attribute, optionally a filter on its values, optionally a
/// sub-attribute of the matching values (`emails[type eq "work"].value`).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(ScimError::invalid_path("the path is empty or longer than 4096 bytes".into()));
        }
        let Some(open) = text.find('[') else {
            return Ok(PatchPath { attr: AttrPath::parse(text)?, filter: None, sub: None });
        };
        let close = text.rfind(']').ok_or_else(|| {
            ScimError::invalid_path(format!("{:?} opens a value filter with [ and never closes it", clip(text)))
        })?;
        if close < open {
            return Err(ScimError::invalid_path(format!("{:?} is not a path", clip(text))));
        }
        let attr = AttrPath::parse(&text[..open])?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "{:?}: a value filter follows the attribute, not a sub-attribute",
                clip(text)
            )));
        }
        let filter = parse_filter_at_depth(&text[open + 1..close], 1)
            .map_err(|e| ScimError::invalid_path(e.detail))?;
        let rest = &text[close + 1..];
        let sub = match rest.strip_prefix('.') {
            Some(s) if AttrPath::parse(s).is_ok_and(|p| p.urn.is_none() && p.sub.is_none()) => {
                Some(s.to_string())
            }
            None if rest.is_empty() => None,
            _ => return Err(ScimError::invalid_path(format!("{:?} is not a path", clip(text)))),
        };
        Ok(PatchPath { attr, filter: Some(filter), sub })
    }
}

pub fn parse_filter(text: &str) -> Result<Filter, ScimError> {
    parse_filter_at_depth(text, 0)
}

fn parse_filter_at_depth(text: &str, depth: usize) -> Result<Filter, ScimError> {
    if text.len() > MAX_LEN {
        return Err(ScimError::invalid_filter("the filter is longer than 4096 bytes".into()));
    }
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, at: 0 };
    let f = p.or(depth)?;
    if p.at != p.tokens.len() {
        return Err(ScimError::invalid_filter(format!(
            "unexpected {} after a complete filter",
            p.tokens[p.at].describe()
        )));
    }
    Ok(f)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Lit(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("{:?}", clip(w)),
            Token::Str(_) => "a string".into(),
            Token::Lit(v) => v.to_string(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::OpenBracket => "[".into(),
            Token::CloseBracket => "]".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if out.len() > MAX_TOKENS {
            return Err(ScimError::invalid_filter(format!("the filter has more than {MAX_TOKENS} parts")));
        }
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => { out.push(Token::Open); i += 1 }
            ')' => { out.push(Token::Close); i += 1 }
            '[' => { out.push(Token::OpenBracket); i += 1 }
            ']' => { out.push(Token::CloseBracket); i += 1 }
            '"' => {
                let (s, next) = string_literal(&chars, i)?;
                out.push(Token::Str(s));
                i = next;
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '\n' | '\r' | '(' | ')' | '[' | ']' | '"') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.to_ascii_lowercase().as_str() {
                    "true" => Token::Lit(Value::Bool(true)),
                    "false" => Token::Lit(Value::Bool(false)),
                    "null" => Token::Lit(Value::Null),
                    _ => match word.parse::<f64>() {
                        Ok(_) if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                            Token::Lit(serde_json::from_str(&word).unwrap_or(Value::String(word)))
                        }
                        _ => Token::Word(word),
                    },
                });
            }
        }
    }
    Ok(out)
}

/// A JSON string literal starting at `chars[at] == '"'`; returns it and where it ends.
fn string_literal(chars: &[char], at: usize) -> Result<(String, usize), ScimError> {
    let mut raw = String::from('"');
    let mut i = at + 1;
    while i < chars.len() {
        let c = chars[i];
        raw.push(c);
        if c == '\\' && i + 1 < chars.len() {
            raw.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '"' {
            return serde_json::from_str::<String>(&raw)
                .map(|s| (s, i + 1))
                .map_err(|_| ScimError::invalid_filter("a string in the filter has an invalid escape".into()));
        }
        i += 1;
    }
    Err(ScimError::invalid_filter("a string in the filter is not closed with \"".into()))
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.and(depth)?;
        while self.peek_word("or") {
            self.at += 1;
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth)?;
        while self.peek_word("and") {
            self.at += 1;
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if depth >= MAX_DEPTH {
            return Err(ScimError::invalid_filter(format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        if self.peek_word("not") && self.tokens.get(self.at + 1) == Some(&Token::Open) {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        match self.tokens.get(self.at).cloned() {
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.or(depth + 1)?;
                self.expect(Token::Close, ")")?;
                Ok(inner)
            }
            Some(Token::Word(w)) => {
                self.at += 1;
                let path = AttrPath::parse(&w).map_err(|e| ScimError::invalid_filter(e.detail))?;
                if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
                    self.at += 1;
                    let inner = self.or(depth + 1)?;
                    self.expect(Token::CloseBracket, "]")?;
                    return Ok(Filter::ValuePath(path, Box::new(inner)));
                }
                self.comparison(path)
            }
            Some(t) => Err(ScimError::invalid_filter(format!("expected an attribute, found {}", t.describe()))),
            None => Err(ScimError::invalid_filter("the filter ends where an attribute was expected".into())),
        }
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        let Some(Token::Word(op)) = self.tokens.get(self.at).cloned() else {
            return Err(ScimError::invalid_filter(format!(
                "{} must be followed by an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
                path.display()
            )));
        };
        self.at += 1;
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "{:?} is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
                    clip(&op)
                )));
            }
        };
        let value = match self.tokens.get(self.at).cloned() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Lit(v)) => v,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "{} {op:?} needs a value: a \"string\", a number, true, false or null",
                    path.display()
                )));
            }
        };
        self.at += 1;
        Ok(Filter::Compare(path, op, value))
    }

    fn expect(&mut self, t: Token, what: &str) -> Result<(), ScimError> {
        if self.tokens.get(self.at) == Some(&t) {
            self.at += 1;
            Ok(())
        } else {
            Err(ScimError::invalid_filter(format!("expected {what}")))
        }
    }
}

/// Attributes whose values compare exactly (case-sensitive).
fn case_exact(attr: &str) -> bool {
    ["id", "externalid", "$ref"].contains(&attr.to_ascii_lowercase().as_str())
}

/// A member of a JSON object by name, without regard to case.
pub fn get_ci<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The object an attribute path starts from: the resource, or the extension its URN names.
pub fn scope_of<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.urn {
        Some(urn) if !super::schema::is_core(urn) => get_ci(resource, urn),
        _ => Some(resource),
    }
}

/// Every value the path reaches (several for a multi-valued attribute).
fn values_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(base) = scope_of(resource, path) else {
        return Vec::new();
    };
    let Some(v) = get_ci(base, &path.attr) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        None => items
            .into_iter()
            // `emails eq "x"` compares the primary value of a multi-valued complex attribute.
            .map(|i| if i.is_object() { get_ci(i, "value").unwrap_or(i) } else { i })
            .collect(),
        Some(sub) => items.into_iter().filter_map(|i| get_ci(i, sub)).collect(),
    }
}

impl Filter {
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::Present(p) => values_at(resource, p)
                .iter()
                .any(|v| !v.is_null() && v.as_str() != Some("") && v.as_array().is_none_or(|a| !a.is_empty())),
            Filter::Compare(p, op, want) => {
                let exact = case_exact(p.sub.as_deref().unwrap_or(&p.attr));
                let found = values_at(resource, p);
                match op {
                    CompareOp::Ne => !found.iter().any(|v| compare(v, CompareOp::Eq, want, exact)),
                    _ => found.iter().any(|v| compare(v, *op, want, exact)),
                }
            }
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(f) => !f.matches(resource),
            Filter::ValuePath(p, inner) => {
                let Some(base) = scope_of(resource, p) else {
                    return false;
                };
                match get_ci(base, &p.attr) {
                    Some(Value::Array(items)) => items.iter().any(|i| inner.matches(i)),
                    Some(v @ Value::Object(_)) => inner.matches(v),
                    _ => false,
                }
            }
        }
    }

    /// The `attr eq "literal"` parts of a value filter (`type eq "work"`), from which a PATCH
    /// creates a value that is missing.
    pub fn equalities(&self) -> Option<Vec<(String, Value)>> {
        match self {
            Filter::Compare(p, CompareOp::Eq, v) if p.urn.is_none() && p.sub.is_none() => {
                Some(vec![(p.attr.clone(), v.clone())])
            }
            Filter::And(a, b) => {
                let mut out = a.equalities()?;
                out.extend(b.equalities()?);
                Some(out)
            }
            _ => None,
        }
    }
}

fn compare(have: &Value, op: CompareOp, want: &Value, exact: bool) -> bool {
    use CompareOp::*;
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = if exact { (h.clone(), w.clone()) } else { (h.to_lowercase(), w.to_lowercase()) };
            match op {
                Eq => h == w,
                Ne => h != w,
                Co => h.contains(&w),
                Sw => h.starts_with(&w),
                Ew => h.ends_with(&w),
                Gt => h > w,
                Ge => h >= w,
                Lt => h < w,
                Le => h <= w,
            }
        }
        // Booleans sent as strings ("True") compare as booleans.
        (Value::Bool(h), Value::String(w)) => {
            matches!(op, Eq) && w.eq_ignore_ascii_case(if *h { "true" } else { "false" })
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            Eq => h == w,
            Ne => h != w,
            _ => false,
        },
        (Value::Number(h), Value::Number(w)) => {
            let (h, w) = (h.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(f64::NAN));
            match op {
                Eq => h == w,
                Ne => h != w,
                Gt => h > w,
                Ge => h >= w,
                Lt => h < w,
                Le => h <= w,
                _ => false,
            }
        }
        (Value::Null, Value::Null) => matches!(op, Eq),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "userName": "Anna.Virtanen@acme.fi",
            "active": true,
            "emails": [{"type": "work", "value": "anna@acme.fi"}, {"type": "home", "value": "a@x.fi"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E1"}
        })
    }

    #[test]
    fn entra_connection_test_and_case_insensitive_user_name() {
        let f = parse_filter("userName eq \"anna.virtanen@ACME.fi\"").unwrap();
        assert!(f.matches(&user()));
        let f = parse_filter("userName eq \"9f3e1c2a-0b3d-4e55-8a1f-0c4d2f6b7a10\"").unwrap();
        assert!(!f.matches(&user()));
    }

    #[test]
    fn and_or_not_value_paths_and_urns() {
        for (text, want) in [
            ("userName eq \"anna.virtanen@acme.fi\" and active eq true", true),
            ("userName eq \"x\" or active eq \"True\"", true),
            ("not (active eq true)", false),
            ("emails[type eq \"work\" and value co \"acme\"]", true),
            ("emails[type eq \"other\"]", false),
            ("emails.value sw \"a@\"", true),
            ("userName ew \"@acme.fi\" AND emails pr", true),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"E1\"", true),
            ("externalId pr", false),
        ] {
            assert_eq!(parse_filter(text).unwrap().matches(&user()), want, "{text}");
        }
    }

    #[test]
    fn bad_filters_say_what_is_wrong_and_deep_ones_stop() {
        for (text, says) in [
            ("userName", "operator"),
            ("userName eq", "needs a value"),
            ("userName xx \"a\"", "not an operator"),
            ("(userName eq \"a\"", "expected )"),
            ("userName eq \"a", "not closed"),
            ("userName eq \"a\" junk", "unexpected"),
            ("emails[type eq \"work\"", "expected ]"),
        ] {
            let e = parse_filter(text).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{text}");
            assert!(e.detail.contains(says), "{text}: {}", e.detail);
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_filter(&deep).unwrap_err().detail.contains("deeper"));
        let nots = format!("{}userName pr{}", "not (".repeat(100), ")".repeat(100));
        assert!(parse_filter(&nots).is_err());
        let long = format!("userName eq \"{}\"", "a".repeat(10_000));
        assert!(parse_filter(&long).unwrap_err().detail.contains("longer"));
        let many = vec!["a pr"; 400].join(" and ");
        assert!(parse_filter(&many).unwrap_err().detail.contains("parts"));
    }

    #[test]
    fn patch_paths() {
        let p = PatchPath::parse("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.attr.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(p.filter.unwrap().equalities().unwrap(), vec![("type".to_string(), json!("work"))]);
        let p = PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager").unwrap();
        assert_eq!(p.attr.urn.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(p.attr.attr, "manager");
        let p = PatchPath::parse("name.givenName").unwrap();
        assert_eq!((p.attr.attr.as_str(), p.attr.sub.as_deref()), ("name", Some("givenName")));
        let p = PatchPath::parse("members[value eq \"a:b]c\"]").unwrap();
        assert!(p.filter.is_some());
        for bad in ["", "emails[type eq \"work\"", "emails]x[", "a b", "emails[type eq \"w\"]x"] {
            assert!(PatchPath::parse(bad).is_err(), "{bad}");
        }
    }
}
