//! The Rhai sandbox: the pack's `*.rhai` functions, compiled once, evaluated under
//! limits on operations, depth, sizes and wall-clock time; no `eval`, no modules,
//! no clock, no file or network access, so a function's result depends on its
//! arguments alone (and calls with small arguments are memoised).

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine};
use serde_json::Value;

use super::ast::Span;
use super::diagnostic::{Code, Diagnostic};
use super::expr::Evaluated;
use super::memo::CallMemo;
use super::native;

/// Wall-clock budget of one script evaluation.
pub const DEADLINE: Duration = Duration::from_millis(500);

thread_local! {
    static CURRENT_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A script evaluation that failed; the plan reports it as a condition.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error("rule script `{function}` failed: {message}")]
    Script { function: String, message: String },
    #[error("rule script `{function}` exceeded its {}ms time budget", DEADLINE.as_millis())]
    Deadline { function: String },
    #[error("rule script `{function}` returned a value that is not JSON: {message}")]
    Conversion { function: String, message: String },
}

/// The compiled `*.rhai` files of a pack and the sandboxed engine that runs them.
pub struct Scripts {
    engine: Engine,
    ast: AST,
    functions: HashSet<(String, usize)>,
    memo: CallMemo,
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts")
            .field("functions", &self.functions.len())
            .finish()
    }
}

/// The sandboxed engine every pack uses.
pub fn sandbox() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(20_000_000);
    engine.set_max_call_levels(48);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(1 << 20);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(100_000);
    engine.disable_symbol("eval");
    // the interner is one lock per engine: with it, plans on different threads take
    // turns instead of running side by side
    engine.set_max_strings_interned(0);
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.on_progress(|ops| {
        if ops & 0xff == 0 {
            let expired = CURRENT_DEADLINE.with(|d| d.get().is_some_and(|d| Instant::now() > d));
            if expired {
                return Some(Dynamic::from("deadline"));
            }
        }
        None
    });
    native::register(&mut engine);
    engine
}

/// Sets the deadline for the evaluation in progress on this thread; nested calls
/// keep the outer deadline.
struct DeadlineGuard(bool);

impl DeadlineGuard {
    fn start() -> Self {
        CURRENT_DEADLINE.with(|d| {
            if d.get().is_some() {
                DeadlineGuard(false)
            } else {
                d.set(Some(Instant::now() + DEADLINE));
                DeadlineGuard(true)
            }
        })
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        if self.0 {
            CURRENT_DEADLINE.with(|d| d.set(None));
        }
    }
}

impl Scripts {
    /// A pack without scripts.
    pub fn empty() -> Self {
        Scripts {
            engine: sandbox(),
            ast: AST::empty(),
            functions: HashSet::new(),
            memo: CallMemo::default(),
        }
    }

    /// Compiles every script file; a file that does not compile yields an `E004`
    /// diagnostic at the position Rhai reports, and contributes no functions.
    pub fn compile(files: &[(usize, &str)]) -> (Self, Vec<Diagnostic>) {
        let engine = sandbox();
        let mut ast = AST::empty();
        let mut diags = vec![];
        for (file, text) in files {
            match engine.compile(*text) {
                Ok(a) => ast = ast.merge(&a),
                Err(e) => {
                    let pos = e.position();
                    let offset =
                        offset_of(text, pos.line().unwrap_or(1), pos.position().unwrap_or(1));
                    diags.push(Diagnostic::new(
                        Code::ScriptCompile,
                        format!("script does not compile: {}", e.err_type()),
                        Span {
                            file: *file,
                            start: offset,
                            end: offset,
                        },
                    ));
                }
            }
        }
        let functions = ast
            .iter_functions()
            .map(|f| (f.name.to_string(), f.params.len()))
            .collect();
        (
            Scripts {
                engine,
                ast,
                functions,
                memo: CallMemo::default(),
            },
            diags,
        )
    }

    pub fn has_function(&self, name: &str, arity: usize) -> bool {
        self.functions.contains(&(name.to_string(), arity))
    }

    pub fn function_names(&self) -> impl Iterator<Item = &(String, usize)> {
        self.functions.iter()
    }

    /// Compiles a rule-file expression that is outside the native subset.
    pub fn compile_expression(&self, text: &str) -> Result<AST, (String, usize, usize)> {
        let ast = self.engine.compile_expression(text).map_err(|e| {
            let pos = e.position();
            (
                e.err_type().to_string(),
                pos.line().unwrap_or(1),
                pos.position().unwrap_or(1),
            )
        })?;
        // the pack's functions travel with the expression, merged once here
        Ok(ast.merge(&self.ast.clone_functions_only()))
    }

    /// Calls a pack function with JSON arguments under the sandbox limits; a call
    /// with small arguments made before returns the result it had.
    /// The result is shared with the memo: a caller that only reads it copies nothing.
    pub fn call(&self, name: &str, args: &[Evaluated]) -> Result<Arc<Value>, EvalError> {
        let key = CallMemo::key(name, args);
        if let Some(v) = key.as_ref().and_then(|k| self.memo.get(k)) {
            return Ok(v);
        }
        let values: smallvec::SmallVec<[&Value; 8]> = args.iter().map(|a| &**a).collect();
        let result = Arc::new(self.call_unmemoised(name, &values)?);
        if let Some(k) = key {
            self.memo.insert(k, &result);
        }
        Ok(result)
    }

