//! Field access by JSON pointer without allocating: serde_json's `pointer` unescapes
//! every token into a new string, which dominates planning hot paths.

use serde_json::{Map, Value};

/// The value at a JSON pointer (`/metadata/name`, `/spec/containers/0`).
pub fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(v);
    }
    let mut rest = pointer.strip_prefix('/')?;
    let mut cur = v;
    loop {
        let end = rest
            .bytes()
            .position(|b| b == b'/' || b == b'~')
            .unwrap_or(rest.len());
        if rest.as_bytes().get(end) == Some(&b'~') {
            // escaped tokens are rare: let serde_json unescape them
            return v.pointer(pointer);
        }
        // cut at an ASCII '/', so on a char boundary
        let token = &rest[..end];
        cur = match cur {
            Value::Object(m) => field(m, token)?,
            Value::Array(a) => a.get(index(token)?)?,
            _ => return None,
        };
        match rest.get(end + 1..) {
            Some(r) => rest = r,
            None => return Some(cur),
        }
    }
}

/// Maps up to this size are scanned rather than searched.
const SCAN: usize = 16;

/// The value of `key` in a map. serde_json's map is a B-tree, whose search compares
/// `key` with each key it passes, byte by byte (a libc call, and a read of that key's
/// bytes elsewhere on the heap); planning looks up thousands of fields in small maps,
/// so these are scanned comparing lengths first, and only keys as long as `key` are read.
pub fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() > SCAN {
        return map.get(key);
    }
    map.iter()
        .find(|(k, _)| k.len() == key.len() && k.as_bytes() == key.as_bytes())
        .map(|(_, v)| v)
}

/// An array index as serde_json reads one: digits, without a leading zero or sign.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// [`at`] as a method, in place of serde_json's allocating `Value::pointer`.
pub trait At {
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl At for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        at(self, pointer)
    }
}

/// The string at a JSON pointer, or `""`.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agrees_with_serde_pointer() {
        let v = json!({"a": {"b": [1, {"c": "x"}], "k~/": 2, "l/m": 3}});
        for p in [
            "", "/a", "/a/b/1/c", "/a/b/0", "/a/b/9", "/a/x", "/a/k~0~1", "/a/l~1m", "/a/b/c", "a",
            "/", "/a/", "//", "/a/b/01", "/a/b/-1", "/a/b/+1",
        ] {
            assert_eq!(at(&v, p), v.pointer(p), "{p}");
        }
        assert_eq!(str_at(&v, "/a/b/1/c"), "x");
    }

    #[test]
    fn field_finds_what_get_finds_in_small_and_large_maps() {
        for size in [0, 1, 5, SCAN, SCAN + 1, 100] {
            let map: Map<String, Value> = (0..size).map(|i| (format!("k{i}"), json!(i))).collect();
            for key in ["k0", "k1", "k4", "k15", "k16", "k99", "k", "k100", "", "x"] {
                assert_eq!(field(&map, key), map.get(key), "{key} in {size}");
            }
        }
    }
}
