//! What accord's SCIM server holds: the User (with the enterprise extension) and Group
//! attributes it keeps, as one description that serves both the discovery documents
//! (`/Schemas`, `/ResourceTypes`, `/ServiceProviderConfig`) and the reading of what a client
//! sends (types checked, booleans sent as strings taken as booleans, nulls and empty lists
//! dropped, read-only and unknown attributes left out).

use serde_json::{Map, Value, json};

use super::error::ScimError;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Longest string value kept.
pub const MAX_STRING: usize = 1024;
/// Most values of one multi-valued attribute (emails, phone numbers, addresses).
pub const MAX_VALUES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    String,
    Boolean,
    Reference,
    Complex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
}

pub struct Attr {
    pub name: &'static str,
    pub ty: Ty,
    pub multi: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub canonical: &'static [&'static str],
    pub refs: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

const fn attr(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        ty: Ty::String,
        multi: false,
        required: false,
        mutability: Mutability::ReadWrite,
        canonical: &[],
        refs: &[],
        sub: &[],
        description,
    }
}

const fn boolean(name: &'static str, description: &'static str) -> Attr {
    Attr { ty: Ty::Boolean, ..attr(name, description) }
}

const fn required(a: Attr) -> Attr {
    Attr { required: true, ..a }
}

const fn complex(name: &'static str, multi: bool, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr { ty: Ty::Complex, multi, sub, ..attr(name, description) }
}

pub static USER_ATTRS: &[Attr] = &[
    required(attr("userName", "Unique identifier for the User, typically the sign-in name (UPN); unique without regard to case.")),
    required(complex("name", false, &[
        required(attr("givenName", "First name(s): the person's givenName.")),
        required(attr("familyName", "Family name: the person's familyName.")),
        attr("formatted", "The full name, as displayed."),
    ], "The person's name; accord requires given and family name.")),
    attr("displayName", "The name displayed to end users."),
    attr("title", "Job title: the person's title."),
    attr("preferredLanguage", "Preferred written or spoken language."),
    boolean("active", "False suspends the person's access everywhere; the User is kept until DELETE."),
    required(complex("emails", true, &[
        required(attr("value", "An e-mail address; the work address becomes the person's email.")),
        Attr { canonical: &["work", "home", "other"], ..attr("type", "work, home or other.") },
        boolean("primary", "The primary address."),
    ], "E-mail addresses; accord requires one.")),
    complex("phoneNumbers", true, &[
        attr("value", "A phone number; mobile (else work) becomes the person's phone, in E.164."),
        Attr { canonical: &["work", "home", "mobile", "fax", "pager", "other"], ..attr("type", "work, home, mobile, fax, pager or other.") },
        boolean("primary", "The primary number."),
    ], "Phone numbers."),
    complex("addresses", true, &[
        Attr { canonical: &["work", "home", "other"], ..attr("type", "work, home or other.") },
        attr("formatted", "The full address."),
        attr("streetAddress", "Street and number: the person's address.street."),
        attr("locality", "City or post town."),
        attr("region", "State or region."),
        attr("postalCode", "Postal code."),
        Attr { canonical: &["FI", "SE", "DK", "NO", "IS", "EE", "DE", "GB"], ..attr("country", "ISO 3166-1 alpha-2 country code.") },
        boolean("primary", "The primary address."),
    ], "Postal addresses; the work address becomes the person's address."),
    Attr {
        mutability: Mutability::ReadOnly,
        ..complex("groups", true, &[
            Attr { mutability: Mutability::ReadOnly, ..attr("value", "The id of the Group.") },
            Attr { mutability: Mutability::ReadOnly, ty: Ty::Reference, refs: &["Group"], ..attr("$ref", "The URI of the Group.") },
            Attr { mutability: Mutability::ReadOnly, ..attr("display", "The Group's displayName.") },
            Attr { mutability: Mutability::ReadOnly, canonical: &["direct"], ..attr("type", "direct.") },
        ], "The Groups the User is a member of (set through the Groups' members).")
    },
];

pub static ENTERPRISE_ATTRS: &[Attr] = &[
    attr("employeeNumber", "The employee number: the person's employeeNumber."),
    attr("costCenter", "Cost centre."),
    attr("organization", "Organisation."),
    attr("division", "Division."),
    attr("department", "Department: names the person's home unit (an OrgUnit's name, display path or display name)."),
    complex("manager", false, &[
        attr("value", "The id of the manager's User."),
        Attr { ty: Ty::Reference, refs: &["User"], ..attr("$ref", "The URI of the manager's User.") },
        Attr { mutability: Mutability::ReadOnly, ..attr("displayName", "The manager's name.") },
    ], "The person's manager; a bare id is read as its value."),
];

