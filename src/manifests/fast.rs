//! A fast, conservative deserializer for the subset of YAML that Kubernetes-style manifests use.
//!
//! The full parser (serde-saphyr) is correct and bounded but costs ~70 µs per manifest. This
//! module reads the common subset — block mappings and sequences, one-line flow collections,
//! single-line plain and quoted scalars, comments — in a few µs, and gives up (`None`) on
//! anything else so that the caller falls back to the full parser. Whenever it returns a
//! value, that value is the one serde-saphyr (default options) would produce.
//!
//! How it stays safe:
//! - The document is parsed first, into a flat pre-order node list, by a loop over lines with
//!   an explicit stack (no recursion); anything outside the subset stops the parse.
//! - Size, depth, node-count, key-length and comment-run limits are stricter than saphyr's
//!   defaults, so saphyr never fails a budget where the fast path succeeds.
//! - Scalars are typed only where the answer is certain: strings that no YAML schema would
//!   read as null, bool or number; `true`/`false`; plain decimal integers. Everything else
//!   bails.
//! - Every bail raises a flag on the document, so a result is discarded even if a visitor
//!   swallowed the error (e.g. a "default on error" wrapper).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

/// Larger documents go to the full parser.
const MAX_DOC_BYTES: usize = 1 << 20;
/// Longer lines go to the full parser: keeps every key and potential key far below YAML's
/// 1024-character simple-key limit, which saphyr enforces.
const MAX_LINE_BYTES: usize = 1000;
/// Nesting of collections; saphyr's default budget fails at 65.
const MAX_DEPTH: usize = 64;
/// Nodes per document; saphyr's default budget allows 250,000 (and 1,000,000 events).
const MAX_NODES: usize = 100_000;
/// Consecutive comments; saphyr fails at 32 buffered comments in some positions.
const MAX_COMMENT_RUN: usize = 16;
/// Raw bytes of a mapping key (quotes included).
const MAX_KEY_BYTES: usize = 256;

/// Deserializes one YAML document (already split out of a stream; `\n` line endings; no BOM;
/// no `---`/`...` markers or `%` directives in it) into `T`, when the document uses only the
/// supported subset and `T` deserializes from it without error. `on_ignored` is called with
/// the path (e.g. "spec.foo", "spec.scopes.1.x": serde_ignored's `Path` display) of every
/// field `T` ignored, and only when the result is `Some`. `None`: use the full parser.
pub fn from_str_fast<T: DeserializeOwned>(
    doc: &str,
    on_ignored: &mut dyn FnMut(String),
) -> Option<T> {
    let parsed = Document::parse(doc)?;
    let mut ignored = Vec::new();
    let mut note = |path: serde_ignored::Path| ignored.push(path.to_string());
    let result = T::deserialize(serde_ignored::Deserializer::new(
        parsed.deserializer(),
        &mut note,
    ));
    match result {
        Ok(value) if !parsed.bailed() => {
            ignored.into_iter().for_each(on_ignored);
            Some(value)
        }
        _ => None,
    }
}

/// The fields that say what a manifest is, read without deserializing the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

/// Top-level `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`, typed as
/// `Option<String>` would be by serde-saphyr (absent or null → `None`). `None` when the
/// document is outside the subset, one of these is not a string, or the root or `metadata`
/// is not a mapping.
pub fn head(doc: &str) -> Option<Head> {
    let d = Document::parse(doc)?;
    let mut head = Head::default();
    for (key, value) in d.entries(0)? {
        match d.text(key) {
            "apiVersion" => head.api_version = d.optional_string(value)?,
            "kind" => head.kind = d.optional_string(value)?,
            "metadata" => {
                for (k, v) in d.entries(value)? {
                    match d.text(k) {
                        "name" => head.name = d.optional_string(v)?,
                        "namespace" => head.namespace = d.optional_string(v)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(head)
}

// ---------------------------------------------------------------------------------------------
// The parsed document
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Map,
    Seq,
    /// A plain scalar; an absent value (`key:`) is a plain empty scalar, as in YAML.
    Plain,
    /// A single- or double-quoted scalar: always a string.
    Quoted,
}

/// A node; scalars refer to their text by span (no lifetime, so that node buffers can be
/// reused from one document to the next).
#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    /// The text is `owned[start]` (escapes were resolved) rather than `doc[start..][..text_len]`.
    owned: bool,
    /// One past the last node of this subtree (scalars: own index + 1).
    end: u32,
    /// Entries of a mapping, items of a sequence.
    len: u32,
    start: u32,
    text_len: u32,
}

/// Where scalar texts live: the document, or strings made while resolving escapes.
#[derive(Clone, Copy)]
struct Texts<'t> {
    doc: &'t str,
    owned: &'t [String],
}

impl<'t> Texts<'t> {
    fn of(&self, node: &Node) -> &'t str {
        if node.owned {
            &self.owned[node.start as usize]
        } else {
            let start = node.start as usize;
            &self.doc[start..start + node.text_len as usize]
        }
    }
}

thread_local! {
    /// A node buffer kept between documents: saves an allocation (large enough to be slow in
    /// most allocators) per document.
    static SPARE_NODES: Cell<Vec<Node>> = const { Cell::new(Vec::new()) };
}

/// Keeps a node buffer for the next document on this thread (unless it is large). `try_with`:
/// never panic, even while the thread's locals are being destroyed.
fn recycle(mut nodes: Vec<Node>) {
    if nodes.capacity() <= 1 << 12 {
        nodes.clear();
        let _ = SPARE_NODES.try_with(|spare| spare.set(nodes));
    }
}

fn spare_nodes() -> Vec<Node> {
    SPARE_NODES.try_with(Cell::take).unwrap_or_default()
}

/// A document parsed into the subset: nodes in pre-order; a mapping's children alternate key,
/// value.
pub struct Document<'a> {
    doc: &'a str,
    nodes: Vec<Node>,
    owned: Vec<String>,
    bailed: Cell<bool>,
}

