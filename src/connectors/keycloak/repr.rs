//! A tenant's client in the Admin REST API's representations, both ways: what accord sends
//! (built from the client object alone) and the client object a client read back stands
//! for, field by field. Only keys accord owns are read back: Keycloak fills in defaults
//! (`surrogateAuthRequired`, `alwaysDisplayInConsole`, attributes of its own, mapper ids) and
//! masks the secret (`**********`), and none of that is drift.

use std::collections::{BTreeMap, HashMap};

use ::keycloak::types::{
    ClientRepresentation, IdentityProviderRepresentation, OrganizationRepresentation,
    ProtocolMapperRepresentation, RoleRepresentation, UserRepresentation,
};

use crate::api::AssuranceLevel;
use crate::engine::build::idp::{EIDAS, attr, level_name, secret_digest};
use crate::engine::state::{Object, ObjectKind};
use crate::validate::Invalid;
use crate::validate::redact::Quoted;

use super::kind::{OWNER_VALUE, idp_alias, kattr};
use crate::engine::build::idp::LoginMethod;

/// The client attribute that marks a client as accord's, with `<namespace>/<tenant>`.
pub const OWNER_KEY: &str = "accord.dev/owned-by";
/// Protocol mappers accord makes are named `accord-<claim>`.
pub const MAPPER_PREFIX: &str = "accord-";
/// Client attributes accord owns (the rest are Keycloak's or someone else's).
pub const SIGNING_KEY: &str = "id.token.signed.response.alg";
pub const MIN_ACR_KEY: &str = "minimum.acr.value";
pub const DEFAULT_ACR_KEY: &str = "default.acr.values";
pub const LOA_MAP_KEY: &str = "acr.loa.map";
pub const IDLE_KEY: &str = "client.session.idle.timeout";
pub const MAX_KEY: &str = "client.session.max.lifespan";
pub const PKCE_KEY: &str = "pkce.code.challenge.method";

/// Keycloak's levels of authentication for the eIDAS levels: the step-up conditions of the
/// realm's browser flow must use these numbers.
pub fn loa_of(level: AssuranceLevel) -> u32 {
    match level {
        AssuranceLevel::Low => 1,
        AssuranceLevel::Substantial => 2,
        AssuranceLevel::High => 3,
    }
}

/// The `acr.loa.map` accord writes: every eIDAS `acr` to its level.
pub fn loa_map() -> BTreeMap<String, u32> {
    EIDAS
        .iter()
        .map(|e| (e.1.to_string(), loa_of(e.0)))
        .collect()
}

/// What a client's body needs beyond the client object.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub namespace: String,
    pub tenant: String,
    /// The client secret's value, read from its Secret when connecting.
    pub secret: Option<String>,
}

impl Setup {
    pub fn mark(&self) -> String {
        format!("{}/{}", self.namespace, self.tenant)
    }
}

fn level_named(name: &str) -> Option<AssuranceLevel> {
    EIDAS.iter().map(|e| e.0).find(|l| level_name(*l) == name)
}

fn strings(map: &[(&str, &str)]) -> HashMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The protocol mapper that releases `claim` the way accord does, if Keycloak can.
pub fn mapper_for(claim: &str, client_id: &str) -> Option<ProtocolMapperRepresentation> {
    let to_all = [
        ("id.token.claim", "true"),
        ("access.token.claim", "true"),
        ("userinfo.token.claim", "true"),
        ("introspection.token.claim", "true"),
    ];
    let (mapper, extra): (&str, Vec<(&str, &str)>) = match claim {
        "email" => (
            "oidc-usermodel-property-mapper",
            vec![("user.attribute", "email")],
        ),
        "given_name" => (
            "oidc-usermodel-property-mapper",
            vec![("user.attribute", "firstName")],
        ),
        "family_name" => (
            "oidc-usermodel-property-mapper",
            vec![("user.attribute", "lastName")],
        ),
        "name" => ("oidc-full-name-mapper", vec![]),
        "hsa_id" => (
            "oidc-usermodel-attribute-mapper",
            vec![("user.attribute", "hsaId")],
        ),
        "roles" | "scopes" | "groups" => (
            "oidc-usermodel-attribute-mapper",
            vec![("user.attribute", claim), ("multivalued", "true")],
        ),
        "organization" => (
            "oidc-organization-membership-mapper",
            vec![("multivalued", "true")],
        ),
        "features" => (
            "oidc-usermodel-client-role-mapper",
            vec![
                ("usermodel.clientRoleMapping.clientId", client_id),
                ("multivalued", "true"),
            ],
        ),
        _ => return None,
    };
    let mut config: Vec<(&str, &str)> = to_all.to_vec();
    config.extend(extra);
    if mapper != "oidc-full-name-mapper" {
        config.push(("claim.name", claim));
        config.push(("jsonType.label", "String"));
    }
    Some(ProtocolMapperRepresentation {
        name: Some(format!("{MAPPER_PREFIX}{claim}")),
        protocol: Some("openid-connect".into()),
        protocol_mapper: Some(mapper.into()),
        config: Some(strings(&config)),
        ..Default::default()
    })
}

