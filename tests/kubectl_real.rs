//! kubectl as a person uses it, against the real kube-apiserver 1.20 (tests/support/apiserver.rs,
//! built by scripts/install-kube-apiserver.sh) with a current kubectl (.cache/tools, 1.35):
//! the CRDs as `accord crds --kubernetes-version 1.20` writes them install; all three example
//! customers pass `kubectl apply --validate=strict`; with the operator running as a user bound
//! to exactly the Role the chart renders, `kubectl get accord` shows the columns a person
//! needs, `kubectl explain` prints the field docs and `kubectl describe` the conditions and
//! events. The outputs are written to target/tmp/kubectl-real/ (the README shows them).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use support::apiserver::ApiServer;

const CUSTOMERS: [(&str, &str); 3] = [
    ("fi-acme", "customer-acme"),
    ("dk-aarhus", "customer-aarhus"),
    ("se-vardgivaren", "customer-vardgivaren"),
];

fn helm(args: &[&str]) -> String {
    let out = Command::new(support::apiserver::repo().join(".cache/tools/helm"))
        .args(args)
        .current_dir(support::apiserver::repo())
        .output()
        .expect("helm runs (scripts/test.sh installs it into .cache/tools)");
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keeps what a test shows a person, for the README.
fn keep(name: &str, text: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubectl-real");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    eprintln!("--- {name}\n{text}");
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> Option<String>, log: &Path) {
    let deadline = Instant::now() + timeout;
    loop {
        if ok().is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\noperator log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The table header of each kind in `kubectl get` output with several kinds.
fn headers(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .filter(|l| l.starts_with("NAME "))
        .map(|l| {
            // Columns are separated by at least two spaces or padded; names with one space
            // inside (Attestation Due) stay whole.
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn kubectl_shows_accord_as_a_person_needs_it() {
    let api = ApiServer::start();
    eprintln!("kube-apiserver ready in {:?}", api.ready_in);

    // The CRDs as a user of this server gets them from the product.
    let crds = support::accord(&["crds", "--kubernetes-version", "1.20"]);
    assert_eq!(crds.code, 0, "{}", crds.stderr);
    api.install_crds(&crds.stdout);

    // Every example passes a current kubectl's strict validation against this server.
    for (customer, ns) in CUSTOMERS {
        api.kubectl(&["create", "namespace", ns]);
        let dir = support::examples().join(customer);
        let out = api.kubectl(&[
            "apply",
            "--validate=strict",
            "-R",
            "-f",
            dir.to_str().unwrap(),
        ]);
        let created = out.lines().filter(|l| l.ends_with(" created")).count();
        let files = walk(&dir);
        assert!(
            created >= files,
            "{customer}: {created} objects from {files} files\n{out}"
        );
    }
    // A field the schema does not have is refused, naming it.
    let bad = api.kubectl_run(
        "admin",
        &["apply", "--validate=strict", "-f", "-"],
        Some(
            "apiVersion: accord.dev/v1alpha1\nkind: OrgUnit\nmetadata: {name: x, namespace: customer-acme}\n\
             spec: {tenant: acme, displayName: X, parnet: acme}\n",
        ),
    );
    assert_ne!(bad.code, 0, "{}", bad.stdout);
    assert!(bad.stderr.contains("parnet"), "{}", bad.stderr);

    // The operator, as a user bound to exactly the Role the chart renders, fills the status
    // columns. Its targets do not exist here, so they are unreachable: an honest status too.
    let ns = "customer-acme";
    let rendered = helm(&[
        "template",
        "acme",
        "charts/accord",
        "--namespace",
        ns,
        "-s",
        "templates/rbac.yaml",
    ]);
    let role: Value = serde_yaml::Deserializer::from_str(&rendered)
        .filter_map(|d| Value::deserialize(d).ok())
        .find(|d| d["kind"] == "Role")
        .expect("the chart's Role");
    api.apply_yaml(&serde_yaml::to_string(&role).unwrap());
    api.apply_yaml(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n\
         metadata: {{name: accord-operator, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {}}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: accord-operator}}]\n",
        role["metadata"]["name"].as_str().unwrap()
    ));
    let log = api.dir().join("operator.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .args([
                "operator",
                "--namespace",
                ns,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--debounce",
                "200ms",
                "--lease",
                "acme-accord",
                "--identity",
                "acme-accord-0",
            ])
            .env("KUBECONFIG", api.kubeconfig_for("accord-operator"))
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let json = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend(["-n", ns, "-o", "json"]);
        serde_json::from_str(&api.kubectl(&all)).unwrap()
    };
    wait_for(
        "the Tenant's counts and every grant's state",
        Duration::from_secs(120),
        || {
            let tenant = json(&["get", "tenant", "acme"]);
            tenant["status"]["counts"]["userGrants"]
                .as_u64()
                .filter(|n| *n > 0)?;
            let grants = json(&["get", "usergrants"]);
            let items = grants["items"].as_array()?;
            items
                .iter()
                .all(|g| g["status"]["state"].is_string())
                .then(|| "ok".to_string())
        },
        &log,
    );
    let tenant = json(&["get", "tenant", "acme"]);
    let conditions = tenant["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions.iter().any(|c| c["type"] == "Ready"),
        "{conditions:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("Forbidden") && !text.contains("forbidden"),
        "the chart's Role lacks something the operator called:\n{text}"
    );

    // kubectl get accord: one table per kind with the columns a person needs.
    let table = api.kubectl(&["get", "accord", "-n", ns]);
    keep("get-accord.txt", &table);
    let want: [&[&str]; 4] = [
        &[
            "NAME", "MODE", "USERS", "ACTIVE", "ADMINS", "OVERDUE", "READY", "DRIFTED", "AGE",
        ],
        &["NAME", "TENANT", "PATH", "READY", "AGE"],
        &[
            "NAME",
            "TENANT",
            "UNIT",
            "STATE",
            "READY",
            "DRIFTED",
            "ATTESTATION DUE",
            "AGE",
        ],
        &[
            "NAME",
            "TENANT",
            "KIND",
            "MODE",
            "MANAGED",
            "DRIFTED",
            "FAILED",
            "REACHABLE",
            "READY",
            "AGE",
        ],
    ];
    let got = headers(&table);
    for columns in want {
        assert!(
            got.iter().any(|h| h == columns),
            "no table with columns {columns:?} in:\n{table}"
        );
    }
    assert!(table.contains("tenant.accord.dev/acme "), "{table}");
    assert!(
        table.contains("acme/helsinki/kallio"),
        "OrgUnit paths:\n{table}"
    );
    assert!(table.contains("Active"), "grant states:\n{table}");
    // The columns only -o wide shows.
    let wide = api.kubectl(&["get", "usergrants", "-n", ns, "-o", "wide"]);
    keep("get-usergrants-wide.txt", &wide);
    assert!(
        headers(&wide)[0].iter().any(|c| c == "EMAIL") && wide.contains("anna.virtanen@acme.fi"),
        "{wide}"
    );
    let integrations = api.kubectl(&["get", "integrations", "-n", ns, "-o", "wide"]);
    keep("get-integrations-wide.txt", &integrations);
    assert!(
        integrations.contains("ENDPOINT")
            && integrations.contains("ldaps://ldap.acme.internal:636"),
        "{integrations}"
    );

    // kubectl explain: the field docs.
    let explain = api.kubectl(&["explain", "usergrant.spec.scopes"]);
    keep("explain-usergrant-spec-scopes.txt", &explain);
    for text in [
        "Org units whose documents and reports the person may see",
        "includeDescendants",
        "every unit below it",
        "by metadata.name",
    ] {
        assert!(explain.contains(text), "{text:?} in:\n{explain}");
    }
    // Every spec field of every kind has a description to explain.
    for kind in ["tenant", "orgunit", "usergrant", "integration"] {
        let all = api.kubectl(&["explain", &format!("{kind}.spec"), "--recursive"]);
        assert!(all.contains("FIELDS"), "{all}");
        let spec = api.kubectl(&["explain", &format!("{kind}.spec")]);
        assert!(
            !spec.contains("<empty>"),
            "a {kind}.spec field without a description:\n{spec}"
        );
    }

    // kubectl describe: conditions with their reasons, and the grant's events.
    wait_for(
        "an event on anna-virtanen",
        Duration::from_secs(60),
        || {
            let d = api.kubectl(&["describe", "usergrant", "anna-virtanen", "-n", ns]);
            d.contains("accord-operator").then_some(d)
        },
        &log,
    );
    let describe = api.kubectl(&["describe", "usergrant", "anna-virtanen", "-n", ns]);
    keep("describe-usergrant.txt", &describe);
    assert!(
        describe.contains("Conditions:")
            && describe.contains("Reason:")
            && describe.contains("Events:")
            && describe.contains("accord-operator"),
        "{describe}"
    );
}

/// The number of YAML files under a folder.
fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                walk(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "yaml"))
            }
        })
        .sum()
}

