//! The I/O: the tenant's client, its protocol mappers and client roles through the Admin
//! REST API (`{endpoint}/admin/realms/{realm}/…`), and the realm's identity providers, read
//! to check the tenant's login methods.
//!
//! Writes go through the `keycloak` crate. Reads do not: its calls read a whole answer into
//! memory whatever its size, and a read must be bounded (a hostile or broken server must not
//! eat memory), so they go through accord's `Http` (retries, pacing, bounded bodies) and are
//! parsed into the crate's representation types. The admin token is fetched the same way,
//! again before it runs out, and handed to the crate as its token.
//!
//! Only clients carrying accord's mark for this tenant are changed or deleted; one with the
//! wanted client id but without the mark is observed (so the plan shows it) and left alone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ::keycloak::types::{
    ClientRepresentation, CredentialRepresentation, IdentityProviderRepresentation,
    ProtocolMapperRepresentation, RoleRepresentation,
};
use ::keycloak::{KeycloakAdmin, KeycloakAdminToken, KeycloakError};
use futures::future::BoxFuture;
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::connectors::http::{Http, chain};
use crate::connectors::{ApplyOptions, ApplyReport, Connector, TargetError, run_waves};
use crate::engine::build::idp::attr;
use crate::engine::plan::{Op, TargetPlan, apply_in_memory};
use crate::engine::state::{Object, ObjectKind, ObservedState};

use super::kind::{OWNER_VALUE, kattr};
use super::org::OrgSeen;
use super::repr::{self, Extras, Setup};

/// No answer of Keycloak is read past this (a realm's client list with its mappers is a few
/// hundred kB).
pub const MAX_BODY: usize = 16 << 20;
/// Users and role members are read this many at a time, at most `MAX_PAGES` times.
pub const PAGE: usize = 500;
const MAX_PAGES: usize = 1000;
/// No listing is read past this, whatever its pages.
pub const MAX_LISTING: usize = 256 << 20;

/// How accord logs in to the Admin API: a service account's client credentials.
pub struct AdminLogin {
    pub realm: String,
    pub client_id: String,
    pub client_secret: String,
}

pub struct KeycloakTarget {
    pub(super) http: Http,
    pub(super) login: AdminLogin,
    pub(super) realm: String,
    pub(super) setup: Setup,
    /// The client id the tenant wants, to find a client with it that is not accord's.
    pub(super) client_id: String,
    pub(super) max_concurrency: usize,
    pub(super) admin: tokio::sync::Mutex<Option<(Instant, Arc<Admin>)>>,
    /// The tenant's client (its id) and its roles, for users' role mappings.
    pub(super) client_roles: OnceCell<(String, Vec<RoleRepresentation>)>,
    /// `mode: organization`: the tenant's Organization alias, and its id once known.
    pub(super) org: Option<String>,
    pub(super) org_id: OnceCell<String>,
}

/// A logged-in Admin API: the bearer token (for accord's own reads) and the crate's client
/// holding it (for writes).
pub struct Admin {
    pub(super) bearer: String,
    pub(super) api: KeycloakAdmin<KeycloakAdminToken>,
}

