//! Deterministic rewrites of example documents: other indentation and quoting styles, flow
//! collections written as blocks, comments, labels, unknown fields, and odd scalars put in
//! typed positions. Some rewrites produce invalid YAML on purpose.

use super::{Rng, SCALARS};

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Every indentation multiplied by `factor`.
pub fn reindent(doc: &str, factor: usize) -> String {
    let lines: Vec<String> = doc
        .lines()
        .map(|l| {
            let n = indent_of(l);
            format!("{}{}", " ".repeat(n * factor), &l[n..])
        })
        .collect();
    join(&lines)
}

/// Block sequences moved to their parent key's indentation (`key:\n- item`).
pub fn seq_at_key_indent(doc: &str) -> String {
    let mut lines: Vec<String> = doc.lines().map(str::to_string).collect();
    let mut i = 0;
    while i + 1 < lines.len() {
        let key = lines[i].clone();
        let next = lines[i + 1].clone();
        let k = indent_of(&key);
        if key.trim_end().ends_with(':')
            && next.trim_start().starts_with("- ")
            && indent_of(&next) == k + 2
        {
            let mut j = i + 1;
            while j < lines.len() && (!is_content(&lines[j]) || indent_of(&lines[j]) > k) {
                if indent_of(&lines[j]) >= 2 {
                    lines[j] = lines[j][2..].to_string();
                }
                j += 1;
            }
        }
        i += 1;
    }
    join(&lines)
}

/// A trailing comment on every content line, and full-line comments between lines.
pub fn commented(doc: &str) -> String {
    let mut out = Vec::new();
    for (n, l) in doc.lines().enumerate() {
        if n % 3 == 0 {
            out.push(format!("{}# comment {n}", " ".repeat(indent_of(l) + n % 2)));
        }
        if is_content(l) && !l.contains('#') {
            out.push(format!("{l}  # note: {n}"));
        } else {
            out.push(l.to_string());
        }
        if n % 4 == 1 {
            out.push(String::new());
        }
    }
    join(&out)
}

/// Plain values after `key: ` quoted with `q`.
pub fn quoted_values(doc: &str, q: char) -> String {
    let lines: Vec<String> = doc
        .lines()
        .map(|l| {
            let Some((k, v)) = l.split_once(": ") else {
                return l.to_string();
            };
            let plain = !v.is_empty() && !v.starts_with(['[', '{', '"', '\'', '#']);
            if plain && !v.contains(q) && !v.contains('\\') && !v.contains(" #") {
                format!("{k}: {q}{v}{q}")
            } else {
                l.to_string()
            }
        })
        .collect();
    join(&lines)
}

/// Splits `a: b, c: d` (no nested brackets or quotes) into its entries.
fn simple_entries(inner: &str) -> Option<Vec<(String, String)>> {
    if inner.contains(['[', '{', '"', '\'']) {
        return None;
    }
    inner
        .split(", ")
        .map(|e| {
            e.split_once(": ")
                .map(|(k, v)| (k.trim().into(), v.trim().into()))
        })
        .collect()
}

/// `- {a: b, c: d}` → a compact block mapping; `key: {a: b}` → a nested block mapping;
/// `key: [a, b]` → a block sequence.
pub fn flow_to_block(doc: &str) -> String {
    let mut out = Vec::new();
    for l in doc.lines() {
        let n = indent_of(l);
        let t = &l[n..];
        if let Some(inner) = t.strip_prefix("- {").and_then(|r| r.strip_suffix('}'))
            && let Some(entries) = simple_entries(inner)
        {
            for (i, (k, v)) in entries.iter().enumerate() {
                let lead = if i == 0 { "- " } else { "  " };
                out.push(format!("{}{lead}{k}: {v}", " ".repeat(n)));
            }
            continue;
        }
        if let Some((key, v)) = t.split_once(": ") {
            if let Some(inner) = v.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
                && let Some(entries) = simple_entries(inner)
            {
                out.push(format!("{}{key}:", " ".repeat(n)));
                for (k, v) in entries {
                    out.push(format!("{}{k}: {v}", " ".repeat(n + 2)));
                }
                continue;
            }
            if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
                && !inner.contains(['[', '{', '"', '\''])
                && !inner.trim().is_empty()
            {
                out.push(format!("{}{key}:", " ".repeat(n)));
                for item in inner.split(',') {
                    out.push(format!("{}- {}", " ".repeat(n + 2), item.trim()));
                }
                continue;
            }
        }
        out.push(l.to_string());
    }
    join(&out)
}

