//! The HTTPRoute path: `pathTemplate` rendered against the AIMService (outputs.md §9.4).

use crate::json_path::At as _;
use serde_json::Value;

use crate::naming::dns1123;

/// Longest path a route may carry.
const MAX_PATH: usize = 200;

/// The default path `/<namespace>/<uid>`, normalised (or `/`).
pub fn default_path(service: &Value) -> String {
    let ns = service
        .at("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uid = service
        .at("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    normalise(&format!("/{ns}/{uid}")).unwrap_or_else(|_| "/".into())
}

/// Renders a path template; an error names what could not be rendered.
pub fn render(template: &str, service: &Value) -> Result<String, String> {
    if template.trim().is_empty() {
        return Ok(default_path(service));
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("unclosed '{{' in path template {template:?}"));
        };
        let expr = after[..close].trim();
        if expr.contains('{') {
            return Err(format!("nested '{{' in path template {template:?}"));
        }
        out.push_str(&substitute(expr, service)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    normalise(&out)
}

fn quoted_key<'a>(expr: &'a str, prefix: &str) -> Option<&'a str> {
    let inner = expr
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

fn substitute(expr: &str, service: &Value) -> Result<String, String> {
    if let Some(key) = quoted_key(expr, ".metadata.labels") {
        let v = service
            .at("/metadata/labels")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str);
        return v
            .map(|v| dns1123(v.trim()))
            .ok_or_else(|| format!("label {key:?} not found"));
    }
    if let Some(key) = quoted_key(expr, ".metadata.annotations") {
        let v = service
            .at("/metadata/annotations")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str);
        return v
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("annotation {key:?} not found"));
    }
    let found = crate::jsonpath::query(service, expr)?;
    match found.as_slice() {
        [] => Err(format!("{expr:?} matched nothing")),
        [Value::Null] => Err(format!("{expr:?} is null")),
        [Value::String(s)] => Ok(dns1123(s.trim())),
        [Value::Object(_) | Value::Array(_)] => Err(format!("{expr:?} is not a scalar")),
        [other] => Ok(dns1123(other.to_string().trim())),
        many => Err(format!("{expr:?} matched {} values", many.len())),
    }
}

/// Trims, prefixes `/`, sanitises each segment, enforces the length limit.
pub fn normalise(path: &str) -> Result<String, String> {
    let p = path.trim();
    if p.is_empty() {
        return Err("path is empty".into());
    }
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let p = p.trim_end_matches('/');
    if p.len() > MAX_PATH {
        return Err(format!("path is longer than {MAX_PATH} characters"));
    }
    let segments: Vec<String> = p
        .split('/')
        .map(|s| dns1123(s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    let out = format!("/{}", segments.join("/"));
    if out.len() > MAX_PATH {
        return Err(format!("path is longer than {MAX_PATH} characters"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc() -> Value {
        json!({"metadata": {"namespace": "Testing", "name": "demo", "uid": "12345678-90ab",
            "labels": {"team": "platform", "aim.silogen.ai/workload-id": "Workload-42"},
            "annotations": {"route.suffix": "Team-A/B"}},
            "status": {"resolvedModel": {"name": "Meta/Llama-3-8B"}}})
    }

    #[test]
    fn spec_examples_render() {
        assert_eq!(render("", &svc()).unwrap(), "/testing/12345678-90ab");
        assert_eq!(
            render(
                "/{.metadata.namespace}/{.metadata.labels['aim.silogen.ai/workload-id']}/",
                &svc()
            )
            .unwrap(),
            "/testing/workload-42"
        );
        assert_eq!(
            render("/{.metadata.annotations['route.suffix']}", &svc()).unwrap(),
            "/team-a/b"
        );
        assert_eq!(
            render(
                "/{.metadata.namespace}/{.status.resolvedModel.name}",
                &svc()
            )
            .unwrap(),
            "/testing/meta-llama-3-8b"
        );
    }

    #[test]
    fn failures_are_errors() {
        assert!(
            render("/{.metadata.labels['missing']}", &svc())
                .unwrap_err()
                .contains("missing")
        );
        let long = "a".repeat(63);
        let mut s = svc();
        s["metadata"]["labels"]["l"] = json!(long);
        assert!(render("/{.metadata.labels['l']}/{.metadata.labels['l']}/{.metadata.labels['l']}/{.metadata.labels['l']}", &s).is_err());
        assert!(render("/{.metadata.namespace", &svc()).is_err());
    }
}
