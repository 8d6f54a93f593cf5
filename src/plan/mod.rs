//! The planner: `plan(snapshot, object, pack) -> Plan`. Pure — no I/O, no clock
//! (the time is an input), no randomness — so dry-run, tests and the operator see
//! the same decisions.

pub mod artifact;
pub mod context;
pub mod controller;
pub mod discovery;
pub mod hardware;
pub mod metadata;
pub mod model;
pub mod model_source;
pub mod pods;
pub mod routing;
pub mod sample;
pub mod service;
pub mod template;
pub mod template_cache;

use crate::json_path::{At as _, str_at};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::rules::select::SelectionResult;
use crate::status::EventRecord;

/// Everything one reconcile round of one object would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Objects to server-side apply, sorted by apiVersion, kind, namespace, name.
    pub objects: Vec<Value>,
    /// The status the reconciled object's controller would write. The object itself
    /// is the caller's ([`Planned`]): a plan does not copy it.
    pub status: Value,
    pub events: Vec<EventRecord>,
    /// An error class that forbids applying anything this round (status still written).
    pub apply_blocked: bool,
    /// Infrastructure trouble: the operator retries with backoff.
    pub retry: bool,
    #[serde(skip)]
    pub trace: Trace,
}

impl Plan {
    /// The kinds of the objects to apply, in apply order.
    pub fn kinds(&self) -> Vec<&str> {
        self.objects
            .iter()
            .filter_map(|o| o["kind"].as_str())
            .collect()
    }
}

/// A reconciled object of a round and its plan.
#[derive(Debug)]
pub struct Planned {
    pub object: Arc<Value>,
    pub plan: Plan,
}

impl Planned {
    /// The object with its planned status, as `dry-run` prints it.
    pub fn planned_object(&self) -> Value {
        let mut object = (*self.object).clone();
        object["status"] = self.plan.status.clone();
        object
    }
}

/// Times steps that follow one another with one clock read a step, when the plan is
/// explained ([`Trace::explain`]); otherwise it reads no clock and records no step (a
/// plan has a couple of dozen steps, and only `--explain` prints their times).
pub struct Laps(Option<Instant>);

impl Laps {
    pub fn start(trace: &Trace) -> Self {
        Laps(trace.explain.then(Instant::now))
    }

    /// Records the time since the last lap (or the start) as the time of `step`.
    pub fn lap(&mut self, trace: &mut Trace, step: impl FnOnce() -> Arc<str>) {
        if let Some(last) = &mut self.0 {
            let now = Instant::now();
            trace.steps.push((step(), now - *last));
            *last = now;
        }
    }
}

/// What `--explain` prints: why each decision came out as it did.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub selection: Option<Arc<SelectionResult>>,
    /// Per merge: field path → the layer whose value won (when explained).
    pub merges: Vec<(String, crate::rules::merge::Provenance)>,
    /// Named steps and their durations, when the plan is explained; names are
    /// shared with the pack.
    pub steps: Vec<(Arc<str>, Duration)>,
    /// Whether the plan records step times and merge provenance ([`Settings::explain`]).
    pub explain: bool,
    pub notes: Vec<String>,
    /// When the controller wants to look again even if nothing changes (the operator
    /// requeues; e.g. a Progressing artifact every 10 s, a model source after its
    /// sync interval, a discovery job waiting for a free slot).
    pub requeue_after: Option<Duration>,
    /// Objects this round would delete (`{apiVersion, kind, namespace, name}`):
    /// printed by `--explain` only (cli.md).
    pub deletes: Vec<Value>,
}

/// Settings of a planning round that are not part of the cluster state.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where cluster-scoped work runs (discovery Jobs of cluster templates) and where
    /// cluster models' pull secrets live (cli.md `--operator-namespace`).
    pub operator_namespace: String,
    /// Choose templates afresh, ignoring the services' previous resolutions: the
    /// operator sets it for the first plan of each service under a new rule pack, so
    /// that a retuned pack moves running services (service-reconcile.md §6.1 keeps a
    /// resolution sticky otherwise).
    pub reselect: bool,
    /// Record what only `--explain` prints: each step's time and the layer each
    /// merged field came from.
    pub explain: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            operator_namespace: "aim-system".into(),
            reselect: false,
            explain: false,
        }
    }
}

/// A JSON object of the given fields, moved in: `json!` copies every value it is
/// given (it serialises them), which costs a plan's facts a deep copy each.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// What produced objects are sorted by (cli.md: apiVersion, kind, namespace, name).
const ORDER: [&str; 4] = [
    "/apiVersion",
    "/kind",
    "/metadata/namespace",
    "/metadata/name",
];

/// Sort key of produced objects.
pub fn object_order(v: &Value) -> [&str; 4] {
    ORDER.map(|p| str_at(v, p))
}

