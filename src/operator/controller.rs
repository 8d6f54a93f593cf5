//! The controllers: one kube-rs `Controller` per reconciled kind, all alike. A
//! reconcile reads the published snapshot and the active pack, asks the pure planner
//! what should be, and then only writes the difference: deletions of superseded
//! owned objects, server-side applies of desired objects that do not hold yet, the
//! status when it changed, the plan's Events. Adding a kind is one [`RECONCILED`]
//! entry (its planner, finalizer and trigger mapping).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::ApiResource;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::ObjectRef;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info, warn};

use super::Shared;
use super::apply::{self, Resource};
use super::cache::{Batch, Key};
use super::events::Recorder;
use super::kinds::{self, Identity};
use super::metrics::{ErrorLabels, Metrics};
use super::triggers;
use crate::naming;
use crate::plan::{Plan, Settings};
use crate::rules::RulePack;
use crate::snapshot::{Obj, Snapshot};
use crate::status::{self, ConditionSet, ConditionStatus, EventRecord, Level};

/// The AIMService finalizer (service-reconcile.md §2).
pub const SERVICE_FINALIZER: &str = "aim.eai.amd.com/template-cache-cleanup";

/// The AIMTemplateCache finalizer (templates-models-caches.md §3.5).
pub const CACHE_FINALIZER: &str = "aim.eai.amd.com/artifactcleanup";

/// A pure planner for one object.
pub type Planner = fn(&Snapshot, &RulePack, &Value, &str, &Settings) -> Plan;

/// Cleanup a finalizer stands for, run before it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Delete the service's template caches that are not Ready (§2).
    ServiceCaches,
    /// Delete the cache's artifacts that are not Ready (templates-models-caches.md §3.5).
    CacheArtifacts,
}

/// One reconciled kind.
pub struct Reconciled {
    pub kind: &'static str,
    /// The controller name of outputs.md §2.1 (`aim-<ctl>-controller` reports Events).
    pub controller: &'static str,
    pub plan: Planner,
    pub finalizer: Option<(&'static str, Cleanup)>,
    /// The objects of this kind a batch of changes affects.
    pub affected: fn(&Batch, &mut BTreeSet<Key>),
    /// Checks the object against its API type; a failure skips the object until it
    /// changes.
    pub validate: fn(&Value) -> Result<(), String>,
    /// The plan lists every output each round, so an owned object of a planned kind
    /// under another name was superseded and goes (AIMService). The supporting
    /// planners list only what is missing and name their deletions (`Trace.deletes`).
    pub prune_superseded: bool,
}

/// Every reconciled kind.
pub const RECONCILED: &[Reconciled] = &[
    Reconciled {
        kind: "AIMService",
        controller: "service",
        plan: plan_service,
        finalizer: Some((SERVICE_FINALIZER, Cleanup::ServiceCaches)),
        affected: triggers::services,
        validate: spec_of::<crate::api::AIMServiceSpec>,
        prune_superseded: true,
    },
    Reconciled {
        kind: "AIMModel",
        controller: "model",
        plan: crate::plan::model::plan,
        finalizer: None,
        affected: triggers::models,
        validate: spec_of::<crate::api::AIMModelSpec>,
        prune_superseded: false,
    },
    Reconciled {
        kind: "AIMClusterModel",
        controller: "cluster-model",
        plan: crate::plan::model::plan,
        finalizer: None,
        affected: triggers::cluster_models,
        validate: spec_of::<crate::api::AIMClusterModelSpec>,
        prune_superseded: false,
    },
    Reconciled {
        kind: "AIMServiceTemplate",
        controller: "service-template",
        plan: crate::plan::template::plan,
        finalizer: None,
        affected: triggers::templates,
        validate: spec_of::<crate::api::AIMServiceTemplateSpec>,
        prune_superseded: false,
    },
    Reconciled {
        kind: "AIMClusterServiceTemplate",
        controller: "cluster-service-template",
        plan: crate::plan::template::plan,
        finalizer: None,
        affected: triggers::cluster_templates,
        validate: spec_of::<crate::api::AIMClusterServiceTemplateSpec>,
        prune_superseded: false,
    },
    Reconciled {
        kind: "AIMTemplateCache",
        controller: "template-cache",
        plan: crate::plan::template_cache::plan,
        finalizer: Some((CACHE_FINALIZER, Cleanup::CacheArtifacts)),
        affected: triggers::template_caches,
        validate: spec_of::<crate::api::AIMTemplateCacheSpec>,
        prune_superseded: false,
    },
    Reconciled {
        kind: "AIMArtifact",
        controller: "artifact",
        plan: crate::plan::artifact::plan,
        finalizer: None,
        affected: triggers::artifacts,
        validate: spec_of::<crate::api::AIMArtifactSpec>,
        prune_superseded: false,
    },
    Reconciled {
        kind: "AIMClusterModelSource",
        controller: "cluster-model-source",
        plan: crate::plan::model_source::plan,
        finalizer: None,
        affected: triggers::model_sources,
        validate: spec_of::<crate::api::AIMClusterModelSourceSpec>,
        prune_superseded: false,
    },
];

fn plan_service(
    snap: &Snapshot,
    pack: &RulePack,
    obj: &Value,
    now: &str,
    settings: &Settings,
) -> Plan {
    crate::plan::service::plan_with(snap, pack, obj, now, settings)
}

/// The reconciled kind whose kind name or controller name is `name`.
pub fn reconciled(name: &str) -> Option<&'static Reconciled> {
    RECONCILED
        .iter()
        .find(|r| r.kind.eq_ignore_ascii_case(name) || r.controller == name)
}

