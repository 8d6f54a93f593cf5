//! Rule-file expressions: Rhai syntax, compiled once. The common shapes (paths,
//! literals, comparisons, `in`, `&&`/`||`/`!`, `+`, calls) become a native tree
//! evaluated over JSON without conversion; anything else is compiled by Rhai.

use std::borrow::Cow;
use std::sync::Arc;

use pest::Parser;
use pest::iterators::Pair;
use pest_derive::Parser;
use serde_json::Value;

use crate::json_path::field;

use super::native::{self, NativeFn};
use super::script::{EvalError, Scripts};

#[derive(Parser)]
#[grammar = "../grammar/expr.pest"]
struct ExprParser;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

/// A compiled expression.
#[derive(Clone)]
pub enum Expr {
    Lit(Value),
    /// The per-evaluation subject (`candidate` in a selection).
    Subject,
    /// A top-level field of the evaluation context (`service`, `cluster`, ...), with
    /// its slot: its position in the names the expression was compiled with.
    Root(usize, String),
    /// A `let` value of the current subject.
    Let(usize),
    Field(Box<Expr>, String),
    Index(Box<Expr>, Value),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Add(Vec<Expr>),
    Array(Vec<Expr>),
    /// An object map literal, `#{key: value}`.
    Map(Vec<(String, Expr)>),
    /// `if c { a } else { b }`; without `else`, () when `c` is not true.
    If(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    /// `a ?? b ?? c`: the first that is not ().
    Coalesce(Vec<Expr>),
    Native(&'static str, NativeFn, Vec<Expr>),
    /// A call of a function defined in the pack's `*.rhai` files.
    Script(String, Vec<Expr>),
    /// A full Rhai expression (outside the native subset).
    Rhai(Arc<rhai::AST>, Vec<Binding>),
}

/// A variable a Rhai-compiled expression sees.
#[derive(Debug, Clone)]
pub enum Binding {
    Root(String),
    Let(usize, String),
    Subject(String),
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Rhai(..) => f.write_str("Rhai(..)"),
            Expr::Native(n, _, a) => write!(f, "Native({n}, {a:?})"),
            Expr::Lit(v) => write!(f, "Lit({v})"),
            Expr::Subject => f.write_str("Subject"),
            Expr::Root(_, r) => write!(f, "Root({r})"),
            Expr::Let(i) => write!(f, "Let({i})"),
            Expr::Field(e, n) => write!(f, "{e:?}.{n}"),
            Expr::Index(e, i) => write!(f, "{e:?}[{i}]"),
            Expr::Not(e) => write!(f, "!{e:?}"),
            Expr::And(v) => write!(f, "And{v:?}"),
            Expr::Or(v) => write!(f, "Or{v:?}"),
            Expr::Cmp(o, a, b) => write!(f, "Cmp({o:?}, {a:?}, {b:?})"),
            Expr::Add(v) => write!(f, "Add{v:?}"),
            Expr::Array(v) => write!(f, "Array{v:?}"),
            Expr::Map(v) => write!(f, "Map{v:?}"),
            Expr::If(c, a, b) => write!(f, "If({c:?}, {a:?}, {b:?})"),
            Expr::Coalesce(v) => write!(f, "Coalesce{v:?}"),
            Expr::Script(n, a) => write!(f, "Script({n}, {a:?})"),
        }
    }
}

/// What names mean where an expression is compiled.
pub struct Names<'a> {
    /// The name of the per-evaluation subject, if any (`candidate`).
    pub subject: Option<&'a str>,
    /// `let` names visible here, in slot order.
    pub lets: &'a [String],
    /// Top-level context fields that may be referenced.
    pub roots: &'a [&'a str],
}

/// A name that does not resolve, with its byte offset in the expression.
#[derive(Debug, Clone, PartialEq)]
pub enum CompileError {
    UndefinedVariable {
        name: String,
        offset: usize,
    },
    UndefinedFunction {
        name: String,
        arity: usize,
        offset: usize,
    },
    Rhai {
        message: String,
        line: usize,
        col: usize,
    },
}

/// Where rule expressions find the context's top-level names: a JSON object, or a
/// plan's context that borrows the snapshot objects it names instead of copying them.
pub trait Roots {
    fn root(&self, name: &str) -> Option<&Value>;

