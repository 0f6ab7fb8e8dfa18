//! A tenant's relying party in the Manager REST API's JSON, both ways: the body accord sends
//! (built from the client object alone, every expression checked) and the client object an
//! RP read back stands for, field by field, so that a hand edit shows as drift on its field.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::engine::build::idp::{
    access_rule_text, acr_of, attr, authn_level_of, level_name, level_of_authn, secret_digest,
};
use crate::engine::state::{Object, ObjectKind};
use crate::validate::Invalid;
use crate::validate::redact::Quoted;

use super::expr;

/// Who owns an RP, in its `comment` option.
pub const OWNER_ATTR: &str = "managedBy";
pub const OWNER: &str = "accord";
/// The confKey prefix of every RP accord makes.
pub const CONF_KEY_PREFIX: &str = "accord-";

/// What an RP's body needs beyond the client object: whose it is, the secret's value, and
/// where the directory keeps what the claims are made of.
#[derive(Clone, Debug, Default)]
pub struct RpSetup {
    pub namespace: String,
    pub tenant: String,
    pub secret: Option<String>,
    /// The directory's people DN: the rule lets in no one outside it.
    pub people_dn: Option<String>,
    /// LDAP attributes (exported under their own names) the directory maps `scopes` and
    /// `hsaId` to.
    pub scopes_var: Option<String>,
    pub hsa_var: Option<String>,
}

impl RpSetup {
    pub fn marker(&self) -> String {
        format!("managed by accord: {}/{}", self.namespace, self.tenant)
    }

    /// The `exportedVars` value accord writes for a claim, if it can release it.
    pub fn exported(&self, claim: &str) -> Option<String> {
        let list = |var: &str| format!("{var};string;always");
        Some(match claim {
            "email" => "mail".into(),
            "name" => "cn".into(),
            "given_name" => "givenName".into(),
            "family_name" => "sn".into(),
            "hsa_id" => self.hsa_var.clone()?,
            "scopes" => list(self.scopes_var.as_deref()?),
            other => list(expr::macro_for(other)?.0),
        })
    }
}

/// The confKey for a client id: accord's prefix, and only characters a key may hold.
pub fn conf_key(client_id: &str) -> String {
    let safe: String = client_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .collect();
    format!("{CONF_KEY_PREFIX}{safe}")
}

/// The whole RP as accord wants it (for POST and PUT: PUT replaces everything).
pub fn body(o: &Object, setup: &RpSetup) -> Result<Value, Invalid> {
    let client_id = o.get(attr::CLIENT_ID).unwrap_or(&o.key.id).to_string();
    let list = |a: &str| o.attrs.get(a).cloned().unwrap_or_default();
    let mut exported = Map::new();
    let mut macros = Map::new();
    for claim in list(attr::CLAIMS) {
        let spec = setup.exported(&claim).ok_or_else(|| {
            Invalid(format!("claim {} cannot be released by LemonLDAP::NG", Quoted(&claim)))
        })?;
        expr::check_exported(&spec)?;
        if let Some((var, e)) = expr::macro_for(&claim) {
            expr::check_macro(var, e)?;
            macros.insert(var.into(), json!(e));
        }
        exported.insert(claim, json!(spec));
    }
    let rule = expr::rule(setup.people_dn.as_deref(), &list(attr::ALLOWED_PEOPLE))?;
    let level = o
        .get(attr::MINIMUM_LEVEL)
        .and_then(|l| match l {
            "low" => Some(crate::api::AssuranceLevel::Low),
            "substantial" => Some(crate::api::AssuranceLevel::Substantial),
            "high" => Some(crate::api::AssuranceLevel::High),
            _ => None,
        })
        .map_or(0, authn_level_of);
    let mut options = json!({
        "IDTokenSignAlg": o.get(attr::SIGNING).unwrap_or("RS256"),
        "IDTokenForceClaims": 1,
        "bypassConsent": 1,
        "rule": rule,
        "authnLevel": level,
        "comment": setup.marker(),
    });
    match (&setup.secret, o.get(attr::PUBLIC)) {
        (Some(secret), None) => {
            options["clientSecret"] = json!(secret);
            options["public"] = json!(0);
        }
        (None, Some("true")) => {
            options["public"] = json!(1);
            options["requirePKCE"] = json!(1);
        }
        _ => {
            return Err(Invalid(
                "the client secret and the client object disagree on whether the client is public"
                    .into(),
            ));
        }
    }
    Ok(json!({
        "confKey": conf_key(&client_id),
        "clientId": client_id,
        "redirectUris": list(attr::REDIRECT_URIS),
        "exportedVars": exported,
        "macros": macros,
        "options": options,
    }))
}

