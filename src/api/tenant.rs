//! Tenant: one customer organisation and its policy.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, ManagementMode};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "accord.dev",
    version = "v1alpha1",
    kind = "Tenant",
    namespaced,
    status = "TenantStatus",
    shortname = "tn",
    category = "accord",
    doc = "One customer organisation: its identifiers, which Integrations serve it, and its access policy.",
    printcolumn(
        name = "Mode",
        type_ = "string",
        description = "Enforce corrects drift; Observe only reports it",
        json_path = ".spec.policy.management"
    ),
    printcolumn(
        name = "Users",
        type_ = "integer",
        description = "UserGrants of this tenant",
        json_path = ".status.counts.userGrants"
    ),
    printcolumn(
        name = "Active",
        type_ = "integer",
        description = "people with access now",
        json_path = ".status.counts.active"
    ),
    printcolumn(
        name = "Admins",
        type_ = "integer",
        description = "active people holding an admin role (policy.minAdmins)",
        json_path = ".status.counts.admins"
    ),
    printcolumn(
        name = "Overdue",
        type_ = "integer",
        description = "people whose attestation is overdue",
        json_path = ".status.counts.attestationOverdue"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Drifted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Drifted\")].status"
    ),
    printcolumn(
        name = "Held",
        type_ = "string",
        description = "True while deletions above policy.deletion wait for a confirmation",
        json_path = ".status.conditions[?(@.type==\"DeletionsHeld\")].status",
        priority = 1
    ),
    printcolumn(
        name = "Due",
        type_ = "integer",
        description = "people whose attestation is due",
        json_path = ".status.counts.attestationDue",
        priority = 1
    ),
    printcolumn(
        name = "Display",
        type_ = "string",
        json_path = ".spec.displayName",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
/// What the customer organisation is and the rules its people's access follows.
pub struct TenantSpec {
    /// The organisation's name as people know it, e.g. Acme Työterveys Oy.
    #[x_kube(validation = Rule::new("self.size() > 0").message("displayName must not be empty"))]
    pub display_name: String,
    /// ISO 3166-1 country (FI, SE, DK, NO): how national identity numbers and national phone
    /// numbers are read. Defaults to the country of the first identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(FI|SE|DK|NO)$"))]
    pub country: Option<String>,
    /// Legal and registry identifiers of the organisation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<OrgIdentifier>,
    /// Which Integrations (by name, same namespace) serve as directory, IdP and extranet.
    #[serde(default)]
    pub integrations: TenantIntegrations,
    /// Extranet features this customer has; a UserGrant may only use these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Roles this customer uses; a UserGrant may only hold these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleSpec>,
    /// The access policy: Enforce or Observe, minimum admins, shared accounts, attestation,
    /// the deletion guard, login methods and strength, and session rules.
    #[serde(default)]
    pub policy: TenantPolicy,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgIdentifier {
    /// fi-business-id (Y-tunnus), se-org-number, dk-cvr, hsa-id or other.
    pub scheme: IdentifierScheme,
    /// The identifier as written, e.g. "0112038-9" (checked by the scheme's rules).
    #[schemars(length(min = 1, max = 64))]
    pub value: String,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierScheme {
    FiBusinessId,
    SeOrgNumber,
    DkCvr,
    HsaId,
    Other,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantIntegrations {
    /// The Integration (kind ldap) that holds the customer's user directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// The Integration (kind lemonldap or keycloak) of the identity provider people log in
    /// through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The Integrations (kind scim or webhook) of the extranets that get every person with
    /// their features and scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extranet: Vec<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleSpec {
    /// The role's name as UserGrants' `roles` list it (lower case, digits and -).
    #[schemars(pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: String,
    /// Holders of an admin role count towards `policy.minAdmins`.
    #[serde(default)]
    pub admin: bool,
    /// What the role is for, for people reading the manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantPolicy {
    /// `Enforce` corrects drift in every target; `Observe` only reports it and changes
    /// nothing. An Integration's `sync.management` overrides it for that target.
    #[serde(default)]
    pub management: ManagementMode,
    /// How many active people must hold an admin role; fewer is a PolicyViolation.
    #[serde(default = "default_min_admins")]
    #[schemars(range(min = 0, max = 100))]
    pub min_admins: u32,
    /// `Allow` lets UserGrants be shared logins (`shared: true`, e.g. substitutes);
    /// `Forbid` refuses them.
    #[serde(default)]
    pub shared_accounts: SharedAccounts,
    /// How often someone must confirm each person still belongs, and what happens when
    /// nobody does.
    #[serde(default)]
    pub attestation: AttestationPolicy,
    /// Guard against mass deletion: above either limit, person deletions are held until
    /// released with the annotation `accord.dev/confirm-deletions` (or `--confirm-deletions`).
    #[serde(default)]
    pub deletion: DeletionPolicy,
    /// How people may log in, and how strongly (eIDAS level).
    #[serde(default)]
    pub login: LoginPolicy,
    /// Session rules the IdP enforces.
    #[serde(default)]
    pub session: SessionPolicy,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        Self {
            management: ManagementMode::default(),
            min_admins: default_min_admins(),
            shared_accounts: SharedAccounts::default(),
            attestation: AttestationPolicy::default(),
            deletion: DeletionPolicy::default(),
            login: LoginPolicy::default(),
            session: SessionPolicy::default(),
        }
    }
}

fn default_min_admins() -> u32 {
    2
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum SharedAccounts {
    #[default]
    Forbid,
    Allow,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AttestationPolicy {
    /// How often each person must be confirmed, e.g. `90d`.
    #[serde(default = "default_attestation_interval")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub interval: String,
    /// How long past due before `onOverdue` acts.
    #[serde(default = "default_grace")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub grace_period: String,
    /// `Report` only reports overdue people; `Suspend` suspends them; `Revoke` removes their
    /// access everywhere.
    #[serde(default)]
    pub on_overdue: OnOverdue,
}

impl Default for AttestationPolicy {
    fn default() -> Self {
        Self {
            interval: default_attestation_interval(),
            grace_period: default_grace(),
            on_overdue: OnOverdue::default(),
        }
    }
}

fn default_attestation_interval() -> String {
    "90d".into()
}
fn default_grace() -> String {
    "14d".into()
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum OnOverdue {
    #[default]
    Report,
    Suspend,
    Revoke,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeletionPolicy {
    /// More person deletions than this in one sync are held.
    #[serde(default = "default_max_per_sync")]
    pub max_per_sync: u32,
    /// More than this percentage of a target's people deleted in one sync is held.
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub max_percent: u32,
}

impl Default for DeletionPolicy {
    fn default() -> Self {
        Self {
            max_per_sync: default_max_per_sync(),
            max_percent: default_max_percent(),
        }
    }
}
fn default_max_per_sync() -> u32 {
    25
}
fn default_max_percent() -> u32 {
    10
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoginPolicy {
    /// `password`, `oidc:NAME`, `saml:NAME`, `siths`, `suomifi`, `mitid`, `bankid`, `frejaeid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// The weakest eIDAS level of assurance accepted: low, substantial or high.
    #[serde(default)]
    pub minimum_level: AssuranceLevel,
}

/// eIDAS levels of assurance.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "camelCase")]
pub enum AssuranceLevel {
    #[default]
    Low,
    Substantial,
    High,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionPolicy {
    /// Log out after this long without activity, e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub idle_timeout: Option<String>,
    /// Force a new login after this long, e.g. `90m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(d|h|m|s))+$"))]
    pub max_lifetime: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<TenantCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TenantCounts {
    pub org_units: u32,
    pub user_grants: u32,
    pub active: u32,
    pub pending: u32,
    pub suspended: u32,
    pub expired: u32,
    pub revoked: u32,
    pub admins: u32,
    pub attestation_due: u32,
    pub attestation_overdue: u32,
}
