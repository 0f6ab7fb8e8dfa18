//! PATCH (RFC 7644 §3.5.2) on a resource held as JSON, in the dialect Entra ID speaks too:
//! op names in any case, booleans as strings, filtered paths that create the value they
//! name when it is missing, schema-qualified paths, path-less values with dotted or URN
//! keys, and removal of members by a list of values (which removes only those). Attributes
//! accord does not keep are passed over; read-only ones are refused.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, Filter, PatchPath, get_ci};
use super::schema::{self, Attr, Mutability, ResourceKind};

/// Most operations in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// The operations of a PatchOp request body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Some(ops) = get_ci(body, "Operations") else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body is a PatchOp: {\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [...]}",
        ));
    };
    let Value::Array(ops) = ops else {
        return Err(ScimError::invalid_syntax("Operations must be a list"));
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!("more than {MAX_OPERATIONS} operations in one PATCH")));
    }
    ops.iter().enumerate().map(|(i, o)| operation(i, o)).collect()
}

fn operation(i: usize, o: &Value) -> Result<Operation, ScimError> {
    let name = get_ci(o, "op").and_then(Value::as_str).unwrap_or_default();
    let op = match name.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "replace" => OpKind::Replace,
        "remove" => OpKind::Remove,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op must be add, replace or remove (in any case)"
            )));
        }
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p)?),
        Some(_) => return Err(ScimError::invalid_path(format!("Operations[{i}].path must be a string"))),
    };
    let value = get_ci(o, "value").cloned();
    if op != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!("Operations[{i}] ({name}) needs a value")));
    }
    if op == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target(format!("Operations[{i}]: remove needs a path")));
    }
    Ok(Operation { op, path, value })
}

/// Applies the operations in order. The result still has to be read with
/// `schema::normalise` (which also takes booleans sent as strings).
pub fn apply(kind: ResourceKind, doc: &mut Value, ops: &[Operation]) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(p) => at_path(kind, doc, op.op, p, op.value.as_ref())?,
            None => without_path(kind, doc, op.op, op.value.as_ref().unwrap_or(&Value::Null))?,
        }
    }
    Ok(())
}

/// A path-less add or replace: every key of the value is a path (`name.givenName`,
/// `urn:…:User:employeeNumber`) or an extension's URN with an object of its attributes.
fn without_path(kind: ResourceKind, doc: &mut Value, op: OpKind, value: &Value) -> Result<(), ScimError> {
    let Value::Object(items) = value else {
        return Err(ScimError::invalid_value("an add or replace without a path takes an object of attributes"));
    };
    for (key, v) in items {
        if ["schemas", "id", "meta"].iter().any(|k| key.eq_ignore_ascii_case(k)) {
            continue;
        }
        if let Some((urn, _)) = kind.extensions().iter().find(|(u, _)| u.eq_ignore_ascii_case(key)) {
            let Value::Object(sub) = v else {
                return Err(ScimError::invalid_value(format!("{key} must be an object of its attributes")));
            };
            for (sk, sv) in sub {
                let attr = AttrPath { urn: Some(urn.to_string()), attr: sk.clone(), sub: None };
                at_path(kind, doc, op, &PatchPath { attr, filter: None, sub: None }, Some(sv))?;
            }
            continue;
        }
        let attr = AttrPath::parse(key)?;
        at_path(kind, doc, op, &PatchPath { attr, filter: None, sub: None }, Some(v))?;
    }
    Ok(())
}

