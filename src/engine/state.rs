//! The downstream state model shared by every target: objects with target-native attribute
//! names, so that one `diff` serves LDAP, SCIM, webhooks and IdPs alike.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::validate::redact::shown;

use crate::api::{DeletionPolicy, IntegrationKind, ManagementMode};

use super::attrs::Attrs;
use super::problem::ObjectRef;

/// Object kinds, in the order they are created (and the reverse order they are deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    Unit,
    Person,
    Group,
    Client,
    /// A person's live logins at an IdP that does not hold its users (they live in the
    /// directory). accord never creates one and compares nothing in it: it only ends those
    /// of people who may no longer log in (a delete), after the client is updated.
    Session,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unit => "unit",
            Self::Person => "person",
            Self::Group => "group",
            Self::Client => "client",
            Self::Session => "session",
        }
    }

    /// Objects that stand for one person, keyed by the person's UserGrant name.
    pub fn is_of_person(self) -> bool {
        matches!(self, Self::Person | Self::Session)
    }

    /// Objects accord only ever removes: wanted ones are left as they are, present or not.
    pub fn only_removed(self) -> bool {
        self == Self::Session
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    pub kind: ObjectKind,
    pub id: String,
}

impl ObjectKey {
    pub fn new(kind: ObjectKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), shown(&self.id))
    }
}

/// Group membership lists person ids under this attribute; targets translate ids to their
/// own references (DNs, SCIM ids).
pub const MEMBER_ATTR: &str = "member";

/// Whether an attribute of an object of `kind` lists people by their ids (a group's members,
/// the people an IdP client lets in): a frozen person keeps their place in it as it is.
pub fn lists_people(kind: ObjectKind, attr: &str) -> bool {
    matches!(
        (kind, attr),
        (ObjectKind::Group, MEMBER_ATTR)
            | (ObjectKind::Client, super::build::idp::attr::ALLOWED_PEOPLE)
    )
}

/// The `parent` of a person who sits in the directory's disabled branch. A colon never
/// appears in a Kubernetes name, so this cannot clash with a unit.
pub const DISABLED_PARENT: &str = ":disabled";

pub use super::attrs::AttrName;

/// One downstream object as accord wants it or found it.
#[derive(Clone, PartialEq, Eq)]
pub struct Object {
    pub key: ObjectKey,
    /// Where the object sits: the unit id of a unit's parent or a person's home unit.
    /// A change is a move (LDAP modrdn), not an attribute update.
    pub parent: Option<String>,
    /// Depth in the unit tree, for ordering creates parent-first.
    pub depth: u32,
    /// Target-native attribute names → values, sorted; an empty list means absent.
    pub attrs: Attrs,
    /// Attributes whose values never leave the process (national identity numbers).
    pub sensitive: BTreeSet<AttrName>,
    /// The input object that wants this one, for per-resource status.
    pub source: Option<ObjectRef>,
    /// Where a target found the object (an LDAP DN, a SCIM id). Never compared.
    pub locator: Option<String>,
    /// The target's version of it (a SCIM ETag), for conditional writes. Never compared.
    pub version: Option<String>,
}

/// Serialised for plans and status: sensitive values are masked.
impl Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Object", 4)?;
        st.serialize_field("kind", &self.key.kind)?;
        st.serialize_field("id", &self.key.id)?;
        if let Some(p) = &self.parent {
            st.serialize_field("parent", p)?;
        }
        st.serialize_field("attrs", &ShownAttrs(self))?;
        st.end()
    }
}

/// An object's attributes as shown: one value as a string, several as a list, sensitive
/// ones masked. Written straight to the serializer, without copying the values.
struct ShownAttrs<'a>(&'a Object);