    /// The root `name`, which is at `slot` of the names its expression was compiled
    /// with: a context that keeps its roots in that order answers without a lookup.
    fn root_at(&self, _slot: usize, name: &str) -> Option<&Value> {
        self.root(name)
    }
}

impl Roots for Value {
    fn root(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// Where an expression's values come from during one evaluation.
pub struct Scope<'a> {
    pub ctx: &'a dyn Roots,
    pub subject: Option<&'a Value>,
    pub lets: &'a [Let],
}

/// A `let`'s value: a pack call's result stays shared with the memo (an output's
/// InferenceService shape is read, never changed).
pub type Let = Evaluated<'static>;

/// Compiles an expression: natively when it is in the subset, else with Rhai.
pub fn compile(text: &str, names: &Names, scripts: &Scripts) -> Result<Expr, CompileError> {
    match ExprParser::parse(Rule::expression, text) {
        Ok(mut pairs) => {
            let top = pairs
                .next()
                .expect("expression")
                .into_inner()
                .next()
                .expect("or_expr");
            build(top, names, scripts)
        }
        Err(_) => {
            let ast = scripts
                .compile_expression(text)
                .map_err(|(message, line, col)| CompileError::Rhai { message, line, col })?;
            // later bindings shadow earlier ones: lets and the subject win over roots
            let mut vars: Vec<Binding> = names
                .roots
                .iter()
                .map(|s| Binding::Root(s.to_string()))
                .collect();
            vars.extend(
                names
                    .lets
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Binding::Let(i, n.clone())),
            );
            if let Some(s) = names.subject {
                vars.push(Binding::Subject(s.to_string()));
            }
            Ok(Expr::Rhai(Arc::new(ast), vars))
        }
    }
}

