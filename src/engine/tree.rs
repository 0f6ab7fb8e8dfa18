//! The org tree of one tenant: parent links resolved into paths and depths, with missing
//! parents, parents in another tenant and cycles reported.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{Code, OrgUnit};

use super::problem::{Kind, ObjectRef, Problem};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitNode {
    pub name: String,
    pub display_name: String,
    pub parent: Option<String>,
    /// Display path from the root, slugged: `acme/helsinki/kallio`.
    pub path: String,
    pub depth: u32,
    pub codes: Vec<Code>,
    pub children: Vec<String>,
}

/// The valid units of one tenant. Units below a broken link are left out (and frozen).
#[derive(Clone, Debug, Default)]
pub struct OrgTree {
    pub units: BTreeMap<String, UnitNode>,
    /// Units of this tenant that could not be placed in the tree.
    pub broken: BTreeSet<String>,
}

impl OrgTree {
    pub fn get(&self, name: &str) -> Option<&UnitNode> {
        self.units.get(name)
    }

    /// The unit and every unit below it.
    pub fn subtree(&self, name: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut stack = vec![name];
        while let Some(n) = stack.pop() {
            if let Some(node) = self.units.get(n) {
                out.push(node.name.as_str());
                stack.extend(node.children.iter().rev().map(String::as_str));
            }
        }
        out
    }

    /// Finds a unit by its display path (case-insensitive) or by its own name.
    pub fn find(&self, path_or_name: &str) -> Option<&UnitNode> {
        let wanted = path_or_name.trim().trim_matches('/').to_lowercase();
        self.units.get(&wanted).or_else(|| {
            let slugged: Vec<String> = wanted.split('/').map(slug).collect();
            let slugged = slugged.join("/");
            self.units.values().find(|u| u.path == slugged)
        })
    }
}

/// A path segment from a display name: lower case, Nordic letters folded, spaces to `-`.
pub fn slug(display: &str) -> String {
    let mut out = String::new();
    for c in display.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '-' | '_' | '.' => out.push(c),
            'ä' | 'å' | 'á' | 'à' | 'â' => out.push('a'),
            'ö' | 'ø' | 'ó' | 'ò' | 'ô' => out.push('o'),
            'æ' => out.push_str("ae"),
            'ü' | 'ú' | 'ù' => out.push('u'),
            'é' | 'è' | 'ê' => out.push('e'),
            ' ' | '/' => {
                if !out.ends_with('-') {
                    out.push('-')
                }
            }
            _ => {}
        }
    }
    out.trim_matches('-').to_string()
}

/// How deep an org tree may go. Real ones are a handful of levels; a deeper one is a mistake
/// (or hostile input), and every level makes each path below it longer.
pub const MAX_DEPTH: u32 = 64;

