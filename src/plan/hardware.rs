//! Hardware facts of a template (templates-models-caches.md §2.2, §2.7, §2.8): does it
//! need a GPU, is that GPU in the cluster's inventory (and with how much VRAM), the
//! node affinity that pins it there, and the resolved hardware written to its status.

use crate::json_path::At as _;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::gpu::{AMD_DEVICE_IDS, normalize_gpu_name};
use crate::snapshot::Snapshot;

/// VRAM of AMD GPUs when a node does not label it (§2.2 table), in GiB.
const VRAM_GIB: &[(&str, u64)] = &[
    ("MI355X", 288),
    ("MI350X", 288),
    ("MI325X", 256),
    ("MI308X", 128),
    ("MI300X", 192),
    ("MI300A", 128),
    ("MI250X", 128),
    ("MI210", 64),
    ("MI100", 32),
    ("V710", 32),
    ("W7900", 48),
    ("W7800", 32),
    ("W6900X", 32),
    ("W6800", 32),
    ("W6800X", 32),
    ("V620", 32),
    ("RX9070", 16),
    ("RX7900", 24),
    ("RX6900", 16),
    ("RX6800", 16),
];

const GIB: u64 = 1 << 30;

/// A VRAM label value in bytes: upper-cased; `G` suffix ×2³⁰, `T` ×2⁴⁰, no suffix =
/// bytes; anything else that is not digits reads as 0 (so `196608` is 196608 bytes).
pub fn parse_vram(label: &str) -> u64 {
    let up = label.trim().to_uppercase();
    let (digits, factor) = if let Some(d) = up.strip_suffix('G') {
        (d, GIB)
    } else if let Some(d) = up.strip_suffix('T') {
        (d, GIB << 10)
    } else {
        (up.as_str(), 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    digits
        .parse::<u64>()
        .map_or(0, |n| n.saturating_mul(factor))
}

/// VRAM of each inventory model: the node label of the first node seen, else the table.
pub fn inventory_vram(snap: &Snapshot) -> BTreeMap<String, u64> {
    snap.gpu_vram_labels()
        .iter()
        .map(|(model, label)| {
            let bytes = if label.is_empty() {
                VRAM_GIB
                    .iter()
                    .find(|(m, _)| m == model)
                    .map_or(0, |(_, g)| g * GIB)
            } else {
                parse_vram(label)
            };
            (model.clone(), bytes)
        })
        .collect()
}

/// Device IDs of every model in `models` (normalised names), ascending ([rec]).
fn device_ids<'a>(models: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let models: Vec<&str> = models.into_iter().collect();
    let mut ids: Vec<String> = AMD_DEVICE_IDS
        .iter()
        .filter(|(_, m)| models.contains(m))
        .map(|(id, _)| (*id).to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn gpu_spec(spec: &Value) -> Option<&Value> {
    spec.at("/hardware/gpu").filter(|g| g.is_object())
}

fn int(v: Option<&Value>) -> i64 {
    v.and_then(|x| {
        x.as_i64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    })
    .unwrap_or(0)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `minVram` of a GPU spec in bytes (0 when unset or zero).
fn min_vram(gpu: &Value) -> u64 {
    gpu.get("minVram")
        .map(crate::rules::native::text)
        .and_then(|q| crate::quantity::parse_quantity(&q))
        .map_or(0, |b| b.max(0.0) as u64)
}

/// The GPU facts of a template spec against the cluster (§2.2): what it requires,
/// what the inventory has, and whether the planning gate is open.
pub fn gpu_facts(spec: &Value, snap: &Snapshot) -> Value {
    let gpu = gpu_spec(spec);
    let requests = gpu.map_or(0, |g| int(g.get("requests")));
    let model = gpu.map_or("", |g| text(g, "model"));
    let required = gpu.is_some() && (requests > 0 || !model.trim().is_empty());
    let normalized = normalize_gpu_name(model);
    let vram = inventory_vram(snap);
    let inventory: Vec<&String> = vram.keys().collect();
    let min = gpu.map_or(0, min_vram);
    let sufficient: Vec<Value> = vram
        .iter()
        .filter(|(_, b)| **b >= min)
        .map(|(m, b)| json!({"model": m, "bytes": b}))
        .collect();
    let highest = vram
        .iter()
        .filter(|(_, b)| **b > 0)
        .fold(None::<(&String, u64)>, |best, (m, b)| match best {
            Some((_, hb)) if hb >= *b => best,
            _ => Some((m, *b)),
        })
        .map(|(m, b)| json!({"model": m, "bytes": b}));
    let in_inventory = !normalized.is_empty() && vram.contains_key(&normalized);
    let gate = !required || (normalized.is_empty() && !inventory.is_empty()) || in_inventory;
    json!({
        "required": required,
        "model": model,
        "normalized": normalized,
        "requests": requests,
        "min_vram": min,
        "inventory": inventory,
        "in_inventory": in_inventory,
        "sufficient_vram": sufficient,
        "highest_vram": highest,
        "gate": gate,
    })
}

/// §2.8: node affinity from the spec's GPU model or minimum VRAM; `Null` for none.
pub fn node_affinity(spec: &Value, snap: &Snapshot) -> Value {
    let Some(gpu) = gpu_spec(spec) else {
        return Value::Null;
    };
    let model = text(gpu, "model");
    let required = int(gpu.get("requests")) > 0 || !model.trim().is_empty();
    let min = min_vram(gpu);
    if !required || (model.is_empty() && min == 0) {
        return Value::Null;
    }
    let ids = if !model.is_empty() {
        let n = normalize_gpu_name(model);
        device_ids([n.as_str()])
    } else {
        let vram = inventory_vram(snap);
        device_ids(
            vram.iter()
                .filter(|(_, b)| **b >= min)
                .map(|(m, _)| m.as_str()),
        )
    };
    if ids.is_empty() {
        return Value::Null;
    }
    json!({
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{
                "matchExpressions": [{
                    "key": "amd.com/gpu.device-id",
                    "operator": "In",
                    "values": ids,
                }]
            }]
        }
    })
}

/// §2.7 `resolvedHardware`: the discovered GPU (when discovery ran) or the spec's;
/// `resourceName` and `minVram` always from the spec; `Null` when nothing resolves.
pub fn resolved_hardware(spec: &Value, discovered: Option<&Value>) -> Value {
    let gpu = gpu_spec(spec);
    let resource_name = gpu.map_or("", |g| text(g, "resourceName"));
    let (count, model) = match discovered {
        Some(meta) => (int(meta.get("gpuCount")), text(meta, "gpu").to_string()),
        None => (
            gpu.map_or(0, |g| int(g.get("requests"))),
            gpu.map_or("", |g| text(g, "model")).to_string(),
        ),
    };
    let mut out = serde_json::Map::new();
    if count > 0 || !model.is_empty() || !resource_name.is_empty() {
        let mut g = serde_json::Map::new();
        g.insert("requests".into(), json!(count));
        if !model.is_empty() {
            g.insert("model".into(), json!(model));
        }
        if !resource_name.is_empty() {
            g.insert("resourceName".into(), json!(resource_name));
        }
        if let Some(v) = gpu.and_then(|g| g.get("minVram")).filter(|v| !v.is_null()) {
            g.insert("minVram".into(), v.clone());
        }
        out.insert("gpu".into(), Value::Object(g));
    }
    if let Some(cpu) = spec.at("/hardware/cpu").filter(|c| c.is_object()) {
        out.insert("cpu".into(), cpu.clone());
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// §2.7 `hardwareSummary` of a resolved hardware block (`""` when there is none).
pub fn hardware_summary(hw: &Value) -> String {
    if hw.is_null() {
        return String::new();
    }
    if let Some(g) = hw.get("gpu").filter(|g| g.is_object()) {
        let n = int(g.get("requests"));
        let model = text(g, "model");
        if n > 0 || !model.is_empty() {
            let model = if model.is_empty() { "GPU" } else { model };
            return if n > 0 {
                format!("{n} x {model}")
            } else {
                model.to_string()
            };
        }
    }
    "CPU".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(nodes: &[&[(&str, &str)]]) -> Snapshot {
        Snapshot::new(nodes.iter().enumerate().map(|(i, labels)| {
            let l: serde_json::Map<String, Value> =
                labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("n{i}"), "labels": l}})
        }))
    }

    #[test]
    fn vram_strings() {
        assert_eq!(parse_vram("192G"), 192 * GIB);
        assert_eq!(parse_vram("1t"), 1024 * GIB);
        assert_eq!(parse_vram("196608"), 196608);
        assert_eq!(parse_vram("192Gi"), 0);
        assert_eq!(parse_vram(""), 0);
    }

    #[test]
    fn inventory_vram_label_then_table() {
        let s = snap(&[
            &[("amd.com/gpu.device-id", "74a1")],
            &[
                ("amd.com/gpu.device-id", "74a5"),
                ("amd.com/gpu.vram", "100G"),
            ],
        ]);
        let v = inventory_vram(&s);
        assert_eq!(v["MI300X"], 192 * GIB);
        assert_eq!(v["MI325X"], 100 * GIB);
    }

    #[test]
    fn gate_and_affinity() {
        let s = snap(&[&[("amd.com/gpu.device-id", "74a1")]]);
        let spec = json!({"hardware": {"gpu": {"requests": 1, "model": "mi300x"}}});
        let f = gpu_facts(&spec, &s);
        assert_eq!(f["gate"], true);
        let a = node_affinity(&spec, &s);
        assert_eq!(
            a.at("/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0/values"),
            Some(&json!(["74a1", "74a9", "74b5", "74bd"]))
        );
        let missing = json!({"hardware": {"gpu": {"requests": 1, "model": "MI355X"}}});
        assert_eq!(gpu_facts(&missing, &s)["gate"], false);
        let any = json!({"hardware": {"gpu": {"requests": 2}}});
        assert_eq!(gpu_facts(&any, &s)["gate"], true);
        assert_eq!(gpu_facts(&any, &snap(&[]))["gate"], false);
        let cpu = json!({"hardware": {"cpu": {"requests": "2"}}});
        assert_eq!(gpu_facts(&cpu, &snap(&[]))["gate"], true);
    }

    #[test]
    fn resolved_hardware_and_summary() {
        let spec = json!({"hardware": {"gpu": {"requests": 1, "model": "MI300X", "resourceName": "amd.com/gpu"}}});
        let hw = resolved_hardware(&spec, Some(&json!({"gpu": "MI325X", "gpuCount": 2})));
        assert_eq!(hw["gpu"]["model"], "MI325X");
        assert_eq!(hardware_summary(&hw), "2 x MI325X");
        assert_eq!(hardware_summary(&resolved_hardware(&json!({}), None)), "");
        let cpu = json!({"hardware": {"cpu": {"requests": "4"}}});
        assert_eq!(hardware_summary(&resolved_hardware(&cpu, None)), "CPU");
        let model_only = json!({"hardware": {"gpu": {"model": "MI300X"}}});
        assert_eq!(
            hardware_summary(&resolved_hardware(&model_only, None)),
            "MI300X"
        );
    }
}
