//! A private OpenLDAP server for tests: Debian's slapd with its own cn=config (schemas core,
//! cosine, inetorgperson and a test HSA schema; memberof and refint overlays), one mdb
//! database per suffix, on a loopback port, stopped when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_PW: &str = "secret";

pub struct Tls {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

pub struct Slapd {
    pub dir: PathBuf,
    pub port: u16,
    pub tls_port: Option<u16>,
    pub suffixes: Vec<String>,
    child: Option<Child>,
    tls: Option<Tls>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn slapd_bin() -> &'static str {
    if Path::new("/usr/sbin/slapd").exists() {
        "/usr/sbin/slapd"
    } else {
        "slapd"
    }
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

/// A CA and a server certificate for 127.0.0.1 / localhost, made with openssl.
pub fn make_tls(dir: &Path) -> Tls {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=accord test CA",
        ])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
    std::fs::write(p("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("server.crt"))
        .arg("-extfile")
        .arg(p("ext.cnf")));
    Tls {
        ca_pem: std::fs::read_to_string(p("ca.crt")).unwrap(),
        cert: p("server.crt"),
        key: p("server.key"),
        ca: p("ca.crt"),
    }
}

impl Slapd {
    pub fn start(dir: &Path, suffixes: &[&str]) -> Slapd {
        Self::start_with(dir, suffixes, false)
    }

    pub fn start_with(dir: &Path, suffixes: &[&str], tls: bool) -> Slapd {
        let dir = dir.join("slapd");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("slapd.d")).unwrap();
        let tls = tls.then(|| make_tls(&dir));
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut config = format!(
            "dn: cn=config\nobjectClass: olcGlobal\ncn: config\nolcPidFile: {d}/slapd.pid\n{tls}\n\
             dn: cn=module{{0}},cn=config\nobjectClass: olcModuleList\ncn: module{{0}}\nolcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\nolcModuleLoad: memberof\nolcModuleLoad: refint\n\n\
             dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n\
             include: file:///etc/ldap/schema/core.ldif\n\ninclude: file:///etc/ldap/schema/cosine.ldif\n\ninclude: file:///etc/ldap/schema/inetorgperson.ldif\n\n\
             include: file://{fx}/hsa-test.ldif\n\n\
             dn: olcDatabase={{-1}}frontend,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcFrontendConfig\nolcDatabase: {{-1}}frontend\nolcSizeLimit: unlimited\n\n\
             dn: olcDatabase={{0}}config,cn=config\nobjectClass: olcDatabaseConfig\nolcDatabase: {{0}}config\n\n",
            d = dir.display(),
            fx = fixtures.display(),
            tls = match &tls {
                Some(t) => format!(
                    "olcTLSCertificateFile: {}\nolcTLSCertificateKeyFile: {}\nolcTLSCACertificateFile: {}\n",
                    t.cert.display(),
                    t.key.display(),
                    t.ca.display()
                ),
                None => String::new(),
            }
        );
        for (i, suffix) in suffixes.iter().enumerate() {
            let n = i + 1;
            std::fs::create_dir_all(dir.join(format!("db{n}"))).unwrap();
            config.push_str(&format!(
                "dn: olcDatabase={{{n}}}mdb,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcMdbConfig\nolcDatabase: {{{n}}}mdb\nolcSuffix: {suffix}\n\
                 olcDbDirectory: {d}/db{n}\nolcRootDN: cn=admin,{suffix}\nolcRootPW: {ADMIN_PW}\nolcDbIndex: objectClass eq\nolcDbIndex: seeAlso eq\nolcDbIndex: uid eq\n\
                 olcDbIndex: member eq\nolcDbMaxSize: 1073741824\nolcLimits: * size=unlimited\nolcDbNoSync: TRUE\n\n\
                 dn: olcOverlay={{0}}memberof,olcDatabase={{{n}}}mdb,cn=config\nobjectClass: olcOverlayConfig\nobjectClass: olcMemberOf\nolcOverlay: {{0}}memberof\nolcMemberOfRefint: TRUE\n\n\
                 dn: olcOverlay={{1}}refint,olcDatabase={{{n}}}mdb,cn=config\nobjectClass: olcOverlayConfig\nobjectClass: olcRefintConfig\nolcOverlay: {{1}}refint\nolcRefintAttribute: member\n\n",
                d = dir.display()
            ));
        }
        std::fs::write(dir.join("config.ldif"), &config).unwrap();
        run(Command::new("slapadd")
            .args(["-n0", "-F"])
            .arg(dir.join("slapd.d"))
            .arg("-l")
            .arg(dir.join("config.ldif")));
        for (i, suffix) in suffixes.iter().enumerate() {
            let first = suffix.split(',').next().unwrap();
            let (attr, value) = first.split_once('=').unwrap();
            let base = if attr.eq_ignore_ascii_case("dc") {
                format!(
                    "dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\ndc: {value}\no: {value}\n"
                )
            } else {
                format!("dn: {suffix}\nobjectClass: organization\no: {value}\n")
            };
            let f = dir.join(format!("base{i}.ldif"));
            std::fs::write(&f, base).unwrap();
            run(Command::new("slapadd")
                .arg(format!("-n{}", i + 1))
                .arg("-F")
                .arg(dir.join("slapd.d"))
                .arg("-l")
                .arg(&f));
        }
        let mut s = Slapd {
            dir,
            port: free_port(),
            tls_port: tls.as_ref().map(|_| free_port()),
            suffixes: suffixes.iter().map(|s| s.to_string()).collect(),
            child: None,
            tls,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}/", self.port)
    }

