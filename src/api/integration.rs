//! Integration: one downstream system and how to reach it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, ManagementMode, SecretKeyRef, SecretRef};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "accord.dev",
    version = "v1alpha1",
    kind = "Integration",
    namespaced,
    status = "IntegrationStatus",
    shortname = "integ",
    category = "accord",
    doc = "One downstream system (directory, IdP or extranet) of a tenant and how to reach it.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.kind"),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".spec.endpoint",
        priority = 1
    ),
    printcolumn(
        name = "Mode",
        type_ = "string",
        description = "sync.management; empty: the Tenant's policy.management",
        json_path = ".spec.sync.management"
    ),
    printcolumn(
        name = "Managed",
        type_ = "integer",
        description = "objects accord manages there: people, groups, units",
        json_path = ".status.managed"
    ),
    printcolumn(
        name = "Drifted",
        type_ = "integer",
        description = "objects that differ from the declaration, in Observe mode",
        json_path = ".status.drifted"
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        description = "people the last sync could not write",
        json_path = ".status.failed"
    ),
    printcolumn(
        name = "Reachable",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Reachable\")].status"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.kind == 'scimServer' || has(self.endpoint)").message("endpoint is required for an outbound integration").field_path(".endpoint"))]
#[x_kube(validation = Rule::new("self.kind != 'ldap' || has(self.ldap)").message("an ldap integration needs the ldap settings (baseDN)").field_path(".ldap"))]
/// Which system, how to reach and authenticate to it, and how hard to load it.
pub struct IntegrationSpec {
    /// The name of the Tenant (same namespace) this system serves. Immutable.
    #[schemars(pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenant is immutable"))]
    pub tenant: String,
    /// What the system is: `ldap` (directory), `scim` or `webhook` (extranets), `lemonldap`
    /// or `keycloak` (IdP), or `scimServer` (inbound provisioning, e.g. from Entra ID). Its
    /// settings go under the key of the same name.
    pub kind: IntegrationKind,
    /// `ldap://`, `ldaps://`, `https://` … ; absent for the inbound `scimServer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(ldap|ldaps|http|https)://[^\s]+$"))]
    pub endpoint: Option<String>,
    /// TLS: the CA to verify the server with, StartTLS for `ldap://`. Certificates are
    /// always verified unless `insecureSkipVerify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// A Secret (same namespace) with the credentials. Keys depend on the kind:
    /// `bindDN`/`password` (ldap), `token` or `username`/`password` (scim), `secret` (webhook
    /// signing key), `username`/`password` (lemonldap: basic auth to its REST API and
    /// manager), `clientId`/`clientSecret` (keycloak admin API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<SecretRef>,
    /// Settings of a `kind: ldap` directory; required for that kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapSettings>,
    /// Settings of a `kind: scim` extranet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimSettings>,
    /// Settings of a `kind: webhook` extranet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    /// Settings of a `kind: lemonldap` IdP (LemonLDAP::NG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lemonldap: Option<IdpSettings>,
    /// Settings of a `kind: keycloak` IdP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<IdpSettings>,
    /// Settings of a `kind: scimServer` (inbound provisioning): how pushed SCIM Users become
    /// UserGrants, which Groups give which access, and how hard the client may push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_server: Option<ScimServerSettings>,
    /// How often the system is re-read for drift, whether drift is corrected, and how hard
    /// accord may load the system.
    #[serde(default)]
    pub sync: SyncSettings,
}

#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum IntegrationKind {
    Ldap,
    Scim,
    Webhook,
    Lemonldap,
    Keycloak,
    ScimServer,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ldap => "ldap",
            Self::Scim => "scim",
            Self::Webhook => "webhook",
            Self::Lemonldap => "lemonldap",
            Self::Keycloak => "keycloak",
            Self::ScimServer => "scimServer",
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// CA certificate (PEM) to verify the server with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// Upgrade a plain `ldap://` connection with StartTLS.
    #[serde(default)]
    pub start_tls: bool,
    /// Turns certificate verification off. For test systems only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LdapSettings {
    /// The directory's base DN, e.g. `dc=acme,dc=fi`; accord works below it only.
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    /// Where people go; defaults to `ou=people,<baseDN>`.
    #[serde(rename = "peopleDN", default, skip_serializing_if = "Option::is_none")]
    pub people_dn: Option<String>,
    /// Where groups go; defaults to `ou=groups,<baseDN>`.
    #[serde(rename = "groupsDN", default, skip_serializing_if = "Option::is_none")]
    pub groups_dn: Option<String>,
    /// Where disabled people go with `disabled: MoveToBranch`; defaults to `ou=disabled,<baseDN>`.
    #[serde(
        rename = "disabledDN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disabled_dn: Option<String>,
    /// `Tree` mirrors the org tree under peopleDN; `Flat` puts every person directly in it.
    #[serde(default)]
    pub layout: LdapLayout,
    /// What happens to Suspended and Expired people.
    #[serde(default)]
    pub disabled: DisabledMode,
    /// Extra object classes on every person, e.g. `hsaPerson`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub person_object_classes: Vec<String>,
    /// Extra person attributes: LDAP attribute → source (`hsaId`, `employeeNumber`, `title`,
    /// `skills`, `occupationCodes`, `occupationCodes:SCHEME`, `unitCodes:SCHEME`, `nationalId`,
    /// `phone`, `email`, `scopes` — every unit an active person may see, which an IdP
    /// backed by this directory releases as the `scopes` claim).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Take over an existing entry with the same identity that accord does not own yet.
    #[serde(default)]
    pub adopt: bool,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum LdapLayout {
    #[default]
    Tree,
    Flat,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum DisabledMode {
    /// Keep the entry, remove it from every group.
    #[default]
    RemoveFromGroups,
    /// Move the entry to the disabled branch, out of every group.
    MoveToBranch,
    /// Delete the entry.
    Delete,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScimSettings {
    /// `Expanded` lists every concrete unit; `UnitWithDescendants` sends the unit and a flag.
    #[serde(default)]
    pub scopes: ScopeEncoding,
    /// Take over a user with the same userName that accord does not own yet.
    #[serde(default)]
    pub adopt: bool,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ScopeEncoding {
    #[default]
    Expanded,
    UnitWithDescendants,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    /// How often the whole state is sent so the receiver can see what it missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub full_state_interval: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdpSettings {
    /// The OIDC client (or SAML service provider) the extranet logs in through; default
    /// `<tenant>-extranet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub client_id: Option<String>,
    /// Where the IdP may send people back to after login (the extranet's callback URLs):
    /// `https://`, or `http://` on a loopback address only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// The client secret, from a Secret (same namespace). Absent: a public client, which
    /// must use PKCE. The value never appears in a plan or status; drift is found by hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// How the IdP signs the ID tokens it gives this client.
    #[serde(default)]
    pub signing_algorithm: SigningAlgorithm,
    /// LemonLDAP::NG only: the manager URL that serves `/sessions` (often the manager's
    /// own host, apart from the REST API's `endpoint`). Absent: sessions are read and
    /// ended through `endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(http|https)://[^\s]+$"))]
    pub sessions_endpoint: Option<String>,
    /// Keycloak only: the realm the tenant's client lives in (its own realm, or the realm
    /// shared by the tenants in `mode: organization`). The realm must exist: accord never
    /// creates or deletes realms. Default: the tenant's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub realm: Option<String>,
    /// Keycloak only: `realm` (the realm is the tenant's own) or `organization` (the realm is
    /// shared, and the tenant is an Organization in it). Default `realm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<KeycloakMode>,
    /// Keycloak only: the realm of the admin client named by `credentialsRef`
    /// (`clientId`/`clientSecret`, a service account with realm-management rights).
    /// Default `master`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub admin_realm: Option<String>,
}

/// How a tenant sits in Keycloak.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[serde(rename_all = "camelCase")]
pub enum KeycloakMode {
    /// The realm is the tenant's own.
    #[default]
    Realm,
    /// The realm is shared by several tenants; the tenant is an Organization in it.
    Organization,
}

/// The ID token signing algorithm.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum SigningAlgorithm {
    #[default]
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }
}

/// An inbound SCIM server (e.g. Entra ID provisioning): `accord operator --scim-listen` serves
/// it at `/scim/{namespace}/{integration}/v2`, authenticated by the bearer token in the
/// Integration's `credentialsRef` Secret (key `token`, and any `token-*` keys for rotation).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScimServerSettings {
    /// The home unit (OrgUnit metadata.name) of a pushed person whose department names no
    /// unit. Absent: the tenant's root unit, if it has exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_unit: Option<String>,
    /// Where each person field is read from: SCIM attribute paths, the first one present
    /// wins (e.g. `phone: ['phoneNumbers[type eq "mobile"].value', 'phoneNumbers[type eq
    /// "work"].value']`). Keys: givenName, familyName, email, phone, employeeNumber, title,
    /// street, postalCode, city, country, unit (matched against OrgUnit names, display paths
    /// and display names). An empty list leaves the field unmapped. Absent keys keep the
    /// defaults (Entra ID's attribute mapping).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Access every pushed person gets, whatever their groups.
    #[serde(default)]
    pub defaults: InboundAccess,
    /// Members of a pushed Group get this access: matched by the Group's displayName or
    /// externalId (Entra's object id). Groups without an entry are kept but give nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub groups: Vec<GroupMapping>,
    /// Requests per second the client may send (a token bucket; past it 429 with
    /// Retry-After), so that a noisy client cannot starve reconciles.
    #[serde(default = "default_inbound_rps")]
    #[schemars(range(min = 1, max = 10000))]
    pub requests_per_second: u32,
    /// Requests the client may send at once above the steady rate.
    #[serde(default = "default_inbound_burst")]
    #[schemars(range(min = 1, max = 100000))]
    pub burst: u32,
    /// The span over which inbound deletions count towards the Tenant's `policy.deletion`
    /// (one provisioning cycle of the client, e.g. `1h`): past it, deletions are held.
    #[serde(default = "default_deletion_window")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub deletion_window: String,
    /// Also accept `POST /leavers/{namespace}/{integration}` from an HR system: a leaving date
    /// for any person of the tenant, found by employee number or e-mail.
    #[serde(default)]
    pub leavers: bool,
}

/// Access given by an inbound producer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InboundAccess {
    /// Roles declared on the Tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Extranet features declared on the Tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Directory groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Units whose documents and reports the person may see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<super::user_grant::Scope>,
}

