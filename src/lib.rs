pub mod api;
pub mod validate;
pub mod engine;
