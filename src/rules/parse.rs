//! Rule files to syntax trees (pest).

use pest::Parser;
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use super::diagnostic::{Code, Diagnostic};

#[derive(Parser)]
#[grammar = "../grammar/rules.pest"]
struct RulesParser;

/// Parses one rule file; a syntax error becomes an `E001` diagnostic at its position.
pub fn parse_file(file: usize, text: &str) -> Result<RuleFile, Diagnostic> {
    let mut pairs = RulesParser::parse(Rule::file, text).map_err(|e| syntax_error(file, e))?;
    let mut out = RuleFile::default();
    let top = pairs.next().expect("the file rule always yields one pair");
    for item in top.into_inner() {
        match item.as_rule() {
            Rule::rank => out.ranks.push(rank(file, item)),
            Rule::select => out.selects.push(select(file, item)),
            Rule::merge => out.merges.push(merge(file, item)),
            Rule::output => out.outputs.push(output(file, item)),
            Rule::status => out.statuses.push(status(file, item)),
            _ => {}
        }
    }
    Ok(out)
}

fn syntax_error(file: usize, e: pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match e.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((s, e)) => (s, e),
    };
    let message = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let expected: Vec<String> = positives.iter().map(describe).collect();
            format!("syntax error: expected {}", expected.join(", "))
        }
        other => format!("syntax error: {}", other.message()),
    };
    Diagnostic::new(Code::Syntax, message, Span { file, start, end }).with_hint(
        "statements are `rank`, `select`, `merge`, `output` and `status`; a clause's expression ends at the end of its line",
    )
}

fn describe(rule: &Rule) -> String {
    match rule {
        Rule::ident => "a name".into(),
        Rule::expr | Rule::expr_item | Rule::expr_head => "an expression".into(),
        Rule::string => "a quoted string".into(),
        Rule::rank_entry => "a rank entry".into(),
        Rule::strategy => "a merge strategy (deep, keyed <field>, union, first)".into(),
        Rule::EOI => "end of file".into(),
        other => format!("`{other:?}`").replace('_', " "),
    }
}

fn span(file: usize, p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span {
        file,
        start: s.start(),
        end: s.end(),
    }
}

fn name(file: usize, p: Pair<Rule>) -> Name {
    let text = p.as_str();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    Name {
        name: text.to_string(),
        span: span(file, &p),
    }
}

fn expr(file: usize, p: Pair<Rule>) -> ExprText {
    let raw = p.as_str();
    let trimmed = raw.trim_end();
    let mut sp = span(file, &p);
    sp.end = sp.start + trimmed.len();
    ExprText {
        text: trimmed.to_string(),
        span: sp,
    }
}

fn rank(file: usize, p: Pair<Rule>) -> Rank {
    let mut inner = p.into_inner();
    let n = name(file, inner.next().expect("rank name"));
    let entries = inner
        .map(|e| name(file, e.into_inner().next().expect("rank entry")))
        .collect();
    Rank { name: n, entries }
}

