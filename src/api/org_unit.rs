//! OrgUnit: one node of a customer's organisation tree.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Code, Condition};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "accord.dev",
    version = "v1alpha1",
    kind = "OrgUnit",
    namespaced,
    status = "OrgUnitStatus",
    shortname = "ou",
    category = "accord",
    doc = "One unit of a customer's organisation tree; units nest through `parent`.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(
        name = "Path",
        type_ = "string",
        description = "display path from the root unit",
        json_path = ".status.path"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Parent",
        type_ = "string",
        json_path = ".spec.parent",
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
/// Where the unit sits in its tenant's tree, and its codes.
pub struct OrgUnitSpec {
    /// The name of the Tenant (same namespace) this unit belongs to. Immutable.
    #[schemars(pattern(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenant is immutable"))]
    pub tenant: String,
    /// The unit's name as people know it, e.g. Kallio: a segment of the display path
    /// (`acme/helsinki/kallio`) and the description of its organizationalUnit in LDAP.
    pub display_name: String,
    /// The parent OrgUnit (metadata.name, same tenant); absent on a root unit. Units nest
    /// without cycles; a person's scope with includeDescendants reaches every unit below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"))]
    pub parent: Option<String>,
    /// Cost centre, HSA-id, EAN and other codes of the unit, each {scheme, value}; LDAP
    /// attributes can carry them (`unitCodes:SCHEME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrgUnitStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Display path from the root, e.g. `acme/helsinki/kallio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
}
