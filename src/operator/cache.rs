//! The operator's view of the cluster. One watcher per watched kind (per namespace
//! when `--namespace` limits them) is folded into per-kind stores; after each batch of
//! changes (debounced) one shared [`Snapshot`] is rebuilt and published, and only then
//! is the batch announced to the controllers. Publishing before triggering means a
//! reconcile never plans from a view older than the change that woke it, and the
//! O(cluster) rebuild happens once per batch, not once per reconcile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use super::kinds::{Identity, Watched, watched};
use super::metrics::Metrics;
use crate::snapshot::{Obj, Snapshot, Stored};

/// How long a batch waits for a quiet moment before the snapshot is rebuilt.
const DEBOUNCE: Duration = Duration::from_millis(10);
/// Upper bound of one batch, so that a steady stream of changes still publishes.
const MAX_BATCH: Duration = Duration::from_millis(250);
/// A batch of nothing but Events (the busiest and least urgent kind: observations
/// for conditions) waits longer, so that event churn costs at most one rebuild a
/// second; any other change in the batch brings it back to [`MAX_BATCH`].
const EVENTS_BATCH: Duration = Duration::from_secs(1);

/// (namespace, name); the namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// One object that changed in a batch: its previous and its new version.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: &'static str,
    pub old: Option<Stored>,
    pub new: Option<Stored>,
}

impl Change {
    /// The versions of the object this change knows, newest first.
    pub fn versions(&self) -> impl Iterator<Item = Obj<'_>> {
        self.new.iter().chain(self.old.iter()).map(Stored::obj)
    }
}

/// A published batch: the snapshots before and after, and what changed in between.
#[derive(Clone)]
pub struct Batch {
    pub before: Arc<Snapshot>,
    pub after: Arc<Snapshot>,
    pub changes: Arc<Vec<Change>>,
}

/// The shared, read-only side of the cache.
pub struct Cache {
    snapshot: ArcSwap<Snapshot>,
    synced: watch::Receiver<bool>,
    readers: HashMap<&'static str, Store<Identity>>,
    batches: broadcast::Sender<Batch>,
    observe: futures::channel::mpsc::UnboundedSender<Observed>,
}

/// An observation (`observation.aimctl.dev/v1`: PodLog, RegistryListing, ...) the
/// operator produced, folded into the snapshot like a watched object: `value: None`
/// withdraws it. `key` identifies it among observations of its kind.
#[derive(Debug, Clone)]
pub struct Observed {
    pub kind: &'static str,
    pub key: Key,
    pub value: Option<Value>,
}

impl Cache {
    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Whether every watched kind has been listed at least once.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    pub async fn wait_synced(&self) {
        let mut rx = self.synced.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The store of a reconciled kind (what the kube-rs `Controller` looks objects up in).
    pub fn reader(&self, kind: &str) -> Option<Store<Identity>> {
        self.readers.get(kind).cloned()
    }

    /// Adds, replaces or withdraws an observation; it is published with the next batch.
    pub fn observe(&self, observed: Observed) {
        let _ = self.observe.unbounded_send(observed);
    }

    /// Batches published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Batch> {
        self.batches.subscribe()
    }
}

/// What one watch stream (a kind, in one namespace or cluster-wide) has seen.
struct Scope {
    watched: Watched,
    namespace: Option<String>,
    live: HashMap<Key, Stored>,
    relist: Option<HashMap<Key, Stored>>,
    synced: bool,
}

// Items are moved once, from a stream into the fold: no point boxing watch events.
#[allow(clippy::large_enum_variant)]
enum Item {
    Watch(usize, watcher::Result<Event<DynamicObject>>),
    Observe(Observed),
}

