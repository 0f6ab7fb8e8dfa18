pub mod api;
pub mod validate;
pub mod engine;
pub mod manifests;
pub mod cli;
pub mod targets;
