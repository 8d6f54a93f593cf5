//! The read-only cluster view the planner sees, built from YAML documents (dry-run,
//! tests) or from the operator's reflector stores — the planner cannot tell which.
//! Indexed for the planner's lookups, so planning cost does not grow with unrelated
//! objects.

use crate::json_path::At as _;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::ops::Deref;
use std::sync::Arc;

use serde_json::Value;

/// The snapshot's indexes are looked up a few dozen times a plan, by keys the
/// cluster's users choose: a fast hash with a random seed.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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

/// Kinds the operator holds as compact text: those it caches one or more of per
/// AIMService. Read them with [`Snapshot::read`] and its siblings.
const COMPACT_KINDS: &[&str] = &["AIMService", "InferenceService", "HTTPRoute"];

fn is_compact(kind: &str) -> bool {
    COMPACT_KINDS.contains(&kind)
}

/// An object as a snapshot holds it: a JSON tree, or compact JSON text that each
/// reader parses. The operator keeps the kinds it holds one or more of per AIMService
/// as text: a serde_json tree costs about six times its text (every map is a B-tree
/// node sized for 11 entries), and a plan reads only a few of them.
#[derive(Debug, Clone)]
pub enum Stored {
    Tree(Arc<Value>),
    Text(Arc<Compact>),
}

/// Compact JSON, compressed (see [`packed`]), and the fields the snapshot's indexes
/// and the operator's cache read without unpacking it.
#[derive(Debug)]
pub struct Compact {
    kind: String,
    namespace: String,
    name: String,
    resource_version: String,
    /// The `uid` of the owner reference with `controller: true`.
    controller: Option<String>,
    text: packed::Packed,
}

impl Compact {
    /// Compacts a whole object (with `kind` and `metadata`).
    fn of(obj: &Value) -> Self {
        let kind = str_at(obj, "/kind");
        Compact {
            kind: kind.to_string(),
            namespace: str_at(obj, "/metadata/namespace").to_string(),
            name: str_at(obj, "/metadata/name").to_string(),
            resource_version: str_at(obj, "/metadata/resourceVersion").to_string(),
            controller: controller_uid(obj).map(str::to_string),
            text: packed::Packed::of(kind, &serde_json::to_vec(obj).unwrap_or_default()),
        }
    }

    fn parse(&self) -> Value {
        // the text is our own serialisation of a JSON value, so it always parses
        serde_json::from_slice(&self.text.unpack(&self.kind)).unwrap_or_default()
    }
}

/// The text of the objects held as text, compressed with a dictionary per kind: the
/// first object of the kind the process packs. Objects of one kind share nearly all
/// their keys and many values (a settled AIMService's 2 KB pack to ~100 bytes), and
/// converged, that text was most of the operator's heap. Unpacking costs a reader a few
/// microseconds, against the parse it does anyway.
mod packed {
    use std::cell::RefCell;
    use std::sync::OnceLock;

    use zstd::bulk::{Compressor, Decompressor};
    use zstd::dict::{DecoderDictionary, EncoderDictionary};

    use super::COMPACT_KINDS;

    /// The fastest level, with the smallest contexts: the dictionary does the work.
    const LEVEL: i32 = 1;
    /// At most this much of the first object becomes the dictionary.
    const DICTIONARY: usize = 16 << 10;

    pub struct Packed {
        pub(super) bytes: Box<[u8]>,
        /// The unpacked length; `None` when the bytes are the text itself (packing failed).
        len: Option<u32>,
    }

