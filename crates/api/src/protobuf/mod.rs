//! Request bodies in `application/vnd.kubernetes.protobuf`: the `k8s\0` envelope around a
//! `runtime.Unknown`, and a table-driven decoder that turns the inner message into the same
//! JSON object a JSON body would have been.

mod decode;
pub mod schema;

pub use decode::{ProtobufError, decode_envelope};
