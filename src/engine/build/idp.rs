//! The identity-provider view, pure: what an IdP must hold for one tenant, as a typed
//! [`IdpModel`] (the extranet's OIDC client, the claims it releases, who may log in, how
//! strongly and for how long), and the downstream objects each IdP kind compares:
//! the client as one object ([`client_object`]), each active person's claims
//! ([`person_objects`], for IdPs that hold users) and the people whose live sessions may stay
//! ([`session_objects`], for IdPs whose users live in the directory).

use std::collections::BTreeSet;
use std::fmt;

use crate::api::{AssuranceLevel, IdpSettings, SecretKeyRef, SigningAlgorithm};
use crate::engine::problem::ObjectRef;
use crate::engine::state::{Object, ObjectKind};
use crate::validate::Invalid;
use crate::validate::redact::Quoted;

use super::{ResolvedGrant, TenantContext};

/// The client object's attributes: every IdP kind observes its client under these names.
pub mod attr {
    pub const CLIENT_ID: &str = "clientId";
    pub const REDIRECT_URIS: &str = "redirectUris";
    /// `sha256:<hex>` of the secret, sensitive; absent for a public client.
    pub const CLIENT_SECRET: &str = "clientSecret";
    /// `true` when there is no secret (PKCE).
    pub const PUBLIC: &str = "publicClient";
    pub const SIGNING: &str = "signingAlgorithm";
    /// The claims released, by name.
    pub const CLAIMS: &str = "claims";
    /// How the access rule decides, in words: the same text when the IdP holds accord's rule.
    pub const ACCESS_RULE: &str = "accessRule";
    /// The people the access rule lets in (their UserGrant names).
    pub const ALLOWED_PEOPLE: &str = "allowedPeople";
    pub const MINIMUM_LEVEL: &str = "minimumLevel";
    pub const ACR: &str = "acr";
    pub const LOGIN_METHODS: &str = "loginMethods";
    pub const IDLE_TIMEOUT: &str = "idleTimeoutSeconds";
    pub const MAX_LIFETIME: &str = "maxLifetimeSeconds";
}

/// eIDAS levels of assurance: the `acr` value an ID token carries, and the IdP's
/// authentication level for it (LemonLDAP::NG's scale, where a password login is 2).
pub const EIDAS: [(AssuranceLevel, &str, u32); 3] = [
    (AssuranceLevel::Low, "http://eidas.europa.eu/LoA/low", 2),
    (
        AssuranceLevel::Substantial,
        "http://eidas.europa.eu/LoA/substantial",
        3,
    ),
    (AssuranceLevel::High, "http://eidas.europa.eu/LoA/high", 4),
];

pub fn acr_of(level: AssuranceLevel) -> &'static str {
    EIDAS.iter().find(|e| e.0 == level).map_or("", |e| e.1)
}

pub fn authn_level_of(level: AssuranceLevel) -> u32 {
    EIDAS.iter().find(|e| e.0 == level).map_or(0, |e| e.2)
}

/// The eIDAS level an IdP authentication level reaches (the highest not above it).
pub fn level_of_authn(n: u32) -> Option<AssuranceLevel> {
    EIDAS.iter().rev().find(|e| e.2 <= n).map(|e| e.0)
}

pub fn level_name(level: AssuranceLevel) -> &'static str {
    match level {
        AssuranceLevel::Low => "low",
        AssuranceLevel::Substantial => "substantial",
        AssuranceLevel::High => "high",
    }
}

/// One of `policy.login.methods`, without its `@level`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoginMethod {
    /// The IdP's own user store: the directory's passwords.
    Password,
    /// An upstream OpenID Connect provider, by the name the IdP knows it by.
    Oidc(String),
    /// An upstream SAML identity provider.
    Saml(String),
    /// Swedish SITHS card (X.509 client certificate).
    Siths,
    /// Finnish Suomi.fi e-Identification (SAML).
    Suomifi,
    Mitid,
    Bankid,
    Frejaeid,
}

