//! Producers of UserGrants other than manifests in Git: rosters (`import`) today; the
//! inbound SCIM server for Entra ID and the leaver endpoint for HR systems next. Every
//! producer checks what it writes with the engine's one validator, so that what it produces
//! is what `plan` accepts.

pub mod import;
pub mod leaver;
pub mod scim;
