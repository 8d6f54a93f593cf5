//! `aimctl lint`: every problem of a pack in one run — load errors (syntax, names,
//! scripts, duplicates), checks on the syntax trees (rank coverage, unreachable
//! stages), field paths against the CRD schemas, and outputs built on sample states.

use std::path::Path;

use serde_json::Value;

use super::ast::{ExprText, RuleFile, Span};
use super::diagnostic::{Code, Diagnostic, Sources};
use super::expr::{self, Names, PathStart};
use super::pack::{LoadError, RulePack};
use crate::plan::context;

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
            files,
        }) => {
            for f in &files {
                tree_checks(f, &mut diagnostics);
            }
            sort(&mut diagnostics);
            Ok(Report {
                sources,
                diagnostics,
            })
        }
        Err(e) => Err(e),
    }
}

/// Checks of a compiled pack.
pub fn lint_pack(pack: &RulePack) -> Report {
    let mut diags = pack.warnings.clone();
    for f in &pack.files {
        tree_checks(f, &mut diags);
        field_checks(pack, f, &mut diags);
    }
    diags.extend(crate::plan::sample::check_outputs(pack));
    sort(&mut diags);
    Report {
        sources: pack.sources.clone(),
        diagnostics: diags,
    }
}

fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.code));
    diags.dedup_by(|a, b| a.code == b.code && a.span == b.span && a.message == b.message);
}

fn tree_checks(f: &RuleFile, diags: &mut Vec<Diagnostic>) {
    rank_coverage(f, diags);
    stages(f, diags);
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
            let name = &filter.name.name;
            if blocked {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableStage,
                        format!("stage `{name}` is unreachable"),
                        filter.name.span,
                    )
                    .with_hint("an earlier stage without `when` rejects every candidate"),
                );
            } else if let Some((first, _)) = seen.iter().find(|(_, k)| *k == keep) {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableStage,
                        format!("stage `{name}` repeats stage `{first}` and can never reject"),
                        filter.name.span,
                    )
                    .with_hint("remove it, or give it a different `keep` condition"),
                );
            } else if literal(&filter.keep) == Some("true") {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableStage,
                        format!("stage `{name}` keeps every candidate"),
                        filter.name.span,
                    )
                    .with_hint("a stage whose `keep` is `true` never rejects; remove it"),
                );
            } else if literal(&filter.keep) == Some("false") && filter.when.is_none() {
                blocked = true;
            }
            if filter.when.is_none() {
                seen.push((name, keep));
            }
        }
    }
}

/// Every expression of a file with the kind, subject and `let` names it sees.
fn expressions(f: &RuleFile) -> Vec<(&ExprText, String, Option<&'static str>, Vec<String>)> {
    let mut out = vec![];
    let kind = |p: &Option<super::ast::Name>| {
        p.as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_else(|| "AIMService".into())
    };
    for s in &f.selects {
        let mut lets = vec![];
        for (n, e) in &s.lets {
            out.push((e, "AIMService".into(), Some("candidate"), lets.clone()));
            lets.push(n.name.clone());
        }
        for flt in &s.filters {
            if let Some(w) = &flt.when {
                out.push((w, "AIMService".into(), None, vec![]));
            }
            for e in [&flt.keep, &flt.reason].into_iter().flatten() {
                out.push((e, "AIMService".into(), Some("candidate"), lets.clone()));
            }
        }
        for (_, e) in &s.prefer {
            out.push((e, "AIMService".into(), Some("candidate"), lets.clone()));
        }
        for k in &s.score {
            out.push((&k.by, "AIMService".into(), Some("candidate"), lets.clone()));
        }
        for o in [&s.on_tie, &s.on_none].into_iter().flatten() {
            for e in [&o.reason, &o.message].into_iter().flatten() {
                out.push((e, "AIMService".into(), Some("selection"), vec![]));
            }
        }
    }
    for m in &f.merges {
        for (_, e) in &m.layers {
            out.push((e, kind(&m.parent), None, vec![]));
        }
    }
    for o in &f.outputs {
        let lets: Vec<String> = o.lets.iter().map(|(n, _)| n.name.clone()).collect();
        out.extend(o.when.iter().map(|e| (e, kind(&o.parent), None, vec![])));
        for (i, (_, e)) in o.lets.iter().enumerate() {
            out.push((e, kind(&o.parent), None, lets[..i].to_vec()));
        }
        for e in [&o.build, &o.owned].into_iter().flatten() {
            out.push((e, kind(&o.parent), None, lets.clone()));
        }
    }
    for st in &f.statuses {
        for c in &st.components {
            for e in std::iter::once(&c.health).chain(c.when.as_ref()) {
                out.push((e, st.kind.name.clone(), None, vec![]));
            }
        }
    }
    out
}

