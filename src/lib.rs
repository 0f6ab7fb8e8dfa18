pub mod api;
pub mod cli;
pub mod engine;
pub mod import;
pub mod manifests;
pub mod par;
pub mod targets;
pub mod validate;
