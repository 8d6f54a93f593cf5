//! Synthetic cluster states of any size, for the benchmarks and for load tests of the
//! dry run and the operator (`aimctl generate`). One generator, so that a figure taken
//! in a benchmark can be reproduced from the command line on the same state.

use serde_json::{Value, json};

/// How big a state to build.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// AIMServices, spread over the namespaces.
    pub services: usize,
    /// Runtime templates of the one model: a third namespaced (in every namespace),
    /// the rest cluster-scoped.
    pub templates: usize,
    /// Namespaces `team-0` … holding the services.
    pub namespaces: usize,
}

const GPUS: [&str; 4] = ["MI300X", "MI325X", "MI355X", "MI250X"];
const PRECISIONS: [&str; 4] = ["fp8", "fp16", "bf16", "int8"];
const METRICS: [&str; 2] = ["latency", "throughput"];
const API: &str = "aim.eai.amd.com/v1alpha1";
/// The template every service chooses, once there are ten or more.
pub const BEST: usize = 9;
/// The model every service asks for.
pub const MODEL: &str = "qwen3-32b";

/// The objects of a state: GPU nodes (MI300X and MI325X), a routing runtime config, one
/// Ready cluster model, its templates (Ready but for every 7th; mixed GPUs, precisions,
/// metrics and profile types), Ready caches of the namespaced ones, and the services, as their controllers would have left
/// them (with status, but for the services: see [`settle`]), so that a dry run needs
/// nothing else.
pub fn state(shape: Shape) -> Vec<Value> {
    let namespaces: Vec<String> = (0..shape.namespaces.max(1))
        .map(|i| format!("team-{i}"))
        .collect();
    let mut objects = vec![
        node("gpu-node-a", "74a1"),
        node("gpu-node-b", "74a5"),
        json!({"apiVersion": API, "kind": "AIMClusterRuntimeConfig",
            "metadata": {"name": "default"},
            "spec": {"routing": {"enabled": true,
                "gatewayRef": {"name": "inference-gateway", "namespace": "gateways"}}}}),
        json!({"apiVersion": API, "kind": "AIMClusterModel",
            "metadata": {"name": MODEL, "uid": "uid-model",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"},
            "status": {"status": "Ready"}}),
    ];
    for ns in &namespaces {
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    for i in 0..shape.templates {
        if i.is_multiple_of(3) {
            for ns in &namespaces {
                objects.push(template(i, Some(ns)));
                objects.push(cache(i, ns));
            }
        } else {
            objects.push(template(i, None));
        }
    }
    for i in 0..shape.services {
        let ns = &namespaces[i % namespaces.len()];
        objects.push(json!({"apiVersion": API, "kind": "AIMService",
            "metadata": {"name": format!("svc-{i}"), "namespace": ns, "uid": format!("uid-svc-{i}"),
                         "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"model": {"name": MODEL}, "replicas": 1}}));
    }
    objects
}

/// The Ready shared cache of namespaced template `i`, so that services using it render
/// their InferenceService.
fn cache(i: usize, namespace: &str) -> Value {
    let template = template_name(i);
    let artifact = "hf---qwen-qwen3-32b-1b2c3d4e5f";
    json!({"apiVersion": API, "kind": "AIMTemplateCache",
        "metadata": {"name": crate::naming::shared_cache_name(&template, namespace),
                     "namespace": namespace, "uid": format!("uid-c-{i}-{namespace}")},
        "spec": {"templateName": template, "templateScope": "Namespace", "mode": "Shared"},
        "status": {"status": "Ready", "artifacts": {artifact: {
            "uid": format!("uid-a-{namespace}"), "name": artifact, "model": "Qwen/Qwen3-32B",
            "status": "Ready", "persistentVolumeClaim": format!("{artifact}-cache")}}}})
}

fn template_name(i: usize) -> String {
    format!("{MODEL}-{i}-{}", GPUS[i % 4].to_lowercase())
}

fn node(name: &str, device_id: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"amd.com/gpu.device-id": device_id}}})
}

/// Template `i`: its GPU, precision, metric and readiness vary with `i`, so that the
/// selection has filtered, shadowed and scored candidates at every size. Template 9
/// (namespaced, Ready, optimized, MI325X) alone offers fp4, the most preferred
/// precision: from ten templates up every service has one best choice, where equal
/// best candidates would tie and render nothing.
pub fn template(i: usize, namespace: Option<&str>) -> Value {
    let gpu = GPUS[i % 4];
    let precision = if i == BEST {
        "fp4"
    } else {
        PRECISIONS[(i / 2) % 4]
    };
    let metric = METRICS[i % 2];
    let mut metadata = json!({"name": template_name(i),
                              "uid": format!("uid-t-{i}-{}", namespace.unwrap_or(""))});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": API,
        "kind": if namespace.is_some() { "AIMServiceTemplate" } else { "AIMClusterServiceTemplate" },
        "metadata": metadata,
        "spec": {"modelName": MODEL, "hardware": {"gpu": {"requests": 1 + i % 4, "model": gpu}}},
        "status": {
            "status": if i.is_multiple_of(7) { "Pending" } else { "Ready" },
            "profile": {"metadata": {"engine": "vllm", "gpu": gpu, "gpuCount": 1 + i % 4,
                "metric": metric, "precision": precision,
                "type": if i.is_multiple_of(5) { "preview" } else { "optimized" }}},
            "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "hf://Qwen/Qwen3-32B", "size": "70Gi"}]
        }
    })
}