/// The client object an RP read back stands for. Fields accord does not recognise as its own
/// show as what they are, so that the plan names what was changed by hand.
pub fn observed(rp: &Value, setup: &RpSetup) -> Object {
    let conf_key = rp["confKey"].as_str().unwrap_or("").to_string();
    let client_id = rp["clientId"].as_str().unwrap_or("").to_string();
    let opts = &rp["options"];
    let mut o = Object::new(ObjectKind::Client, &client_id);
    o.locator = Some(conf_key.clone());
    o.set(attr::CLIENT_ID, &client_id)
        .set_many(attr::REDIRECT_URIS, strings(&rp["redirectUris"]))
        .set_opt(attr::SIGNING, opts["IDTokenSignAlg"].as_str())
        .set_many(attr::CLAIMS, claims(rp, setup));
    let owner = match opts["comment"].as_str() {
        Some(c) if c == setup.marker() => OWNER.to_string(),
        _ => format!("not accord (confKey {conf_key} has no ownership mark)"),
    };
    o.set(OWNER_ATTR, owner);
    if number(&opts["public"]) == Some(1) {
        o.set(attr::PUBLIC, "true");
    } else if let Some(s) = opts["clientSecret"].as_str().filter(|s| !s.is_empty()) {
        o.set_sensitive(attr::CLIENT_SECRET, secret_digest(s));
    }
    match opts["rule"].as_str().map(expr::parse_rule) {
        Some(Ok(r)) if r.people_dn == setup.people_dn => {
            o.set(attr::ACCESS_RULE, access_rule_text(&setup.tenant))
                .set_many(attr::ALLOWED_PEOPLE, r.people);
        }
        Some(Ok(r)) => {
            o.set(
                attr::ACCESS_RULE,
                format!("accord's rule for people under {}", r.people_dn.unwrap_or_default()),
            )
            .set_many(attr::ALLOWED_PEOPLE, r.people);
        }
        Some(Err(_)) => {
            let text = opts["rule"].as_str().unwrap_or("");
            o.set(attr::ACCESS_RULE, format!("hand-written: {}", short(text)));
        }
        None => {
            o.set(attr::ACCESS_RULE, "none: everyone who logs in");
        }
    }
    if let Some(level) = number(&opts["authnLevel"]).and_then(|n| level_of_authn(n as u32)) {
        o.set(attr::MINIMUM_LEVEL, level_name(level)).set(attr::ACR, acr_of(level));
    }
    o
}