    pub fn ldaps_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}/",
            self.tls_port.expect("started with TLS")
        )
    }

    pub fn ca_pem(&self) -> &str {
        &self.tls.as_ref().expect("started with TLS").ca_pem
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let mut urls = self.url();
        if let Some(p) = self.tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
        }
        let child = Command::new(slapd_bin())
            .arg("-F")
            .arg(self.dir.join("slapd.d"))
            .args(["-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "slapd did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn admin(&self, suffix: &str) -> String {
        format!("cn=admin,{suffix}")
    }

    /// `ldapsearch -LLL` as the suffix's admin.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> String {
        let suffix = self.suffix_of(base);
        let mut cmd = Command::new("ldapsearch");
        cmd.args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &self.url(),
            "-D",
            &self.admin(&suffix),
            "-w",
            ADMIN_PW,
            "-b",
            base,
            filter,
        ])
        .args(attrs);
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DNs a search finds.
    pub fn dns(&self, base: &str, filter: &str) -> Vec<String> {
        self.search(base, filter, &["1.1"])
            .lines()
            .filter_map(|l| l.strip_prefix("dn: ").map(String::from))
            .collect()
    }

    pub fn modify(&self, suffix: &str, ldif: &str) {
        self.ldap_tool("ldapmodify", suffix, ldif);
    }

    pub fn add(&self, suffix: &str, ldif: &str) {
        self.ldap_tool("ldapadd", suffix, ldif);
    }

    pub fn delete(&self, suffix: &str, dn: &str) {
        run(Command::new("ldapdelete").args([
            "-x",
            "-H",
            &self.url(),
            "-D",
            &self.admin(suffix),
            "-w",
            ADMIN_PW,
            dn,
        ]));
    }

    fn ldap_tool(&self, tool: &str, suffix: &str, ldif: &str) {
        let f = self.dir.join(format!("in-{}.ldif", std::process::id()));
        std::fs::write(&f, ldif).unwrap();
        run(Command::new(tool)
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                &self.admin(suffix),
                "-w",
                ADMIN_PW,
                "-f",
            ])
            .arg(&f));
    }

    fn suffix_of(&self, base: &str) -> String {
        let b = base.to_lowercase();
        self.suffixes
            .iter()
            .find(|s| b.ends_with(&s.to_lowercase()))
            .cloned()
            .unwrap_or_else(|| self.suffixes[0].clone())
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
