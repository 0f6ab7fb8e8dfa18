//! Fuzzing with a deterministic xorshift RNG: mutated example documents and documents
//! generated from a grammar of the subset. The fast path must never panic, and whenever it
//! answers, serde-saphyr must answer the same (value and ignored paths).
//!
//! `FUZZ_CASES` sets the number of mutation cases (default 200,000, split over 4 tests that
//! the harness runs in parallel).


use super::common::*;
use serde_json::Value;

fn cases() -> usize {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000)
}

// ------------------------------------------------------------------------------------------
// Mutations
// ------------------------------------------------------------------------------------------

const CHARS: &[&str] = &[
    ":", "-", "#", "[", "]", "{", "}", ",", "\"", "'", "&", "*", "!", "|", ">", "?", "%", "@", "`",
    "~", " ", " ", " ", "\n", "\t", "\r", ".", "\\", "/", "_", "0", "1", "5", "9", "a", "z", "A",
    "Z", "e", "x", "é", "日", "\u{a0}", "\u{2028}", "\u{feff}", "\u{85}", "\u{1}",
];

const TOKENS: &[&str] = &[
    "true", "false", "null", "~", "yes", "y", "- ", ": ", " #", "''", "\\\"", "\\u00e9", "\\x4",
    "---", "...", "<<", "0x1F", "1e3", ".inf", "00100", "&a ", "*a", "!!str ", "|", "{}", "[]",
    "{a: b}", "[a, b]", "  ", "    ",
];

fn char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn random_pos(rng: &mut Rng, s: &str) -> usize {
    char_boundary(s, rng.below(s.len() + 1))
}

fn mutate(rng: &mut Rng, doc: &str) -> String {
    let mut s = doc.to_string();
    for _ in 0..1 + rng.below(3) {
        s = edit(rng, &s);
    }
    s
}

fn edit(rng: &mut Rng, s: &str) -> String {
    let mut s = s.to_string();
    let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
    match rng.below(10) {
        0 | 1 => {
            let at = random_pos(rng, &s);
            let what = if rng.chance(70) {
                rng.pick(CHARS)
            } else {
                rng.pick(TOKENS)
            };
            s.insert_str(at, what);
        }
        2 if !s.is_empty() => {
            let at = random_pos(rng, &s);
            if let Some(c) = s[at..].chars().next() {
                s.replace_range(at..at + c.len_utf8(), "");
            }
        }
        3 if !s.is_empty() => {
            let at = random_pos(rng, &s);
            if let Some(c) = s[at..].chars().next() {
                s.replace_range(at..at + c.len_utf8(), rng.pick(CHARS));
            }
        }
        4 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let l = lines[i].clone();
            let j = if rng.chance(50) {
                i
            } else {
                rng.below(lines.len())
            };
            lines.insert(j, l);
            s = lines.join("\n") + "\n";
        }
        5 if !lines.is_empty() => {
            lines.remove(rng.below(lines.len()));
            s = lines.join("\n") + "\n";
        }
        6 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let l = &lines[i];
            let n = l.len() - l.trim_start_matches(' ').len();
            let delta = rng.pick(&[-2i32, -1, 1, 2, 4]);
            let new = (n as i32 + delta).max(0) as usize;
            lines[i] = format!("{}{}", " ".repeat(new), &l[n..]);
            s = lines.join("\n") + "\n";
        }
        7 if lines.len() > 1 => {
            let i = rng.below(lines.len() - 1);
            lines.swap(i, i + 1);
            s = lines.join("\n") + "\n";
        }
        8 => {
            let at = random_pos(rng, &s);
            s.truncate(at);
        }
        _ => {
            // Replace a value with a tricky scalar.
            let value_lines: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains(": "))
                .collect();
            if !value_lines.is_empty() {
                let i = rng.pick(&value_lines);
                if let Some(v) = variants::with_value(&s, i, rng.pick(SCALARS)) {
                    s = v;
                }
            }
        }
    }
    s
}

fn bases() -> Vec<String> {
    use variants::*;
    let mut out = Vec::new();
    for (_, d) in example_docs() {
        out.push(commented(&flow_to_block(&d)));
        out.push(seq_at_key_indent(&flow_to_block(&d)));
        out.push(with_unknown_fields(&with_metadata(&d, false)));
        out.push(with_metadata(&d, true));
        out.push(d);
    }
    out
}

fn mutation_run(seed: u64, n: usize) {
    let bases = bases();
    let mut rng = Rng::new(seed);
    let (mut value, mut typed) = (Tally::default(), Tally::default());
    for _ in 0..n {
        let base = bases[rng.below(bases.len())].clone();
        let doc = mutate(&mut rng, &base);
        value.add(&doc, check::<Value>(&doc));
        typed.add(&doc, check::<Object>(&doc));
    }
    value.assert_clean(&format!("mutations (seed {seed}) → serde_json::Value"));
    typed.assert_clean(&format!("mutations (seed {seed}) → typed Object"));
}

#[test]
fn mutations_1() {
    mutation_run(1, cases() / 4);
}

#[test]
fn mutations_2() {
    mutation_run(2, cases() / 4);
}

#[test]
fn mutations_3() {
    mutation_run(3, cases() / 4);
}

#[test]
fn mutations_4() {
    mutation_run(4, cases() - 3 * (cases() / 4));
}

// ------------------------------------------------------------------------------------------
// Documents from a grammar of the subset (with some out-of-subset pieces mixed in)
// ------------------------------------------------------------------------------------------