/// Builds the tree of `tenant` from all units of its namespace (`units`, by name).
/// Units named in `unreadable` exist but could not be read, and with `may_hide` any missing
/// unit may sit in an input that could not be read: children of such units are broken
/// without an error of their own. Linear in the number of units, however they are linked.
pub fn build_tree(
    namespace: &str,
    tenant: &str,
    units: &BTreeMap<&str, &OrgUnit>,
    unreadable: &BTreeSet<String>,
    may_hide: bool,
) -> (OrgTree, Vec<Problem>) {
    let mut problems = Vec::new();
    let unit_ref = |name: &str| ObjectRef::new(Kind::OrgUnit, namespace, name);
    let mine: Vec<&str> = units
        .iter()
        .filter(|(_, u)| u.spec.tenant == tenant)
        .map(|(n, _)| *n)
        .collect();

    // Each unit's link to its parent: a root, a child, or broken (reported here).
    let mut roots = Vec::new();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut broken: BTreeSet<&str> = BTreeSet::new();
    for &name in &mine {
        match units[name].spec.parent.as_deref() {
            None => roots.push(name),
            Some(p) => match units.get(p) {
                Some(pu) if pu.spec.tenant == tenant => {
                    children.entry(p).or_default().push(name)
                }
                Some(pu) => {
                    problems.push(Problem::new(
                        &unit_ref(name),
                        "spec.parent",
                        format!(
                            "parent OrgUnit {p:?} belongs to tenant {:?}, not {tenant:?}",
                            pu.spec.tenant
                        ),
                    ));
                    broken.insert(name);
                }
                None => {
                    if !unreadable.contains(p) && !may_hide {
                        problems.push(Problem::new(
                            &unit_ref(name),
                            "spec.parent",
                            format!("parent OrgUnit {p:?} does not exist in namespace {namespace}"),
                        ));
                    }
                    broken.insert(name);
                }
            },
        }
    }

    // Paths and depths from the roots down.
    let mut tree = OrgTree::default();
    let mut queue: std::collections::VecDeque<(&str, String, u32)> = roots
        .iter()
        .map(|r| (*r, segment(r, &units[r].spec.display_name), 0))
        .collect();
    while let Some((name, path, depth)) = queue.pop_front() {
        if depth > MAX_DEPTH {
            problems.push(Problem::new(
                &unit_ref(name),
                "spec.parent",
                format!("is {depth} levels below its root; an org tree may be at most {MAX_DEPTH} deep"),
            ));
            continue; // it and everything below it stay out of the tree
        }
        for child in children.get(name).into_iter().flatten() {
            let seg = segment(child, &units[child].spec.display_name);
            queue.push_back((child, format!("{path}/{seg}"), depth + 1));
        }
        let u = units[name];
        tree.units.insert(
            name.to_string(),
            UnitNode {
                name: name.to_string(),
                display_name: u.spec.display_name.clone(),
                parent: u.spec.parent.clone(),
                path,
                depth,
                codes: u.spec.codes.clone(),
                children: children
                    .get(name)
                    .map(|c| c.iter().map(|c| c.to_string()).collect())
                    .unwrap_or_default(),
            },
        );
    }

    // What the roots did not reach is broken: below a broken link, too deep, or in a cycle.
    let unreached: Vec<&str> = mine
        .iter()
        .copied()
        .filter(|n| !tree.units.contains_key(*n))
        .collect();
    problems.extend(cycles(namespace, units, &unreached));
    tree.broken = unreached.iter().map(|n| n.to_string()).collect();
    (tree, problems)
}

/// One error per parent-link cycle among `unreached`, named from its smallest unit so that
/// the message is stable. Each unit is walked once.
fn cycles(namespace: &str, units: &BTreeMap<&str, &OrgUnit>, unreached: &[&str]) -> Vec<Problem> {
    let unreached_set: BTreeSet<&str> = unreached.iter().copied().collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut problems = Vec::new();
    for &start in unreached {
        let mut walk: Vec<&str> = Vec::new();
        let mut on_walk: BTreeMap<&str, usize> = BTreeMap::new();
        let mut cur = start;
        loop {
            if done.contains(cur) || !unreached_set.contains(cur) {
                break;
            }
            if let Some(&pos) = on_walk.get(cur) {
                let cycle = &walk[pos..];
                let first = cycle.iter().min().copied().unwrap_or(cur);
                let i = cycle.iter().position(|c| *c == first).unwrap_or(0);
                let mut names: Vec<&str> = cycle[i..].iter().chain(&cycle[..i]).copied().collect();
                names.push(first);
                problems.push(Problem::new(
                    &ObjectRef::new(Kind::OrgUnit, namespace, first),
                    "spec.parent",
                    format!("parent links form a cycle: {}", names.join(" → ")),
                ));
                break;
            }
            on_walk.insert(cur, walk.len());
            walk.push(cur);
            match units[cur].spec.parent.as_deref() {
                Some(p) if units.contains_key(p) => cur = units.get_key_value(p).map(|(k, _)| *k).unwrap_or(cur),
                _ => break,
            }
        }
        done.extend(walk);
    }
    problems
}

