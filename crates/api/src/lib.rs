//! Kubernetes API machinery without I/O: the resource registry, defaulting, validation,
//! selectors, Table printers and the `Status` errors the API server answers with.

pub mod errors;
pub mod field;
pub mod fields;
pub mod json_order;
pub mod meta;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod resources;
pub mod selector;
pub mod strategy;
pub mod table;
pub mod validation;
pub mod yaml_aliases;
pub mod yaml_depth;

pub use errors::ApiError;
pub use field::{FieldError, FieldPath};
pub use registry::{GroupResource, Registry, ResourceInfo, Scope};
pub use strategy::Strategy;