/// Keys: mostly fields of `Mixed`, some other strings, a few outside the subset.
const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "o",
    "p",
    "q",
    "r",
    "s",
    "t",
    "zz",
    "x1",
    "\"a\"",
    "'b'",
    "\"k e y\"",
    "app.kubernetes.io/name",
    "under_score",
    "\"\"",
];
const ODD_KEYS: &[&str] = &["y", "on", "1", "a b", "-a", "<<", "? a", "&x a", "a\tb"];
/// Scalars every reader takes as a string or a small integer or bool.
const BENIGN: &[&str] = &[
    "x",
    "hello world",
    "Enforce",
    "Observe",
    "2026-01-01",
    "7",
    "0",
    "65535",
    "true",
    "false",
    "é",
    "\"q\"",
    "'it''s'",
    "\"a\\tb\"",
    "https://x.y/z",
    "a:b",
    "x#y",
    "90d",
    "+358 40 160 3028",
    "\"\"",
    "''",
];
struct Gen<'r> {
    rng: &'r mut Rng,
    out: String,
}

impl Gen<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        if self.rng.chance(5) {
            self.out
                .push_str(&format!("{}# c\n", " ".repeat(self.rng.below(indent + 3))));
        }
        if self.rng.chance(3) {
            self.out.push('\n');
        }
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(text);
        if self.rng.chance(8) && !text.ends_with(':') {
            self.out.push_str(" # t");
        }
        self.out.push('\n');
    }

    fn scalar(&mut self) -> String {
        let pool = if self.rng.chance(95) { BENIGN } else { SCALARS };
        (self.rng.pick(pool)).to_string()
    }

    fn key(&mut self) -> &'static str {
        let pool = if self.rng.chance(99) { KEYS } else { ODD_KEYS };
        self.rng.pick(pool)
    }

    fn flow(&mut self, depth: usize) -> String {
        let n = self.rng.below(4);
        let is_map = self.rng.chance(50);
        let items: Vec<String> = (0..n)
            .map(|_| {
                let v = if depth < 3 && self.rng.chance(25) {
                    self.flow(depth + 1)
                } else {
                    self.scalar()
                };
                if is_map {
                    format!("{}: {v}", self.key())
                } else {
                    v
                }
            })
            .collect();
        let sep = if self.rng.chance(80) { ", " } else { "," };
        if is_map {
            format!("{{{}}}", items.join(sep))
        } else {
            format!("[{}]", items.join(sep))
        }
    }

    fn inline_value(&mut self) -> String {
        if self.rng.chance(25) {
            self.flow(0)
        } else {
            self.scalar()
        }
    }

    /// A block mapping whose keys sit at `indent`; `first` is written before the first key
    /// (a `- ` for a compact mapping in a sequence item).
    fn map(&mut self, indent: usize, depth: usize, first: Option<usize>) {
        let n = 1 + self.rng.below(4);
        let mut used = Vec::new();
        for i in 0..n {
            // Mostly distinct keys; a duplicate now and then.
            let mut key = self.key();
            while used.contains(&key) && self.rng.chance(90) {
                key = self.key();
            }
            used.push(key);
            let (at, lead) = match (i, first) {
                (0, Some(dash)) => (dash, format!("-{}", " ".repeat(indent - dash - 1))),
                _ => (indent, String::new()),
            };
            match self.rng.below(if depth < 4 { 6 } else { 3 }) {
                0..=2 => {
                    let v = self.inline_value();
                    self.line(at, &format!("{lead}{key}: {v}"));
                }
                3 => {
                    self.line(at, &format!("{lead}{key}:"));
                    let step = self.rng.pick(&[1, 2, 2, 4]);
                    self.map(indent + step, depth + 1, None);
                }
                _ => {
                    self.line(at, &format!("{lead}{key}:"));
                    let step = self.rng.pick(&[0, 2, 2, 3]);
                    self.seq(indent + step, depth + 1);
                }
            }
        }
    }

    fn seq(&mut self, indent: usize, depth: usize) {
        let n = 1 + self.rng.below(4);
        for _ in 0..n {
            match self.rng.below(if depth < 4 { 6 } else { 3 }) {
                0 | 1 => {
                    let v = self.inline_value();
                    self.line(indent, &format!("- {v}"));
                }
                2 => {
                    let gap = self.rng.pick(&[1, 1, 3]);
                    self.map(indent + 1 + gap, depth + 1, Some(indent));
                }
                3 if self.rng.chance(10) => self.line(indent, "-"), // a null item
                4 => {
                    self.line(indent, "-");
                    let step = self.rng.pick(&[2, 3]);
                    self.map(indent + step, depth + 1, None);
                }
                _ => {
                    self.line(indent, "-");
                    self.seq(indent + 2, depth + 1);
                }
            }
        }
    }
}

fn generate(rng: &mut Rng) -> String {
    let mut g = Gen {
        rng,
        out: String::new(),
    };
    if g.rng.chance(10) {
        g.seq(0, 0);
    } else {
        g.map(0, 0, None);
    }
    g.out
}

#[test]
fn generated_documents() {
    let mut rng = Rng::new(99);
    let (mut value, mut typed) = (Tally::default(), Tally::default());
    for _ in 0..cases() / 4 {
        let doc = generate(&mut rng);
        value.add(&doc, check::<Value>(&doc));
        typed.add(&doc, check::<Mixed>(&doc));
    }
    value.assert_clean("grammar → serde_json::Value");
    typed.assert_clean("grammar → Mixed");
    assert!(value.agree > value.cases / 20, "too few answers: {value:?}");
}
