//! YAML as people write it: a BOM, CRLF or lone CR line endings, `%YAML` directives, merge
//! keys, many documents per file. Streams are split into documents by their `---` lines;
//! each document is parsed on its own (one bad document never hides the next) with
//! serde-saphyr under budgets, so that no input can overflow the stack or eat the memory,
//! after a fast path for the plain subset most manifests use. Messages never quote a value:
//! they say where (line, field) and what kind of problem.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_saphyr::{Error as YamlError, Options};

/// One document of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The line of the stream the document's text starts on (1-based).
    pub start: usize,
    /// The first line with content: where the object is said to be.
    pub line: usize,
    pub text: String,
}

pub use crate::api::parse::from_value;

/// A problem reading one document: the line in the stream, the field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub field: String,
    pub reason: String,
}

/// The text with a leading BOM removed and every line ending written as `\n`, so that lines
/// count the same everywhere (a lone `\r` ends a line too, as in YAML).
pub fn normalise(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Whether a line says something (not blank, not only a comment, not a directive).
fn has_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#') && !line.starts_with('%')
}

/// Splits a normalised stream into its documents. A `---` at the start of a line always
/// starts a document (YAML reserves it); `...` ends one. Directives and comments before a
/// `---` stay with the document they introduce. Documents without content are left out.
pub fn split_documents(text: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut content: Option<usize> = None;
    let mut finish = |lines: &mut Vec<&str>, start: usize, content: &mut Option<usize>| {
        if let Some(line) = content.take() {
            let mut text = lines.join("\n");
            text.push('\n');
            docs.push(Document { start, line, text });
        }
        lines.clear();
    };
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if is_marker(line, "...") {
            finish(&mut lines, start, &mut content);
            continue;
        }
        if is_marker(line, "---") {
            if content.is_some() {
                finish(&mut lines, start, &mut content);
            }
            // Content on the marker line (`--- {a: b}`) belongs to the document.
            if has_content(&line[3..]) {
                content = Some(n);
            }
        } else if lines.is_empty() && line.trim().is_empty() {
            continue; // blank lines between documents
        } else if has_content(line) {
            content.get_or_insert(n);
        }
        if lines.is_empty() {
            start = n;
        }
        lines.push(line);
    }
    finish(&mut lines, start, &mut content);
    docs
}

/// Budgets: Kubernetes objects are shallow and small; a document that needs more than this
/// is a mistake or an attack, and is refused with a clear error instead of eating the machine.
fn options() -> Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: 48,
            max_nodes: 2_000_000,
            max_events: 6_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_total_scalar_bytes: 256 << 20,
            max_documents: 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// Deserialises one document into `T`, reporting the failing field's path and, through
/// `unknown`, every field `T` does not have (a misspelt field would otherwise vanish).
pub fn typed<T: DeserializeOwned>(
    doc: &Document,
    unknown: &mut dyn FnMut(String),
) -> Result<T, ParseError> {
    if let Some(text) = fast_text(&doc.text)
        && let Some(v) = super::fast::from_str_fast::<T>(&text, unknown)
    {
        return Ok(v);
    }
    let mut track = serde_path_to_error::Track::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(&doc.text, options(), |de| {
        let de = serde_path_to_error::Deserializer::new(de, &mut track);
        let mut note = |p: serde_ignored::Path| unknown(p.to_string());
        T::deserialize(serde_ignored::Deserializer::new(de, &mut note))
    });
    result.map_err(|e| {
        let field = field_of(&track.path().to_string());
        let reason = match reason(&e) {
            r if r == "has an invalid value" && is_date_field(&field) => {
                "is not a date that exists (write it as 2027-12-31)".to_string()
            }
            r => r,
        };
        ParseError {
            line: line_of(doc, &e),
            field,
            reason,
        }
    })
}

/// A file of one YAML document (a mapping file): normalised, parsed with the same budgets
/// and messages as manifests.
pub fn from_single<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let text = normalise(text);
    let doc = split_documents(&text).into_iter().next().unwrap_or(Document {
        start: 1,
        line: 1,
        text: "{}\n".into(),
    });
    typed(&doc, &mut |_| {})
}

/// The document as the fast path takes it: without its `---` line (blanked, so that lines
/// still count the same); none when it has directives or content on the marker line.
fn fast_text(text: &str) -> Option<Cow<'_, str>> {
    if text.starts_with('%') || text.contains("\n%") {
        return None;
    }
    match text.find("---") {
        None => Some(Cow::Borrowed(text)),
        Some(at) if (at == 0 || text.as_bytes()[at - 1] == b'\n') && text[at..].starts_with("---\n") => {
            Some(Cow::Owned(format!("{}{}", &text[..at], &text[at + 3..])))
        }
        Some(_) if !text.lines().any(|l| l.starts_with("---")) => Some(Cow::Borrowed(text)),
        Some(_) => None,
    }
}

