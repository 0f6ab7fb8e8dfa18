//! A real LemonLDAP::NG 2.16 for tests (Debian's packages, installed by
//! scripts/install-lemonldap.sh): portal (with the OpenID Connect issuer), Manager REST API
//! and manager (sessions, configurations) served by `plackup -s Starman` on loopback ports,
//! a private ini and a File configuration backend in the test's folder, logins against the
//! test's slapd. Stopped when dropped.
//!
//! People log in with `uid` and `userPassword` anywhere under the base DN (subtree search);
//! their session holds `uid`, `cn`, `mail`, `sn`, `givenName`, `groups` (the `cn`s of the
//! `groupOfNames` under `ou=groups,<base>` that list them as `member`, joined by `"; "`) and
//! `hGroups`. A password login has authentication level 2, which the ID token's `acr`
//! reports as eIDAS low (see [`EIDAS_LEVELS`]).
//!
//! Every server runs one Starman worker, so once a request has seen a new configuration
//! every later request sees it too: after a change, poll (e.g. with [`wait_until`]) until the
//! portal behaves the new way, then rely on it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::slapd::{ADMIN_PW, Slapd};

/// The configuration Debian's package ships, which every test configuration starts from.
pub const DEBIAN_CONF: &str = "/var/lib/lemonldap-ng/conf/lmConf-1.json";

pub const ACR_LOW: &str = "http://eidas.europa.eu/LoA/low";
pub const ACR_SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
pub const ACR_HIGH: &str = "http://eidas.europa.eu/LoA/high";

/// `oidcServiceMetaDataAuthnContext`: acr value → LemonLDAP authentication level. Replaces
/// the default `loa-1` … `loa-5`. An ID token's `acr` is the key whose level equals the
/// session's `authenticationLevel`, or `loa-<level>` when none does. A password (LDAP) login
/// has level 2 (`ldapAuthnLevel`), so it is eIDAS low; an RP with `authnLevel` 3 or 4 asks
/// for substantial or high.
pub const EIDAS_LEVELS: [(&str, u32); 3] = [(ACR_LOW, 2), (ACR_SUBSTANTIAL, 3), (ACR_HIGH, 4)];

/// The key id of the OIDC signing key (`kid` in the JWKS and in ID token headers).
pub const SIGNING_KEY_ID: &str = "accord-test-sig";

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

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`; panics naming
/// `what` otherwise. For configuration changes: the portal picks one up within about a
/// second (`checkTime = 1`).
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a future to completion on a private runtime in a thread of its own, so the
/// synchronous helpers work in plain `#[test]`s and inside `#[tokio::test]`s alike.
pub(crate) fn block<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    accord::connectors::http::crypto_provider();
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

/// One HTTP request with a JSON body (or none); the status and the body as JSON (`Null` when
/// empty, `{"raw": text}` when not JSON). Always sends `Accept: application/json`, without
/// which the REST API answers errors in HTML.
pub fn request(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    block(async {
        let client = reqwest::Client::new();
        let mut rb = client
            .request(method.parse().unwrap(), url)
            .header("Accept", "application/json");
        if let Some(b) = body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
        };
        (status, v)
    })
}

/// Where a test's LemonLDAP reads its users from, and what it changes in Debian's
/// configuration.
pub struct LemonBuilder<'a> {
    slapd: &'a Slapd,
    base: String,
    overrides: Vec<(String, Value)>,
}

impl LemonBuilder<'_> {
    /// Sets a global configuration key (e.g. `timeout`, `timeoutActivity`,
    /// `ldapAuthnLevel`, `oidcServiceMetaDataAuthnContext`) after the harness's own
    /// settings; `Value::Null` removes the key.
    pub fn set(mut self, key: &str, value: Value) -> Self {
        self.overrides.push((key.to_string(), value));
        self
    }

    pub fn start(self) -> Lemon {
        Lemon::launch(self)
    }
}

struct Server {
    name: &'static str,
    port: u16,
    log: PathBuf,
    child: Child,
}

pub struct Lemon {
    pub dir: PathBuf,
    pub base: String,
    /// How long `start` took, from writing the configuration to all three servers answering.
    pub startup: Duration,
    portal_port: u16,
    api_port: u16,
    manager_port: u16,
    servers: Vec<Server>,
}

