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

/// Builds the tree of `tenant` from all units of its namespace (`units`, by name).
/// Units named in `unreadable` exist but could not be read: children of theirs are broken
/// without an error of their own.
pub fn build_tree(
    namespace: &str,
    tenant: &str,
    units: &BTreeMap<&str, &OrgUnit>,
    unreadable: &BTreeSet<String>,
) -> (OrgTree, Vec<Problem>) {
    #[derive(Clone)]
    enum Resolved {
        Ok { path: String, depth: u32 },
        Broken,
    }
    let mut resolved: BTreeMap<&str, Resolved> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut cycles_reported: BTreeSet<String> = BTreeSet::new();
    let unit_ref = |name: &str| ObjectRef::new(Kind::OrgUnit, namespace, name);

    let mine: Vec<&str> = units
        .iter()
        .filter(|(_, u)| u.spec.tenant == tenant)
        .map(|(n, _)| *n)
        .collect();
    for &start in &mine {
        // Walk up until a resolved unit, a root, a broken link or a cycle.
        let mut chain: Vec<&str> = Vec::new();
        let mut cur = start;
        let outcome = loop {
            if let Some(r) = resolved.get(cur) {
                break r.clone();
            }
            if let Some(pos) = chain.iter().position(|c| *c == cur) {
                let cycle: Vec<&str> = chain[pos..].to_vec();
                let first = cycle.iter().min().copied().unwrap_or(cur);
                if cycles_reported.insert(first.to_string()) {
                    // Report the cycle once, starting from its smallest name so the message is stable.
                    let i = cycle.iter().position(|c| *c == first).unwrap_or(0);
                    let mut names: Vec<&str> = cycle[i..]
                        .iter()
                        .chain(cycle[..i].iter())
                        .copied()
                        .collect();
                    names.push(first);
                    problems.push(Problem::new(
                        &unit_ref(first),
                        "spec.parent",
                        format!("parent links form a cycle: {}", names.join(" → ")),
                    ));
                }
                break Resolved::Broken;
            }
            chain.push(cur);
            let unit = units[cur];
            match unit.spec.parent.as_deref() {
                None => {
                    break Resolved::Ok {
                        path: String::new(),
                        depth: 0,
                    };
                }
                Some(p) => match units.get(p) {
                    None if unreadable.contains(p) => break Resolved::Broken,
                    None => {
                        problems.push(Problem::new(
                            &unit_ref(cur),
                            "spec.parent",
                            format!("parent OrgUnit {p:?} does not exist in namespace {namespace}"),
                        ));
                        break Resolved::Broken;
                    }
                    Some(pu) if pu.spec.tenant != tenant => {
                        problems.push(Problem::new(
                            &unit_ref(cur),
                            "spec.parent",
                            format!(
                                "parent OrgUnit {p:?} belongs to tenant {:?}, not {tenant:?}",
                                pu.spec.tenant
                            ),
                        ));
                        break Resolved::Broken;
                    }
                    Some(_) => cur = p,
                },
            }
        };
        // Unwind the chain from the top: each unit's path extends its parent's.
        let mut above = outcome;
        let top_is_root = chain
            .last()
            .is_some_and(|c| !resolved.contains_key(c) && units[c].spec.parent.is_none());
        for (i, &name) in chain.iter().enumerate().rev() {
            let seg = slug(&units[name].spec.display_name);
            let seg = if seg.is_empty() {
                name.to_string()
            } else {
                seg
            };
            let here = match &above {
                Resolved::Ok { path, depth } => {
                    if i == chain.len() - 1 && top_is_root {
                        Resolved::Ok {
                            path: seg,
                            depth: 0,
                        }
                    } else {
                        Resolved::Ok {
                            path: format!("{path}/{seg}"),
                            depth: depth + 1,
                        }
                    }
                }
                Resolved::Broken => Resolved::Broken,
            };
            resolved.insert(name, here.clone());
            above = here;
        }
    }

    let mut tree = OrgTree::default();
    for &name in &mine {
        match &resolved[name] {
            Resolved::Ok { path, depth } => {
                let u = units[name];
                tree.units.insert(
                    name.to_string(),
                    UnitNode {
                        name: name.to_string(),
                        display_name: u.spec.display_name.clone(),
                        parent: u.spec.parent.clone(),
                        path: path.clone(),
                        depth: *depth,
                        codes: u.spec.codes.clone(),
                        children: Vec::new(),
                    },
                );
            }
            Resolved::Broken => {
                tree.broken.insert(name.to_string());
            }
        }
    }
    let links: Vec<(String, String)> = tree
        .units
        .values()
        .filter_map(|u| u.parent.clone().map(|p| (p, u.name.clone())))
        .collect();
    for (parent, child) in links {
        if let Some(p) = tree.units.get_mut(&parent) {
            p.children.push(child);
        }
    }
    (tree, problems)
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
        build_tree("ns", tenant, &map, &BTreeSet::new())
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
    fn slugs_fold_nordic_letters() {
        assert_eq!(slug("Södermalm"), "sodermalm");
        assert_eq!(slug("Plejecenter Lyngbo"), "plejecenter-lyngbo");
        assert_eq!(slug("Aarhus Kommune"), "aarhus-kommune");
        assert_eq!(slug("Hjemmeplejen Øst"), "hjemmeplejen-ost");
    }
}