/// Labels and annotations added to `metadata:` (block and flow styles).
pub fn with_metadata(doc: &str, flow: bool) -> String {
    let mut out = Vec::new();
    for l in doc.lines() {
        out.push(l.to_string());
        if l == "metadata:" {
            if flow {
                out.push(
                    "  labels: {app.kubernetes.io/name: accord, tier: \"backend\", 'q': x}".into(),
                );
                out.push("  annotations: {}".into());
            } else {
                out.push("  labels:".into());
                out.push("    app.kubernetes.io/name: accord".into());
                out.push("    example.com/team: \"platform\"".into());
                out.push("    \"quoted.key\": 'v'".into());
                out.push("  annotations:".into());
                out.push("    note: some text, with commas".into());
                out.push("    url: https://example.com/a?b=c".into());
            }
        }
    }
    join(&out)
}

/// Unknown fields under `spec:` and inside the first flow mapping of a sequence item.
pub fn with_unknown_fields(doc: &str) -> String {
    let mut out = Vec::new();
    let mut done_item = false;
    for l in doc.lines() {
        if !done_item && l.trim_start().starts_with("- {") && l.ends_with('}') {
            out.push(format!("{}, extraField: 1}}", &l[..l.len() - 1]));
            done_item = true;
            continue;
        }
        out.push(l.to_string());
        if l == "spec:" {
            out.push("  unknownScalar: x".into());
            out.push("  unknownMap: {a: [1, 2], b: {c: d}}".into());
            out.push("  unknownBlock:".into());
            out.push("    - x".into());
            out.push("    - yy: z".into());
        }
    }
    join(&out)
}

/// The value of line `index` (a `key: value` line) replaced by `scalar`.
pub fn with_value(doc: &str, index: usize, scalar: &str) -> Option<String> {
    let mut lines: Vec<String> = doc.lines().map(str::to_string).collect();
    let line = lines.get(index)?;
    let (k, _) = line
        .split_once(": ")
        .or_else(|| line.ends_with(':').then(|| (&line[..line.len() - 1], "")))?;
    if line.ends_with(':')
        && lines
            .get(index + 1)
            .is_some_and(|n| indent_of(n) > indent_of(line))
    {
        return None; // a key with a nested block: skip
    }
    lines[index] = if scalar.is_empty() {
        format!("{k}:")
    } else {
        format!("{k}: {scalar}")
    };
    Some(join(&lines))
}

/// All rewrites of one document, plus `extra` random scalar substitutions.
pub fn variants(doc: &str, rng: &mut Rng, extra: usize) -> Vec<String> {
    let mut out = vec![
        reindent(doc, 2),
        seq_at_key_indent(doc),
        commented(doc),
        quoted_values(doc, '"'),
        quoted_values(doc, '\''),
        flow_to_block(doc),
        seq_at_key_indent(&flow_to_block(doc)),
        reindent(&flow_to_block(doc), 2),
        with_metadata(doc, false),
        with_metadata(doc, true),
        with_unknown_fields(doc),
        commented(&with_unknown_fields(&flow_to_block(doc))),
    ];
    let value_lines: Vec<usize> = doc
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(": ") || l.ends_with(':'))
        .map(|(i, _)| i)
        .collect();
    for _ in 0..extra {
        let line = rng.pick(&value_lines);
        if let Some(v) = with_value(doc, line, rng.pick(SCALARS)) {
            out.push(v);
        }
    }
    out
}
