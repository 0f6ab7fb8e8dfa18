//! UserGrant: one person's access in one tenant.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Code, Condition, Date, SecretKeyRef};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "accord.dev",
    version = "v1alpha1",
    kind = "UserGrant",
    namespaced,
    status = "UserGrantStatus",
    shortname = "ug",
    shortname = "grant",
    category = "accord",
    doc = "One person's access in one tenant: identity, roles, features, unit scopes and validity.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(
        name = "Unit",
        type_ = "string",
        description = "home unit",
        json_path = ".spec.unit"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        description = "Pending, Active, Suspended, Expired or Revoked",
        json_path = ".status.state"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "True when every target holds the person as declared",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Drifted",
        type_ = "string",
        description = "True when a target holds something else than declared",
        json_path = ".status.conditions[?(@.type==\"Drifted\")].status"
    ),
    printcolumn(
        name = "Attestation Due",
        type_ = "string",
        format = "date",
        description = "when someone must next confirm the person still belongs",
        json_path = ".status.attestationDue"
    ),
    printcolumn(
        name = "Email",
        type_ = "string",
        json_path = ".spec.person.email",
        priority = 1
    ),
    printcolumn(
        name = "Roles",
        type_ = "string",
        json_path = ".spec.roles",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
/// Who the person is and what they may do: roles, groups, features, the units they see, and
/// for how long.
#[x_kube(validation = Rule::new("!has(self.validFrom) || !has(self.validUntil) || self.validFrom <= self.validUntil").message("validUntil must not be before validFrom").field_path(".validUntil"))]
pub struct UserGrantSpec {
    /// The name of the Tenant (same namespace) this person belongs to. Immutable: to move a
    /// person to another customer, delete this grant and create one there.
    #[schemars(pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenant is immutable"))]
    pub tenant: String,
    /// Who the person is: name, e-mail, phone, address, skills, codes. The national identity
    /// number only by reference to a Secret (`nationalIdRef`), never the number itself.
    pub person: Person,
    /// Home unit: the OrgUnit (metadata.name, same tenant) where the person sits in the
    /// directory. What the person may see is `scopes`, not this.
    pub unit: String,
    /// Roles from the Tenant's `roles` (by name): what data the person may handle. Holders of
    /// an admin role count towards the Tenant's `policy.minAdmins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Directory groups the person is a member of (`group-NAME` in LDAP, groups in SCIM),
    /// e.g. a care team. Free names; created when first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extranet features the person may use (messaging, documents, reports, employment,
    /// sickLeave, workplaceSurvey, workAbility …); each must be declared on the Tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Org units whose documents and reports the person may see in the extranet, each with or
    /// without its sub-units. Units must belong to the same tenant. Empty: the person sees
    /// nothing beyond their own data. Extranets get them as entitlements (see the
    /// Integration's `scim.scopes` for how sub-units are sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<Scope>,
    /// First day of access (ISO 8601 date, e.g. 2026-01-01). Before it the person is Pending
    /// and absent from every target. Absent: from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Date>,
    /// Last day of access (ISO 8601 date, e.g. 2027-12-31), included. After it the person is
    /// Expired: kept downstream but disabled (in LDAP as the Integration's `ldap.disabled`
    /// says; inactive in extranets). Absent: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Date>,
    /// Suspends all access now (state Suspended): the person stays known downstream,
    /// disabled, and gets everything back when this is set to false again.
    #[serde(default)]
    pub suspended: bool,
    /// A shared (e.g. substitute) login; needs the Tenant's `sharedAccounts: Allow`.
    #[serde(default)]
    pub shared: bool,
    /// The last confirmation that the person still belongs (`accord attest` writes it). The
    /// next is due after the Tenant's `policy.attestation.interval`; overdue grants are
    /// handled as its `onOverdue` says. Absent: counted from validFrom, else from creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// First name(s), as the person uses them (1 to 128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub given_name: String,
    /// Family name (1 to 128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub family_name: String,
    /// Work e-mail address; SCIM extranets also get it as the userName.
    #[schemars(email)]
    pub email: String,
    /// E.164 after normalisation, e.g. `+358401234567`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^\+?[0-9 ()-]{6,24}$"))]
    pub phone: Option<String>,
    /// Postal address (work place or home, as the customer keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The customer's employee number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// Job title, e.g. Työterveyshoitaja.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Skills and qualifications, e.g. ensiapu, hygieniapassi.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// Occupation codes by scheme, e.g. {scheme: hsa-befattning, value: "201010"}.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occupation_codes: Vec<Code>,
    /// Swedish directory identity (HSA-id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[A-Z]{2}[0-9]{10}-[0-9A-Za-z]{1,31}$"))]
    pub hsa_id: Option<String>,
    /// The national identity number, only by reference: never the number itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_id_ref: Option<SecretKeyRef>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Street and number; may run over lines (staircase, flat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// Postal code as written in the country, e.g. "00100".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City or post town.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[A-Z]{2}$"))]
    pub country: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// An OrgUnit of the same tenant, by metadata.name (not its display path).
    pub unit: String,
    /// Whether the unit's whole subtree is included: every unit below it, also those added
    /// later. False: the unit alone.
    #[serde(default)]
    pub include_descendants: bool,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    /// The day someone last confirmed the person still belongs (ISO 8601 date).
    pub last_attested: Date,
    /// Who confirmed it (their e-mail address or name).
    pub attested_by: String,
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
pub enum LifecycleState {
    Pending,
    Active,
    Suspended,
    Expired,
    Revoked,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSyncState {
    InSync,
    Drifted,
    Failed,
    Pending,
    Held,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserGrantStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<LifecycleState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_due: Option<Date>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetStatus>,
    /// The last time an entry of this person was edited by hand in a target and accord put it
    /// back (Enforce mode). Kept until the next such repair; Observe mode reports drift in
    /// `targets[].drift` and the `Drifted` condition instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift: Option<LastDrift>,
}

/// A drift accord repaired: when, in which target, and the fields (sensitive values masked).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastDrift {
    /// When it was put back.
    pub time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    /// The Integration whose target had been edited.
    pub integration: String,
    /// Each field: the value put back (`desired`) and the one found (`actual`).
    pub fields: Vec<FieldDrift>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    pub integration: String,
    pub state: TargetSyncState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<FieldDrift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldDrift {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}
