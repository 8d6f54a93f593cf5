//! The foundation: the CRDs of `crds/` install on a Kubernetes API, every seed
//! manifest of `tests/fixtures/seeds/` is accepted as written (nothing pruned), and
//! the API server rejects what the schemas forbid.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::harness::{Cluster, crd_files, repo};

/// The kinds of api.md §1: (kind, plural, shortName, namespaced).
const AIM_KINDS: [(&str, &str, &str, bool); 10] = [
    ("AIMService", "aimservices", "aimsvc", true),
    ("AIMModel", "aimmodels", "aimmdl", true),
    ("AIMClusterModel", "aimclustermodels", "aimclmdl", false),
    ("AIMServiceTemplate", "aimservicetemplates", "aimtpl", true),
    (
        "AIMClusterServiceTemplate",
        "aimclusterservicetemplates",
        "aimcltpl",
        false,
    ),
    ("AIMTemplateCache", "aimtemplatecaches", "aimtc", true),
    ("AIMArtifact", "aimartifacts", "aimart", true),
    ("AIMRuntimeConfig", "aimruntimeconfigs", "aimrc", true),
    (
        "AIMClusterRuntimeConfig",
        "aimclusterruntimeconfigs",
        "aimclrc",
        false,
    ),
    (
        "AIMClusterModelSource",
        "aimclustermodelsources",
        "aimclsrc",
        false,
    ),
];

const API_VERSION: &str = "aim.eai.amd.com/v1alpha1";

fn plural_of(kind: &str) -> &'static str {
    AIM_KINDS
        .iter()
        .find(|(k, ..)| *k == kind)
        .map(|(_, plural, ..)| *plural)
        .unwrap_or_else(|| panic!("{kind} is not an AIM kind"))
}

/// Every document of a YAML file, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let yaml = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

fn seed_files() -> Vec<PathBuf> {
    let dir = repo().join("tests/fixtures/seeds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seed manifests in {}", dir.display());
    files
}

