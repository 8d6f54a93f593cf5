//! The read-only cluster view the planner sees, built from YAML documents (dry-run,
//! tests) or from the operator's reflector stores — the planner cannot tell which.
//! Indexed for the planner's lookups, so planning cost does not grow with unrelated
//! objects.

use crate::json_path::At as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

/// Kinds whose objects are cluster-scoped (no namespace in their key).
const CLUSTER_SCOPED: &[&str] = &[
    "AIMClusterModel",
    "AIMClusterServiceTemplate",
    "AIMClusterRuntimeConfig",
    "AIMClusterModelSource",
    "Node",
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "PersistentVolume",
];

pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

type Key = (String, String);

/// Objects by kind, then by (namespace, name); plus the indexes the planner needs.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    objects: HashMap<String, BTreeMap<Key, Arc<Value>>>,
    /// (namespace or "" for cluster templates, model name) → templates, list order.
    templates_by_model: HashMap<Key, Vec<Arc<Value>>>,
    /// model `spec.image` → models (namespaced first by namespace, then cluster).
    models_by_image: HashMap<String, Vec<Arc<Value>>>,
    gpus: BTreeSet<String>,
    /// Normalised GPU model → VRAM label of the first node seen with it ("" when unlabelled).
    gpu_vram: BTreeMap<String, String>,
    /// Observations (`observation.aimctl.dev/v1`): inputs that are not Kubernetes
    /// objects (pod logs, image labels, registry listings), in input order.
    observations: Vec<Arc<Value>>,
    /// `ImageMetadata` observations by image reference as written.
    images: HashMap<String, Arc<Value>>,
    /// `PodLog` observations by (namespace, pod name).
    pod_logs: HashMap<Key, Vec<Arc<Value>>>,
    /// Objects given twice: the first copy is kept.
    pub duplicates: Vec<(String, String, String)>,
    /// What selections learnt of this snapshot's candidates, for the next service.
    selection_memo: crate::rules::select::Memo,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.at(pointer).and_then(Value::as_str).unwrap_or("")
}

impl Snapshot {
    /// Builds a snapshot from whole objects (each with `kind` and `metadata`).
    pub fn new(objects: impl IntoIterator<Item = Value>) -> Self {
        Self::shared(objects.into_iter().map(Arc::new))
    }

    /// Builds a snapshot over objects held elsewhere too (the operator's stores): the
    /// objects are shared, not copied, so a rebuild costs an index, not the cluster.
    pub fn shared(objects: impl IntoIterator<Item = Arc<Value>>) -> Self {
        let mut s = Snapshot::default();
        for obj in objects {
            s.insert(obj);
        }
        s.reindex();
        s
    }

    fn insert(&mut self, obj: Arc<Value>) {
        if is_observation(&obj) {
            self.observations.push(obj);
            return;
        }
        let kind = str_at(&obj, "/kind").to_string();
        let name = str_at(&obj, "/metadata/name").to_string();
        let ns = if is_cluster_scoped(&kind) {
            String::new()
        } else {
            str_at(&obj, "/metadata/namespace").to_string()
        };
        let by_key = self.objects.entry(kind.clone()).or_default();
        let key = (ns, name);
        if by_key.contains_key(&key) {
            self.duplicates.push((kind, key.0, key.1));
            return;
        }
        by_key.insert(key, obj);
    }