/// The claims released as accord would release them, by name; others as `name=how`.
fn claims(rp: &Value, setup: &RpSetup) -> Vec<String> {
    let exported: BTreeMap<String, String> = rp["exportedVars"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    let macros = &rp["macros"];
    exported
        .iter()
        .map(|(claim, spec)| {
            let as_accords = setup.exported(claim).as_deref() == Some(spec.as_str())
                && expr::macro_for(claim)
                    .is_none_or(|(var, e)| macros[var].as_str() == Some(e));
            if as_accords {
                claim.clone()
            } else {
                format!("{claim}={}", short(spec))
            }
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        Value::String(s) => s.split_whitespace().map(String::from).collect(),
        _ => Vec::new(),
    }
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A value for a message: one line, at most 120 characters.
fn short(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() > 120 {
        format!("{}…", one_line.chars().take(120).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> RpSetup {
        RpSetup {
            namespace: "customer-acme".into(),
            tenant: "acme".into(),
            secret: Some("s3cret".into()),
            people_dn: Some("ou=people,dc=acme,dc=fi".into()),
            scopes_var: Some("departmentNumber".into()),
            hsa_var: None,
        }
    }

    fn client() -> Object {
        let mut o = Object::new(ObjectKind::Client, "acme-portal");
        o.set(attr::CLIENT_ID, "acme-portal")
            .set_many(attr::REDIRECT_URIS, ["https://x.acme.fi/cb"])
            .set_sensitive(attr::CLIENT_SECRET, secret_digest("s3cret"))
            .set(attr::SIGNING, "RS256")
            .set_many(attr::CLAIMS, ["email", "name", "roles", "scopes"])
            .set(attr::ACCESS_RULE, access_rule_text("acme"))
            .set_many(attr::ALLOWED_PEOPLE, ["anna", "liisa"])
            .set(attr::MINIMUM_LEVEL, "substantial")
            .set(attr::ACR, acr_of(crate::api::AssuranceLevel::Substantial))
            .set(OWNER_ATTR, OWNER);
        o
    }

    #[test]
    fn the_body_reads_back_as_the_same_client() {
        let b = body(&client(), &setup()).unwrap();
        assert_eq!(b["confKey"], "accord-acme-portal");
        assert_eq!(b["options"]["authnLevel"], 3);
        assert_eq!(b["options"]["clientSecret"], "s3cret");
        assert_eq!(b["exportedVars"]["scopes"], "departmentNumber;string;always");
        assert_eq!(b["exportedVars"]["roles"], "accordRoles;string;always");
        assert!(b["macros"]["accordRoles"].as_str().unwrap().contains("role-"));
        // What GET gives back: the body plus defaults.
        let mut rp = b.clone();
        rp["options"]["logoutType"] = json!("front");
        let back = observed(&rp, &setup());
        let mut want = client();
        want.locator = Some("accord-acme-portal".into());
        assert_eq!(back.attrs, want.attrs);
    }

    #[test]
    fn hand_edits_show_on_their_field() {
        let mut rp = body(&client(), &setup()).unwrap();
        rp["redirectUris"] = json!(["https://x.acme.fi/cb", "https://evil.example/cb"]);
        rp["exportedVars"].as_object_mut().unwrap().remove("roles");
        rp["exportedVars"]["email"] = json!("uid");
        rp["options"]["rule"] = json!("1");
        rp["options"]["authnLevel"] = json!(2);
        rp["options"]["comment"] = json!("mine");
        let o = observed(&rp, &setup());
        assert_eq!(o.attrs[attr::REDIRECT_URIS].len(), 2);
        assert_eq!(o.attrs[attr::CLAIMS], ["email=uid", "name", "scopes"]);
        assert_eq!(o.get(attr::ACCESS_RULE), Some("hand-written: 1"));
        assert!(o.get(attr::ALLOWED_PEOPLE).is_none());
        assert_eq!(o.get(attr::MINIMUM_LEVEL), Some("low"));
        assert!(o.get(OWNER_ATTR).unwrap().starts_with("not accord"));
    }

    #[test]
    fn a_public_client_and_claims_it_cannot_release() {
        let mut c = client();
        c.attrs.remove(attr::CLIENT_SECRET);
        c.set(attr::PUBLIC, "true");
        let mut s = setup();
        s.secret = None;
        let b = body(&c, &s).unwrap();
        assert_eq!((b["options"]["public"].clone(), b["options"]["requirePKCE"].clone()), (json!(1), json!(1)));
        assert!(b["options"].get("clientSecret").is_none());
        s.scopes_var = None;
        assert!(body(&c, &s).unwrap_err().0.contains("scopes"));
        assert!(body(&client(), &RpSetup { secret: None, ..setup() }).is_err());
    }

    #[test]
    fn conf_keys_are_prefixed_and_plain() {
        assert_eq!(conf_key("acme:portal"), "accord-acme-portal");
        assert_eq!(conf_key("a.b_c"), "accord-a.b_c");
    }
}