/// Where `expected` is not contained in `actual` (maps as subsets, lists item by item
/// with equal length, scalars equal), as `path: reason` lines.
fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                let here = format!("{path}.{key}");
                match have.get(key) {
                    Some(got) => differences(value, got, &here, out),
                    None => out.push(format!("{here}: missing (pruned?)")),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => {
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                differences(w, h, &format!("{path}[{i}]"), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, found {actual}")),
    }
}

#[test]
fn crds_install_and_every_seed_manifest_applies() {
    let cluster = Cluster::without_aim_crds();

    // 1. The CRD files: one per kind, accepted by server-side apply, established.
    let files: BTreeSet<String> = crd_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = AIM_KINDS
        .iter()
        .map(|(_, plural, ..)| format!("{plural}.aim.eai.amd.com.yaml"))
        .collect();
    assert_eq!(files, expected, "crds/ must hold one CRD file per AIM kind");
    cluster.apply_crds();
    // Applying the same files again (an upgrade with no change) conflicts with nothing.
    cluster
        .kubectl(&[
            "apply",
            "--server-side",
            "-f",
            repo().join("crds").to_str().unwrap(),
        ])
        .ok();

    let resources = cluster
        .kubectl(&[
            "api-resources",
            "--api-group=aim.eai.amd.com",
            "-o",
            "wide",
            "--no-headers",
        ])
        .ok()
        .stdout;
    for (kind, plural, short_name, namespaced) in AIM_KINDS {
        let line = resources
            .lines()
            .find(|l| l.split_whitespace().next() == Some(plural))
            .unwrap_or_else(|| panic!("{plural} is not served:\n{resources}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        // NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES
        assert!(
            fields.contains(&short_name),
            "{plural}: short name {short_name}: {line}"
        );
        assert!(fields.contains(&API_VERSION), "{plural}: {line}");
        assert!(
            fields.contains(&(if namespaced { "true" } else { "false" })),
            "{line}"
        );
        assert!(fields.contains(&kind), "{plural}: kind {kind}: {line}");
        assert!(
            fields
                .iter()
                .any(|f| f.contains("aim") && f.contains("all")),
            "{plural}: categories aim,all: {line}"
        );
    }

    // 2. Every seed manifest, each file in a namespace of its own (the seeds reuse
    //    names with different, immutable model selections).
    let mut applied: Vec<(String, String, String, Value)> = Vec::new(); // kind, ns, name, doc
    for file in seed_files() {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let namespace = cluster.namespace(&stem);
        let mut docs = documents(&file);
        for doc in &mut docs {
            assert_eq!(doc["apiVersion"], API_VERSION, "{}", file.display());
            let kind = doc["kind"].as_str().expect("a kind").to_owned();
            let name = doc["metadata"]["name"].as_str().expect("a name").to_owned();
            let namespaced = AIM_KINDS.iter().any(|(k, .., ns)| *k == kind && *ns);
            if namespaced {
                doc["metadata"]["namespace"] = json!(namespace);
            }
            applied.push((kind, namespace.clone(), name, doc.clone()));
        }
        let stream: String = docs
            .iter()
            .map(|d| format!("---\n{}", serde_yaml::to_string(d).expect("YAML")))
            .collect();
        let result = cluster.kubectl_stdin(&["apply", "-n", &namespace, "-f", "-"], &stream);
        assert!(
            result.success(),
            "{} was rejected: {result}",
            file.display()
        );
    }

    // 3. `kubectl get` shows every object, with every field as written.
    for (kind, namespace, name, doc) in &applied {
        let live = cluster
            .kubectl(&["get", plural_of(kind), name, "-n", namespace, "-o", "json"])
            .ok()
            .json();
        let mut diffs = Vec::new();
        differences(&doc["spec"], &live["spec"], "spec", &mut diffs);
        differences(
            &doc["metadata"]["labels"],
            &live["metadata"]["labels"],
            "labels",
            &mut diffs,
        );
        assert!(
            diffs.is_empty(),
            "{kind} {namespace}/{name} as stored differs: {diffs:#?}"
        );
        // Status is a subresource: what a manifest says about it is dropped on create.
        assert_ne!(
            live["status"]["status"], "Running",
            "{kind} {name}: status was applied"
        );
    }
    let services = cluster
        .kubectl(&["get", "aimservices", "-A", "-o", "json"])
        .ok()
        .json();
    let listed: BTreeSet<(String, String)> = services["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| {
            let meta = &o["metadata"];
            (
                meta["namespace"].as_str().unwrap().into(),
                meta["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (kind, namespace, name, _) in &applied {
        if kind == "AIMService" {
            assert!(
                listed.contains(&(namespace.clone(), name.clone())),
                "{namespace}/{name} not listed"
            );
        }
    }

    // The table `kubectl get aimservices -A` prints (printer columns of api.md §1).
    let table = cluster.kubectl(&["get", "aimservices", "-A"]).ok().stdout;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "STATUS",
            "MODEL",
            "TEMPLATE",
            "REPLICAS",
            "AGE"
        ],
        "{table}"
    );
    let table = cluster
        .kubectl(&["get", "aimservicetemplates", "-A"])
        .ok()
        .stdout;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "MODEL",
            "STATUS",
            "HARDWARE",
            "METRIC",
            "PRECISION"
        ],
        "{table}"
    );

    // Short names and the `aim` category reach the same objects.
    let (_, namespace, name, _) = applied
        .iter()
        .find(|(kind, ..)| kind == "AIMModel")
        .expect("a seed AIMModel");
    let by_category = cluster
        .kubectl(&["get", "aim", "-n", namespace, "-o", "name"])
        .ok()
        .stdout;
    assert!(
        by_category
            .lines()
            .any(|l| l == format!("aimmodel.aim.eai.amd.com/{name}")),
        "`kubectl get aim` misses the model: {by_category}"
    );
    let by_short_name = cluster
        .kubectl(&["get", "aimmdl", name, "-n", namespace, "-o", "name"])
        .ok();
    assert_eq!(
        by_short_name.stdout.trim(),
        format!("aimmodel.aim.eai.amd.com/{name}")
    );

    // CRD defaults are applied: a service without `replicas` gets 1.
    let (_, namespace, name, _) = applied
        .iter()
        .find(|(kind, _, _, doc)| kind == "AIMService" && doc["spec"].get("replicas").is_none())
        .expect("a seed service without replicas");
    let live = cluster
        .kubectl(&["get", "aimservice", name, "-n", namespace, "-o", "json"])
        .ok()
        .json();
    assert_eq!(live["spec"]["replicas"], 1, "default of spec.replicas");
}

/// Manifests the schemas reject: (what, kind, spec, words the error must contain).
fn invalid_cases() -> Vec<(&'static str, &'static str, Value, Vec<&'static str>)> {
    let image = json!({"image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"});
    vec![
        (
            "caching mode outside its enum",
            "AIMService",
            json!({"model": image, "caching": {"mode": "Sometimes"}}),
            vec!["spec.caching.mode", "Unsupported value", "Sometimes"],
        ),
        (
            "override metric outside its enum",
            "AIMService",
            json!({"model": image, "overrides": {"metric": "fastest"}}),
            vec!["spec.overrides.metric", "Unsupported value", "fastest"],
        ),
        (
            "autoscaling metric type outside its enum",
            "AIMService",
            json!({"model": image, "minReplicas": 1, "maxReplicas": 2, "autoScaling": {
                "metrics": [{"type": "External", "podmetric": {
                    "metric": {}, "target": {"type": "Value", "value": "1"}
                }}]
            }}),
            vec![
                "spec.autoScaling.metrics[0].type",
                "Unsupported value",
                "External",
            ],
        ),
        (
            "template precision outside its enum",
            "AIMServiceTemplate",
            json!({"modelName": "qwen-qwen3-32b", "precision": "fp64"}),
            vec!["spec.precision", "Unsupported value", "fp64"],
        ),
        (
            "template cache scope outside its enum",
            "AIMTemplateCache",
            json!({"templateName": "qwen3-32b-latency", "templateScope": "Galaxy"}),
            vec!["spec.templateScope", "Unsupported value", "Galaxy"],
        ),
        (
            "a service without its required model",
            "AIMService",
            json!({"replicas": 2}),
            vec!["spec.model", "Required value"],
        ),
        (
            "the early API's spelling spec.templateRef (seed 000)",
            "AIMService",
            json!({"model": image, "templateRef": "qwen3-32b-latency"}),
            vec!["unknown field", "spec.templateRef"],
        ),
    ]
}

#[test]
fn the_api_server_rejects_what_the_schemas_forbid() {
    let cluster = Cluster::start();
    let namespace = cluster.namespace("invalid");
    for (i, (what, kind, spec, words)) in invalid_cases().into_iter().enumerate() {
        let name = format!("invalid-{i}");
        let manifest = json!({
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        });
        let result = cluster.kubectl_stdin(&["apply", "-f", "-"], &manifest.to_string());
        assert!(!result.success(), "{what}: accepted: {result}");
        for word in words {
            assert!(
                result.stderr.contains(word),
                "{what}: the error does not say {word:?}: {result}"
            );
        }
        let get = cluster.kubectl(&["get", plural_of(kind), &name, "-n", &namespace]);
        assert!(
            !get.success() && get.stderr.contains("NotFound"),
            "{what}: the object exists after a rejected apply: {get}"
        );
    }
}