/// A unit's path segment: its display name slugged, or its own name.
fn segment(name: &str, display: &str) -> String {
    let seg = slug(display);
    if seg.is_empty() { name.to_string() } else { seg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::OrgUnitSpec;

    fn unit(name: &str, tenant: &str, display: &str, parent: Option<&str>) -> OrgUnit {
        let mut u = OrgUnit::new(
            name,
            OrgUnitSpec {
                tenant: tenant.into(),
                display_name: display.into(),
                parent: parent.map(Into::into),
                codes: vec![],
            },
        );
        u.metadata.namespace = Some("ns".into());
        u
    }

    fn tree_of(units: &[OrgUnit], tenant: &str) -> (OrgTree, Vec<Problem>) {
        let map: BTreeMap<&str, &OrgUnit> = units
            .iter()
            .map(|u| (u.metadata.name.as_deref().unwrap(), u))
            .collect();
        build_tree("ns", tenant, &map, &BTreeSet::new(), false)
    }

    #[test]
    fn paths_depths_and_subtrees() {
        let units = vec![
            unit("acme", "acme", "Acme", None),
            unit("acme-helsinki", "acme", "Helsinki", Some("acme")),
            unit(
                "acme-helsinki-kallio",
                "acme",
                "Kallio",
                Some("acme-helsinki"),
            ),
            unit("acme-tampere", "acme", "Tampere", Some("acme")),
        ];
        let (tree, problems) = tree_of(&units, "acme");
        assert!(problems.is_empty());
        let k = tree.get("acme-helsinki-kallio").unwrap();
        assert_eq!((k.path.as_str(), k.depth), ("acme/helsinki/kallio", 2));
        let mut sub = tree.subtree("acme-helsinki");
        sub.sort();
        assert_eq!(sub, vec!["acme-helsinki", "acme-helsinki-kallio"]);
        assert_eq!(
            tree.find("ACME/Helsinki/Kallio").unwrap().name,
            "acme-helsinki-kallio"
        );
        assert_eq!(tree.find("acme-tampere").unwrap().path, "acme/tampere");
    }

    #[test]
    fn cycle_reported_once_and_units_below_frozen() {
        let units = vec![
            unit("a", "t", "A", Some("b")),
            unit("b", "t", "B", Some("a")),
            unit("c", "t", "C", Some("a")),
        ];
        let (tree, problems) = tree_of(&units, "t");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].reason, "parent links form a cycle: a → b → a");
        assert!(tree.units.is_empty());
        assert_eq!(tree.broken.len(), 3);
    }

    #[test]
    fn missing_parent_and_foreign_parent() {
        let units = vec![
            unit("x", "t", "X", Some("nowhere")),
            unit("y", "t", "Y", Some("other")),
            unit("other", "u", "O", None),
        ];
        let (_, problems) = tree_of(&units, "t");
        assert_eq!(problems.len(), 2);
        assert!(problems.iter().any(|p| p.reason.contains("does not exist")));
        assert!(
            problems
                .iter()
                .any(|p| p.reason.contains("belongs to tenant \"u\""))
        );
    }

    #[test]
    fn a_chain_deeper_than_the_limit_is_cut_there_in_linear_time() {
        let n = 20_000;
        let units: Vec<OrgUnit> = (0..n)
            .map(|i| {
                let parent = (i > 0).then(|| format!("u{}", i - 1));
                unit(&format!("u{i}"), "t", &format!("U{i}"), parent.as_deref())
            })
            .collect();
        let (tree, problems) = tree_of(&units, "t");
        assert_eq!(tree.units.len(), MAX_DEPTH as usize + 1);
        assert_eq!(tree.broken.len(), n - MAX_DEPTH as usize - 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].reason.contains("at most 64 deep"), "{}", problems[0].reason);
        // A cycle of the same length is found once, too.
        let ring: Vec<OrgUnit> = (0..n)
            .map(|i| unit(&format!("r{i}"), "t", "R", Some(&format!("r{}", (i + 1) % n))))
            .collect();
        let (tree, problems) = tree_of(&ring, "t");
        assert_eq!((tree.units.len(), tree.broken.len(), problems.len()), (0, n, 1));
    }

    #[test]
    fn slugs_fold_nordic_letters() {
        assert_eq!(slug("Södermalm"), "sodermalm");
        assert_eq!(slug("Plejecenter Lyngbo"), "plejecenter-lyngbo");
        assert_eq!(slug("Aarhus Kommune"), "aarhus-kommune");
        assert_eq!(slug("Hjemmeplejen Øst"), "hjemmeplejen-ost");
    }
}