fn build(p: Pair<Rule>, names: &Names, scripts: &Scripts) -> Result<Expr, CompileError> {
    let offset = p.as_span().start();
    Ok(match p.as_rule() {
        Rule::or_expr | Rule::and_expr | Rule::add_expr | Rule::coalesce => {
            let rule = p.as_rule();
            let mut items = p
                .into_inner()
                .map(|c| build(c, names, scripts))
                .collect::<Result<Vec<_>, _>>()?;
            if items.len() == 1 {
                items.pop().expect("one item")
            } else if rule == Rule::or_expr {
                Expr::Or(items)
            } else if rule == Rule::and_expr {
                Expr::And(items)
            } else if rule == Rule::coalesce {
                Expr::Coalesce(items)
            } else {
                Expr::Add(items)
            }
        }
        Rule::cmp_expr => {
            let mut inner = p.into_inner();
            let lhs = build(inner.next().expect("lhs"), names, scripts)?;
            match inner.next() {
                None => lhs,
                Some(op) => {
                    let op = match op.as_str() {
                        "==" => CmpOp::Eq,
                        "!=" => CmpOp::Ne,
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        ">=" => CmpOp::Ge,
                        _ => CmpOp::In,
                    };
                    let rhs = build(inner.next().expect("rhs"), names, scripts)?;
                    Expr::Cmp(op, Box::new(lhs), Box::new(rhs))
                }
            }
        }
        Rule::unary => {
            let mut nots = 0;
            let mut value = None;
            for c in p.into_inner() {
                if c.as_rule() == Rule::not {
                    nots += 1;
                } else {
                    value = Some(build(c, names, scripts)?);
                }
            }
            let mut e = value.expect("unary operand");
            for _ in 0..nots {
                e = Expr::Not(Box::new(e));
            }
            e
        }
        Rule::postfix => {
            let mut inner = p.into_inner();
            let mut e = build(inner.next().expect("primary"), names, scripts)?;
            for op in inner {
                match op.as_rule() {
                    Rule::field => {
                        let name = op.into_inner().next().expect("field name").as_str();
                        e = Expr::Field(Box::new(e), name.to_string());
                    }
                    _ => {
                        let key = op.into_inner().next().expect("index");
                        let v = literal(key);
                        e = Expr::Index(Box::new(e), v);
                    }
                }
            }
            e
        }
        Rule::ident => {
            let name = p.as_str();
            if let Some(i) = names.lets.iter().position(|l| l == name) {
                Expr::Let(i)
            } else if names.subject == Some(name) {
                Expr::Subject
            } else if let Some(slot) = names.roots.iter().position(|r| *r == name) {
                Expr::Root(slot, name.to_string())
            } else {
                return Err(CompileError::UndefinedVariable {
                    name: name.into(),
                    offset,
                });
            }
        }
        Rule::call => {
            let mut inner = p.into_inner();
            let name = inner.next().expect("fn name").as_str().to_string();
            let args = inner
                .map(|c| build(c, names, scripts))
                .collect::<Result<Vec<_>, _>>()?;
            if scripts.has_function(&name, args.len()) {
                Expr::Script(name, args)
            } else if let Some((n, f)) =
                native::lookup(&name).filter(|_| native::accepts(&name, args.len()))
            {
                Expr::Native(n, f, args)
            } else {
                return Err(CompileError::UndefinedFunction {
                    name,
                    arity: args.len(),
                    offset,
                });
            }
        }
        Rule::array => {
            let items = p
                .into_inner()
                .map(|c| build(c, names, scripts))
                .collect::<Result<Vec<_>, _>>()?;
            // a list of literals is a literal: built once, not per evaluation
            if items.iter().all(|i| matches!(i, Expr::Lit(_))) {
                Expr::Lit(Value::Array(
                    items
                        .into_iter()
                        .map(|i| if let Expr::Lit(v) = i { v } else { Value::Null })
                        .collect(),
                ))
            } else {
                Expr::Array(items)
            }
        }
        Rule::map => {
            let entries = p
                .into_inner()
                .map(|entry| {
                    let mut inner = entry.into_inner();
                    let key = inner.next().expect("key");
                    let key = match key.as_rule() {
                        Rule::string => literal(key).as_str().unwrap_or_default().to_string(),
                        _ => key.as_str().to_string(),
                    };
                    Ok((key, build(inner.next().expect("value"), names, scripts)?))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // a map of literals is a literal, like a list of literals
            if entries.iter().all(|(_, e)| matches!(e, Expr::Lit(_))) {
                Expr::Lit(Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, e)| (k, if let Expr::Lit(v) = e { v } else { Value::Null }))
                        .collect(),
                ))
            } else {
                Expr::Map(entries)
            }
        }
        Rule::if_expr => {
            let mut inner = p
                .into_inner()
                .filter(|c| !matches!(c.as_rule(), Rule::kw_if | Rule::kw_else));
            let cond = build(inner.next().expect("condition"), names, scripts)?;
            let then = build(inner.next().expect("then"), names, scripts)?;
            let otherwise = inner
                .next()
                .map(|e| build(e, names, scripts).map(Box::new))
                .transpose()?;
            Expr::If(Box::new(cond), Box::new(then), otherwise)
        }
        _ => Expr::Lit(literal(p)),
    })
}

fn literal(p: Pair<Rule>) -> Value {
    let s = p.as_str();
    match p.as_rule() {
        Rule::string => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s[1..s.len() - 1].into()))
        }
        Rule::int => s.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
        Rule::float => s.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Rule::boolean => Value::Bool(s == "true"),
        _ => Value::Null,
    }
}

const NULL: Value = Value::Null;

