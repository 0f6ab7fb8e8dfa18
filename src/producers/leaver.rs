//! The leaver endpoint for HR systems that do not speak SCIM:
//! `POST /leavers/{namespace}/{integration}` with `{"employeeNumber": "E1001", "leavingDate":
//! "2026-06-30"}` (or `"email"` instead of the employee number) and an `Idempotency-Key`
//! header. The person's UserGrant gets the leaving date (annotation
//! `accord.dev/leaving-date`, which the engine reads as the end of validity and, from that
//! day, a suspension), so access closes in every target on the date.
//!
//! Answers: 200 `{"result": "Recorded", …}`, also for a replay; 422 `{"result":
//! "UnknownPerson"}` when no person of the tenant has that employee number or e-mail (a
//! final answer: retrying will not help); 409 `Ambiguous` when several have; 400 for a
//! malformed request; 422 when an Idempotency-Key is reused for another request.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::UserGrant;
use crate::engine::inbound::LEAVING_DATE;
use crate::validate::redact::has_national_id;

use super::scim::access::Caller;
use super::scim::error::ScimError;
use super::scim::service::Service;
use super::scim::store::{Backend, EventOn};

pub const REPORTED_BY: &str = "accord.dev/leaver-reported-by";
pub const IDEMPOTENCY: &str = "accord.dev/leaver-idempotency-key";
/// Replays remembered per replica.
const REMEMBERED: usize = 10_000;

/// Who left and when, as sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Leaver {
    pub employee_number: Option<String>,
    pub email: Option<String>,
    pub date: jiff::civil::Date,
}

/// The request body, checked.
pub fn read(body: &Value) -> Result<Leaver, ScimError> {
    let Value::Object(m) = body else {
        return Err(ScimError::invalid_syntax("send {\"employeeNumber\" or \"email\", \"leavingDate\": \"YYYY-MM-DD\"}"));
    };
    for (k, v) in m {
        if v.as_str().is_some_and(has_national_id) {
            return Err(ScimError::invalid_value(format!(
                "{k} looks like a national identity number; name the person by employee number or e-mail"
            )));
        }
    }
    let text = |k: &str| -> Result<Option<String>, ScimError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => Ok(Some(s.trim().to_string())),
            Some(_) => Err(ScimError::invalid_value(format!("{k} must be a non-empty string of at most 256 characters"))),
        }
    };
    let employee_number = text("employeeNumber")?;
    let email = text("email")?;
    if employee_number.is_some() == email.is_some() {
        return Err(ScimError::invalid_value("name the person by employeeNumber or by email, one of them"));
    }
    let date = text("leavingDate")?
        .ok_or_else(|| ScimError::invalid_value("leavingDate is required (YYYY-MM-DD)"))?
        .parse()
        .map_err(|_| ScimError::invalid_value("leavingDate must be a date such as 2026-06-30"))?;
    Ok(Leaver { employee_number, email, date })
}

/// The tenant's grants that are this person.
pub fn matching<'a>(grants: &'a [std::sync::Arc<UserGrant>], tenant: &str, who: &Leaver) -> Vec<&'a UserGrant> {
    grants
        .iter()
        .filter(|g| g.spec.tenant == tenant && g.metadata.deletion_timestamp.is_none())
        .filter(|g| match (&who.employee_number, &who.email) {
            (Some(n), _) => g.spec.person.employee_number.as_deref() == Some(n.as_str()),
            (None, Some(e)) => g.spec.person.email.trim().eq_ignore_ascii_case(e),
            _ => false,
        })
        .map(|g| g.as_ref())
        .collect()
}

fn fingerprint(body: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.to_string().hash(&mut h);
    h.finish()
}