    impl std::fmt::Debug for Packed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Packed({} bytes)", self.bytes.len())
        }
    }

    struct Dictionary {
        encoder: EncoderDictionary<'static>,
        decoder: DecoderDictionary<'static>,
    }

    /// Per kind of [`COMPACT_KINDS`]: set by its first packed object, then fixed.
    static DICTIONARIES: [OnceLock<Option<Dictionary>>; COMPACT_KINDS.len()] =
        [const { OnceLock::new() }; COMPACT_KINDS.len()];

    type Contexts = Vec<Option<(Compressor<'static>, Decompressor<'static>)>>;

    thread_local! {
        /// zstd contexts are costly to make: one per thread and kind.
        static CONTEXTS: RefCell<Contexts> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `f` with this thread's contexts for the kind's dictionary; a packer's
    /// `first` text makes the dictionary when the kind has none yet. `None` when
    /// there is none (zstd refused it).
    fn with<T>(
        kind: &str,
        first: Option<&[u8]>,
        f: impl FnOnce(&mut Compressor<'static>, &mut Decompressor<'static>) -> T,
    ) -> Option<T> {
        let slot = COMPACT_KINDS.iter().position(|k| *k == kind)?;
        let made = |first: &[u8]| {
            let first = &first[..first.len().min(DICTIONARY)];
            Some(Dictionary {
                encoder: EncoderDictionary::try_copy(first, LEVEL).ok()?,
                decoder: DecoderDictionary::try_copy(first).ok()?,
            })
        };
        let dictionary = match first {
            Some(first) => DICTIONARIES[slot].get_or_init(|| made(first)),
            None => DICTIONARIES[slot].get()?,
        }
        .as_ref()?;
        CONTEXTS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() <= slot {
                c.resize_with(slot + 1, || None);
            }
            if c[slot].is_none() {
                c[slot] = Some((
                    Compressor::with_prepared_dictionary(&dictionary.encoder).ok()?,
                    Decompressor::with_prepared_dictionary(&dictionary.decoder).ok()?,
                ));
            }
            let (compressor, decompressor) = c[slot].as_mut()?;
            Some(f(compressor, decompressor))
        })
    }

    impl Packed {
        pub fn of(kind: &str, text: &[u8]) -> Packed {
            let packed = with(kind, Some(text), |c, _| c.compress(text).ok())
                .flatten()
                .zip(u32::try_from(text.len()).ok());
            match packed {
                Some((bytes, len)) => Packed {
                    bytes: bytes.into_boxed_slice(),
                    len: Some(len),
                },
                None => Packed {
                    bytes: text.into(),
                    len: None,
                },
            }
        }

        pub fn unpack(&self, kind: &str) -> std::borrow::Cow<'_, [u8]> {
            let Some(len) = self.len else {
                return self.bytes.as_ref().into();
            };
            // the dictionary that packed these bytes
            with(kind, None, |_, d| {
                d.decompress(&self.bytes, len as usize).ok()
            })
            .flatten()
            .unwrap_or_default()
            .into()
        }
    }
}

impl Stored {
    /// An object as the operator holds it: text for the [`COMPACT_KINDS`].
    pub fn of(obj: Value) -> Stored {
        if is_compact(str_at(&obj, "/kind")) {
            Stored::Text(Arc::new(Compact::of(&obj)))
        } else {
            Stored::Tree(Arc::new(obj))
        }
    }

    /// The object itself: borrowed when held as a tree, parsed when held as text.
    pub fn obj(&self) -> Obj<'_> {
        match self {
            Stored::Tree(v) => Obj::Shared(v),
            Stored::Text(c) => Obj::Parsed(Arc::new(c.parse())),
        }
    }

    /// Part of the object, deserialised into `T` without building the rest.
    pub fn read_as<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        match self {
            Stored::Tree(v) => T::deserialize(&**v),
            Stored::Text(c) => serde_json::from_slice(&c.text.unpack(&c.kind)),
        }
    }

    pub fn resource_version(&self) -> &str {
        match self {
            Stored::Tree(v) => str_at(v, "/metadata/resourceVersion"),
            Stored::Text(c) => &c.resource_version,
        }
    }

    fn kind(&self) -> &str {
        match self {
            Stored::Tree(v) => str_at(v, "/kind"),
            Stored::Text(c) => &c.kind,
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            Stored::Tree(v) => str_at(v, "/metadata/namespace"),
            Stored::Text(c) => &c.namespace,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Stored::Tree(v) => str_at(v, "/metadata/name"),
            Stored::Text(c) => &c.name,
        }
    }

    /// (kind, namespace, name), the namespace empty for cluster-scoped kinds: where
    /// the snapshot holds it.
    fn key(&self) -> (&str, &str, &str) {
        let kind = self.kind();
        let ns = if is_cluster_scoped(kind) {
            ""
        } else {
            self.namespace()
        };
        (kind, ns, self.name())
    }

    fn controller(&self) -> Option<&str> {
        match self {
            Stored::Tree(v) => controller_uid(v),
            Stored::Text(c) => c.controller.as_deref(),
        }
    }
}

