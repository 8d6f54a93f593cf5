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

use super::expr::Evaluated;

/// Values (nodes) the arguments of a remembered call may hold in all.
const MAX_ARG_NODES: usize = 256;
/// Bytes a call's key may take (strings count whole).
const MAX_KEY_BYTES: usize = 16 * 1024;
/// Values a remembered result may hold.
const MAX_RESULT_NODES: usize = 256;
/// Remembered calls per pack; when full, the memo starts over.
const CAPACITY: usize = 1024;
/// Fingerprints of calls seen once; when full, forgotten.
const SEEN: usize = 16 * 1024;

/// A call written out: its function's name and its arguments, every value with its
/// type and every string and container with its length, so two calls have the same
/// bytes only when they are the same call. Finding a call compares these bytes once,
/// not two trees of values node by node.
pub struct Key {
    bytes: Vec<u8>,
    hash: u64,
    /// The results written in by address, kept alive with the key (see [`CallMemo::key`]).
    pins: Vec<Arc<Value>>,
}

struct Entry {
    bytes: Box<[u8]>,
    result: Arc<Value>,
    _pins: Box<[Arc<Value>]>,
}

#[derive(Default)]
pub struct CallMemo {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By the key's hash; the key's bytes tell a collision from the call.
    entries: HashMap<u64, Entry>,
    seen: HashSet<u64>,
}

impl CallMemo {
    /// The key of `function(args)`, if its arguments are small enough. An argument
    /// that is another call's shared result is written by its address, not its
    /// content (an InferenceService's shape would be written out on every predictor
    /// lookup); the key, and the entry made of it, keep that result alive, so while
    /// the entry exists the address names nothing else and means the same value.
    pub fn key(function: &str, args: &[Evaluated]) -> Option<Key> {
        let mut w = Writer {
            bytes: Vec::with_capacity(256),
            nodes: MAX_ARG_NODES,
        };
        let mut pins = vec![];
        w.str(function)?;
        for a in args {
            match a {
                Evaluated::Value(v) => w.value(v)?,
                Evaluated::Shared(r) => {
                    w.bytes.push(9);
                    w.bytes
                        .extend_from_slice(&(Arc::as_ptr(r) as usize as u64).to_le_bytes());
                    pins.push(Arc::clone(r));
                }
            }
        }
        let hash = foldhash::fast::FixedState::with_seed(0).hash_one(&w.bytes);
        Some(Key {
            bytes: w.bytes,
            hash,
            pins,
        })
    }

    /// The remembered result of the call `key` holds, shared.
    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entries.get(&key.hash)?;
        (*entry.bytes == *key.bytes).then(|| Arc::clone(&entry.result))
    }

    /// Remembers a successful call seen before whose result is small enough.
    pub fn insert(&self, key: Key, result: &Arc<Value>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.seen.len() >= SEEN {
            inner.seen.clear();
        }
        if inner.seen.insert(key.hash) || nodes(result, MAX_RESULT_NODES + 1) > MAX_RESULT_NODES {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        let entry = Entry {
            bytes: key.bytes.into(),
            result: Arc::clone(result),
            _pins: key.pins.into(),
        };
        inner.entries.insert(key.hash, entry);
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.entries.len()).unwrap_or(0)
    }
}

/// Writes values into a key, within its budgets.
struct Writer {
    bytes: Vec<u8>,
    nodes: usize,
}

impl Writer {
    /// `None`, before copying it, for a string past what is left of the bytes.
    fn str(&mut self, s: &str) -> Option<()> {
        if self.bytes.len() + 4 + s.len() > MAX_KEY_BYTES {
            return None;
        }
        self.len(s.len());
        self.bytes.extend_from_slice(s.as_bytes());
        Some(())
    }

    /// Strings are at most MAX_KEY_BYTES long, containers at most MAX_ARG_NODES.
    fn len(&mut self, n: usize) {
        self.bytes.extend_from_slice(&(n as u32).to_le_bytes());
    }

    /// `None` once the value outgrows what is left of the budgets.
    fn value(&mut self, v: &Value) -> Option<()> {
        self.nodes = self.nodes.checked_sub(1)?;
        match v {
            Value::Null => self.bytes.push(0),
            Value::Bool(b) => self.bytes.push(1 + u8::from(*b)),
            Value::Number(n) => {
                // serde_json keeps an integer as u64 when it can, else i64, else f64
                let (tag, bits) = match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => (3, u),
                    (None, Some(i)) => (4, i as u64),
                    (None, None) => (5, n.as_f64().unwrap_or(f64::NAN).to_bits()),
                };
                self.bytes.push(tag);
                self.bytes.extend_from_slice(&bits.to_le_bytes());
            }
            Value::String(s) => {
                self.bytes.push(6);
                self.str(s)?;
            }
            Value::Array(items) => {
                self.bytes.push(7);
                self.len(items.len());
                for i in items {
                    self.value(i)?;
                }
            }
            Value::Object(m) => {
                self.bytes.push(8);
                self.len(m.len());
                for (k, v) in m {
                    self.str(k)?;
                    self.value(v)?;
                }
            }
        }
        (self.bytes.len() <= MAX_KEY_BYTES).then_some(())
    }
}

