//! The syntax tree of a rule file, with source spans for diagnostics.

/// A byte range in one source file of the pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

/// An expression as written (compiled later, natively or by Rhai).
#[derive(Debug, Clone)]
pub struct ExprText {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Name {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Rank {
    pub name: Name,
    pub entries: Vec<Name>,
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub name: Name,
    pub when: Option<ExprText>,
    pub keep: Option<ExprText>,
    pub reason: Option<ExprText>,
}

#[derive(Debug, Clone)]
pub struct ScoreKey {
    pub rank: Name,
    pub by: ExprText,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub span: Span,
    pub reason: Option<ExprText>,
    pub message: Option<ExprText>,
}

#[derive(Debug, Clone)]
pub struct Select {
    pub name: Name,
    pub lets: Vec<(Name, ExprText)>,
    pub filters: Vec<Filter>,
    pub prefer: Vec<(Name, ExprText)>,
    pub score: Vec<ScoreKey>,
    pub on_tie: Option<Outcome>,
    pub on_none: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Maps merge recursively; a higher layer's value wins (with `skip_zero`, only when
    /// it is not `false`, `0`, `""` or an empty list).
    Deep { skip_zero: bool },
    /// Lists of objects merge by a key field; `json` names entries whose `value` is a
    /// JSON document deep-merged instead of replaced (AIM_ENGINE_ARGS).
    Keyed { key: String, json: Option<String> },
    /// Lists: every distinct item of every layer, highest layer first.
    Union,
    /// The value of the highest layer that defines one.
    First,
}

#[derive(Debug, Clone)]
pub struct Merge {
    pub name: Name,
    /// The reconciled kind whose planner runs this merge (default `AIMService`).
    pub parent: Option<Name>,
    pub strategy: Strategy,
    pub layers: Vec<(Name, ExprText)>,
    pub at: Vec<(Name, Strategy)>,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub name: Name,
    /// The reconciled kind this output belongs to (default `AIMService`).
    pub parent: Option<Name>,
    pub lets: Vec<(Name, ExprText)>,
    pub when: Option<ExprText>,
    pub build: Option<ExprText>,
    pub owned: Option<ExprText>,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub name: Name,
    pub health: ExprText,
    pub when: Option<ExprText>,
}

#[derive(Debug, Clone)]
pub struct StatusMap {
    pub kind: Name,
    pub components: Vec<Component>,
}

/// Everything declared in one rule file.
#[derive(Debug, Clone, Default)]
pub struct RuleFile {
    pub ranks: Vec<Rank>,
    pub selects: Vec<Select>,
    pub merges: Vec<Merge>,
    pub outputs: Vec<Output>,
    pub statuses: Vec<StatusMap>,
}
