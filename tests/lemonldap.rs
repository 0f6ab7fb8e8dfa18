//! The `lemonldap` connector end to end, nothing mocked: `accord apply` provisions a tenant's
//! people into a real slapd and its relying party into a real LemonLDAP::NG, whose portal
//! logs them in against that slapd; ID tokens are checked against the portal's JWKS.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use support::lemonldap::{ACR_LOW, Lemon, wait_until};
use support::oidc::{Authorize, Browser, LoginError, verify_id_token};
use support::slapd::{ADMIN_PW, Slapd};
use support::{Scratch, accord};

const SUFFIX: &str = "dc=test";
const SECRET: &str = "acme-client-secret-1";
const CLIENT: &str = "acme-portal";

/// A loopback redirect URI nothing listens on: the code is read from the Location header.
fn callback(path: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/{path}")
}

/// One slapd holding two tenants' directories (`ou=acme` and `ou=other`), and a LemonLDAP
/// logging people in from both, with the scopes attribute exported.
fn systems(scratch: &Scratch) -> (Slapd, Lemon) {
    let slapd = Slapd::start(&scratch.0, &[SUFFIX]);
    slapd.add(
        SUFFIX,
        "dn: ou=acme,dc=test\nobjectClass: organizationalUnit\nou: acme\n\n\
         dn: ou=other,dc=test\nobjectClass: organizationalUnit\nou: other\n",
    );
    let lemon = Lemon::builder(&slapd, SUFFIX)
        .set("ldapGroupBase", json!(SUFFIX))
        .set(
            "ldapExportedVars",
            json!({"uid": "uid", "cn": "cn", "mail": "mail", "sn": "sn", "givenName": "givenName",
                   "departmentNumber": "departmentNumber"}),
        )
        .start();
    (slapd, lemon)
}

/// The manifests of tenant `acme` (LDAP directory + LemonLDAP IdP) and tenant `other`
/// (directory only), in one folder.
struct Tree {
    dir: PathBuf,
}

impl Tree {
    fn new(scratch: &Scratch, slapd: &Slapd, lemon: &Lemon, redirect: &str) -> Tree {
        let dir = scratch.0.join("manifests");
        std::fs::create_dir_all(dir.join("grants")).unwrap();
        let t = Tree { dir };
        t.write("acme.yaml", &format!(
            r#"apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: acme, namespace: t}}
spec:
  displayName: Acme Oy
  country: FI
  integrations: {{directory: acme-ldap, idp: acme-idp}}
  features: [messaging, documents]
  roles: [{{name: admin, admin: true}}, {{name: employee}}]
  policy:
    minAdmins: 0
    login: {{methods: [password], minimumLevel: low}}
    session: {{idleTimeout: 10m, maxLifetime: 90m}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: root, namespace: t}}
spec: {{tenant: acme, displayName: Acme}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: helsinki, namespace: t}}
spec: {{tenant: acme, displayName: Helsinki, parent: root}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: kallio, namespace: t}}
spec: {{tenant: acme, displayName: Kallio, parent: helsinki}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: acme-ldap, namespace: t}}
spec:
  tenant: acme
  kind: ldap
  endpoint: {ldap}
  credentialsRef: {{secretName: ldap-bind}}
  ldap: {{baseDN: "ou=acme,dc=test", attributes: {{departmentNumber: scopes}}}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: acme-idp, namespace: t}}
spec:
  tenant: acme
  kind: lemonldap
  endpoint: {api}
  lemonldap:
    sessionsEndpoint: {manager}
    clientId: {CLIENT}
    redirectUris: ["{redirect}"]
    clientSecretRef: {{secretName: acme-oidc, key: secret}}