impl LoginMethod {
    /// A method as the validator accepted it (`oidc:entra`, `siths@high` …).
    pub fn parse(method: &str) -> Option<Self> {
        let name = method.split('@').next().unwrap_or(method);
        Some(match name.split_once(':') {
            Some(("oidc", p)) if !p.is_empty() => Self::Oidc(p.to_string()),
            Some(("saml", p)) if !p.is_empty() => Self::Saml(p.to_string()),
            Some(_) => return None,
            None => match name {
                "password" => Self::Password,
                "siths" => Self::Siths,
                "suomifi" => Self::Suomifi,
                "mitid" => Self::Mitid,
                "bankid" => Self::Bankid,
                "frejaeid" => Self::Frejaeid,
                _ => return None,
            },
        })
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password => f.write_str("password"),
            Self::Oidc(p) => write!(f, "oidc:{p}"),
            Self::Saml(p) => write!(f, "saml:{p}"),
            Self::Siths => f.write_str("siths"),
            Self::Suomifi => f.write_str("suomifi"),
            Self::Mitid => f.write_str("mitid"),
            Self::Bankid => f.write_str("bankid"),
            Self::Frejaeid => f.write_str("frejaeid"),
        }
    }
}

/// How an IdP kind can serve a login method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginSupport {
    /// accord sets it up for the tenant.
    Managed,
    /// The IdP can offer it, but it is configured in the IdP outside accord: reported as a
    /// gap, never silently assumed.
    Upstream,
    /// The IdP has no way to offer it; the reason says what to use instead.
    Unsupported(&'static str),
}

/// The claims accord releases to the extranet, by their claim names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Claim {
    Email,
    Name,
    GivenName,
    FamilyName,
    HsaId,
    Roles,
    Features,
    Groups,
    /// Every unit the person may see, sub-units expanded.
    Scopes,
}

impl Claim {
    pub const ALL: [Claim; 9] = [
        Claim::Email,
        Claim::Name,
        Claim::GivenName,
        Claim::FamilyName,
        Claim::HsaId,
        Claim::Roles,
        Claim::Features,
        Claim::Groups,
        Claim::Scopes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
            Self::GivenName => "given_name",
            Self::FamilyName => "family_name",
            Self::HsaId => "hsa_id",
            Self::Roles => "roles",
            Self::Features => "features",
            Self::Groups => "groups",
            Self::Scopes => "scopes",
        }
    }

    /// Whether the claim is a list.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            Self::Roles | Self::Features | Self::Groups | Self::Scopes
        )
    }
}

/// The secret of a confidential client: where it is, and its hash. The value itself never
/// leaves the Secret except on its way to the IdP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecret {
    pub secret_ref: SecretKeyRef,
    /// `sha256:<hex>`.
    pub digest: String,
}

pub fn secret_digest(value: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcClient {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    /// None: a public client (PKCE).
    pub secret: Option<ClientSecret>,
    pub signing: SigningAlgorithm,
}

/// What the tenant's login policy asks of the IdP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRequirement {
    pub minimum: AssuranceLevel,
    /// The `acr` of the minimum level.
    pub acr: &'static str,
    /// The methods that reach the minimum level.
    pub methods: Vec<LoginMethod>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionRules {
    pub idle_timeout_secs: Option<u64>,
    pub max_lifetime_secs: Option<u64>,
}

/// One person who may log in, with the claims the client gets about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpPerson {
    /// The UserGrant's name: the `sub` and the directory's `uid`.
    pub id: String,
    pub source: ObjectRef,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub hsa_id: Option<String>,
    pub roles: BTreeSet<String>,
    pub features: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub scopes: BTreeSet<String>,
}

/// Everything one tenant's IdP must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpModel {
    pub tenant: String,
    pub client: OidcClient,
    /// The claims released to the client.
    pub claims: BTreeSet<Claim>,
    pub login: LoginRequirement,
    pub session: SessionRules,
    /// Exactly the tenant's active people: not Pending, Suspended, Expired, Revoked or
    /// deleted, and no one of another tenant.
    pub people: Vec<IdpPerson>,
}

