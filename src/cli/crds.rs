//! `accord crds`: the CustomResourceDefinitions as YAML, for the API server they go to.

use clap::Args;

use crate::api::KubernetesVersion;

#[derive(Args, Debug)]
pub struct CrdsArgs {
    /// Write the CRDs for an API server of this version (e.g. 1.20): without the CEL rules
    /// before 1.25, which accord checks itself.
    ///
    /// Before 1.25 the CRDs carry no CEL validation rules (x-kubernetes-validations): such
    /// servers drop them, and kubectl's client-side validation refuses them. accord checks
    /// the same rules on every object it reads (plan, apply, operator): a non-empty
    /// displayName, the endpoint and the ldap settings an Integration needs, validUntil not
    /// before validFrom. Only "spec.tenant is immutable" is a rule about changes, which the
    /// server alone can check. Before 1.28 the rules carry no fieldPath. Without this option
    /// the CRDs are for a current server (what charts/accord installs). The oldest version is
    /// 1.16 (apiextensions.k8s.io/v1).
    #[arg(long, value_name = "X.Y")]
    pub kubernetes_version: Option<KubernetesVersion>,
}

pub fn run(args: CrdsArgs) -> i32 {
    print!("{}", crate::api::crds_yaml_for(args.kubernetes_version));
    0
}
