//! The LemonLDAP::NG test harness against the real thing (scripts/install-lemonldap.sh):
//! slapd with people and groupOfNames groups, LemonLDAP's portal, REST API and manager, an
//! OIDC relying party made through the REST API, real logins without a browser.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Scratch;
use support::lemonldap::{ACR_LOW, ACR_SUBSTANTIAL, Lemon, wait_until};
use support::oidc::{self, Authorize, Browser, LoginError, base64url_decode, verify_id_token};
use support::slapd::Slapd;

const BASE: &str = "dc=acme,dc=fi";
const SECRET: &str = "rp-secret-1";

fn people(slapd: &Slapd) {
    slapd.add(
        BASE,
        "dn: ou=people,dc=acme,dc=fi\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=helsinki,ou=people,dc=acme,dc=fi\nobjectClass: organizationalUnit\nou: helsinki\n\n\
         dn: uid=anna,ou=helsinki,ou=people,dc=acme,dc=fi\nobjectClass: inetOrgPerson\nuid: anna\n\
         cn: Anna Virtanen\nsn: Virtanen\ngivenName: Anna\nmail: anna@acme.fi\nuserPassword: anna-pw-1\n\n\
         dn: uid=pekka,ou=people,dc=acme,dc=fi\nobjectClass: inetOrgPerson\nuid: pekka\n\
         cn: Pekka Korhonen\nsn: Korhonen\nmail: pekka@acme.fi\nuserPassword: pekka-pw-1\n\n\
         dn: ou=groups,dc=acme,dc=fi\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: cn=group-extranet,ou=groups,dc=acme,dc=fi\nobjectClass: groupOfNames\ncn: group-extranet\n\
         member: uid=anna,ou=helsinki,ou=people,dc=acme,dc=fi\n\n\
         dn: cn=role-admin,ou=groups,dc=acme,dc=fi\nobjectClass: groupOfNames\ncn: role-admin\n\
         member: uid=anna,ou=helsinki,ou=people,dc=acme,dc=fi\n\n\
         dn: cn=feature-messaging,ou=groups,dc=acme,dc=fi\nobjectClass: groupOfNames\ncn: feature-messaging\n\
         member: uid=anna,ou=helsinki,ou=people,dc=acme,dc=fi\nmember: uid=pekka,ou=people,dc=acme,dc=fi\n",
    );
}

/// A loopback redirect URI nothing listens on: the code is read from the Location header.
fn callback(path: &str) -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/{path}")
}

/// The RP as accord would describe it.
fn rp_body(client_id: &str, redirect: &[&str], authn_level: u32) -> Value {
    json!({
        "clientId": client_id,
        "redirectUris": redirect,
        "exportedVars": {
            "email": "mail",
            "name": "cn",
            "family_name": "sn",
            "groups": "groups;string;always"
        },
        "options": {
            "clientSecret": SECRET,
            "rule": "inGroup(\"group-extranet\")",
            "authnLevel": authn_level,
            "IDTokenSignAlg": "RS256",
            "IDTokenForceClaims": 1,
            "bypassConsent": 1
        }
    })
}

fn create_rp(lemon: &Lemon, conf_key: &str, body: &Value) {
    let mut b = body.clone();
    b["confKey"] = json!(conf_key);
    let (status, v) = lemon.api("POST", "/api/v1/providers/oidc/rp", Some(&b));
    assert_eq!(status, 201, "{v}");
}