fn spec_of<T: DeserializeOwned>(obj: &Value) -> Result<(), String> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    serde_path_to_error::deserialize::<_, T>(spec)
        .map(|_| ())
        .map_err(|e| format!("spec.{}: {}", e.path(), e.inner()))
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The planner found an infrastructure error (nothing was applied).
    #[error("dependencies unreachable: {0}")]
    Unreachable(String),
    /// A write failed for a reason worth retrying (5xx, 429, timeouts, network).
    #[error("{action} {what}: {source}")]
    Write {
        action: &'static str,
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The API refused a write for a reason retrying will not fix (invalid object,
    /// forbidden, a field owned by another manager): a condition, not a hot retry.
    #[error("{action} {what} refused: {source}")]
    Refused {
        action: &'static str,
        what: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    fn write(action: &'static str, what: String, source: kube::Error) -> Error {
        // 409 is a retryable conflict (an optimistic-lock miss) unless it is a field
        // owned by another manager, which retrying cannot fix.
        let refused = matches!(&source, kube::Error::Api(s)
            if matches!(s.code, 400 | 403 | 422)
                || (s.code == 409 && s.message.starts_with("Apply failed")));
        if refused {
            Error::Refused {
                action,
                what,
                source,
            }
        } else {
            Error::Write {
                action,
                what,
                source,
            }
        }
    }

    pub fn class(&self) -> &'static str {
        match self {
            Error::Refused { .. } => "user",
            _ => "infrastructure",
        }
    }
}

/// Per object, the resourceVersions our own writes moved it past. A snapshot that
/// still shows one of them has not caught up with the write: planning on it would
/// repeat the write against an old version (a conflict) and its Events, so the pass
/// waits for the watch event of the write instead.
#[derive(Default)]
struct Outdated(Mutex<HashMap<String, Vec<String>>>);

impl Outdated {
    /// Records that a write moved `obj` past its resourceVersion.
    fn wrote_over(&self, obj: &Value) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(key_of(obj))
                .or_default()
                .push(s(obj, "/metadata/resourceVersion").to_string());
        }
    }

    /// Whether `obj`, as a snapshot shows it, is a version our writes already moved
    /// past; any other version means the snapshot caught up, and the record goes.
    fn shows(&self, obj: &Value) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        let key = key_of(obj);
        let version = s(obj, "/metadata/resourceVersion");
        match m.get(&key) {
            Some(versions) if versions.iter().any(|v| v == version) => true,
            Some(_) => {
                m.remove(&key);
                false
            }
            None => false,
        }
    }
}

/// What one controller shares with its reconciles.
pub struct Context {
    shared: Arc<Shared>,
    entry: &'static Reconciled,
    resource: Resource,
    /// Events go to a publisher task in order: a reconcile never waits on them, so
    /// the next pass (the one that may apply the InferenceService) is not delayed.
    events: futures::channel::mpsc::UnboundedSender<(ObjectReference, Vec<EventRecord>)>,
    /// Failures in a row per object, for the exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Objects triggered and not reconciled yet (the queue-depth metric).
    pending: Mutex<HashSet<String>>,
    /// resourceVersions of objects already reported as invalid.
    reported_invalid: Mutex<HashMap<String, String>>,
    /// The rule-pack digest each object was last planned with.
    planned_with: Mutex<HashMap<String, String>>,
    /// Versions our own writes moved objects past.
    outdated: Outdated,
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn key_of(v: &Value) -> String {
    format!("{}/{}", s(v, "/metadata/namespace"), s(v, "/metadata/name"))
}

impl Context {
    fn enqueue(&self, key: String) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(key);
            self.shared
                .metrics
                .queue_depth
                .get_or_create(&Metrics::kind(self.entry.kind))
                .set(p.len() as i64);
        }
    }

    fn dequeue(&self, key: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(key);
            self.shared
                .metrics
                .queue_depth
                .get_or_create(&Metrics::kind(self.entry.kind))
                .set(p.len() as i64);
        }
    }
}

