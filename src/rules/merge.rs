//! Precedence merges: layers (highest first) combined by a strategy, recording which
//! layer won each field so `--explain` can say where a value came from.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::ast::Strategy;
use super::expr::{Expr, Roots, Scope};
use super::native::{is_set, text};
use super::script::{EvalError, Scripts};

/// A compiled `merge` block.
pub struct MergeRule {
    pub name: String,
    /// `merge <name>`, as plans time it.
    pub step: Arc<str>,
    /// The reconciled kind whose planner runs it.
    pub parent: String,
    pub strategy: Strategy,
    pub layers: Vec<(Arc<str>, Expr)>,
    /// Per-path strategies inside a deep merge (`at spec.env keyed name`).
    pub at: Vec<(String, Strategy)>,
}

/// Field path → the layer whose value is in the result.
pub type Provenance = Vec<(String, Arc<str>)>;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Merged {
    pub value: Value,
    pub provenance: Provenance,
}

impl MergeRule {
    /// Merges the layers; with `explain`, records which layer each field came from
    /// (what `--explain` prints; without it the provenance is empty).
    pub fn run(
        &self,
        scripts: &Scripts,
        ctx: &dyn Roots,
        explain: bool,
    ) -> Result<Merged, EvalError> {
        let scope = Scope {
            ctx,
            subject: None,
            lets: &[],
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (name, e) in &self.layers {
            layers.push((name, e.eval(&scope, scripts)?.into_owned()));
        }
        // recorded only when asked: a path string per merged field, for --explain
        let mut provenance = explain.then(Vec::new);
        // fold from the lowest layer up
        let mut acc = Value::Null;
        let mut path = String::new();
        for (name, value) in layers.into_iter().rev() {
            acc = self.combine(&self.strategy, &mut path, acc, value, name, &mut provenance);
        }
        let mut provenance = provenance.unwrap_or_default();
        provenance.sort_by(|a, b| a.0.cmp(&b.0));
        provenance.dedup_by(|b, a| {
            // keep the last (highest) writer of a path
            if a.0 == b.0 {
                a.1 = b.1.clone();
                true
            } else {
                false
            }
        });
        Ok(Merged {
            value: acc,
            provenance,
        })
    }

    /// Merges `high` over `base` at `path` (a buffer the recursion extends and
    /// restores, so that walking a value allocates no path per field).
    fn combine(
        &self,
        strategy: &Strategy,
        path: &mut String,
        base: Value,
        high: Value,
        layer: &Arc<str>,
        prov: &mut Option<Provenance>,
    ) -> Value {
        if high.is_null() {
            return base;
        }
        match strategy {
            Strategy::First => {
                if is_set(&high) {
                    record(prov, path, layer);
                    high
                } else if base.is_null() {
                    high
                } else {
                    base
                }
            }
            Strategy::Union => {
                let mut out: Vec<Value> = as_list(high);
                for item in as_list(base) {
                    if !out.contains(&item) {
                        out.push(item);
                    }
                }
                record(prov, path, layer);
                Value::Array(out)
            }
            Strategy::Keyed { key, json } => {
                keyed(path, base, high, key, json.as_deref(), layer, prov)
            }
            Strategy::Deep { skip_zero } => match (base, high) {
                (Value::Null, Value::Object(h)) => self.combine(
                    strategy,
                    path,
                    Value::Object(Map::new()),
                    Value::Object(h),
                    layer,
                    prov,
                ),
                (Value::Object(mut b), Value::Object(h)) => {
                    for (k, hv) in h {
                        let len = path.len();
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(&k);
                        let bv = b.remove(&k).unwrap_or(Value::Null);
                        let strategy = self.at.iter().find(|(p, _)| p == path).map(|(_, s)| s);
                        let merged = match strategy {
                            Some(s) => self.combine(s, path, bv, hv, layer, prov),
                            None => self.combine(
                                &Strategy::Deep {
                                    skip_zero: *skip_zero,
                                },
                                path,
                                bv,
                                hv,
                                layer,
                                prov,
                            ),
                        };
                        path.truncate(len);
                        b.insert(k, merged);
                    }
                    Value::Object(b)
                }
                (base, high) => {
                    if *skip_zero && !is_set(&high) && is_set(&base) {
                        base
                    } else {
                        record(prov, path, layer);
                        high
                    }
                }
            },
        }
    }
}

fn record(prov: &mut Option<Provenance>, path: &str, layer: &Arc<str>) {
    if let Some(prov) = prov {
        let p = if path.is_empty() { "." } else { path };
        prov.push((p.to_string(), layer.clone()));
    }
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => vec![],
        other => vec![other],
    }
}

/// Name-keyed list merge: an entry of the higher layer replaces the first base entry
/// with the same key in place; new entries are appended in order.
fn keyed(
    path: &str,
    base: Value,
    high: Value,
    key: &str,
    json: Option<&str>,
    layer: &Arc<str>,
    prov: &mut Option<Provenance>,
) -> Value {
    let mut out = as_list(base);
    for item in as_list(high) {
        let k = text(item.get(key).unwrap_or(&Value::Null));
        if let Some(prov) = prov {
            prov.push((format!("{path}[{key}={k}]"), layer.clone()));
        }
        let same_key = |e: &&mut Value| match e.get(key) {
            Some(Value::String(s)) => *s == k,
            other => text(other.unwrap_or(&Value::Null)) == k,
        };
        match out.iter_mut().find(same_key) {
            Some(existing) => {
                *existing = if json == Some(k.as_str()) {
                    merge_json_values(existing, &item)
                } else {
                    item
                };
            }
            None => out.push(item),
        }
    }
    Value::Array(out)
}

/// AIM_ENGINE_ARGS: both `value`s parsed as JSON objects and deep-merged (higher
/// wins); if either is not valid JSON the higher entry wins as is.
fn merge_json_values(base: &Value, high: &Value) -> Value {
    let parse = |v: &Value| -> Option<Value> {
        let t = v.get("value").and_then(Value::as_str).unwrap_or("");
        if t.is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_str::<Value>(t)
                .ok()
                .filter(Value::is_object)
        }
    };
    match (parse(base), parse(high)) {
        (Some(b), Some(h)) => {
            let merged = match (b, h) {
                (Value::Null, h) => h,
                (b, Value::Null) => b,
                (b, h) => deep_merge(b, h),
            };
            let mut entry = Map::new();
            entry.insert(
                "name".into(),
                high.get("name").cloned().unwrap_or(Value::Null),
            );
            entry.insert("value".into(), Value::String(merged.to_string()));
            Value::Object(entry)
        }
        _ => high.clone(),
    }
}

/// Recursive object merge, `high` wins per key.
pub fn deep_merge(base: Value, high: Value) -> Value {
    match (base, high) {
        (Value::Object(mut b), Value::Object(h)) => {
            for (k, hv) in h {
                let bv = b.remove(&k).unwrap_or(Value::Null);
                b.insert(k, if bv.is_null() { hv } else { deep_merge(bv, hv) });
            }
            Value::Object(b)
        }
        (_, h) => h,
    }
}
