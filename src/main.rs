use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    aimctl::cli::run(aimctl::cli::Cli::parse())
}
