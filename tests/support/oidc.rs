//! A browser-less OpenID Connect login against LemonLDAP::NG's portal: the authorization
//! code flow with hand-kept cookies and no automatic redirects, the person's credentials
//! typed into the portal's login form, the code exchanged at the token endpoint (client
//! secret by HTTP basic auth); RS256 ID token verification with ring against the JWKS.
//!
//! What the portal (2.16) shows, and how it is read here:
//! - the login form: `<input … name="token" value="…">`, `<input … name="url" value="…">`,
//!   `user`, `password`, posted back to the authorize URL (`action="#"`);
//! - portal messages as `<span trmsg="N">` (Lemonldap::NG::Portal::Main::Constants): 84
//!   PE_UNAUTHORIZEDPARTNER when the RP's `rule` refuses the person, 5 PE_BADCREDENTIALS for
//!   a wrong password, 108 PE_UNAUTHORIZEDURL for a redirect URI the RP does not list, 9 (first
//!   access) and 1 (session expired) above a login form — all with HTTP status 200;
//! - too low an authentication level for the RP's `authnLevel`: a 200 page with the
//!   "upgrade session" form (`trspan="askToUpgrade"`, `action="/upgradesession"`), no code.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::lemonldap::block;

/// What the token endpoint answered.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub id_token: String,
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub raw: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LoginError {
    /// The RP's access rule refused the person (portal message 84, PE_UNAUTHORIZEDPARTNER).
    /// The person did log in: an SSO session exists.
    RefusedByRule,
    /// Wrong password or unknown user (portal message 5, PE_BADCREDENTIALS), login form again.
    WrongPassword,
    /// The session's authentication level is below the RP's `authnLevel`: the portal asks to
    /// upgrade the session (PE_UPGRADESESSION) and gives no code.
    LevelTooLow,
    /// Another portal message (its number, see Lemonldap::NG::Portal::Main::Constants), e.g.
    /// 108 for a redirect URI the RP does not list.
    Portal { code: u32 },
    /// The portal redirected to the RP with an OAuth error.
    Redirected {
        error: String,
        description: Option<String>,
    },
    /// The token endpoint refused the code.
    Token { status: u16, body: String },
    /// Anything else: what came back, shortened.
    Unexpected(String),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Where one authorization request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Authorize {
    /// Redirected to the RP with a code (and the `state` sent).
    Code { code: String, state: Option<String> },
    /// The portal wants credentials: the login form, with the message shown above it
    /// (9 first access, 1 session expired, 5 bad credentials …).
    LoginForm {
        post_to: String,
        token: Option<String>,
        url: Option<String>,
        message: Option<u32>,
    },
    /// Refused, or some other outcome.
    Failed(LoginError),
}

struct Resp {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

/// A cookie jar and the portal it talks to: one person's browser.
#[derive(Clone, Debug)]
pub struct Browser {
    pub portal: String,
    pub cookies: BTreeMap<String, String>,
    /// The last HTML page the portal showed, for failure messages.
    pub last_page: String,
    /// Drop the `lemonldappdata` cookie when a new authorization request starts (the
    /// default). The portal keeps a pending request and the level it wants there
    /// (`issuerRequestoauth2`, `targetAuthnLevel`); after a step-up the person did not
    /// complete, a browser that kept it gets the upgrade page for the next RP too.
    pub fresh_flows: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `application/x-www-form-urlencoded` (also for query strings).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").unwrap();
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or("").to_string()
}

/// The value of attribute `attr` in one HTML tag's text (`<input … >`).
fn attr(tag: &str, attr: &str) -> Option<String> {
    let key = format!(" {attr}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x3D;", "=")
            .replace("&#61;", "="),
    )
}

/// name → value of every `<input>` with both.
fn inputs(html: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for chunk in html.split("<input").skip(1) {
        let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
        let tag = format!(" {}", tag.trim_start());
        if let (Some(n), Some(v)) = (attr(&tag, "name"), attr(&tag, "value")) {
            out.insert(n, v);
        }
    }
    out
}

/// The number in the page's first `trmsg="N"`.
fn portal_message(html: &str) -> Option<u32> {
    let i = html.find("trmsg=\"")? + 7;
    html[i..].split('"').next()?.parse().ok()
}

fn is_login_form(html: &str) -> bool {
    html.contains("name=\"password\"") && html.contains("name=\"user\"")
}

fn excerpt(s: &str) -> String {
    let t: String = s.chars().take(600).collect();
    t.replace('\n', " ")
}

/// What an HTML page that is neither a login form nor a redirect means.
fn classify(html: &str) -> LoginError {
    if html.contains("trspan=\"askToUpgrade\"") || html.contains("action=\"/upgradesession\"") {
        return LoginError::LevelTooLow;
    }
    match portal_message(html) {
        Some(84) => LoginError::RefusedByRule,
        Some(5) => LoginError::WrongPassword,
        Some(code) => LoginError::Portal { code },
        None => LoginError::Unexpected(excerpt(html)),
    }
}

fn http(method: &str, url: &str, cookie: Option<String>, form: Option<String>) -> Resp {
    block(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut rb = client.request(method.parse().unwrap(), url);
        if let Some(c) = cookie {
            rb = rb.header("Cookie", c);
        }
        if let Some(f) = form {
            rb = rb
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(f);
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let header_values = |name: &str| -> Vec<String> {
            r.headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok().map(String::from))
                .collect()
        };
        let location = header_values("location").into_iter().next();
        let set_cookies = header_values("set-cookie");
        let status = r.status().as_u16();
        Resp {
            status,
            location,
            set_cookies,
            body: r.text().await.unwrap_or_default(),
        }
    })
}

