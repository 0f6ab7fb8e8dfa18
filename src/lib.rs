pub mod api;
pub mod validate;