/// Hashes `v` with the type of every value in it, so that `1` and `"1"` differ.
pub(super) fn hash_json(v: &Value, h: &mut impl Hasher) {
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
                hash_json(i, h);
            }
        }
        Value::Object(m) => {
            h.write_u8(5);
            h.write_usize(m.len());
            for (k, v) in m {
                k.hash(h);
                hash_json(v, h);
            }
        }
    }
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

    fn bytes(function: &str, args: &[Value]) -> Vec<u8> {
        let args: Vec<Evaluated> = args.iter().map(Evaluated::from).collect();
        CallMemo::key(function, &args).expect("small").bytes
    }

    #[test]
    fn remembers_small_calls_by_value() {
        let memo = CallMemo::default();
        let a = json!({"found": true, "status": "Ready"});
        let key = || CallMemo::key("f", &[Evaluated::from(&a)]).expect("small");
        assert_eq!(memo.get(&key()), None);
        // the first occurrence leaves a fingerprint only, the second a copy
        let ready = Arc::new(json!("ready"));
        memo.insert(key(), &ready);
        assert_eq!(memo.get(&key()), None);
        memo.insert(key(), &ready);
        assert_eq!(memo.get(&key()), Some(ready));
        // another function or other arguments miss
        let b = json!({"found": true, "status": "Failed"});
        assert_eq!(
            memo.get(&CallMemo::key("g", &[Evaluated::from(&a)]).unwrap()),
            None
        );
        assert_eq!(
            memo.get(&CallMemo::key("f", &[Evaluated::from(&b)]).unwrap()),
            None
        );
        // a hash collision does not return another call's result
        let collision = Key {
            bytes: CallMemo::key("f", &[Evaluated::from(&b)]).unwrap().bytes,
            hash: key().hash,
            pins: vec![],
        };
        assert_eq!(memo.get(&collision), None);
    }

    #[test]
    fn different_calls_never_share_a_key() {
        let calls = [
            ("f", vec![json!("ab")]),
            ("f", vec![json!("a"), json!("b")]),
            ("fa", vec![json!("b")]),
            ("f", vec![json!(["a", "b"])]),
            ("f", vec![json!({"a": "b"})]),
            ("f", vec![json!([["a"], "b"])]),
            ("f", vec![json!([["a", "b"]])]),
            ("f", vec![json!(1)]),
            ("f", vec![json!(1.0)]),
            ("f", vec![json!("1")]),
            ("f", vec![json!(-1)]),
            ("f", vec![json!(u64::MAX)]),
            ("f", vec![json!(true)]),
            ("f", vec![json!(false)]),
            ("f", vec![Value::Null]),
            ("f", vec![json!("")]),
            ("f", vec![json!([])]),
            ("f", vec![json!({})]),
            ("f", vec![]),
        ];
        for (i, (f, a)) in calls.iter().enumerate() {
            assert_eq!(
                bytes(f, a),
                bytes(f, a),
                "{f}{a:?}: the same call, the same key"
            );
            for (g, b) in &calls[i + 1..] {
                assert_ne!(bytes(f, a), bytes(g, b), "{f}{a:?} and {g}{b:?}");
            }
        }
    }

    #[test]
    fn a_result_is_named_by_address_and_kept_alive_by_its_entry() {
        let memo = CallMemo::default();
        let shape = Arc::new(json!({"labels": {"a": "b"}}));
        let equal = Arc::new((*shape).clone());
        let key = |r| {
            CallMemo::key(
                "f",
                &[Evaluated::Shared(Arc::clone(r)), Evaluated::from(&json!(1))],
            )
            .unwrap()
        };
        assert_eq!(key(&shape).bytes, key(&shape).bytes);
        // another result is another argument, even with the same content
        assert_ne!(key(&shape).bytes, key(&equal).bytes);
        let result = Arc::new(json!("predictor"));
        memo.insert(key(&shape), &result);
        memo.insert(key(&shape), &result);
        assert_eq!(memo.get(&key(&shape)), Some(result));
        assert_eq!(memo.get(&key(&equal)), None);
        // the entry holds the result it names: its address cannot be taken by another
        let weak = Arc::downgrade(&shape);
        drop(shape);
        assert!(weak.upgrade().is_some());
    }

    #[test]
    fn large_calls_are_not_remembered() {
        let big = Value::Array((0..MAX_ARG_NODES as i64).map(Value::from).collect());
        assert!(CallMemo::key("f", &[Evaluated::from(&big)]).is_none());
        let long = Value::String("x".repeat(MAX_KEY_BYTES));
        assert!(CallMemo::key("f", &[Evaluated::from(&long)]).is_none());
        let memo = CallMemo::default();
        let key = || CallMemo::key("f", &[Evaluated::from(&json!(1))]).unwrap();
        let result = Arc::new(Value::Array(
            (0..=MAX_RESULT_NODES as i64).map(Value::from).collect(),
        ));
        memo.insert(key(), &result);
        memo.insert(key(), &result);
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn a_full_memo_starts_over() {
        let memo = CallMemo::default();
        for i in 0..=CAPACITY as i64 {
            let a = json!(i);
            let result = Arc::new(a.clone());
            memo.insert(CallMemo::key("f", &[Evaluated::from(&a)]).unwrap(), &result);
            memo.insert(CallMemo::key("f", &[Evaluated::from(&a)]).unwrap(), &result);
        }
        assert_eq!(memo.len(), 1);
    }
}
