//! Local fake services for tests and the demo. They listen on loopback only and speak the
//! real wire formats (see `../shared/reference/graph-teams-and-llm-protocols.md`).

pub mod gateway;
pub mod graph;
pub mod http;
pub mod kubernetes;
pub mod model;
pub mod webhook;

pub use http::{Reply, Request, Server};