/// Gives every service the status its controller converges to (the resolved runtime
/// config, model and template, and the template cache it found), as a running cluster
/// holds it: a plan then renders the InferenceService, even one that chooses its
/// template afresh (the cache is found by `status.cache`). The first round resolves;
/// the second finds the cache by the resolved template (service-reconcile.md §8.2).
pub fn settle(objects: &mut [Value], pack: &crate::rules::RulePack) {
    let now = crate::plan::clock_of(objects);
    for _ in 0..2 {
        let snap = crate::snapshot::Snapshot::new(objects.to_vec());
        for o in objects.iter_mut().filter(|o| o["kind"] == "AIMService") {
            let plan = crate::plan::service::plan(&snap, pack, o, &now);
            o["status"] = plan.status;
        }
    }
}

/// The state as one multi-document YAML stream.
pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| serde_yaml::to_string(o).expect("JSON values serialise as YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_sets_the_counts() {
        let objects = state(Shape {
            services: 10,
            templates: 6,
            namespaces: 2,
        });
        let count = |kind: &str| objects.iter().filter(|o| o["kind"] == kind).count();
        assert_eq!(count("AIMService"), 10);
        // templates 0 and 3 are namespaced, in both namespaces; the other four are cluster-scoped
        assert_eq!(count("AIMServiceTemplate"), 4);
        assert_eq!(count("AIMClusterServiceTemplate"), 4);
        assert_eq!(count("Namespace"), 2);
    }

    #[test]
    fn settled_services_render_their_inference_service_even_when_choosing_afresh() {
        let pack = crate::rules::RulePack::builtin().unwrap();
        let mut objects = state(Shape {
            services: 3,
            templates: 20,
            namespaces: 1,
        });
        settle(&mut objects, &pack);
        let snap = crate::snapshot::Snapshot::new(objects.clone());
        let now = crate::plan::clock_of(&objects);
        let afresh = crate::plan::Settings {
            reselect: true,
            ..Default::default()
        };
        for svc in objects.iter().filter(|o| o["kind"] == "AIMService") {
            assert!(svc["status"]["cache"]["templateCacheRef"]["name"].is_string());
            let plan = crate::plan::service::plan_with(&snap, &pack, svc, &now, &afresh);
            assert_eq!(
                plan.kinds(),
                ["HTTPRoute", "InferenceService"],
                "{}",
                svc["metadata"]["name"]
            );
        }
    }

    #[test]
    fn every_size_from_ten_templates_has_one_best_choice() {
        let pack = crate::rules::RulePack::builtin().unwrap();
        for templates in [10, 20, 50, 100] {
            let mut objects = state(Shape {
                services: 1,
                templates,
                namespaces: 1,
            });
            settle(&mut objects, &pack);
            let svc = objects.iter().find(|o| o["kind"] == "AIMService").unwrap();
            assert_eq!(
                svc["status"]["resolvedTemplate"]["name"],
                template_name(BEST),
                "{templates} templates: {}",
                svc["status"]
            );
        }
    }
}
