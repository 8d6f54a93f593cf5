//! Template discovery (templates-models-caches.md §2.4–§2.6): the discovery Job's
//! name, the spec hash that resets the backoff, the backoff itself, and the parsing of
//! the discovery output (the log of the Job's `discovery` container, taken from a
//! `PodLog` observation).

use crate::json_path::At as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::controller::s;

fn sha_hex(input: &str, bytes: usize) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gpu_part(spec: &Value) -> String {
    match spec.at("/hardware/gpu").filter(|g| g.is_object()) {
        Some(g) => format!(
            "{}{}",
            s(g, "/model"),
            g.get("requests").and_then(Value::as_i64).unwrap_or(0)
        ),
        None => String::new(),
    }
}

/// §2.4: `discover-<template, first 45 chars>-<8 hex>`; `env` is the template's env
/// (namespaced templates only), `model` the resolved model.
pub fn job_name(template: &Value, model: &Value, env: &Value) -> String {
    let spec = template.get("spec").cloned().unwrap_or(Value::Null);
    let mut h = String::new();
    h.push_str(s(&spec, "/modelName"));
    h.push_str(s(model, "/spec/image"));
    h.push_str(s(model, "/spec/serviceAccountName"));
    for e in env.as_array().into_iter().flatten() {
        h.push_str(s(e, "/name"));
        h.push_str(s(e, "/value"));
    }
    for secret in model
        .at("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        h.push_str(s(secret, "/name"));
    }
    h.push_str(s(&spec, "/metric"));
    h.push_str(s(&spec, "/precision"));
    h.push_str(&gpu_part(&spec));
    h.push_str(s(&spec, "/profileId"));
    let name = s(template, "/metadata/name");
    let cut: String = name.chars().take(45).collect();
    let cut = if name.len() > 45 {
        // byte cut as the reference does, kept on a character boundary
        let mut end = 45;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name[..end].to_string()
    } else {
        cut
    };
    format!("discover-{cut}-{}", sha_hex(&h, 4))
}

/// §2.6: 16 hex characters over the fields that make a new discovery worthwhile.
pub fn spec_hash(template: &Value, image: &str) -> String {
    let spec = template.get("spec").cloned().unwrap_or(Value::Null);
    let mut h = String::new();
    h.push_str(s(&spec, "/modelName"));
    h.push_str(image);
    h.push_str(s(&spec, "/metric"));
    h.push_str(s(&spec, "/precision"));
    h.push_str(&gpu_part(&spec));
    h.push_str(s(&spec, "/profileId"));
    sha_hex(&h, 8)
}

/// Backoff after `attempts` failures: min(60 s × 2^(attempts−1), 3600 s).
pub fn backoff_seconds(attempts: i64) -> i64 {
    if attempts <= 0 {
        return 0;
    }
    let exp = (attempts - 1).min(20) as u32;
    (60i64 << exp).min(3600)
}

/// The parsed discovery output: `{profile, modelSources}` or an error text.
pub fn parse_output(log: &str) -> Result<Value, String> {
    let results = parse_results(log)?;
    let first = results
        .into_iter()
        .next()
        .ok_or_else(|| "discovery output contains empty array".to_string())?;
    let first = match first {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => return Err(format!("discovery result is not an object: {other}")),
    };
    let profile = first.get("profile").cloned().unwrap_or(Value::Null);
    let meta = profile.get("metadata").cloned().unwrap_or(Value::Null);
    let text = |v: &Value, k: &str| -> Result<String, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(x)) => Ok(x.clone()),
            Some(other) => Err(format!("profile field {k} is not a string: {other}")),
        }
    };
    let gpu_count = match meta.get("gpu_count") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| format!("profile gpu_count is not an int32: {v}"))?,
    };
    let mut metadata = Map::new();
    for (out, key) in [
        ("engine", "engine"),
        ("gpu", "gpu"),
        ("metric", "metric"),
        ("precision", "precision"),
        ("type", "type"),
    ] {
        let v = text(&meta, key)?;
        if !v.is_empty() {
            metadata.insert(out.into(), json!(v));
        }
    }
    if gpu_count != 0 {
        metadata.insert("gpuCount".into(), json!(gpu_count));
    }
    let mut p = Map::new();
    let engine_args = profile.get("engine_args").cloned().unwrap_or(Value::Null);
    if !engine_args.is_null() && !engine_args.is_object() {
        return Err(format!(
            "profile engine_args is not an object: {engine_args}"
        ));
    }
    // the reference marshals a nil map as `null`: the field is then absent
    if !engine_args.is_null() {
        p.insert("engine_args".into(), engine_args);
    }
    match profile.get("env_vars") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            if m.values().any(|v| !v.is_string()) {
                return Err("profile env_vars must map strings to strings".into());
            }
            p.insert("env_vars".into(), Value::Object(m.clone()));
        }
        Some(other) => return Err(format!("profile env_vars is not a map: {other}")),
    }
    p.insert("metadata".into(), Value::Object(metadata));
    let mut sources = vec![];
    for m in first
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let size_gb = match m.get("size_gb") {
            None | Some(Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .ok_or_else(|| format!("model size_gb is not a number: {v}"))?,
        };
        let bytes = (size_gb * 1024.0 * 1024.0 * 1024.0) as i64;
        sources.push(json!({
            "modelId": text(m, "name")?,
            "sourceUri": text(m, "source")?,
            "size": binary_quantity(bytes),
        }));
    }
    Ok(json!({"profile": Value::Object(p), "modelSources": sources}))
}

