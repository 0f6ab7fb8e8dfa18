//! A Keycloak user for each of the tenant's active people: its profile and attributes, the
//! client roles of its features, its Organization membership.

use ::keycloak::KeycloakError;
use ::keycloak::types::{ClientRepresentation, RoleRepresentation, UserRepresentation};

use crate::connectors::TargetError;
use crate::engine::plan::Op;
use crate::engine::state::Object;

use super::client::{KeycloakTarget, attribute, enc, write_error, write_result};
use super::kind::kattr;
use super::repr;

impl KeycloakTarget {
    /// The tenant's users (by accord's mark), each with the roles of `client` it has.
    pub(super) async fn observe_users(
        &self,
        client: Option<(&str, &[RoleRepresentation])>,
    ) -> Result<Vec<Object>, TargetError> {
        let q = format!("{}:{}", repr::USER_OWNER_KEY, self.setup.mark());
        let users: Vec<UserRepresentation> = self
            .paged(
                "listing accord's users",
                &format!("/users?briefRepresentation=false&q={}", enc(&q)),
            )
            .await?;
        let mut features: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        if let Some((uuid, roles)) = client {
            for role in roles.iter().filter_map(|r| r.name.as_deref()) {
                let path = format!("/clients/{}/roles/{}/users", enc(uuid), enc(role));
                let members: Vec<UserRepresentation> =
                    self.paged("listing a client role's users", &path).await?;
                for m in members.into_iter().filter_map(|m| m.username) {
                    features.entry(m).or_default().push(role.to_string());
                }
            }
        }
        Ok(users
            .iter()
            .filter(|u| repr::user_is_ours(u, &self.setup))
            .map(|u| {
                let name = u.username.as_deref().unwrap_or_default();
                repr::observed_user(u, features.remove(name).unwrap_or_default())
            })
            .collect())
    }

    /// The tenant's client and its roles, as they are now (read once per apply).
    pub(super) async fn client_roles(
        &self,
    ) -> Result<&(String, Vec<RoleRepresentation>), TargetError> {
        self.client_roles
            .get_or_try_init(|| async {
                let path = format!("/clients?clientId={}", enc(&self.client_id));
                let found: Vec<ClientRepresentation> =
                    self.get("looking up the client id", &path).await?;
                let mine = found.iter().find(|c| {
                    c.client_id.as_deref() == Some(&self.client_id)
                        && attribute(c, repr::OWNER_KEY) == Some(&self.setup.mark())
                });
                let uuid = mine.and_then(|c| c.id.clone()).ok_or_else(|| {
                    TargetError::rejected(format!(
                        "the tenant's client {} is not in realm {} as accord's, so its roles \
                         (the features) cannot be given",
                        self.client_id, self.realm
                    ))
                })?;
                let roles = self.roles_of(&uuid).await?;
                Ok((uuid, roles))
            })
            .await
    }

    /// The client roles for `features`, as Keycloak knows them.
    pub(super) async fn roles_for(
        &self,
        features: &[String],
        give: bool,
    ) -> Result<(String, Vec<RoleRepresentation>), TargetError> {
        let (uuid, roles) = self.client_roles().await?;
        let mut out = Vec::new();
        for f in features {
            match roles.iter().find(|r| r.name.as_deref() == Some(f.as_str())) {
                Some(r) => out.push(RoleRepresentation {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    ..Default::default()
                }),
                // A role that is gone is no one's any more.
                None if !give => {}
                None => {
                    return Err(TargetError::rejected(format!(
                        "the client has no role {f} (the feature)"
                    )));
                }
            }
        }
        Ok((uuid.clone(), out))
    }