impl Serialize for ShownAttrs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.attrs.len()))?;
        for (k, v) in &self.0.attrs {
            if self.0.sensitive.contains(k) {
                m.serialize_entry(k, "(sensitive)")?;
            } else if v.len() == 1 {
                m.serialize_entry(k, &v[0])?;
            } else {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

impl Object {
    pub fn new(kind: ObjectKind, id: impl Into<String>) -> Self {
        Self {
            key: ObjectKey::new(kind, id),
            parent: None,
            depth: 0,
            attrs: Attrs::new(),
            sensitive: BTreeSet::new(),
            source: None,
            locator: None,
            version: None,
        }
    }

    /// Sets a single-valued attribute; an empty value leaves it absent.
    pub fn set(&mut self, name: impl Into<AttrName>, value: impl Into<String>) -> &mut Self {
        let v = value.into();
        if !v.trim().is_empty() {
            self.attrs.insert(name.into(), vec![v]);
        }
        self
    }

    pub fn set_opt(&mut self, name: impl Into<AttrName>, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.set(name, v);
        }
        self
    }

    /// Sets a multi-valued attribute, sorted and without duplicates; empty leaves it absent.
    pub fn set_many<I, S>(&mut self, name: impl Into<AttrName>, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| !v.trim().is_empty())
            .collect();
        list.sort_unstable();
        list.dedup();
        if !list.is_empty() {
            self.attrs.insert(name.into(), list);
        }
        self
    }

    pub fn set_sensitive(
        &mut self,
        name: impl Into<AttrName>,
        value: impl Into<String>,
    ) -> &mut Self {
        let name = name.into();
        self.sensitive.insert(name.clone());
        self.set(name, value)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Renders a value for people: sensitive values are never shown.
    pub fn show(&self, name: &str, values: &[String]) -> String {
        show_values(self.sensitive.contains(name), values)
    }
}

pub fn show_values(sensitive: bool, values: &[String]) -> String {
    if sensitive {
        if values.is_empty() {
            "(absent)".into()
        } else {
            "(sensitive)".into()
        }
    } else if values.is_empty() {
        "(absent)".into()
    } else {
        shown(&values.join(", ")).into_owned()
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attrs: BTreeMap<&AttrName, String> = self
            .attrs
            .iter()
            .map(|(k, v)| (k, self.show(k, v)))
            .collect();
        f.debug_struct("Object")
            .field("key", &self.key)
            .field("parent", &self.parent)
            .field("attrs", &attrs)
            .finish()
    }
}

/// Which purpose an Integration serves for its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetRole {
    Directory,
    Idp,
    Extranet,
}

/// What one Integration should hold, as compiled.
#[derive(Clone, Debug)]
pub struct DesiredTarget {
    pub integration: ObjectRef,
    pub tenant: String,
    pub kind: IntegrationKind,
    pub role: TargetRole,
    pub management: ManagementMode,
    pub deletion: DeletionPolicy,
    pub objects: BTreeMap<ObjectKey, Object>,
    /// Objects of input that failed validation: left exactly as they are downstream.
    pub frozen: BTreeSet<ObjectKey>,
    /// Inputs that could not be fully read and may have declared objects of this target
    /// (`file.yaml:3: YAML syntax error …`). While there are any, nothing here is deleted,
    /// disabled, moved or stripped: accord cannot know that the input did not want it.
    pub unread: Vec<String>,
    /// What of the tenant's policy this kind cannot express; attributes they name are not
    /// compared.
    pub gaps: Vec<Gap>,
}

/// What a target holds of the objects accord owns there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedState {
    pub objects: BTreeMap<ObjectKey, Object>,
}

impl ObservedState {
    pub fn from_objects(objects: impl IntoIterator<Item = Object>) -> Self {
        Self {
            objects: objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
        }
    }
}

/// Something of a tenant's policy that a kind cannot express for that one tenant: reported as
/// a condition on the Tenant and the Integration and as a line of the plan, never dropped in
/// silence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// A CamelCase reason for the condition (`SessionPolicyGlobal`, `LoginMethodUpstream`).
    pub reason: &'static str,
    /// The attribute of the desired objects it concerns, if any: kept there for the record,
    /// but never compared or written, since the system cannot hold it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attr: Option<&'static str>,
    pub message: String,
}
