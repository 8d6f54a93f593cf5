//! What the API server's schema validation would reject (patterns, bounds, enums,
//! closed objects), for states that never went through an API server (dry-run).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::AimKind;

/// The CRD schema as a JSON Schema validator input: `x-kubernetes-*` keys are ignored by
/// JSON Schema anyway; objects with declared properties are closed (what the API server
/// would prune, this test rejects).
pub fn as_json_schema(schema: &Value, root: bool) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in object {
        let converted = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(k, v)| (k.clone(), as_json_schema(v, false)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" => as_json_schema(value, false),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    let preserve = object.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if !root && !preserve && object.contains_key("properties") {
        out.insert("additionalProperties".into(), json!(false));
    }
    Value::Object(out)
}

/// Every violation of the kind's CRD schema, as `<path>: <message>`.
pub fn violations(kind: AimKind, value: &Value) -> Vec<String> {
    static VALIDATORS: OnceLock<HashMap<AimKind, Option<jsonschema::Validator>>> = OnceLock::new();
    let all = VALIDATORS.get_or_init(|| validators(|schema| as_json_schema(schema, true)));
    check(all.get(&kind).and_then(Option::as_ref), value, "")
}

/// Every violation of the kind's CRD schema by a `spec`, as `/spec<path>: <message>`:
/// what a planner checks of the object it plans (its status is the controller's own).
pub fn spec_violations(kind: AimKind, spec: &Value) -> Vec<String> {
    static VALIDATORS: OnceLock<HashMap<AimKind, Option<jsonschema::Validator>>> = OnceLock::new();
    let all = VALIDATORS
        .get_or_init(|| validators(|schema| as_json_schema(&schema["properties"]["spec"], false)));
    check(all.get(&kind).and_then(Option::as_ref), spec, "/spec")
}

fn validators(
    schema_of: impl Fn(&Value) -> Value,
) -> HashMap<AimKind, Option<jsonschema::Validator>> {
    AimKind::ALL
        .into_iter()
        .map(|k| (k, jsonschema::validator_for(&schema_of(k.schema())).ok()))
        .collect()
}

fn check(validator: Option<&jsonschema::Validator>, value: &Value, prefix: &str) -> Vec<String> {
    match validator {
        // the common case: `is_valid` stops at the first error and builds none
        Some(v) if v.is_valid(value) => vec![],
        Some(v) => v
            .iter_errors(value)
            .map(|e| format!("{prefix}{}: {e}", e.instance_path()))
            .collect(),
        None => vec![],
    }
}