/// The whole log as a JSON array, else the last `]` and, moving backwards, the nearest
/// `[` from which the slice parses as a non-empty array of results.
fn parse_results(log: &str) -> Result<Vec<Value>, String> {
    if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(log) {
        return Ok(a);
    }
    let bytes = log.as_bytes();
    let Some(end) = bytes.iter().rposition(|b| *b == b']') else {
        return Err("failed to parse discovery JSON: no valid JSON array found in logs".into());
    };
    for start in (0..end).rev() {
        if bytes[start] != b'[' {
            continue;
        }
        if let Ok(Value::Array(a)) = serde_json::from_slice::<Value>(&bytes[start..=end])
            && !a.is_empty()
            && a.iter().all(|r| r.is_object() || r.is_null())
        {
            return Ok(a);
        }
    }
    Err("failed to parse discovery JSON: no valid JSON array found in logs".into())
}

/// A byte count as Kubernetes writes a binary-SI quantity (`512Mi`, `1Gi`, `1500`).
pub fn binary_quantity(bytes: i64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    let mut v = bytes;
    let mut unit = 0;
    while v % 1024 == 0 && unit < 6 {
        v /= 1024;
        unit += 1;
    }
    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][unit];
    format!("{v}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_name_vector() {
        let t = json!({"metadata": {"name": "test-template"},
            "spec": {"modelName": "test-model", "metric": "latency", "precision": "fp16",
                     "hardware": {"gpu": {"model": "MI300X", "requests": 1}}}});
        let m = json!({"spec": {"image": "ghcr.io/silogen/aim-dummy:0.1.8"}});
        assert_eq!(
            job_name(&t, &m, &Value::Null),
            "discover-test-template-8f880ab6"
        );
        assert_eq!(spec_hash(&t, "ghcr.io/silogen/aim-dummy:0.1.8").len(), 16);
    }

    #[test]
    fn backoff() {
        assert_eq!(backoff_seconds(0), 0);
        assert_eq!(backoff_seconds(1), 60);
        assert_eq!(backoff_seconds(3), 240);
        assert_eq!(backoff_seconds(10), 3600);
    }

    #[test]
    fn output_parsing() {
        let log = r#"INFO starting
[{"filename": "p.yaml", "profile": {"model": "m", "metadata": {"engine": "vllm", "gpu": "MI300X", "precision": "fp8", "gpu_count": 1, "metric": "latency", "type": "optimized"}, "engine_args": {"tp": 1}, "env_vars": {"A": "1"}},
  "models": [{"name": "Qwen/Qwen3-32B", "source": "hf://Qwen/Qwen3-32B", "size_gb": 0.5}]}]
done"#;
        let p = parse_output(log).unwrap();
        assert_eq!(p["profile"]["metadata"]["gpuCount"], 1);
        assert_eq!(p["modelSources"][0]["size"], "512Mi");
        assert!(parse_output("no json here").is_err());
        assert!(parse_output("[]").is_err());
    }

    #[test]
    fn quantities() {
        assert_eq!(binary_quantity(536870912), "512Mi");
        assert_eq!(binary_quantity(1073741824), "1Gi");
        assert_eq!(binary_quantity(1500), "1500");
    }
}
