//! Cluster GPU inventory from node labels and GPU-name normalisation
//! (service-reconcile.md §6.3).
//!
//! Template auto-selection drops templates whose GPU is absent from the cluster; these
//! rules decide what "present" means, so they must read the same labels in the same
//! order as the reference and compare names through the same normalisation.

use std::collections::{BTreeMap, BTreeSet};

use crate::naming::{go_lower_str, go_upper_str};

/// PCI device ID → commercial model, for the labels the AMD GPU labeller writes.
pub const AMD_DEVICE_IDS: &[(&str, &str)] = &[
    // Instinct
    ("738c", "MI100"),
    ("738e", "MI100"),
    ("7408", "MI250X"),
    ("740c", "MI250X"),
    ("740f", "MI210"),
    ("7410", "MI210"),
    ("74a0", "MI300A"),
    ("74a1", "MI300X"),
    ("74a2", "MI308X"),
    ("74a5", "MI325X"),
    ("74a8", "MI308X"),
    ("74a9", "MI300X"),
    ("74b5", "MI300X"),
    ("74b6", "MI308X"),
    ("74b9", "MI325X"),
    ("74bd", "MI300X"),
    ("75a0", "MI350X"),
    ("75a3", "MI355X"),
    ("75b0", "MI350X"),
    ("75b3", "MI355X"),
    // Radeon Pro
    ("7460", "V710"),
    ("7461", "V710"),
    ("7448", "W7900"),
    ("744a", "W7900"),
    ("7449", "W7800"),
    ("745e", "W7800"),
    ("73a2", "W6900X"),
    ("73a3", "W6800"),
    ("73ab", "W6800X"),
    ("73a1", "V620"),
    ("73ae", "V620"),
    // Radeon
    ("7550", "RX9070"),
    ("744c", "RX7900"),
    ("73af", "RX6900"),
    ("73bf", "RX6800"),
];

const DEVICE_ID: &str = "amd.com/gpu.device-id";
const DEVICE_ID_BETA: &str = "beta.amd.com/gpu.device-id";
const FAMILY: &str = "amd.com/gpu.family";
const FAMILY_BETA: &str = "beta.amd.com/gpu.family";

/// Model name for a device ID (`0x` prefix and case ignored); an unknown ID `xyz`
/// becomes `AMD-XYZ` so the node still counts as "has some AMD GPU".
pub fn device_id_to_model(device_id: &str) -> String {
    let lower = go_lower_str(device_id);
    let id = lower.strip_prefix("0x").unwrap_or(&lower);
    AMD_DEVICE_IDS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, model)| (*model).to_string())
        .unwrap_or_else(|| format!("AMD-{}", go_upper_str(id)))
}

/// A model-like token: `^(MI|…|GRID)?[A-Z]*[0-9]+[A-Z0-9]*$`, i.e. ASCII upper-case
/// letters and digits with at least one digit (the optional prefix group is subsumed by
/// `[A-Z]*`).
fn is_model_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_digit())
}

/// Whether `name` is already canonical (`normalize_gpu_name(name) == name`), checked
/// without allocating: the common case in selection.
pub fn is_normalized(name: &str) -> bool {
    is_model_token(name) && !name.starts_with("INSTINCT")
}

/// Canonical GPU name used for every GPU comparison, so `mi300x`, `Instinct-MI300X`
/// and `MI300X (rev 2)` all compare equal.
pub fn normalize_gpu_name(name: &str) -> String {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return String::new();
    }
    let upper = go_upper_str(&trimmed.replace('_', "-"));
    let tokens: Vec<&str> = upper
        .split(['-', ' ', '/', ':'])
        .filter(|t| !t.is_empty())
        .collect();
    for token in &tokens {
        let t = token.trim();
        if t.is_empty() || t == "AMD" || t == "INSTINCT" {
            continue;
        }
        if is_model_token(t) {
            return t.strip_prefix("INSTINCT").unwrap_or(t).to_string();
        }
    }
    match tokens.first() {
        Some(first) => (*first).to_string(),
        None => upper,
    }
}

