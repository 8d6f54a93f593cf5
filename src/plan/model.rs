//! Planning one AIMModel or AIMClusterModel (templates-models-caches.md §1): the image
//! metadata (from the spec, the cached status, or an `ImageMetadata` observation of
//! the registry), whether templates are expected, the names of the templates to
//! create, and the statuses of the templates that exist. The pack builds the
//! templates (`output … for AIMModel`) and maps the facts to conditions.

use crate::json_path::At as _;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::controller::{self, Controller, error, s};
use super::{Plan, Settings};
use crate::naming::{self, HashInput};
use crate::rules::RulePack;
use crate::rules::native::is_set;
use crate::snapshot::Snapshot;

/// Plans one model of either scope.
pub fn plan(snap: &Snapshot, pack: &RulePack, obj: &Value, now: &str, settings: &Settings) -> Plan {
    let kind = s(obj, "/kind");
    let cluster = kind == "AIMClusterModel";
    let mut c = Controller::new(
        pack,
        kind,
        if cluster { "cluster-model" } else { "model" },
        settings.explain,
    );
    let name = s(obj, "/metadata/name");
    let ns = if cluster {
        ""
    } else {
        s(obj, "/metadata/namespace")
    };
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let (rc_res, rc_configs) = controller::runtime_config(snap, obj, cluster);
    let secret_ns = if cluster {
        settings.operator_namespace.as_str()
    } else {
        ns
    };
    let metadata = image_metadata(snap, obj, secret_ns);
    let effective = spec
        .get("imageMetadata")
        .filter(|m| is_set(m))
        .or_else(|| obj.at("/status/imageMetadata").filter(|m| is_set(m)))
        .cloned()
        .unwrap_or(Value::Null);
    let custom_model = spec.get("modelSources").is_some_and(is_set);
    let custom_templates: Vec<Value> = spec
        .get("customTemplates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let deployments: Vec<Value> = effective
        .at("/model/recommendedDeployments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // §1.3
    let expects = if spec.at("/discovery/createServiceTemplates") == Some(&Value::Bool(false)) {
        "no"
    } else if custom_model {
        "yes"
    } else if effective.is_null() {
        "unknown"
    } else if !deployments.is_empty() || !custom_templates.is_empty() {
        "yes"
    } else {
        "no"
    };
    let image = s(&spec, "/image");
    let recommended: Vec<Value> = if custom_model {
        vec![]
    } else {
        deployments
            .iter()
            .map(|d| json!({"name": recommended_template_name(name, image, d), "deployment": d}))
            .collect()
    };
    let custom: Vec<Value> = if custom_templates.is_empty() {
        if custom_model {
            vec![json!({"name": custom_template_name(name, None, 0), "index": 0, "entry": null})]
        } else {
            vec![]
        }
    } else {
        custom_templates
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"name": custom_template_name(name, Some(e), i as i64), "index": i, "entry": e}))
            .collect()
    };
    // statuses of the templates of the same scope that name this model
    let template_kind = if cluster {
        "AIMClusterServiceTemplate"
    } else {
        "AIMServiceTemplate"
    };
    let existing: Vec<&Value> = snap
        .templates_for_model(ns, name)
        .filter(|t| s(t, "/kind") == template_kind)
        .map(|t| &**t)
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &existing {
        let bucket = match s(t, "/status/status") {
            "Ready" => "ready",
            "Progressing" | "Pending" => "progressing",
            "Degraded" | "Failed" => "failed",
            "NotAvailable" => "not_available",
            _ => "other",
        };
        *counts.entry(bucket).or_default() += 1;
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);

    let mut ctx = Map::new();
    ctx.insert("model".into(), obj.clone());
    ctx.insert("namespace".into(), json!(ns));
    ctx.insert(
        "scope".into(),
        json!(if cluster { "Cluster" } else { "Namespace" }),
    );
    ctx.insert("now".into(), json!(now));
    ctx.insert(
        "settings".into(),
        json!({"operator_namespace": settings.operator_namespace}),
    );
    ctx.insert("runtime_configs".into(), rc_configs);
    ctx.insert(
        "resolution".into(),
        json!({"runtime_config": rc_res, "image_metadata": metadata}),
    );
    ctx.insert("metadata".into(), effective);
    ctx.insert(
        "templates".into(),
        json!({
            "expects": expects,
            "custom_model": custom_model,
            "kind": template_kind,
            "recommended": recommended,
            "custom": custom,
            "existing": {
                "total": existing.len(),
                "ready": count("ready"),
                "progressing": count("progressing"),
                "failed": count("failed"),
                "not_available": count("not_available"),
            },
        }),
    );
    c.merges(&mut ctx);
    let ctx = Value::Object(ctx);
    let rc = ctx
        .at(if cluster {
            "/merged/cluster_model_runtime_config"
        } else {
            "/merged/model_runtime_config"
        })
        .cloned()
        .unwrap_or(Value::Null);
    let parts = c.status_parts(&ctx);
    let objects = c.outputs(&ctx, obj, &rc);

    // templates this model once created that are no longer planned are kept [ref]
    let uid = s(obj, "/metadata/uid");
    let planned: Vec<&str> = objects.iter().map(|o| s(o, "/metadata/name")).collect();
    for t in existing.iter().filter(|t| controller::owned_by(t, uid)) {
        if !planned.contains(&s(t, "/metadata/name")) && !objects.is_empty() {
            c.trace.notes.push(format!(
                "{} {} is no longer planned by this model; it is kept (templates are never deleted, only garbage-collected with the model)",
                template_kind,
                s(t, "/metadata/name")
            ));
        }
    }

    let mut fields = Map::new();
    fields.insert(
        "sourceType".into(),
        json!(if custom_model { "Custom" } else { "Image" }),
    );
    let fetched = &ctx["resolution"]["image_metadata"];
    if matches!(s(fetched, "/source"), "spec" | "observed") && is_set(&fetched["metadata"]) {
        fields.insert("imageMetadata".into(), fetched["metadata"].clone());
    }
    c.finish(obj, parts, objects, fields, now)
}