/// E003: field paths into AIM objects must exist in the CRD schema.
fn field_checks(pack: &RulePack, f: &RuleFile, diags: &mut Vec<Diagnostic>) {
    for (e, kind, subject, lets) in expressions(f) {
        let names = Names {
            subject,
            lets: &lets,
            roots: context::roots(&kind),
        };
        let Ok(compiled) = expr::compile(&e.text, &names, &pack.scripts) else {
            continue;
        };
        let mut paths = vec![];
        compiled.paths(&mut paths);
        for (root, fields) in paths {
            let schema_root = match &root {
                PathStart::Subject if subject == Some("candidate") => {
                    context::schema_of(&kind, "candidate")
                }
                PathStart::Root(r) => context::schema_of(&kind, r),
                _ => None,
            };
            let Some(schema) = schema_root else { continue };
            if let Some((i, parent)) = unknown_field(schema, &fields) {
                let field = &fields[i];
                let offset = find_field(&e.text, &fields[..=i]).unwrap_or(0);
                let span = Span {
                    file: e.span.file,
                    start: e.span.start + offset,
                    end: e.span.start + offset + field.len(),
                };
                let known = known_fields(parent);
                diags.push(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!(
                            "unknown field `{field}` in `{}`",
                            display(&root, subject, &fields[..=i])
                        ),
                        span,
                    )
                    .with_hint(if known.is_empty() {
                        "this object has no fields".into()
                    } else {
                        format!("fields here: {}", known.join(", "))
                    }),
                );
            }
        }
    }
}

fn display(root: &PathStart, subject: Option<&str>, fields: &[String]) -> String {
    let r = match root {
        PathStart::Subject => subject.unwrap_or("candidate").to_string(),
        PathStart::Root(n) => n.clone(),
    };
    std::iter::once(r)
        .chain(fields.iter().cloned())
        .collect::<Vec<_>>()
        .join(".")
}

/// The first field of `path` the schema does not have, with the schema it was looked up in.
fn unknown_field<'a>(schema: &'a Value, path: &[String]) -> Option<(usize, &'a Value)> {
    let mut s = schema;
    // CRD schemas leave out the object envelope; metadata is free-form here
    if path
        .first()
        .is_some_and(|f| matches!(f.as_str(), "apiVersion" | "kind" | "metadata"))
    {
        return None;
    }
    for (i, field) in path.iter().enumerate() {
        if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || s.get("additionalProperties").is_some()
        {
            return None;
        }
        let props = s.get("properties")?.as_object()?;
        match props.get(field) {
            Some(next) => s = next,
            None => return Some((i, s)),
        }
    }
    None
}

fn known_fields(schema: &Value) -> Vec<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Byte offset of the last field of `fields` as written (`.a.b` → offset of `b`).
fn find_field(text: &str, fields: &[String]) -> Option<usize> {
    let mut from = 0;
    for f in fields {
        let needle = format!(".{f}");
        from = text[from..].find(&needle).map(|i| from + i + 1)?;
    }
    Some(from)
}