/// First of the exact label keys with a non-blank value (trimmed).
fn label_value<'a>(labels: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| labels.get(*k))
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
}

/// Suffix of the first key (per prefix, in key order) under `<prefix>.` whose value is
/// neither blank nor `0` — the count-encoded label form (`…device-id.74a1=8`).
fn label_suffix<'a>(labels: &'a BTreeMap<String, String>, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|prefix| {
        labels.iter().find_map(|(key, value)| {
            let suffix = key.strip_prefix(prefix)?.strip_prefix('.')?;
            let v = value.trim();
            (!v.is_empty() && v != "0" && !suffix.is_empty()).then_some(suffix)
        })
    })
}

/// GPU model of one node: device-ID label, count-encoded device-ID label, family label,
/// count-encoded family label — first rule that yields a value wins.
pub fn gpu_model_from_node_labels(labels: &BTreeMap<String, String>) -> Option<String> {
    if let Some(id) = label_value(labels, &[DEVICE_ID, DEVICE_ID_BETA]) {
        return Some(device_id_to_model(id));
    }
    if let Some(id) = label_suffix(labels, &[DEVICE_ID, DEVICE_ID_BETA]) {
        return Some(device_id_to_model(id));
    }
    if let Some(family) = label_value(labels, &[FAMILY, FAMILY_BETA]) {
        return Some(normalize_gpu_name(family));
    }
    label_suffix(labels, &[FAMILY, FAMILY_BETA]).map(normalize_gpu_name)
}