---
apiVersion: v1
kind: Secret
metadata: {{name: acme-oidc, namespace: t}}
stringData: {{secret: {SECRET}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: ldap-bind, namespace: t}}
stringData: {{bindDN: "{admin}", password: {ADMIN_PW}}}
"#,
            ldap = slapd.url(),
            api = lemon.api_url(),
            manager = lemon.manager_url(),
            admin = slapd.admin(SUFFIX),
        ));
        t.write("other.yaml", &format!(
            r#"apiVersion: accord.dev/v1alpha1
kind: Tenant
metadata: {{name: other, namespace: t}}
spec:
  displayName: Other Oy
  country: FI
  integrations: {{directory: other-ldap}}
  policy: {{minAdmins: 0}}
---
apiVersion: accord.dev/v1alpha1
kind: OrgUnit
metadata: {{name: other-root, namespace: t}}
spec: {{tenant: other, displayName: Other}}
---
apiVersion: accord.dev/v1alpha1
kind: Integration
metadata: {{name: other-ldap, namespace: t}}
spec:
  tenant: other
  kind: ldap
  endpoint: {ldap}
  credentialsRef: {{secretName: ldap-bind}}
  ldap: {{baseDN: "ou=other,dc=test"}}
---
apiVersion: accord.dev/v1alpha1
kind: UserGrant
metadata: {{name: olli, namespace: t}}
spec:
  tenant: other
  person: {{givenName: Olli, familyName: Muu, email: olli@other.fi}}
  unit: other-root
"#,
            ldap = slapd.url(),
        ));
        t.grant("anna", "admin", "[messaging, documents]", "[team-a]", "[{unit: helsinki, includeDescendants: true}]", "");
        t.grant("pekka", "employee", "[messaging]", "[]", "[{unit: kallio}]", "");
        t.grant("sami", "employee", "[]", "[]", "[]", "");
        t
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn grant(&self, name: &str, role: &str, features: &str, groups: &str, scopes: &str, extra: &str) {
        self.write(
            &format!("grants/{name}.yaml"),
            &format!(
                "apiVersion: accord.dev/v1alpha1\nkind: UserGrant\nmetadata: {{name: {name}, namespace: t}}\nspec:\n  tenant: acme\n  person: {{givenName: {name}, familyName: Testinen, email: {name}@acme.fi}}\n  unit: kallio\n  roles: [{role}]\n  features: {features}\n  groups: {groups}\n  scopes: {scopes}\n{extra}"
            ),
        );
    }

    fn edit(&self, name: &str, from: &str, to: &str) {
        let p = self.dir.join(name);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{name} has no {from:?}");
        std::fs::write(p, text.replace(from, to)).unwrap();
    }

    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