impl Drop for Document<'_> {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.nodes));
    }
}

impl<'a> Document<'a> {
    /// `None` when the text is outside the subset.
    pub fn parse(doc: &'a str) -> Option<Self> {
        if doc.len() > MAX_DOC_BYTES {
            return None;
        }
        let mut parser = Parser::new(doc, spare_nodes());
        if parser.run().is_none() {
            recycle(parser.nodes);
            return None;
        }
        Some(Document {
            doc,
            nodes: parser.nodes,
            owned: parser.owned,
            bailed: Cell::new(false),
        })
    }

    fn texts(&self) -> Texts<'_> {
        Texts {
            doc: self.doc,
            owned: &self.owned,
        }
    }

    /// The text of the scalar at `idx`.
    fn text(&self, idx: usize) -> &str {
        self.texts().of(&self.nodes[idx])
    }

    /// The text of the scalar at `idx` if it is a slice of the document.
    fn borrowed_text(&self, idx: usize) -> Option<&'a str> {
        let node = &self.nodes[idx];
        let start = node.start as usize;
        (!node.owned).then(|| &self.doc[start..start + node.text_len as usize])
    }

    fn class(&self, idx: usize) -> Option<Class> {
        (self.nodes[idx].kind == Kind::Plain).then(|| classify(self.text(idx)))
    }

    /// A serde Deserializer for the root; it can be wrapped (serde_ignored,
    /// serde_path_to_error). Check [`Document::bailed`] after use.
    pub fn deserializer(&self) -> Deserializer<'_, 'a> {
        Deserializer { doc: self, idx: 0 }
    }

    /// Whether the fast path met something it does not handle; the result, even if Ok, must
    /// then be discarded.
    pub fn bailed(&self) -> bool {
        self.bailed.get()
    }

    /// (key, value) node indices of the mapping at `map`.
    fn entries(&self, map: usize) -> Option<impl Iterator<Item = (usize, usize)> + '_> {
        let node = self.nodes.get(map)?;
        (node.kind == Kind::Map).then(|| {
            let mut key = map + 1;
            (0..node.len).map(move |_| {
                let entry = (key, key + 1);
                key = self.nodes[key + 1].end as usize;
                entry
            })
        })
    }

    /// `Option<String>` semantics: null → None, string → Some, anything else → bail.
    fn optional_string(&self, idx: usize) -> Option<Option<String>> {
        match (self.nodes[idx].kind, self.class(idx)) {
            (Kind::Quoted, _) | (_, Some(Class::Str)) => Some(Some(self.text(idx).to_string())),
            (_, Some(Class::Null)) => Some(None),
            _ => None,
        }
    }
}

/// The end of the line starting at `start`, and whether the line has bytes outside printable
/// ASCII. Eight bytes at a time while they are all printable ASCII.
fn scan_line(bytes: &[u8], start: usize) -> (usize, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut end = start;
    while let Some(chunk) = bytes.get(end..end + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // High bit set where a byte is < 0x20 (this includes `\n`) or >= 0x7f; borrows and
        // carries can only add false alarms, which the byte loop below sorts out.
        let low = x.wrapping_sub(0x20 * ONES) & !x;
        let high = x.wrapping_add(ONES) | x;
        if (low | high) & HIGH != 0 {
            break;
        }
        end += 8;
    }
    let mut odd = false;
    while let Some(&c) = bytes.get(end) {
        if c == b'\n' {
            break;
        }
        odd |= !(0x20..0x7f).contains(&c);
        end += 1;
    }
    (end, odd)
}

/// Checks a line (without its `\n`) that has bytes outside printable ASCII: rejects what YAML
/// forbids or parsers treat differently — control characters (tab and CR included), and
/// non-ASCII line breaks, spaces and byte-order marks. Other non-ASCII text is fine.
fn odd_chars_ok(line: &str) -> bool {
    line.bytes().enumerate().all(|(i, c)| match c {
        0..0x20 | 0x7f => false,
        // Lead bytes of U+0080..U+00BF, U+1680, U+2000..U+206F, U+3000, U+FEFF..U+FFFF:
        // decode and look closer.
        0xc2 | 0xe1 | 0xe2 | 0xe3 | 0xef => line[i..].chars().next().is_some_and(|ch| {
            !(ch.is_whitespace()
                || ('\u{80}'..='\u{a0}').contains(&ch)
                || matches!(ch, '\u{feff}' | '\u{fffe}' | '\u{ffff}'))
        }),
        _ => true,
    })
}

// ---------------------------------------------------------------------------------------------
// Parser: lines → nodes, with an explicit stack of open block collections
// ---------------------------------------------------------------------------------------------

/// An open block collection: keys (or `-` indicators) sit at `indent`.
struct Open {
    node: usize,
    indent: usize,
    kind: Kind,
}

/// A mapping value or sequence item left empty on its line: the next node is its value,
/// either a nested block collection on the following lines or, failing that, null.
struct Pending {
    indent: usize,
    /// A block sequence may be a mapping value at the key's own indentation.
    from_key: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlowState {
    /// Just opened: an entry or the closing bracket.
    First,
    /// After a comma: an entry.
    Entry,
    /// After a flow mapping key and `: `: the value.
    Value,
    /// After an entry: a comma or the closing bracket.
    After,
}

struct Flow {
    node: usize,
    is_map: bool,
    state: FlowState,
}

struct Parser<'a> {
    doc: &'a str,
    nodes: Vec<Node>,
    owned: Vec<String>,
    open: Vec<Open>,
    flow: Vec<Flow>,
    pending: Option<Pending>,
    comment_run: usize,
    comments: usize,
}