/// Parses one document into a generic value (for kinds other than accord's, Lists and
/// Secrets).
pub fn value(doc: &Document) -> Result<serde_json::Value, ParseError> {
    serde_saphyr::from_str_with_options::<serde_json::Value>(&doc.text, options()).map_err(|e| {
        ParseError {
            line: line_of(doc, &e),
            field: String::new(),
            reason: reason(&e),
        }
    })
}

/// Fields that hold a calendar date, for a message that says what to write.
fn is_date_field(field: &str) -> bool {
    ["validFrom", "validUntil", "lastAttested"]
        .iter()
        .any(|f| field.ends_with(f))
}

fn line_of(doc: &Document, e: &YamlError) -> usize {
    e.location()
        .map(|l| doc.start + (l.line() as usize).saturating_sub(1))
        .unwrap_or(doc.line)
}

use crate::api::parse::field_of;

/// Why a document could not be read, in words that never repeat a value from it.
pub fn reason(e: &YamlError) -> String {
    use serde_saphyr::{MessageFormatter, UserMessageFormatter};
    let text = match e.without_snippet() {
        YamlError::SerdeInvalidType { expected, .. } => {
            format!("has the wrong type (expected {expected})")
        }
        YamlError::SerdeInvalidValue { expected, .. } => {
            format!("has an invalid value (expected {expected})")
        }
        YamlError::SerdeUnknownVariant { expected, .. } => {
            format!("is not one of {}", expected.join(", "))
        }
        YamlError::AliasError { error, .. } => return reason(error),
        YamlError::Message { .. }
        | YamlError::NonFiniteFloat { .. }
        | YamlError::QuotingRequired { .. }
        | YamlError::TaggedEnumMismatch { .. }
        | YamlError::UnsupportedTag { .. }
        | YamlError::SerdeVariantId { .. }
        | YamlError::InvalidScalar { .. } => "has an invalid value".into(),
        YamlError::NullIntoString { .. } => "is empty; a value is needed".into(),
        other => UserMessageFormatter.format_message(other).into_owned(),
    };
    let text = text.split(" at line ").next().unwrap_or(&text).to_string();
    let text = if text.starts_with("budget breached") || text.contains("recursion limit") {
        format!("is too large or too deeply nested to be a manifest ({text})")
    } else {
        text
    };
    crate::validate::redact::shown(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, usize)> {
        split_documents(&normalise(text))
            .iter()
            .map(|d| (d.start, d.line))
            .collect()
    }

    #[test]
    fn documents_keep_their_lines() {
        assert_eq!(lines("# c\n---\na: 1\n---\n\n---\nb: 2\nc: 3\n"), [(1, 3), (4, 7)]);
        assert_eq!(lines("a: 1\r\n---\r\nb: 2\r\n"), [(1, 1), (2, 3)]);
        assert_eq!(lines("a: 1\r---\rb: 2\r"), [(1, 1), (2, 3)]);
        assert_eq!(lines("\u{feff}a: 1\n"), [(1, 1)]);
        assert_eq!(lines("%YAML 1.2\n---\na: 1\n...\nb: 2\n"), [(1, 3), (5, 5)]);
        assert_eq!(lines("--- {a: 1}\n--- {b: 2}\n"), [(1, 1), (2, 2)]);
    }

    #[test]
    fn a_directive_stays_with_its_document_and_parses() {
        let docs = split_documents("%YAML 1.2\n---\na: 1\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(value(&docs[0]).unwrap(), serde_json::json!({"a": 1}));
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let docs = split_documents("a: 1\nb:\n  c: 1\n  c: 2\n");
        let e = value(&docs[0]).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("duplicate"), "{}", e.reason);
    }

    #[test]
    fn wrong_types_never_quote_the_value() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            n: u32,
        }
        let docs = split_documents("n: 131052-308T\n");
        let e = typed::<T>(&docs[0], &mut |_| {}).unwrap_err();
        assert_eq!(e.field, "n");
        assert!(!e.reason.contains("131052"), "{}", e.reason);
    }

    #[test]
    fn hostile_documents_are_refused_quickly() {
        let deep = format!("{}x", "[".repeat(20_000));
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
            e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
            g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        let mut nested = String::new();
        for i in 0..200 {
            nested.push_str(&" ".repeat(i));
            nested.push_str("k:\n");
        }
        for text in [deep.as_str(), laughs, nested.as_str()] {
            let docs = split_documents(text);
            assert!(value(&docs[0]).is_err());
        }
    }
}