impl IdpModel {
    /// Who the access rule lets in.
    pub fn allowed(&self) -> impl Iterator<Item = &str> {
        self.people.iter().map(|p| p.id.as_str())
    }
}

/// The default client id when the Integration names none.
pub fn default_client_id(tenant: &str) -> String {
    format!("{tenant}-extranet")
}

/// The tenant's IdP state. `secret_value` is the client secret as read from its Secret
/// (compile has checked that it exists); only its hash is kept.
pub fn build_model(
    ctx: &TenantContext,
    grants: &[ResolvedGrant],
    settings: &IdpSettings,
    secret_value: Option<&str>,
) -> IdpModel {
    let secret = settings
        .client_secret_ref
        .clone()
        .zip(secret_value)
        .map(|(secret_ref, v)| ClientSecret {
            secret_ref,
            digest: secret_digest(v),
        });
    let minimum = ctx.spec.policy.login.minimum_level;
    IdpModel {
        tenant: ctx.name.to_string(),
        client: OidcClient {
            client_id: settings
                .client_id
                .clone()
                .unwrap_or_else(|| default_client_id(ctx.name)),
            redirect_uris: settings.redirect_uris.clone(),
            secret,
            signing: settings.signing_algorithm,
        },
        claims: Claim::ALL.into_iter().collect(),
        login: LoginRequirement {
            minimum,
            acr: acr_of(minimum),
            methods: ctx
                .login_methods
                .iter()
                .filter_map(|m| LoginMethod::parse(m))
                .collect(),
        },
        session: SessionRules {
            idle_timeout_secs: ctx.idle_timeout_secs,
            max_lifetime_secs: ctx.max_lifetime_secs,
        },
        people: grants
            .iter()
            .filter(|g| g.has_access())
            .map(person)
            .collect(),
    }
}

fn person(g: &ResolvedGrant) -> IdpPerson {
    let p = &g.spec.person;
    IdpPerson {
        id: g.name.to_string(),
        source: g.source.clone(),
        email: g.email.clone(),
        given_name: p.given_name.trim().to_string(),
        family_name: p.family_name.trim().to_string(),
        hsa_id: p.hsa_id.clone(),
        roles: g.spec.roles.iter().cloned().collect(),
        features: g.spec.features.iter().cloned().collect(),
        groups: g.spec.groups.iter().cloned().collect(),
        scopes: g.expanded_scopes.clone(),
    }
}

/// The access rule in words, the same for every kind: an IdP that holds accord's rule
/// reports this text back, one that holds another rule reports that rule.
pub fn access_rule_text(tenant: &str) -> String {
    format!("accord: the active people of tenant {tenant}")
}

/// The client as one object, under [`attr`]'s names.
pub fn client_object(m: &IdpModel) -> Object {
    let c = &m.client;
    let mut o = Object::new(ObjectKind::Client, &c.client_id);
    o.set(attr::CLIENT_ID, &c.client_id)
        .set_many(attr::REDIRECT_URIS, c.redirect_uris.iter().cloned())
        .set(attr::SIGNING, c.signing.as_str())
        .set_many(attr::CLAIMS, m.claims.iter().map(|c| c.as_str()))
        .set(attr::ACCESS_RULE, access_rule_text(&m.tenant))
        .set_many(attr::ALLOWED_PEOPLE, m.allowed().map(String::from))
        .set(attr::MINIMUM_LEVEL, level_name(m.login.minimum))
        .set(attr::ACR, m.login.acr)
        .set_many(
            attr::LOGIN_METHODS,
            m.login.methods.iter().map(ToString::to_string),
        );
    match &c.secret {
        Some(s) => o.set_sensitive(attr::CLIENT_SECRET, &s.digest),
        None => o.set(attr::PUBLIC, "true"),
    };
    if let Some(s) = m.session.idle_timeout_secs {
        o.set(attr::IDLE_TIMEOUT, s.to_string());
    }
    if let Some(s) = m.session.max_lifetime_secs {
        o.set(attr::MAX_LIFETIME, s.to_string());
    }
    o
}

