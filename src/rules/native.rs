//! Helper functions available to rule expressions (natively, over JSON) and to the
//! pack's Rhai scripts (the same functions, registered once in the sandbox).

use std::borrow::Cow;

use rhai::{Dynamic, Engine};
use serde_json::Value;

/// A helper: most compute a new value; a few choose one of their arguments, which is
/// then passed on without a copy (`first_set`, `default`, `pick`).
#[derive(Clone, Copy)]
pub enum NativeFn {
    Compute(fn(&[Cow<Value>]) -> Value),
    Choose(fn(&[Cow<Value>]) -> Option<usize>),
    /// The first argument that is set, evaluating no further (`first_set`, `default`);
    /// when none is, the last argument (`true`) or `()`.
    Coalesce(bool),
    /// A new value, or `None` when the first argument already is the result (a string
    /// that is already trimmed or upper-case is passed on without a copy).
    Transform(fn(&[Cow<Value>]) -> Option<Value>),
}

use NativeFn::{Choose, Coalesce, Compute, Transform};

/// A string transformation that returns `None` when it changes nothing.
fn transform(v: &Value, f: fn(&str) -> Cow<str>) -> Option<Value> {
    match v {
        Value::String(s) => match f(s) {
            Cow::Borrowed(_) => None,
            Cow::Owned(o) => Some(Value::String(o)),
        },
        other => Some(Value::String(f(&text(other)).into_owned())),
    }
}

/// Every helper: name, minimum and maximum arity, implementation.
const HELPERS: &[(&str, usize, usize, NativeFn)] = &[
    (
        "lower",
        1,
        1,
        Transform(|a| {
            transform(&a[0], |s| {
                if s.chars().any(char::is_uppercase) {
                    Cow::Owned(s.to_lowercase())
                } else {
                    Cow::Borrowed(s)
                }
            })
        }),
    ),
    (
        "upper",
        1,
        1,
        Transform(|a| {
            transform(&a[0], |s| {
                if s.chars().any(char::is_lowercase) {
                    Cow::Owned(s.to_uppercase())
                } else {
                    Cow::Borrowed(s)
                }
            })
        }),
    ),
    (
        "trim",
        1,
        1,
        Transform(|a| {
            transform(&a[0], |s| {
                let t = s.trim();
                if t.len() == s.len() {
                    Cow::Borrowed(s)
                } else {
                    Cow::Owned(t.to_string())
                }
            })
        }),
    ),
    ("first_set", 1, 8, Coalesce(false)),
    ("is_set", 1, 1, Compute(|a| Value::Bool(is_set(&a[0])))),
    ("default", 2, 2, Coalesce(true)),
    // pick(value, [allowed...], fallback): the value when it is one of the allowed
    (
        "pick",
        3,
        3,
        Choose(|a| {
            let allowed = a[1]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| super::expr::equal(x, &a[0])));
            Some(if allowed { 0 } else { 2 })
        }),
    ),
    (
        "len",
        1,
        1,
        Compute(|a| {
            Value::from(match &*a[0] {
                Value::Array(v) => v.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.chars().count(),
                _ => 0,
            })
        }),
    ),
    (
        "normalize_gpu",
        1,
        1,
        Transform(|a| match &*a[0] {
            Value::String(s) if crate::gpu::is_normalized(s) => None,
            other => Some(Value::String(crate::gpu::normalize_gpu_name(&text(other)))),
        }),
    ),
    (
        "dns1123",
        1,
        1,
        Compute(|a| Value::String(crate::naming::dns1123(&text(&a[0])))),
    ),
    (
        "label_value",
        1,
        1,
        Compute(|a| {
            crate::naming::label_value(&text(&a[0]))
                .map(Value::String)
                .unwrap_or(Value::Null)
        }),
    ),
    (
        "go_duration",
        1,
        1,
        Compute(|a| {
            crate::quantity::go_duration(&text(&a[0]))
                .map(Value::String)
                .unwrap_or(Value::Null)
        }),
    ),
    (
        "quantity",
        1,
        1,
        Compute(|a| {
            crate::quantity::parse_quantity(&text(&a[0]))
                .map(Value::from)
                .unwrap_or(Value::Null)
        }),
    ),
    (
        "jsonpath",
        2,
        2,
        Compute(|a| crate::jsonpath::query_one(&a[0], &text(&a[1])).unwrap_or(Value::Null)),
    ),
    (
        "normalize_path",
        1,
        1,
        Compute(|a| {
            crate::plan::routing::normalise(&text(&a[0]))
                .map(Value::String)
                .unwrap_or(Value::Null)
        }),
    ),
    (
        "path_join",
        2,
        8,
        Compute(|a| {
            let parts: Vec<String> = a
                .iter()
                .map(|p| text(p).trim_matches('/').to_string())
                .filter(|p| !p.is_empty())
                .collect();
            Value::String(format!("/{}", parts.join("/")))
        }),
    ),
    (
        "derived_name",
        3,
        3,
        Compute(|a| derived_name(&a[0], &a[1], &a[2])),
    ),
    (
        "to_yaml",
        1,
        1,
        Compute(|a| Value::String(serde_yaml::to_string(&*a[0]).unwrap_or_default())),
    ),
    (
        "sort_by",
        2,
        2,
        Compute(|a| {
            let key = text(&a[1]);
            match &*a[0] {
                Value::Array(items) => {
                    let mut items = items.clone();
                    items.sort_by(|x, y| {
                        text(x.get(&key).unwrap_or(&Value::Null))
                            .cmp(&text(y.get(&key).unwrap_or(&Value::Null)))
                    });
                    Value::Array(items)
                }
                other => other.clone(),
            }
        }),
    ),
];

