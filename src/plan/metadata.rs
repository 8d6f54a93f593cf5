//! Metadata every produced object gets (outputs.md §2.2–2.3): labels propagated from
//! the parent, the controller labels, and the owner reference.

use crate::json_path::At as _;
use serde_json::{Value, json};

use crate::naming;
use crate::rules::native::text;

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.at(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Completes a built object: `ctl` is the controller name of outputs.md §2.1
/// (`service`, `model`, ...), `rc` the parent's merged runtime config (label
/// propagation patterns).
pub fn finish(mut obj: Value, parent: &Value, ctl: &str, owned: bool, rc: &Value) -> Value {
    let parent_labels = parent.at("/metadata/labels").and_then(Value::as_object);
    if !obj.at("/metadata/labels").is_some_and(Value::is_object) {
        obj["metadata"]["labels"] = json!({});
    }
    let patterns: Vec<String> = if rc.at("/labelPropagation/enabled") == Some(&Value::Bool(true)) {
        rc.at("/labelPropagation/match")
            .and_then(Value::as_array)
            .map(|m| m.iter().map(text).collect())
            .unwrap_or_default()
    } else {
        vec![]
    };
    let is_job = obj["kind"] == "Job";
    let mut added = serde_json::Map::new();
    if let Some(labels) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        for (k, v) in parent_labels.into_iter().flatten() {
            let propagate = k.starts_with("aim.eai.amd.com/")
                || patterns
                    .iter()
                    .any(|p| naming::label_glob_match(p, k) == Some(true));
            if propagate && !labels.contains_key(k) {
                let v = json!(v.as_str().unwrap_or_default());
                if is_job {
                    added.insert(k.clone(), v.clone());
                }
                labels.insert(k.clone(), v);
            }
        }
        let name_key = ["aim.eai.amd.com/", ctl, ".name"].concat();
        if !labels.contains_key(&name_key) {
            let v = json!(s(parent, "/metadata/name"));
            if is_job {
                added.insert(name_key.clone(), v.clone());
            }
            labels.insert(name_key, v);
        }
        labels
            .entry("app.kubernetes.io/managed-by")
            .or_insert_with(|| format!("aim-{ctl}-controller").into());
    }
    // Jobs: the same labels on the pod template, except managed-by
    if is_job && let Some(pod) = obj.pointer_mut("/spec/template/metadata") {
        if !pod.get("labels").is_some_and(Value::is_object) {
            pod["labels"] = json!({});
        }
        if let Some(pl) = pod["labels"].as_object_mut() {
            for (k, v) in added {
                pl.entry(k).or_insert(v);
            }
        }
    }
    if owned {
        obj["metadata"]["ownerReferences"] = Value::Array(vec![crate::plan::object([
            ("apiVersion", parent["apiVersion"].clone()),
            ("kind", parent["kind"].clone()),
            ("name", s(parent, "/metadata/name").into()),
            ("uid", s(parent, "/metadata/uid").into()),
            ("controller", true.into()),
        ])]);
    }
    obj
}