/// Runs the controller of `entry` until `shutdown` resolves.
pub async fn run(
    shared: Arc<Shared>,
    entry: &'static Reconciled,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let Some(w) = kinds::watched().into_iter().find(|w| w.kind == entry.kind) else {
        warn!(kind = entry.kind, "not a watched kind; no controller");
        return;
    };
    let Some(reader) = shared.cache.reader(entry.kind) else {
        warn!(kind = entry.kind, "no store; no controller");
        return;
    };
    shared.cache.wait_synced().await;
    let ar: ApiResource = w.api_resource();
    let recorder = Recorder::new(
        shared.client.clone(),
        Reporter {
            controller: format!("aim-{}-controller", entry.controller),
            instance: Some(shared.identity.clone()),
        },
    );
    let (events, queued) = futures::channel::mpsc::unbounded();
    tokio::spawn(publish_events(recorder, queued, shared.clone(), entry.kind));
    let ctx = Arc::new(Context {
        shared: shared.clone(),
        entry,
        resource: Resource {
            ar: ar.clone(),
            namespaced: w.namespaced,
            watched: true,
        },
        events,
        failures: Mutex::new(HashMap::new()),
        pending: Mutex::new(HashSet::new()),
        reported_invalid: Mutex::new(HashMap::new()),
        planned_with: Mutex::new(HashMap::new()),
        outdated: Outdated::default(),
    });

    // Batches from the cache → the objects they affect.
    let (tx, rx) = futures::channel::mpsc::unbounded::<ObjectRef<Identity>>();
    let mut batches = shared.cache.subscribe();
    let mapper_ctx = ctx.clone();
    let mapper_reader = reader.clone();
    let namespaced = w.namespaced;
    tokio::spawn(async move {
        loop {
            let mut keys = BTreeSet::new();
            match batches.recv().await {
                Ok(batch) => (entry.affected)(&batch, &mut keys),
                Err(RecvError::Lagged(n)) => {
                    warn!(
                        kind = entry.kind,
                        skipped = n,
                        "missed change batches; re-planning everything"
                    );
                    for obj in mapper_reader.state() {
                        keys.insert((
                            obj.metadata.namespace.clone().unwrap_or_default(),
                            obj.metadata.name.clone().unwrap_or_default(),
                        ));
                    }
                }
                Err(RecvError::Closed) => return,
            }
            for (ns, name) in keys {
                let mut r = ObjectRef::new_with(&name, w);
                if namespaced {
                    r = r.within(&ns);
                }
                mapper_ctx.enqueue(format!("{ns}/{name}"));
                if tx.unbounded_send(r).is_err() {
                    return;
                }
            }
        }
    });

    // Pack swaps → re-plan everything; plus one full pass at start.
    let reloads = tokio_stream_of(shared.reloader.subscribe());
    let everything = stream::once(async {}).chain(reloads);

    info!(kind = entry.kind, "controller started");
    // No watch of its own: every trigger, the object's own changes included, comes
    // from the cache after the snapshot that holds the change is published.
    Controller::for_stream_with(
        stream::pending::<Result<Identity, kube::runtime::watcher::Error>>(),
        reader,
        w,
    )
    .with_config(Config::default().concurrency(4))
    .reconcile_on(rx)
    .reconcile_all_on(everything)
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        match result {
            Ok((obj, action)) => debug!(object = %obj, ?action, "reconciled"),
            Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                debug!(object = %obj, "gone before its reconcile")
            }
            Err(e) => debug!(error = %e, "reconcile failed"),
        }
    })
    .await;
    info!(kind = entry.kind, "controller stopped");
}

fn tokio_stream_of(
    rx: tokio::sync::broadcast::Receiver<()>,
) -> impl futures::Stream<Item = ()> + Send {
    stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(()) | Err(RecvError::Lagged(_)) => Some(((), rx)),
            Err(RecvError::Closed) => None,
        }
    })
}

