//! Kubernetes-style JSONPath (`.metadata.labels['k']`) over JSON objects.

use jsonpath_rust::JsonPath;
use serde_json::Value;

/// All matches of a Kubernetes JSONPath expression (`{}` braces optional; a leading
/// `.` is relative to the root); `Err` when the expression does not parse.
pub fn query<'a>(root: &'a Value, expr: &str) -> Result<Vec<&'a Value>, String> {
    let e = expr.trim();
    let e = e
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(e)
        .trim();
    let path = if e.starts_with('$') {
        e.to_string()
    } else if e.starts_with('.') || e.starts_with('[') {
        format!("${e}")
    } else {
        format!("$.{e}")
    };
    root.query(&path)
        .map_err(|err| format!("invalid JSONPath {expr:?}: {err}"))
}

/// The single value an expression selects, or `None` for zero, several or an error.
pub fn query_one(root: &Value, expr: &str) -> Option<Value> {
    match query(root, expr).ok()?.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubernetes_paths_select_fields_and_quoted_keys() {
        let v = json!({"metadata": {"name": "demo", "labels": {"team.io/x": "A"}}});
        assert_eq!(query_one(&v, ".metadata.name"), Some(json!("demo")));
        assert_eq!(
            query_one(&v, "{.metadata.labels['team.io/x']}"),
            Some(json!("A"))
        );
        assert_eq!(query_one(&v, ".metadata.missing"), None);
        assert!(query(&v, ".metadata[").is_err());
    }
}