    pub(super) async fn apply_user(
        &self,
        op: &Op,
        want: Option<&Object>,
    ) -> Result<usize, TargetError> {
        let a = self.admin().await?;
        let admin = &a.api;
        let realm = self.realm.as_str();
        let feature_list = |o: &Object| o.attrs.get(repr::FEATURES).cloned().unwrap_or_default();
        match (op, want) {
            (Op::Delete { locator, .. }, _) => {
                // Deleting the user ends their sessions with it.
                self.http.pacer.wait().await;
                let r = admin
                    .realm_users_with_user_id_delete(realm, locator.as_deref().unwrap_or_default())
                    .await;
                self.count();
                write_result("deleting the user", r, true).map(|()| 1)
            }
            (Op::Create { .. }, Some(want)) => {
                self.http.pacer.wait().await;
                let r = admin
                    .realm_users_post(realm, repr::user_body(want, &self.setup))
                    .await;
                self.count();
                let id = match r {
                    Ok(resp) => resp.to_id().map(String::from),
                    Err(KeycloakError::HttpFailure { status: 409, .. }) => {
                        return Err(TargetError::rejected(format!(
                            "a user {} (or one with the e-mail address) is already in realm {} \
                             and is not accord's: left alone",
                            want.key.id, self.realm
                        )));
                    }
                    Err(e) => return Err(write_error("creating the user", e)),
                };
                let id = id.ok_or_else(|| {
                    TargetError::rejected("creating the user: Keycloak's answer has no Location")
                })?;
                let mut writes = 1 + self.map_roles(&id, &feature_list(want), true).await?;
                if want.get(kattr::ORGANIZATION).is_some() {
                    writes += self.add_member(&id).await?;
                }
                Ok(writes)
            }
            (
                Op::Update {
                    changes, locator, ..
                },
                Some(want),
            ) => {
                let id = locator.as_deref().unwrap_or_default();
                let mut writes = 0;
                if changes
                    .iter()
                    .any(|c| c.attr != repr::FEATURES && c.attr != kattr::ORGANIZATION)
                {
                    self.http.pacer.wait().await;
                    let r = admin
                        .realm_users_with_user_id_put(realm, id, repr::user_body(want, &self.setup))
                        .await;
                    self.count();
                    write_result("updating the user", r.map(drop), false)?;
                    writes += 1;
                }
                if let Some(c) = changes.iter().find(|c| c.attr == repr::FEATURES) {
                    let add: Vec<String> = c
                        .desired
                        .iter()
                        .filter(|f| !c.actual.contains(f))
                        .cloned()
                        .collect();
                    let remove: Vec<String> = c
                        .actual
                        .iter()
                        .filter(|f| !c.desired.contains(f))
                        .cloned()
                        .collect();
                    writes += self.map_roles(id, &add, true).await?;
                    writes += self.map_roles(id, &remove, false).await?;
                }
                if changes.iter().any(|c| c.attr == kattr::ORGANIZATION)
                    && want.get(kattr::ORGANIZATION).is_some()
                {
                    writes += self.add_member(id).await?;
                }
                Ok(writes)
            }
            _ => Err(TargetError::rejected("no desired state for the user")),
        }
    }

    /// Makes a user a member of the tenant's Organization.
    pub(super) async fn add_member(&self, user: &str) -> Result<usize, TargetError> {
        let a = self.admin().await?;
        let admin = &a.api;
        let org = self.org_id().await?;
        self.http.pacer.wait().await;
        let r = admin
            .realm_organizations_with_org_id_members_post(&self.realm, org, user.to_string())
            .await;
        self.count();
        write_result("adding the user to the organization", r.map(drop), false)?;
        Ok(1)
    }

    /// Gives (or takes) the client roles for `features` to a user.
    pub(super) async fn map_roles(
        &self,
        user: &str,
        features: &[String],
        give: bool,
    ) -> Result<usize, TargetError> {
        if features.is_empty() {
            return Ok(0);
        }
        let a = self.admin().await?;
        let admin = &a.api;
        let (client, roles) = self.roles_for(features, give).await?;
        if roles.is_empty() {
            return Ok(0);
        }
        let realm = self.realm.as_str();
        self.http.pacer.wait().await;
        let r = if give {
            admin
                .realm_users_with_user_id_role_mappings_clients_with_client_id_post(
                    realm, user, &client, roles,
                )
                .await
        } else {
            admin
                .realm_users_with_user_id_role_mappings_clients_with_client_id_delete(
                    realm, user, &client, roles,
                )
                .await
        };
        self.count();
        write_result(
            if give {
                "giving client roles"
            } else {
                "taking client roles"
            },
            r.map(drop),
            false,
        )?;
        Ok(1)
    }
}