/// Each person who may log in, with their claims: for IdPs that hold users.
pub fn person_objects(m: &IdpModel) -> Vec<Object> {
    m.people
        .iter()
        .map(|p| {
            let mut o = Object::new(ObjectKind::Person, &p.id);
            o.source = Some(p.source.clone());
            o.set("sub", &p.id)
                .set("email", &p.email)
                .set("given_name", &p.given_name)
                .set("family_name", &p.family_name)
                .set_opt("hsa_id", p.hsa_id.as_deref())
                .set_many("roles", p.roles.iter().cloned())
                .set_many("groups", p.groups.iter().cloned())
                .set_many("features", p.features.iter().cloned())
                .set_many("scopes", p.scopes.iter().cloned());
            o
        })
        .collect()
}

/// The people whose live sessions may stay: for IdPs whose users live in the directory.
/// A session of anyone else is ended.
pub fn session_objects(m: &IdpModel) -> Vec<Object> {
    m.people
        .iter()
        .map(|p| {
            let mut o = Object::new(ObjectKind::Session, &p.id);
            o.source = Some(p.source.clone());
            o
        })
        .collect()
}

/// The objects of an IdP that holds its users (client and people), as before kinds chose.
pub fn build_idp(
    ctx: &TenantContext,
    grants: &[ResolvedGrant],
    settings: &IdpSettings,
) -> Vec<Object> {
    let secret = settings
        .client_secret_ref
        .as_ref()
        .and_then(|r| ctx.secret_value(r));
    let m = build_model(ctx, grants, settings, secret);
    let mut out = vec![client_object(&m)];
    out.extend(person_objects(&m));
    out
}

// ---------- checks of values that an IdP carries ----------

/// A redirect URI: `https://HOST…`, or `http://` on a loopback host; no fragment, spaces,
/// quotes or control characters.
pub fn check_redirect_uri(uri: &str) -> Result<(), Invalid> {
    if let Some(c) = uri
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '<' | '>' | '`'))
    {
        return Err(Invalid(format!(
            "{} contains {c:?}, which a redirect URI cannot",
            Quoted(uri)
        )));
    }
    if uri.contains('#') {
        return Err(Invalid(format!(
            "{} has a fragment (#…), which OAuth 2.0 forbids in a redirect URI",
            Quoted(uri)
        )));
    }
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", ""));
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if host.is_empty() {
        return Err(Invalid(format!("{} is not an absolute URL with a host", Quoted(uri))));
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        "http" => Err(Invalid(format!(
            "{} is not https; plain http is allowed on a loopback address only",
            Quoted(uri)
        ))),
        _ => Err(Invalid(format!("{} is not an https:// URL", Quoted(uri)))),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host
            .strip_prefix("127.")
            .is_some_and(|r| r.split('.').count() == 3 && r.split('.').all(|p| p.parse::<u8>().is_ok()))
}

/// A client id: letters, digits and `.`, `_`, `-`, `:` (it becomes a key in IdP
/// configurations and URLs).
pub fn check_client_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{} is not a client id (1 to 128 letters, digits, '.', '_', '-' or ':')",
            Quoted(id)
        )))
    }
}

/// Characters that would break an IdP expression or a multi-valued session variable: quotes,
/// Perl sigils, the `"; "` value separator, backslash, braces, backticks.
const EXPRESSION_BREAKERS: &[char] = &['"', '\'', '$', '@', ';', '\\', '`', '{', '}', '%'];

/// A name (group, role, feature, unit) that an IdP may put into an expression or a list
/// claim.
pub fn check_expression_value(value: &str) -> Result<(), Invalid> {
    check_chars(value, EXPRESSION_BREAKERS)
}