fn at_path(kind: ResourceKind, doc: &mut Value, op: OpKind, p: &PatchPath, value: Option<&Value>) -> Result<(), ScimError> {
    if p.attr.attr.is_empty() {
        if p.attr.urn.as_deref().is_some_and(schema::is_core) {
            // The core schema's URN: the value is the resource's attributes.
            return match (op, value) {
                (OpKind::Remove, _) => Err(ScimError::no_target("a whole resource cannot be removed by PATCH")),
                (_, Some(v)) => without_path(kind, doc, op, v),
                _ => Ok(()),
            };
        }
        // The URN of an extension alone: its attributes are the value's keys.
        return match (op, value) {
            (OpKind::Remove, _) => {
                if let (Some(urn), Value::Object(m)) = (&p.attr.urn, &mut *doc) {
                    m.retain(|k, _| !k.eq_ignore_ascii_case(urn));
                }
                Ok(())
            }
            (_, Some(v)) => {
                let urn = p.attr.urn.clone().unwrap_or_default();
                without_path(kind, doc, op, &serde_json::json!({ urn: v }))
            }
            _ => Ok(()),
        };
    }
    let Some((urn, attrs)) = schema::attrs_of(kind, p.attr.urn.as_deref()) else {
        return Ok(()); // an extension accord does not keep
    };
    let external = urn.is_none() && p.attr.attr.eq_ignore_ascii_case("externalId");
    let Some(a) = schema::find(attrs, &p.attr.attr).or(external.then_some(&schema::EXTERNAL_ID)) else {
        return Ok(()); // an attribute accord does not keep
    };
    if a.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!("{} is read-only", a.name)));
    }
    let sub = p.attr.sub.as_deref().or(p.sub.as_deref());
    if let Some(s) = sub
        && schema::find(a.sub, s).is_none_or(|s| s.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    let sub = sub.and_then(|s| schema::find(a.sub, s)).map(|s| s.name);
    let holder = container(doc, urn, op != OpKind::Remove);
    let Some(holder) = holder else {
        return Ok(());
    };
    let shown = p.attr.display();
    match (&p.filter, op) {
        (None, OpKind::Remove) => remove_plain(holder, a, sub, value),
        (None, _) => set_plain(holder, a, sub, op, value.unwrap_or(&Value::Null), &shown),
        (Some(f), OpKind::Remove) => {
            remove_filtered(holder, a, f, sub);
            Ok(())
        }
        (Some(f), _) => set_filtered(holder, a, f, sub, op, value.unwrap_or(&Value::Null), &shown),
    }?;
    if let Some(urn) = urn
        && let Value::Object(m) = doc
        && m.get(urn).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        m.remove(urn);
    }
    Ok(())
}

