//! An object's attributes: name → values, kept sorted by name in one vector. A person has
//! about fifteen attributes in each of several targets, and a B-tree's nodes cost more than
//! the values at 100,000 people; lookups by binary search are as fast at this size.

use std::borrow::{Borrow, Cow};
use std::ops::Index;

/// An attribute name: usually a literal, so no allocation per object.
pub type AttrName = Cow<'static, str>;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attrs(Vec<(AttrName, Vec<String>)>);

impl Attrs {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name`, returning what it held before.
    pub fn insert(&mut self, name: AttrName, values: Vec<String>) -> Option<Vec<String>> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, values)),
            Err(i) => {
                self.0.insert(i, (name, values));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Vec<String>> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn keys(&self) -> impl Iterator<Item = &AttrName> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&AttrName, &Vec<String>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives back spare capacity once an object is built.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a AttrName, &'a Vec<String>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (AttrName, Vec<String>)>,
        fn(&'a (AttrName, Vec<String>)) -> (&'a AttrName, &'a Vec<String>),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Attrs {
    type Item = (AttrName, Vec<String>);
    type IntoIter = std::vec::IntoIter<(AttrName, Vec<String>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Into<AttrName>> FromIterator<(K, Vec<String>)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (K, Vec<String>)>>(iter: I) -> Self {
        let mut out = Attrs::new();
        for (k, v) in iter {
            out.insert(k.into(), v);
        }
        out
    }
}

impl<Q: Borrow<str> + ?Sized> Index<&Q> for Attrs {
    type Output = Vec<String>;
    fn index(&self, name: &Q) -> &Vec<String> {
        self.get(name.borrow())
            .unwrap_or_else(|| panic!("no attribute {}", name.borrow()))
    }
}

impl std::fmt::Debug for Attrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_name_and_replaced_in_place() {
        let mut a = Attrs::new();
        assert_eq!(a.insert("mail".into(), vec!["x".into()]), None);
        a.insert("cn".into(), vec!["c".into()]);
        a.insert("sn".into(), vec!["s".into()]);
        assert_eq!(a.insert("mail".into(), vec!["y".into()]), Some(vec!["x".to_string()]));
        assert_eq!(a.keys().map(|k| k.as_ref()).collect::<Vec<_>>(), ["cn", "mail", "sn"]);
        assert_eq!(a["mail"], ["y"]);
        assert!(a.contains_key("cn") && !a.contains_key("uid"));
        assert_eq!(a.remove("cn"), Some(vec!["c".to_string()]));
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("cn"), None);
    }
}