impl<'a> Parser<'a> {
    fn new(doc: &'a str, mut nodes: Vec<Node>) -> Self {
        nodes.reserve(doc.len() / 8 + 4);
        Parser {
            doc,
            nodes,
            owned: Vec::new(),
            open: Vec::with_capacity(8),
            flow: Vec::new(),
            pending: None,
            comment_run: 0,
            comments: 0,
        }
    }

    fn run(&mut self) -> Option<()> {
        let doc = self.doc;
        let bytes = doc.as_bytes();
        let mut start = 0;
        while start <= bytes.len() {
            let (end, odd) = scan_line(bytes, start);
            let raw = &doc[start..end];
            start = end + 1;
            if raw.len() > MAX_LINE_BYTES || (odd && !odd_chars_ok(raw)) {
                return None;
            }
            let text = raw.trim_start_matches(' ');
            let indent = raw.len() - text.len();
            if text.is_empty() {
                continue;
            }
            if text.starts_with('#') {
                self.comment()?;
                continue;
            }
            self.comment_run = 0;
            self.line(indent, text)?;
        }
        if self.pending.take().is_some() {
            self.push_scalar(Kind::Plain, Cow::Borrowed(""))?;
        }
        while !self.open.is_empty() {
            self.close_block()?;
        }
        // Budget: saphyr counts parser events (two per collection, one per scalar and comment).
        let events_ok = self.nodes.len() * 2 + self.comments < 500_000;
        (!self.nodes.is_empty() && events_ok).then_some(())
    }

    /// One content line: a sequence entry (`- …`) or a mapping entry (`key: …`).
    fn line(&mut self, indent: usize, text: &'a str) -> Option<()> {
        let bytes = text.as_bytes();
        let is_seq = bytes[0] == b'-' && bytes.get(1).is_none_or(|&c| c == b' ');
        if !self.nest_into_pending(indent, is_seq)? {
            self.close_deeper(indent, is_seq)?;
        }
        let want = if is_seq { Kind::Seq } else { Kind::Map };
        match self.open.last() {
            Some(top) if top.indent == indent && top.kind == want => {}
            None if self.nodes.is_empty() && indent == 0 => self.open_block(want, 0)?,
            _ => return None, // inconsistent indentation, continuation line, second root, …
        }
        if is_seq {
            self.seq_entry(indent, &text[1..])
        } else {
            self.map_entry(text)
        }
    }

    /// Gives a pending value its node: a nested collection opened by this line, or null.
    /// Returns whether a collection was opened.
    fn nest_into_pending(&mut self, indent: usize, is_seq: bool) -> Option<bool> {
        let Some(p) = self.pending.take() else {
            return Some(false);
        };
        let nests = indent > p.indent || (is_seq && p.from_key && indent == p.indent);
        if nests {
            self.open_block(if is_seq { Kind::Seq } else { Kind::Map }, indent)?;
        } else {
            self.push_scalar(Kind::Plain, Cow::Borrowed(""))?;
        }
        Some(nests)
    }

    /// Closes the collections this line is outside of. A sequence at the same indentation as
    /// a mapping key ends at the next key.
    fn close_deeper(&mut self, indent: usize, is_seq: bool) -> Option<()> {
        while let Some(top) = self.open.last() {
            let deeper = top.indent > indent;
            let seq_ends = top.indent == indent && top.kind == Kind::Seq && !is_seq;
            if !(deeper || seq_ends) {
                break;
            }
            self.close_block()?;
        }
        Some(())
    }