impl Expr {
    /// [`Expr::eval`], but a pack-function call at the top is not memoised (its own
    /// arguments are): an output builder's result is particular to its owner.
    pub fn eval_unmemoised<'a>(
        &'a self,
        scope: &Scope<'a>,
        scripts: &Scripts,
    ) -> Result<Cow<'a, Value>, EvalError> {
        match self {
            Expr::Script(name, args) => Ok(Cow::Owned(
                call(name, args, scope, scripts, false)?.into_owned(),
            )),
            other => other.eval(scope, scripts),
        }
    }

    /// [`Expr::eval`] for a caller that only reads the value: a pack function's
    /// result is shared with the memo, not copied out of it.
    pub fn eval_shared<'a>(
        &'a self,
        scope: &Scope<'a>,
        scripts: &Scripts,
    ) -> Result<Evaluated<'a>, EvalError> {
        match self {
            Expr::Script(name, args) => call(name, args, scope, scripts, true),
            Expr::Let(i) => Ok(match scope.lets.get(*i) {
                Some(Evaluated::Shared(r)) => Evaluated::Shared(Arc::clone(r)),
                l => Evaluated::Value(Cow::Borrowed(l.map_or(&NULL, |l| &**l))),
            }),
            other => other.eval(scope, scripts).map(Evaluated::Value),
        }
    }

    /// Evaluates to a JSON value. Missing fields are `()` (null); only script
    /// failures are errors.
    pub fn eval<'a>(
        &'a self,
        scope: &Scope<'a>,
        scripts: &Scripts,
    ) -> Result<Cow<'a, Value>, EvalError> {
        Ok(match self {
            Expr::Lit(v) => Cow::Borrowed(v),
            Expr::Subject => Cow::Borrowed(scope.subject.unwrap_or(&NULL)),
            Expr::Root(slot, name) => {
                Cow::Borrowed(scope.ctx.root_at(*slot, name).unwrap_or(&NULL))
            }
            Expr::Let(i) => Cow::Borrowed(scope.lets.get(*i).map_or(&NULL, |l| &**l)),
            Expr::Field(e, name) => match e.eval(scope, scripts)? {
                Cow::Borrowed(Value::Object(m)) => Cow::Borrowed(field(m, name).unwrap_or(&NULL)),
                Cow::Borrowed(_) => Cow::Borrowed(&NULL),
                Cow::Owned(mut v) => {
                    Cow::Owned(v.get_mut(name).map(Value::take).unwrap_or(Value::Null))
                }
            },
            Expr::Index(e, key) => {
                let base = e.eval(scope, scripts)?;
                let pick = |v: &Value| -> Option<Value> {
                    match (v, key) {
                        (Value::Object(m), Value::String(k)) => m.get(k).cloned(),
                        (Value::Array(a), Value::Number(n)) => {
                            let i = n.as_i64()?;
                            let i = if i < 0 { a.len() as i64 + i } else { i };
                            a.get(usize::try_from(i).ok()?).cloned()
                        }
                        _ => None,
                    }
                };
                match base {
                    Cow::Borrowed(v) => match (v, key) {
                        (Value::Object(m), Value::String(k)) => {
                            Cow::Borrowed(field(m, k).unwrap_or(&NULL))
                        }
                        _ => Cow::Owned(pick(v).unwrap_or(Value::Null)),
                    },
                    Cow::Owned(v) => Cow::Owned(pick(&v).unwrap_or(Value::Null)),
                }
            }
            Expr::Not(e) => Cow::Owned(Value::Bool(!truthy(&*e.eval(scope, scripts)?))),
            Expr::And(items) => {
                for i in items {
                    if !truthy(&*i.eval(scope, scripts)?) {
                        return Ok(Cow::Owned(Value::Bool(false)));
                    }
                }
                Cow::Owned(Value::Bool(true))
            }
            Expr::Or(items) => {
                for i in items {
                    if truthy(&*i.eval(scope, scripts)?) {
                        return Ok(Cow::Owned(Value::Bool(true)));
                    }
                }
                Cow::Owned(Value::Bool(false))
            }
            Expr::Cmp(op, a, b) => {
                let a = a.eval(scope, scripts)?;
                let b = b.eval(scope, scripts)?;
                Cow::Owned(Value::Bool(compare(*op, &a, &b)))
            }
            Expr::Add(items) => {
                let mut acc = items[0].eval(scope, scripts)?.into_owned();
                for i in &items[1..] {
                    acc = add(acc, &*i.eval(scope, scripts)?);
                }
                Cow::Owned(acc)
            }
            Expr::Array(items) => Cow::Owned(Value::Array(
                items
                    .iter()
                    .map(|i| i.eval(scope, scripts).map(Cow::into_owned))
                    .collect::<Result<_, _>>()?,
            )),
            Expr::Map(entries) => {
                // inserting costs fewer instructions than collecting (a vector, sorted,
                // then built into the map) for maps of a literal's size
                let mut m = serde_json::Map::new();
                for (k, e) in entries {
                    m.insert(k.clone(), e.eval(scope, scripts)?.into_owned());
                }
                Cow::Owned(Value::Object(m))
            }
            Expr::If(cond, then, otherwise) => {
                if truthy(&*cond.eval(scope, scripts)?) {
                    then.eval(scope, scripts)?
                } else if let Some(e) = otherwise {
                    e.eval(scope, scripts)?
                } else {
                    Cow::Borrowed(&NULL)
                }
            }
            Expr::Coalesce(items) => {
                let (last, init) = items.split_last().expect("two operands");
                for i in init {
                    let v = i.eval(scope, scripts)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                last.eval(scope, scripts)?
            }
            Expr::Native(_, NativeFn::Coalesce(last), args) => {
                for (i, a) in args.iter().enumerate() {
                    let v = a.eval(scope, scripts)?;
                    if native::is_set(&v) || (*last && i + 1 == args.len()) {
                        return Ok(v);
                    }
                }
                Cow::Owned(Value::Null)
            }
            Expr::Native(_, f, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(scope, scripts))
                    .collect::<Result<smallvec::SmallVec<[_; 4]>, _>>()?;
                f.apply(vals)
            }
            Expr::Script(name, args) => {
                Cow::Owned(call(name, args, scope, scripts, true)?.into_owned())
            }
            Expr::Rhai(ast, vars) => {
                let bindings = vars
                    .iter()
                    .map(|b| match b {
                        Binding::Root(n) => {
                            (n.clone(), scope.ctx.root(n).cloned().unwrap_or(Value::Null))
                        }
                        Binding::Let(i, n) => (
                            n.clone(),
                            scope.lets.get(*i).map_or(Value::Null, |l| (**l).clone()),
                        ),
                        Binding::Subject(n) => {
                            (n.clone(), scope.subject.cloned().unwrap_or(Value::Null))
                        }
                    })
                    .collect();
                Cow::Owned(scripts.eval_expression(ast, bindings)?)
            }
        })
    }

    /// Whether the value may depend on the evaluation context (the service being
    /// planned) rather than only on the subject, literals, the given `let`s and the
    /// `fixed` roots (those every evaluation sharing a result sees alike).
    /// Functions are pure: natives are, and pack scripts see only their arguments.
    pub fn reads_context(&self, impure_lets: &[bool], fixed: &[&str]) -> bool {
        match self {
            Expr::Lit(_) | Expr::Subject => false,
            Expr::Root(_, r) => !fixed.contains(&r.as_str()),
            Expr::Let(i) => impure_lets.get(*i).copied().unwrap_or(true),
            Expr::Rhai(_, vars) => vars.iter().any(|b| match b {
                Binding::Root(r) => !fixed.contains(&r.as_str()),
                Binding::Let(i, _) => impure_lets.get(*i).copied().unwrap_or(true),
                Binding::Subject(_) => false,
            }),
            _ => (self.children().into_iter()).any(|e| e.reads_context(impure_lets, fixed)),
        }
    }
}

