//! The expected-document matcher of the test-case format (cli.md): maps match as
//! subsets, lists of named items match by key, `1` equals `"1"`.

use serde_json::Value;

/// Why an expected value does not match, as a field path and a description.
pub type Mismatch = (String, String);

/// Whether `want` matches `got`, or the first mismatch.
pub fn matches(want: &Value, got: &Value, path: &str) -> Result<(), Mismatch> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => matches(wv, gv, &p)?,
                    None => return Err((p, "missing".into())),
                }
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            let key = list_key(w);
            match key {
                Some(key) => {
                    for item in w {
                        let id = &item[key];
                        let p = format!("{path}[{key}={}]", scalar(id));
                        match g
                            .iter()
                            .find(|x| x.get(key).is_some_and(|v| scalar_eq(v, id)))
                        {
                            Some(found) => matches(item, found, &p)?,
                            None => return Err((p, "no such item".into())),
                        }
                    }
                    Ok(())
                }
                None => {
                    if w.len() != g.len() {
                        return Err((
                            path.into(),
                            format!("expected {} items, got {}", w.len(), g.len()),
                        ));
                    }
                    for (i, (a, b)) in w.iter().zip(g).enumerate() {
                        matches(a, b, &format!("{path}[{i}]"))?;
                    }
                    Ok(())
                }
            }
        }
        (w, g) if scalar_eq(w, g) => Ok(()),
        (w, g) => Err((
            path.into(),
            format!("expected {}, got {}", short(w), short(g)),
        )),
    }
}

fn list_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().all(Value::is_object) {
        return None;
    }
    ["name", "type"]
        .into_iter()
        .find(|k| items.iter().all(|i| i.get(*k).is_some()))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Scalars are equal when equal, or when a number and a string hold the same number.
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", &s[..s.floor_char_boundary(80)])
    } else {
        s
    }
}

/// The first output document an expected document matches (same apiVersion/kind),
/// or the closest mismatch among documents of that kind.
pub fn find<'a>(want: &Value, docs: &'a [Value]) -> Result<&'a Value, String> {
    let kind = want.get("kind");
    let api = want.get("apiVersion");
    let mut closest: Option<(String, Mismatch)> = None;
    for d in docs {
        if d.get("kind") != kind || (api.is_some() && d.get("apiVersion") != api) {
            continue;
        }
        match matches(want, d, "") {
            Ok(()) => return Ok(d),
            Err(m) => {
                let name = d.pointer("/metadata/name").map(scalar).unwrap_or_default();
                // prefer the mismatch on the document with the same name
                let same_name = want
                    .pointer("/metadata/name")
                    .is_some_and(|n| scalar(n) == name);
                if closest.is_none() || same_name {
                    closest = Some((name, m));
                }
            }
        }
    }
    let what = format!(
        "{} {}",
        kind.map(scalar).unwrap_or_default(),
        want.pointer("/metadata/name")
            .map(scalar)
            .unwrap_or_default()
    );
    Err(match closest {
        Some((name, (path, why))) => format!("{what}: {name}{path}: {why}"),
        None => format!("{what}: no output document of this kind"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_are_subsets_and_numbers_equal_strings() {
        assert!(matches(&json!({"a": 1}), &json!({"a": "1", "b": 2}), "").is_ok());
        assert_eq!(
            matches(&json!({"a": 2}), &json!({"a": 1}), "")
                .unwrap_err()
                .0,
            ".a"
        );
        assert_eq!(
            matches(&json!({"c": 1}), &json!({"a": 1}), "")
                .unwrap_err()
                .1,
            "missing"
        );
        assert!(matches(&json!({"a": "x"}), &json!({"a": "X"}), "").is_err());
    }

    #[test]
    fn named_lists_match_by_key_other_lists_by_position() {
        let got = json!([{"name": "a", "v": 1}, {"name": "b", "v": 2}]);
        assert!(matches(&json!([{"name": "b", "v": 2}]), &got, "").is_ok());
        assert!(matches(&json!([{"name": "c"}]), &got, "").is_err());
        let conds = json!([{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]);
        assert!(matches(&json!([{"type": "X", "status": "False"}]), &conds, "").is_ok());
        assert!(matches(&json!([1, 2]), &json!([1, 2, 3]), "").is_err());
        assert!(matches(&json!([1, 2]), &json!([1, 2]), "").is_ok());
    }
}