/// An object read from a snapshot. Dereferences to the shared `Arc<Value>`, so it
/// reads like one; an object held as text is parsed for this reader alone.
#[derive(Debug, Clone)]
pub enum Obj<'a> {
    Shared(&'a Arc<Value>),
    Parsed(Arc<Value>),
}

impl Deref for Obj<'_> {
    type Target = Arc<Value>;

    fn deref(&self) -> &Arc<Value> {
        match self {
            Obj::Shared(v) => v,
            Obj::Parsed(v) => v,
        }
    }
}

impl Obj<'_> {
    pub fn into_arc(self) -> Arc<Value> {
        match self {
            Obj::Shared(v) => v.clone(),
            Obj::Parsed(v) => v,
        }
    }

    /// The object as a value of its own: a parsed one is moved, a shared one copied.
    pub fn into_owned(self) -> Value {
        Arc::unwrap_or_clone(self.into_arc())
    }
}

fn controller_uid(obj: &Value) -> Option<&str> {
    obj.at("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)))?
        .get("uid")?
        .as_str()
}

/// The objects of one kind in one namespace, by name: shared by the operator's
/// successive snapshots until a change touches it.
type Bucket = BTreeMap<Arc<str>, Stored>;

/// Objects by kind, then by (namespace, name); plus the indexes the planner needs.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Kind → namespace ("" for cluster-scoped) → name → object.
    objects: HashMap<String, BTreeMap<Arc<str>, Arc<Bucket>>>,
    /// Controller owner `uid` → the objects it controls.
    controlled: HashMap<Arc<str>, Arc<[Stored]>>,
    /// Namespace → model name → namespaced templates, in list order.
    templates_by_model: HashMap<String, HashMap<String, Vec<Arc<Value>>>>,
    /// Model name → cluster templates, in list order.
    cluster_templates_by_model: HashMap<String, Vec<Arc<Value>>>,
    /// model `spec.image` → models (namespaced first by namespace, then cluster).
    models_by_image: HashMap<String, Vec<Arc<Value>>>,
    gpus: BTreeSet<String>,
    /// `{"gpus": [...]}`: the `cluster` fact of every AIMService plan, made once.
    cluster: Value,
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
        Self::shared(objects.into_iter().map(|o| Stored::Tree(Arc::new(o))))
    }

    /// Builds a snapshot over objects held elsewhere too (the operator's stores): the
    /// objects are shared, not copied, so a rebuild costs an index, not the cluster.
    pub fn shared(objects: impl IntoIterator<Item = Stored>) -> Self {
        let mut s = Snapshot::default();
        for obj in objects {
            s.insert(obj);
        }
        s.reindex();
        s
    }

    /// The snapshot after `changes` (an object's version before and after each; none
    /// before = created, none after = deleted). Buckets the changes do not touch are
    /// shared with `self` and a touched one is copied once, so the operator's update
    /// after a batch costs the batch, the small derived indexes and a shallow copy of
    /// the bucket and owner maps, not an index entry per object.
    pub fn updated<'a>(
        &self,
        changes: impl IntoIterator<Item = (Option<&'a Stored>, Option<&'a Stored>)>,
    ) -> Snapshot {
        let mut s = Snapshot {
            objects: self.objects.clone(),
            controlled: self.controlled.clone(),
            observations: self.observations.clone(),
            ..Snapshot::default()
        };
        for (old, new) in changes {
            if let Some(o) = new.or(old) {
                s.remove(o, old);
            }
            if let Some(n) = new {
                s.insert(n.clone());
            }
        }
        s.reindex();
        s
    }

    fn insert(&mut self, obj: Stored) {
        if let Stored::Tree(t) = &obj
            && is_observation(t)
        {
            self.observations.push(t.clone());
            return;
        }
        let (kind, ns, name) = obj.key();
        let bucket = self
            .objects
            .entry(kind.to_string())
            .or_default()
            .entry(ns.into())
            .or_default();
        if bucket.contains_key(name) {
            self.duplicates
                .push((kind.to_string(), ns.to_string(), name.to_string()));
            return;
        }
        if let Some(uid) = obj.controller() {
            let owned = self.controlled.entry(uid.into()).or_default();
            *owned = owned.iter().cloned().chain([obj.clone()]).collect();
        }
        Arc::make_mut(bucket).insert(name.into(), obj);
    }

    /// Removes the object held under `obj`'s key, whatever its version; an observation
    /// is removed by identity (`old`, the version the snapshot holds).
    fn remove(&mut self, obj: &Stored, old: Option<&Stored>) {
        if let Stored::Tree(t) = obj
            && is_observation(t)
        {
            if let Some(Stored::Tree(old)) = old {
                self.observations.retain(|o| !Arc::ptr_eq(o, old));
            }
            return;
        }
        let (kind, ns, name) = obj.key();
        let Some(by_ns) = self.objects.get_mut(kind) else {
            return;
        };
        let Some(bucket) = by_ns.get_mut(ns) else {
            return;
        };
        if !bucket.contains_key(name) {
            return;
        }
        let held = Arc::make_mut(bucket).remove(name);
        if bucket.is_empty() {
            by_ns.remove(ns);
            if by_ns.is_empty() {
                self.objects.remove(kind);
            }
        }
        if let Some(uid) = held.as_ref().and_then(Stored::controller)
            && let Some(owned) = self.controlled.get_mut(uid)
        {
            let rest: Arc<[Stored]> = owned
                .iter()
                .filter(|o| o.key() != (kind, ns, name))
                .cloned()
                .collect();
            if rest.is_empty() {
                self.controlled.remove(uid);
            } else {
                *owned = rest;
            }
        }
    }

    fn reindex(&mut self) {
        self.templates_by_model.clear();
        self.cluster_templates_by_model.clear();
        self.models_by_image.clear();
        for kind in ["AIMServiceTemplate", "AIMClusterServiceTemplate"] {
            let by_namespace = self.objects.get(kind).into_iter().flatten();
            for (ns, t) in by_namespace.flat_map(|(ns, b)| b.values().map(move |t| (ns, t))) {
                let t = t.obj().into_arc();
                let model = str_at(&t, "/spec/modelName").to_string();
                let by_model = if kind == "AIMClusterServiceTemplate" {
                    &mut self.cluster_templates_by_model
                } else {
                    self.templates_by_model.entry(ns.to_string()).or_default()
                };
                by_model.entry(model).or_default().push(t);
            }
        }
        for kind in ["AIMModel", "AIMClusterModel"] {
            let by_namespace = self.objects.get(kind).into_iter().flatten();
            for m in by_namespace.flat_map(|(_, b)| b.values()) {
                let m = m.obj().into_arc();
                let image = str_at(&m, "/spec/image").to_string();
                self.models_by_image.entry(image).or_default().push(m);
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
        self.cluster = serde_json::json!({ "gpus": self.gpus });
    }

    /// An object of a kind never held as text (not in [`COMPACT_KINDS`]), borrowed
    /// for the snapshot's lifetime.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&Arc<Value>> {
        debug_assert!(!is_compact(kind), "{kind} may be held as text: use read");
        match self.stored(kind, namespace, name)? {
            Stored::Tree(v) => Some(v),
            Stored::Text(_) => None,
        }
    }

    /// Every object of a kind never held as text, by namespace then name.
    pub fn list<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
        debug_assert!(
            !is_compact(kind),
            "{kind} may be held as text: use read_all"
        );
        self.read_all(kind).filter_map(|o| match o {
            Obj::Shared(v) => Some(v),
            Obj::Parsed(_) => None,
        })
    }

    /// Objects of a kind never held as text in one namespace, by name.
    pub fn list_in<'a, 'n>(
        &'a self,
        kind: &str,
        namespace: &'n str,
    ) -> impl Iterator<Item = &'a Arc<Value>> + use<'a, 'n> {
        debug_assert!(!is_compact(kind), "{kind} may be held as text: use read_in");
        self.read_in(kind, namespace).filter_map(|o| match o {
            Obj::Shared(v) => Some(v),
            Obj::Parsed(_) => None,
        })
    }

    /// An object of any kind.
    pub fn read(&self, kind: &str, namespace: &str, name: &str) -> Option<Obj<'_>> {
        self.stored(kind, namespace, name).map(Stored::obj)
    }

    /// An object as held, without parsing it.
    fn stored(&self, kind: &str, namespace: &str, name: &str) -> Option<&Stored> {
        let ns = if is_cluster_scoped(kind) {
            ""
        } else {
            namespace
        };
        self.objects.get(kind)?.get(ns)?.get(name)
    }

    /// Every object of any kind, by namespace then name.
    pub fn read_all<'a>(&'a self, kind: &str) -> impl Iterator<Item = Obj<'a>> + 'a {
        self.stored_in(kind, None).map(|(_, _, v)| v.obj())
    }

    /// Objects of any kind in one namespace, by name.
    pub fn read_in<'a, 'n>(
        &'a self,
        kind: &str,
        namespace: &'n str,
    ) -> impl Iterator<Item = Obj<'a>> + use<'a, 'n> {
        self.stored_in(kind, Some(namespace))
            .map(|(_, _, v)| v.obj())
    }

    /// Objects of any kind as held, with their namespace and name; in one namespace
    /// when `namespace` is given.
    pub fn stored_in<'a, 'n>(
        &'a self,
        kind: &str,
        namespace: Option<&'n str>,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Stored)> + use<'a, 'n> {
        let namespaces = match namespace {
            None => (Bound::Unbounded, Bound::Unbounded),
            Some(n) => (Bound::Included(n), Bound::Included(n)),
        };
        self.objects
            .get(kind)
            .into_iter()
            .flat_map(move |b| b.range::<str, _>(namespaces))
            .flat_map(|(ns, by_name)| by_name.iter().map(move |(name, v)| (&**ns, &**name, v)))
    }

    /// Objects whose controller owner reference names `uid`, of any kind.
    pub fn controlled_by<'a>(&'a self, uid: &str) -> impl Iterator<Item = Obj<'a>> + 'a {
        self.controlled
            .get(uid)
            .into_iter()
            .flat_map(|v| v.iter().map(Stored::obj))
    }

    /// Namespaced templates of `model` in `namespace`, then cluster templates of `model`.
    pub fn templates_for_model(
        &self,
        namespace: &str,
        model: &str,
    ) -> impl Iterator<Item = &Arc<Value>> {
        let ns = self
            .templates_by_model
            .get(namespace)
            .and_then(|by_model| by_model.get(model));
        let cl = self.cluster_templates_by_model.get(model);
        ns.into_iter().flatten().chain(cl.into_iter().flatten())
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

    /// What AIMService rules know of the cluster: `{"gpus": [normalised models]}`.
    pub fn cluster_fact(&self) -> &Value {
        &self.cluster
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

/// A node's labels as a map (what the GPU inventory reads).
fn labels(obj: &Value) -> BTreeMap<String, String> {
    obj.at("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn isvc(name: &str, owner: &str) -> Value {
        json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
               "metadata": {"namespace": "ns", "name": name, "resourceVersion": "7",
                            "ownerReferences": [{"uid": "other", "controller": false},
                                                {"uid": owner, "controller": true}]},
               "spec": {"predictor": {"minReplicas": 1}}})
    }

    /// Everything a planner can read of a snapshot, as plain values.
    fn view(s: &Snapshot, uids: &[&str]) -> Value {
        let kinds: Vec<String> = s.kinds().into_iter().map(String::from).collect();
        let by_kind: serde_json::Map<String, Value> = kinds
            .iter()
            .map(|k| (k.clone(), s.read_all(k).map(|o| (**o).clone()).collect()))
            .collect();
        let owned: Vec<Value> = uids
            .iter()
            .map(|u| s.controlled_by(u).map(|o| (**o).clone()).collect())
            .collect();
        let mut logs: Vec<Value> = s.observations("PodLog").map(|o| (**o).clone()).collect();
        logs.sort_by_key(|l| l.to_string());
        json!({
            "objects": by_kind,
            "owned": owned,
            "templates": s.templates_for_model("ns", "m").map(|t| (**t).clone()).collect::<Vec<_>>(),
            "models": s.models_with_image("img").iter().map(|m| (**m).clone()).collect::<Vec<_>>(),
            "cluster": s.cluster,
            "logs": logs,
        })
    }

    #[test]
    fn an_updated_snapshot_reads_as_one_built_from_scratch() {
        let template = |model: &str| {
            json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate",
                   "metadata": {"namespace": "ns", "name": "t"}, "spec": {"modelName": model}})
        };
        let model = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMClusterModel",
                           "metadata": {"name": "m"}, "spec": {"image": "img"}});
        let node = |gpu: &str| {
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": "n1", "labels": {"amd.com/gpu.product-name": gpu}}})
        };
        let log = |text: &str| {
            json!({"apiVersion": "observation.aimctl.dev/v1", "kind": "PodLog",
                   "metadata": {"namespace": "ns", "name": "p"}, "log": text})
        };
        let mut moved = isvc("b", "uid-c");
        moved["metadata"]["resourceVersion"] = json!("8");
        let before: Vec<Stored> = [
            isvc("a", "uid-a"),
            isvc("b", "uid-b"),
            isvc("gone", "uid-a"),
            template("m"),
            model.clone(),
            node("AMD Instinct MI300X"),
            log("one"),
        ]
        .into_iter()
        .map(Stored::of)
        .collect();
        let after: Vec<Stored> = [
            isvc("a", "uid-a"),
            moved,
            isvc("new", "uid-a"),
            template("other"),
            model,
            node("AMD Instinct MI325X"),
            log("two"),
        ]
        .into_iter()
        .map(Stored::of)
        .collect();
        // a's version is unchanged: no change for it, as the operator's cache reports
        let changes: Vec<(Option<&Stored>, Option<&Stored>)> = vec![
            (Some(&before[1]), Some(&after[1])),
            (Some(&before[2]), None),
            (None, Some(&after[2])),
            (Some(&before[3]), Some(&after[3])),
            (Some(&before[5]), Some(&after[5])),
            (Some(&before[6]), Some(&after[6])),
        ];
        let old = Snapshot::shared(before.clone());
        let updated = old.updated(changes);
        let uids = ["uid-a", "uid-b", "uid-c"];
        let scratch = Snapshot::shared(after);
        assert_eq!(view(&updated, &uids), view(&scratch, &uids));
        assert_ne!(
            view(&old, &uids),
            view(&scratch, &uids),
            "the changes change it"
        );
        // the snapshot it was updated from reads as before
        assert_eq!(view(&old, &uids), view(&Snapshot::shared(before), &uids));
        // and a bucket no change touched is shared, not copied
        let (o, u) = (
            &old.objects["AIMClusterModel"][""],
            &updated.objects["AIMClusterModel"][""],
        );
        assert!(Arc::ptr_eq(o, u));
    }

    #[test]
    fn text_is_packed_and_reads_back_whole() {
        let mut big = isvc("big", "uid-big");
        big["spec"]["predictor"]["model"] =
            json!({"args": (0..2000).map(|i| format!("--flag-{i}")).collect::<Vec<_>>()});
        for obj in [isvc("a", "uid-a"), isvc("b", "uid-b"), big] {
            let stored = Stored::of(obj.clone());
            let Stored::Text(c) = &stored else {
                panic!("an InferenceService is held as text")
            };
            let text = serde_json::to_vec(&obj).unwrap();
            assert!(c.text.bytes.len() < text.len() / 2, "{c:?}");
            assert_eq!(*stored.obj().into_arc(), obj);
            assert_eq!(stored.read_as::<Value>().unwrap(), obj);
        }
    }

    #[test]
    fn objects_held_as_text_read_back_whole_and_are_indexed_by_controller() {
        let template = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate",
                              "metadata": {"namespace": "ns", "name": "t"}, "spec": {"modelName": "m"}});
        let objects = [isvc("a", "uid-a"), isvc("b", "uid-b"), template.clone()];
        let stored: Vec<Stored> = objects.iter().cloned().map(Stored::of).collect();
        assert!(matches!(stored[0], Stored::Text(_)));
        assert!(matches!(stored[2], Stored::Tree(_)));
        assert_eq!(stored[0].resource_version(), "7");
        let snap = Snapshot::shared(stored);

        assert_eq!(
            **snap.read("InferenceService", "ns", "a").unwrap(),
            objects[0]
        );
        let all: Vec<Value> = snap
            .read_in("InferenceService", "ns")
            .map(|o| (**o).clone())
            .collect();
        assert_eq!(all, objects[..2]);
        assert_eq!(
            **snap.get("AIMServiceTemplate", "ns", "t").unwrap(),
            template
        );
        assert_eq!(snap.templates_for_model("ns", "m").count(), 1);

        let owned: Vec<Value> = snap.controlled_by("uid-b").map(|o| (**o).clone()).collect();
        assert_eq!(owned, [objects[1].clone()]);
        assert_eq!(snap.controlled_by("other").count(), 0);
    }
}
