//! What accord may print about a value. National identity numbers (Finnish HETU, Swedish
//! personnummer and samordningsnummer, Danish CPR, Norwegian fødselsnummer) are found by
//! shape and check digit anywhere in a text and masked; control and bidi characters are
//! escaped so that a value can neither forge output lines nor drive the terminal.
//! Every message that can carry a value goes through `masked` (or `shown` for text output).

use std::borrow::Cow;
use std::ops::Range;

use super::national_id::{Country, validate_national_id};

/// Where national identity numbers sit in `text`, with the country whose form matched.
pub fn find_national_ids(text: &str) -> Vec<(Range<usize>, Country)> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // A run right after `+` is a phone number in E.164, never an identity number.
        let starts_run = b[i].is_ascii_digit()
            && (i == 0 || (!b[i - 1].is_ascii_digit() && b[i - 1] != b'+'));
        if !starts_run {
            i += 1;
            continue;
        }
        let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        match candidate(b, i, run) {
            Some((end, country)) => {
                found.push((i..end, country));
                i = end;
            }
            None => i += run,
        }
    }
    found
}

/// The national identity number starting at `start` (a run of `run` digits), if any.
fn candidate(b: &[u8], start: usize, run: usize) -> Option<(usize, Country)> {
    let digits_at = |from: usize, n: usize| {
        b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    let digit_boundary = |end: usize| end >= b.len() || !b[end].is_ascii_digit();
    let alnum_boundary = |end: usize| end >= b.len() || !b[end].is_ascii_alphanumeric();
    let text = |end: usize| std::str::from_utf8(&b[start..end]).unwrap_or("");
    let sep = b.get(start + run).copied();
    // DDMMYY C ZZZ Q (HETU), the century sign and check character in either case.
    if run == 6
        && let Some(c) = sep
        && b"+-ABCDEFUVWXYabcdefuvwxy".contains(&c)
        && digits_at(start + 7, 3)
        && b.get(start + 10).is_some_and(u8::is_ascii_alphanumeric)
        && alnum_boundary(start + 11)
        && validate_national_id(Country::Fi, &text(start + 11).to_ascii_uppercase()).is_ok()
    {
        return Some((start + 11, Country::Fi));
    }
    // YYMMDD-NNNN / YYMMDD+NNNN (personnummer) and DDMMYY-SSSS (CPR).
    if run == 6 && matches!(sep, Some(b'-' | b'+')) && digits_at(start + 7, 4) {
        let end = start + 11;
        if digit_boundary(end) {
            let t = text(end);
            if validate_national_id(Country::Se, t).is_ok() {
                return Some((end, Country::Se));
            }
            if sep == Some(b'-') && validate_national_id(Country::Dk, t).is_ok() {
                return Some((end, Country::Dk));
            }
        }
    }
    // A four-digit year of a person alive or recently dead: 18xx, 19xx or 20xx.
    let century = matches!(b.get(start..start + 2), Some(b"18" | b"19" | b"20"));
    // YYYYMMDD-NNNN
    if run == 8 && century && matches!(sep, Some(b'-' | b'+')) && digits_at(start + 9, 4) {
        let end = start + 13;
        if digit_boundary(end) && validate_national_id(Country::Se, text(end)).is_ok() {
            return Some((end, Country::Se));
        }
    }
    let end = start + run;
    let t = text(end);
    match run {
        10 if validate_national_id(Country::Se, t).is_ok() => Some((end, Country::Se)),
        10 if validate_national_id(Country::Dk, t).is_ok() => Some((end, Country::Dk)),
        11 if validate_national_id(Country::No, t).is_ok() => Some((end, Country::No)),
        12 if century && validate_national_id(Country::Se, t).is_ok() => Some((end, Country::Se)),
        _ => None,
    }
}

/// Whether `text` holds anything with the shape and check digit of a national identity number.
pub fn has_national_id(text: &str) -> bool {
    // Cheap test first: no run of six digits, no number.
    let mut run = 0;
    let six = text.bytes().any(|c| {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        run >= 6
    });
    six && !find_national_ids(text).is_empty()
}

/// `text` with every national identity number in it masked (`******-****`: the separators
/// stay, so a reader can still tell what kind of value it was).
pub fn masked(text: &str) -> Cow<'_, str> {
    if !has_national_id(text) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string().into_bytes();
    for (range, _) in find_national_ids(text) {
        for c in &mut out[range] {
            if c.is_ascii_alphanumeric() {
                *c = b'*';
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII, so the text is still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// Characters that must not reach a terminal or a line-based output as they are: control
/// characters (new lines, escape sequences) and the bidi controls that reorder what is shown.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control and bidi characters escaped (`\n`, `\u{1b}`).
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A value as text output shows it: national identity numbers masked, control characters
/// escaped.
pub fn shown(text: &str) -> Cow<'_, str> {
    match masked(text) {
        Cow::Borrowed(t) => escaped(t),
        Cow::Owned(t) => Cow::Owned(escaped(&t).into_owned()),
    }
}

/// `{:?}`-style quoting for messages, through `shown`: `"Anna"`.
pub struct Quoted<'a>(pub &'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", shown(self.0).replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_found_and_masked() {
        for (text, country) in [
            ("131052-308T", Country::Fi),
            ("010594Y9032", Country::Fi),
            ("010504A906X", Country::Fi),
            ("131052-308t", Country::Fi),
            ("811228-9874", Country::Se),
            ("19811228-9874", Country::Se),
            ("198112289874", Country::Se),
            ("8112289874", Country::Se),
            ("701063-2391", Country::Se), // samordningsnummer: day + 60
            ("070761-4285", Country::Dk),
            ("0707614285", Country::Dk),
            ("01019010046", Country::No),
        ] {
            let found = find_national_ids(text);
            assert_eq!(found.len(), 1, "{text}");
            // Some forms fit two countries (a CPR can pass the Luhn check too): either is masked.
            assert!(found[0].1 == country || country == Country::Dk, "{text}");
            let m = masked(text);
            assert!(!m.chars().any(|c| c.is_ascii_digit()), "{text} → {m}");
            let embedded = format!("row 7: \"{text}\", expected e-mail");
            assert!(!masked(&embedded).contains(text), "{embedded}");
        }
    }

    #[test]
    fn ordinary_numbers_are_left_alone() {
        for text in [
            "+358401234567",
            "+46701234567",
            "+358 40 123 4567",
            "358401234567",
            "SE2321000016-7F3K",
            "1234567-1",
            "556677-8899",
            "00100",
            "E1001",
            "2026-11-23",
            "131052-308U", // wrong check character
        ] {
            assert_eq!(masked(text), text, "{text}");
        }
    }

    #[test]
    fn control_characters_are_escaped_and_ids_masked_together() {
        assert_eq!(shown("Anna\n+ person forged"), "Anna\\n+ person forged");
        assert_eq!(shown("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(shown("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(shown("id 131052-308T\n"), "id ******-****\\n");
        assert_eq!(Quoted("say \"131052-308T\"").to_string(), "\"say \\\"******-****\\\"\"");
    }

    #[test]
    fn multibyte_text_never_panics() {
        for text in ["ä131052-308T", "131052-308ä", "1310529ä", "١٢٣٤٥٦٧٨٩٠", "131052\u{0}308T"] {
            let _ = masked(text);
            let _ = shown(text);
        }
    }
}
