//! `mode: organization`: the tenant as an Organization of a shared realm, linked to the
//! identity providers of its login methods, its people members.

use std::collections::BTreeSet;

use ::keycloak::types::{
    IdentityProviderRepresentation, MemberRepresentation, OrganizationRepresentation,
};

use crate::connectors::TargetError;
use crate::engine::build::idp::attr;
use crate::engine::state::Object;

use super::client::{KeycloakTarget, enc, write_error, write_result};
use super::repr;

/// The tenant's Organization as observed.
pub(super) struct OrgSeen {
    pub(super) ours: bool,
    /// The identity providers linked to it, and its members' usernames (when ours).
    pub(super) providers: Vec<IdentityProviderRepresentation>,
    pub(super) members: BTreeSet<String>,
}

impl KeycloakTarget {
    /// The tenant's Organization, in `mode: organization`.
    pub(super) async fn find_org(&self) -> Result<Option<OrganizationRepresentation>, TargetError> {
        let Some(alias) = &self.org else {
            return Ok(None);
        };
        let path = format!("/organizations?search={}&exact=true", enc(alias));
        let found: Vec<OrganizationRepresentation> =
            self.get("looking up the organization", &path).await?;
        Ok(found
            .into_iter()
            .find(|o| o.alias.as_deref() == Some(alias.as_str())))
    }

    pub(super) async fn observe_org(&self) -> Result<Option<OrgSeen>, TargetError> {
        let Some(o) = self.find_org().await? else {
            return Ok(None);
        };
        let ours = repr::org_is_ours(&o, &self.setup);
        let mut seen = OrgSeen {
            ours,
            providers: Vec::new(),
            members: BTreeSet::new(),
        };
        if ours {
            let id = enc(o.id.as_deref().unwrap_or_default());
            seen.providers = self
                .get(
                    "listing the organization's identity providers",
                    &format!("/organizations/{id}/identity-providers"),
                )
                .await?;
            let members: Vec<MemberRepresentation> = self
                .paged(
                    "listing the organization's members",
                    &format!("/organizations/{id}/members"),
                )
                .await?;
            seen.members = members.into_iter().filter_map(|m| m.username).collect();
        }
        Ok(Some(seen))
    }

    /// The tenant's Organization's id, made if it is not there; one that is not accord's is
    /// left alone.
    pub(super) async fn org_id(&self) -> Result<&String, TargetError> {
        self.org_id
            .get_or_try_init(|| async {
                let alias = self.org.as_deref().unwrap_or_default();
                if let Some(o) = self.find_org().await? {
                    if !repr::org_is_ours(&o, &self.setup) {
                        return Err(TargetError::rejected(format!(
                            "organization {alias} is in realm {} but not accord's (no {} mark \
                             for {}): left alone",
                            self.realm,
                            repr::USER_OWNER_KEY,
                            self.setup.mark()
                        )));
                    }
                    return Ok(o.id.unwrap_or_default());
                }
                let a = self.admin().await?;
                let admin = &a.api;
                self.http.pacer.wait().await;
                let r = admin
                    .realm_organizations_post(&self.realm, repr::org_body(alias, &self.setup))
                    .await;
                self.count();
                match r {
                    Ok(resp) => resp.to_id().map(String::from).ok_or_else(|| {
                        TargetError::rejected(
                            "creating the organization: Keycloak's answer has no Location",
                        )
                    }),
                    Err(e) => Err(write_error("creating the organization", e)),
                }
            })
            .await
    }

    /// The Organization there, linked to exactly the providers of the tenant's login
    /// methods (providers themselves are not accord's to make).
    pub(super) async fn sync_org(&self, want: &Object) -> Result<usize, TargetError> {
        let a = self.admin().await?;
        let admin = &a.api;
        let id = self.org_id().await?.clone();
        let wanted: Vec<&String> = want
            .attrs
            .get(attr::LOGIN_METHODS)
            .into_iter()
            .flatten()
            .collect();
        let in_realm = repr::login_methods(&self.providers().await?);
        let linked: Vec<IdentityProviderRepresentation> = self
            .get(
                "listing the organization's identity providers",
                &format!("/organizations/{}/identity-providers", enc(&id)),
            )
            .await?;
        let linked_methods = repr::login_methods(&linked);
        let realm = self.realm.as_str();
        let mut writes = 0;
        let mut missing = Vec::new();
        for m in &wanted {
            if linked_methods.contains(m) {
                continue;
            }
            let alias = crate::engine::build::idp::LoginMethod::parse(m)
                .and_then(|m| super::kind::idp_alias(&m))
                .map(|(a, _)| a);
            match alias {
                Some(alias) if in_realm.contains(m) => {
                    self.http.pacer.wait().await;
                    let r = admin
                        .realm_organizations_with_org_id_identity_providers_post(realm, &id, alias)
                        .await;
                    self.count();
                    write_result(
                        "linking an identity provider to the organization",
                        r.map(drop),
                        false,
                    )?;
                    writes += 1;
                }
                _ => missing.push(m.as_str()),
            }
        }
        for p in &linked {
            let methods = repr::login_methods(std::slice::from_ref(p));
            let Some(alias) = p.alias.as_deref() else {
                continue;
            };
            if methods.iter().all(|m| wanted.contains(&m)) {
                continue;
            }
            self.http.pacer.wait().await;
            let r = admin
                .realm_organizations_with_org_id_identity_providers_with_alias_delete(
                    realm, &id, alias,
                )
                .await;
            self.count();
            write_result(
                "unlinking an identity provider from the organization",
                r.map(drop),
                true,
            )?;
            writes += 1;
        }
        if !missing.is_empty() {
            return Err(TargetError::rejected(format!(
                "the tenant's spec.policy.login.methods need identity providers that realm {} \
                 does not have enabled: {} (an oidc:NAME or saml:NAME method is the provider \
                 with alias NAME; suomifi a SAML provider with alias suomifi) — accord does not \
                 create them: their endpoints, metadata and secrets are the federation's",
                self.realm,
                missing.join(", ")
            )));
        }
        Ok(writes)
    }
}