pub static GROUP_ATTRS: &[Attr] = &[
    required(attr("displayName", "The Group's name; the Integration's scimServer.groups maps it to roles, features, groups and scopes.")),
    complex("members", true, &[
        Attr { mutability: Mutability::Immutable, ..attr("value", "The id of a User.") },
        Attr { mutability: Mutability::Immutable, ty: Ty::Reference, refs: &["User", "Group"], ..attr("$ref", "The URI of the User.") },
        Attr { mutability: Mutability::Immutable, canonical: &["User", "Group"], ..attr("type", "User.") },
    ], "The Users in the Group (Users of this Integration only)."),
];

/// `externalId`, which every resource has (RFC 7643 §3.1), kept as a string.
pub static EXTERNAL_ID: Attr = attr("externalId", "The client's identifier for the resource.");

pub fn is_known_urn(text: &str) -> bool {
    [USER, GROUP, ENTERPRISE].iter().any(|u| u.eq_ignore_ascii_case(text))
}

/// The core schemas are written without their URN in paths and bodies.
pub fn is_core(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(USER) || urn.eq_ignore_ascii_case(GROUP)
}

/// Which resource type a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Self::User => USER_ATTRS,
            Self::Group => GROUP_ATTRS,
        }
    }
    pub fn schema(self) -> &'static str {
        match self {
            Self::User => USER,
            Self::Group => GROUP,
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "Users",
            Self::Group => "Groups",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }
    /// Extensions: (URN, attributes).
    pub fn extensions(self) -> &'static [(&'static str, &'static [Attr])] {
        static USER_EXT: [(&str, &[Attr]); 1] = [(ENTERPRISE, ENTERPRISE_ATTRS)];
        match self {
            Self::User => &USER_EXT,
            Self::Group => &[],
        }
    }
}

pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The attributes an extension URN (or a core one, or none) holds.
pub fn attrs_of(kind: ResourceKind, urn: Option<&str>) -> Option<(Option<&'static str>, &'static [Attr])> {
    match urn {
        None => Some((None, kind.attrs())),
        Some(u) if is_core(u) => u.eq_ignore_ascii_case(kind.schema()).then(|| (None, kind.attrs())),
        Some(u) => kind
            .extensions()
            .iter()
            .find(|(x, _)| x.eq_ignore_ascii_case(u))
            .map(|(x, a)| (Some(*x), *a)),
    }
}

/// What a client sent, as accord keeps it: the attributes of `kind` in their canonical
/// names and types; `id`, `meta`, read-only and unknown attributes left out; `externalId`
/// kept. `members` of a Group are read apart (see `members`).
pub fn normalise(kind: ResourceKind, doc: &Value) -> Result<Value, ScimError> {
    let Value::Object(input) = doc else {
        return Err(ScimError::invalid_syntax(format!("a {} must be a JSON object", kind.name())));
    };
    let mut out = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("externalId") {
            if let Some(s) = string(key, value)? {
                out.insert("externalId".into(), Value::String(s));
            }
            continue;
        }
        if let Some((urn, attrs)) = kind.extensions().iter().find(|(u, _)| u.eq_ignore_ascii_case(key)) {
            if value.is_null() {
                continue;
            }
            let Value::Object(_) = value else {
                return Err(ScimError::invalid_value(format!("{key} must be an object of its attributes")));
            };
            let ext = complex_value(attrs, urn, value)?;
            if ext.as_object().is_some_and(|o| !o.is_empty()) {
                out.insert(urn.to_string(), ext);
            }
            continue;
        }
        let Some(a) = find(kind.attrs(), key) else {
            continue; // schemas, id, meta, and what accord does not keep
        };
        if a.mutability == Mutability::ReadOnly || (kind == ResourceKind::Group && a.name == "members") {
            continue;
        }
        if let Some(v) = attribute(a, a.name, value)? {
            out.insert(a.name.to_string(), v);
        }
    }
    Ok(Value::Object(out))
}

/// One attribute's value in its type; None when it is null or empty.
pub fn attribute(a: &Attr, field: &str, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if a.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        if items.len() > MAX_VALUES {
            return Err(ScimError::invalid_value(format!("{field} has more than {MAX_VALUES} values")));
        }
        let mut out = Vec::new();
        for item in items {
            if let Some(v) = single(a, field, item)?
                && !out.contains(&v)
            {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!("{field} takes one value, not a list")));
    }
    single(a, field, value)
}

fn single(a: &Attr, field: &str, value: &Value) -> Result<Option<Value>, ScimError> {
    match a.ty {
        Ty::String | Ty::Reference => string(field, value).map(|s| s.map(Value::String)),
        Ty::Boolean => boolean_value(field, value),
        Ty::Complex => match value {
            Value::Null => Ok(None),
            // Entra sends the manager as a bare id.
            Value::String(s) if find(a.sub, "value").is_some() => {
                Ok(Some(json!({"value": bounded(field, s)?})))
            }
            Value::Object(_) => {
                let v = complex_value(a.sub, field, value)?;
                Ok(v.as_object().is_some_and(|o| !o.is_empty()).then_some(v))
            }
            _ => Err(ScimError::invalid_value(format!("{field} must be an object"))),
        },
    }
}