/// §1.1: where the image metadata comes from this round: `{source, image, metadata,
/// error}` with source `disabled`, `spec`, `status` (cached), `observed` (the
/// registry's labels, from an `ImageMetadata` observation) or `awaiting` (no
/// observation yet).
fn image_metadata(snap: &Snapshot, model: &Value, secret_ns: &str) -> Value {
    let spec = model.get("spec").cloned().unwrap_or(Value::Null);
    let image = s(&spec, "/image");
    let out = |source: &str, metadata: Value, err: Value| json!({"source": source, "image": image, "metadata": metadata, "error": err});
    if spec.at("/discovery/extractMetadata") == Some(&Value::Bool(false)) {
        return out("disabled", Value::Null, Value::Null);
    }
    if let Some(m) = spec.get("imageMetadata").filter(|m| is_set(m)) {
        return out("spec", m.clone(), Value::Null);
    }
    if let Some(m) = model.at("/status/imageMetadata").filter(|m| is_set(m)) {
        return out("status", m.clone(), Value::Null);
    }
    if let Err(e) = naming::parse_image(image.trim()) {
        return out(
            "registry",
            Value::Null,
            error(
                "Unknown",
                "UnknownError",
                format!("failed to parse image reference \"{image}\": {e}"),
            ),
        );
    }
    for secret in spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let secret = s(secret, "/name");
        if snap.get("Secret", secret_ns, secret).is_none() {
            return out(
                "registry",
                Value::Null,
                error(
                    "MissingUpstream",
                    "SecretNotFound",
                    format!("imagePullSecret \"{secret}\" not found in namespace \"{secret_ns}\""),
                ),
            );
        }
    }
    let Some(obs) = snap.image_metadata(image) else {
        return out("awaiting", Value::Null, Value::Null);
    };
    if let Some(e) = obs.get("error").filter(|e| is_set(e)) {
        return out(
            "registry",
            Value::Null,
            error(
                "Unknown",
                "UnknownError",
                format!(
                    "failed to fetch image \"{image}\": {}",
                    crate::rules::native::text(e)
                ),
            ),
        );
    }
    let labels: BTreeMap<String, String> = obs
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), crate::rules::native::text(v)))
                .collect()
        })
        .unwrap_or_default();
    match parse_image_labels(&labels) {
        Ok(m) => out("observed", m, Value::Null),
        Err(e) => out(
            "registry",
            Value::Null,
            error(
                "Unknown",
                "UnknownError",
                format!("failed to parse image labels: {e}"),
            ),
        ),
    }
}