    /// How many call results the memo holds.
    pub fn memoised_results(&self) -> usize {
        self.memo.len()
    }

    /// [`Scripts::call`] for a call whose result no other call will ask for.
    pub fn call_unmemoised(&self, name: &str, args: &[&Value]) -> Result<Value, EvalError> {
        let _guard = DeadlineGuard::start();
        let args: Vec<Dynamic> = args.iter().map(|a| to_dynamic(a)).collect();
        let mut scope = rhai::Scope::new();
        let options = rhai::CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true);
        let result = self
            .engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, &self.ast, name, args)
            .map_err(|e| script_error(name, *e))?;
        from_dynamic(name, &result)
    }

    /// Evaluates a Rhai-compiled rule expression with the given variables.
    pub fn eval_expression(
        &self,
        ast: &AST,
        bindings: Vec<(String, Value)>,
    ) -> Result<Value, EvalError> {
        let _guard = DeadlineGuard::start();
        let mut scope = rhai::Scope::new();
        for (name, value) in &bindings {
            scope.push_dynamic(name.as_str(), to_dynamic(value));
        }
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            .map_err(|e| script_error("<expression>", *e))?;
        from_dynamic("<expression>", &result)
    }
}

fn script_error(function: &str, e: rhai::EvalAltResult) -> EvalError {
    match e {
        rhai::EvalAltResult::ErrorTerminated(..) => EvalError::Deadline {
            function: function.into(),
        },
        other => EvalError::Script {
            function: function.into(),
            message: other.to_string(),
        },
    }
}

/// JSON to a Rhai value, built directly (the serde route costs several times more, and
/// every script call converts its arguments).
pub fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(a) => Dynamic::from_array(a.iter().map(to_dynamic).collect()),
        Value::Object(m) => Dynamic::from_map(
            m.iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// A Rhai value back to JSON; functions, timestamps, NaN and the like are not JSON.
fn from_dynamic(function: &str, d: &Dynamic) -> Result<Value, EvalError> {
    json_of(d).map_err(|message| EvalError::Conversion {
        function: function.into(),
        message,
    })
}

pub(super) fn json_of(d: &Dynamic) -> Result<Value, String> {
    // the common types first; keys through `as_str`, not `Display`
    if let Some(m) = d.read_lock::<rhai::Map>() {
        return m
            .iter()
            .map(|(k, v)| Ok((k.as_str().to_owned(), json_of(v)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object);
    }
    if let Some(s) = d.read_lock::<rhai::ImmutableString>() {
        return Ok(Value::String(s.as_str().to_owned()));
    }
    if let Some(a) = d.read_lock::<rhai::Array>() {
        return a
            .iter()
            .map(json_of)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Ok(i) = d.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(b) = d.as_bool() {
        return Ok(Value::Bool(b));
    }
    if d.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(f) = d.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a JSON number"));
    }
    if let Ok(c) = d.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    Err(format!("a value of type {} is not JSON", d.type_name()))
}

/// Byte offset of a 1-based line and column.
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col_bytes: usize = l
                .chars()
                .take(col.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            return offset + col_bytes;
        }
        offset += l.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_rhai() {
        let v = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}, "d": ""});
        assert_eq!(json_of(&to_dynamic(&v)).unwrap(), v);
        let (scripts, diags) = Scripts::compile(&[(
            0,
            "fn f(x) { x.b.c += 1; x.e = 'z'; x }\nfn g() { Fn(\"f\") }",
        )]);
        assert!(diags.is_empty());
        assert_eq!(
            *scripts.call("f", &[Evaluated::from(&v)]).unwrap(),
            serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": -2}, "d": "", "e": "z"})
        );
        assert!(matches!(
            scripts.call("g", &[]),
            Err(EvalError::Conversion { .. })
        ));
    }

    #[test]
    fn calls_with_small_arguments_are_memoised() {
        let (scripts, _) =
            Scripts::compile(&[(0, "fn twice(x) { x * 2 }\nfn fail(x) { throw x }")]);
        let small = serde_json::json!(21);
        // remembered from the second call on
        for _ in 0..3 {
            assert_eq!(
                *scripts.call("twice", &[Evaluated::from(&small)]).unwrap(),
                serde_json::json!(42)
            );
        }
        assert_eq!(scripts.memo.len(), 1);
        // a remembered result is handed out shared, not copied
        assert!(Arc::ptr_eq(
            &scripts.call("twice", &[Evaluated::from(&small)]).unwrap(),
            &scripts.call("twice", &[Evaluated::from(&small)]).unwrap()
        ));
        let one = serde_json::json!(1);
        assert_eq!(
            *scripts.call("twice", &[Evaluated::from(&one)]).unwrap(),
            serde_json::json!(2)
        );
        assert_eq!(scripts.memo.len(), 1);
        // failures are not remembered: every failing call reports
        for _ in 0..3 {
            assert!(scripts.call("fail", &[Evaluated::from(&small)]).is_err());
        }
        assert_eq!(scripts.memo.len(), 1);
    }
}
