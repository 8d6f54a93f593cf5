//! Planning one AIMTemplateCache (templates-models-caches.md §3): the template it
//! caches (namespace, cluster, or both in that order), the artifacts that already
//! hold each of the template's model sources (mode isolation, storage class, best
//! status), and the artifacts still missing — with their hash names (outputs.md §1.4).
//! On deletion, the non-Ready artifacts it created are listed for deletion (§3.5).

use crate::json_path::At as _;
use serde_json::{Map, Value, json};

use super::controller::{self, Controller, s};
use super::{Plan, Settings};
use crate::naming;
use crate::rules::RulePack;
use crate::rules::native::is_set;
use crate::snapshot::Snapshot;
use crate::status::status_rank;

/// Finalizer of template caches (§3.5).
pub const FINALIZER: &str = "aim.eai.amd.com/artifactcleanup";

/// Name-keyed env merge (`overrides` win; `null` when the result is empty), as the
/// reference merges a cache's env with a source's for the artifact (and its name).
pub fn merge_env(defaults: &Value, overrides: &Value) -> Value {
    let d = defaults.as_array().cloned().unwrap_or_default();
    let o = overrides.as_array().cloned().unwrap_or_default();
    let mut pending: Vec<Option<&Value>> = o.iter().map(Some).collect();
    let mut out = vec![];
    for e in &d {
        let name = s(e, "/name");
        // the last override of a name is the one the reference's map keeps
        match o.iter().rposition(|x| s(x, "/name") == name) {
            Some(i)
                if pending
                    .iter()
                    .any(|p| p.is_some_and(|x| s(x, "/name") == name)) =>
            {
                out.push(o[i].clone());
                for p in pending.iter_mut() {
                    if p.is_some_and(|x| s(x, "/name") == name) {
                        *p = None;
                    }
                }
            }
            _ => out.push(e.clone()),
        }
    }
    out.extend(pending.into_iter().flatten().cloned());
    if out.is_empty() {
        Value::Null
    } else {
        Value::Array(out)
    }
}

