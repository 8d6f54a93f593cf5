//! The steps every supporting controller's plan shares (models, templates, template
//! caches, artifacts, model sources): resolve the runtime config, run the pack's
//! merges, status components and outputs for the kind, and assemble the status with
//! the shared framework (service-reconcile.md §1).
//!
//! A `status` block of the pack lists components; each evaluates to a health record
//! `#{state, reason, message, dependency, errors}` (→ condition `<Component>Ready`),
//! to `()` (absent this round), or to a *decoration* `#{decoration: true, conditions:
//! [#{type, status, reason, message}], fields: #{...}, requeue_after: <seconds>}`:
//! domain conditions written at step 5 of §1.4 (`Discovered`, `ArtifactsReady`, ...),
//! status fields (a `()` value removes the field) and a requeue request.

use crate::json_path::At as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Laps, Plan, Trace, metadata, sort_objects};
use crate::rules::RulePack;
use crate::snapshot::Snapshot;
use crate::status::{
    self, ClassifiedError, ComponentHealth, ConditionStatus, Dependency, ErrorClass, Level,
};

pub(crate) fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.at(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A fact-level error record `{class, reason, message}` (the pack decides how it is
/// reported).
pub(crate) fn error(class: &str, reason: &str, message: impl Into<String>) -> Value {
    json!({"class": class, "reason": reason, "message": message.into()})
}

/// Deprecated top-level storage fields move under `storage` when that is unset
/// (service-reconcile.md §4.4).
fn migrate_storage(spec: Option<&Value>) -> Value {
    let mut spec = spec.cloned().unwrap_or_else(|| json!({}));
    for field in ["defaultStorageClassName", "pvcHeadroomPercent"] {
        if let Some(v) = spec.get(field).cloned()
            && spec.at(&format!("/storage/{field}")).is_none()
        {
            if !spec.get("storage").is_some_and(Value::is_object) {
                spec["storage"] = json!({});
            }
            spec["storage"][field] = v;
        }
    }
    spec
}

/// The runtime configs of an object: `(resolution, runtime_configs)`. Cluster-scoped
/// objects read only the AIMClusterRuntimeConfig (templates-models-caches.md intro);
/// namespaced ones both, for the pack's merge. `resolution` is `{name, found, scope,
/// kind, uid, explicit, error}`; a missing named config is a MissingUpstream error
/// `ConfigNotFound` / `RuntimeConfig <name> not found` (the pack re-wraps it for
/// upstream components).
pub fn runtime_config(snap: &Snapshot, obj: &Value, cluster_scoped: bool) -> (Value, Value) {
    let ns = s(obj, "/metadata/namespace");
    let explicit = s(obj, "/spec/runtimeConfigName");
    let name = if explicit.is_empty() {
        "default"
    } else {
        explicit
    };
    let ns_obj = (!cluster_scoped)
        .then(|| snap.get("AIMRuntimeConfig", ns, name))
        .flatten();
    let cl_obj = snap.get("AIMClusterRuntimeConfig", "", name);
    let configs = json!({
        "namespace": ns_obj.map(|o| migrate_storage(o.get("spec"))),
        "cluster": cl_obj.map(|o| migrate_storage(o.get("spec"))),
    });
    let (scope, found) = match (ns_obj, cl_obj) {
        (Some(_), Some(_)) => ("Merged", ns_obj),
        (Some(_), None) => ("Namespace", ns_obj),
        (None, Some(_)) => ("Cluster", cl_obj),
        (None, None) => ("", None),
    };
    let mut res = json!({
        "name": name,
        "explicit": !explicit.is_empty(),
        "found": found.is_some(),
        "scope": scope,
        "kind": if scope == "Cluster" { "AIMClusterRuntimeConfig" } else { "AIMRuntimeConfig" },
        "namespace": if scope == "Cluster" { "" } else { ns },
        "uid": found.map(|o| s(o, "/metadata/uid")).unwrap_or(""),
        "error": null,
    });
    if found.is_none() && name != "default" {
        res["error"] = error(
            "MissingUpstream",
            "ConfigNotFound",
            format!("RuntimeConfig {name} not found"),
        );
    }
    (res, configs)
}

/// What the pack's status block produced for one object.
#[derive(Debug, Default)]
pub struct StatusParts {
    pub components: Vec<ComponentHealth>,
    /// Domain conditions `#{type, status, reason, message[, level]}`, in order.
    pub conditions: Vec<Value>,
    /// Status fields set by the pack (`null` removes the field).
    pub fields: Map<String, Value>,
    pub requeue_after: Option<Duration>,
}

/// Runs the pack's rule blocks of one reconciled kind.
pub struct Controller<'a> {
    pub pack: &'a RulePack,
    /// The reconciled kind (`AIMModel`, ...): selects the pack's blocks.
    pub kind: String,
    /// The controller name of outputs.md §2.1 (`model`, `cluster-model`, ...).
    pub ctl: &'static str,
    pub trace: Trace,
    started: Laps,
}

impl<'a> Controller<'a> {
    /// `explain`: [`Settings::explain`](super::Settings::explain).
    pub fn new(pack: &'a RulePack, kind: &str, ctl: &'static str, explain: bool) -> Self {
        let trace = Trace {
            explain,
            ..Trace::default()
        };
        Controller {
            pack,
            kind: kind.to_string(),
            ctl,
            started: Laps::start(&trace),
            trace,
        }
    }

    /// Runs the kind's merges in pack order; each result is `merged.<name>` for the
    /// next merge, the status components and the builders.
    pub fn merges(&mut self, ctx: &mut Map<String, Value>) {
        if !ctx.get("merged").is_some_and(Value::is_object) {
            ctx.insert("merged".into(), json!({}));
        }
        let mut laps = Laps::start(&self.trace);
        for m in self.pack.merges.iter().filter(|m| m.parent == self.kind) {
            let value = Value::Object(std::mem::take(ctx));
            let result = m.run(&self.pack.scripts, &value, self.trace.explain);
            let Value::Object(back) = value else {
                unreachable!("ctx is a map")
            };
            *ctx = back;
            match result {
                Ok(merged) => {
                    if let Some(Value::Object(mm)) = ctx.get_mut("merged") {
                        mm.insert(m.name.clone(), merged.value);
                    }
                    if self.trace.explain {
                        self.trace.merges.push((m.name.clone(), merged.provenance));
                    }
                }
                Err(e) => self
                    .trace
                    .notes
                    .push(format!("merge {} failed: {e}", m.name)),
            }
            laps.lap(&mut self.trace, || m.step.clone());
        }
    }

    /// Evaluates the kind's status block: components and decorations.
    pub fn status_parts(&mut self, ctx: &Value) -> StatusParts {
        let mut laps = Laps::start(&self.trace);
        let mut parts = StatusParts::default();
        for c in self.pack.statuses.get(&self.kind).into_iter().flatten() {
            let include = match &c.when {
                Some(w) => self.pack.eval(w, ctx).map(|v| *v == Value::Bool(true)),
                None => Ok(true),
            };
            let value = include.and_then(|inc| {
                if inc {
                    self.pack.eval(&c.health, ctx).map(Some)
                } else {
                    Ok(None)
                }
            });
            match value {
                Ok(None) => {}
                Ok(Some(v)) if v.is_null() => {}
                Ok(Some(v)) if v.get("decoration") == Some(&Value::Bool(true)) => {
                    if let Some(conds) = v.get("conditions").and_then(Value::as_array) {
                        parts.conditions.extend(conds.iter().cloned());
                    }
                    if let Some(fields) = v.get("fields").and_then(Value::as_object) {
                        parts
                            .fields
                            .extend(fields.iter().map(|(k, x)| (k.clone(), x.clone())));
                    }
                    if let Some(secs) = v.get("requeue_after").and_then(Value::as_f64)
                        && secs > 0.0
                    {
                        parts.requeue_after = Some(Duration::from_secs_f64(secs));
                    }
                }
                Ok(Some(h)) => parts.components.push(component(&c.name, &h)),
                Err(e) => parts.components.push(rule_error(&c.name, &e)),
            }
        }
        laps.lap(&mut self.trace, || "status components".into());
        parts
    }

    /// Builds the kind's outputs (a builder may return one object, a list of objects,
    /// or `()`), completes their metadata (outputs.md §2.2–2.3) and sorts them.
    pub fn outputs(&mut self, ctx: &Value, parent: &Value, rc: &Value) -> Vec<Value> {
        let mut objects = vec![];
        let mut laps = Laps::start(&self.trace);
        for out in self.pack.outputs.iter().filter(|o| o.parent == self.kind) {
            match self.pack.build_output(out, ctx) {
                Ok(Some((built, owned))) => {
                    let items = match built {
                        Value::Array(items) => items,
                        Value::Null => vec![],
                        other => vec![other],
                    };
                    for obj in items {
                        if obj.is_object() {
                            objects.push(metadata::finish(obj, parent, self.ctl, owned, rc));
                        } else {
                            self.trace
                                .notes
                                .push(format!("output {} built a non-object: {obj}", out.name));
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => self
                    .trace
                    .notes
                    .push(format!("output {} failed: {e}", out.name)),
            }
            laps.lap(&mut self.trace, || out.step.clone());
        }
        sort_objects(&mut objects);
        objects
    }

    /// Derives the status with the framework, applies the gate to the planned objects
    /// and returns the plan. `fields` are the status fields the Rust side computed
    /// (facts: resolved references, parsed discovery, ...); the pack's decoration
    /// fields are applied over them.
    pub fn finish(
        mut self,
        obj: &Value,
        parts: StatusParts,
        objects: Vec<Value>,
        fields: Map<String, Value>,
        now: &str,
    ) -> Plan {
        let previous = status::stored_conditions(obj.at("/status/conditions"));
        let generation = obj.at("/metadata/generation").and_then(Value::as_i64);
        let conditions = parts.conditions.clone();
        let mut outcome =
            status::derive_status_with(previous, &parts.components, now, generation, |set| {
                for c in &conditions {
                    let st = match s(c, "/status") {
                        "True" => ConditionStatus::True,
                        "Unknown" => ConditionStatus::Unknown,
                        _ => ConditionStatus::False,
                    };
                    let level = if s(c, "/level") == "error" {
                        Level::Error
                    } else {
                        Level::Info
                    };
                    set.set(s(c, "/type"), st, s(c, "/reason"), s(c, "/message"), level);
                }
            });
        let mut st = obj
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        st["status"] = json!(outcome.status.as_str());
        st["conditions"] = status::conditions_value(std::mem::take(&mut outcome.conditions));
        if let Some(g) = generation {
            st["observedGeneration"] = json!(g);
        }
        if let Value::Object(m) = &mut st {
            for (k, v) in fields.into_iter().chain(parts.fields) {
                if v.is_null() {
                    m.remove(&k);
                } else {
                    m.insert(k, v);
                }
            }
        }
        if parts.requeue_after.is_some() {
            self.trace.requeue_after = parts.requeue_after;
        }
        let objects = if outcome.blocks_apply {
            if !objects.is_empty() {
                self.trace.notes.push(format!(
                    "{} planned object(s) withheld: an error class blocks applying",
                    objects.len()
                ));
            }
            vec![]
        } else {
            objects
        };
        self.started.lap(&mut self.trace, || "plan".into());
        Plan {
            objects,
            status: st,
            events: outcome.events,
            apply_blocked: outcome.blocks_apply,
            retry: outcome.has_infra_error,
            trace: self.trace,
        }
    }
}

/// A component whose rule failed: an InvalidSpec error, so the object reports it
/// (never a panic, never a silently healthy component).
pub fn rule_error(name: &str, e: &crate::rules::script::EvalError) -> ComponentHealth {
    ComponentHealth {
        component: name.to_string(),
        state: None,
        reason: "RuleError".into(),
        message: e.to_string(),
        errors: vec![ClassifiedError {
            class: ErrorClass::InvalidSpec,
            reason: "RuleError".into(),
            message: e.to_string(),
        }],
        dependency: Dependency::Unspecified,
    }
}

/// A pack health record (`#{state, reason, message, dependency, errors}`) as a component.
pub fn component(name: &str, h: &Value) -> ComponentHealth {
    let errors = h
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .map(|e| ClassifiedError {
                    class: ErrorClass::parse(s(e, "/class")),
                    reason: s(e, "/reason").to_string(),
                    message: s(e, "/message").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let opt = |k: &str| {
        h.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    ComponentHealth {
        component: name.to_string(),
        state: opt("state").and_then(|st| status::Status::parse(&st)),
        reason: opt("reason").unwrap_or_default(),
        message: opt("message").unwrap_or_default(),
        errors,
        dependency: match s(h, "/dependency") {
            "upstream" => Dependency::Upstream,
            "downstream" => Dependency::Downstream,
            _ => Dependency::Unspecified,
        },
    }
}

/// A reference to an object (`{apiVersion, kind, namespace, name}`), e.g. for deletes.
pub fn object_ref(obj: &Value) -> Value {
    json!({
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "namespace": s(obj, "/metadata/namespace"),
        "name": s(obj, "/metadata/name"),
    })
}

/// Whether `obj` has an owner reference with `uid`.
pub fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| s(r, "/uid") == uid))
}

/// The status of a condition type on an object (`""` when absent).
pub fn condition<'v>(obj: &'v Value, type_: &str) -> Option<&'v Value> {
    obj.at("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| s(c, "/type") == type_))
}

/// Seconds since the epoch of an RFC 3339 time (`None` when unparsable).
pub fn epoch_seconds(t: &str) -> Option<f64> {
    let ts: jiff::Timestamp = t.trim().parse().ok()?;
    Some(ts.as_second() as f64 + f64::from(ts.subsec_nanosecond()) / 1e9)
}
