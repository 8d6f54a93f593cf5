//! aimctl: an AIM-compatible Kubernetes operator whose every decision lives in a rule pack.
//!
//! The crate is a library so that the binary, the integration tests and the benchmarks
//! share one planner; see `DESIGN.md` in the shared folder for the architecture.

pub mod api;
pub mod cli;
pub mod gpu;
pub mod json_path;
pub mod jsonpath;
pub mod manifest;
pub mod naming;
pub mod operator;
pub mod plan;
pub mod quantity;
pub mod registry;
pub mod rules;
pub mod snapshot;
pub mod status;
pub mod synthetic;