/// Where a field path an expression reads starts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathStart {
    Subject,
    Root(String),
}

impl Expr {
    /// The expressions directly inside this one.
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Field(e, _) | Expr::Index(e, _) | Expr::Not(e) => vec![e],
            Expr::Cmp(_, a, b) => vec![a, b],
            Expr::And(v)
            | Expr::Or(v)
            | Expr::Add(v)
            | Expr::Array(v)
            | Expr::Coalesce(v)
            | Expr::Native(_, _, v)
            | Expr::Script(_, v) => v.iter().collect(),
            Expr::Map(entries) => entries.iter().map(|(_, e)| e).collect(),
            Expr::If(c, a, b) => [Some(&**c), Some(&**a), b.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
            Expr::Lit(_) | Expr::Subject | Expr::Root(..) | Expr::Let(_) | Expr::Rhai(..) => {
                vec![]
            }
        }
    }

    /// The paths this expression reads (`service.spec.model.name`): a field chain
    /// from a root or the subject is one path; a root or the subject read otherwise
    /// (passed whole, or bound for a Rhai expression) is a path without fields.
    pub fn paths(&self, out: &mut Vec<(PathStart, Vec<String>)>) {
        fn chain(e: &Expr) -> Option<(PathStart, Vec<String>)> {
            match e {
                Expr::Subject => Some((PathStart::Subject, vec![])),
                Expr::Root(_, r) => Some((PathStart::Root(r.clone()), vec![])),
                Expr::Field(inner, name) => {
                    let (start, mut fields) = chain(inner)?;
                    fields.push(name.clone());
                    Some((start, fields))
                }
                _ => None,
            }
        }
        if let Some(c) = chain(self) {
            out.push(c);
            return;
        }
        if let Expr::Rhai(_, vars) = self {
            out.extend(vars.iter().filter_map(|b| match b {
                Binding::Root(r) => Some((PathStart::Root(r.clone()), vec![])),
                Binding::Subject(_) => Some((PathStart::Subject, vec![])),
                Binding::Let(..) => None,
            }));
        }
        for c in self.children() {
            c.paths(out);
        }
    }
}