    /// `rest`: what follows the `-`.
    fn seq_entry(&mut self, dash: usize, rest: &'a str) -> Option<()> {
        self.count_entry();
        let body = rest.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            if !body.is_empty() {
                self.comment()?;
            }
            self.pending = Some(Pending {
                indent: dash,
                from_key: false,
            });
            return Some(());
        }
        if body.starts_with('-') && body.as_bytes().get(1).is_none_or(|&c| c == b' ') {
            return None; // `- - x`: compact nested sequence
        }
        match scan_key(body) {
            KeyScan::NotKey => self.value(body),
            KeyScan::Bail => None,
            KeyScan::Key(kind, key, after) => {
                // `- key: value`: a compact mapping whose keys sit at the key's column.
                let column = dash + 1 + (rest.len() - body.len());
                self.open_block(Kind::Map, column)?;
                self.key_and_value(column, kind, key, after)
            }
        }
    }

    fn map_entry(&mut self, text: &'a str) -> Option<()> {
        let indent = self.open.last()?.indent;
        match scan_key(text) {
            KeyScan::Key(kind, key, after) => self.key_and_value(indent, kind, key, after),
            _ => None,
        }
    }

    /// A mapping entry whose key was read; `after`: what follows the `:`.
    fn key_and_value(
        &mut self,
        indent: usize,
        kind: Kind,
        key: Cow<'a, str>,
        after: &'a str,
    ) -> Option<()> {
        self.count_entry();
        self.push_scalar(kind, key)?;
        let value = after.trim_start_matches(' ');
        if value.is_empty() || value.starts_with('#') {
            if !value.is_empty() {
                self.comment()?;
            }
            self.pending = Some(Pending {
                indent,
                from_key: true,
            });
            return Some(());
        }
        self.value(value)
    }

    /// A value that starts on this line (`t` starts with a non-space, non-`#`) and must end
    /// on it.
    fn value(&mut self, t: &'a str) -> Option<()> {
        let rest = match t.as_bytes()[0] {
            b'[' | b'{' => self.flow(t)?,
            b'"' | b'\'' => {
                let (text, rest) = quoted(t)?;
                self.push_scalar(Kind::Quoted, text)?;
                rest
            }
            c if is_indicator(c) => return None,
            _ => {
                let (text, rest) = plain_block(t)?;
                self.push_scalar(Kind::Plain, Cow::Borrowed(text))?;
                rest
            }
        };
        self.trailing(rest)
    }

    /// After a value: only spaces, then optionally a comment (which needs a space before it).
    fn trailing(&mut self, rest: &str) -> Option<()> {
        let r = rest.trim_start_matches(' ');
        if r.is_empty() {
            Some(())
        } else if r.starts_with('#') && r.len() < rest.len() {
            self.comment()
        } else {
            None
        }
    }

    /// A one-line flow collection starting at `t[0]` (`[` or `{`); returns what follows it.
    fn flow(&mut self, t: &'a str) -> Option<&'a str> {
        let b = t.as_bytes();
        self.open_flow(b[0] == b'{')?;
        let mut i = 1;
        loop {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            let c = *b.get(i)?; // the line ended inside the collection
            let top = self.flow.last_mut()?;
            let close = if top.is_map { b'}' } else { b']' };
            match top.state {
                FlowState::First | FlowState::After if c == close => {
                    self.close_flow()?;
                    i += 1;
                    if self.flow.is_empty() {
                        return Some(&t[i..]);
                    }
                }
                FlowState::After if c == b',' => {
                    top.state = FlowState::Entry;
                    i += 1;
                }
                FlowState::After => return None,
                FlowState::First | FlowState::Entry if top.is_map => {
                    let node = top.node;
                    top.state = FlowState::Value;
                    i += self.flow_key(node, &t[i..])?;
                }
                FlowState::First | FlowState::Entry | FlowState::Value => {
                    if !top.is_map {
                        let node = top.node;
                        self.nodes[node].len += 1;
                    }
                    self.flow.last_mut()?.state = FlowState::After;
                    i += self.flow_node(&t[i..])?;
                }
            }
        }
    }

    /// A flow mapping key and its `: `; returns the bytes read.
    fn flow_key(&mut self, map: usize, t: &'a str) -> Option<usize> {
        let KeyScan::Key(kind, key, after) = scan_key(t) else {
            return None;
        };
        if !after.starts_with(' ') {
            return None; // `{a:}` or `{a:,}`: an empty value
        }
        self.nodes[map].len += 1;
        self.push_scalar(kind, key)?;
        Some(t.len() - after.len())
    }

    /// A flow entry or value: a nested collection (opened here) or a scalar; returns the
    /// bytes read.
    fn flow_node(&mut self, t: &'a str) -> Option<usize> {
        let rest = match t.as_bytes()[0] {
            c @ (b'[' | b'{') => {
                self.open_flow(c == b'{')?;
                &t[1..]
            }
            b'"' | b'\'' => {
                let (text, rest) = quoted(t)?;
                self.push_scalar(Kind::Quoted, text)?;
                rest
            }
            c if is_indicator(c) => return None,
            _ => {
                let (text, rest) = plain_flow(t);
                self.push_scalar(Kind::Plain, Cow::Borrowed(text))?;
                rest
            }
        };
        Some(t.len() - rest.len())
    }

    fn open_flow(&mut self, is_map: bool) -> Option<()> {
        if self.open.len() + self.flow.len() + 1 > MAX_DEPTH {
            return None;
        }
        let node = self.push(
            if is_map { Kind::Map } else { Kind::Seq },
            Cow::Borrowed(""),
        )?;
        self.flow.push(Flow {
            node,
            is_map,
            state: FlowState::First,
        });
        Some(())
    }

    fn close_flow(&mut self) -> Option<()> {
        let flow = self.flow.pop()?;
        self.finish(flow.node)
    }

    fn open_block(&mut self, kind: Kind, indent: usize) -> Option<()> {
        if self.open.len() + 1 > MAX_DEPTH {
            return None;
        }
        let node = self.push(kind, Cow::Borrowed(""))?;
        self.open.push(Open { node, indent, kind });
        Some(())
    }

    fn close_block(&mut self) -> Option<()> {
        let open = self.open.pop()?;
        self.finish(open.node)
    }

    /// Ends a collection's subtree; mappings are checked for duplicate keys, which saphyr
    /// rejects.
    fn finish(&mut self, node: usize) -> Option<()> {
        self.nodes[node].end = self.nodes.len() as u32;
        let texts = Texts {
            doc: self.doc,
            owned: &self.owned,
        };
        if self.nodes[node].kind == Kind::Map && has_duplicate_keys(&self.nodes, texts, node) {
            return None;
        }
        Some(())
    }

    /// A new entry in the innermost open block collection.
    fn count_entry(&mut self) {
        if let Some(top) = self.open.last() {
            self.nodes[top.node].len += 1;
        }
    }

    fn push_scalar(&mut self, kind: Kind, text: Cow<'a, str>) -> Option<usize> {
        let idx = self.push(kind, text)?;
        self.nodes[idx].end = idx as u32 + 1;
        Some(idx)
    }

    fn push(&mut self, kind: Kind, text: Cow<'a, str>) -> Option<usize> {
        if self.nodes.len() >= MAX_NODES {
            return None;
        }
        let (owned, start, text_len) = match text {
            // Texts from the tokenizers are slices of the document (or the empty literal).
            Cow::Borrowed("") => (false, 0, 0),
            Cow::Borrowed(t) => {
                let start = (t.as_ptr() as usize).checked_sub(self.doc.as_ptr() as usize)?;
                self.doc.get(start..start + t.len())?;
                (false, start, t.len())
            }
            Cow::Owned(t) => {
                self.owned.push(t);
                (true, self.owned.len() - 1, 0)
            }
        };
        self.nodes.push(Node {
            kind,
            owned,
            end: 0,
            len: 0,
            start: start as u32,
            text_len: text_len as u32,
        });
        Some(self.nodes.len() - 1)
    }

    fn comment(&mut self) -> Option<()> {
        self.comments += 1;
        self.comment_run += 1;
        (self.comment_run <= MAX_COMMENT_RUN).then_some(())
    }
}

