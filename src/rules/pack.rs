//! Loading and compiling a rule pack: every file parsed, every expression compiled,
//! every name resolved — or a list of diagnostics and no pack.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ast::{ExprText, RuleFile, Span};
use super::diagnostic::{Code, Diagnostic, Sources};
use super::expr::{self, CompileError, Evaluated, Expr, Names, Roots, Scope, truthy};
use super::merge::MergeRule;
use super::native;
use super::parse::parse_file;
use super::script::{EvalError, Scripts};
use super::select::{OutcomeRule, ScoreKey, Selection, Stage};
use crate::plan::context;

/// The default pack, embedded at build time.
static BUILTIN: Dir = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// An ordered preference list turned into a lookup table (case-insensitive).
#[derive(Debug)]
pub struct RankTable {
    pub name: String,
    pub entries: Vec<String>,
    lookup: HashMap<String, u32>,
}

impl RankTable {
    pub fn new(name: &str, entries: &[String]) -> Self {
        let mut lookup = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            lookup.entry(e.to_lowercase()).or_insert(i as u32);
        }
        RankTable {
            name: name.into(),
            entries: entries.to_vec(),
            lookup,
        }
    }

    /// Position in the list (0 = best); unknown values score `len + 1000`, so they tie
    /// with each other and lose to every known value.
    pub fn score(&self, value: &str) -> u32 {
        if let Some(&i) = self.lookup.get(value) {
            return i;
        }
        self.lookup
            .get(&value.to_lowercase())
            .copied()
            .unwrap_or(self.entries.len() as u32 + 1000)
    }
}

/// A compiled `output` block.
pub struct OutputRule {
    pub name: String,
    /// `output <name>`, as plans time it.
    pub step: Arc<str>,
    pub span: Span,
    pub parent: String,
    pub when: Option<Expr>,
    /// Values computed once the `when` holds, in order, for `build` and `owned`.
    pub lets: Vec<Expr>,
    pub build: Expr,
    pub owned: Option<Expr>,
}

/// Leaves out the fields of a built object that are `()`, so that a builder can
/// write `timeouts: if c { ... }` for a field that is there only sometimes instead
/// of sending the API server a null.
fn drop_unset_fields(v: &mut Value) {
    match v {
        Value::Object(m) => m.retain(|_, x| {
            drop_unset_fields(x);
            !x.is_null()
        }),
        Value::Array(items) => items.iter_mut().for_each(drop_unset_fields),
        _ => {}
    }
}

/// A compiled `component` of a `status` block.
pub struct ComponentRule {
    pub name: String,
    /// `component <name>`, as plans time it.
    pub step: Arc<str>,
    pub health: Expr,
    pub when: Option<Expr>,
}

/// A compiled rule pack. Immutable; swapped whole on reload.
pub struct RulePack {
    pub sources: Sources,
    /// SHA-256 of every file name and text, for metrics and `--explain`.
    pub digest: String,
    pub ranks: HashMap<String, Arc<RankTable>>,
    pub selections: HashMap<String, Selection>,
    pub merges: Vec<MergeRule>,
    pub outputs: Vec<OutputRule>,
    pub statuses: HashMap<String, Vec<ComponentRule>>,
    pub scripts: Scripts,
    /// Warnings found while compiling (errors prevent the pack from existing).
    pub warnings: Vec<Diagnostic>,
    /// Syntax trees, kept for lint.
    pub(crate) files: Vec<RuleFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read rule pack {path}: {message}")]
    Read { path: String, message: String },
    #[error("rule pack has {} error(s)", .diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        sources: Sources,
        diagnostics: Vec<Diagnostic>,
        /// What did parse, for lint checks that need no compiled pack.
        files: Vec<RuleFile>,
    },
}

impl RulePack {
    /// The pack built into the binary (the repository's `rules/` folder).
    pub fn builtin() -> Result<RulePack, LoadError> {
        let mut files: Vec<(String, String)> = BUILTIN
            .files()
            .filter_map(|f| {
                let name = f.path().to_string_lossy().to_string();
                let text = f.contents_utf8()?.to_string();
                Some((format!("rules/{name}"), text))
            })
            .collect();
        files.sort();
        Self::compile(files)
    }