/// A person's name or e-mail, which an IdP releases as a claim but never puts into an
/// expression: an apostrophe (O'Brien) is fine, the rest of the breakers are not.
pub fn check_claim_value(value: &str) -> Result<(), Invalid> {
    check_chars(value, &EXPRESSION_BREAKERS[..1])
        .and_then(|()| check_chars(value, &EXPRESSION_BREAKERS[2..]))
}

fn check_chars(value: &str, refused: &[char]) -> Result<(), Invalid> {
    match value
        .chars()
        .find(|c| c.is_control() || refused.contains(c))
    {
        None => Ok(()),
        Some(c) => Err(Invalid(format!(
            "{} contains {}, which the identity provider cannot carry safely (it would break \
             its access rules or split the value)",
            Quoted(value),
            describe(c)
        ))),
    }
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a line break".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eidas_levels_map_to_acr_and_authentication_levels_both_ways() {
        assert_eq!(acr_of(AssuranceLevel::Substantial), "http://eidas.europa.eu/LoA/substantial");
        assert_eq!(authn_level_of(AssuranceLevel::Low), 2);
        assert_eq!(authn_level_of(AssuranceLevel::High), 4);
        assert_eq!(level_of_authn(3), Some(AssuranceLevel::Substantial));
        assert_eq!(level_of_authn(5), Some(AssuranceLevel::High));
        assert_eq!(level_of_authn(1), None);
    }

    #[test]
    fn login_methods_parse_without_their_level() {
        assert_eq!(LoginMethod::parse("oidc:entra@substantial"), Some(LoginMethod::Oidc("entra".into())));
        assert_eq!(LoginMethod::parse("saml:kombit"), Some(LoginMethod::Saml("kombit".into())));
        assert_eq!(LoginMethod::parse("siths"), Some(LoginMethod::Siths));
        assert_eq!(LoginMethod::parse("oidc:"), None);
        assert_eq!(LoginMethod::parse("cas:x"), None);
        assert_eq!(LoginMethod::Oidc("entra".into()).to_string(), "oidc:entra");
    }

    #[test]
    fn redirect_uris_must_be_https_except_on_loopback() {
        for ok in [
            "https://extranet.acme.fi/oidc/callback",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "https://x.fi?a=b",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://extranet.acme.fi/cb", "plain http is allowed on a loopback address only"),
            ("http://127.0.0.1.evil.fi/cb", "plain http"),
            ("ftp://x.fi/", "is not an https:// URL"),
            ("https:///cb", "with a host"),
            ("https://x.fi/cb#frag", "fragment"),
            ("https://x.fi/c b", "contains ' '"),
            ("https://x.fi/\"cb", "contains '\"'"),
        ] {
            let e = check_redirect_uri(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn values_that_would_break_an_expression_are_refused_with_the_character_named() {
        for bad in ["a\"b", "a'b", "a$b", "a@b", "a;b", "a\\b", "a\nb", "a{b", "a`b"] {
            let e = check_expression_value(bad).unwrap_err();
            assert!(e.0.contains("cannot carry safely"), "{bad}: {e}");
        }
        assert!(check_expression_value("a\nb").unwrap_err().0.contains("a line break"));
        assert_eq!(check_expression_value("hoitotiimi-a ä"), Ok(()));
        assert_eq!(check_claim_value("O'Brien"), Ok(()));
        assert!(check_claim_value("a;b").is_err());
        assert!(check_claim_value("a\"b").is_err());
        assert!(check_claim_value("Anna\nMalin").is_err());
    }

    #[test]
    fn client_ids_are_plain_keys() {
        assert_eq!(check_client_id("acme-extranet.v2"), Ok(()));
        assert!(check_client_id("acme extranet").is_err());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a/b").is_err());
    }

    #[test]
    fn the_secret_is_kept_as_a_hash() {
        let d = secret_digest("s3cret");
        assert!(d.starts_with("sha256:") && d.len() == 7 + 64, "{d}");
        assert!(!d.contains("s3cret"));
        assert_ne!(d, secret_digest("s3cret2"));
    }
}