/// One row of the group mapping table: members of this pushed Group get this access.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.displayName) != has(self.externalId)").message("name the group by displayName or by externalId, one of them"))]
pub struct GroupMapping {
    /// The Group's displayName as the client sends it (compared without regard to case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The Group's externalId (Entra ID: the group's object id), which survives renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub access: InboundAccess,
}

impl Default for ScimServerSettings {
    fn default() -> Self {
        Self {
            default_unit: None,
            attributes: BTreeMap::new(),
            defaults: InboundAccess::default(),
            groups: Vec::new(),
            requests_per_second: default_inbound_rps(),
            burst: default_inbound_burst(),
            deletion_window: default_deletion_window(),
            leavers: false,
        }
    }
}

fn default_inbound_rps() -> u32 {
    25
}
fn default_inbound_burst() -> u32 {
    50
}
fn default_deletion_window() -> String {
    "1h".into()
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncSettings {
    /// How often the whole system is re-read to see drift no watch can (e.g. `5m`), jittered;
    /// also the longest wait between retries while it is unreachable.
    #[serde(default = "default_interval")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub interval: String,
    /// `Enforce` or `Observe` for this system alone; absent: the Tenant's
    /// `policy.management`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<ManagementMode>,
    /// At most this many requests to the system at once. Absent: what suits the kind
    /// (each connector's `LIMITS`): 8 for ldap, 4 for scim, webhook and the IdPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub max_concurrency: Option<u32>,
    /// At most this many requests per second to the system. Absent: what suits the kind:
    /// 5000 for ldap (a directory on the customer's own network), 25 for scim and webhook
    /// (an extranet's API), 10 for the IdPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_second: Option<u32>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            management: None,
            max_concurrency: None,
            requests_per_second: None,
        }
    }
}

/// How hard accord drives one system: the Integration's `spec.sync`, or its kind's defaults
/// (a directory on the customer's network takes far more than an extranet's API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncLimits {
    pub max_concurrency: u32,
    pub requests_per_second: u32,
}

impl SyncSettings {
    /// What `spec.sync` says, else the connector kind's `defaults`.
    pub fn limits(&self, d: SyncLimits) -> SyncLimits {
        SyncLimits {
            max_concurrency: self.max_concurrency.unwrap_or(d.max_concurrency).max(1),
            requests_per_second: self
                .requests_per_second
                .unwrap_or(d.requests_per_second)
                .max(1),
        }
    }
}
fn default_interval() -> String {
    "5m".into()
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub managed: u32,
    #[serde(default)]
    pub drifted: u32,
    #[serde(default)]
    pub failed: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}