    /// Reads every `*.rules` and `*.rhai` file of a folder (not recursive).
    pub fn from_dir(dir: &Path) -> Result<RulePack, LoadError> {
        let read_err = |e: std::io::Error| LoadError::Read {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut files = vec![];
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !(ext == "rules" || ext == "rhai") || !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            files.push((path.display().to_string(), text));
        }
        if files.is_empty() {
            return Err(LoadError::Read {
                path: dir.display().to_string(),
                message: "no *.rules or *.rhai files".into(),
            });
        }
        files.sort();
        Self::compile(files)
    }

    /// Loads `dir`, or the built-in pack when none is given.
    pub fn load(dir: Option<&Path>) -> Result<RulePack, LoadError> {
        match dir {
            Some(d) => Self::from_dir(d),
            None => Self::builtin(),
        }
    }

    /// Compiles named source texts into a pack.
    pub fn compile(files: Vec<(String, String)>) -> Result<RulePack, LoadError> {
        let mut hasher = Sha256::new();
        for (name, text) in &files {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let sources = Sources { files };
        let mut diags = vec![];
        let scripts_src: Vec<(usize, &str)> = sources
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.0.ends_with(".rhai"))
            .map(|(i, f)| (i, f.1.as_str()))
            .collect();
        let (scripts, script_diags) = Scripts::compile(&scripts_src);
        diags.extend(script_diags);
        let mut files = vec![];
        for (i, (name, text)) in sources.files.iter().enumerate() {
            if name.ends_with(".rules") {
                match parse_file(i, text) {
                    Ok(f) => files.push(f),
                    Err(d) => diags.push(d),
                }
            }
        }
        let mut c = Compiler {
            sources: &sources,
            scripts: &scripts,
            diags,
        };
        let ranks = c.ranks(&files);
        let selections = c.selections(&files, &ranks);
        let merges = c.merges(&files);
        let outputs = c.outputs(&files);
        let statuses = c.statuses(&files);
        let diags = c.diags;
        if diags.iter().any(Diagnostic::is_error) {
            return Err(LoadError::Invalid {
                sources,
                diagnostics: diags,
                files,
            });
        }
        Ok(RulePack {
            sources,
            digest,
            ranks,
            selections,
            merges,
            outputs,
            statuses,
            scripts,
            warnings: diags,
            files,
        })
    }

    /// Where an output is declared (for diagnostics).
    pub fn output_span(&self, name: &str, parent: &str) -> Option<Span> {
        self.outputs
            .iter()
            .find(|o| o.name == name && o.parent == parent)
            .map(|o| o.span)
    }

    /// Evaluates an output's condition and builder; `None` when its `when` is false.
    pub fn build_output(
        &self,
        out: &OutputRule,
        ctx: &dyn Roots,
    ) -> Result<Option<(Value, bool)>, EvalError> {
        let mut scope = Scope {
            ctx,
            subject: None,
            lets: &[],
        };
        if let Some(w) = &out.when
            && !truthy(&*w.eval(&scope, &self.scripts)?)
        {
            return Ok(None);
        }
        let mut lets = Vec::with_capacity(out.lets.len());
        for l in &out.lets {
            let v = l
                .eval_shared(
                    &Scope {
                        ctx,
                        subject: None,
                        lets: &lets,
                    },
                    &self.scripts,
                )?
                .detach();
            lets.push(v);
        }
        scope.lets = &lets;
        // an output is one owner's object: its builder's arguments name the owner, so
        // its result never serves another call, and kept in the memo it would only
        // push out results that do
        let mut obj = out
            .build
            .eval_unmemoised(&scope, &self.scripts)?
            .into_owned();
        drop_unset_fields(&mut obj);
        let owned = match &out.owned {
            Some(o) => truthy(&*o.eval(&scope, &self.scripts)?),
            None => true,
        };
        Ok(Some((obj, owned)))
    }

    /// Evaluates an expression-valued rule in the plain context, for reading.
    pub fn eval<'a>(&'a self, e: &'a Expr, ctx: &'a dyn Roots) -> Result<Evaluated<'a>, EvalError> {
        e.eval_shared(
            &Scope {
                ctx,
                subject: None,
                lets: &[],
            },
            &self.scripts,
        )
    }
}

struct Compiler<'a> {
    sources: &'a Sources,
    scripts: &'a Scripts,
    diags: Vec<Diagnostic>,
}