fn apply(t: &Tree) -> String {
    let run = accord(&["apply", t.path()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.stdout
}

fn plan(t: &Tree) -> (i32, String) {
    let run = accord(&["plan", t.path()]);
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

/// Sets a person's password by hand: accord never manages passwords.
fn set_password(slapd: &Slapd, uid: &str) {
    let dn = slapd.dns(SUFFIX, &format!("(uid={uid})"));
    assert_eq!(dn.len(), 1, "{uid}: {dn:?}");
    slapd.modify(
        SUFFIX,
        &format!("dn: {}\nchangetype: modify\nreplace: userPassword\nuserPassword: {uid}-pw-1\n", dn[0]),
    );
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    out.sort();
    out
}

fn login(lemon: &Lemon, b: &mut Browser, cb: &str, who: &str) -> Result<Value, LoginError> {
    let tokens = b.login(CLIENT, SECRET, cb, who, &format!("{who}-pw-1"), &[])?;
    Ok(verify_id_token(&tokens.id_token, &lemon.jwks_url(), &lemon.issuer(), CLIENT)
        .unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn apply_gives_logins_with_the_claims_and_closes_them_for_people_who_go() {
    let scratch = Scratch::new("lemonldap-e2e");
    let (slapd, lemon) = systems(&scratch);
    let cb = callback("cb");
    let tree = Tree::new(&scratch, &slapd, &lemon, &cb);

    let out = apply(&tree);
    assert!(out.contains("t/acme-idp: 1 of 1 operations done"), "{out}");
    for who in ["anna", "pekka", "sami", "olli"] {
        set_password(&slapd, who);
    }
    lemon.wait_for_client(CLIENT, SECRET);
    let (code, text) = plan(&tree);
    assert_eq!(code, 0, "nothing left to do after apply:\n{text}");
    assert!(text.contains("cannot express: session.maxLifetime (5400 s)"), "{text}");

    // Anna logs in: the ID token carries her roles, features, groups, expanded scopes and
    // the acr of the tenant's minimum level.
    let portal = lemon.portal_url();
    let mut anna = Browser::new(&portal);
    let claims = login(&lemon, &mut anna, &cb, "anna")
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", anna.last_page, lemon.log_tails()));
    assert_eq!(claims["sub"], "anna", "{claims}");
    assert_eq!(claims["email"], "anna@acme.fi", "{claims}");
    assert_eq!(claims["acr"], ACR_LOW, "{claims}");
    assert_eq!(strings(&claims["roles"]), ["admin"], "{claims}");
    assert_eq!(strings(&claims["features"]), ["documents", "messaging"], "{claims}");
    assert_eq!(strings(&claims["groups"]), ["team-a"], "{claims}");
    assert_eq!(strings(&claims["scopes"]), ["helsinki", "kallio"], "{claims}");

    // A person of another tenant authenticates against the same LDAP but is refused.
    let mut olli = Browser::new(&portal);
    assert_eq!(login(&lemon, &mut olli, &cb, "olli").unwrap_err(), LoginError::RefusedByRule);

    // Pekka and Sami log in; then Pekka is suspended and Sami deleted in the manifests.
    let mut pekka = Browser::new(&portal);
    let p = login(&lemon, &mut pekka, &cb, "pekka").unwrap();
    assert_eq!(strings(&p["scopes"]), ["kallio"], "{p}");
    let mut sami = Browser::new(&portal);
    login(&lemon, &mut sami, &cb, "sami").unwrap();
    assert!(!lemon.sessions_of("pekka").is_empty() && !lemon.sessions_of("sami").is_empty());
    let anna_sessions = lemon.sessions_of("anna");

    tree.edit("grants/pekka.yaml", "  scopes:", "  suspended: true\n  scopes:");
    std::fs::remove_file(tree.dir.join("grants/sami.yaml")).unwrap();
    let (code, text) = plan(&tree);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("- session pekka  (end live sessions)"), "{text}");
    assert!(text.contains("- session sami  (end live sessions)"), "{text}");
    assert!(text.contains("allowedPeople: -pekka -sami"), "{text}");
    let out = apply(&tree);
    assert!(out.contains("t/acme-idp: 3 of 3 operations done"), "{out}");

    // Their sessions are gone at once; Anna's is untouched.
    assert!(lemon.sessions_of("pekka").is_empty());
    assert!(lemon.sessions_of("sami").is_empty());
    assert_eq!(lemon.sessions_of("anna"), anna_sessions);
    // The portal lets a cached session go within handlerInternalCache: poll.
    wait_until("Pekka's old cookie to stop giving codes", Duration::from_secs(40), || {
        match pekka.authorize(CLIENT, &cb, &[]) {
            Authorize::Code { .. } => None,
            other => Some(other),
        }
    });
    assert!(matches!(anna.authorize(CLIENT, &cb, &[]), Authorize::Code { .. }));
    // A fresh login: Pekka's LDAP entry (out of every group) still authenticates, and the
    // rule refuses him; Sami's entry is gone.
    // The portal reloads the changed rule on its own schedule (slower under load): poll.
    let refused = wait_until("a fresh login of Pekka to be refused", Duration::from_secs(60), || {
        login(&lemon, &mut Browser::new(&portal), &cb, "pekka").err()
    });
    assert_eq!(refused, LoginError::RefusedByRule);
    assert_eq!(
        login(&lemon, &mut Browser::new(&portal), &cb, "sami").unwrap_err(),
        LoginError::WrongPassword
    );
    // The refused login still opened an SSO session (LemonLDAP checks the rule after): the
    // next sync ends it.
    let (code, text) = plan(&tree);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("- session pekka  (end live sessions)\n  0 to create, 0 to update, 1 to delete"), "{text}");
    apply(&tree);
    assert!(lemon.sessions_of("pekka").is_empty());
    let (code, text) = plan(&tree);
    assert_eq!(code, 0, "settled: {text}");

    // A minimum level above what a password login gives: no code for anyone.
    tree.edit("acme.yaml", "minimumLevel: low", "minimumLevel: substantial");
    tree.edit("acme.yaml", "methods: [password]", "methods: ['oidc:entra@substantial']");
    apply(&tree);
    wait_until("the portal to ask for a stronger login", Duration::from_secs(30), || {
        match login(&lemon, &mut Browser::new(&portal), &cb, "anna") {
            Err(LoginError::LevelTooLow) => Some(()),
            Ok(_) => None,
            Err(e) => panic!("{e}"),
        }
    });
    let (code, text) = plan(&tree);
    assert_eq!(code, 0, "settled: {text}");
}

/// The RP body accord sent, edited by hand and PUT back (what an admin's edit amounts to).
fn edit_rp(lemon: &Lemon, edit: impl FnOnce(&mut Value)) {
    let key = "accord-acme-portal";
    let (status, rp) = lemon.api("GET", &format!("/api/v1/providers/oidc/rp/{key}"), None);
    assert_eq!(status, 200, "{rp}");
    let keep = ["clientSecret", "public", "IDTokenSignAlg", "IDTokenForceClaims", "bypassConsent", "rule", "authnLevel", "comment"];
    let options: serde_json::Map<String, Value> = keep
        .iter()
        .filter_map(|k| rp["options"].get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let mut body = json!({
        "confKey": key,
        "clientId": rp["clientId"],
        "redirectUris": rp["redirectUris"],
        "exportedVars": rp["exportedVars"],
        "macros": rp["macros"],
        "options": options,
    });
    edit(&mut body);
    let (status, v) = lemon.api("PUT", &format!("/api/v1/providers/oidc/rp/{key}"), Some(&body));
    assert_eq!(status, 204, "{v}");
}

fn rp(lemon: &Lemon) -> Value {
    let (status, rp) = lemon.api("GET", "/api/v1/providers/oidc/rp/accord-acme-portal", None);
    assert_eq!(status, 200, "{rp}");
    rp
}

#[test]
fn a_hand_edited_relying_party_is_drift_repaired_in_enforce_and_left_in_observe() {
    let scratch = Scratch::new("lemonldap-drift");
    let (slapd, lemon) = systems(&scratch);
    let cb = callback("cb");
    let tree = Tree::new(&scratch, &slapd, &lemon, &cb);
    apply(&tree);
    assert_eq!(plan(&tree).0, 0);
    let original = rp(&lemon);

    let extra = callback("extra");
    edit_rp(&lemon, |b| {
        b["redirectUris"].as_array_mut().unwrap().push(json!(extra));
        b["exportedVars"].as_object_mut().unwrap().remove("roles");
        b["options"]["rule"] = json!("1");
    });
    let (code, text) = plan(&tree);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("~ client acme-portal"), "{text}");
    assert!(text.contains(&format!("redirectUris: {} → ", extra)) || text.contains(&format!("-{extra}")), "{text}");
    assert!(text.contains("claims: +roles"), "{text}");
    assert!(text.contains("accessRule: hand-written: 1 → accord: the active people of tenant acme"), "{text}");
    assert!(text.contains("allowedPeople: +anna +pekka +sami"), "{text}");

    // Observe: reported, nothing changed.
    tree.edit("acme.yaml", "  lemonldap:\n", "  sync: {management: Observe}\n  lemonldap:\n");
    let out = apply(&tree);
    assert!(!out.contains("t/acme-idp: 1 of 1"), "{out}");
    let (code, text) = plan(&tree);
    assert!(text.contains("[Observe: reported only"), "{text}");
    assert_eq!(code, 0, "Observe mode would change nothing: {text}");
    assert_eq!(rp(&lemon)["options"]["rule"], "1");

    // Enforce: repaired by PUT, the hand-added URI and claim removal undone.
    tree.edit("acme.yaml", "  sync: {management: Observe}\n", "");
    let out = apply(&tree);
    assert!(out.contains("t/acme-idp: 1 of 1 operations done"), "{out}");
    let now = rp(&lemon);
    assert_eq!(now["redirectUris"], original["redirectUris"]);
    assert_eq!(now["exportedVars"], original["exportedVars"]);
    assert_eq!(now["options"]["rule"], original["options"]["rule"]);
    let (code, text) = plan(&tree);
    assert_eq!(code, 0, "settled: {text}");
    // The portal follows: the hand-added redirect URI gives no code any more.
    set_password(&slapd, "anna");
    lemon.wait_for_client(CLIENT, SECRET);
    let mut anna = Browser::new(&lemon.portal_url());
    login(&lemon, &mut anna, &cb, "anna").unwrap();
    wait_until("the portal to refuse the removed redirect URI", Duration::from_secs(20), || {
        match anna.authorize(CLIENT, &extra, &[]) {
            Authorize::Failed(LoginError::Portal { code: 108 }) => Some(()),
            Authorize::Code { .. } => None,
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_hand_made_relying_party_with_the_same_client_id_is_left_alone_and_reported() {
    let scratch = Scratch::new("lemonldap-foreign");
    let (slapd, lemon) = systems(&scratch);
    let cb = callback("cb");
    let tree = Tree::new(&scratch, &slapd, &lemon, &cb);
    let hand = json!({"confKey": "handmade", "clientId": CLIENT, "redirectUris": ["https://hand.example/cb"],
                      "options": {"clientSecret": "theirs", "rule": "1"}});
    let (status, v) = lemon.api("POST", "/api/v1/providers/oidc/rp", Some(&hand));
    assert_eq!(status, 201, "{v}");
    let (code, text) = plan(&tree);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("managedBy: not accord (confKey handmade has no ownership mark) → accord"), "{text}");
    let run = accord(&["apply", tree.path()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("relying party handmade holds client id acme-portal but is not accord's"), "{}", run.stdout);
    let (_, after) = lemon.api("GET", "/api/v1/providers/oidc/rp/handmade", None);
    assert_eq!(after["options"]["rule"], "1");
    assert_eq!(after["redirectUris"], json!(["https://hand.example/cb"]));
    // The directory was provisioned all the same.
    assert_eq!(slapd.dns(SUFFIX, "(uid=anna)").len(), 1);
}

#[test]
fn bad_input_leaves_what_is_provisioned_in_place() {
    let scratch = Scratch::new("lemonldap-bad");
    let (slapd, lemon) = systems(&scratch);
    let cb = callback("cb");
    let tree = Tree::new(&scratch, &slapd, &lemon, &cb);
    apply(&tree);
    let before = rp(&lemon);

    // A group that would break an expression: Anna is frozen everywhere, the rest goes on.
    tree.edit("grants/anna.yaml", "groups: [team-a]", "groups: [\"team$a\"]");
    tree.edit("grants/pekka.yaml", "  scopes:", "  suspended: true\n  scopes:");
    let run = accord(&["apply", tree.path()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("UserGrant t/anna: spec.groups[0]: \"team$a\" contains '$'"), "{}", run.stderr);
    let rule = rp(&lemon)["options"]["rule"].as_str().unwrap().to_string();
    assert!(rule.contains("anna") && !rule.contains("pekka"), "{rule}");
    assert_eq!(slapd.dns(SUFFIX, "(uid=anna)").len(), 1);

    // A redirect URI that is not https, and a missing client secret: the IdP is left as it is.
    tree.edit("grants/anna.yaml", "groups: [\"team$a\"]", "groups: [team-a]");
    tree.edit("acme.yaml", &format!("redirectUris: [\"{cb}\"]"), "redirectUris: [\"http://extranet.acme.fi/cb\"]");
    tree.edit("acme.yaml", "secretName: acme-oidc", "secretName: missing");
    tree.edit("grants/sami.yaml", "  scopes:", "  suspended: true\n  scopes:");
    let run = accord(&["apply", tree.path()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("Integration t/acme-idp: spec.lemonldap.redirectUris[0]: \"http://extranet.acme.fi/cb\" is not https"), "{}", run.stderr);
    assert!(run.stderr.contains("Integration t/acme-idp: spec.lemonldap.clientSecretRef: Secret \"missing\" does not exist in namespace t"), "{}", run.stderr);
    let after = rp(&lemon);
    assert_eq!(after["redirectUris"], before["redirectUris"]);
    assert!(after["options"]["rule"].as_str().unwrap().contains("sami"), "the IdP is left as it was");
}
