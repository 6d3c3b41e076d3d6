//! A pod on this node: its worker (the async shell), the pure plan of its next step and its
//! status, its probes, and the environment its containers are given.

pub mod env;
pub mod plan;
pub mod probe;
pub mod prober;
pub mod status;
pub mod volumes;
pub mod worker;