/// Sorts produced objects by [`object_order`], reading a field only when the ones
/// before it are equal (a plan's objects differ in their apiVersion).
pub fn sort_objects(objects: &mut [Value]) {
    objects.sort_by(|a, b| {
        ORDER
            .iter()
            .map(|p| str_at(a, p).cmp(str_at(b, p)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Annotation that freezes an object: it is neither planned nor printed.
pub const PAUSED: &str = "aim.eai.amd.com/reconciliation-paused";

fn paused(obj: &Value) -> bool {
    obj.at("/metadata/annotations")
        .and_then(|a| a.get(PAUSED))
        .and_then(Value::as_str)
        == Some("true")
}

/// One reconcile round over every reconciled object of the snapshot, sorted by kind,
/// namespace and name. `only` limits it to one service (`namespace/name`).
pub fn round(
    snap: &crate::snapshot::Snapshot,
    pack: &crate::rules::RulePack,
    now: &str,
    only: Option<(&str, &str)>,
) -> Vec<Planned> {
    round_with(snap, pack, now, only, &Settings::default())
}

/// [`round`] with explicit settings (the operator namespace).
pub fn round_with(
    snap: &crate::snapshot::Snapshot,
    pack: &crate::rules::RulePack,
    now: &str,
    only: Option<(&str, &str)>,
    settings: &Settings,
) -> Vec<Planned> {
    use rayon::prelude::*;
    let mut objects = vec![];
    for kind in context::KINDS {
        if only.is_some() && *kind != "AIMService" {
            continue;
        }
        for obj in snap.read_all(kind) {
            let ns = obj
                .at("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = obj
                .at("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if only.is_some_and(|(n, m)| (n, m) != (ns, name)) || paused(&obj) {
                continue;
            }
            objects.push(obj);
        }
    }
    // plans are independent (each reads only the snapshot): one per core, in order
    objects
        .par_iter()
        .filter_map(|obj| {
            let plan = plan_object(snap, pack, obj, now, settings)?;
            Some(Planned {
                object: Arc::clone(obj),
                plan,
            })
        })
        .collect()
}

/// Plans one reconciled object of any kind (`None` for a kind without a planner).
pub fn plan_object(
    snap: &crate::snapshot::Snapshot,
    pack: &crate::rules::RulePack,
    obj: &Value,
    now: &str,
    settings: &Settings,
) -> Option<Plan> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    Some(match kind {
        "AIMService" => service::plan_with(snap, pack, obj, now, settings),
        "AIMModel" | "AIMClusterModel" => model::plan(snap, pack, obj, now, settings),
        "AIMServiceTemplate" | "AIMClusterServiceTemplate" => {
            template::plan(snap, pack, obj, now, settings)
        }
        "AIMTemplateCache" => template_cache::plan(snap, pack, obj, now, settings),
        "AIMArtifact" => artifact::plan(snap, pack, obj, now, settings),
        "AIMClusterModelSource" => model_source::plan(snap, pack, obj, now, settings),
        _ => return None,
    })
}

/// The planner's clock for a state: the latest timestamp found in it, so the same
/// state always plans the same way (cli.md "Clock and settings").
pub fn clock_of(objects: &[Value]) -> String {
    fn walk(v: &Value, latest: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if let Value::String(s) = x
                        && matches!(
                            k.as_str(),
                            "creationTimestamp"
                                | "lastTransitionTime"
                                | "startTime"
                                | "completionTime"
                                | "lastTimestamp"
                                | "firstTimestamp"
                                | "lastSyncTime"
                                | "lastAttemptTime"
                        )
                        && s.len() >= 20
                        && s.as_str() > latest.as_str()
                    {
                        *latest = s.clone();
                    }
                    walk(x, latest);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, latest)),
            _ => {}
        }
    }
    let mut latest = String::new();
    objects.iter().for_each(|o| walk(o, &mut latest));
    if latest.is_empty() {
        "2026-01-01T00:00:00Z".into()
    } else {
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_sort_by_api_version_kind_namespace_and_name() {
        let obj = |a: &str, k: &str, ns: &str, n: &str| json!({"apiVersion": a, "kind": k, "metadata": {"namespace": ns, "name": n}});
        let sorted = vec![
            obj("a/v1", "B", "z", "z"),
            obj("b/v1", "A", "a", "a"),
            obj("b/v1", "B", "a", "b"),
            obj("b/v1", "B", "b", "a"),
            obj("b/v1", "B", "b", "b"),
            json!({"kind": "NoVersion"}),
        ];
        // the key as a whole, field by field, decides; missing fields read as ""
        let mut expected = sorted.clone();
        expected.sort_by(|a, b| object_order(a).cmp(&object_order(b)));
        for rotation in 0..sorted.len() {
            let mut objects = sorted.clone();
            objects.rotate_left(rotation);
            objects.reverse();
            sort_objects(&mut objects);
            assert_eq!(objects, expected, "rotation {rotation}");
        }
        assert_eq!(expected[0]["kind"], "NoVersion");
        assert_eq!(expected[1], sorted[0]);
        assert_eq!(expected[5], sorted[4]);
    }
}