/// The planner's clock: now, to the second, in RFC 3339.
fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn reconcile(obj: Arc<Identity>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let kind = ctx.entry.kind;
    // the store holds only identities: the object itself is read from the snapshot
    // published with the change that woke this reconcile
    let ns = obj.metadata.namespace.as_deref().unwrap_or("");
    let name = obj.metadata.name.as_deref().unwrap_or("");
    let Some(value) = ctx
        .shared
        .cache
        .snapshot()
        .read(kind, ns, name)
        .map(Obj::into_arc)
    else {
        return Ok(Action::await_change());
    };
    let key = key_of(&value);
    ctx.dequeue(&key);
    if ctx.outdated.shows(&value) {
        debug!(kind, object = %key, "the snapshot has not seen our last write yet");
        return Ok(Action::await_change());
    }
    ctx.shared
        .metrics
        .reconciles
        .get_or_create(&Metrics::kind(kind))
        .inc();
    let result = reconcile_object(&value, &ctx).await;
    Metrics::observe(
        &ctx.shared.metrics.reconcile_duration,
        kind,
        started.elapsed(),
    );
    match &result {
        Ok(_) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&key);
            }
        }
        Err(e) => {
            ctx.shared
                .metrics
                .reconcile_errors
                .get_or_create(&ErrorLabels {
                    kind: kind.into(),
                    class: e.class().into(),
                })
                .inc();
            warn!(kind, object = %key, error = %e, "reconcile failed");
        }
    }
    result
}

/// Infrastructure errors: exponential backoff per object (0.5 s doubling, at most
/// 5 min). Refused writes: a long requeue — a user error is a condition, retried
/// when something changes, not hot.
fn error_policy(obj: Arc<Identity>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or("")
    );
    if let Error::Refused { .. } = err {
        return Action::requeue(Duration::from_secs(300));
    }
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_millis(500)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(10))
        .min(Duration::from_secs(300));
    ctx.enqueue(key);
    Action::requeue(delay)
}

async fn reconcile_object(obj: &Value, ctx: &Context) -> Result<Action, Error> {
    let entry = ctx.entry;
    if obj
        .pointer(&format!(
            "/metadata/annotations/{}",
            crate::plan::PAUSED.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        == Some("true")
    {
        return Ok(Action::await_change());
    }
    if let Err(message) = (entry.validate)(obj) {
        report_invalid(obj, ctx, &message);
        return Ok(Action::await_change());
    }
    let finalizers: Vec<String> = obj
        .pointer("/metadata/finalizers")
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .unwrap_or_default();
    if let Some((finalizer, cleanup)) = entry.finalizer {
        let has = finalizers.iter().any(|f| f == finalizer);
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            if has {
                finalize(obj, ctx, finalizer, cleanup, &finalizers).await?;
            }
            return Ok(Action::await_change());
        }
        if !has {
            // §2 adds the finalizer and plans on the next pass; planning on the
            // object the API answered saves that pass's round trip, nothing else.
            let mut with = finalizers.clone();
            with.push(finalizer.to_string());
            let version = apply::set_finalizers(&ctx.shared.client, &ctx.resource, obj, &with)
                .await
                .map_err(|e| Error::write("add finalizer to", key_of(obj), e))?;
            ctx.shared.metrics.wrote("finalizer", entry.kind);
            ctx.outdated.wrote_over(obj);
            let mut updated = obj.clone();
            updated["metadata"]["finalizers"] = json!(with);
            updated["metadata"]["resourceVersion"] = json!(version);
            return plan_and_write(&updated, ctx).await;
        }
    } else if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Action::await_change());
    }
    plan_and_write(obj, ctx).await
}