impl Browser {
    pub fn new(portal: &str) -> Self {
        Browser {
            portal: portal.trim_end_matches('/').to_string(),
            cookies: BTreeMap::new(),
            last_page: String::new(),
            fresh_flows: true,
        }
    }

    /// The SSO session id: the `lemonldap` cookie, as the manager's sessions API lists it.
    pub fn session(&self) -> Option<&str> {
        self.cookies.get("lemonldap").map(String::as_str)
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn send(&mut self, method: &str, url: &str, form: Option<String>) -> Resp {
        let r = http(method, url, self.cookie_header(), form);
        for c in &r.set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                // The portal deletes a cookie by setting it empty and expired.
                if v.is_empty() {
                    self.cookies.remove(&k);
                } else {
                    self.cookies.insert(k, v);
                }
            }
        }
        if r.status == 200 {
            self.last_page = r.body.clone();
        }
        r
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.portal, location.trim_start_matches('/'))
        }
    }

    /// Follows the portal's redirects (at most 10) from one response until the RP's
    /// `redirect_uri` or an HTML page.
    fn settle(&mut self, mut r: Resp, mut current: String, redirect_uri: &str) -> Authorize {
        for _ in 0..10 {
            match r.status {
                301 | 302 | 303 | 307 => {
                    let loc = self.absolute(r.location.as_deref().unwrap_or(""));
                    if loc.starts_with(redirect_uri) {
                        let u = reqwest::Url::parse(&loc).unwrap();
                        let mut q: BTreeMap<String, String> =
                            u.query_pairs().into_owned().collect();
                        if let Some(f) = u.fragment() {
                            let f = reqwest::Url::parse(&format!("http://x/?{f}")).unwrap();
                            q.extend(f.query_pairs().into_owned());
                        }
                        if let Some(code) = q.get("code") {
                            return Authorize::Code {
                                code: code.clone(),
                                state: q.get("state").cloned(),
                            };
                        }
                        return Authorize::Failed(LoginError::Redirected {
                            error: q.get("error").cloned().unwrap_or_default(),
                            description: q.get("error_description").cloned(),
                        });
                    }
                    current = loc.clone();
                    r = self.send("GET", &loc, None);
                }
                200 if is_login_form(&r.body) => {
                    let fields = inputs(&r.body);
                    return Authorize::LoginForm {
                        post_to: current,
                        token: fields.get("token").cloned(),
                        url: fields.get("url").cloned(),
                        message: portal_message(&r.body),
                    };
                }
                _ => return Authorize::Failed(classify(&r.body)),
            }
        }
        Authorize::Failed(LoginError::Unexpected(format!(
            "more than 10 redirects, last {current}"
        )))
    }

    /// The authorize URL for a code flow: `scope=openid profile email`, a `state` and a
    /// `nonce`; `extra` adds parameters or replaces those (`scope`, `acr_values`, `prompt`, …).
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let state = format!("st{}", now());
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile email"),
            ("state", &state),
            ("nonce", "n-0S6_WzA2Mj"),
        ];
        for (k, v) in extra {
            params.retain(|(p, _)| p != k);
            params.push((k, v));
        }
        format!("{}/oauth2/authorize?{}", self.portal, form_encode(&params))
    }

    /// One authorization request with the cookies held: a code straight away when the SSO
    /// session is alive and allows it, the login form when there is none.
    pub fn authorize(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> Authorize {
        let url = self.authorize_url(client_id, redirect_uri, extra);
        if self.fresh_flows {
            self.cookies.remove("lemonldappdata");
        }
        let r = self.send("GET", &url, None);
        self.settle(r, url, redirect_uri)
    }

    /// Posts credentials into a login form.
    pub fn submit(
        &mut self,
        form: &Authorize,
        user: &str,
        password: &str,
        redirect_uri: &str,
    ) -> Authorize {
        let Authorize::LoginForm {
            post_to,
            token,
            url,
            ..
        } = form
        else {
            panic!("not a login form: {form:?}");
        };
        let mut fields = vec![("user", user), ("password", password), ("timezone", "0")];
        if let Some(t) = token {
            fields.push(("token", t));
        }
        if let Some(u) = url {
            fields.push(("url", u));
        }
        let r = self.send("POST", post_to, Some(form_encode(&fields)));
        match self.settle(r, post_to.clone(), redirect_uri) {
            // Back at the login form: it says why (5: bad credentials).
            Authorize::LoginForm {
                message: Some(code),
                ..
            } => Authorize::Failed(match code {
                5 => LoginError::WrongPassword,
                84 => LoginError::RefusedByRule,
                code => LoginError::Portal { code },
            }),
            other => other,
        }
    }

    /// The whole login: authorize, the login form if the portal shows one, the code, the
    /// token exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn login(
        &mut self,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        user: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> Result<TokenSet, LoginError> {
        let mut step = self.authorize(client_id, redirect_uri, extra);
        if matches!(step, Authorize::LoginForm { .. }) {
            step = self.submit(&step, user, password, redirect_uri);
        }
        match step {
            Authorize::Code { code, .. } => {
                exchange(&self.portal, client_id, client_secret, redirect_uri, &code)
            }
            Authorize::Failed(e) => Err(e),
            Authorize::LoginForm { message, .. } => Err(LoginError::Unexpected(format!(
                "login form again (message {message:?})"
            ))),
        }
    }
}