impl Lemon {
    /// LemonLDAP with the harness's configuration, logins against `slapd` under `base` (a
    /// suffix of `slapd` or an entry below one).
    pub fn start(slapd: &Slapd, base: &str) -> Lemon {
        Self::builder(slapd, base).start()
    }

    /// To change global configuration keys before starting: `Lemon::builder(&slapd, base)
    /// .set("timeout", json!(3600)).start()`.
    pub fn builder<'a>(slapd: &'a Slapd, base: &str) -> LemonBuilder<'a> {
        LemonBuilder {
            slapd,
            base: base.to_string(),
            overrides: Vec::new(),
        }
    }

    fn launch(b: LemonBuilder) -> Lemon {
        let started = Instant::now();
        // Next to the slapd folder, in the test's scratch folder.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = b.slapd.dir.parent().unwrap().join(format!("lemonldap-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [
            "conf",
            "sessions/lock",
            "psessions/lock",
            "cache",
            "notifications",
        ] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let (portal_port, api_port, manager_port) = (free_port(), free_port(), free_port());

        // The OIDC signing key pair. Crypt::OpenSSL::RSA wants PKCS#1 ("BEGIN RSA PRIVATE KEY").
        run(Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(dir.join("sig.key"))
            .arg("2048")
            .stderr(Stdio::null()));
        run(Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(dir.join("sig.key"))
            .arg("-out")
            .arg(dir.join("sig.pub"))
            .stderr(Stdio::null()));

        let ini = format!(
            "[all]\nlogLevel = warn\ncheckTime = 1\n\n\
             [configuration]\ntype = File\ndirName = {conf}\nprettyPrint = 1\n\n\
             [portal]\nstaticPrefix = /static\ntemplateDir = /usr/share/lemonldap-ng/portal/templates\nlanguages = en\n\n\
             [handler]\nstatus = 0\nuseRedirectOnError = 1\n\n\
             [manager]\nprotection = none\nstaticPrefix = /static\n\
             templateDir = /usr/share/lemonldap-ng/manager/htdocs/templates\nlanguages = en\n\
             enabledModules = conf, sessions\n",
            conf = dir.join("conf").display()
        );
        std::fs::write(dir.join("lemonldap-ng.ini"), ini).unwrap();

        let debian = std::fs::read_to_string(DEBIAN_CONF).unwrap_or_else(|e| {
            panic!("{DEBIAN_CONF}: {e} (install LemonLDAP::NG with scripts/install-lemonldap.sh)")
        });
        let mut conf: Map<String, Value> = serde_json::from_str(&debian).unwrap();
        let suffix = b
            .slapd
            .suffixes
            .iter()
            .find(|s| b.base.to_lowercase().ends_with(&s.to_lowercase()))
            .unwrap_or_else(|| panic!("{} is under none of slapd's suffixes", b.base))
            .clone();
        let d = |p: &str| dir.join(p).display().to_string();
        let portal = format!("http://127.0.0.1:{portal_port}");
        let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
        let settings = json!({
            "cfgNum": 1,
            "cfgAuthor": "accord tests",
            // A host name: an IP address or nothing is refused. Cookies carry it, the
            // portal itself is reached at 127.0.0.1.
            "domain": "localhost",
            "portal": format!("{portal}/"),
            "globalStorageOptions": {
                "Directory": d("sessions"),
                "LockDirectory": d("sessions/lock"),
                "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256"
            },
            "persistentStorageOptions": {"Directory": d("psessions"), "LockDirectory": d("psessions/lock")},
            "localSessionStorageOptions": {
                "cache_depth": 3, "cache_root": d("cache"), "default_expires_in": 600,
                "directory_umask": "007", "namespace": "lemonldap-ng-sessions"
            },
            "notificationStorageOptions": {"dirName": d("notifications")},
            "reloadUrls": {},
            "demoExportedVars": null,
            "issuerDBOpenIDConnectActivation": 1,
            "oidcServiceMetaDataIssuer": portal,
            "oidcServicePrivateKeySig": read("sig.key"),
            "oidcServicePublicKeySig": read("sig.pub"),
            "oidcServiceKeyIdSig": SIGNING_KEY_ID,
            "oidcServiceMetaDataAuthnContext":
                EIDAS_LEVELS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>(),
            "authentication": "LDAP",
            "userDB": "Same",
            "passwordDB": "LDAP",
            "ldapServer": format!("ldap://127.0.0.1:{}", b.slapd.port),
            "ldapBase": b.base,
            "managerDn": b.slapd.admin(&suffix),
            "managerPassword": ADMIN_PW,
            "AuthLDAPFilter": "(&(uid=$user)(objectClass=inetOrgPerson))",
            "ldapExportedVars": {"uid": "uid", "cn": "cn", "mail": "mail", "sn": "sn", "givenName": "givenName"},
            "ldapAuthnLevel": 2,
            // Groups are only searched when ldapGroupBase is set.
            "ldapGroupBase": format!("ou=groups,{}", b.base),
            "ldapGroupObjectClass": "groupOfNames",
            "ldapGroupAttributeName": "member",
            "ldapGroupAttributeNameUser": "dn",
            "ldapGroupAttributeNameSearch": "cn",
            "ldapGroupRecursive": 0,
        });
        let settings = settings.as_object().unwrap().clone();
        for (k, v) in settings.into_iter().chain(b.overrides) {
            if v.is_null() {
                conf.remove(&k);
            } else {
                conf.insert(k, v);
            }
        }
        std::fs::write(
            dir.join("conf/lmConf-1.json"),
            serde_json::to_string_pretty(&Value::Object(conf)).unwrap(),
        )
        .unwrap();

        let mut lemon = Lemon {
            dir: dir.clone(),
            base: b.base.clone(),
            startup: Duration::ZERO,
            portal_port,
            api_port,
            manager_port,
            servers: Vec::new(),
        };
        for (name, port, psgi) in [
            (
                "portal",
                portal_port,
                "/usr/share/lemonldap-ng/portal/htdocs/index.psgi",
            ),
            (
                "api",
                api_port,
                "/usr/share/lemonldap-ng/manager/api/api.psgi",
            ),
            (
                "manager",
                manager_port,
                "/usr/share/lemonldap-ng/manager/htdocs/manager.psgi",
            ),
        ] {
            let log = dir.join(format!("{name}.log"));
            let out = std::fs::File::create(&log).unwrap();
            let child = Command::new("plackup")
                // development mode would need Devel::StackTrace
                .args(["-E", "deployment", "-s", "Starman", "--workers", "1"])
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg(psgi)
                .env("LLNG_DEFAULTCONFFILE", dir.join("lemonldap-ng.ini"))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                // its own process group, so Drop ends the Starman workers too
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("plackup starts (install with scripts/install-lemonldap.sh): {e}")
                });
            lemon.servers.push(Server {
                name,
                port,
                log,
                child,
            });
        }

        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = |lemon: &Lemon| -> bool {
            let ok = |url: String, check: &dyn Fn(&Value) -> bool| {
                let got = block(async {
                    let r = reqwest::Client::new()
                        .get(&url)
                        .header("Accept", "application/json")
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                        _ => None,
                    }
                });
                got.is_some_and(|v| check(&v))
            };
            ok(format!("{}/api/v1/status", lemon.api_url()), &|v| {
                v["status"] == "ok"
            }) && ok(
                format!("{}/.well-known/openid-configuration", lemon.portal_url()),
                &|v| v["issuer"] == lemon.issuer(),
            ) && ok(format!("{}/sessions/global", lemon.manager_url()), &|v| {
                v["result"] == 1
            })
        };
        loop {
            for s in &mut lemon.servers {
                if let Ok(Some(status)) = s.child.try_wait() {
                    let name = s.name;
                    panic!(
                        "LemonLDAP {name} exited ({status}) while starting\n{}",
                        lemon.log_tails()
                    );
                }
            }
            if ready(&lemon) {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "LemonLDAP did not answer within 60 s (api /api/v1/status, portal \
                     /.well-known/openid-configuration, manager /sessions/global)\n{}",
                    lemon.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        lemon.startup = started.elapsed();
        lemon
    }

    /// The portal, without a trailing slash: `http://127.0.0.1:PORT`.
    pub fn portal_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.portal_port)
    }

    /// The OpenID Connect issuer (`iss` of every token): the same as `portal_url()`.
    /// Discovery is `{issuer}/.well-known/openid-configuration`, the endpoints are under
    /// `{issuer}/oauth2/`.
    pub fn issuer(&self) -> String {
        self.portal_url()
    }

    /// The Manager REST API: `{api_url}/api/v1/providers/oidc/rp` and so on.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// The manager: `{manager_url}/sessions/global`, `{manager_url}/confs/latest`, ….
    pub fn manager_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.manager_port)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/oauth2/jwks", self.issuer())
    }

    /// A REST API call, `path` from `/api/v1/…`.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        request(method, &format!("{}{path}", self.api_url()), body)
    }

    /// A manager call, `path` such as `/sessions/global?_whatToTrace=anna`.
    pub fn manager(&self, method: &str, path: &str) -> (u16, Value) {
        request(method, &format!("{}{path}", self.manager_url()), None)
    }

    /// The ids of a person's SSO sessions (the `lemonldap` cookie's value), oldest first.
    pub fn sessions_of(&self, uid: &str) -> Vec<String> {
        let mut url =
            reqwest::Url::parse(&format!("{}/sessions/global", self.manager_url())).unwrap();
        url.query_pairs_mut().append_pair("_whatToTrace", uid);
        let (status, v) = request("GET", url.as_str(), None);
        assert_eq!(status, 200, "{v}");
        v["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["session"].as_str().map(String::from))
            .collect()
    }

    /// Ends one SSO session through the manager (removes it from the session store and the
    /// local cache). The portal does not notice at once: a Starman worker keeps the last
    /// session it loaded in memory for `handlerInternalCache` (15 s) seconds, so the cookie
    /// may still give codes that long — poll. A session id the store does not have is a 500.
    pub fn end_session(&self, id: &str) {
        let (status, v) = self.manager("DELETE", &format!("/sessions/global/{id}"));
        assert!(status == 200 && v["result"] == 1, "{status} {v}");
    }

    /// The newest configuration number written to the File backend (every REST API write
    /// adds one `lmConf-N.json`).
    pub fn latest_cfg_num(&self) -> u32 {
        std::fs::read_dir(self.dir.join("conf"))
            .unwrap()
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("lmConf-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0)
    }

    /// Waits until the portal knows `client_id` with `secret`, probing the token endpoint
    /// with a made-up code: `invalid_client` while it does not, `invalid_grant` once it does.
    pub fn wait_for_client(&self, client_id: &str, secret: &str) {
        let url = format!("{}/oauth2/token", self.issuer());
        wait_until(
            &format!("the portal to know client {client_id}"),
            Duration::from_secs(20),
            || {
                let (status, body) = block(async {
                    let r = reqwest::Client::new()
                        .post(&url)
                        .basic_auth(client_id, Some(secret))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body("grant_type=authorization_code&code=probe&redirect_uri=http%3A%2F%2F127.0.0.1%2F")
                        .send()
                        .await
                        .unwrap();
                    (r.status().as_u16(), r.text().await.unwrap_or_default())
                });
                (status == 400 && body.contains("invalid_grant")).then_some(())
            },
        )
    }

    /// The last lines of each server's log, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            let text = std::fs::read_to_string(&s.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            out.push_str(&format!(
                "--- {} (127.0.0.1:{}, {}):\n{tail}\n",
                s.name,
                s.port,
                s.log.display()
            ));
        }
        out
    }

    /// The portal's log (warnings: refused people, bad passwords, ignored RPs).
    pub fn portal_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("portal.log")).unwrap_or_default()
    }
}

impl Drop for Lemon {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let group = format!("-{}", s.child.id());
            // TERM to the Starman master and its workers; KILL what is left after 5 s.
            let _ = Command::new("kill")
                .args(["-TERM", "--", &group])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Ok(Some(_)) = s.child.try_wait() {
                    break; // the master waited for its workers before exiting
                }
                if Instant::now() > deadline {
                    // Not reaped yet, so the group id is still ours.
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &group])
                        .stderr(Stdio::null())
                        .status();
                    let _ = s.child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Path of the ini the servers read (LLNG_DEFAULTCONFFILE), e.g. for `lemonldap-ng-cli`.
pub fn ini_of(lemon: &Lemon) -> PathBuf {
    lemon.dir.join("lemonldap-ng.ini")
}