/// Carries out one leaver report; (HTTP status, body).
pub async fn report<B: Backend>(svc: &Service<B>, c: &Caller, body: &Value, key: Option<&str>) -> Result<(u16, Value), ScimError> {
    if !c.settings.leavers {
        return Err(ScimError::new(403, None, format!(
            "Integration {} does not take leavers: set spec.scimServer.leavers: true",
            c.name()
        )));
    }
    let key = key
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| ScimError::invalid_value("send an Idempotency-Key header (1 to 200 printable characters), the same on every retry"))?;
    let who = read(body)?;
    let remembered = (c.namespace.clone(), c.name().to_string(), key.to_string());
    let print = fingerprint(body);
    if let Some((p, answer, status)) = svc.leaver_keys.lock().expect("leaver keys").get(&remembered).cloned() {
        if p != print {
            return Err(ScimError::new(422, None, "this Idempotency-Key was used for another request; use a new key for a new request"));
        }
        return Ok((status, answer));
    }
    svc.writable()?;
    let _w = svc.lock(c).await;
    let grants = svc.backend.grants(&c.namespace);
    let found = matching(&grants, c.tenant(), &who);
    let named = who.employee_number.as_ref().map_or_else(
        || format!("e-mail {}", who.email.as_deref().unwrap_or_default()),
        |n| format!("employee number {n}"),
    );
    let (status, answer) = match found.as_slice() {
        [] => {
            let detail = format!("no person of tenant {} has {named}; retrying will not help", c.tenant());
            svc.backend.event(EventOn::Integration(&c.integration), true, "LeaverUnknown", format!("leaver report {key}: {detail}")).await;
            (422, json!({"result": "UnknownPerson", "detail": detail}))
        }
        [g] => {
            let name = g.metadata.name.clone().unwrap_or_default();
            if let Some(other) = g.metadata.annotations.as_ref().and_then(|a| a.get(IDEMPOTENCY))
                && other == key
                && crate::engine::inbound::leaving_date(g) != Some(who.date)
            {
                return Err(ScimError::new(422, None, "this Idempotency-Key was used for another request; use a new key for a new request"));
            }
            if crate::engine::inbound::leaving_date(g) != Some(who.date) {
                let mut next: UserGrant = (*g).clone();
                next.status = None;
                let ann = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
                ann.insert(LEAVING_DATE.into(), who.date.to_string());
                ann.insert(REPORTED_BY.into(), c.name().to_string());
                ann.insert(IDEMPOTENCY.into(), key.to_string());
                svc.backend
                    .replace(next.clone())
                    .await
                    .map_err(|e| ScimError::unavailable(format!("the Kubernetes API did not take the write: {e}"), 5))?;
                let note = format!(
                    "leaving date {} reported by Integration {} (Idempotency-Key {key}): access closes in every target on that date",
                    who.date,
                    c.name()
                );
                svc.backend.event(EventOn::Grant(&next), false, "LeaverReported", note).await;
            }
            (200, json!({"result": "Recorded", "userGrant": name, "leavingDate": who.date.to_string()}))
        }
        _ => (409, json!({"result": "Ambiguous", "detail": format!("{} people of tenant {} have {named}", found.len(), c.tenant())})),
    };
    let mut keys = svc.leaver_keys.lock().expect("leaver keys");
    if keys.len() >= REMEMBERED {
        keys.clear();
    }
    keys.insert(remembered, (print, answer.clone(), status));
    Ok((status, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_or_refused_with_a_reason() {
        let ok = read(&json!({"employeeNumber": "E1", "leavingDate": "2026-06-30"})).unwrap();
        assert_eq!(ok.date.to_string(), "2026-06-30");
        for (body, says) in [
            (json!({"leavingDate": "2026-06-30"}), "one of them"),
            (json!({"employeeNumber": "E1", "email": "a@b.fi", "leavingDate": "2026-06-30"}), "one of them"),
            (json!({"employeeNumber": "E1"}), "leavingDate is required"),
            (json!({"employeeNumber": "E1", "leavingDate": "30.6.2026"}), "a date such as"),
            (json!({"employeeNumber": 5, "leavingDate": "2026-06-30"}), "non-empty string"),
            (json!({"employeeNumber": "131052-308T", "leavingDate": "2026-06-30"}), "national identity number"),
            (json!([1]), "send"),
        ] {
            let e = read(&body).unwrap_err();
            assert!(e.status == 400 && e.detail.contains(says), "{says}: {}", e.detail);
            assert!(!e.body().to_string().contains("131052"));
        }
    }
}