fn select(file: usize, p: Pair<Rule>) -> Select {
    let mut inner = p.into_inner();
    let mut s = Select {
        name: name(file, inner.next().expect("select name")),
        lets: vec![],
        filters: vec![],
        prefer: vec![],
        score: vec![],
        on_tie: None,
        on_none: None,
    };
    for item in inner {
        match item.as_rule() {
            Rule::let_def => {
                let mut i = item.into_inner();
                let n = name(file, i.next().expect("let name"));
                s.lets.push((n, expr(file, i.next().expect("let expr"))));
            }
            Rule::filter => {
                let mut i = item.into_inner();
                let mut f = Filter {
                    name: name(file, i.next().expect("filter name")),
                    when: None,
                    keep: None,
                    reason: None,
                };
                for clause in i {
                    let rule = clause.as_rule();
                    let e = expr(file, clause.into_inner().next().expect("clause expr"));
                    match rule {
                        Rule::filter_when => f.when = Some(e),
                        Rule::filter_keep => f.keep = Some(e),
                        _ => f.reason = Some(e),
                    }
                }
                s.filters.push(f);
            }
            Rule::prefer => {
                let mut i = item.into_inner();
                let n = name(file, i.next().expect("prefer name"));
                s.prefer
                    .push((n, expr(file, i.next().expect("prefer expr"))));
            }
            Rule::score => {
                for key in item.into_inner() {
                    let mut i = key.into_inner();
                    let rank = name(file, i.next().expect("score rank"));
                    s.score.push(ScoreKey {
                        rank,
                        by: expr(file, i.next().expect("score expr")),
                    });
                }
            }
            Rule::on_tie | Rule::on_none => {
                let rule = item.as_rule();
                let mut outcome = Outcome {
                    span: span(file, &item),
                    reason: None,
                    message: None,
                };
                for clause in item.into_inner() {
                    let is_reason = clause.as_rule() == Rule::outcome_reason;
                    let e = expr(file, clause.into_inner().next().expect("outcome expr"));
                    if is_reason {
                        outcome.reason = Some(e);
                    } else {
                        outcome.message = Some(e);
                    }
                }
                if rule == Rule::on_tie {
                    s.on_tie = Some(outcome);
                } else {
                    s.on_none = Some(outcome);
                }
            }
            _ => {}
        }
    }
    s
}

fn strategy(p: Pair<Rule>) -> Strategy {
    let inner = p.into_inner().next().expect("strategy kind");
    match inner.as_rule() {
        Rule::deep => Strategy::Deep {
            skip_zero: inner.into_inner().next().is_some(),
        },
        Rule::keyed => {
            let mut i = inner.into_inner();
            let key = i.next().expect("keyed field").as_str().to_string();
            let json = i.next().map(|s| s.as_str().trim_matches('"').to_string());
            Strategy::Keyed { key, json }
        }
        Rule::union => Strategy::Union,
        _ => Strategy::First,
    }
}

fn merge(file: usize, p: Pair<Rule>) -> Merge {
    let mut inner = p.into_inner();
    let n = name(file, inner.next().expect("merge name"));
    let mut next = inner.next().expect("merge strategy");
    let parent = if next.as_rule() == Rule::ident {
        let p = name(file, next);
        next = inner.next().expect("merge strategy");
        Some(p)
    } else {
        None
    };
    let st = strategy(next);
    let mut m = Merge {
        name: n,
        parent,
        strategy: st,
        layers: vec![],
        at: vec![],
    };
    for item in inner {
        let rule = item.as_rule();
        let mut i = item.into_inner();
        let n = name(file, i.next().expect("layer or path"));
        if rule == Rule::at_path {
            m.at.push((n, strategy(i.next().expect("at strategy"))));
        } else {
            m.layers
                .push((n, expr(file, i.next().expect("layer expr"))));
        }
    }
    m
}

fn output(file: usize, p: Pair<Rule>) -> Output {
    let mut inner = p.into_inner();
    let mut o = Output {
        name: name(file, inner.next().expect("output name")),
        parent: None,
        lets: vec![],
        when: None,
        build: None,
        owned: None,
    };
    for clause in inner {
        if clause.as_rule() == Rule::ident {
            o.parent = Some(name(file, clause));
            continue;
        }
        if clause.as_rule() == Rule::let_def {
            let mut i = clause.into_inner();
            let n = name(file, i.next().expect("let name"));
            o.lets.push((n, expr(file, i.next().expect("let expr"))));
            continue;
        }
        let rule = clause.as_rule();
        let e = expr(file, clause.into_inner().next().expect("clause"));
        match rule {
            Rule::output_when => o.when = Some(e),
            Rule::output_build => o.build = Some(e),
            _ => o.owned = Some(e),
        }
    }
    o
}

fn status(file: usize, p: Pair<Rule>) -> StatusMap {
    let mut inner = p.into_inner();
    let kind = name(file, inner.next().expect("status kind"));
    let components = inner
        .map(|c| {
            let mut i = c.into_inner();
            let n = name(file, i.next().expect("component name"));
            let health = expr(file, i.next().expect("component health"));
            let when = i.next().map(|w| expr(file, w));
            Component {
                name: n,
                health,
                when,
            }
        })
        .collect();
    StatusMap { kind, components }
}