/// The pipeline: plan, write the difference, the status, the Events.
async fn plan_and_write(obj: &Value, ctx: &Context) -> Result<Action, Error> {
    let entry = ctx.entry;

    let snapshot = ctx.shared.cache.snapshot();
    let pack = ctx.shared.reloader.pack().load_full();
    let now = now();
    let t = Instant::now();
    // the first plan of an object under a new rule pack chooses afresh (a retuned pack
    // moves running services); once that plan is written, later plans keep it
    let key = key_of(obj);
    let reselect = ctx
        .planned_with
        .lock()
        .map(|m| m.get(&key).is_some_and(|d| *d != pack.digest))
        .unwrap_or(false);
    let settings = Settings {
        reselect,
        ..ctx.shared.settings.clone()
    };
    let mut plan = (entry.plan)(&snapshot, &pack, obj, &now, &settings);
    Metrics::observe(&ctx.shared.metrics.plan_duration, entry.kind, t.elapsed());
    for note in &plan.trace.notes {
        warn!(kind = entry.kind, object = %key_of(obj), note, "planner note");
    }

    let mut status = std::mem::take(&mut plan.status);
    let mut failure = None;
    if plan.retry {
        failure = Some(Error::Unreachable(unreachable_reason(&status)));
    } else if !plan.apply_blocked
        && let Err(e) = write_objects(obj, &plan, &snapshot, ctx).await
    {
        let message = e.to_string();
        record_write_failure(
            &mut status,
            &now,
            obj,
            &message,
            matches!(e, WriteStep::Delete(_)),
        );
        failure = Some(e.into_error());
    }
    let mut next = match plan.trace.requeue_after {
        Some(d) if !d.is_zero() => Action::requeue(d),
        _ => Action::await_change(),
    };
    let mut settled = true;
    if status.is_object() {
        match apply::write_status(&ctx.shared.client, &ctx.resource, obj, &status).await {
            Ok(apply::StatusWrite::Written) => {
                ctx.shared.metrics.wrote("status", entry.kind);
                ctx.outdated.wrote_over(obj);
            }
            Ok(apply::StatusWrite::Unchanged) => {}
            // Normally the watch brings the newer object right away; the requeue
            // covers a conflict without one.
            Ok(apply::StatusWrite::Conflict) => {
                settled = false;
                next = Action::requeue(Duration::from_secs(1))
            }
            Err(e) => {
                failure.get_or_insert(Error::write("write status of", key_of(obj), e));
            }
        }
    }
    let mut events = plan.events;
    if let Some(e) = &failure
        && !plan.retry
    {
        events.push(EventRecord {
            type_: status::EventType::Warning,
            reason: "InfrastructureError".into(),
            message: e.to_string(),
        });
    }
    publish(obj, ctx, events);
    match failure {
        Some(e) => Err(e),
        None => {
            if settled && let Ok(mut m) = ctx.planned_with.lock() {
                m.insert(key, pack.digest.clone());
            }
            Ok(next)
        }
    }
}

/// The message of the failing condition, for the log.
fn unreachable_reason(status: &Value) -> String {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c["type"] == "Ready")
                .or_else(|| c.iter().find(|c| c["type"] == "DependenciesReachable"))
        })
        .map(|c| format!("{}: {}", s(c, "/reason"), s(c, "/message")))
        .unwrap_or_else(|| "infrastructure error".into())
}

/// §1.6: a failed write marks the dependencies unreachable.
fn record_write_failure(status: &mut Value, now: &str, obj: &Value, message: &str, delete: bool) {
    let previous = status::stored_conditions(status.get("conditions"));
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let mut set = ConditionSet::new(previous, now, generation);
    let what = if delete { "delete" } else { "apply" };
    set.set(
        "DependenciesReachable",
        ConditionStatus::False,
        "InfrastructureError",
        &format!("Failed to {what} resources: {message}"),
        Level::Error,
    );
    status["conditions"] = status::conditions_value(set.finish().0);
}

/// Which write failed.
enum WriteStep {
    Delete(Error),
    Apply(Error),
}

impl std::fmt::Display for WriteStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteStep::Delete(e) | WriteStep::Apply(e) => e.fmt(f),
        }
    }
}

impl WriteStep {
    fn into_error(self) -> Error {
        match self {
            WriteStep::Delete(e) | WriteStep::Apply(e) => e,
        }
    }
}

fn describe(v: &Value) -> String {
    let ns = s(v, "/metadata/namespace");
    if ns.is_empty() {
        format!("{} {}", s(v, "/kind"), s(v, "/metadata/name"))
    } else {
        format!("{} {ns}/{}", s(v, "/kind"), s(v, "/metadata/name"))
    }
}