/// Starts every watcher and the task that folds them into snapshots. `reconciled`
/// names the kinds whose controllers need a kube-rs store.
pub fn start(
    client: Client,
    namespaces: &[String],
    reconciled: &[&'static str],
    metrics: Arc<Metrics>,
) -> Arc<Cache> {
    let mut streams: SelectAll<BoxStream<'static, Item>> = SelectAll::new();
    let mut scopes = vec![];
    for w in watched() {
        let ar = w.api_resource();
        let targets: Vec<Option<String>> = if w.namespaced && !namespaces.is_empty() {
            namespaces.iter().cloned().map(Some).collect()
        } else {
            vec![None]
        };
        for namespace in targets {
            let api: Api<DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            let index = scopes.len();
            streams.push(
                watcher(api, watcher::Config::default())
                    .default_backoff()
                    .map(move |e| Item::Watch(index, e))
                    .boxed(),
            );
            scopes.push(Scope {
                watched: w,
                namespace,
                live: HashMap::new(),
                relist: None,
                synced: false,
            });
        }
    }
    let mut writers = HashMap::new();
    let mut readers = HashMap::new();
    for kind in reconciled {
        if let Some(w) = watched().into_iter().find(|w| w.kind == *kind) {
            let writer = Writer::new(w);
            readers.insert(w.kind, writer.as_reader());
            writers.insert(w.kind, writer);
        }
    }
    let (synced_tx, synced_rx) = watch::channel(false);
    let (batches, _) = broadcast::channel(256);
    let (observe, observed) = futures::channel::mpsc::unbounded();
    streams.push(observed.map(Item::Observe).boxed());
    let cache = Arc::new(Cache {
        snapshot: ArcSwap::from_pointee(Snapshot::new([])),
        synced: synced_rx,
        readers,
        batches,
        observe,
    });
    let folder = Folder {
        cache: cache.clone(),
        scopes,
        writers,
        synced: synced_tx,
        metrics,
        pending: vec![],
        observed: HashMap::new(),
    };
    tokio::spawn(folder.run(streams));
    cache
}

fn watcher(
    api: Api<DynamicObject>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<Event<DynamicObject>>> + Send {
    kube::runtime::watcher(api, config)
}

/// The task that owns the stores.
struct Folder {
    cache: Arc<Cache>,
    scopes: Vec<Scope>,
    writers: HashMap<&'static str, Writer<Identity>>,
    synced: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    pending: Vec<Change>,
    observed: HashMap<(&'static str, Key), Arc<Value>>,
}

impl Folder {
    async fn run(mut self, mut streams: SelectAll<BoxStream<'static, Item>>) {
        let mut all_synced = false;
        while let Some(item) = streams.next().await {
            self.handle(item);
            let started = Instant::now();
            loop {
                let only_events = all_synced
                    && !self.pending.is_empty()
                    && self.pending.iter().all(|c| c.kind == "Event");
                let limit = if only_events { EVENTS_BATCH } else { MAX_BATCH };
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                let wait = if only_events {
                    left
                } else {
                    DEBOUNCE.min(left)
                };
                match tokio::time::timeout(wait, streams.next()).await {
                    Ok(Some(item)) => self.handle(item),
                    Ok(None) | Err(_) => break,
                }
            }
            if !all_synced {
                if !self.scopes.iter().all(|s| s.synced) {
                    continue;
                }
                all_synced = true;
                self.pending.clear();
                self.publish(true);
                self.metrics.cache_synced.set(1);
                let _ = self.synced.send(true);
                info!(
                    objects = self.scopes.iter().map(|s| s.live.len()).sum::<usize>(),
                    "caches synced"
                );
                continue;
            }
            if !self.pending.is_empty() {
                self.publish(false);
            }
        }
        warn!("every watch stream ended");
    }

    fn handle(&mut self, item: Item) {
        let (index, event) = match item {
            Item::Watch(index, event) => (index, event),
            Item::Observe(o) => return self.handle_observed(o),
        };
        let Some(scope) = self.scopes.get_mut(index) else {
            return;
        };
        let w = scope.watched;
        match event {
            Ok(Event::Init) => scope.relist = Some(HashMap::new()),
            Ok(Event::InitApply(obj)) => {
                if let Some((key, value)) = to_value(&w, obj) {
                    scope
                        .relist
                        .get_or_insert_with(HashMap::new)
                        .insert(key, value);
                }
            }
            Ok(Event::InitDone) => {
                let fresh = scope.relist.take().unwrap_or_default();
                for (key, new) in &fresh {
                    let old = scope.live.get(key);
                    if !old.is_some_and(|o| same_version(o, new)) {
                        self.pending.push(Change {
                            kind: w.kind,
                            old: old.cloned(),
                            new: Some(new.clone()),
                        });
                    }
                }
                for (key, old) in &scope.live {
                    if !fresh.contains_key(key) {
                        self.pending.push(Change {
                            kind: w.kind,
                            old: Some(old.clone()),
                            new: None,
                        });
                    }
                }
                scope.live = fresh;
                if !scope.synced {
                    debug!(kind = w.kind, namespace = ?scope.namespace, "listed");
                }
                scope.synced = true;
            }
            Ok(Event::Apply(obj)) => {
                if let Some((key, new)) = to_value(&w, obj) {
                    let old = scope.live.insert(key, new.clone());
                    if !old.as_ref().is_some_and(|o| same_version(o, &new)) {
                        self.pending.push(Change {
                            kind: w.kind,
                            old,
                            new: Some(new),
                        });
                    }
                }
            }
            Ok(Event::Delete(obj)) => {
                if let Some((key, _)) = to_value(&w, obj)
                    && let Some(old) = scope.live.remove(&key)
                {
                    self.pending.push(Change {
                        kind: w.kind,
                        old: Some(old),
                        new: None,
                    });
                }
            }
            Err(e) => {
                self.metrics
                    .watch_errors
                    .get_or_create(&Metrics::kind(w.kind))
                    .inc();
                if w.optional && !scope.synced && not_served(&e) {
                    warn!(kind = w.kind, error = %e, "cannot list this kind; treated as empty until it can");
                    scope.synced = true;
                } else {
                    warn!(kind = w.kind, namespace = ?scope.namespace, error = %e, "watch error; retrying with backoff");
                }
            }
        }
    }

    fn handle_observed(&mut self, o: Observed) {
        let slot = (o.kind, o.key);
        let old = match o.value {
            Some(v) => {
                if self.observed.get(&slot).is_some_and(|old| **old == v) {
                    return;
                }
                let new = Arc::new(v);
                let old = self.observed.insert(slot, new.clone());
                self.pending.push(Change {
                    kind: o.kind,
                    old: old.map(Stored::Tree),
                    new: Some(Stored::Tree(new)),
                });
                return;
            }
            None => self.observed.remove(&slot),
        };
        if old.is_some() {
            self.pending.push(Change {
                kind: o.kind,
                old: old.map(Stored::Tree),
                new: None,
            });
        }
    }

    /// Builds the snapshot (the first time from every object, then from the last one
    /// and the batch's changes), updates the controllers' stores, swaps the snapshot
    /// in and announces the batch — in that order.
    fn publish(&mut self, first: bool) {
        let started = Instant::now();
        let changes = std::mem::take(&mut self.pending);
        let snapshot = Arc::new(if first {
            Snapshot::shared(
                (self.scopes.iter())
                    .flat_map(|s| s.live.values().cloned())
                    .chain(self.observed.values().cloned().map(Stored::Tree)),
            )
        } else {
            (self.cache.snapshot.load())
                .updated(changes.iter().map(|c| (c.old.as_ref(), c.new.as_ref())))
        });
        let count = self.scopes.iter().map(|s| s.live.len()).sum::<usize>() + self.observed.len();
        for (kind, writer) in &mut self.writers {
            if first {
                writer.apply_watcher_event(&Event::Init);
                for scope in self.scopes.iter().filter(|s| s.watched.kind == *kind) {
                    for v in scope.live.values() {
                        if let Some(obj) = to_identity(v) {
                            writer.apply_watcher_event(&Event::InitApply(obj));
                        }
                    }
                }
                writer.apply_watcher_event(&Event::InitDone);
                continue;
            }
            for c in changes.iter().filter(|c| c.kind == *kind) {
                match (&c.new, &c.old) {
                    (Some(new), _) => {
                        if let Some(obj) = to_identity(new) {
                            writer.apply_watcher_event(&Event::Apply(obj));
                        }
                    }
                    (None, Some(old)) => {
                        if let Some(obj) = to_identity(old) {
                            writer.apply_watcher_event(&Event::Delete(obj));
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        let before = self.cache.snapshot.swap(snapshot.clone());
        self.metrics.snapshot_builds.inc();
        self.metrics.snapshot_objects.set(count as i64);
        self.metrics
            .snapshot_build_duration
            .observe(started.elapsed().as_secs_f64());
        debug!(
            changes = changes.len(),
            objects = count,
            took = ?started.elapsed(),
            "snapshot published"
        );
        if !first {
            let _ = self.cache.batches.send(Batch {
                before,
                after: snapshot,
                changes: Arc::new(changes),
            });
        }
    }
}

/// A watched object as the planner sees it: JSON with `apiVersion` and `kind` (list
/// items may lack them), with no `managedFields` but our own apply entry on kinds the
/// operator writes.
fn to_value(w: &Watched, obj: DynamicObject) -> Option<(Key, Stored)> {
    // the planners read the Events of pods and InferenceServices only; the rest (our
    // own, about AIM objects, most of them) would cost memory and planning time
    if w.kind == "Event"
        && !matches!(
            obj.data
                .pointer("/involvedObject/kind")
                .and_then(Value::as_str),
            Some("Pod" | "InferenceService")
        )
    {
        return None;
    }
    let mut value = serde_json::to_value(obj).ok()?;
    let map = value.as_object_mut()?;
    map.insert("apiVersion".into(), Value::String(w.api_version()));
    map.insert("kind".into(), Value::String(w.kind.into()));
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        // of the field managers, only our own apply entry is ever read (the steady-state
        // check of apply.rs); the rest is most of an object's size
        let ours = meta.remove("managedFields").and_then(|m| match m {
            Value::Array(entries) if w.keep_managed_fields => Some(Value::Array(
                entries
                    .into_iter()
                    .filter(super::apply::is_our_apply_entry)
                    .collect(),
            )),
            _ => None,
        });
        if let Some(ours) = ours {
            meta.insert("managedFields".into(), ours);
        }
    }
    let s = |p: &str| {
        value
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let namespace = if w.namespaced {
        s("/metadata/namespace")
    } else {
        String::new()
    };
    let key = (namespace, s("/metadata/name"));
    Some((key, Stored::of(value)))
}

/// What the controllers' stores keep of an object: its identity. The object itself
/// lives once, in the scopes and the snapshots that share it.
fn to_identity(v: &Stored) -> Option<Identity> {
    let (namespace, name) = (v.namespace(), v.name());
    if name.is_empty() {
        return None;
    }
    Some(Identity {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
            resource_version: Some(v.resource_version().to_string()),
            ..Default::default()
        },
    })
}

fn same_version(a: &Stored, b: &Stored) -> bool {
    !a.resource_version().is_empty() && a.resource_version() == b.resource_version()
}

/// A 404 (the API, a third-party CRD, does not exist here) or a 403 (RBAC does not
/// let us read it) on the first list.
fn not_served(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => matches!(s.code, 403 | 404),
        _ => false,
    }
}
