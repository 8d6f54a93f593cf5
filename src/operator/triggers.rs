//! Which objects a batch of changes affects (service-reconcile.md §13), so a change
//! anywhere re-plans exactly the objects that read it. Pure: snapshots in, keys out.

use std::collections::BTreeSet;

use serde_json::Value;

use super::cache::{Batch, Change, Key};
use crate::snapshot::Snapshot;

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn namespace(v: &Value) -> &str {
    s(v, "/metadata/namespace")
}

fn name(v: &Value) -> &str {
    s(v, "/metadata/name")
}

/// Owners of `kind` named in an object's ownerReferences (same namespace).
fn owners(obj: &Value, kind: &str, out: &mut BTreeSet<Key>) {
    for r in obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if s(r, "/kind") == kind && s(r, "/apiVersion").starts_with("aim.eai.amd.com/") {
            out.insert((namespace(obj).to_string(), s(r, "/name").to_string()));
        }
    }
}

/// AIMServices a batch affects.
pub fn services(batch: &Batch, out: &mut BTreeSet<Key>) {
    // GPU availability decides template selection: a Node change matters only when
    // it changes the inventory.
    if batch.before.gpu_inventory() != batch.after.gpu_inventory() {
        all_services(&batch.after, out);
    }
    for change in batch.changes.iter() {
        service_change(&batch.after, &batch.before, change, out);
    }
}

fn all_services(snap: &Snapshot, out: &mut BTreeSet<Key>) {
    for svc in snap.list("AIMService") {
        out.insert(key(svc));
    }
}

fn key(v: &Value) -> Key {
    (namespace(v).to_string(), name(v).to_string())
}

/// The services of one namespace (`None`: every namespace) matching `pred`.
fn matching(
    snap: &Snapshot,
    ns: Option<&str>,
    out: &mut BTreeSet<Key>,
    pred: impl Fn(&Value) -> bool,
) {
    let hit = |svc: &&std::sync::Arc<Value>| pred(svc);
    match ns {
        Some(ns) => snap.list_in("AIMService", ns).filter(hit).for_each(|svc| {
            out.insert(key(svc));
        }),
        None => snap.list("AIMService").filter(hit).for_each(|svc| {
            out.insert(key(svc));
        }),
    }
}

/// The model a service names or resolved.
fn model_names(svc: &Value) -> [&str; 2] {
    [
        s(svc, "/spec/model/name").trim(),
        s(svc, "/status/resolvedModel/name"),
    ]
}