/// Conditions are true only for the boolean `true` (as in Rhai, no truthy strings).
pub fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Equality as rule authors expect: numbers by value, everything else structurally.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(op: CmpOp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = || -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => num(a)?.partial_cmp(&num(b)?),
        }
    };
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => ord() == Some(Ordering::Less),
        CmpOp::Le => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord() == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::In => match b {
            Value::Array(items) => items.iter().any(|i| equal(i, a)),
            Value::Object(m) => a.as_str().is_some_and(|k| m.contains_key(k)),
            Value::String(s) => a.as_str().is_some_and(|needle| s.contains(needle)),
            _ => false,
        },
    }
}

fn add(a: Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => Value::from(i.saturating_add(j)),
            _ => Value::from(x.as_f64().unwrap_or(0.0) + y.as_f64().unwrap_or(0.0)),
        },
        (Value::Array(mut x), Value::Array(y)) => {
            x.extend(y.iter().cloned());
            Value::Array(x)
        }
        // as in Rhai: the right map's entries added to (or replacing) the left's
        (Value::Object(mut x), Value::Object(y)) => {
            x.extend(y.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(x)
        }
        (Value::String(mut s), other) => {
            s.push_str(&native::text(other));
            Value::String(s)
        }
        (other, Value::String(s)) => Value::String(native::text(&other) + s.as_str()),
        (Value::Null, other) => other.clone(),
        (other, _) => other,
    }
}

/// Calls a pack function with its arguments evaluated in `scope`; the result of a
/// memoised call is shared with the memo, and an argument that is another call's
/// shared result is passed as it is (the memo names it by address).
fn call(
    name: &str,
    args: &[Expr],
    scope: &Scope,
    scripts: &Scripts,
    memoised: bool,
) -> Result<Evaluated<'static>, EvalError> {
    let vals = args
        .iter()
        .map(|a| a.eval_shared(scope, scripts))
        .collect::<Result<smallvec::SmallVec<[_; 8]>, _>>()?;
    Ok(if memoised {
        Evaluated::Shared(scripts.call(name, &vals)?)
    } else {
        let refs: smallvec::SmallVec<[&Value; 8]> = vals.iter().map(|v| &**v).collect();
        Evaluated::Value(Cow::Owned(scripts.call_unmemoised(name, &refs)?))
    })
}

/// A value an expression evaluated to: borrowed from the context, made by the
/// expression, or a pack function's result shared with its memo. Callers that only
/// read it (status components) copy nothing.
#[derive(Debug)]
pub enum Evaluated<'a> {
    Value(Cow<'a, Value>),
    Shared(std::sync::Arc<Value>),
}

impl Evaluated<'_> {
    pub fn into_owned(self) -> Value {
        match self {
            Evaluated::Value(v) => v.into_owned(),
            Evaluated::Shared(v) => std::sync::Arc::unwrap_or_clone(v),
        }
    }

    /// The value, no longer borrowing what it was evaluated from: a shared result
    /// stays shared, a borrowed value is copied.
    pub fn detach(self) -> Let {
        match self {
            Evaluated::Value(v) => Evaluated::Value(Cow::Owned(v.into_owned())),
            Evaluated::Shared(v) => Evaluated::Shared(v),
        }
    }
}

impl<'a> From<&'a Value> for Evaluated<'a> {
    fn from(v: &'a Value) -> Self {
        Evaluated::Value(Cow::Borrowed(v))
    }
}

impl PartialEq for Evaluated<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl serde::Serialize for Evaluated<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl std::ops::Deref for Evaluated<'_> {
    type Target = Value;

    fn deref(&self) -> &Value {
        match self {
            Evaluated::Value(v) => v,
            Evaluated::Shared(v) => v,
        }
    }
}