/// Whether a mapper read back releases `claim` as accord's would: same mapper type and
/// every config key accord sets with its value (Keycloak may add keys of its own).
pub fn mapper_matches(
    have: &ProtocolMapperRepresentation,
    want: &ProtocolMapperRepresentation,
) -> bool {
    let empty = HashMap::new();
    let have_config = have.config.as_ref().unwrap_or(&empty);
    have.name == want.name
        && have.protocol_mapper == want.protocol_mapper
        && want
            .config
            .iter()
            .flatten()
            .all(|(k, v)| have_config.get(k) == Some(v))
}

/// The mappers for the client object's claims.
pub fn mappers(o: &Object) -> Result<Vec<ProtocolMapperRepresentation>, Invalid> {
    let client_id = o.get(attr::CLIENT_ID).unwrap_or(&o.key.id);
    o.attrs
        .get(attr::CLAIMS)
        .into_iter()
        .flatten()
        .map(|c| {
            mapper_for(c, client_id).ok_or_else(|| {
                Invalid(format!(
                    "claim {} cannot be released by Keycloak",
                    Quoted(c)
                ))
            })
        })
        .collect()
}

/// The client as accord wants it. `with_mappers`: for a create (Keycloak makes the mappers
/// with the client); an update leaves them to their own calls, since PUT ignores them.
pub fn client_body(
    o: &Object,
    setup: &Setup,
    with_mappers: bool,
) -> Result<ClientRepresentation, Invalid> {
    let client_id = o.get(attr::CLIENT_ID).unwrap_or(&o.key.id).to_string();
    let level = o
        .get(attr::MINIMUM_LEVEL)
        .and_then(level_named)
        .ok_or_else(|| Invalid("the client object has no minimum level".into()))?;
    let acr = EIDAS.iter().find(|e| e.0 == level).map_or("", |e| e.1);
    let loa = serde_json::to_string(&loa_map()).unwrap_or_default();
    let mut attributes: HashMap<String, String> = strings(&[
        (OWNER_KEY, &setup.mark()),
        (SIGNING_KEY, o.get(attr::SIGNING).unwrap_or("RS256")),
        (MIN_ACR_KEY, acr),
        (DEFAULT_ACR_KEY, acr),
        (LOA_MAP_KEY, &loa),
    ]);
    // An empty value removes a session override set before (PUT merges attributes).
    for (key, a) in [
        (IDLE_KEY, attr::IDLE_TIMEOUT),
        (MAX_KEY, attr::MAX_LIFETIME),
    ] {
        match o.get(a) {
            Some(v) => attributes.insert(key.into(), v.into()),
            None if !with_mappers => attributes.insert(key.into(), String::new()),
            None => None,
        };
    }
    let public = match (&setup.secret, o.get(attr::PUBLIC)) {
        (Some(_), None) => false,
        (None, Some("true")) => true,
        _ => {
            return Err(Invalid(
                "the client secret and the client object disagree on whether the client is public"
                    .into(),
            ));
        }
    };
    if public {
        attributes.insert(PKCE_KEY.into(), "S256".into());
    }
    Ok(ClientRepresentation {
        client_id: Some(client_id),
        description: Some(format!("managed by accord: {}", setup.mark())),
        enabled: Some(true),
        protocol: Some("openid-connect".into()),
        public_client: Some(public),
        client_authenticator_type: (!public).then(|| "client-secret".into()),
        secret: if public { None } else { setup.secret.clone() },
        redirect_uris: Some(
            o.attrs
                .get(attr::REDIRECT_URIS)
                .cloned()
                .unwrap_or_default(),
        ),
        standard_flow_enabled: Some(true),
        implicit_flow_enabled: Some(false),
        direct_access_grants_enabled: Some(false),
        service_accounts_enabled: Some(false),
        attributes: Some(attributes),
        protocol_mappers: if with_mappers {
            Some(mappers(o)?)
        } else {
            None
        },
        ..Default::default()
    })
}

/// A client role for a feature.
pub fn role_body(name: &str) -> RoleRepresentation {
    RoleRepresentation {
        name: Some(name.into()),
        description: Some(format!("accord: extranet feature {name}")),
        ..Default::default()
    }
}