impl KeycloakTarget {
    /// The admin token and the crate's client holding it: fetched when first needed and
    /// again when it is about to expire (an apply to thousands of people outlasts one).
    pub(super) async fn admin(&self) -> Result<Arc<Admin>, TargetError> {
        let mut slot = self.admin.lock().await;
        if let Some((until, a)) = slot.as_ref()
            && Instant::now() < *until
        {
            return Ok(a.clone());
        }
        let what = "logging in to the Admin API";
        let path = format!(
            "/realms/{}/protocol/openid-connect/token",
            enc(&self.login.realm)
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.login.client_id.as_str()),
            ("client_secret", self.login.client_secret.as_str()),
        ];
        let r = self
            .http
            .send(what, || self.http.request(Method::POST, &path).form(&form))
            .await?;
        if matches!(
            r.status(),
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
        ) {
            return Err(TargetError::auth(format!(
                "{what}: Keycloak refused the credentials of client {} in realm {} ({})",
                self.login.client_id,
                self.login.realm,
                r.status()
            )));
        }
        let token: KeycloakAdminToken = self.parse(what, r).await?;
        // Renewed a little before it runs out (halfway, for very short lifetimes).
        let life = token.expires_in() as u64;
        let until = Instant::now() + Duration::from_secs(life.saturating_sub(30).max(life / 2));
        let bearer = token.access_token().to_string();
        let api = KeycloakAdmin::new(&self.http.base, token, self.http.client.clone());
        let a = Arc::new(Admin { bearer, api });
        *slot = Some((until, a.clone()));
        Ok(a)
    }

    pub(super) async fn parse<T: DeserializeOwned>(
        &self,
        what: &str,
        r: Response,
    ) -> Result<T, TargetError> {
        self.parse_sized(what, r).await.map(|(v, _)| v)
    }

    /// The answer parsed, and its size.
    async fn parse_sized<T: DeserializeOwned>(
        &self,
        what: &str,
        r: Response,
    ) -> Result<(T, usize), TargetError> {
        let status = r.status();
        if !status.is_success() {
            return Err(status_error(
                what,
                status,
                &bounded(r, what).await.unwrap_or_default(),
            ));
        }
        let body = bounded(r, what).await?;
        let v = serde_json::from_slice(&body).map_err(|e| {
            TargetError::unreachable(format!(
                "{what}: Keycloak's answer ({status}) is not what the Admin API returns: {e}"
            ))
        })?;
        Ok((v, body.len()))
    }

    /// A GET under the realm, parsed.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
    ) -> Result<T, TargetError> {
        self.get_sized(what, path).await.map(|(v, _)| v)
    }

    pub(super) async fn get_sized<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
    ) -> Result<(T, usize), TargetError> {
        let a = self.admin().await?;
        let bearer = &a.bearer;
        let url = format!("/admin/realms/{}{path}", enc(&self.realm));
        let r = self
            .http
            .send(what, || {
                self.http
                    .request(Method::GET, &url)
                    .bearer_auth(bearer)
                    .header("Accept", "application/json")
            })
            .await?;
        if r.status() == StatusCode::NOT_FOUND && path.starts_with("/clients?") {
            return Err(TargetError::config(format!(
                "{what}: realm {} does not exist in Keycloak (accord never creates realms; \
                 create it, or set spec.keycloak.realm)",
                self.realm
            )));
        }
        self.parse_sized(what, r).await
    }

    /// The tenant's clients (by accord's mark) and one holding the wanted client id that is
    /// not accord's, each with what Keycloak holds beside it.
    pub(super) async fn observe_clients(
        &self,
        org: Option<&OrgSeen>,
    ) -> Result<(Vec<Object>, Option<(String, Vec<RoleRepresentation>)>), TargetError> {
        let q = format!("{}:{}", repr::OWNER_KEY, self.setup.mark());
        let owned: Vec<ClientRepresentation> = self
            .get(
                "listing accord's clients",
                &format!("/clients?q={}", enc(&q)),
            )
            .await?;
        let mut found: Vec<ClientRepresentation> = owned
            .into_iter()
            .filter(|c| attribute(c, repr::OWNER_KEY) == Some(&self.setup.mark()))
            .collect();
        if !found
            .iter()
            .any(|c| c.client_id.as_deref() == Some(&self.client_id))
        {
            let path = format!("/clients?clientId={}", enc(&self.client_id));
            let same_id: Vec<ClientRepresentation> =
                self.get("looking up the client id", &path).await?;
            found.extend(
                same_id
                    .into_iter()
                    .filter(|c| c.client_id.as_deref() == Some(&self.client_id)),
            );
        }
        // The login methods the client's people are offered: in a shared realm, the
        // providers linked to the tenant's Organization; else the realm's.
        let providers = match (found.is_empty(), &self.org, org) {
            (true, _, _) => Vec::new(),
            (false, None, _) => self.providers().await?,
            (false, Some(_), Some(o)) => o.providers.clone(),
            (false, Some(_), None) => Vec::new(),
        };
        let mut out = Vec::new();
        let mut wanted = None;
        for c in &found {
            let mine = attribute(c, repr::OWNER_KEY) == Some(&self.setup.mark());
            let uuid = c.id.as_deref().unwrap_or_default();
            let (secret, roles) = if mine {
                (self.secret_of(c).await?, self.roles_of(uuid).await?)
            } else {
                (None, Vec::new())
            };
            let extras = Extras {
                secret: secret.as_deref(),
                roles: &roles,
                providers: &providers,
            };
            let mut o = repr::observed(c, &extras, &self.setup);
            match (&self.org, org) {
                (Some(alias), Some(seen)) if seen.ours => {
                    o.set(kattr::ORGANIZATION, alias);
                }
                (Some(alias), Some(_)) => {
                    o.set(kattr::ORGANIZATION, format!("{alias}, not accord's"));
                }
                _ => {}
            }
            out.push(o);
            if mine && c.client_id.as_deref() == Some(&self.client_id) {
                wanted = Some((uuid.to_string(), roles));
            }
        }
        Ok((out, wanted))
    }

    /// Every page of a listing, bounded.
    pub(super) async fn paged<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
    ) -> Result<Vec<T>, TargetError> {
        let mut out = Vec::new();
        let mut read = 0;
        for page in 0..MAX_PAGES {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = format!("{path}{sep}first={}&max={PAGE}", page * PAGE);
            let (got, size): (Vec<T>, usize) = self.get_sized(what, &url).await?;
            read += size;
            if read > MAX_LISTING {
                return Err(TargetError::unreachable(format!(
                    "{what}: the listing is larger than {} MiB",
                    MAX_LISTING >> 20
                )));
            }
            let n = got.len();
            out.extend(got);
            if n < PAGE {
                return Ok(out);
            }
        }
        Err(TargetError::unreachable(format!(
            "{what}: more than {} entries",
            MAX_PAGES * PAGE
        )))
    }

    pub(super) async fn providers(
        &self,
    ) -> Result<Vec<IdentityProviderRepresentation>, TargetError> {
        self.get("listing identity providers", "/identity-provider/instances")
            .await
    }

    pub(super) async fn roles_of(
        &self,
        uuid: &str,
    ) -> Result<Vec<RoleRepresentation>, TargetError> {
        self.get(
            "listing the client's roles",
            &format!("/clients/{}/roles", enc(uuid)),
        )
        .await
    }

    /// The secret of a confidential client, from its own endpoint: the client's
    /// representation may carry it masked.
    async fn secret_of(&self, c: &ClientRepresentation) -> Result<Option<String>, TargetError> {
        if c.public_client == Some(true) {
            return Ok(None);
        }
        let uuid = c.id.as_deref().unwrap_or_default();
        let cred: CredentialRepresentation = self
            .get(
                "reading the client secret",
                &format!("/clients/{}/client-secret", enc(uuid)),
            )
            .await?;
        Ok(cred.value)
    }

    /// `last`: no client of the tenant is wanted any more (its Organization may go).
    async fn apply_client(
        &self,
        op: &Op,
        want: Option<&Object>,
        have: Option<&Object>,
        last: bool,
    ) -> Result<usize, TargetError> {
        if let Some(h) = have.filter(|h| h.get(kattr::OWNER) != Some(OWNER_VALUE)) {
            return Err(TargetError::rejected(format!(
                "client {} (id {}) is {}: left alone; delete or rename it, or change \
                 spec.keycloak.clientId",
                op.key().id,
                h.locator.as_deref().unwrap_or("?"),
                h.get(kattr::OWNER).unwrap_or("not accord's")
            )));
        }
        let a = self.admin().await?;
        let admin = &a.api;
        let realm = self.realm.as_str();
        match (op, want) {
            (Op::Delete { locator, .. }, _) => {
                let uuid = locator.as_deref().unwrap_or_default();
                self.http.pacer.wait().await;
                let r = admin
                    .realm_clients_with_client_uuid_delete(realm, uuid)
                    .await;
                self.count();
                write_result("deleting the client", r, true)?;
                if !last || self.org.is_none() {
                    return Ok(1);
                }
                // No client of the tenant is wanted any more: its Organization goes too.
                match self.find_org().await? {
                    Some(o) if repr::org_is_ours(&o, &self.setup) => {
                        self.http.pacer.wait().await;
                        let id = o.id.unwrap_or_default();
                        let r = admin
                            .realm_organizations_with_org_id_delete(realm, &id)
                            .await;
                        self.count();
                        write_result("deleting the organization", r, true).map(|()| 2)
                    }
                    _ => Ok(1),
                }
            }
            (Op::Create { .. }, Some(want)) => self.create(want).await,
            (
                Op::Update {
                    changes, locator, ..
                },
                Some(want),
            ) => {
                let changed: BTreeSet<&str> = changes.iter().map(|c| c.attr.as_str()).collect();
                self.update(want, locator.as_deref().unwrap_or_default(), &changed)
                    .await
            }
            _ => Err(TargetError::rejected("no desired state for the client")),
        }
    }

    async fn create(&self, want: &Object) -> Result<usize, TargetError> {
        let a = self.admin().await?;
        let admin = &a.api;
        let body = repr::client_body(want, &self.setup, true)
            .map_err(|e| TargetError::rejected(format!("not sent: {e}")))?;
        self.http.pacer.wait().await;
        let r = admin.realm_clients_post(&self.realm, body).await;
        self.count();
        let uuid = match r {
            Ok(resp) => resp.to_id().map(String::from),
            Err(e) => return Err(write_error("creating the client", e)),
        };
        let uuid = uuid.ok_or_else(|| {
            TargetError::rejected("creating the client: Keycloak's answer has no Location")
        })?;
        let mut writes = 1;
        writes += self.sync_roles(&uuid, want).await?;
        if self.org.is_some() {
            writes += self.sync_org(want).await?;
        } else {
            self.check_methods(want).await?;
        }
        Ok(writes)
    }

    /// Only the parts that changed are written: the client itself (PUT merges what it is
    /// given), its mappers, its roles.
    async fn update(
        &self,
        want: &Object,
        uuid: &str,
        changed: &BTreeSet<&str>,
    ) -> Result<usize, TargetError> {
        let own_calls = [
            attr::CLAIMS,
            kattr::CLIENT_ROLES,
            attr::LOGIN_METHODS,
            kattr::ORGANIZATION,
        ];
        let mut writes = 0;
        if changed.iter().any(|a| !own_calls.contains(a)) {
            let a = self.admin().await?;
            let admin = &a.api;
            let body = repr::client_body(want, &self.setup, false)
                .map_err(|e| TargetError::rejected(format!("not sent: {e}")))?;
            self.http.pacer.wait().await;
            let r = admin
                .realm_clients_with_client_uuid_put(&self.realm, uuid, body)
                .await;
            self.count();
            write_result("updating the client", r.map(drop), false)?;
            writes += 1;
        }
        if changed.contains(attr::CLAIMS) {
            writes += self.sync_mappers(uuid, want).await?;
        }
        if changed.contains(kattr::CLIENT_ROLES) {
            writes += self.sync_roles(uuid, want).await?;
        }
        if self.org.is_some()
            && (changed.contains(attr::LOGIN_METHODS) || changed.contains(kattr::ORGANIZATION))
        {
            writes += self.sync_org(want).await?;
        } else if changed.contains(attr::LOGIN_METHODS) {
            self.check_methods(want).await?;
        }
        Ok(writes)
    }

    /// Mappers as accord's claims want them: a wrong one replaced, a missing one added, any
    /// other removed (the client is accord's).
    async fn sync_mappers(&self, uuid: &str, want: &Object) -> Result<usize, TargetError> {
        let a = self.admin().await?;
        let admin = &a.api;
        let wanted =
            repr::mappers(want).map_err(|e| TargetError::rejected(format!("not sent: {e}")))?;
        let have: ClientRepresentation = self
            .get("reading the client", &format!("/clients/{}", enc(uuid)))
            .await?;
        let have: Vec<ProtocolMapperRepresentation> = have.protocol_mappers.unwrap_or_default();
        let realm = self.realm.as_str();
        let mut writes = 0;
        for w in &wanted {
            let same_name = have.iter().find(|h| h.name == w.name);
            let r = match same_name {
                Some(h) if repr::mapper_matches(h, w) => continue,
                Some(h) => {
                    let id = h.id.clone().unwrap_or_default();
                    let body = ProtocolMapperRepresentation {
                        id: Some(id.clone()),
                        ..w.clone()
                    };
                    self.http.pacer.wait().await;
                    admin
                        .realm_clients_with_client_uuid_protocol_mappers_models_with_id_put(
                            realm, uuid, &id, body,
                        )
                        .await
                }
                None => {
                    self.http.pacer.wait().await;
                    admin
                        .realm_clients_with_client_uuid_protocol_mappers_models_post(
                            realm,
                            uuid,
                            w.clone(),
                        )
                        .await
                }
            };
            self.count();
            write_result("writing a protocol mapper", r.map(drop), false)?;
            writes += 1;
        }
        for h in have
            .iter()
            .filter(|h| !wanted.iter().any(|w| w.name == h.name))
        {
            let id = h.id.as_deref().unwrap_or_default();
            self.http.pacer.wait().await;
            let r = admin
                .realm_clients_with_client_uuid_protocol_mappers_models_with_id_delete(
                    realm, uuid, id,
                )
                .await;
            self.count();
            write_result("removing a protocol mapper", r.map(drop), true)?;
            writes += 1;
        }
        Ok(writes)
    }

    /// One client role per feature: missing ones added, others removed.
    async fn sync_roles(&self, uuid: &str, want: &Object) -> Result<usize, TargetError> {
        let a = self.admin().await?;
        let admin = &a.api;
        let wanted: BTreeSet<&str> = want
            .attrs
            .get(kattr::CLIENT_ROLES)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let have: Vec<RoleRepresentation> = self.roles_of(uuid).await?;
        let have: BTreeSet<String> = have.into_iter().filter_map(|r| r.name).collect();
        let realm = self.realm.as_str();
        let mut writes = 0;
        for name in wanted.iter().filter(|n| !have.contains(**n)) {
            self.http.pacer.wait().await;
            let r = admin
                .realm_clients_with_client_uuid_roles_post(realm, uuid, repr::role_body(name))
                .await;
            self.count();
            write_result("adding a client role", r.map(drop), false)?;
            writes += 1;
        }
        for name in have.iter().filter(|n| !wanted.contains(n.as_str())) {
            self.http.pacer.wait().await;
            let r = admin
                .realm_clients_with_client_uuid_roles_with_role_name_delete(realm, uuid, name)
                .await;
            self.count();
            write_result("removing a client role", r.map(drop), true)?;
            writes += 1;
        }
        Ok(writes)
    }

    /// The tenant's upstream login methods need their identity providers in the realm,
    /// enabled; accord does not make them (their endpoints, metadata and secrets are the
    /// federation's), so a missing one fails the client's operation with what to do.
    async fn check_methods(&self, want: &Object) -> Result<(), TargetError> {
        let wanted: Vec<&String> = want
            .attrs
            .get(attr::LOGIN_METHODS)
            .into_iter()
            .flatten()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let offered = repr::login_methods(&self.providers().await?);
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|m| !offered.contains(m))
            .map(|m| m.as_str())
            .collect();
        let extra: Vec<&str> = offered
            .iter()
            .filter(|m| !wanted.contains(m))
            .map(String::as_str)
            .collect();
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!(
                "the tenant's spec.policy.login.methods need identity providers that realm {} \
                 does not have enabled: {} (an oidc:NAME or saml:NAME method is the provider \
                 with alias NAME; suomifi a SAML provider with alias suomifi) — accord does not \
                 create them: their endpoints, metadata and secrets are the federation's",
                self.realm,
                missing.join(", ")
            ));
        }
        if !extra.is_empty() {
            why.push(format!(
                "realm {} also offers identity providers the tenant's policy does not name: {} \
                 — accord does not disable providers it did not make",
                self.realm,
                extra.join(", ")
            ));
        }
        Err(TargetError::rejected(why.join("; ")))
    }

    pub(super) fn count(&self) {
        self.http
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Connector for KeycloakTarget {
    fn observe(&self) -> BoxFuture<'_, Result<ObservedState, TargetError>> {
        Box::pin(async move {
            let org = self.observe_org().await?;
            let (mut objects, client) = self.observe_clients(org.as_ref()).await?;
            let client = client
                .as_ref()
                .map(|(uuid, roles)| (uuid.as_str(), roles.as_slice()));
            let mut users = self.observe_users(client).await?;
            if let (Some(alias), Some(org)) = (&self.org, &org) {
                for u in users.iter_mut().filter(|u| org.members.contains(&u.key.id)) {
                    u.set(kattr::ORGANIZATION, alias);
                }
            }
            objects.extend(users);
            Ok(ObservedState::from_objects(objects))
        })
    }

    fn apply<'a>(
        &'a self,
        plan: &'a TargetPlan,
        observed: &'a ObservedState,
        _: ApplyOptions,
    ) -> BoxFuture<'a, ApplyReport> {
        Box::pin(async move {
            let mut report = ApplyReport::new(&plan.integration);
            let wanted = apply_in_memory(observed, plan);
            let last = !wanted.objects.keys().any(|k| k.kind == ObjectKind::Client);
            // The client (and its roles) first: users' role mappings need them. The engine
            // orders people before clients, as a directory needs.
            for clients in [true, false] {
                let mut part = plan.clone();
                part.ops
                    .retain(|o| (o.key().kind == ObjectKind::Client) == clients);
                run_waves(&part, self.max_concurrency, &mut report, |n| {
                    let op = &part.ops[n];
                    let key = op.key();
                    let wanted = &wanted;
                    async move {
                        let want = matches!(op, Op::Create { .. } | Op::Update { .. })
                            .then(|| wanted.objects.get(key))
                            .flatten();
                        let have = observed.objects.get(key);
                        match key.kind {
                            ObjectKind::Client => self.apply_client(op, want, have, last).await,
                            ObjectKind::Person => self.apply_user(op, want).await,
                            _ => Err(TargetError::rejected(format!(
                                "the keycloak connector holds no {} objects",
                                key.kind.as_str()
                            ))),
                        }
                    }
                })
                .await;
                if report.aborted.is_some() {
                    break;
                }
            }
            report.requests = self.http.requests();
            report
        })
    }

    fn requests(&self) -> Option<usize> {
        Some(self.http.requests())
    }
}