/// Distinct GPU models of all nodes (nodes without GPU labels contribute nothing).
/// Names are as derived per node; compare them through [`normalize_gpu_name`].
pub fn inventory<'a, I>(nodes: I) -> BTreeSet<String>
where
    I: IntoIterator<Item = &'a BTreeMap<String, String>>,
{
    nodes
        .into_iter()
        .filter_map(gpu_model_from_node_labels)
        .filter(|m| !m.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn normalisation_spec_examples() {
        assert_eq!(normalize_gpu_name("mi300x"), "MI300X");
        assert_eq!(normalize_gpu_name("Instinct-MI325X"), "MI325X");
        assert_eq!(normalize_gpu_name("MI300X (rev 2)"), "MI300X");
        assert_eq!(normalize_gpu_name("RX7900-XTX"), "RX7900");
    }

    #[test]
    fn normalisation_edge_cases() {
        assert_eq!(normalize_gpu_name(""), "");
        assert_eq!(normalize_gpu_name("   "), "");
        assert_eq!(normalize_gpu_name("AMD Instinct MI300X"), "MI300X");
        assert_eq!(normalize_gpu_name("amd_instinct_mi250x"), "MI250X");
        assert_eq!(normalize_gpu_name("InstinctMI300X"), "MI300X");
        assert_eq!(normalize_gpu_name("AMD/MI210:x"), "MI210");
        assert_eq!(normalize_gpu_name("gfx942"), "GFX942");
        // No model-like token: first token, even AMD.
        assert_eq!(normalize_gpu_name("AMD-XYZ"), "AMD");
        assert_eq!(normalize_gpu_name("AI"), "AI");
        // Only separators: upper-cased input.
        assert_eq!(normalize_gpu_name(" -/- "), "-/-");
        // Non-ASCII letters never satisfy the ASCII classes.
        assert_eq!(normalize_gpu_name("é300 mi300x"), "MI300X");
    }

    #[test]
    fn device_ids() {
        assert_eq!(device_id_to_model("74a1"), "MI300X");
        assert_eq!(device_id_to_model("0x74A1"), "MI300X");
        assert_eq!(device_id_to_model("75b3"), "MI355X");
        assert_eq!(device_id_to_model("73bf"), "RX6800");
        assert_eq!(device_id_to_model("xyz"), "AMD-XYZ");
        assert_eq!(device_id_to_model("0xABCD"), "AMD-ABCD");
        assert_eq!(AMD_DEVICE_IDS.len(), 35);
        let distinct: BTreeSet<_> = AMD_DEVICE_IDS.iter().map(|(id, _)| id).collect();
        assert_eq!(distinct.len(), AMD_DEVICE_IDS.len());
    }

    #[test]
    fn rule_1_device_id_label_wins() {
        let l = labels(&[
            ("amd.com/gpu.device-id", " 74a5 "),
            ("beta.amd.com/gpu.device-id", "74a1"),
            ("amd.com/gpu.family", "AI"),
        ]);
        assert_eq!(gpu_model_from_node_labels(&l).as_deref(), Some("MI325X"));
        let beta = labels(&[
            ("amd.com/gpu.device-id", "  "),
            ("beta.amd.com/gpu.device-id", "74a1"),
        ]);
        assert_eq!(gpu_model_from_node_labels(&beta).as_deref(), Some("MI300X"));
    }

    #[test]
    fn rule_2_count_encoded_device_id() {
        let l = labels(&[
            ("amd.com/gpu.device-id.74a0", "0"),
            ("amd.com/gpu.device-id.74b9", "8"),
            ("amd.com/gpu.family", "MI300X"),
        ]);
        assert_eq!(gpu_model_from_node_labels(&l).as_deref(), Some("MI325X"));
        let beta = labels(&[("beta.amd.com/gpu.device-id.75a0", "4")]);
        assert_eq!(gpu_model_from_node_labels(&beta).as_deref(), Some("MI350X"));
        let empty_suffix = labels(&[("amd.com/gpu.device-id.", "4")]);
        assert_eq!(gpu_model_from_node_labels(&empty_suffix), None);
    }

    #[test]
    fn rule_3_and_4_family() {
        let l = labels(&[("amd.com/gpu.family", "instinct_mi300x")]);
        assert_eq!(gpu_model_from_node_labels(&l).as_deref(), Some("MI300X"));
        let beta = labels(&[("beta.amd.com/gpu.family", "AI")]);
        assert_eq!(gpu_model_from_node_labels(&beta).as_deref(), Some("AI"));
        let counted = labels(&[
            ("amd.com/gpu.family.AI", ""),
            ("beta.amd.com/gpu.family.mi210", "2"),
        ]);
        assert_eq!(
            gpu_model_from_node_labels(&counted).as_deref(),
            Some("MI210")
        );
        let none = labels(&[
            ("kubernetes.io/hostname", "n1"),
            ("amd.com/gpu.family.AI", "0"),
        ]);
        assert_eq!(gpu_model_from_node_labels(&none), None);
    }

    #[test]
    fn inventory_is_distinct_set() {
        let nodes = [
            labels(&[("amd.com/gpu.device-id", "74a1")]),
            labels(&[("amd.com/gpu.device-id", "74b5")]),
            labels(&[("amd.com/gpu.family", "MI325X")]),
            labels(&[("kubernetes.io/os", "linux")]),
            labels(&[("amd.com/gpu.device-id", "dead")]),
        ];
        let inv = inventory(&nodes);
        let expected: BTreeSet<String> = ["AMD-DEAD", "MI300X", "MI325X"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(inv, expected);
        assert!(inventory(std::iter::empty()).is_empty());
    }

    #[test]
    fn canonical_names_are_recognised_without_normalising() {
        // a sufficient test: whatever it accepts normalises to itself
        for name in ["MI300X", "MI325X", "RX7900", "V620"] {
            assert!(is_normalized(name), "{name}");
            assert_eq!(normalize_gpu_name(name), name);
        }
        for name in ["mi300x", "INSTINCTMI300X", "MI300X ", "", "AMD-XYZ", "AMD"] {
            assert!(!is_normalized(name), "{name:?}");
        }
    }
}
