//! Field access by JSON pointer without allocating: serde_json's `pointer` unescapes
//! every token into a new string, which dominates planning hot paths.

use serde_json::Value;

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
            Value::Object(m) => m.get(token)?,
            Value::Array(a) => a.get(index(token)?)?,
            _ => return None,
        };
        match rest.get(end + 1..) {
            Some(r) => rest = r,
            None => return Some(cur),
        }
    }
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
}