pub(super) fn attribute<'a>(c: &'a ClientRepresentation, key: &str) -> Option<&'a String> {
    c.attributes.as_ref()?.get(key)
}

/// An error answer as a target error: credentials, the server, or the one request.
pub(super) fn status_error(what: &str, status: StatusCode, body: &[u8]) -> TargetError {
    let text = short(&String::from_utf8_lossy(body));
    let m = format!("{what}: Keycloak answered {status}: {text}");
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => TargetError::auth(m),
        s if s.is_server_error() => TargetError::unreachable(m),
        _ => TargetError::rejected(m),
    }
}

/// A write's outcome. `gone_is_done`: a delete of what is already gone did its work.
pub(super) fn write_result<T>(
    what: &str,
    r: Result<T, KeycloakError>,
    gone_is_done: bool,
) -> Result<(), TargetError> {
    match r {
        Ok(_) => Ok(()),
        Err(KeycloakError::HttpFailure { status: 404, .. }) if gone_is_done => Ok(()),
        Err(e) => Err(write_error(what, e)),
    }
}

pub(super) fn write_error(what: &str, e: KeycloakError) -> TargetError {
    match e {
        KeycloakError::ReqwestFailure(e) => {
            TargetError::unreachable(format!("{what}: cannot reach Keycloak: {}", chain(&e)))
        }
        KeycloakError::HttpFailure { status, text, body } => {
            let detail = body
                .as_ref()
                .and_then(|b| b.message().map(|m| m.into_owned()))
                .unwrap_or(text);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status == StatusCode::CONFLICT {
                return TargetError::rejected(format!(
                    "{what}: Keycloak answered {status} (a client with this client id exists and is not accord's?): {}",
                    short(&detail)
                ));
            }
            status_error(what, status, detail.as_bytes())
        }
    }
}

/// The body, refused past `MAX_BODY`.
async fn bounded(mut r: Response, what: &str) -> Result<Vec<u8>, TargetError> {
    let mut body = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| TargetError::unreachable(format!("{what}: {}", chain(&e))))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(TargetError::unreachable(format!(
                "{what}: Keycloak's answer is larger than {} MiB",
                MAX_BODY >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A server's text for a message: one line, at most 200 characters.
fn short(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line.to_string()
    }
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
