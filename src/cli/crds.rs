//! `aimctl crds`: print the CRDs generated from the API types.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    print!("{}", crate::api::crds_yaml());
    ExitCode::SUCCESS
}