/// What Keycloak holds beside the client itself, read with it.
#[derive(Clone, Debug, Default)]
pub struct Extras<'a> {
    /// The secret's value (`GET …/client-secret`), for a confidential client.
    pub secret: Option<&'a str>,
    pub roles: &'a [RoleRepresentation],
    pub providers: &'a [IdentityProviderRepresentation],
}

/// The client object a client read back stands for. Fields that are not as accord writes
/// them show as what they are, so that the plan names what was changed by hand.
pub fn observed(rep: &ClientRepresentation, extras: &Extras, setup: &Setup) -> Object {
    let client_id = rep.client_id.clone().unwrap_or_default();
    let empty = HashMap::new();
    let attrs = rep.attributes.as_ref().unwrap_or(&empty);
    let get = |k: &str| {
        attrs
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    let mut o = Object::new(ObjectKind::Client, &client_id);
    o.locator = rep.id.clone();
    o.set(attr::CLIENT_ID, &client_id)
        .set_many(
            attr::REDIRECT_URIS,
            rep.redirect_uris.iter().flatten().cloned(),
        )
        .set_opt(attr::SIGNING, get(SIGNING_KEY))
        .set_many(attr::CLAIMS, claims(rep, &client_id))
        .set_many(
            kattr::CLIENT_ROLES,
            extras.roles.iter().filter_map(|r| r.name.clone()),
        )
        .set_many(kattr::FLOWS, flows(rep))
        .set(kattr::ENABLED, rep.enabled.unwrap_or(true).to_string())
        .set_many(attr::LOGIN_METHODS, login_methods(extras.providers));
    let owner = match get(OWNER_KEY) {
        Some(m) if m == setup.mark() => OWNER_VALUE.to_string(),
        Some(m) => format!("not accord's for this tenant ({OWNER_KEY}: {})", Quoted(m)),
        None => format!(
            "not accord (client {} has no {OWNER_KEY} mark)",
            rep.id.as_deref().unwrap_or("?")
        ),
    };
    o.set(kattr::OWNER, owner);
    if rep.public_client == Some(true) {
        let pkce = get(PKCE_KEY);
        o.set(
            attr::PUBLIC,
            if pkce == Some("S256") {
                "true".into()
            } else {
                format!("true, {PKCE_KEY}: {}", pkce.unwrap_or("none"))
            },
        );
    } else if let Some(s) = extras.secret.filter(|s| !s.is_empty()) {
        o.set_sensitive(attr::CLIENT_SECRET, secret_digest(s));
    }
    if let Some(min) = get(MIN_ACR_KEY) {
        match EIDAS.iter().find(|e| e.1 == min) {
            Some(e) => o.set(attr::MINIMUM_LEVEL, level_name(e.0)),
            None => o.set(
                attr::MINIMUM_LEVEL,
                format!("{MIN_ACR_KEY}: {}", Quoted(min)),
            ),
        };
    }
    o.set_opt(
        attr::ACR,
        acr(get(LOA_MAP_KEY), get(DEFAULT_ACR_KEY)).as_deref(),
    );
    for (key, a) in [
        (IDLE_KEY, attr::IDLE_TIMEOUT),
        (MAX_KEY, attr::MAX_LIFETIME),
    ] {
        // 0 is Keycloak's "the realm's setting".
        o.set_opt(a, get(key).filter(|v| *v != "0"));
    }
    o
}

/// The `acr` a login gets by default, when the LoA map is accord's; else what is there.
fn acr(loa: Option<&str>, default: Option<&str>) -> Option<String> {
    let ours = loa
        .and_then(|l| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(l).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.as_u64().or_else(|| v.as_str()?.parse().ok())))
                .collect::<BTreeMap<_, _>>()
        })
        == Some(
            loa_map()
                .into_iter()
                .map(|(k, v)| (k, Some(u64::from(v))))
                .collect(),
        );
    match (ours, default) {
        (true, d) => d.map(String::from),
        (false, _) => Some(format!("{LOA_MAP_KEY}: {}", Quoted(loa.unwrap_or("none")))),
    }
}

/// The claims released, by name when the mapper is accord's; others as `mapper=type`.
fn claims(rep: &ClientRepresentation, client_id: &str) -> Vec<String> {
    rep.protocol_mappers
        .iter()
        .flatten()
        .map(|m| {
            let name = m.name.as_deref().unwrap_or("");
            let claim = name.strip_prefix(MAPPER_PREFIX).unwrap_or("");
            match mapper_for(claim, client_id) {
                Some(want) if mapper_matches(m, &want) => claim.to_string(),
                _ => format!("{name}={}", m.protocol_mapper.as_deref().unwrap_or("?")),
            }
        })
        .collect()
}

