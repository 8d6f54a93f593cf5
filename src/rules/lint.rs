//! `aimctl lint`: every problem of a pack in one run — load errors (syntax, names,
//! scripts, duplicates) plus checks that need the compiled pack.

use std::path::Path;

use super::ast::{ExprText, RuleFile};
use super::diagnostic::{Code, Diagnostic, Sources};
use super::pack::{LoadError, RulePack};

/// Values the API allows for ranked attributes; a rank list should place each one.
const RANKED_ENUMS: &[(&str, &[&str])] = &[
    (
        "precision",
        &["fp4", "int4", "fp8", "int8", "fp16", "bf16", "fp32"],
    ),
    ("metric", &["latency", "throughput"]),
    ("profile_type", &["optimized", "preview", "unoptimized"]),
];

/// The outcome of linting: the sources (for rendering) and all diagnostics.
pub struct Report {
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Lints the pack in `dir` (or the built-in pack). `Err` only when it cannot be read.
pub fn lint(dir: Option<&Path>) -> Result<Report, LoadError> {
    match RulePack::load(dir) {
        Ok(pack) => Ok(lint_pack(&pack)),
        Err(LoadError::Invalid {
            sources,
            mut diagnostics,
        }) => {
            sort(&mut diagnostics);
            Ok(Report {
                sources,
                diagnostics,
            })
        }
        Err(e) => Err(e),
    }
}

/// Checks that need a compiled pack.
pub fn lint_pack(pack: &RulePack) -> Report {
    let mut diags = pack.warnings.clone();
    for f in &pack.files {
        rank_coverage(f, &mut diags);
        stages(f, &mut diags);
    }
    diags.extend(crate::plan::sample::check_outputs(pack));
    sort(&mut diags);
    Report {
        sources: pack.sources.clone(),
        diagnostics: diags,
    }
}

fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.code));
}

fn rank_coverage(f: &RuleFile, diags: &mut Vec<Diagnostic>) {
    for r in &f.ranks {
        let Some((_, values)) = RANKED_ENUMS.iter().find(|(n, _)| *n == r.name.name) else {
            continue;
        };
        let missing: Vec<&str> = values
            .iter()
            .copied()
            .filter(|v| !r.entries.iter().any(|e| e.name.eq_ignore_ascii_case(v)))
            .collect();
        if !missing.is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::RankMissingEnumValue,
                    format!("rank list `{}` does not place {}", r.name.name, missing.join(", ")),
                    r.name.span,
                )
                .with_hint("the API allows these values; unlisted values always rank last and tie with each other"),
            );
        }
    }
}

fn literal(e: &Option<ExprText>) -> Option<&str> {
    e.as_ref()
        .map(|x| x.text.trim())
        .filter(|t| *t == "true" || *t == "false")
}

fn stages(f: &RuleFile, diags: &mut Vec<Diagnostic>) {
    for s in &f.selects {
        let mut seen: Vec<(&str, &str)> = vec![];
        let mut blocked = false;
        for filter in &s.filters {
            let keep = filter.keep.as_ref().map(|k| k.text.trim()).unwrap_or("");
            if blocked {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableStage,
                        format!("stage `{}` is unreachable", filter.name.name),
                        filter.name.span,
                    )
                    .with_hint("an earlier stage without `when` rejects every candidate"),
                );
            } else if let Some((first, _)) = seen.iter().find(|(_, k)| *k == keep) {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableStage,
                        format!(
                            "stage `{}` repeats stage `{first}` and can never reject",
                            filter.name.name
                        ),
                        filter.name.span,
                    )
                    .with_hint("remove it, or give it a different `keep` condition"),
                );
            } else if literal(&filter.keep) == Some("true") {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableStage,
                        format!("stage `{}` keeps every candidate", filter.name.name),
                        filter.name.span,
                    )
                    .with_hint("a stage whose `keep` is `true` never rejects; remove it"),
                );
            } else if literal(&filter.keep) == Some("false") && filter.when.is_none() {
                blocked = true;
            }
            if filter.when.is_none() {
                seen.push((&filter.name.name, keep));
            }
        }
    }
}
