//! One validator for tenants and people. compile checks every manifest and cluster object
//! with it; `accord import` checks every roster row with it before writing a manifest; the
//! inbound producers (SCIM from Entra ID, the leaver endpoint) check what they are sent with
//! it. One set of rules and one set of messages, so that no producer can write a UserGrant
//! that `plan` then refuses.

pub mod grant;
pub mod tenant;

pub use grant::{Checked, Duplicates, Rules, check_grant, check_national_id};
pub use tenant::{Policy, check_tenant, country};