fn flows(rep: &ClientRepresentation) -> Vec<&'static str> {
    [
        (rep.standard_flow_enabled, "standard"),
        (rep.implicit_flow_enabled, "implicit"),
        (rep.direct_access_grants_enabled, "directAccessGrants"),
        (rep.service_accounts_enabled, "serviceAccounts"),
    ]
    .into_iter()
    .filter(|(on, _)| *on == Some(true))
    .map(|(_, name)| name)
    .collect()
}

/// The login methods the realm's enabled identity providers offer, as policy names them.
pub fn login_methods(providers: &[IdentityProviderRepresentation]) -> Vec<String> {
    providers
        .iter()
        .filter(|p| p.enabled != Some(false))
        .filter_map(|p| {
            let alias = p.alias.as_deref()?;
            let provider = p.provider_id.as_deref()?;
            let method = match provider {
                "saml" if alias == "suomifi" => LoginMethod::Suomifi,
                "saml" => LoginMethod::Saml(alias.into()),
                _ => LoginMethod::Oidc(alias.into()),
            };
            let served = idp_alias(&method).is_some_and(|(_, ids)| ids.contains(&provider));
            Some(if served {
                method.to_string()
            } else {
                format!("{alias} ({provider})")
            })
        })
        .collect()
}

/// The user attribute that marks a user as accord's, with `<namespace>/<tenant>` (user
/// profile attribute names take letters, digits, `.`, `_` and `-` only).
pub const USER_OWNER_KEY: &str = "accord.owned-by";

/// The person object's attributes and the user attributes they are kept in.
pub const USER_ATTRIBUTES: [(&str, &str); 4] = [
    ("roles", "roles"),
    ("groups", "groups"),
    ("scopes", "scopes"),
    ("hsa_id", "hsaId"),
];
/// The person object's attribute that is the client roles the user has.
pub const FEATURES: &str = "features";

/// A user as accord wants it (POST and PUT alike: PUT replaces the attributes, so all of
/// accord's go every time).
pub fn user_body(o: &Object, setup: &Setup) -> UserRepresentation {
    let one = |a: &str| o.get(a).map(String::from);
    let mut attributes: HashMap<String, Vec<String>> = HashMap::new();
    attributes.insert(USER_OWNER_KEY.into(), vec![setup.mark()]);
    for (from, to) in USER_ATTRIBUTES {
        if let Some(v) = o.attrs.get(from) {
            attributes.insert(to.into(), v.clone());
        }
    }
    UserRepresentation {
        username: Some(o.key.id.clone()),
        email: one("email"),
        email_verified: Some(true),
        first_name: one("given_name"),
        last_name: one("family_name"),
        enabled: Some(true),
        attributes: Some(attributes),
        ..Default::default()
    }
}

/// Whether a user read back is accord's for this tenant.
pub fn user_is_ours(u: &UserRepresentation, setup: &Setup) -> bool {
    u.attributes
        .as_ref()
        .and_then(|a| a.get(USER_OWNER_KEY))
        .is_some_and(|v| v.len() == 1 && v[0] == setup.mark())
}

/// The person object a user read back stands for; `features`: the client roles the user
/// has.
pub fn observed_user(u: &UserRepresentation, features: Vec<String>) -> Object {
    let id = u.username.clone().unwrap_or_default();
    let mut o = Object::new(ObjectKind::Person, &id);
    o.locator = u.id.clone();
    let empty = HashMap::new();
    let attrs = u.attributes.as_ref().unwrap_or(&empty);
    o.set("sub", &id)
        .set_opt("email", u.email.as_deref())
        .set_opt("given_name", u.first_name.as_deref())
        .set_opt("family_name", u.last_name.as_deref())
        .set_many(FEATURES, features);
    for (to, from) in USER_ATTRIBUTES {
        o.set_many(to, attrs.get(from).into_iter().flatten().cloned());
    }
    if u.enabled == Some(false) {
        // Not accord's doing: an active person's user was disabled by hand.
        o.set("enabled", "false");
    }
    o
}

/// The tenant's Organization in a shared realm, marked as accord's like its users.
pub fn org_body(alias: &str, setup: &Setup) -> OrganizationRepresentation {
    OrganizationRepresentation {
        name: Some(alias.into()),
        alias: Some(alias.into()),
        enabled: Some(true),
        description: Some(format!("managed by accord: {}", setup.mark())),
        attributes: Some(HashMap::from([(
            USER_OWNER_KEY.to_string(),
            vec![setup.mark()],
        )])),
        ..Default::default()
    }
}

pub fn org_is_ours(o: &OrganizationRepresentation, setup: &Setup) -> bool {
    o.attributes
        .as_ref()
        .and_then(|a| a.get(USER_OWNER_KEY))
        .is_some_and(|v| v.len() == 1 && v[0] == setup.mark())
}