fn complex_value(sub: &[Attr], field: &str, value: &Value) -> Result<Value, ScimError> {
    let mut out = Map::new();
    for (k, v) in value.as_object().into_iter().flatten() {
        let Some(s) = find(sub, k) else {
            continue;
        };
        if s.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = single(s, &format!("{field}.{}", s.name), v)? {
            out.insert(s.name.to_string(), v);
        }
    }
    Ok(Value::Object(out))
}

fn string(field: &str, value: &Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => bounded(field, s).map(Some),
        _ => Err(ScimError::invalid_value(format!("{field} must be a string"))),
    }
}

fn bounded(field: &str, s: &str) -> Result<String, ScimError> {
    if s.len() > MAX_STRING {
        return Err(ScimError::invalid_value(format!("{field} is longer than {MAX_STRING} bytes")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ScimError::invalid_value(format!("{field} holds control characters")));
    }
    Ok(s.to_string())
}

/// `true`, `false`, or the strings Entra sends: `"True"`, `"False"`.
fn boolean_value(field: &str, value: &Value) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(Value::Bool(*b))),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
        _ => Err(ScimError::invalid_value(format!("{field} must be true or false"))),
    }
}

// --- Discovery ---------------------------------------------------------------------------

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.ty { Ty::String => "string", Ty::Boolean => "boolean", Ty::Reference => "reference", Ty::Complex => "complex" },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.ty == Ty::Reference,
        "mutability": match a.mutability { Mutability::ReadWrite => "readWrite", Mutability::ReadOnly => "readOnly", Mutability::Immutable => "immutable" },
        "returned": "default",
        "uniqueness": if a.name == "userName" { "server" } else { "none" },
    });
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.refs.is_empty() {
        v["referenceTypes"] = json!(a.refs);
    }
    if a.ty == Ty::Complex {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

pub fn schema_doc(id: &str, base: &str) -> Option<Value> {
    let (name, description, attrs) = match id {
        USER => ("User", "A person: becomes a UserGrant of the Integration's tenant.", USER_ATTRS),
        GROUP => ("Group", "A group: its members get the access the Integration maps it to.", GROUP_ATTRS),
        ENTERPRISE => ("EnterpriseUser", "Enterprise User: employee number and department (home unit).", ENTERPRISE_ATTRS),
        _ => return None,
    };
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    }))
}

pub fn schema_ids() -> [&'static str; 3] {
    [USER, GROUP, ENTERPRISE]
}

pub fn resource_type_doc(kind: ResourceKind, base: &str) -> Value {
    let ext: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|(urn, _)| json!({"schema": urn, "required": false}))
        .collect();
    let mut v = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": format!("/{}", kind.endpoint()),
        "description": match kind { ResourceKind::User => "People of the tenant", ResourceKind::Group => "Groups mapped to access" },
        "schema": kind.schema(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())},
    });
    if !ext.is_empty() {
        v["schemaExtensions"] = Value::Array(ext);
    }
    v
}

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/accord/accord#inbound-provisioning",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": super::service::MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The token in the Integration's credentialsRef Secret (key token, or token-* while rotating)",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_booleans_nulls_empty_lists_and_bare_manager() {
        let sent = json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "anna@acme.fi",
            "active": "False",
            "roles": [],
            "nickName": null,
            "displayName": null,
            "emails": [{"primary": "True", "type": "work", "value": "anna@acme.fi"}],
            "phoneNumbers": [],
            "id": "ignored",
            ENTERPRISE: {"manager": "m-1", "employeeNumber": "E1", "department": null},
        });
        let got = normalise(ResourceKind::User, &sent).unwrap();
        assert_eq!(got, json!({
            "userName": "anna@acme.fi",
            "active": false,
            "emails": [{"primary": true, "type": "work", "value": "anna@acme.fi"}],
            ENTERPRISE: {"manager": {"value": "m-1"}, "employeeNumber": "E1"},
        }));
    }

    #[test]
    fn wrong_types_are_named() {
        for (sent, says) in [
            (json!({"userName": 5}), "userName must be a string"),
            (json!({"active": "maybe"}), "active must be true or false"),
            (json!({"name": "Anna"}), "name must be an object"),
            (json!({"title": ["a"]}), "title takes one value"),
            (json!({"userName": "a\u{0}b"}), "control characters"),
        ] {
            let e = normalise(ResourceKind::User, &sent).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.detail.contains(says), "{}", e.detail);
        }
        assert!(normalise(ResourceKind::User, &json!([1])).is_err());
    }

    #[test]
    fn discovery_documents_describe_every_attribute() {
        let user = schema_doc(USER, "http://x/v2").unwrap();
        let names: Vec<&str> = user["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"userName") && names.contains(&"emails"));
        assert!(schema_doc("urn:nope", "").is_none());
        assert_eq!(resource_type_doc(ResourceKind::User, "b")["schemaExtensions"][0]["schema"], ENTERPRISE);
    }
}
