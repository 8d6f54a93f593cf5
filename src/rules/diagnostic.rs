//! Lint and load diagnostics: a stable code, a position, a message and a hint,
//! rendered for humans (codespan), machines (JSON lines) or GitHub workflow annotations.

use std::fmt::Write as _;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use serde::Serialize;

use super::ast::Span;

/// Stable diagnostic codes: `E…` errors keep a pack from loading, `W…` are warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The rule file does not follow the grammar.
    Syntax,
    /// A name (variable, function) is not defined where it is used.
    UndefinedName,
    /// A field path does not exist in the shape of the evaluation context.
    UnknownField,
    /// A Rhai script or expression does not compile.
    ScriptCompile,
    /// Two ranks, selections, merges, outputs, stages or components share a name.
    DuplicateName,
    /// A rank list names the same entry twice.
    DuplicateRankEntry,
    /// A score key refers to a rank list that does not exist.
    UnknownRank,
    /// An output builder, evaluated on the built-in sample context, fails or does not
    /// produce `apiVersion`, `kind` and `metadata.name`.
    BadOutput,
    /// A required clause is missing (a filter without `keep`, an output without `build`).
    MissingClause,
    /// A value the API allows is missing from a rank list, so it always ranks last.
    RankMissingEnumValue,
    /// A stage can never reject (or never keep) anything, or repeats an earlier stage.
    UnreachableStage,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E001",
            Code::UndefinedName => "E002",
            Code::UnknownField => "E003",
            Code::ScriptCompile => "E004",
            Code::DuplicateName => "E005",
            Code::DuplicateRankEntry => "E006",
            Code::UnknownRank => "E007",
            Code::BadOutput => "E008",
            Code::MissingClause => "E009",
            Code::RankMissingEnumValue => "W001",
            Code::UnreachableStage => "W002",
        }
    }

    pub fn is_error(self) -> bool {
        self.as_str().starts_with('E')
    }
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Option<Span>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span: Some(span),
            hint: None,
        }
    }

    pub fn unpositioned(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span: None,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.code.is_error()
    }
}

/// The source texts of a pack, for positions and rendering.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<(String, String)>,
}

impl Sources {
    pub fn name(&self, file: usize) -> &str {
        self.files
            .get(file)
            .map(|f| f.0.as_str())
            .unwrap_or("<pack>")
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, file: usize, offset: usize) -> (usize, usize) {
        let Some((_, text)) = self.files.get(file) else {
            return (1, 1);
        };
        let offset = offset.min(text.len());
        let before = &text[..text.floor_char_boundary(offset)];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    /// `file:line:col` of a diagnostic (or just the pack when it has no position).
    pub fn location(&self, d: &Diagnostic) -> String {
        match d.span {
            Some(s) => {
                let (l, c) = self.line_col(s.file, s.start);
                format!("{}:{l}:{c}", self.name(s.file))
            }
            None => "<pack>".into(),
        }
    }
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    message: &'a str,
    hint: Option<&'a str>,
}

/// Renders diagnostics in one of the `--format`s of `aimctl lint`.
pub fn render(sources: &Sources, diags: &[Diagnostic], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Human => {
            let mut files = SimpleFiles::new();
            for (name, text) in &sources.files {
                files.add(name.clone(), text.clone());
            }
            let config = term::Config::default();
            let mut buf = term::termcolor::Buffer::no_color();
            for d in diags {
                let sev = if d.is_error() {
                    cs::Diagnostic::error()
                } else {
                    cs::Diagnostic::warning()
                };
                let mut cd = sev.with_code(d.code.as_str()).with_message(&d.message);
                if let Some(s) = d.span {
                    let end = if s.end > s.start { s.end } else { s.start };
                    cd = cd.with_labels(vec![cs::Label::primary(s.file, s.start..end)]);
                }
                if let Some(h) = &d.hint {
                    cd = cd.with_notes(vec![format!("help: {h}")]);
                }
                if term::emit_to_write_style(&mut buf, &config, &files, &cd).is_err() {
                    let _ = writeln!(
                        out,
                        "{}: {}: {}",
                        sources.location(d),
                        d.code.as_str(),
                        d.message
                    );
                }
            }
            out.push_str(&String::from_utf8_lossy(buf.as_slice()));
        }
        Format::Json => {
            for d in diags {
                let (file, line, column) = match d.span {
                    Some(s) => {
                        let (l, c) = sources.line_col(s.file, s.start);
                        (Some(sources.name(s.file)), Some(l), Some(c))
                    }
                    None => (None, None, None),
                };
                let j = JsonDiagnostic {
                    code: d.code.as_str(),
                    severity: if d.is_error() { "error" } else { "warning" },
                    file,
                    line,
                    column,
                    message: &d.message,
                    hint: d.hint.as_deref(),
                };
                let _ = writeln!(out, "{}", serde_json::to_string(&j).unwrap_or_default());
            }
        }
        Format::Github => {
            for d in diags {
                let level = if d.is_error() { "error" } else { "warning" };
                let pos = match d.span {
                    Some(s) => {
                        let (l, c) = sources.line_col(s.file, s.start);
                        format!(" file={},line={l},col={c},", sources.name(s.file))
                    }
                    None => " ".into(),
                };
                let mut msg = d.message.clone();
                if let Some(h) = &d.hint {
                    msg.push_str(" (hint: ");
                    msg.push_str(h);
                    msg.push(')');
                }
                let msg = msg
                    .replace('%', "%25")
                    .replace('\r', "%0D")
                    .replace('\n', "%0A");
                let _ = writeln!(out, "::{level}{pos}title={}::{msg}", d.code.as_str());
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}
