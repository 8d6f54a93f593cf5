//! The built-in sample state lint plans to check a pack's outputs (E008): every
//! output must build an object with `apiVersion`, `kind` and `metadata.name`.

use crate::rules::RulePack;
use crate::rules::diagnostic::Diagnostic;

pub fn check_outputs(_pack: &RulePack) -> Vec<Diagnostic> {
    vec![]
}