/// Plans one template cache.
pub fn plan(snap: &Snapshot, pack: &RulePack, obj: &Value, now: &str, settings: &Settings) -> Plan {
    let mut c = Controller::new(pack, "AIMTemplateCache", "template-cache", settings.explain);
    let name = s(obj, "/metadata/name");
    let ns = s(obj, "/metadata/namespace");
    let uid = s(obj, "/metadata/uid");
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let (rc_res, rc_configs) = controller::runtime_config(snap, obj, false);
    let template_name = s(&spec, "/templateName");
    let scope = s(&spec, "/templateScope");
    let dedicated = s(&spec, "/mode") == "Dedicated";
    let storage_class = s(&spec, "/storageClassName");

    // §3.1 template lookup
    let template = match scope {
        "Cluster" => snap.get("AIMClusterServiceTemplate", "", template_name),
        "Namespace" => snap.get("AIMServiceTemplate", ns, template_name),
        _ => snap
            .get("AIMServiceTemplate", ns, template_name)
            .or_else(|| snap.get("AIMClusterServiceTemplate", "", template_name)),
    }
    .map(|t| (**t).clone());
    let template_res = match &template {
        None => json!({"found": false, "name": template_name, "scope": scope}),
        Some(t) => {
            let ready = controller::condition(t, "Ready").cloned();
            json!({"found": true, "name": template_name, "kind": t["kind"],
                   "status": s(t, "/status/status"), "ready_condition": ready})
        }
    };

    // §3.3 matching artifacts to the template's sources
    let sources: Vec<Value> = template
        .as_ref()
        .and_then(|t| t.at("/status/modelSources"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let candidates: Vec<&Value> = snap
        .list_in("AIMArtifact", ns)
        .map(|a| &**a)
        .filter(|a| !s(a, "/status/status").is_empty())
        .filter(|a| {
            let owners = a
                .at("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|o| !o.is_empty());
            if dedicated {
                controller::owned_by(a, uid)
            } else {
                !owners
            }
        })
        .collect();
    let mut matched: Vec<Value> = vec![];
    let mut missing: Vec<Value> = vec![];
    for src in &sources {
        let uri = s(src, "/sourceUri");
        let mut best: Option<&Value> = None;
        for a in &candidates {
            if s(a, "/spec/sourceUri") != uri
                || !(storage_class.is_empty() || storage_class == s(a, "/spec/storageClassName"))
            {
                continue;
            }
            if best.is_none_or(|b| {
                status_rank(s(b, "/status/status")) < status_rank(s(a, "/status/status"))
            }) {
                best = Some(a);
            }
        }
        match best {
            Some(a) => {
                // keyed by model id, as the reference's map is
                let model_id = s(src, "/modelId");
                matched.retain(|m| m["model"] != model_id);
                matched.push(json!({
                    "model": model_id,
                    "name": s(a, "/metadata/name"),
                    "uid": s(a, "/metadata/uid"),
                    "status": s(a, "/status/status"),
                    "persistentVolumeClaim": s(a, "/status/persistentVolumeClaim"),
                    "ready_condition": controller::condition(a, "Ready"),
                }));
            }
            None => {
                let env = merge_env(
                    spec.get("env").unwrap_or(&Value::Null),
                    src.get("env").unwrap_or(&Value::Null),
                );
                let artifact =
                    naming::artifact_name(uri, &env, storage_class, dedicated.then_some(name));
                missing.push(json!({
                    "index": missing.len(),
                    "name": artifact,
                    "source": src,
                    "env": env,
                }));
            }
        }
    }

    // §3.5 deletion: non-Ready artifacts created by this cache go with it
    let deleting = obj.at("/metadata/deletionTimestamp").is_some_and(is_set);
    if deleting {
        let ns_obj = snap.get("Namespace", "", ns);
        let terminating = ns_obj.is_some_and(|n| {
            n.at("/metadata/deletionTimestamp").is_some_and(is_set)
                || s(n, "/status/phase") == "Terminating"
        });
        let finalizer = obj
            .at("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
        if terminating {
            c.trace
                .notes
                .push("namespace is terminating: artifact cleanup skipped".into());
        } else if let Ok(label) = naming::label_value(name) {
            for a in snap.list_in("AIMArtifact", ns) {
                if s(a, "/metadata/labels/aim.eai.amd.com~1template-cache.name") == label
                    && s(a, "/status/status") != "Ready"
                {
                    c.trace.deletes.push(controller::object_ref(a));
                    c.trace.notes.push(format!(
                        "would delete AIMArtifact {ns}/{} (not Ready)",
                        s(a, "/metadata/name")
                    ));
                }
            }
        }
        if finalizer {
            c.trace
                .notes
                .push(format!("would remove finalizer {FINALIZER}"));
        }
    }

    let mut ctx = Map::new();
    ctx.insert("cache".into(), obj.clone());
    ctx.insert("namespace".into(), json!(ns));
    ctx.insert("template".into(), template.clone().unwrap_or(Value::Null));
    ctx.insert("now".into(), json!(now));
    ctx.insert(
        "settings".into(),
        json!({"operator_namespace": settings.operator_namespace}),
    );
    ctx.insert("runtime_configs".into(), rc_configs);
    ctx.insert(
        "resolution".into(),
        json!({"runtime_config": rc_res, "template": template_res}),
    );
    ctx.insert("sources".into(), Value::Array(sources));
    ctx.insert("artifacts".into(), Value::Array(matched));
    ctx.insert("missing".into(), Value::Array(missing));
    ctx.insert("deleting".into(), json!(deleting));
    c.merges(&mut ctx);
    let ctx = Value::Object(ctx);
    let rc = ctx
        .at("/merged/cache_runtime_config")
        .cloned()
        .unwrap_or(Value::Null);
    let parts = c.status_parts(&ctx);
    let objects = if deleting {
        vec![]
    } else {
        c.outputs(&ctx, obj, &rc)
    };
    c.finish(obj, parts, objects, Map::new(), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merge_source_wins_in_base_order() {
        let base = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
        let over = json!([{"name": "B", "value": "x"}, {"name": "C", "value": "3"}]);
        assert_eq!(
            merge_env(&base, &over),
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "x"}, {"name": "C", "value": "3"}])
        );
        assert_eq!(merge_env(&Value::Null, &json!([])), Value::Null);
    }

    #[test]
    fn deletion_lists_non_ready_artifacts_of_the_cache() {
        let cache = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMTemplateCache",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u", "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "finalizers": [FINALIZER]},
            "spec": {"templateName": "t", "templateScope": "Namespace"}});
        let artifact = |name: &str, status: &str| {
            json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMArtifact",
                "metadata": {"name": name, "namespace": "ns", "labels": {"aim.eai.amd.com/template-cache.name": "c"}},
                "spec": {"sourceUri": "hf://a/b"}, "status": {"status": status}})
        };
        let snap = Snapshot::new([
            cache.clone(),
            artifact("ready", "Ready"),
            artifact("failed", "Failed"),
        ]);
        let pack = RulePack::builtin().unwrap();
        let p = super::plan(
            &snap,
            &pack,
            &cache,
            "2026-01-01T00:00:00Z",
            &Settings::default(),
        );
        let deleted: Vec<&str> = p.trace.deletes.iter().map(|d| s(d, "/name")).collect();
        assert_eq!(deleted, ["failed"]);
        assert!(p.objects.is_empty());
        // a terminating namespace skips the cleanup
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        let snap = Snapshot::new([cache.clone(), artifact("failed", "Failed"), ns]);
        let p = super::plan(
            &snap,
            &pack,
            &cache,
            "2026-01-01T00:00:00Z",
            &Settings::default(),
        );
        assert!(p.trace.deletes.is_empty());
    }
}
