//! `aimctl lint`: render a pack's diagnostics; exit 0 clean, 1 errors (or warnings
//! with `--deny-warnings`), 2 unreadable.

use std::path::Path;
use std::process::ExitCode;

use crate::rules::diagnostic::{Format, render};
use crate::rules::lint::lint;

pub fn run(rules: Option<&Path>, format: Format, deny_warnings: bool) -> ExitCode {
    let report = match lint(rules) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", render(&report.sources, &report.diagnostics, format));
    if format == Format::Human {
        eprintln!(
            "{} error(s), {} warning(s)",
            report.errors(),
            report.warnings()
        );
    }
    if report.errors() > 0 || (deny_warnings && report.warnings() > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
