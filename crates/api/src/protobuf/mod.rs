//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): the `k8s\0` envelope around a
//! `runtime.Unknown`, a decoder that turns the inner message into the same JSON object a JSON
//! body would have been, and the message tables (generated from the upstream `.proto`
//! definitions) that also give each kind's JSON field order.

mod decode;
#[rustfmt::skip]
pub(crate) mod messages;
pub mod schema;

pub use decode::{ProtobufError, decode_envelope};
pub use schema::{Field, Kind, MapValue, Message, kind_message, message};