impl Compiler<'_> {
    fn expr(
        &mut self,
        e: &ExprText,
        subject: Option<&str>,
        lets: &[String],
        kind: &str,
    ) -> Option<Expr> {
        let roots = context::roots(kind);
        let names = Names {
            subject,
            lets,
            roots,
        };
        match expr::compile(&e.text, &names, self.scripts) {
            Ok(x) => Some(x),
            Err(err) => {
                self.diags.push(compile_diagnostic(e, err, subject, roots));
                None
            }
        }
    }

    /// The kind a block belongs to (default `AIMService`); one without a planner is an error.
    fn kind(&mut self, parent: Option<&super::ast::Name>) -> String {
        let Some(p) = parent else {
            return "AIMService".into();
        };
        if !context::KINDS.contains(&p.name.as_str()) {
            self.diags.push(
                Diagnostic::new(
                    Code::UndefinedName,
                    format!("no planner for kind `{}`", p.name),
                    p.span,
                )
                .with_hint(format!("kinds: {}", context::KINDS.join(", "))),
            );
        }
        p.name.clone()
    }

    fn duplicate(&mut self, what: &str, name: &str, span: Span, first: Span) {
        let (line, _) = self.sources.line_col(first.file, first.start);
        let file = self.sources.name(first.file).to_string();
        self.diags.push(
            Diagnostic::new(
                Code::DuplicateName,
                format!("{what} `{name}` is defined twice"),
                span,
            )
            .with_hint(format!(
                "first defined at {file}:{line}; rename or remove one"
            )),
        );
    }

    fn ranks(&mut self, files: &[RuleFile]) -> HashMap<String, Arc<RankTable>> {
        let mut out: HashMap<String, (Arc<RankTable>, Span)> = HashMap::new();
        for r in files.iter().flat_map(|f| &f.ranks) {
            if let Some((_, first)) = out.get(&r.name.name) {
                let first = *first;
                self.duplicate("rank list", &r.name.name, r.name.span, first);
                continue;
            }
            let mut seen: HashMap<String, Span> = HashMap::new();
            for e in &r.entries {
                if let Some(first) = seen.get(&e.name.to_lowercase()) {
                    let (line, col) = self.sources.line_col(first.file, first.start);
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateRankEntry,
                            format!("`{}` appears twice in rank list `{}`", e.name, r.name.name),
                            e.span,
                        )
                        .with_hint(format!(
                            "first at line {line}, column {col}; a value has one position"
                        )),
                    );
                } else {
                    seen.insert(e.name.to_lowercase(), e.span);
                }
            }
            let entries: Vec<String> = r.entries.iter().map(|e| e.name.clone()).collect();
            out.insert(
                r.name.name.clone(),
                (
                    Arc::new(RankTable::new(&r.name.name, &entries)),
                    r.name.span,
                ),
            );
        }
        out.into_iter().map(|(k, v)| (k, v.0)).collect()
    }

    fn selections(
        &mut self,
        files: &[RuleFile],
        ranks: &HashMap<String, Arc<RankTable>>,
    ) -> HashMap<String, Selection> {
        let mut out: HashMap<String, (Selection, Span)> = HashMap::new();
        for s in files.iter().flat_map(|f| &f.selects) {
            if let Some((_, first)) = out.get(&s.name.name) {
                let first = *first;
                self.duplicate("selection", &s.name.name, s.name.span, first);
                continue;
            }
            let mut lets: Vec<(String, Expr)> = vec![];
            let mut let_names: Vec<String> = vec![];
            for (n, e) in &s.lets {
                if let_names.contains(&n.name) {
                    self.duplicate("value", &n.name, n.span, n.span);
                }
                if let Some(x) = self.expr(e, Some("candidate"), &let_names, "AIMService") {
                    lets.push((n.name.clone(), x));
                }
                let_names.push(n.name.clone());
            }
            let mut stages: Vec<Stage> = vec![];
            let mut stage_spans: HashMap<String, Span> = HashMap::new();
            for f in &s.filters {
                if let Some(first) = stage_spans.get(&f.name.name) {
                    let first = *first;
                    self.duplicate("stage", &f.name.name, f.name.span, first);
                }
                stage_spans.insert(f.name.name.clone(), f.name.span);
                let when = f
                    .when
                    .as_ref()
                    .and_then(|w| self.expr(w, None, &[], "AIMService"));
                let (Some(keep), Some(reason)) = (&f.keep, &f.reason) else {
                    self.diags.push(
                        Diagnostic::new(Code::MissingClause, format!("filter `{}` needs `keep` and `reason` clauses", f.name.name), f.name.span)
                            .with_hint("keep <condition that a surviving candidate meets>\nreason <rejection reason>"),
                    );
                    continue;
                };
                let keep = self.expr(keep, Some("candidate"), &let_names, "AIMService");
                let reason = self.expr(reason, Some("candidate"), &let_names, "AIMService");
                if let (Some(keep), Some(reason)) = (keep, reason) {
                    stages.push(Stage::new(f.name.name.as_str().into(), when, keep, reason));
                }
            }
            let mut prefer = vec![];
            for (n, e) in &s.prefer {
                if let Some(x) = self.expr(e, Some("candidate"), &let_names, "AIMService") {
                    prefer.push((n.name.as_str().into(), x));
                }
            }
            let mut score = vec![];
            for k in &s.score {
                let Some(rank) = ranks.get(&k.rank.name) else {
                    let mut known: Vec<&String> = ranks.keys().collect();
                    known.sort();
                    self.diags.push(
                        Diagnostic::new(
                            Code::UnknownRank,
                            format!("no rank list named `{}`", k.rank.name),
                            k.rank.span,
                        )
                        .with_hint(format!(
                            "rank lists of this pack: {}",
                            known
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    continue;
                };
                if let Some(by) = self.expr(&k.by, Some("candidate"), &let_names, "AIMService") {
                    score.push(ScoreKey {
                        rank: rank.clone(),
                        by,
                    });
                }
            }
            let outcome = |o: &Option<super::ast::Outcome>, c: &mut Self| -> Option<OutcomeRule> {
                let o = o.as_ref()?;
                let (Some(r), Some(m)) = (&o.reason, &o.message) else {
                    c.diags.push(Diagnostic::new(
                        Code::MissingClause,
                        "an `on` outcome needs `reason` and `message`",
                        o.span,
                    ));
                    return None;
                };
                Some(OutcomeRule {
                    reason: c.expr(r, Some("selection"), &[], "AIMService")?,
                    message: c.expr(m, Some("selection"), &[], "AIMService")?,
                })
            };
            let on_tie = outcome(&s.on_tie, self);
            let on_none = outcome(&s.on_none, self);
            let sel = Selection::new(
                s.name.name.clone(),
                lets,
                stages,
                prefer,
                score,
                on_tie,
                on_none,
            );
            out.insert(s.name.name.clone(), (sel, s.name.span));
        }
        out.into_iter().map(|(k, v)| (k, v.0)).collect()
    }

    fn merges(&mut self, files: &[RuleFile]) -> Vec<MergeRule> {
        let mut out: Vec<(MergeRule, Span)> = vec![];
        for m in files.iter().flat_map(|f| &f.merges) {
            if let Some((_, first)) = out.iter().find(|(r, _)| r.name == m.name.name) {
                let first = *first;
                self.duplicate("merge", &m.name.name, m.name.span, first);
                continue;
            }
            let parent = self.kind(m.parent.as_ref());
            let mut layers = vec![];
            for (n, e) in &m.layers {
                if let Some(x) = self.expr(e, None, &[], &parent) {
                    layers.push((n.name.as_str().into(), x));
                }
            }
            let at =
                m.at.iter()
                    .map(|(p, s)| (p.name.clone(), s.clone()))
                    .collect();
            out.push((
                MergeRule {
                    step: format!("merge {}", m.name.name).into(),
                    name: m.name.name.clone(),
                    parent,
                    strategy: m.strategy.clone(),
                    layers,
                    at,
                },
                m.name.span,
            ));
        }
        out.into_iter().map(|(r, _)| r).collect()
    }

    fn outputs(&mut self, files: &[RuleFile]) -> Vec<OutputRule> {
        let mut out: Vec<(OutputRule, Span)> = vec![];
        for o in files.iter().flat_map(|f| &f.outputs) {
            let parent = self.kind(o.parent.as_ref());
            if let Some((_, first)) = out
                .iter()
                .find(|(r, _)| r.name == o.name.name && r.parent == parent)
            {
                let first = *first;
                self.duplicate("output", &o.name.name, o.name.span, first);
                continue;
            }
            let Some(build) = &o.build else {
                self.diags.push(
                    Diagnostic::new(
                        Code::MissingClause,
                        format!("output `{}` has no `build` clause", o.name.name),
                        o.name.span,
                    )
                    .with_hint("build <function of the pack's scripts>(ctx...), or build #{apiVersion: ..., kind: ..., ...}"),
                );
                continue;
            };
            let when = o
                .when
                .as_ref()
                .and_then(|w| self.expr(w, None, &[], &parent));
            let mut let_names: Vec<String> = vec![];
            let mut lets = vec![];
            for (n, e) in &o.lets {
                if let_names.contains(&n.name) {
                    self.diags.push(Diagnostic::new(
                        Code::DuplicateName,
                        format!(
                            "`let {}` is defined twice in output `{}`",
                            n.name, o.name.name
                        ),
                        n.span,
                    ));
                    continue;
                }
                if let Some(x) = self.expr(e, None, &let_names, &parent) {
                    lets.push(x);
                    let_names.push(n.name.clone());
                }
            }
            if lets.len() < o.lets.len() {
                continue;
            }
            let owned = o
                .owned
                .as_ref()
                .and_then(|w| self.expr(w, None, &let_names, &parent));
            if let Some(build) = self.expr(build, None, &let_names, &parent) {
                out.push((
                    OutputRule {
                        step: format!("output {}", o.name.name).into(),
                        name: o.name.name.clone(),
                        span: o.name.span,
                        parent,
                        when,
                        lets,
                        build,
                        owned,
                    },
                    o.name.span,
                ));
            }
        }
        out.into_iter().map(|(r, _)| r).collect()
    }

    fn statuses(&mut self, files: &[RuleFile]) -> HashMap<String, Vec<ComponentRule>> {
        let mut out: HashMap<String, Vec<ComponentRule>> = HashMap::new();
        for s in files.iter().flat_map(|f| &f.statuses) {
            let kind = self.kind(Some(&s.kind));
            let roots = context::roots(&kind);
            let list = out.entry(kind.clone()).or_default();
            for c in &s.components {
                if list.iter().any(|x| x.name == c.name.name) {
                    let span = c.name.span;
                    let name = c.name.name.clone();
                    self.diags.push(Diagnostic::new(
                        Code::DuplicateName,
                        format!("component `{name}` is defined twice"),
                        span,
                    ));
                    continue;
                }
                let names = Names {
                    subject: None,
                    lets: &[],
                    roots,
                };
                let health = match expr::compile(&c.health.text, &names, self.scripts) {
                    Ok(x) => x,
                    Err(e) => {
                        self.diags
                            .push(compile_diagnostic(&c.health, e, None, roots));
                        continue;
                    }
                };
                let when = match c
                    .when
                    .as_ref()
                    .map(|w| (w, expr::compile(&w.text, &names, self.scripts)))
                {
                    None => None,
                    Some((_, Ok(x))) => Some(x),
                    Some((w, Err(e))) => {
                        self.diags.push(compile_diagnostic(w, e, None, roots));
                        continue;
                    }
                };
                list.push(ComponentRule {
                    step: format!("component {}", c.name.name).into(),
                    name: c.name.name.clone(),
                    health,
                    when,
                });
            }
        }
        out
    }
}

fn compile_diagnostic(
    e: &ExprText,
    err: CompileError,
    subject: Option<&str>,
    roots: &[&str],
) -> Diagnostic {
    match err {
        CompileError::UndefinedVariable { name, offset } => {
            let span = Span {
                file: e.span.file,
                start: e.span.start + offset,
                end: e.span.start + offset + name.len(),
            };
            let mut known: Vec<&str> = roots.to_vec();
            if let Some(s) = subject {
                known.insert(0, s);
            }
            Diagnostic::new(
                Code::UndefinedName,
                format!("undefined name `{name}`"),
                span,
            )
            .with_hint(format!("names available here: {}", known.join(", ")))
        }
        CompileError::UndefinedFunction {
            name,
            arity,
            offset,
        } => {
            let span = Span {
                file: e.span.file,
                start: e.span.start + offset,
                end: e.span.start + offset + name.len(),
            };
            let hint = if native::lookup(&name).is_some() {
                format!("`{name}` is a helper but does not take {arity} argument(s)")
            } else {
                format!(
                    "define `fn {name}(…)` with {arity} parameter(s) in a .rhai file, or use a helper: {}",
                    native::names().collect::<Vec<_>>().join(", ")
                )
            };
            Diagnostic::new(
                Code::UndefinedName,
                format!("undefined function `{name}` with {arity} argument(s)"),
                span,
            )
            .with_hint(hint)
        }
        CompileError::Rhai { message, line, col } => {
            let offset = super::script::offset_of(&e.text, line, col);
            let start = e.span.start + offset;
            Diagnostic::new(
                Code::ScriptCompile,
                format!("expression does not compile: {message}"),
                Span {
                    file: e.span.file,
                    start,
                    end: start,
                },
            )
        }
    }
}