/// api.md §5.3: the ImageMetadata of an image's labels (empty values omitted).
pub fn parse_image_labels(labels: &BTreeMap<String, String>) -> Result<Value, String> {
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
    let amd = |suffix: &str| {
        let new = get(&format!("com.amd.aim.{suffix}"));
        if new.is_empty() {
            get(&format!("org.amd.silogen.{suffix}")).to_string()
        } else {
            new.to_string()
        }
    };
    let mut oci = Map::new();
    for f in [
        "title",
        "description",
        "licenses",
        "vendor",
        "authors",
        "source",
        "documentation",
        "created",
        "revision",
        "version",
    ] {
        let v = get(&format!("org.opencontainers.image.{f}"));
        if !v.is_empty() {
            oci.insert(f.into(), json!(v));
        }
    }
    let mut model = Map::new();
    for (field, label) in [
        ("canonicalName", "model.canonicalName"),
        ("source", "model.source"),
        ("title", "title"),
        ("descriptionFull", "description.full"),
        ("releaseNotes", "release.notes"),
    ] {
        let v = amd(label);
        if !v.is_empty() {
            model.insert(field.into(), json!(v));
        }
    }
    for (field, label) in [
        ("tags", "model.tags"),
        ("versions", "model.versions"),
        ("variants", "model.variants"),
    ] {
        let v = amd(label);
        let items: Vec<&str> = v
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .collect();
        if !items.is_empty() {
            model.insert(field.into(), json!(items));
        }
    }
    let hf = amd("hfToken.required");
    if parse_go_bool(&hf) == Some(true) {
        model.insert("hfTokenRequired".into(), json!(true));
    }
    let deployments = amd("model.recommendedDeployments");
    if !deployments.is_empty() {
        let d = parse_recommended_deployments(&deployments)
            .map_err(|e| format!("failed to parse recommended deployments: {e}"))?;
        model.insert("recommendedDeployments".into(), Value::Array(d));
    }
    let mut out = Map::new();
    out.insert("model".into(), Value::Object(model));
    out.insert("oci".into(), Value::Object(oci));
    out.insert("originalLabels".into(), json!(labels));
    Ok(Value::Object(out))
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// §1.2: trim, `'` → `"`, wrap in `[…]` unless it starts with `[`, parse as a JSON array
/// of deployment objects (keys matched case-insensitively, as Go's decoder does).
pub fn parse_recommended_deployments(text: &str) -> Result<Vec<Value>, String> {
    let mut normalized = text.trim().replace('\'', "\"");
    if !normalized.starts_with('[') {
        normalized = format!("[{normalized}]");
    }
    let parsed: Value = serde_json::from_str(&normalized)
        .map_err(|e| format!("failed to unmarshal deployments as JSON array: {e}"))?;
    let Value::Array(items) = parsed else {
        return Err("failed to unmarshal deployments as JSON array: not an array".into());
    };
    let mut out = vec![];
    for item in items {
        let obj = match item {
            Value::Object(o) => o,
            Value::Null => Map::new(),
            other => {
                return Err(format!(
                    "failed to unmarshal deployments as JSON array: cannot unmarshal {other} into a deployment"
                ));
            }
        };
        let find = |key: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        };
        let mut d = Map::new();
        for key in [
            "gpuModel",
            "precision",
            "metric",
            "profileId",
            "description",
        ] {
            match find(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(v)) => {
                    if !v.is_empty() {
                        d.insert(key.into(), json!(v));
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "failed to unmarshal deployments as JSON array: {key} must be a string, got {other}"
                    ));
                }
            }
        }
        match find("gpuCount") {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_i64().filter(|n| i32::try_from(*n).is_ok()) {
                Some(0) => {}
                Some(n) => {
                    d.insert("gpuCount".into(), json!(n));
                }
                None => {
                    return Err(format!(
                        "failed to unmarshal deployments as JSON array: gpuCount must be an int32, got {v}"
                    ));
                }
            },
        }
        out.push(Value::Object(d));
    }
    Ok(out)
}