/// Whether the mapping at `map` (complete) has two keys with the same text. Plain `a` and
/// quoted `"a"` count as equal (saphyr agrees); keys are never numbers here, so numeric
/// equality (`0x1` = `1`) does not arise.
fn has_duplicate_keys(nodes: &[Node], texts: Texts, map: usize) -> bool {
    let count = nodes[map].len as usize;
    if count < 2 {
        return false;
    }
    let mut key = map + 1;
    let mut next_key = || {
        let k = texts.of(&nodes[key]);
        key = nodes[key + 1].end as usize;
        k
    };
    if count <= 16 {
        let mut keys = [""; 16];
        for i in 0..count {
            keys[i] = next_key();
            if keys[..i].contains(&keys[i]) {
                return true;
            }
        }
        return false;
    }
    let mut keys: Vec<&str> = (0..count).map(|_| next_key()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

// ---------------------------------------------------------------------------------------------
// Scanning tokens within a line
// ---------------------------------------------------------------------------------------------

/// A 256-entry membership table, for tight byte loops.
const fn byte_set(members: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < members.len() {
        t[members[i] as usize] = true;
        i += 1;
    }
    t
}

/// Characters that may not start a plain scalar here (some could in full YAML, but not
/// without subtleties).
static INDICATORS: [bool; 256] = byte_set(b"-?:,[]{}#&*!|>'\"%@`");
/// Letters, digits and `_ - . /`.
static KEY_CHARS: [bool; 256] = {
    let mut t = byte_set(b"_-./");
    let mut c = 0;
    while c < 256 {
        t[c] |= (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    t
};
/// Bytes where a plain scalar may end, in block and in flow context.
static BLOCK_STOPS: [bool; 256] = byte_set(b":#");
static FLOW_STOPS: [bool; 256] = byte_set(b":#,[]{}");

fn is_indicator(c: u8) -> bool {
    INDICATORS[c as usize]
}

fn is_key_char(c: u8) -> bool {
    KEY_CHARS[c as usize]
}

/// The first position from `i` holding a byte of `stops`, or the length.
fn find(b: &[u8], mut i: usize, stops: &[bool; 256]) -> usize {
    while i < b.len() && !stops[b[i] as usize] {
        i += 1;
    }
    i
}

enum KeyScan<'a> {
    /// A key followed by `:` (then a space or the end of the line); the str is what follows
    /// the `:`.
    Key(Kind, Cow<'a, str>, &'a str),
    /// Not a key: read the text as a value.
    NotKey,
    /// Looks like a key of a kind the subset does not support.
    Bail,
}

/// A mapping key at the start of `t`: a simple word (letters, digits, `_ - . /`, starting
/// with a letter, digit or `_`, and not a null, bool or number) or a quoted string.
fn scan_key(t: &str) -> KeyScan<'_> {
    let b = t.as_bytes();
    let (kind, key, after) = if matches!(b[0], b'"' | b'\'') {
        match quoted(t) {
            Some((text, rest)) => (Kind::Quoted, text, rest),
            None => return KeyScan::Bail,
        }
    } else {
        let n = b.iter().position(|&c| !is_key_char(c)).unwrap_or(b.len());
        (Kind::Plain, Cow::Borrowed(&t[..n]), &t[n..])
    };
    let a = after.as_bytes();
    if a.first() != Some(&b':') {
        return KeyScan::NotKey;
    }
    if a.get(1).is_some_and(|&c| c != b' ') {
        // `url:port`, `a:b`: a plain scalar; after a quoted string, an oddity.
        return match kind {
            Kind::Plain => KeyScan::NotKey,
            _ => KeyScan::Bail,
        };
    }
    let raw_len = t.len() - after.len();
    let simple = kind == Kind::Quoted
        || (b[0].is_ascii_alphanumeric() || b[0] == b'_') && classify(&key) == Class::Str;
    // `<<` is a merge key when plain; saphyr reads a quoted one as a string, but why rely on
    // that.
    if !simple || raw_len > MAX_KEY_BYTES || key == "<<" {
        return KeyScan::Bail;
    }
    KeyScan::Key(kind, key, &after[1..])
}

/// A plain scalar in block context, ending at the end of the line or at ` #`. Bails on `: `
/// inside or `:` at the end (a nested mapping or an error in YAML).
/// Returns the text and what follows it (spaces, then a comment or nothing).
fn plain_block(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    let mut i = find(b, 0, &BLOCK_STOPS);
    while i < b.len() {
        match b[i] {
            b'#' if i > 0 && b[i - 1] == b' ' => break,
            b':' if b.get(i + 1).is_none_or(|&c| c == b' ') => return None,
            _ => i = find(b, i + 1, &BLOCK_STOPS),
        }
    }
    let text = t[..i].trim_end_matches(' ');
    Some((text, &t[text.len()..]))
}

/// A plain scalar in flow context: it ends at a flow indicator, at `:` followed by a space or
/// flow indicator (YAML 1.2: `a:b` and `https://x` are one scalar), at ` #`, or at the end of
/// the line. Returns the text and what follows it.
fn plain_flow(t: &str) -> (&str, &str) {
    let b = t.as_bytes();
    let is_flow = |c: u8| matches!(c, b',' | b'[' | b']' | b'{' | b'}');
    let mut i = find(b, 0, &FLOW_STOPS);
    while i < b.len() {
        let stop = match b[i] {
            b':' => b.get(i + 1).is_none_or(|&c| c == b' ' || is_flow(c)),
            b'#' => i > 0 && b[i - 1] == b' ',
            _ => true,
        };
        if stop {
            break;
        }
        i = find(b, i + 1, &FLOW_STOPS);
    }
    let text = t[..i].trim_end_matches(' ');
    (text, &t[text.len()..])
}

/// A single- or double-quoted scalar at the start of `t`, closed on the same line. Returns
/// its value and what follows the closing quote.
fn quoted(t: &str) -> Option<(Cow<'_, str>, &str)> {
    if t.as_bytes()[0] == b'\'' {
        single_quoted(t)
    } else {
        double_quoted(t)
    }
}

fn single_quoted(t: &str) -> Option<(Cow<'_, str>, &str)> {
    let b = t.as_bytes();
    let mut i = 1;
    let mut escaped = false;
    loop {
        match *b.get(i)? {
            b'\'' if b.get(i + 1) == Some(&b'\'') => {
                escaped = true;
                i += 2;
            }
            b'\'' => break,
            _ => i += 1,
        }
    }
    let inner = &t[1..i];
    let text = if escaped {
        Cow::Owned(inner.replace("''", "'"))
    } else {
        Cow::Borrowed(inner)
    };
    Some((text, &t[i + 1..]))
}

fn double_quoted(t: &str) -> Option<(Cow<'_, str>, &str)> {
    let b = t.as_bytes();
    let mut owned: Option<String> = None;
    let mut start = 1;
    let mut i = 1;
    loop {
        match *b.get(i)? {
            b'"' => break,
            b'\\' => {
                let (c, len) = escape(&b[i + 1..])?;
                let s = owned.get_or_insert_with(String::new);
                s.push_str(&t[start..i]);
                s.push(c);
                i += 1 + len;
                start = i;
            }
            _ => i += 1,
        }
    }
    let text = match owned {
        Some(mut s) => {
            s.push_str(&t[start..i]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(&t[1..i]),
    };
    Some((text, &t[i + 1..]))
}

/// The common double-quoted escapes (after the backslash); the rest of YAML's escapes, and
/// line continuations, bail. Returns the character and the bytes read.
fn escape(b: &[u8]) -> Option<(char, usize)> {
    let hex = |n: usize| -> Option<(char, usize)> {
        let digits = b.get(1..1 + n)?;
        let mut v: u32 = 0;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        Some((char::from_u32(v)?, 1 + n))
    };
    Some(match *b.first()? {
        b'"' => ('"', 1),
        b'\\' => ('\\', 1),
        b'/' => ('/', 1),
        b'n' => ('\n', 1),
        b't' => ('\t', 1),
        b'r' => ('\r', 1),
        b'0' => ('\0', 1),
        b'x' => return hex(2),
        b'u' => return hex(4),
        b'U' => return hex(8),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Plain scalar typing
// ---------------------------------------------------------------------------------------------

/// What a plain scalar is, as far as the fast path is sure.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// A string in every schema: not null-, bool- or number-like in YAML 1.1 or 1.2.
    Str,
    /// Empty, `~`, `null`, `Null`, `NULL`: exactly saphyr's null spellings.
    Null,
    /// Exactly `true` or `false`.
    Bool(bool),
    /// `0` or a decimal without sign, leading zero or underscore, within u64.
    UInt(u64),
    /// Anything else null-, bool- or number-like (`yes`, `TRUE`, `0x1F`, `1_000`, `00100`,
    /// `1e3`, `.5`, `+5`, `1:30`, `.inf`, …): the fast path does not type these.
    Special,
}

fn classify(s: &str) -> Class {
    let Some(&first) = s.as_bytes().first() else {
        return Class::Null;
    };
    if first.is_ascii_alphabetic() {
        // Null, bool and number words start with one of n t f y o i (any case) and are at
        // most 8 letters ("infinity"); most words are neither.
        if s.len() > 8 || !matches!(first | 0x20, b'n' | b't' | b'f' | b'y' | b'o' | b'i') {
            return Class::Str;
        }
        return match s {
            "null" | "Null" | "NULL" => Class::Null,
            "true" => Class::Bool(true),
            "false" => Class::Bool(false),
            _ if special_word(s) => Class::Special,
            _ => Class::Str,
        };
    }
    if first.is_ascii_digit() {
        if let Some(v) = decimal_u64(s) {
            return Class::UInt(v);
        }
    } else if s == "~" {
        return Class::Null;
    } else if !matches!(first, b'+' | b'-' | b'.') {
        return Class::Str; // no number starts otherwise
    }
    if number_like(s) {
        Class::Special
    } else {
        Class::Str
    }
}

/// Null, bool (YAML 1.1, any case) and non-finite number words.
fn special_word(s: &str) -> bool {
    [
        "null", "true", "false", "yes", "no", "y", "n", "on", "off", "inf", "nan", "infinity",
    ]
    .iter()
    .any(|w| s.eq_ignore_ascii_case(w))
}

fn decimal_u64(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// A superset of every spelling that saphyr (or YAML 1.1) reads as a number: an optional
/// sign, then `.inf`/`.nan`/`inf`/`nan`/`infinity` in any case, a `0x`/`0o`/`0b` prefix, or
/// digits with `_ . :` and an optional exponent.
fn number_like(s: &str) -> bool {
    let r = s.strip_prefix(['+', '-']).unwrap_or(s);
    if [".inf", ".nan", "inf", "nan", "infinity"]
        .iter()
        .any(|w| r.eq_ignore_ascii_case(w))
    {
        return true;
    }
    let b = r.as_bytes();
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
        return true;
    }
    let (mut digits, mut exponent, mut i) = (false, false, 0);
    while i < b.len() {
        match b[i] {
            b'0'..=b'9' => digits = true,
            b'_' => {}
            b'.' | b':' if !exponent => {}
            b'e' | b'E' if digits && !exponent => {
                exponent = true;
                if matches!(b.get(i + 1), Some(b'+' | b'-')) {
                    i += 1;
                }
            }
            _ => return false,
        }
        i += 1;
    }
    digits
}

/// `f64`/`f32` from plain `123` or `123.45` (no sign, exponent or leading zero), which Rust's
/// parser and saphyr read alike.
fn simple_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    digits(int) && (int == "0" || !int.starts_with('0')) && frac.is_none_or(digits)
}

// ---------------------------------------------------------------------------------------------
// serde
// ---------------------------------------------------------------------------------------------

/// The error of the fast path. Its content does not matter to callers: any error means "use
/// the full parser".
#[derive(Debug)]
pub enum Error {
    /// The document or the target type needs something the fast path does not do.
    Unsupported,
    /// Raised by the target type (unknown variant, missing field, …).
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsupported => f.write_str("not supported by the YAML fast path"),
            Error::Custom(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

/// Deserializes the node at `idx`.
#[derive(Clone, Copy)]
pub struct Deserializer<'d, 'a> {
    doc: &'d Document<'a>,
    idx: usize,
}

impl<'d, 'a> Deserializer<'d, 'a> {
    fn node(&self) -> &'d Node {
        &self.doc.nodes[self.idx]
    }

    fn at(&self, idx: usize) -> Self {
        Deserializer { doc: self.doc, idx }
    }

    /// Gives up, marking the document so that the result is discarded whatever the visitor
    /// does with the error.
    fn bail(&self) -> Error {
        self.doc.bailed.set(true);
        Error::Unsupported
    }

    fn plain_class(&self) -> Option<Class> {
        self.doc.class(self.idx)
    }

    /// A scalar every YAML reading takes as a string: quoted, or plain of class `Str`.
    fn visit_string_scalar<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node().kind {
            Kind::Quoted => {}
            Kind::Plain if self.plain_class() == Some(Class::Str) => {}
            _ => return Err(self.bail()),
        }
        match self.doc.borrowed_text(self.idx) {
            Some(s) => visitor.visit_borrowed_str(s),
            None => visitor.visit_str(self.doc.text(self.idx)),
        }
    }

    fn uint(&self) -> Result<u64, Error> {
        match self.plain_class() {
            Some(Class::UInt(v)) => Ok(v),
            _ => Err(self.bail()),
        }
    }

    fn float_text(&self) -> Result<&'d str, Error> {
        let text = self.doc.text(self.idx);
        if self.node().kind == Kind::Plain && simple_decimal(text) {
            Ok(text)
        } else {
            Err(self.bail())
        }
    }

    /// Walks a subtree that the target ignores: saphyr reads it with `deserialize_any`, which
    /// fails on some number spellings (`.inf`, `1e999`), so those bail.
    fn check_ignored(&self) -> Result<(), Error> {
        let end = self.node().end as usize;
        let special = (self.idx..end).any(|i| self.doc.class(i) == Some(Class::Special));
        if special { Err(self.bail()) } else { Ok(()) }
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
            let v = self.uint()?;
            let v = <$ty>::try_from(v).map_err(|_| self.bail())?;
            visitor.$visit(v)
        }
    )*};
}

macro_rules! unsupported {
    ($($method:ident ( $($arg:ident : $ty:ty),* )),* $(,)?) => {$(
        fn $method<V: Visitor<'a>>(self, $(_: $ty,)* _visitor: V) -> Result<V::Value, Error> {
            Err(self.bail())
        }
    )*};
}

impl<'d, 'a> de::Deserializer<'a> for Deserializer<'d, 'a> {
    type Error = Error;

    /// Maps, sequences, strings, `true`/`false` and plain decimal integers; nulls and other
    /// numbers bail.
    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node().kind {
            Kind::Map => self.deserialize_map(visitor),
            Kind::Seq => self.deserialize_seq(visitor),
            Kind::Quoted => self.visit_string_scalar(visitor),
            Kind::Plain => match classify(self.doc.text(self.idx)) {
                Class::Str => self.visit_string_scalar(visitor),
                Class::Bool(b) => visitor.visit_bool(b),
                Class::UInt(v) => visitor.visit_u64(v),
                Class::Null | Class::Special => Err(self.bail()),
            },
        }
    }

    /// Only plain `true`/`false` (saphyr also takes `yes`, `On`, `"true"`, …: those bail).
    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.plain_class() {
            Some(Class::Bool(b)) => visitor.visit_bool(b),
            _ => Err(self.bail()),
        }
    }

    deserialize_int! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
    }

    /// saphyr parses with Rust's parser and rejects results that overflow to infinity.
    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.float_text()?.parse::<f32>() {
            Ok(v) if v.is_finite() => visitor.visit_f32(v),
            _ => Err(self.bail()),
        }
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.float_text()?.parse::<f64>() {
            Ok(v) if v.is_finite() => visitor.visit_f64(v),
            _ => Err(self.bail()),
        }
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_string_scalar(visitor)
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_string_scalar(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_string_scalar(visitor)
    }

    /// Null spellings are `None` (as in saphyr); anything else is `Some`.
    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.plain_class() {
            Some(Class::Null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// saphyr gives its own wrapper types (`__yaml_spanned`, …) special meaning.
    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name.starts_with("__yaml") {
            return Err(self.bail());
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let node = self.node();
        if node.kind != Kind::Seq {
            return Err(self.bail());
        }
        let mut items = Items {
            de: self.at(self.idx + 1),
            remaining: node.len,
        };
        let value = visitor.visit_seq(&mut items)?;
        // A visitor that stops early is unusual; saphyr's handling of it is not mirrored.
        if items.remaining != 0 {
            return Err(self.bail());
        }
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let node = self.node();
        if node.kind != Kind::Map {
            return Err(self.bail());
        }
        let mut entries = Entries {
            de: self.at(self.idx + 1),
            remaining: node.len,
            value: None,
        };
        let value = visitor.visit_map(&mut entries)?;
        // saphyr fails when a visitor leaves entries unread.
        if entries.remaining != 0 || entries.value.is_some() {
            return Err(self.bail());
        }
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    /// Unit variants from a string; other variant kinds and the `{Variant: …}` form bail.
    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.node().kind {
            Kind::Quoted => {}
            Kind::Plain if self.plain_class() == Some(Class::Str) => {}
            _ => return Err(self.bail()),
        }
        visitor.visit_enum(self)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.check_ignored()?;
        visitor.visit_unit()
    }

    unsupported! {
        deserialize_char(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// Sequence items, in order.
struct Items<'d, 'a> {
    de: Deserializer<'d, 'a>,
    remaining: u32,
}

impl<'d, 'a> de::SeqAccess<'a> for Items<'d, 'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let item = self.de;
        self.de = item.at(item.node().end as usize);
        seed.deserialize(item).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining as usize)
    }
}

/// Mapping entries, in order.
struct Entries<'d, 'a> {
    /// The next key.
    de: Deserializer<'d, 'a>,
    remaining: u32,
    /// The value of the key just read.
    value: Option<Deserializer<'d, 'a>>,
}

impl<'d, 'a> de::MapAccess<'a> for Entries<'d, 'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.remaining == 0 || self.value.is_some() {
            return if self.value.is_some() {
                Err(self.de.bail())
            } else {
                Ok(None)
            };
        }
        self.remaining -= 1;
        let key = self.de;
        let value = key.at(key.idx + 1);
        self.value = Some(value);
        self.de = value.at(value.node().end as usize);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(self.de.bail()),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining as usize)
    }
}