/// One person's login to one RP, with a fresh cookie jar.
pub fn login(
    portal: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    user: &str,
    password: &str,
    extra_params: &[(&str, &str)],
) -> Result<TokenSet, LoginError> {
    Browser::new(portal).login(
        client_id,
        client_secret,
        redirect_uri,
        user,
        password,
        extra_params,
    )
}

/// The code for tokens at `/oauth2/token`, the client secret by HTTP basic auth.
pub fn exchange(
    portal: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    code: &str,
) -> Result<TokenSet, LoginError> {
    let url = format!("{}/oauth2/token", portal.trim_end_matches('/'));
    let body = form_encode(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ]);
    let (status, text) = block(async {
        let r = reqwest::Client::new()
            .post(&url)
            .basic_auth(client_id, Some(client_secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match (status, v["id_token"].as_str(), v["access_token"].as_str()) {
        (200, Some(id), Some(at)) => Ok(TokenSet {
            id_token: id.to_string(),
            access_token: at.to_string(),
            token_type: v["token_type"].as_str().unwrap_or_default().to_string(),
            expires_in: v["expires_in"].as_u64(),
            refresh_token: v["refresh_token"].as_str().map(String::from),
            raw: v.clone(),
        }),
        _ => Err(LoginError::Token { status, body: text }),
    }
}

/// `/oauth2/userinfo` with the access token.
pub fn userinfo(portal: &str, access_token: &str) -> Result<Value, String> {
    let url = format!("{}/oauth2/userinfo", portal.trim_end_matches('/'));
    let (status, text) = block(async {
        let r = reqwest::Client::new()
            .get(&url)
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    if status != 200 {
        return Err(format!("userinfo: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("userinfo: {e}: {text}"))
}

/// base64url (or standard base64) without or with padding.
pub fn base64url_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return Err(format!("not base64url: {c:?} in {s:?}")),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// A JWT's three parts, the first two as JSON.
pub fn decode_jwt(jwt: &str) -> Result<(Value, Value, Vec<u8>), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("not a JWS compact serialization: {jwt}"));
    }
    let json = |p: &str| -> Result<Value, String> {
        serde_json::from_slice(&base64url_decode(p)?).map_err(|e| format!("{e} in {p}"))
    };
    Ok((
        json(parts[0])?,
        json(parts[1])?,
        base64url_decode(parts[2])?,
    ))
}

/// Checks an ID token: RS256 signature by the JWKS key its `kid` names (ring's
/// `RsaPublicKeyComponents`), `iss`, `aud` (a string or a list containing `client_id`),
/// `exp` in the future. Its claims.
pub fn verify_id_token(
    jwt: &str,
    jwks_url: &str,
    issuer: &str,
    client_id: &str,
) -> Result<Value, String> {
    let (header, claims, sig) = decode_jwt(jwt)?;
    if header["alg"] != "RS256" {
        return Err(format!("alg is {}, not RS256", header["alg"]));
    }
    let (status, jwks) = super::lemonldap::request("GET", jwks_url, None);
    if status != 200 {
        return Err(format!("JWKS {jwks_url}: {status} {jwks}"));
    }
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let key = keys
        .iter()
        .find(|k| k["kty"] == "RSA" && (header["kid"].is_null() || k["kid"] == header["kid"]))
        .ok_or_else(|| format!("no RSA key {} in {jwks}", header["kid"]))?;
    let n = base64url_decode(key["n"].as_str().unwrap_or(""))?;
    let e = base64url_decode(key["e"].as_str().unwrap_or(""))?;
    let signed = &jwt[..jwt.rfind('.').unwrap()];
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &sig,
        )
        .map_err(|_| "bad RS256 signature".to_string())?;
    if claims["iss"] != issuer {
        return Err(format!("iss is {}, not {issuer}", claims["iss"]));
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == client_id,
        Value::Array(a) => a.iter().any(|x| x == client_id),
        _ => false,
    };
    if !aud_ok {
        return Err(format!("aud {} does not name {client_id}", claims["aud"]));
    }
    match claims["exp"].as_u64() {
        Some(exp) if exp > now() => {}
        other => return Err(format!("expired or no exp: {other:?}")),
    }
    Ok(claims)
}
