//! The CEL rules (`x-kubernetes-validations`) of the generated CRDs compile and behave as
//! the API reference says, evaluated client-side with kube-cel (no API server needed).

use aimctl::api::AimKind;
use kube_cel::{CompiledSchema, Validator, compile_schema};
use serde_json::{Value, json};

fn compilation_errors(schema: &CompiledSchema, path: &str, out: &mut Vec<String>) {
    for result in &schema.validations {
        if let Err(e) = result {
            out.push(format!("{path}: {e}"));
        }
    }
    for (key, child) in &schema.properties {
        compilation_errors(child, &format!("{path}.{key}"), out);
    }
    if let Some(items) = &schema.items {
        compilation_errors(items, &format!("{path}[]"), out);
    }
    if let Some(additional) = &schema.additional_properties {
        compilation_errors(additional, &format!("{path}{{}}"), out);
    }
}

#[test]
fn every_rule_compiles() {
    let mut errors = Vec::new();
    for kind in AimKind::ALL {
        compilation_errors(&compile_schema(kind.schema()), kind.kind(), &mut errors);
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The messages of the rules `object` breaks (with `old` for transition rules).
fn broken(kind: AimKind, object: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(kind.schema(), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

fn service(spec: Value) -> Value {
    json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
           "metadata": {"name": "s", "namespace": "default"}, "spec": spec})
}

#[test]
fn service_model_selection() {
    let ok = service(json!({"model": {"name": "m"}}));
    assert_eq!(broken(AimKind::Service, &ok, None), Vec::<String>::new());
    let two = service(json!({"model": {"name": "m", "image": "i"}}));
    assert_eq!(
        broken(AimKind::Service, &two, None),
        ["exactly one of name, image, or custom must be specified"]
    );
    let none = service(json!({"model": {}}));
    assert_eq!(
        broken(AimKind::Service, &none, None),
        ["exactly one of name, image, or custom must be specified"]
    );
    let changed = service(json!({"model": {"image": "i"}}));
    assert_eq!(
        broken(AimKind::Service, &changed, Some(&ok)),
        ["model selection is immutable after creation"]
    );
    assert!(broken(AimKind::Service, &ok, Some(&ok)).is_empty());
}

#[test]
fn service_custom_model_and_hardware() {
    let custom = |hardware: Value, sources: Value| {
        service(json!({"model": {"custom": {
            "baseImage": "img", "modelSources": sources, "hardware": hardware}}}))
    };
    let source = json!([{"modelId": "org/m", "sourceUri": "hf://org/m"}]);
    let ok = custom(
        json!({"gpu": {"requests": 1, "model": "MI300X"}}),
        source.clone(),
    );
    assert!(broken(AimKind::Service, &ok, None).is_empty());
    let empty_hw = custom(json!({}), source.clone());
    assert_eq!(
        broken(AimKind::Service, &empty_hw, None),
        ["at least one of gpu or cpu must be specified"]
    );
    let both = custom(
        json!({"gpu": {"model": "MI300X", "minVram": "64Gi"}}),
        source.clone(),
    );
    assert_eq!(
        broken(AimKind::Service, &both, None),
        [
            "model and minVram are mutually exclusive; specify either a specific GPU model OR a minimum VRAM requirement, not both"
        ]
    );
    // An empty model name does not conflict with minVram.
    let vram = custom(json!({"gpu": {"model": "", "minVram": "64Gi"}}), source);
    assert!(broken(AimKind::Service, &vram, None).is_empty());
    let no_sources = custom(json!({"cpu": {"requests": "4"}}), json!([]));
    assert!(
        broken(AimKind::Service, &no_sources, None)
            .contains(&"at least one model source must be specified".to_string())
    );
}

#[test]
fn service_immutable_selections() {
    let old = service(json!({"model": {"name": "m"}, "template": {"name": "t"},
                            "caching": {"mode": "Shared"},
                            "overrides": {"metric": "latency", "precision": "fp8",
                                          "hardware": {"gpu": {"requests": 1}}}}));
    let new = service(json!({"model": {"name": "m"}, "template": {"name": "u"},
                            "caching": {"mode": "Dedicated"},
                            "overrides": {"metric": "throughput", "precision": "fp16",
                                          "hardware": {"gpu": {"requests": 2}}}}));
    let mut messages = broken(AimKind::Service, &new, Some(&old));
    messages.sort();
    assert_eq!(
        messages,
        [
            "caching mode is immutable after creation",
            "hardware is immutable",
            "metric is immutable",
            "precision is immutable",
            "template selection is immutable after creation",
        ]
    );
}

fn model(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": kind,
           "metadata": {"name": "m"}, "spec": spec})
}

#[test]
fn model_sources_need_hardware() {
    const MESSAGE: &str = "when using modelSources, hardware must be specified: set custom.hardware (inherited by all templates) or set hardware on each template individually";
    let sources = json!([{"modelId": "org/m", "sourceUri": "s3://b/m"}]);
    for (kind, name) in [
        (AimKind::Model, "AIMModel"),
        (AimKind::ClusterModel, "AIMClusterModel"),
    ] {
        let bad = model(
            name,
            json!({"image": "i", "modelSources": sources, "customTemplates": [{"name": "a"}]}),
        );
        assert_eq!(broken(kind, &bad, None), [MESSAGE]);
        let inherited = model(
            name,
            json!({"image": "i", "modelSources": sources, "customTemplates": [{"name": "a"}],
                   "custom": {"hardware": {"gpu": {"requests": 1}}}}),
        );
        assert!(broken(kind, &inherited, None).is_empty());
        let each = model(
            name,
            json!({"image": "i", "modelSources": sources,
                   "customTemplates": [{"name": "a", "hardware": {"cpu": {"requests": "2"}}}]}),
        );
        assert!(broken(kind, &each, None).is_empty());
        let image_only = model(
            name,
            json!({"image": "i", "customTemplates": [{"name": "a"}]}),
        );
        assert!(broken(kind, &image_only, None).is_empty());
    }
}

#[test]
fn template_and_artifact_immutability() {
    for (kind, name) in [
        (AimKind::ServiceTemplate, "AIMServiceTemplate"),
        (AimKind::ClusterServiceTemplate, "AIMClusterServiceTemplate"),
    ] {
        let tpl = |model: &str, metric: &str| {
            json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": name,
                   "metadata": {"name": "t"},
                   "spec": {"modelName": model, "metric": metric}})
        };
        let mut messages = broken(kind, &tpl("b", "throughput"), Some(&tpl("a", "latency")));
        messages.sort();
        assert_eq!(messages, ["metric is immutable", "model name is immutable"]);
    }
    let artifact = |uri: &str| {
        json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMArtifact",
               "metadata": {"name": "a"}, "spec": {"sourceUri": uri}})
    };
    assert_eq!(
        broken(
            AimKind::Artifact,
            &artifact("hf://b/c"),
            Some(&artifact("hf://a/b"))
        ),
        ["sourceUri is immutable"]
    );
}