impl<'d, 'a> de::EnumAccess<'a> for Deserializer<'d, 'a> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'a>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(self)?;
        Ok((variant, self))
    }
}

impl<'d, 'a> de::VariantAccess<'a> for Deserializer<'d, 'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(self.bail())
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(self.bail())
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(self.bail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_plain_scalars() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(classify(s), Class::Null, "{s:?}");
        }
        assert_eq!(classify("true"), Class::Bool(true));
        assert_eq!(classify("false"), Class::Bool(false));
        assert_eq!(classify("0"), Class::UInt(0));
        assert_eq!(classify("4400"), Class::UInt(4400));
        for s in [
            "nULL",
            "True",
            "TRUE",
            "yes",
            "No",
            "y",
            "N",
            "on",
            "OFF",
            "00100",
            "0100",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "1e3",
            "1E3",
            ".5",
            "5.",
            "-5",
            "+5",
            "-0",
            "1.5",
            ".inf",
            "-.Inf",
            ".NaN",
            "inf",
            "nan",
            "Infinity",
            "1e999",
            "18446744073709551616",
            "1:30",
            "10.0.0.1",
            "1.2.3",
            "+.5",
        ] {
            assert_eq!(classify(s), Class::Special, "{s:?}");
        }
        for s in [
            "2026-01-01",
            "90d",
            "10m",
            "E1003",
            "+358 40 160 3028",
            "a:b",
            "-x",
            "+",
            "e5",
            "+-5",
            "~x",
            "nulls",
            "yess",
            "2026-01-01T10:00:00Z",
            "SE5560360793-0001",
            "_1",
            "(1)",
            "é1",
        ] {
            assert_eq!(classify(s), Class::Str, "{s:?}");
        }
    }

    #[test]
    fn parses_a_small_document() {
        let d = Document::parse("a: 1\nb:\n- x\n- {c: d, e: [f, 'g''h']}\n").unwrap();
        let kinds: Vec<_> = (0..d.nodes.len())
            .map(|i| (d.nodes[i].kind, d.text(i)))
            .collect();
        assert_eq!(kinds.len(), 13);
        assert_eq!(d.nodes[0].len, 2);
        assert_eq!(d.nodes[0].end, 13);
        assert_eq!(kinds[12], (Kind::Quoted, "g'h"));
    }

    #[test]
    fn bails_on_unsupported_syntax() {
        for doc in [
            "a: &x 1\n",
            "a: *x\n",
            "a: !t x\n",
            "a: |\n  x\n",
            "a: >\n  x\n",
            "? a\n: b\n",
            "<<: {a: 1}\n",
            "a: 1\na: 2\n",
            "a: 1\n'a': 2\n",
            "a: b\n  c\n",
            "a: \"b\n  c\"\n",
            "a: [b,\n  c]\n",
            "a:\tb\n",
            "\ta: b\n",
            "a: b: c\n",
            "a: b:\n",
            "a: [b] c\n",
            "a: \"b\" c\n",
            "a:\n    b: 1\n  c: 2\n",
            "x\n",
            "- a\nb: c\n",
            "a: 1\n---\nb: 2\n",
            "a: \"\\a\"\n",
            "a: {b}\n",
            "a: {b: }\n",
            "a: [b, ]\n",
            "a: [b: c]\n",
            "1: a\n",
            "yes: a\n",
            "a b: c\n",
            "a: -1\n",
            "a: @b\n",
            "a: b\r\n",
            "a: \u{feff}b\n",
            "",
            "# only a comment\n",
            "a: {b:c}\n",
            "- - a\n",
        ] {
            assert!(Document::parse(doc).is_none(), "{doc:?}");
        }
    }
}
