//! Errors and policy findings about input objects, each naming the object and the field.

use std::fmt;

use serde::Serialize;

use crate::validate::redact;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Tenant,
    OrgUnit,
    UserGrant,
    Integration,
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tenant => "Tenant",
            Kind::OrgUnit => "OrgUnit",
            Kind::UserGrant => "UserGrant",
            Kind::Integration => "Integration",
            Kind::Secret => "Secret",
        }
    }
}

/// Identifies one input object: kind, namespace and name. Shown and serialised masked: a
/// name is a value someone typed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    pub kind: Kind,
    #[serde(serialize_with = "shown")]
    pub namespace: String,
    #[serde(serialize_with = "shown")]
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.kind.as_str(),
            redact::shown(&self.namespace),
            redact::shown(&self.name)
        )
    }
}

/// Bad input: which file (or cluster object), which object, which field, and why. Shown and
/// serialised through `redact::shown`, so that no value in a reason can print a national
/// identity number or drive a terminal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// `path/to/file.yaml:12`, or absent for objects read from a cluster.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shown_opt")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    #[serde(serialize_with = "shown")]
    pub field: String,
    #[serde(serialize_with = "shown")]
    pub reason: String,
}

fn shown<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact::shown(v))
}

fn shown_opt<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&redact::shown(v)),
        None => s.serialize_none(),
    }
}

impl Problem {
    pub fn new(object: &ObjectRef, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            origin: None,
            object: Some(object.clone()),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{}: ", redact::shown(origin))?;
        }
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", redact::shown(&self.field))?;
        }
        write!(f, "{}", redact::shown(&self.reason))
    }
}

/// A policy finding: valid input that breaks the tenant's policy. It is reported (the
/// `PolicyViolation` condition) and, where the policy says so, changes what is provisioned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    pub object: ObjectRef,
    pub rule: &'static str,
    #[serde(serialize_with = "shown")]
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.rule, redact::shown(&self.message))
    }
}