fn get_rp(lemon: &Lemon, conf_key: &str) -> Value {
    let (status, v) = lemon.api(
        "GET",
        &format!("/api/v1/providers/oidc/rp/{conf_key}"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn lemonldap_logins_rules_levels_sessions_and_rp_replacement() {
    assert_eq!(base64url_decode("aGVsbG8").unwrap(), b"hello");
    assert_eq!(base64url_decode("-_8=").unwrap(), [0xfb, 0xff]);

    let scratch = Scratch::new("lemonldap");
    let slapd = Slapd::start(&scratch.0, &[BASE]);
    people(&slapd);

    let lemon = Lemon::builder(&slapd, BASE)
        .set("timeout", json!(7200))
        .start();
    println!("LemonLDAP start-up: {:?}", lemon.startup);
    let (status, timeout) = lemon.manager("GET", "/confs/latest/timeout");
    assert_eq!(
        (status, timeout["value"].clone()),
        (200, json!(7200)),
        "{timeout}"
    );

    let (status, v) = lemon.api("GET", "/api/v1/status", None);
    assert_eq!((status, v["status"].as_str()), (200, Some("ok")), "{v}");
    let (_, acr) = lemon.manager("GET", "/confs/latest/oidcServiceMetaDataAuthnContext");
    // A hash comes back as a list of nodes.
    assert!(
        acr.as_array()
            .is_some_and(|a| a.iter().any(|n| n["title"] == ACR_LOW && n["data"] == 2)),
        "{acr}"
    );

    // An RP for people in group-extranet with a password login (level 2, eIDAS low), and
    // one asking for eIDAS substantial (level 3).
    let cb = callback("callback");
    let app = rp_body("extranet-app", &[&cb], 2);
    create_rp(&lemon, "acme-extranet", &app);
    let strong = rp_body("strong-app", &[&cb], 3);
    create_rp(&lemon, "acme-strong", &strong);
    let mut again = app.clone();
    again["confKey"] = json!("acme-extranet");
    let (status, v) = lemon.api("POST", "/api/v1/providers/oidc/rp", Some(&again));
    assert_eq!(status, 409, "{v}");
    lemon.wait_for_client("extranet-app", SECRET);
    lemon.wait_for_client("strong-app", SECRET);

    // Anna (nested under ou=helsinki, in group-extranet) logs in.
    let portal = lemon.portal_url();
    let mut anna = Browser::new(&portal);
    let t = Instant::now();
    let tokens = anna
        .login("extranet-app", SECRET, &cb, "anna", "anna-pw-1", &[])
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", anna.last_page, lemon.log_tails()));
    println!(
        "one login (authorize, form, code, token): {:?}",
        t.elapsed()
    );
    let claims = verify_id_token(
        &tokens.id_token,
        &lemon.jwks_url(),
        &lemon.issuer(),
        "extranet-app",
    )
    .unwrap();
    assert_eq!(claims["sub"], "anna", "{claims}");
    assert_eq!(claims["email"], "anna@acme.fi", "{claims}");
    assert_eq!(claims["name"], "Anna Virtanen", "{claims}");
    assert_eq!(claims["family_name"], "Virtanen", "{claims}");
    assert_eq!(claims["acr"], ACR_LOW, "{claims}");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "{claims}");
    let mut groups: Vec<&str> = claims["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("{claims}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        ["feature-messaging", "group-extranet", "role-admin"]
    );
    let info = oidc::userinfo(&portal, &tokens.access_token).unwrap();
    assert_eq!(
        (info["sub"].as_str(), info["email"].as_str()),
        (Some("anna"), Some("anna@acme.fi")),
        "{info}"
    );

    // A forged signature is refused, and so is another audience.
    // A character inside the signature: the last one holds only 2 of its 6 bits (2048 / 6),
    // so changing it from 'A' to 'B' changed no bit of the signature and the test flaked.
    let at = tokens.id_token.rfind('.').unwrap() + 10;
    let mut forged = tokens.id_token.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(verify_id_token(&forged, &lemon.jwks_url(), &lemon.issuer(), "extranet-app").is_err());
    assert!(
        verify_id_token(
            &tokens.id_token,
            &lemon.jwks_url(),
            &lemon.issuer(),
            "other"
        )
        .is_err()
    );

    // Pekka is not in group-extranet: the rule refuses him after he has logged in.
    let mut pekka = Browser::new(&portal);
    assert_eq!(
        pekka
            .login("extranet-app", SECRET, &cb, "pekka", "pekka-pw-1", &[])
            .unwrap_err(),
        LoginError::RefusedByRule,
        "{}",
        pekka.last_page
    );
    assert!(
        pekka.session().is_some(),
        "the refused person still has an SSO session"
    );
    assert!(
        lemon
            .portal_log()
            .contains("User pekka is not authorized to access to acme-extranet")
    );

    // A wrong password.
    assert_eq!(
        oidc::login(&portal, "extranet-app", SECRET, &cb, "anna", "wrong", &[]).unwrap_err(),
        LoginError::WrongPassword
    );

    // The issuer ignores acr_values: only the RP's authnLevel is enforced. An RP asking for
    // substantial gets a token saying low.
    let low = anna
        .login(
            "extranet-app",
            SECRET,
            &cb,
            "anna",
            "anna-pw-1",
            &[("acr_values", ACR_SUBSTANTIAL)],
        )
        .unwrap();
    let claims = verify_id_token(
        &low.id_token,
        &lemon.jwks_url(),
        &lemon.issuer(),
        "extranet-app",
    )
    .unwrap();
    assert_eq!(claims["acr"], ACR_LOW, "{claims}");

    // An RP wanting level 3 gets no code from a password login (level 2): the portal asks
    // to upgrade the session. Anna's live session is not enough either.
    let mut fresh = Browser::new(&portal);
    assert_eq!(
        fresh
            .login("strong-app", SECRET, &cb, "anna", "anna-pw-1", &[])
            .unwrap_err(),
        LoginError::LevelTooLow,
        "{}",
        fresh.last_page
    );
    assert_eq!(
        anna.authorize("strong-app", &cb, &[]),
        Authorize::Failed(LoginError::LevelTooLow)
    );
    // The pending step-up sits in the lemonldappdata cookie: a browser that keeps it gets
    // the upgrade page for the next RP too (Browser drops it when a new flow starts).
    let mut stuck = anna.clone();
    stuck.fresh_flows = false;
    assert_eq!(
        stuck.authorize("extranet-app", &cb, &[]),
        Authorize::Failed(LoginError::LevelTooLow)
    );

    // The manager lists Anna's sessions by uid; her browser's cookie is one of them and
    // gives a code without credentials.
    let sid = anna.session().expect("a lemonldap cookie").to_string();
    let (status, listing) = lemon.manager("GET", "/sessions/global?_whatToTrace=anna");
    assert_eq!(status, 200, "{listing}");
    println!("GET /sessions/global?_whatToTrace=anna: {listing}");
    assert_eq!(listing["result"], 1);
    assert!(lemon.sessions_of("anna").contains(&sid), "{listing}");
    assert!(!lemon.sessions_of("anna").is_empty() && lemon.sessions_of("nobody").is_empty());
    let (status, session) = lemon.manager("GET", &format!("/sessions/global/{sid}"));
    assert_eq!(status, 200);
    assert_eq!(session["uid"], "anna", "{session}");
    assert_eq!(session["authenticationLevel"], 2, "{session}");
    assert_eq!(
        session["_dn"], "uid=anna,ou=helsinki,ou=people,dc=acme,dc=fi",
        "{session}"
    );
    assert!(
        session["hGroups"]["group-extranet"].is_object(),
        "{session}"
    );
    let got = anna.authorize("extranet-app", &cb, &[]);
    assert!(
        matches!(got, Authorize::Code { .. }),
        "{got:?} {:?}\n{}",
        anna.cookies,
        anna.last_page
    );

    // Ending it: the cookie no longer gives a code, the portal wants the password again.
    // Not at once: a portal worker keeps the last session it loaded in memory for
    // handlerInternalCache (15 s) seconds.
    lemon.end_session(&sid);
    assert!(!lemon.sessions_of("anna").contains(&sid));
    let ended = Instant::now();
    let message = wait_until(
        "the ended session to stop giving codes",
        Duration::from_secs(30),
        || match anna.authorize("extranet-app", &cb, &[]) {
            Authorize::Code { .. } => None,
            Authorize::LoginForm { message, .. } => Some(message),
            other => panic!("{other:?}"),
        },
    );
    assert_eq!(message, Some(1), "the portal says the session expired");
    println!(
        "an ended session stopped giving codes after {:?}",
        ended.elapsed()
    );
    let again = anna
        .login("extranet-app", SECRET, &cb, "anna", "anna-pw-1", &[])
        .unwrap();
    assert_ne!(anna.session(), Some(sid.as_str()));
    assert!(!again.id_token.is_empty());

    // A redirect URI and a claim added by hand (here through PATCH, as an admin's edit).
    let extra = callback("extra");
    let (status, v) = lemon.api(
        "PATCH",
        "/api/v1/providers/oidc/rp/acme-extranet",
        Some(&json!({"redirectUris": [cb, extra], "exportedVars": {"hand": "uid"}})),
    );
    assert_eq!(status, 204, "{v}");
    let code_for = |b: &mut Browser, redirect: &str| b.authorize("extranet-app", redirect, &[]);
    wait_until(
        "the hand-added redirect URI to work",
        Duration::from_secs(20),
        || matches!(code_for(&mut anna, &extra), Authorize::Code { .. }).then_some(()),
    );
    // PATCH without redirectUris keeps both, and never removes a claim.
    let cfg = lemon.latest_cfg_num();
    let (status, v) = lemon.api(
        "PATCH",
        "/api/v1/providers/oidc/rp/acme-extranet",
        Some(&json!({"exportedVars": app["exportedVars"], "options": {"comment": "accord"}})),
    );
    assert_eq!(status, 204, "{v}");
    assert_eq!(
        lemon.latest_cfg_num(),
        cfg + 1,
        "every write is a new lmConf-N.json"
    );
    let rp = get_rp(&lemon, "acme-extranet");
    assert_eq!(rp["redirectUris"], json!([cb, extra]), "{rp}");
    assert_eq!(rp["exportedVars"]["hand"], "uid", "{rp}");
    assert_eq!(
        rp["options"]["clientSecret"], SECRET,
        "GET shows the secret: {rp}"
    );
    // GET fills in every default, and even a stray option PUT refuses: no GET → PUT round trip.
    let (status, v) = lemon.api("PUT", "/api/v1/providers/oidc/rp/acme-extranet", Some(&rp));
    assert_eq!(status, 400, "{v}");

    // PATCH with redirectUris replaces the list (but still keeps the hand-added claim).
    let (status, v) = lemon.api(
        "PATCH",
        "/api/v1/providers/oidc/rp/acme-extranet",
        Some(&json!({"redirectUris": [cb]})),
    );
    assert_eq!(status, 204, "{v}");
    let rp = get_rp(&lemon, "acme-extranet");
    assert_eq!(rp["redirectUris"], json!([cb]), "{rp}");
    assert_eq!(rp["exportedVars"]["hand"], "uid", "{rp}");
    let (status, v) = lemon.api(
        "PATCH",
        "/api/v1/providers/oidc/rp/acme-extranet",
        Some(&json!({"redirectUris": [cb, extra]})),
    );
    assert_eq!(status, 204, "{v}");

    // PUT replaces the whole RP: the hand-added redirect URI and claim are gone.
    let (status, v) = lemon.api("PUT", "/api/v1/providers/oidc/rp/acme-extranet", Some(&app));
    assert_eq!(status, 204, "{v}");
    let rp = get_rp(&lemon, "acme-extranet");
    assert_eq!(rp["redirectUris"], json!([cb]), "{rp}");
    assert!(rp["exportedVars"].get("hand").is_none(), "{rp}");
    wait_until(
        "the portal to refuse the removed redirect URI",
        Duration::from_secs(20),
        || match code_for(&mut anna, &extra) {
            Authorize::Failed(LoginError::Portal { code: 108 }) => Some(()),
            Authorize::Code { .. } => None,
            other => panic!("{other:?}"),
        },
    );
    assert!(matches!(code_for(&mut anna, &cb), Authorize::Code { .. }));
}