fn service_change(after: &Snapshot, before: &Snapshot, change: &Change, out: &mut BTreeSet<Key>) {
    for obj in change.versions() {
        owners(obj, "AIMService", out);
        let (ns, n) = (namespace(obj), name(obj));
        match change.kind {
            "AIMService" => {
                out.insert(key(obj));
            }
            "AIMServiceTemplate" | "AIMClusterServiceTemplate" => {
                let cluster = change.kind == "AIMClusterServiceTemplate";
                let model = s(obj, "/spec/modelName");
                let scope = if cluster { "Cluster" } else { "Namespace" };
                matching(after, (!cluster).then_some(ns), out, |svc| {
                    s(svc, "/spec/template/name").trim() == n
                        || (s(svc, "/status/resolvedTemplate/name") == n
                            && s(svc, "/status/resolvedTemplate/scope") == scope)
                        || (!model.is_empty() && model_names(svc).contains(&model))
                });
            }
            "AIMModel" | "AIMClusterModel" => {
                let cluster = change.kind == "AIMClusterModel";
                let image = s(obj, "/spec/image");
                let labelled = s(obj, "/metadata/labels/aim.eai.amd.com~1service");
                if !cluster && !labelled.is_empty() {
                    out.insert((ns.to_string(), labelled.to_string()));
                }
                matching(after, (!cluster).then_some(ns), out, |svc| {
                    model_names(svc).contains(&n)
                        || (!image.is_empty()
                            && (s(svc, "/spec/model/image").trim() == image
                                || s(svc, "/spec/model/custom/baseImage") == image))
                });
            }
            "AIMRuntimeConfig" | "AIMClusterRuntimeConfig" => {
                let cluster = change.kind == "AIMClusterRuntimeConfig";
                matching(after, (!cluster).then_some(ns), out, |svc| {
                    let wanted = match s(svc, "/spec/runtimeConfigName") {
                        "" => "default",
                        other => other,
                    };
                    wanted == n
                });
            }
            "AIMTemplateCache" => {
                let template = s(obj, "/spec/templateName");
                matching(after, Some(ns), out, |svc| {
                    !template.is_empty() && s(svc, "/status/resolvedTemplate/name") == template
                });
            }
            "Namespace" => matching(after, Some(n), out, |_| true),
            "Pod" => {
                let isvc = s(obj, "/metadata/labels/serving.kserve.io~1inferenceservice");
                isvc_owners(after, before, ns, isvc, out);
            }
            "HorizontalPodAutoscaler" => {
                if let Some(isvc) = n
                    .strip_prefix("keda-hpa-")
                    .and_then(|r| r.strip_suffix("-predictor"))
                {
                    isvc_owners(after, before, ns, isvc, out);
                }
            }
            "Event" => match s(obj, "/involvedObject/kind") {
                "InferenceService" => {
                    isvc_owners(after, before, ns, s(obj, "/involvedObject/name"), out)
                }
                "Pod" => {
                    let pod = s(obj, "/involvedObject/name");
                    let pod = after
                        .get("Pod", ns, pod)
                        .or_else(|| before.get("Pod", ns, pod));
                    if let Some(pod) = pod {
                        let isvc = s(pod, "/metadata/labels/serving.kserve.io~1inferenceservice");
                        isvc_owners(after, before, ns, isvc, out);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// The services owning an InferenceService (looked up in either snapshot, so a
/// deleted ISVC still maps).
fn isvc_owners(after: &Snapshot, before: &Snapshot, ns: &str, isvc: &str, out: &mut BTreeSet<Key>) {
    if isvc.is_empty() {
        return;
    }
    for snap in [after, before] {
        if let Some(obj) = snap.get("InferenceService", ns, isvc) {
            owners(obj, "AIMService", out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn svc(ns: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
               "metadata": {"namespace": ns, "name": name, "uid": format!("uid-{name}")}, "spec": spec})
    }

    fn batch(before: Vec<Value>, after: Vec<Value>, changes: Vec<(&'static str, Value)>) -> Batch {
        Batch {
            before: Arc::new(Snapshot::new(before)),
            after: Arc::new(Snapshot::new(after)),
            changes: Arc::new(
                changes
                    .into_iter()
                    .map(|(kind, v)| Change {
                        kind,
                        old: None,
                        new: Some(Arc::new(v)),
                    })
                    .collect(),
            ),
        }
    }

    fn affected(b: &Batch) -> Vec<(String, String)> {
        let mut out = BTreeSet::new();
        services(b, &mut out);
        out.into_iter().collect()
    }

    #[test]
    fn model_change_maps_to_services_naming_it() {
        let a = svc("ns", "a", json!({"model": {"name": "m1"}}));
        let b = svc("ns", "b", json!({"model": {"name": "m2"}}));
        let c = svc("other", "c", json!({"model": {"name": "m1"}}));
        let model = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
                           "metadata": {"namespace": "ns", "name": "m1"}, "spec": {"image": "x"}});
        let snap = vec![a, b, c];
        let got = affected(&batch(snap.clone(), snap, vec![("AIMModel", model)]));
        assert_eq!(got, vec![("ns".into(), "a".into())]);
    }

    #[test]
    fn cluster_template_maps_by_model_across_namespaces() {
        let a = svc("ns", "a", json!({"model": {"name": "m1"}}));
        let c = svc("other", "c", json!({"model": {"name": "m1"}}));
        let d = svc("other", "d", json!({"model": {"name": "m9"}}));
        let t = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMClusterServiceTemplate",
                       "metadata": {"name": "t"}, "spec": {"modelName": "m1"}});
        let snap = vec![a, c, d];
        let got = affected(&batch(
            snap.clone(),
            snap,
            vec![("AIMClusterServiceTemplate", t)],
        ));
        assert_eq!(
            got,
            vec![("ns".into(), "a".into()), ("other".into(), "c".into())]
        );
    }

    #[test]
    fn pod_maps_through_its_inference_service_owner() {
        let a = svc("ns", "a", json!({}));
        let isvc = json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"namespace": "ns", "name": "a-123", "ownerReferences": [
                {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService", "name": "a", "uid": "uid-a", "controller": true}]}});
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "ns", "name": "p", "labels": {"serving.kserve.io/inferenceservice": "a-123"}}});
        let snap = vec![a, isvc];
        let got = affected(&batch(snap.clone(), snap, vec![("Pod", pod)]));
        assert_eq!(got, vec![("ns".into(), "a".into())]);
    }

    #[test]
    fn node_change_matters_only_when_the_gpu_inventory_changes() {
        let a = svc("ns", "a", json!({}));
        let plain =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {}}});
        let gpu = json!({"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": "n", "labels": {"amd.com/gpu.device-id": "74a1"}}});
        let unchanged = batch(
            vec![a.clone(), plain.clone()],
            vec![a.clone(), plain.clone()],
            vec![("Node", plain.clone())],
        );
        assert!(affected(&unchanged).is_empty());
        let changed = batch(
            vec![a.clone(), plain],
            vec![a, gpu.clone()],
            vec![("Node", gpu)],
        );
        assert_eq!(affected(&changed), vec![("ns".into(), "a".into())]);
    }
}