/// The derived-name formula of outputs.md §1.2 (maximum 63 characters): name parts,
/// hash inputs (strings, integers, `()`), hash length. `()` when the inputs are invalid.
fn derived_name(parts: &Value, inputs: &Value, len: &Value) -> Value {
    use crate::naming::HashInput;
    let parts: Vec<String> = parts
        .as_array()
        .map(|p| p.iter().map(text).collect())
        .unwrap_or_default();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let inputs: Vec<HashInput> = inputs
        .as_array()
        .map(|i| {
            i.iter()
                .map(|v| match v {
                    Value::Number(n) => n
                        .as_i64()
                        .map(HashInput::Int)
                        .unwrap_or(HashInput::Str(n.to_string())),
                    Value::Null => HashInput::Null,
                    other => HashInput::Str(text(other)),
                })
                .collect()
        })
        .unwrap_or_default();
    let len = len.as_u64().unwrap_or(8) as usize;
    let hashed = (!inputs.is_empty()).then_some(inputs.as_slice());
    crate::naming::derived_name(&parts, hashed, len, crate::naming::MAX_NAME_LEN)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// Looks up a helper by name.
pub fn lookup(name: &str) -> Option<(&'static str, NativeFn)> {
    HELPERS.iter().find(|h| h.0 == name).map(|h| (h.0, h.3))
}

/// Whether `name` accepts `arity` arguments.
pub fn accepts(name: &str, arity: usize) -> bool {
    HELPERS
        .iter()
        .any(|h| h.0 == name && (h.1..=h.2).contains(&arity))
}

/// Names of all helpers (for lint hints).
pub fn names() -> impl Iterator<Item = &'static str> {
    HELPERS.iter().map(|h| h.0)
}

/// Set means present and not empty: not `()`, `""`, `0`, `false`, `[]` or `#{}`.
pub fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// A value as text: strings as they are, `()` as empty, other scalars as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl NativeFn {
    /// Applies the helper to evaluated arguments, moving a chosen argument out.
    pub fn apply<'a>(self, mut args: smallvec::SmallVec<[Cow<'a, Value>; 4]>) -> Cow<'a, Value> {
        match self {
            Compute(f) => Cow::Owned(f(&args)),
            Coalesce(last) => match args.iter().position(|v| is_set(v)) {
                Some(i) => args.swap_remove(i),
                None if last && !args.is_empty() => args.pop().expect("an argument"),
                None => Cow::Owned(Value::Null),
            },
            Choose(f) => match f(&args) {
                Some(i) if i < args.len() => args.swap_remove(i),
                _ => Cow::Owned(Value::Null),
            },
            Transform(f) => match f(&args) {
                Some(v) => Cow::Owned(v),
                None if !args.is_empty() => args.swap_remove(0),
                None => Cow::Owned(Value::Null),
            },
        }
    }
}

/// Registers every helper into the Rhai engine for each arity it accepts.
pub fn register(engine: &mut Engine) {
    for &(name, min, max, f) in HELPERS {
        for arity in min..=max {
            let types: Vec<std::any::TypeId> = vec![std::any::TypeId::of::<Dynamic>(); arity];
            engine.register_raw_fn(name, types, move |_ctx, args| {
                let vals: smallvec::SmallVec<[Cow<Value>; 4]> = args
                    .iter()
                    .map(|d| Cow::Owned(super::script::json_of(d).unwrap_or(Value::Null)))
                    .collect();
                Ok(super::script::to_dynamic(&f.apply(vals)))
            });
        }
    }
}