/// The chart installs on the real 1.20 server with an example customer's values file: its
/// kubeVersion admits 1.20, the PodDisruptionBudget is written as 1.20 knows it, the
/// NetworkPolicy, RBAC and the customer's own objects are accepted. (Nothing runs the pods
/// here: there is no kubelet, so `helm test` is not run.)
#[test]
fn the_chart_installs_on_the_real_api_server() {
    let api = ApiServer::start();
    let kubeconfig = api.kubeconfig_admin();
    let kubeconfig = kubeconfig.to_str().unwrap();
    // The CRDs for this server first; the chart's own carry CEL rules (1.25+).
    let crds = support::accord(&["crds", "--kubernetes-version", "1.20"]);
    api.install_crds(&crds.stdout);
    let out = helm(&[
        "install",
        "acme",
        "charts/accord",
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        "customer-acme",
        "--create-namespace",
        "--skip-crds",
        "-f",
        "charts/accord/examples/fi-acme.yaml",
        "--set",
        "serviceMonitor.enabled=false",
    ]);
    keep("helm-install.txt", &out);
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert!(out.contains("helm test acme -n customer-acme"), "{out}");
    assert!(
        out.contains("accord crds --kubernetes-version 1.20"),
        "{out}"
    );
    let pdb = api.kubectl(&[
        "get",
        "poddisruptionbudgets.v1beta1.policy",
        "-n",
        "customer-acme",
        "-o",
        "name",
    ]);
    assert!(pdb.contains("acme-accord"), "{pdb}");
    let objects = api.kubectl(&[
        "get",
        "tenants,orgunits,integrations,networkpolicy,role,rolebinding,deployment,service",
        "-n",
        "customer-acme",
        "-o",
        "name",
    ]);
    for name in [
        "tenant.accord.dev/acme",
        "orgunit.accord.dev/acme-helsinki-kallio",
        "integration.accord.dev/acme-ldap",
        "networkpolicy.networking.k8s.io/acme-accord",
        "role.rbac.authorization.k8s.io/acme-accord",
        "deployment.apps/acme-accord",
        "service/acme-accord-metrics",
    ] {
        assert!(objects.contains(name), "{name} in:\n{objects}");
    }
    // Uninstalling leaves the customer's objects (deleting them would deprovision people).
    helm(&[
        "uninstall",
        "acme",
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        "customer-acme",
    ]);
    let left = api.kubectl(&[
        "get",
        "tenants,deployment",
        "-n",
        "customer-acme",
        "-o",
        "name",
    ]);
    assert!(
        left.contains("tenant.accord.dev/acme") && !left.contains("deployment"),
        "{left}"
    );
}
