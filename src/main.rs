use std::process::ExitCode;

use clap::Parser;

/// mimalloc: planning allocates many small JSON values on several threads; it plans a
/// resync about 20% faster than the system allocator (benches/rules.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    aimctl::cli::run(aimctl::cli::Cli::parse())
}
