//! The inbound SCIM 2.0 server (RFC 7643/7644) for an Integration of kind `scimServer`:
//! Entra ID (or any SCIM client) pushes Users and Groups, and they become UserGrants of the
//! Integration's tenant, labelled and owned by it, checked by the engine's validator.
//!
//! Pure parts, tested directly: `filter` (filters and PATCH paths), `patch` (PATCH in Entra's
//! dialect too), `schema` (what is kept, and the discovery documents), `mapping` (a User and
//! its Groups → a UserGrant spec). `service` carries out each operation over a `store::Backend`
//! (the operator implements it against the Kubernetes API); `access` checks tokens and rate
//! limits; `http` is the thin axum part.

pub mod access;
pub mod error;
pub mod filter;
pub mod http;
pub mod mapping;
pub mod patch;
pub mod schema;
pub mod service;
pub mod store;

pub use error::ScimError;