/// §1.4: template name for one recommended deployment.
pub fn recommended_template_name(model: &str, image: &str, d: &Value) -> String {
    let gpu = s(d, "/gpuModel");
    let count = d.get("gpuCount").and_then(Value::as_i64).unwrap_or(0);
    let metric = s(d, "/metric");
    let precision = s(d, "/precision");
    let mut suffix: Vec<String> = vec![];
    if count > 0 && !gpu.is_empty() {
        suffix.push(format!("{count}x-{gpu}"));
    } else if !gpu.is_empty() {
        suffix.push(gpu.to_string());
    } else if count > 0 {
        suffix.push(format!("x{count}"));
    }
    if !metric.is_empty() {
        suffix.push(
            match metric {
                "latency" => "lat",
                "throughput" => "thr",
                other => other,
            }
            .to_string(),
        );
    }
    if !precision.is_empty() {
        suffix.push(precision.to_string());
    }
    let mut hash = format!("{model}-{image}");
    if !gpu.is_empty() {
        hash.push_str(&format!("-{gpu}"));
    }
    if count > 0 {
        hash.push_str(&format!("-x{count}"));
    }
    if !metric.is_empty() {
        hash.push_str(&format!("-{metric}"));
    }
    if !precision.is_empty() {
        hash.push_str(&format!("-{precision}"));
    }
    let suffix = suffix.join("-");
    naming::derived_name(&[image, &suffix], Some(&[HashInput::Str(hash)]), 4, 63)
        .unwrap_or_default()
}

/// §1.5: template name for a custom template entry (`None`: the one auto-generated
/// template of a custom model without `customTemplates`).
pub fn custom_template_name(model: &str, entry: Option<&Value>, index: i64) -> String {
    let mut parts: Vec<String> = vec![model.to_string(), "custom".into()];
    let mut inputs: Vec<HashInput> = vec![model.into(), HashInput::Int(index)];
    if let Some(e) = entry {
        let alias = s(e, "/name");
        if !alias.is_empty() {
            parts.push(alias.to_string());
        }
        let precision = s(e, "/profile/precision");
        if !precision.is_empty() {
            parts.push(precision.to_string());
        }
        let gpu = e.at("/hardware/gpu").filter(|g| g.is_object());
        let gpu_model = gpu.map_or("", |g| s(g, "/model"));
        if !gpu_model.is_empty() {
            parts.push(gpu_model.to_string());
        }
        inputs.push(alias.into());
        if e.get("profile").is_some_and(|p| p.is_object()) {
            inputs.push(precision.into());
            inputs.push(s(e, "/profile/metric").into());
        }
        if let Some(g) = gpu {
            inputs.push(HashInput::Int(
                g.get("requests").and_then(Value::as_i64).unwrap_or(0),
            ));
            inputs.push(gpu_model.into());
        }
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    naming::derived_name(&parts, Some(&inputs), 8, 63).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommended_vector() {
        let d =
            json!({"gpuModel": "MI300X", "gpuCount": 1, "metric": "latency", "precision": "fp16"});
        assert_eq!(
            recommended_template_name(
                "test-model-auto-templates",
                "ghcr.io/silogen/aim-dummy:0.1.10",
                &d
            ),
            "ghcr-io-silogen-aim-dummy-0-1-10-1x-mi300x-lat-fp16-a16f"
        );
    }

    #[test]
    fn custom_vector() {
        assert_eq!(
            custom_template_name("auto-gen-template-test", None, 0),
            "auto-gen-template-test-custom-60ba3f14"
        );
    }

    #[test]
    fn deployments_label_forms() {
        let a = parse_recommended_deployments(
            "{'gpuModel': 'MI300X', 'gpuCount': 1, 'precision': 'fp8', 'metric': 'latency'}",
        )
        .unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0]["gpuModel"], "MI300X");
        let b = parse_recommended_deployments(
            r#"[{"gpumodel": "MI325X", "gpuCount": 8}, {"gpuModel": "MI300X"}]"#,
        )
        .unwrap();
        assert_eq!(b[0]["gpuModel"], "MI325X");
        assert_eq!(b[1].get("gpuCount"), None);
        assert!(parse_recommended_deployments("{not json").is_err());
        assert!(parse_recommended_deployments(r#"[{"gpuCount": "one"}]"#).is_err());
    }

    #[test]
    fn labels_new_prefix_wins() {
        let labels: BTreeMap<String, String> = [
            ("com.amd.aim.model.canonicalName", "Qwen/Qwen3-32B"),
            ("org.amd.silogen.model.canonicalName", "old"),
            ("org.amd.silogen.model.tags", "a, ,b"),
            ("org.opencontainers.image.version", "0.8.5"),
            ("com.amd.aim.hfToken.required", "yes"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = parse_image_labels(&labels).unwrap();
        assert_eq!(m["model"]["canonicalName"], "Qwen/Qwen3-32B");
        assert_eq!(m["model"]["tags"], json!(["a", "b"]));
        assert_eq!(m["oci"]["version"], "0.8.5");
        assert_eq!(m["model"].get("hfTokenRequired"), None);
    }
}