/// The object an attribute lives in: the resource or its extension (made when `create`).
fn container<'a>(doc: &'a mut Value, urn: Option<&str>, create: bool) -> Option<&'a mut Map<String, Value>> {
    let root = doc.as_object_mut()?;
    let Some(urn) = urn else {
        return Some(root);
    };
    if !root.contains_key(urn) {
        if !create {
            return None;
        }
        root.insert(urn.to_string(), Value::Object(Map::new()));
    }
    root.get_mut(urn)?.as_object_mut()
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn set_plain(
    holder: &mut Map<String, Value>,
    a: &Attr,
    sub: Option<&str>,
    op: OpKind,
    value: &Value,
    shown: &str,
) -> Result<(), ScimError> {
    let name = a.name.to_string();
    match sub {
        Some(s) if a.multi => {
            // `emails.value` without a filter: every value gets it; none yet: one is made.
            let list = holder.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            let mut values = items(list);
            if values.is_empty() {
                values.push(Value::Object(Map::new()));
            }
            for v in values.iter_mut().filter_map(Value::as_object_mut) {
                v.insert(s.to_string(), value.clone());
            }
            *list = Value::Array(values);
        }
        Some(s) => {
            let obj = holder.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if !obj.is_object() {
                *obj = Value::Object(Map::new());
            }
            if let Value::Object(m) = obj {
                m.insert(s.to_string(), value.clone());
            }
        }
        None if a.multi => {
            let mut values = if op == OpKind::Add {
                holder.get(&name).map(items).unwrap_or_default()
            } else {
                Vec::new()
            };
            for v in items(value) {
                if !values.iter().any(|x| same_value(x, &v)) {
                    values.push(v);
                }
            }
            holder.insert(name, Value::Array(values));
        }
        None if a.ty == schema::Ty::Complex => match value {
            Value::Object(new) => {
                let obj = holder.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if !obj.is_object() {
                    *obj = Value::Object(Map::new());
                }
                if let Value::Object(m) = obj {
                    for (k, v) in new {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Null => {
                holder.remove(&name);
            }
            // Entra's manager as a bare id; normalise reads it as {"value": id}.
            other => {
                holder.insert(name, other.clone());
            }
        },
        None => {
            if value.is_array() {
                return Err(ScimError::invalid_value(format!("{shown} takes one value, not a list")));
            }
            holder.insert(name, value.clone());
        }
    }
    Ok(())
}

/// Two values of a multi-valued attribute are the same when their `value`s are (members,
/// emails), else when they are equal.
fn same_value(a: &Value, b: &Value) -> bool {
    value_of(a) == value_of(b)
}

fn remove_plain(holder: &mut Map<String, Value>, a: &Attr, sub: Option<&str>, value: Option<&Value>) -> Result<(), ScimError> {
    let name = a.name;
    match (sub, value.filter(|v| !v.is_null())) {
        // Entra removes members by listing them: only those go.
        (None, Some(v)) if a.multi => {
            let gone = items(v);
            if let Some(list) = holder.get_mut(name) {
                let kept: Vec<Value> = items(list)
                    .into_iter()
                    .filter(|x| !gone.iter().any(|g| value_of(g) == value_of(x)))
                    .collect();
                if kept.is_empty() {
                    holder.remove(name);
                } else {
                    *list = Value::Array(kept);
                }
            }
        }
        (None, _) => {
            holder.remove(name);
        }
        (Some(s), _) => match holder.get_mut(name) {
            Some(Value::Object(m)) => {
                m.remove(s);
            }
            Some(Value::Array(list)) => list.iter_mut().filter_map(Value::as_object_mut).for_each(|m| {
                m.remove(s);
            }),
            _ => {}
        },
    }
    Ok(())
}

/// What identifies a value in a removal list: its `value`, or itself.
fn value_of(v: &Value) -> Value {
    match get_ci(v, "value") {
        Some(x) => x.clone(),
        None => v.clone(),
    }
}

fn remove_filtered(holder: &mut Map<String, Value>, a: &Attr, f: &Filter, sub: Option<&str>) {
    let Some(list) = holder.get_mut(a.name) else {
        return;
    };
    let mut values = items(list);
    match sub {
        None => values.retain(|v| !f.matches(v)),
        Some(s) => values
            .iter_mut()
            .filter(|v| f.matches(v))
            .filter_map(Value::as_object_mut)
            .for_each(|m| {
                m.remove(s);
            }),
    }
    if values.is_empty() {
        holder.remove(a.name);
    } else {
        *list = Value::Array(values);
    }
}

fn set_filtered(
    holder: &mut Map<String, Value>,
    a: &Attr,
    f: &Filter,
    sub: Option<&str>,
    op: OpKind,
    value: &Value,
    shown: &str,
) -> Result<(), ScimError> {
    if !a.multi {
        return Err(ScimError::invalid_path(format!("{shown} has one value: a [filter] does not apply")));
    }
    let mut values = holder.get(a.name).map(items).unwrap_or_default();
    let mut matched = false;
    for v in values.iter_mut().filter(|v| f.matches(v)) {
        matched = true;
        let Value::Object(m) = v else { continue };
        match (sub, value) {
            (Some(s), _) => {
                m.insert(s.to_string(), value.clone());
            }
            (None, Value::Object(new)) => m.extend(new.clone()),
            (None, _) => return Err(ScimError::invalid_value(format!("{shown}[…] takes an object of sub-attributes"))),
        }
    }
    if !matched {
        // Entra's `emails[type eq "work"].value`: the value is made from the filter.
        let made = f.equalities().map(|eqs| {
            let mut m: Map<String, Value> = eqs.into_iter().collect();
            match (sub, value) {
                (Some(s), _) => {
                    m.insert(s.to_string(), value.clone());
                }
                (None, Value::Object(new)) => m.extend(new.clone()),
                (None, _) => {}
            }
            Value::Object(m)
        });
        match made {
            Some(v) => values.push(v),
            None if op == OpKind::Add && sub.is_none() && value.is_object() => values.push(value.clone()),
            None => {
                return Err(ScimError::no_target(format!(
                    "{shown}: no value matches the filter, and it does not say what a new one would be"
                )));
            }
        }
    }
    holder.insert(a.name.to_string(), Value::Array(values));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: ResourceKind, doc: Value, body: Value) -> Result<Value, ScimError> {
        let mut doc = doc;
        apply(kind, &mut doc, &parse(&body)?)?;
        Ok(doc)
    }

    fn user(ops: Value) -> Value {
        let doc = json!({"userName": "anna@acme.fi", "active": true,
            "emails": [{"type": "work", "value": "anna@acme.fi", "primary": true}]});
        let out = run(ResourceKind::User, doc, json!({"schemas": [schema::PATCH_OP], "Operations": ops})).unwrap();
        schema::normalise(ResourceKind::User, &out).unwrap()
    }

    #[test]
    fn op_names_in_any_case_and_booleans_as_strings() {
        let out = user(json!([{"op": "Replace", "path": "active", "value": "False"}]));
        assert_eq!(out["active"], false);
        let out = user(json!([{"op": "REPLACE", "value": {"active": "True"}}]));
        assert_eq!(out["active"], true);
        let e = run(ResourceKind::User, json!({}), json!({"Operations": [{"op": "merge", "value": {}}]})).unwrap_err();
        assert!(e.detail.contains("add, replace or remove"));
    }

    #[test]
    fn filtered_paths_create_missing_values() {
        let out = user(json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+358401234567"},
            {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "Mannerheimintie 1"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "anna.v@acme.fi"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Helsinki"},
        ]));
        assert_eq!(out["phoneNumbers"], json!([{"type": "mobile", "value": "+358401234567"}]));
        assert_eq!(out["addresses"], json!([{"type": "work", "streetAddress": "Mannerheimintie 1", "locality": "Helsinki"}]));
        assert_eq!(out["emails"], json!([{"type": "work", "value": "anna.v@acme.fi", "primary": true}]));
    }

    #[test]
    fn schema_qualified_paths_and_bare_manager() {
        let ent = schema::ENTERPRISE;
        let out = user(json!([
            {"op": "Add", "path": format!("{ent}:employeeNumber"), "value": "E7"},
            {"op": "Replace", "path": format!("{ent}:manager"), "value": "boss-id"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title", "value": "Nurse"},
        ]));
        assert_eq!(out[ent], json!({"employeeNumber": "E7", "manager": {"value": "boss-id"}}));
        assert_eq!(out["title"], "Nurse");
    }

    #[test]
    fn pathless_replace_with_dotted_and_urn_keys() {
        let ent = schema::ENTERPRISE;
        let out = user(json!([{"op": "Replace", "value": {
            "name.givenName": "Anna", "name.familyName": "Virtanen",
            format!("{ent}:department"): "acme-helsinki",
            ent: {"employeeNumber": "E1"},
            "displayName": "Anna V",
        }}]));
        assert_eq!(out["name"], json!({"givenName": "Anna", "familyName": "Virtanen"}));
        assert_eq!(out[ent], json!({"department": "acme-helsinki", "employeeNumber": "E1"}));
        assert_eq!(out["displayName"], "Anna V");
    }

    fn group(ops: Value) -> Value {
        let doc = json!({"displayName": "Nurses", "members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]});
        run(ResourceKind::Group, doc, json!({"Operations": ops})).unwrap()
    }

    #[test]
    fn member_removal_by_value_list_removes_only_those() {
        let out = group(json!([{"op": "Remove", "path": "members", "value": [{"value": "b"}]}]));
        assert_eq!(out["members"], json!([{"value": "a"}, {"value": "c"}]));
        let out = group(json!([{"op": "remove", "path": "members[value eq \"c\"]"}]));
        assert_eq!(out["members"], json!([{"value": "a"}, {"value": "b"}]));
        let out = group(json!([{"op": "Add", "path": "members", "value": [{"value": "d", "$ref": null}, {"value": "a"}]}]));
        assert_eq!(out["members"].as_array().unwrap().len(), 4);
        // A remove with no value and no filter clears the list, as the RFC says.
        let out = group(json!([{"op": "remove", "path": "members"}]));
        assert!(out.get("members").is_none());
    }

    #[test]
    fn bad_patches_are_4xx_with_a_reason() {
        for (body, says) in [
            (json!({}), "PatchOp"),
            (json!({"Operations": {}}), "must be a list"),
            (json!({"Operations": [{"op": "remove"}]}), "needs a path"),
            (json!({"Operations": [{"op": "add", "path": "title"}]}), "needs a value"),
            (json!({"Operations": [{"op": "add", "path": "groups", "value": []}]}), "read-only"),
            (json!({"Operations": [{"op": "replace", "path": "emails[value co \"x\"].type", "value": "w"}]}), "no value matches"),
            (json!({"Operations": [{"op": "add", "path": "title[type eq \"a\"]", "value": {}}]}), "one value"),
            (json!({"Operations": [{"op": "add", "value": "x"}]}), "object of attributes"),
        ] {
            let e = run(ResourceKind::User, json!({"emails": [{"value": "a@b.fi"}]}), body).unwrap_err();
            assert!(e.status == 400 && e.detail.contains(says), "{says}: {}", e.detail);
        }
    }
}
