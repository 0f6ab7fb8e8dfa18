//! The four custom resources of `accord.dev/v1alpha1`: the public contract (see API.md).

pub mod common;
pub mod integration;
pub mod org_unit;
pub mod parse;
pub mod tenant;
pub mod user_grant;

pub use common::*;
pub use integration::*;
pub use org_unit::*;
pub use tenant::*;
pub use user_grant::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub const GROUP: &str = "accord.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "accord.dev/v1alpha1";

/// A Kubernetes minor version (`1.20`), the API server CRDs are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubernetesVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
    /// `apiextensions.k8s.io/v1` CustomResourceDefinitions: the oldest server they install on.
    pub const OLDEST: Self = Self::new(1, 16);
    /// CEL validation rules (`x-kubernetes-validations`) are checked from here on (beta, on
    /// by default); an older server drops them and kubectl's client-side validation refuses them.
    pub const CEL: Self = Self::new(1, 25);
    /// `fieldPath` on a CEL rule (which field an error names).
    pub const CEL_FIELD_PATH: Self = Self::new(1, 28);
}

impl std::fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for KubernetesVersion {
    type Err = String;

    /// `1.20`, `v1.20` or `1.20.2` (the patch level does not matter).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a Kubernetes version such as 1.20 or v1.28.3");
        let t = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let mut parts = t.split('.');
        let num = |p: Option<&str>| -> Result<u32, String> {
            let p = p.ok_or_else(bad)?;
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let version = Self::new(num(parts.next())?, num(parts.next())?);
        if let Some(patch) = parts.next() {
            num(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        if version < Self::OLDEST {
            return Err(format!(
                "Kubernetes {version} cannot take apiextensions.k8s.io/v1 CustomResourceDefinitions; \
                 accord's need {} or newer",
                Self::OLDEST
            ));
        }
        Ok(version)
    }
}

/// Every CRD accord defines, in a stable order, for a current API server.
pub fn crds() -> Vec<CustomResourceDefinition> {
    crds_for(None)
}

/// The CRDs for an API server of `version` (None: a current one), written with only what
/// that server can take:
/// - an optional enum never lists `null` among its values (schemars writes it for an
///   `Option<enum>`, beside `nullable: true`; a 1.20 server cannot convert such a CRD). The
///   field is left out when absent: every optional field is `skip_serializing_if`.
/// - below [`KubernetesVersion::CEL`] without the CEL rules (`x-kubernetes-validations`);
///   below [`KubernetesVersion::CEL_FIELD_PATH`] the rules without `fieldPath`.
pub fn crds_for(version: Option<KubernetesVersion>) -> Vec<CustomResourceDefinition> {
    let cel = version.is_none_or(|v| v >= KubernetesVersion::CEL);
    let field_path = version.is_none_or(|v| v >= KubernetesVersion::CEL_FIELD_PATH);
    [
        Tenant::crd(),
        OrgUnit::crd(),
        UserGrant::crd(),
        Integration::crd(),
    ]
    .into_iter()
    .map(|crd| {
        let mut v = serde_json::to_value(&crd).expect("a CRD serialises");
        fit(&mut v, cel, field_path);
        serde_json::from_value(v).expect("a CRD without some members is still a CRD")
    })
    .collect()
}

/// Removes, everywhere in a CRD, what the target server cannot take.
fn fit(v: &mut serde_json::Value, cel: bool, field_path: bool) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(members)) = m.get_mut("enum") {
                members.retain(|x| !x.is_null());
            }
            if !cel {
                m.remove("x-kubernetes-validations");
            } else if !field_path
                && let Some(Value::Array(rules)) = m.get_mut("x-kubernetes-validations")
            {
                for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
                    rule.remove("fieldPath");
                }
            }
            m.values_mut().for_each(|c| fit(c, cel, field_path));
        }
        Value::Array(items) => items.iter_mut().for_each(|c| fit(c, cel, field_path)),
        _ => {}
    }
}

/// The CRDs as one multi-document YAML stream, as `accord crds` prints and `crds/` holds.
pub fn crds_yaml() -> String {
    crds_yaml_for(None)
}

/// The CRDs for an API server of `version` (see [`crds_for`]) as `accord crds
/// --kubernetes-version` prints them.
pub fn crds_yaml_for(version: Option<KubernetesVersion>) -> String {
    let mut out = match version {
        None => String::from(
            "# Generated by `accord crds`; do not edit. A test fails when this is stale.\n",
        ),
        Some(v) => {
            let what = if v < KubernetesVersion::CEL {
                "without the CEL rules (x-kubernetes-validations), which servers before 1.25 \
                 cannot take; accord checks the same rules on every object it reads, except \
                 \"spec.tenant is immutable\" (a rule on changes, which only the server sees)"
            } else if v < KubernetesVersion::CEL_FIELD_PATH {
                "CEL rules without fieldPath, which this server cannot take"
            } else {
                "the same as for a current server"
            };
            format!("# Generated by `accord crds --kubernetes-version {v}`: {what}.\n")
        }
    };
    for crd in crds_for(version) {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd).expect("CRDs serialise"));
    }
    out
}
