//! Results of pack functions by argument value. A pack function is a pure function of
//! its arguments (the sandbox has no clock, no I/O, no randomness), and most calls of a
//! resync repeat: every service on the same model and template asks the same status
//! and environment questions, and every service on the same template gets the same
//! InferenceService shape. Only calls with small arguments are remembered (output
//! builders, particular to their owner, never are: see `RulePack::build_output`), and
//! only from their second occurrence, so calls particular to one service (a route
//! path) leave a fingerprint but no copy.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// Values (nodes) the arguments of a remembered call may hold in all.
const MAX_ARG_NODES: usize = 256;
/// Values a remembered result may hold.
const MAX_RESULT_NODES: usize = 256;
/// Remembered calls per pack; when full, the memo starts over.
const CAPACITY: usize = 1024;
/// Fingerprints of calls seen once; when full, forgotten.
const SEEN: usize = 16 * 1024;

/// A call's fingerprint: its function's name and its arguments' values, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(u64);

struct Entry {
    function: Box<str>,
    args: Box<[Value]>,
    result: Arc<Value>,
}

#[derive(Default)]
pub struct CallMemo {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    seen: HashSet<Key>,
}

impl CallMemo {
    /// The fingerprint of `function(args)`, if its arguments are small enough.
    pub fn key(function: &str, args: &[&Value]) -> Option<Key> {
        // one pass: hashing stops where the arguments outgrow the budget
        let mut budget = MAX_ARG_NODES;
        let mut h = foldhash::fast::FixedState::with_seed(0).build_hasher();
        function.hash(&mut h);
        for a in args {
            hash_value(a, &mut h, &mut budget)?;
        }
        Some(Key(h.finish()))
    }

    /// The remembered result of `function(args)`, shared.
    pub fn get(&self, key: Key, function: &str, args: &[&Value]) -> Option<Arc<Value>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let e = inner.entries.get(&key)?;
        (*e.function == *function
            && e.args.len() == args.len()
            && e.args.iter().zip(args).all(|(a, b)| a == *b))
        .then(|| Arc::clone(&e.result))
    }

    /// Remembers a successful call seen before whose result is small enough.
    pub fn insert(&self, key: Key, function: &str, args: &[&Value], result: &Arc<Value>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.seen.len() >= SEEN {
            inner.seen.clear();
        }
        if inner.seen.insert(key) || nodes(result, MAX_RESULT_NODES + 1) > MAX_RESULT_NODES {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(
            key,
            Entry {
                function: function.into(),
                args: args.iter().map(|a| (*a).clone()).collect(),
                result: Arc::clone(result),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.entries.len()).unwrap_or(0)
    }
}

/// Hashes `v` whole, as a memo key does.
pub(super) fn hash_json(v: &Value, h: &mut impl Hasher) {
    let mut unbounded = usize::MAX;
    let _ = hash_value(v, h, &mut unbounded);
}

/// Hashes `v` with the type of every value in it, so that `1` and `"1"` differ;
/// `None` once it has more values than `budget` has left.
fn hash_value(v: &Value, h: &mut impl Hasher, budget: &mut usize) -> Option<()> {
    *budget = budget.checked_sub(1)?;
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => {
            h.write_u8(1);
            b.hash(h);
        }
        Value::Number(n) => {
            h.write_u8(2);
            n.hash(h);
        }
        Value::String(s) => {
            h.write_u8(3);
            s.hash(h);
        }
        Value::Array(items) => {
            h.write_u8(4);
            h.write_usize(items.len());
            for i in items {
                hash_value(i, h, budget)?;
            }
        }
        Value::Object(m) => {
            h.write_u8(5);
            h.write_usize(m.len());
            for (k, v) in m {
                k.hash(h);
                hash_value(v, h, budget)?;
            }
        }
    }
    Some(())
}

/// The number of values in `v`, counting no further than `limit`.
fn nodes(v: &Value, limit: usize) -> usize {
    match v {
        Value::Array(a) => count(a.iter(), limit),
        Value::Object(m) => count(m.values(), limit),
        _ => 1,
    }
}

fn count<'a>(children: impl Iterator<Item = &'a Value>, limit: usize) -> usize {
    let mut n = 1;
    for c in children {
        if n >= limit {
            break;
        }
        n += nodes(c, limit - n);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remembers_small_calls_by_value() {
        let memo = CallMemo::default();
        let a = json!({"found": true, "status": "Ready"});
        let k = CallMemo::key("f", &[&a]).expect("small");
        assert_eq!(memo.get(k, "f", &[&a]), None);
        // the first occurrence leaves a fingerprint only, the second a copy
        let ready = Arc::new(json!("ready"));
        memo.insert(k, "f", &[&a], &ready);
        assert_eq!(memo.get(k, "f", &[&a]), None);
        memo.insert(k, "f", &[&a], &ready);
        assert_eq!(memo.get(k, "f", &[&a]), Some(ready));
        // another function, other arguments, or a differently typed value miss
        let b = json!({"found": true, "status": "Failed"});
        assert_ne!(CallMemo::key("g", &[&a]), Some(k));
        assert_ne!(CallMemo::key("f", &[&b]), Some(k));
        assert_ne!(
            CallMemo::key("f", &[&json!("1")]),
            CallMemo::key("f", &[&json!(1)])
        );
        // a fingerprint collision does not return another call's result
        assert_eq!(memo.get(k, "f", &[&b]), None);
        assert_eq!(memo.get(k, "g", &[&a]), None);
    }

    #[test]
    fn large_calls_are_not_remembered() {
        let big = Value::Array((0..MAX_ARG_NODES as i64).map(Value::from).collect());
        assert_eq!(CallMemo::key("f", &[&big]), None);
        let memo = CallMemo::default();
        let k = CallMemo::key("f", &[&json!(1)]).unwrap();
        let result = Arc::new(Value::Array(
            (0..=MAX_RESULT_NODES as i64).map(Value::from).collect(),
        ));
        memo.insert(k, "f", &[&json!(1)], &result);
        memo.insert(k, "f", &[&json!(1)], &result);
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn a_full_memo_starts_over() {
        let memo = CallMemo::default();
        for i in 0..=CAPACITY as i64 {
            let a = json!(i);
            let k = CallMemo::key("f", &[&a]).unwrap();
            let result = Arc::new(a.clone());
            memo.insert(k, "f", &[&a], &result);
            memo.insert(k, "f", &[&a], &result);
        }
        assert_eq!(memo.len(), 1);
    }
}