    fn reindex(&mut self) {
        self.templates_by_model.clear();
        self.models_by_image.clear();
        for kind in ["AIMServiceTemplate", "AIMClusterServiceTemplate"] {
            for ((ns, _), t) in self.objects.get(kind).into_iter().flatten() {
                let model = str_at(t, "/spec/modelName").to_string();
                self.templates_by_model
                    .entry((ns.clone(), model))
                    .or_default()
                    .push(t.clone());
            }
        }
        for kind in ["AIMModel", "AIMClusterModel"] {
            for m in self.objects.get(kind).into_iter().flat_map(|b| b.values()) {
                let image = str_at(m, "/spec/image").to_string();
                self.models_by_image
                    .entry(image)
                    .or_default()
                    .push(m.clone());
            }
        }
        self.images.clear();
        self.pod_logs.clear();
        for o in &self.observations {
            match str_at(o, "/kind") {
                "ImageMetadata" => {
                    self.images
                        .entry(str_at(o, "/image").to_string())
                        .or_insert_with(|| o.clone());
                }
                "PodLog" => self
                    .pod_logs
                    .entry((
                        str_at(o, "/metadata/namespace").to_string(),
                        str_at(o, "/metadata/name").to_string(),
                    ))
                    .or_default()
                    .push(o.clone()),
                _ => {}
            }
        }
        let node_labels: Vec<BTreeMap<String, String>> =
            self.list("Node").map(|n| labels(n)).collect();
        self.gpu_vram.clear();
        for l in &node_labels {
            if let Some(model) = crate::gpu::gpu_model_from_node_labels(l).filter(|m| !m.is_empty())
            {
                let vram = ["amd.com/gpu.vram", "beta.amd.com/gpu.vram"]
                    .iter()
                    .filter_map(|k| l.get(*k))
                    .map(|v| v.trim())
                    .find(|v| !v.is_empty())
                    .unwrap_or("")
                    .to_string();
                self.gpu_vram
                    .entry(crate::gpu::normalize_gpu_name(&model))
                    .or_insert(vram);
            }
        }
        // compared against normalised template GPU names
        self.gpus = crate::gpu::inventory(&node_labels)
            .iter()
            .map(|g| crate::gpu::normalize_gpu_name(g))
            .collect();
    }

    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&Arc<Value>> {
        let ns = if is_cluster_scoped(kind) {
            ""
        } else {
            namespace
        };
        self.objects
            .get(kind)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Every object of a kind, by namespace then name.
    pub fn list<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
        self.objects.get(kind).into_iter().flat_map(|b| b.values())
    }

    /// Objects of a kind in one namespace, by name.
    pub fn list_in<'a, 'n>(
        &'a self,
        kind: &str,
        namespace: &'n str,
    ) -> impl Iterator<Item = &'a Arc<Value>> + use<'a, 'n> {
        self.objects
            .get(kind)
            .into_iter()
            .flat_map(move |b| {
                b.range((namespace.to_string(), String::new())..)
                    .take_while(move |((ns, _), _)| ns == namespace)
            })
            .map(|(_, v)| v)
    }

    /// Namespaced templates of `model` in `namespace`, then cluster templates of `model`.
    pub fn templates_for_model(
        &self,
        namespace: &str,
        model: &str,
    ) -> impl Iterator<Item = &Arc<Value>> {
        let ns = self
            .templates_by_model
            .get(&(namespace.to_string(), model.to_string()));
        let cl = self
            .templates_by_model
            .get(&(String::new(), model.to_string()));
        let ns = ns
            .into_iter()
            .flatten()
            .filter(|t| str_at(t, "/kind") == "AIMServiceTemplate");
        let cl = cl
            .into_iter()
            .flatten()
            .filter(|t| str_at(t, "/kind") == "AIMClusterServiceTemplate");
        ns.chain(cl)
    }

    /// Models whose `spec.image` is exactly `image`.
    pub fn models_with_image(&self, image: &str) -> &[Arc<Value>] {
        self.models_by_image
            .get(image)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Normalised GPU models present on the cluster's nodes (from node labels).
    /// Candidate facts shared by the selections of every plan on this snapshot.
    pub fn selection_memo(&self) -> &crate::rules::select::Memo {
        &self.selection_memo
    }

    pub fn gpu_inventory(&self) -> &BTreeSet<String> {
        &self.gpus
    }

    /// Normalised GPU model → the VRAM label of the first node seen with that model
    /// (`""` when the node has no VRAM label; the static table then applies).
    pub fn gpu_vram_labels(&self) -> &BTreeMap<String, String> {
        &self.gpu_vram
    }

    /// The `ImageMetadata` observation for an image reference (exactly as written).
    pub fn image_metadata(&self, image: &str) -> Option<&Arc<Value>> {
        self.images.get(image)
    }

    /// `PodLog` observations of one pod (any container).
    pub fn pod_logs(&self, namespace: &str, pod: &str) -> &[Arc<Value>] {
        self.pod_logs
            .get(&(namespace.to_string(), pod.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Observations of one kind (`PodLog`, `ImageMetadata`, `RegistryListing`), input order.
    pub fn observations<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
        self.observations
            .iter()
            .filter(move |o| str_at(o, "/kind") == kind)
    }

    /// Kinds present, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.objects.keys().map(String::as_str).collect();
        k.sort();
        k
    }
}

/// The API group of documents that are observations, not cluster objects (cli.md).
pub const OBSERVATION_GROUP: &str = "observation.aimctl.dev/";

fn is_observation(obj: &Value) -> bool {
    str_at(obj, "/apiVersion").starts_with(OBSERVATION_GROUP)
}

/// An object's labels as a map.
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    obj.at("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}
