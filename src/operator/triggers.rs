//! Which objects a batch of changes affects (service-reconcile.md §13), so a change
//! anywhere re-plans exactly the objects that read it. Pure: snapshots in, keys out.

use std::collections::BTreeSet;

use serde::Deserialize;
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
    for (ns, name, _) in snap.stored_in("AIMService", None) {
        out.insert((ns.to_string(), name.to_string()));
    }
}

fn key(v: &Value) -> Key {
    (namespace(v).to_string(), name(v).to_string())
}

/// What the triggers read of a service. Services are held as text, and deserialising
/// these few fields skips the rest instead of building it: a template change in a
/// cluster of 10,000 services read all of them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Refs {
    spec: SpecRefs,
    status: StatusRefs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SpecRefs {
    template: NameRef,
    model: ModelRefs,
    runtime_config_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ModelRefs {
    name: String,
    image: String,
    custom: CustomRefs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CustomRefs {
    base_image: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct StatusRefs {
    resolved_template: TemplateRef,
    resolved_model: NameRef,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameRef {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TemplateRef {
    name: String,
    scope: String,
}

impl Refs {
    /// The model the service names or resolved.
    fn models(&self) -> [&str; 2] {
        [
            self.spec.model.name.trim(),
            &self.status.resolved_model.name,
        ]
    }
}

/// The services of one namespace (`None`: every namespace) matching `pred`. A service
/// whose fields do not have the types the schema gives them matches: re-planning it
/// reports what is wrong.
fn matching(
    snap: &Snapshot,
    ns: Option<&str>,
    out: &mut BTreeSet<Key>,
    pred: impl Fn(&Refs) -> bool,
) {
    for (ns, name, svc) in snap.stored_in("AIMService", ns) {
        if svc.read_as::<Refs>().map_or(true, |r| pred(&r)) {
            out.insert((ns.to_string(), name.to_string()));
        }
    }
}

/// Whether a template cache changed only where services do not look (its labels, which
/// every new service of a shared cache re-applies with its own name): without this,
/// a burst of new services sharing a cache re-plans all of them on every apply.
fn same_for_services(change: &Change) -> bool {
    let (Some(old), Some(new)) = (&change.old, &change.new) else {
        return false;
    };
    let (old, new) = (old.obj(), new.obj());
    [
        "/spec",
        "/status",
        "/metadata/ownerReferences",
        "/metadata/deletionTimestamp",
    ]
    .iter()
    .all(|p| old.pointer(p) == new.pointer(p))
}

fn service_change(after: &Snapshot, before: &Snapshot, change: &Change, out: &mut BTreeSet<Key>) {
    if change.kind == "AIMTemplateCache" && same_for_services(change) {
        return;
    }
    for obj in change.versions() {
        let obj: &Value = &obj;
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
                    let resolved = &svc.status.resolved_template;
                    svc.spec.template.name.trim() == n
                        || (resolved.name == n && resolved.scope == scope)
                        || (!model.is_empty() && svc.models().contains(&model))
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
                    let model = &svc.spec.model;
                    svc.models().contains(&n)
                        || (!image.is_empty()
                            && (model.image.trim() == image || model.custom.base_image == image))
                });
            }
            "AIMRuntimeConfig" | "AIMClusterRuntimeConfig" => {
                let cluster = change.kind == "AIMClusterRuntimeConfig";
                matching(after, (!cluster).then_some(ns), out, |svc| {
                    let wanted = match svc.spec.runtime_config_name.as_str() {
                        "" => "default",
                        other => other,
                    };
                    wanted == n
                });
            }
            "AIMTemplateCache" => {
                let template = s(obj, "/spec/templateName");
                matching(after, Some(ns), out, |svc| {
                    !template.is_empty() && svc.status.resolved_template.name == template
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

/// The owners of `kind` an object names (cluster-scoped owners have no namespace).
fn owners_of(obj: &Value, kind: &str, cluster: bool, out: &mut BTreeSet<Key>) {
    for r in obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if s(r, "/kind") == kind && s(r, "/apiVersion").starts_with("aim.eai.amd.com/") {
            let ns = if cluster { "" } else { namespace(obj) };
            out.insert((ns.to_string(), s(r, "/name").to_string()));
        }
    }
}

/// What every supporting controller reacts to: its own objects, the objects it owns
/// (and, through their Job, the pods and pod logs of Jobs it owns).
fn own_and_owned(
    batch: &Batch,
    change: &Change,
    kind: &str,
    cluster: bool,
    out: &mut BTreeSet<Key>,
) {
    for obj in change.versions() {
        let obj: &Value = &obj;
        if change.kind == kind {
            out.insert(key(obj));
            continue;
        }
        owners_of(obj, kind, cluster, out);
        if matches!(change.kind, "Pod" | "PodLog") {
            let pod = match change.kind {
                "Pod" => Some(obj),
                _ => None,
            };
            let (ns, pod_name) = (namespace(obj), name(obj));
            let live = pod
                .cloned()
                .or_else(|| batch.after.get("Pod", ns, pod_name).map(|p| (**p).clone()))
                .or_else(|| batch.before.get("Pod", ns, pod_name).map(|p| (**p).clone()));
            let job = live
                .as_ref()
                .map(|p| s(p, "/metadata/labels/job-name").to_string())
                .unwrap_or_default();
            if job.is_empty() {
                continue;
            }
            for snap in [&batch.after, &batch.before] {
                if let Some(j) = snap.get("Job", ns, &job) {
                    owners_of(j, kind, cluster, out);
                }
            }
        }
    }
}

fn runtime_config_matches(obj: &Value, config: &str) -> bool {
    let wanted = match s(obj, "/spec/runtimeConfigName") {
        "" => "default",
        other => other,
    };
    wanted == config
}

/// Objects of `kind` reading a runtime config that changed: namespaced configs reach
/// their namespace, cluster configs every namespace.
fn runtime_config_readers(snap: &Snapshot, change: &Change, kind: &str, out: &mut BTreeSet<Key>) {
    for obj in change.versions() {
        let obj: &Value = &obj;
        let config = name(obj);
        let hit = |o: &&std::sync::Arc<Value>| runtime_config_matches(o, config);
        match change.kind {
            "AIMRuntimeConfig" => snap
                .list_in(kind, namespace(obj))
                .filter(hit)
                .for_each(|o| {
                    out.insert(key(o));
                }),
            "AIMClusterRuntimeConfig" => snap.list(kind).filter(hit).for_each(|o| {
                out.insert(key(o));
            }),
            _ => {}
        }
    }
}

/// AIMModels a batch affects.
pub fn models(batch: &Batch, out: &mut BTreeSet<Key>) {
    model_changes(batch, "AIMModel", out);
}

/// AIMClusterModels a batch affects.
pub fn cluster_models(batch: &Batch, out: &mut BTreeSet<Key>) {
    model_changes(batch, "AIMClusterModel", out);
}

fn model_changes(batch: &Batch, kind: &str, out: &mut BTreeSet<Key>) {
    let cluster = kind == "AIMClusterModel";
    let snap = &batch.after;
    for change in batch.changes.iter() {
        own_and_owned(batch, change, kind, cluster, out);
        runtime_config_readers(snap, change, kind, out);
        for obj in change.versions() {
            let obj: &Value = &obj;
            match change.kind {
                // the model's templates (its status follows theirs)
                "AIMServiceTemplate" if !cluster => {
                    let m = s(obj, "/spec/modelName");
                    if snap.get(kind, namespace(obj), m).is_some() {
                        out.insert((namespace(obj).to_string(), m.to_string()));
                    }
                }
                "AIMClusterServiceTemplate" if cluster => {
                    out.insert((String::new(), s(obj, "/spec/modelName").to_string()));
                }
                "ImageMetadata" => {
                    for m in snap.models_with_image(s(obj, "/image")) {
                        if s(m, "/kind") == kind {
                            out.insert(key(m));
                        }
                    }
                }
                "Secret" if !cluster => {
                    // pull secrets: models of the namespace naming it
                    let secret = name(obj);
                    snap.list_in(kind, namespace(obj))
                        .filter(|m| m.to_string().contains(secret))
                        .for_each(|m| {
                            out.insert(key(m));
                        });
                }
                _ => {}
            }
        }
    }
    out.retain(|(ns, n)| {
        snap.get(kind, ns, n).is_some() || batch.before.get(kind, ns, n).is_some()
    });
}

/// AIMServiceTemplates a batch affects.
pub fn templates(batch: &Batch, out: &mut BTreeSet<Key>) {
    template_changes(batch, "AIMServiceTemplate", out);
}

/// AIMClusterServiceTemplates a batch affects.
pub fn cluster_templates(batch: &Batch, out: &mut BTreeSet<Key>) {
    template_changes(batch, "AIMClusterServiceTemplate", out);
}

fn template_changes(batch: &Batch, kind: &str, out: &mut BTreeSet<Key>) {
    let cluster = kind == "AIMClusterServiceTemplate";
    let snap = &batch.after;
    // GPU availability is part of a template's status.
    if batch.before.gpu_inventory() != batch.after.gpu_inventory() {
        snap.list(kind).for_each(|t| {
            out.insert(key(t));
        });
    }
    for change in batch.changes.iter() {
        own_and_owned(batch, change, kind, cluster, out);
        runtime_config_readers(snap, change, kind, out);
        for obj in change.versions() {
            let obj: &Value = &obj;
            match change.kind {
                "AIMModel" if !cluster => {
                    for t in snap.templates_for_model(namespace(obj), name(obj)) {
                        if s(t, "/kind") == kind {
                            out.insert(key(t));
                        }
                    }
                }
                "AIMClusterModel" => {
                    snap.list(kind)
                        .filter(|t| s(t, "/spec/modelName") == name(obj))
                        .for_each(|t| {
                            out.insert(key(t));
                        });
                }
                "AIMTemplateCache" => {
                    let t = s(obj, "/spec/templateName");
                    let scope_cluster = s(obj, "/spec/templateScope") == "Cluster";
                    if scope_cluster == cluster {
                        let ns = if cluster { "" } else { namespace(obj) };
                        out.insert((ns.to_string(), t.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    out.retain(|(ns, n)| {
        snap.get(kind, ns, n).is_some() || batch.before.get(kind, ns, n).is_some()
    });
}

/// AIMTemplateCaches a batch affects (§3.5 triggers).
pub fn template_caches(batch: &Batch, out: &mut BTreeSet<Key>) {
    let kind = "AIMTemplateCache";
    let snap = &batch.after;
    for change in batch.changes.iter() {
        own_and_owned(batch, change, kind, false, out);
        runtime_config_readers(snap, change, kind, out);
        for obj in change.versions() {
            let obj: &Value = &obj;
            match change.kind {
                "AIMArtifact" => {
                    let label = s(obj, "/metadata/labels/aim.eai.amd.com~1template-cache.name");
                    if !label.is_empty() {
                        snap.list_in(kind, namespace(obj))
                            .filter(|c| {
                                crate::naming::label_value(name(c)).is_ok_and(|v| v == label)
                            })
                            .for_each(|c| {
                                out.insert(key(c));
                            });
                    }
                }
                "AIMServiceTemplate" | "AIMClusterServiceTemplate" => {
                    let cluster = change.kind == "AIMClusterServiceTemplate";
                    let hit = |c: &&std::sync::Arc<Value>| {
                        s(c, "/spec/templateName") == name(obj)
                            && (s(c, "/spec/templateScope") == "Cluster") == cluster
                    };
                    if cluster {
                        snap.list(kind).filter(hit).for_each(|c| {
                            out.insert(key(c));
                        });
                    } else {
                        snap.list_in(kind, namespace(obj))
                            .filter(hit)
                            .for_each(|c| {
                                out.insert(key(c));
                            });
                    }
                }
                _ => {}
            }
        }
    }
}

/// AIMArtifacts a batch affects.
pub fn artifacts(batch: &Batch, out: &mut BTreeSet<Key>) {
    let kind = "AIMArtifact";
    for change in batch.changes.iter() {
        own_and_owned(batch, change, kind, false, out);
        runtime_config_readers(&batch.after, change, kind, out);
        if change.kind == "PersistentVolumeClaim" || change.kind == "Job" {
            // label fallback: an artifact's outputs carry its name
            for obj in change.versions() {
                let obj: &Value = &obj;
                let a = s(obj, "/metadata/labels/aim.eai.amd.com~1artifact.name");
                if !a.is_empty() && batch.after.get(kind, namespace(obj), a).is_some() {
                    out.insert((namespace(obj).to_string(), a.to_string()));
                }
            }
        }
    }
}

/// AIMClusterModelSources a batch affects.
pub fn model_sources(batch: &Batch, out: &mut BTreeSet<Key>) {
    let kind = "AIMClusterModelSource";
    for change in batch.changes.iter() {
        own_and_owned(batch, change, kind, true, out);
        if change.kind == "RegistryListing" {
            for obj in change.versions() {
                let obj: &Value = &obj;
                let source = s(obj, "/metadata/labels/aimctl.dev~1source");
                if !source.is_empty() {
                    out.insert((String::new(), source.to_string()));
                }
            }
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
        if let Some(obj) = snap.read("InferenceService", ns, isvc) {
            owners(&obj, "AIMService", out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::snapshot::Stored;

    fn svc(ns: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
               "metadata": {"namespace": ns, "name": name, "uid": format!("uid-{name}")}, "spec": spec})
    }

    fn batch(before: Vec<Value>, after: Vec<Value>, changes: Vec<(&'static str, Value)>) -> Batch {
        Batch {
            // held as the operator holds them: services and InferenceServices as text
            before: Arc::new(Snapshot::shared(before.into_iter().map(Stored::of))),
            after: Arc::new(Snapshot::shared(after.into_iter().map(Stored::of))),
            changes: Arc::new(
                changes
                    .into_iter()
                    .map(|(kind, v)| Change {
                        kind,
                        old: None,
                        new: Some(Stored::of(v)),
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
    fn a_shared_cache_relabelled_by_another_service_wakes_nobody() {
        let mut a = svc("ns", "a", json!({}));
        a["status"] = json!({"resolvedTemplate": {"name": "t", "scope": "Namespace"}});
        let cache = |service: &str, status: &str| {
            Stored::of(
                json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMTemplateCache",
                "metadata": {"namespace": "ns", "name": "t-1", "labels": {"aim.eai.amd.com/service": service}},
                "spec": {"templateName": "t", "mode": "Shared"}, "status": {"status": status}}),
            )
        };
        let change = |old, new| {
            let snap = Arc::new(Snapshot::new(vec![a.clone()]));
            Batch {
                before: snap.clone(),
                after: snap,
                changes: Arc::new(vec![Change {
                    kind: "AIMTemplateCache",
                    old: Some(old),
                    new: Some(new),
                }]),
            }
        };
        let relabelled = change(cache("a", "Ready"), cache("b", "Ready"));
        assert!(affected(&relabelled).is_empty());
        let ready = change(cache("a", "Progressing"), cache("a", "Ready"));
        assert_eq!(affected(&ready), vec![("ns".into(), "a".into())]);
    }

    #[test]
    fn config_and_image_changes_map_by_the_fields_services_name() {
        let a = svc("ns", "a", json!({"model": {"name": "m1"}}));
        let b = svc(
            "ns",
            "b",
            json!({"model": {"image": "img:1"}, "runtimeConfigName": "fast"}),
        );
        let c = svc(
            "ns",
            "c",
            json!({"model": {"custom": {"baseImage": "img:1"}}}),
        );
        // a field of the wrong type: matched, so that its plan reports it
        let d = svc("ns", "d", json!({"runtimeConfigName": 7}));
        let snap = vec![a, b, c, d];
        let woken = |kind: &'static str, obj: Value| -> Vec<String> {
            affected(&batch(snap.clone(), snap.clone(), vec![(kind, obj)]))
                .into_iter()
                .map(|(_, name)| name)
                .collect()
        };
        let config = |name: &str| {
            json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMRuntimeConfig",
                   "metadata": {"namespace": "ns", "name": name}})
        };
        assert_eq!(
            woken("AIMRuntimeConfig", config("default")),
            ["a", "c", "d"]
        );
        assert_eq!(woken("AIMRuntimeConfig", config("fast")), ["b", "d"]);
        let model = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
                           "metadata": {"namespace": "ns", "name": "m9"}, "spec": {"image": "img:1"}});
        assert_eq!(woken("AIMModel", model), ["b", "c", "d"]);
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

    fn keys(f: fn(&Batch, &mut BTreeSet<Key>), b: &Batch) -> Vec<(String, String)> {
        let mut out = BTreeSet::new();
        f(b, &mut out);
        out.into_iter().collect()
    }

    #[test]
    fn an_owned_pod_log_replans_the_owner_of_its_job() {
        let t = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate",
                       "metadata": {"namespace": "ns", "name": "t"}, "spec": {"modelName": "m"}});
        let job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"namespace": "ns", "name": "discover-t", "ownerReferences": [
                {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate", "name": "t", "uid": "u", "controller": true}]}});
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "ns", "name": "discover-t-x", "labels": {"job-name": "discover-t"}}});
        let log = json!({"apiVersion": "observation.aimctl.dev/v1", "kind": "PodLog",
            "metadata": {"namespace": "ns", "name": "discover-t-x"}, "container": "discovery", "text": "{}"});
        let snap = vec![t, job.clone(), pod];
        let b = batch(snap.clone(), snap.clone(), vec![("PodLog", log)]);
        assert_eq!(keys(templates, &b), vec![("ns".into(), "t".into())]);
        assert!(keys(artifacts, &b).is_empty());
        let b = batch(snap.clone(), snap, vec![("Job", job)]);
        assert_eq!(keys(templates, &b), vec![("ns".into(), "t".into())]);
    }

    #[test]
    fn a_gpu_change_replans_templates_and_a_template_its_caches() {
        let t = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate",
                       "metadata": {"namespace": "ns", "name": "t"}, "spec": {"modelName": "m"}});
        let cache = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMTemplateCache",
                       "metadata": {"namespace": "ns", "name": "c"},
                       "spec": {"templateName": "t", "templateScope": "Namespace"}});
        let gpu = json!({"apiVersion": "v1", "kind": "Node",
                         "metadata": {"name": "n", "labels": {"amd.com/gpu.device-id": "74a1"}}});
        let b = batch(
            vec![t.clone(), cache.clone()],
            vec![t.clone(), cache.clone(), gpu.clone()],
            vec![("Node", gpu)],
        );
        assert_eq!(keys(templates, &b), vec![("ns".into(), "t".into())]);
        let snap = vec![t.clone(), cache];
        let b = batch(snap.clone(), snap, vec![("AIMServiceTemplate", t)]);
        assert_eq!(keys(template_caches, &b), vec![("ns".into(), "c".into())]);
        assert_eq!(
            keys(models, &b),
            Vec::<(String, String)>::new(),
            "model m does not exist"
        );
    }
}