/// Planned deletions, then applies (owned objects first, then unowned; §9), each
/// skipped when the live object already holds.
async fn write_objects(
    parent: &Value,
    plan: &Plan,
    snapshot: &Snapshot,
    ctx: &Context,
) -> Result<(), WriteStep> {
    let client = &ctx.shared.client;
    let metrics = &ctx.shared.metrics;
    let victims = if ctx.entry.prune_superseded {
        superseded(parent, &plan.objects, snapshot)
    } else {
        vec![]
    };
    for victim in victims {
        let r = resolve(ctx, &victim).await.map_err(WriteStep::Delete)?;
        info!(object = %describe(&victim), owner = %key_of(parent), "deleting an owned object the plan no longer wants");
        apply::delete(client, &r, &victim)
            .await
            .map_err(|e| WriteStep::Delete(Error::write("delete", describe(&victim), e)))?;
        metrics.wrote("delete", s(&victim, "/kind"));
    }
    for victim in &plan.trace.deletes {
        let live = snapshot
            .read(
                s(victim, "/kind"),
                s(victim, "/namespace"),
                s(victim, "/name"),
            )
            .map(Obj::into_owned);
        let r = resolve(ctx, victim).await.map_err(WriteStep::Delete)?;
        let target = match live {
            // Already going, or (for a watched kind) already gone: nothing to write.
            Some(l) if l.pointer("/metadata/deletionTimestamp").is_some() => continue,
            Some(l) => l,
            None if r.watched => continue,
            None => json!({
                "apiVersion": victim["apiVersion"],
                "kind": victim["kind"],
                "metadata": {"namespace": s(victim, "/namespace"), "name": s(victim, "/name")},
            }),
        };
        info!(object = %describe(&target), owner = %key_of(parent), "deleting what the plan deletes");
        apply::delete(client, &r, &target)
            .await
            .map_err(|e| WriteStep::Delete(Error::write("delete", describe(&target), e)))?;
        metrics.wrote("delete", s(victim, "/kind"));
    }
    let owned = |o: &Value| {
        o.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let ordered = plan
        .objects
        .iter()
        .filter(|o| owned(o))
        .chain(plan.objects.iter().filter(|o| !owned(o)));
    for desired in ordered {
        let r = resolve(ctx, desired).await.map_err(WriteStep::Apply)?;
        let live = if r.watched {
            snapshot
                .read(
                    s(desired, "/kind"),
                    s(desired, "/metadata/namespace"),
                    s(desired, "/metadata/name"),
                )
                .map(Obj::into_owned)
        } else {
            apply::get(client, &r, desired)
                .await
                .map_err(|e| WriteStep::Apply(Error::write("read", describe(desired), e)))?
        };
        if live.as_ref().is_some_and(|l| apply::holds(desired, l)) {
            continue;
        }
        debug!(object = %describe(desired), create = live.is_none(), "applying");
        apply::apply(client, &r, desired)
            .await
            .map_err(|e| WriteStep::Apply(Error::write("apply", describe(desired), e)))?;
        metrics.wrote("apply", s(desired, "/kind"));
    }
    Ok(())
}

async fn resolve(ctx: &Context, obj: &Value) -> Result<Resource, Error> {
    ctx.shared
        .resolver
        .resolve(&ctx.shared.client, s(obj, "/apiVersion"), s(obj, "/kind"))
        .await
        .map_err(|e| Error::write("find the API of", describe(obj), e))
}

/// Owned objects the plan replaced: objects this parent controls whose kind the plan
/// still produces under another name (a renamed output). An output the plan merely
/// does not produce this round (gated on a dependency) is never deleted.
fn superseded(parent: &Value, planned: &[Value], snapshot: &Snapshot) -> Vec<Value> {
    let uid = s(parent, "/metadata/uid");
    if uid.is_empty() {
        return vec![];
    }
    let wanted: HashSet<(&str, &str, &str, &str)> = planned
        .iter()
        .map(|o| {
            (
                s(o, "/apiVersion"),
                s(o, "/kind"),
                s(o, "/metadata/namespace"),
                s(o, "/metadata/name"),
            )
        })
        .collect();
    let produced: HashSet<(&str, &str)> = wanted.iter().map(|(a, k, _, _)| (*a, *k)).collect();
    let mut out: Vec<Value> = snapshot
        .controlled_by(uid)
        .filter(|live| {
            let kind = (s(live, "/apiVersion"), s(live, "/kind"));
            produced.contains(&kind)
                && kinds::lookup(kind.0, kind.1).is_some()
                && !wanted.contains(&(
                    kind.0,
                    kind.1,
                    s(live, "/metadata/namespace"),
                    s(live, "/metadata/name"),
                ))
                && live.pointer("/metadata/deletionTimestamp").is_none()
        })
        .map(Obj::into_owned)
        .collect();
    // the index keeps the order objects arrived in
    out.sort_by(|a, b| {
        key_of(a)
            .cmp(&key_of(b))
            .then(s(a, "/kind").cmp(s(b, "/kind")))
    });
    out
}

/// §2: the finalizer's cleanup, then its removal.
async fn finalize(
    obj: &Value,
    ctx: &Context,
    finalizer: &str,
    cleanup: Cleanup,
    finalizers: &[String],
) -> Result<(), Error> {
    let snapshot = ctx.shared.cache.snapshot();
    let ns = s(obj, "/metadata/namespace");
    let terminating = match snapshot.get("Namespace", "", ns) {
        None => true,
        Some(n) => n.pointer("/metadata/deletionTimestamp").is_some(),
    };
    if !terminating {
        match cleanup {
            Cleanup::ServiceCaches => {
                let name = s(obj, "/metadata/name");
                let label = naming::label_value(name).unwrap_or_else(|_| name.to_string());
                let victims: Vec<Value> = snapshot
                    .list_in("AIMTemplateCache", ns)
                    .filter(|c| s(c, "/metadata/labels/aim.eai.amd.com~1service") == label)
                    .filter(|c| s(c, "/status/status") != "Ready")
                    .map(|c| (**c).clone())
                    .collect();
                for cache in victims {
                    let r = resolve(ctx, &cache).await?;
                    match apply::delete(&ctx.shared.client, &r, &cache).await {
                        Ok(()) => ctx.shared.metrics.wrote("delete", "AIMTemplateCache"),
                        Err(kube::Error::Api(st)) if st.code == 403 => {}
                        Err(e) => return Err(Error::write("delete", describe(&cache), e)),
                    }
                }
            }
            Cleanup::CacheArtifacts => {
                let name = s(obj, "/metadata/name");
                let label = naming::label_value(name).unwrap_or_else(|_| name.to_string());
                let victims: Vec<Value> = snapshot
                    .list_in("AIMArtifact", ns)
                    .filter(|a| {
                        s(a, "/metadata/labels/aim.eai.amd.com~1template-cache.name") == label
                    })
                    .filter(|a| s(a, "/status/status") != "Ready")
                    .filter(|a| a.pointer("/metadata/deletionTimestamp").is_none())
                    .map(|a| (**a).clone())
                    .collect();
                for artifact in victims {
                    let r = resolve(ctx, &artifact).await?;
                    match apply::delete(&ctx.shared.client, &r, &artifact).await {
                        Ok(()) => ctx.shared.metrics.wrote("delete", "AIMArtifact"),
                        Err(kube::Error::Api(st)) if st.code == 403 => {}
                        Err(e) => return Err(Error::write("delete", describe(&artifact), e)),
                    }
                }
            }
        }
    } else {
        debug!(
            namespace = ns,
            "namespace terminating; skipping finalizer cleanup"
        );
    }
    let rest: Vec<String> = finalizers
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    apply::set_finalizers(&ctx.shared.client, &ctx.resource, obj, &rest)
        .await
        .map_err(|e| Error::write("remove finalizer from", key_of(obj), e))?;
    ctx.shared.metrics.wrote("finalizer", ctx.entry.kind);
    Ok(())
}

fn reference(obj: &Value) -> ObjectReference {
    let opt = |p: &str| Some(s(obj, p).to_string()).filter(|v| !v.is_empty());
    ObjectReference {
        api_version: opt("/apiVersion"),
        kind: opt("/kind"),
        name: opt("/metadata/name"),
        namespace: opt("/metadata/namespace"),
        uid: opt("/metadata/uid"),
        ..Default::default()
    }
}

/// Queues the plan's Events for the publisher task.
fn publish(obj: &Value, ctx: &Context, events: Vec<EventRecord>) {
    if !events.is_empty() {
        // a closed queue means the controller is shutting down: the Events are dropped
        let _ = ctx.events.unbounded_send((reference(obj), events));
    }
}

/// Publishes queued Events in order until the controller's queue closes. Events are
/// best effort: a failure is logged, never retried.
async fn publish_events(
    recorder: Recorder,
    mut queued: futures::channel::mpsc::UnboundedReceiver<(ObjectReference, Vec<EventRecord>)>,
    shared: Arc<Shared>,
    kind: &'static str,
) {
    while let Some((reference, events)) = queued.next().await {
        for e in events {
            let event = Event {
                type_: match e.type_ {
                    status::EventType::Normal => EventType::Normal,
                    status::EventType::Warning => EventType::Warning,
                },
                reason: e.reason.clone(),
                note: Some(e.message.chars().take(1024).collect()),
                action: "Reconcile".into(),
                secondary: None,
            };
            match recorder.publish(&event, &reference).await {
                Ok(()) => shared.metrics.wrote("event", kind),
                Err(err) => debug!(error = %err, reason = %e.reason, "cannot record an Event"),
            }
        }
    }
}

/// An object that does not match its API type: reported once per version (log,
/// metric, Warning Event), then skipped until it changes.
fn report_invalid(obj: &Value, ctx: &Context, message: &str) {
    let key = key_of(obj);
    let version = s(obj, "/metadata/resourceVersion").to_string();
    let first = ctx
        .reported_invalid
        .lock()
        .map(|mut m| m.insert(key.clone(), version.clone()) != Some(version))
        .unwrap_or(true);
    if !first {
        return;
    }
    warn!(kind = ctx.entry.kind, object = %key, error = message, "skipping an object that does not match its API type");
    ctx.shared
        .metrics
        .invalid_objects
        .get_or_create(&Metrics::kind(ctx.entry.kind))
        .inc();
    publish(
        obj,
        ctx,
        vec![EventRecord {
            type_: status::EventType::Warning,
            reason: "InvalidSpec".into(),
            message: format!("object skipped until it changes: {message}"),
        }],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Stored;

    #[test]
    fn a_failed_write_marks_dependencies_unreachable() {
        let obj = json!({"metadata": {"name": "svc", "generation": 4}});
        let ready = json!({"type": "Ready", "status": "True", "reason": "AllComponentsReady",
                           "message": "", "lastTransitionTime": "T0"});
        let mut status = json!({"conditions": [
            {"type": "DependenciesReachable", "status": "True", "reason": "Reachable",
             "message": "", "lastTransitionTime": "T0"},
            ready,
        ]});
        record_write_failure(&mut status, "T5", &obj, "conflict", false);
        let reachable = &status["conditions"][0];
        assert_eq!(reachable["status"], "False");
        assert_eq!(reachable["reason"], "InfrastructureError");
        assert_eq!(reachable["message"], "Failed to apply resources: conflict");
        assert_eq!(reachable["lastTransitionTime"], "T5");
        assert_eq!(reachable["observedGeneration"], 4);
        assert_eq!(
            status["conditions"][1], ready,
            "other conditions stay as stored"
        );

        record_write_failure(&mut status, "T20", &obj, "gone", true);
        let reachable = &status["conditions"][0];
        assert_eq!(reachable["message"], "Failed to delete resources: gone");
        assert_eq!(
            reachable["lastTransitionTime"], "T5",
            "still unreachable since T5"
        );
    }

    #[test]
    fn a_snapshot_is_outdated_until_it_shows_a_version_after_our_writes() {
        let at = |rv: &str| json!({"metadata": {"namespace": "ns", "name": "svc", "resourceVersion": rv}});
        let outdated = Outdated::default();
        assert!(!outdated.shows(&at("1")), "nothing written yet");
        // a pass adds the finalizer over version 1, then writes the status over 2
        outdated.wrote_over(&at("1"));
        outdated.wrote_over(&at("2"));
        assert!(outdated.shows(&at("1")));
        assert!(
            outdated.shows(&at("2")),
            "the finalizer seen, the status not yet"
        );
        assert!(!outdated.shows(&at("3")), "caught up");
        assert!(!outdated.shows(&at("1")), "the record went once caught up");
        let other =
            json!({"metadata": {"namespace": "ns", "name": "other", "resourceVersion": "2"}});
        outdated.wrote_over(&at("3"));
        assert!(!outdated.shows(&other), "records are per object");
    }

    #[test]
    fn only_renamed_outputs_are_superseded() {
        let parent = json!({"metadata": {"namespace": "ns", "name": "svc", "uid": "u1"}});
        let owned = |name: &str| {
            json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                   "metadata": {"namespace": "ns", "name": name,
                       "ownerReferences": [{"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
                                            "name": "svc", "uid": "u1", "controller": true}]}})
        };
        let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                   "metadata": {"namespace": "ns", "name": "r",
                       "ownerReferences": [{"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
                                            "name": "svc", "uid": "u1", "controller": true}]}});
        let mut leaving = owned("leaving");
        leaving["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let mut foreign = owned("foreign");
        foreign["metadata"]["ownerReferences"][0]["uid"] = json!("u2");
        // held as the operator holds them (as text)
        let snap =
            Snapshot::shared([owned("old"), owned("new"), leaving, foreign, route].map(Stored::of));
        // the route is not planned this round: kept; the ISVC was renamed: old deleted
        let gone = superseded(&parent, &[owned("new")], &snap);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0]["metadata"]["name"], "old");
        assert!(superseded(&parent, &[], &snap).is_empty());
    }

    #[test]
    fn clock_is_rfc3339_seconds() {
        let n = now();
        assert_eq!(n.len(), 20, "{n}");
        assert!(n.ends_with('Z'));
    }
}
