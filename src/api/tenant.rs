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
    printcolumn(name = "Display", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.policy.management"),
    printcolumn(
        name = "Users",
        type_ = "integer",
        json_path = ".status.counts.userGrants"
    ),
    printcolumn(
        name = "Active",
        type_ = "integer",
        json_path = ".status.counts.active"
    ),
    printcolumn(
        name = "Admins",
        type_ = "integer",
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
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
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
    #[serde(default)]
    pub policy: TenantPolicy,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgIdentifier {
    pub scheme: IdentifierScheme,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extranet: Vec<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleSpec {
    #[schemars(pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: String,
    /// Holders of an admin role count towards `policy.minAdmins`.
    #[serde(default)]
    pub admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantPolicy {
    #[serde(default)]
    pub management: ManagementMode,
    /// People holding an admin role who must be active.
    #[serde(default = "default_min_admins")]
    #[schemars(range(min = 0, max = 100))]
    pub min_admins: u32,
    #[serde(default)]
    pub shared_accounts: SharedAccounts,
    #[serde(default)]
    pub attestation: AttestationPolicy,
    #[serde(default)]
    pub deletion: DeletionPolicy,
    #[serde(default)]
    pub login: LoginPolicy,
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
