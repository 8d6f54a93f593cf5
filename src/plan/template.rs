//! Planning one AIMServiceTemplate or AIMClusterServiceTemplate
//! (templates-models-caches.md §2): the model it names, its GPU requirement against
//! the cluster's inventory, its discovery Job (newest Job, failure tracking and
//! backoff, the parsed output from a `PodLog` observation), inline model sources and
//! template-level caching. The pack builds the Job and the cache and maps the facts
//! to conditions; the status fields the facts determine are written here.

use crate::json_path::At as _;
use serde_json::{Map, Value, json};

use super::controller::{self, Controller, epoch_seconds, s};
use super::{Plan, Settings, discovery, hardware, pods};
use crate::rules::RulePack;
use crate::rules::native::is_set;
use crate::snapshot::Snapshot;

/// Labels every discovery Job carries (§2.4); unfinished ones count against the
/// cluster-wide limit.
const DISCOVERY_LABELS: &[(&str, &str)] = &[
    ("app.kubernetes.io/name", "aim-discovery"),
    ("app.kubernetes.io/component", "discovery"),
    ("app.kubernetes.io/managed-by", "aim-controller"),
];

/// Plans one template of either scope.
pub fn plan(snap: &Snapshot, pack: &RulePack, obj: &Value, now: &str, settings: &Settings) -> Plan {
    let kind = s(obj, "/kind");
    let cluster = kind == "AIMClusterServiceTemplate";
    let mut c = Controller::new(
        pack,
        kind,
        if cluster {
            "cluster-service-template"
        } else {
            "service-template"
        },
        settings.explain,
    );
    let name = s(obj, "/metadata/name");
    let uid = s(obj, "/metadata/uid");
    let ns = if cluster {
        ""
    } else {
        s(obj, "/metadata/namespace")
    };
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let status = s(obj, "/status/status");
    let (rc_res, rc_configs) = controller::runtime_config(snap, obj, cluster);

    // §2.1 model lookup: namespaced templates only see AIMModels of their namespace
    let model_kind = if cluster {
        "AIMClusterModel"
    } else {
        "AIMModel"
    };
    let model_name = s(&spec, "/modelName");
    let model = snap.get(model_kind, ns, model_name).map(|m| (**m).clone());
    let image = model
        .as_ref()
        .map(|m| s(m, "/spec/image").to_string())
        .unwrap_or_default();
    let model_res = match &model {
        None => json!({"found": false, "kind": model_kind, "name": model_name}),
        Some(m) => {
            let template_condition = if cluster {
                "ClusterServiceTemplatesReady"
            } else {
                "ServiceTemplatesReady"
            };
            let m_status = s(m, "/status/status");
            let unhealthy = matches!(m_status, "Failed" | "Degraded")
                && m.at("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            let t = s(c, "/type");
                            t != "Ready"
                                && t != template_condition
                                && t.ends_with("Ready")
                                && s(c, "/status") == "False"
                        })
                    });
            json!({"found": true, "kind": model_kind, "name": model_name, "image": image,
                   "status": m_status, "unhealthy": unhealthy})
        }
    };

    // §2.2 GPU
    let gpu = hardware::gpu_facts(&spec, snap);
    let gate = gpu["gate"] == true;

    // §2.4–§2.6 discovery
    let inline = spec.get("modelSources").is_some_and(is_set);
    let check = !inline && status != "Ready" && status != "NotAvailable";
    let job_ns = if cluster {
        settings.operator_namespace.as_str()
    } else {
        ns
    };
    let job = if check {
        pods::jobs_labelled(snap, job_ns, "aim.eai.amd.com/template", name)
            .into_iter()
            .next()
            .map(|j| (**j).clone())
    } else {
        None
    };
    let job_facts = job.as_ref().map(pods::job_facts);
    let job_state = job.as_ref().map_or("none", |j| pods::job_state(j));
    let job_pods = match &job {
        Some(j) => pods::job_pods(snap, job_ns, s(j, "/metadata/name")),
        None => vec![],
    };
    // the discovery output of a completed Job
    let (output, output_error, parsed) = if check && job_state == "complete" {
        let log = job_pods
            .iter()
            .filter(|p| p["phase"] == "Succeeded")
            .find_map(|p| discovery_log(snap, job_ns, s(p, "/name")));
        match log {
            None => ("missing", Value::Null, None),
            Some(text) => match discovery::parse_output(&text) {
                Ok(p) => ("parsed", Value::Null, Some(p)),
                Err(e) => ("invalid", json!(e), None),
            },
        }
    } else {
        ("none", Value::Null, None)
    };
    let spec_hash = model.as_ref().map(|_| discovery::spec_hash(obj, &image));
    let prev = obj.at("/status/discovery").cloned().unwrap_or(Value::Null);
    let prev_attempts = prev.get("attempts").and_then(Value::as_i64).unwrap_or(0);
    let prev_last = s(&prev, "/lastAttemptTime").to_string();
    let prev_hash = s(&prev, "/specHash").to_string();
    let now_s = epoch_seconds(now).unwrap_or(0.0);
    // seconds left of the backoff of the stored state (§2.6)
    let remaining = if prev_attempts > 0 {
        epoch_seconds(&prev_last)
            .map(|last| last + discovery::backoff_seconds(prev_attempts) as f64 - now_s)
            .filter(|r| *r > 0.0)
    } else {
        None
    };
    let current_hash = spec_hash.clone().unwrap_or_default();
    let backoff_allows = prev.is_null()
        || prev_attempts == 0
        || (!prev_hash.is_empty() && prev_hash != current_hash)
        || remaining.is_none();
    let needed = check && model.is_some() && !image.is_empty() && gate && job_state == "none";
    let active_jobs = snap
        .list("Job")
        .filter(|j| {
            DISCOVERY_LABELS.iter().all(|(k, v)| {
                j.at("/metadata/labels")
                    .and_then(|l| l.get(*k))
                    .and_then(Value::as_str)
                    == Some(*v)
            }) && pods::job_state(j) == "running"
        })
        .count();
    let env = if cluster {
        Value::Null
    } else {
        spec.get("env").cloned().unwrap_or(Value::Null)
    };
    let job_name = model
        .as_ref()
        .map(|m| discovery::job_name(obj, m, &env))
        .unwrap_or_default();

    // failure tracking: a failed Job (or, [rec], an unparsable output) is an attempt
    let mut new_state = prev.clone();
    let failure = match (job_state, output) {
        ("failed", _) => Some(
            job_facts
                .as_ref()
                .map(|f| {
                    let (m, r) = (s(f, "/failed_message"), s(f, "/failed_reason"));
                    if !m.is_empty() {
                        m.to_string()
                    } else if !r.is_empty() {
                        r.to_string()
                    } else {
                        "Unknown failure".to_string()
                    }
                })
                .unwrap_or_default(),
        ),
        (_, "invalid") => Some(format!(
            "Discovery output could not be parsed: {}",
            output_error.as_str().unwrap_or("")
        )),
        _ => None,
    };
    let discovered_true =
        controller::condition(obj, "Discovered").is_some_and(|c| s(c, "/status") == "True");
    if check
        && !discovered_true
        && let (Some(reason), Some(j)) = (&failure, &job)
    {
        let mut st = if new_state.is_object() {
            new_state.clone()
        } else {
            json!({})
        };
        let stored_hash = s(&st, "/specHash").to_string();
        if !stored_hash.is_empty() && stored_hash != current_hash {
            st["attempts"] = json!(0);
        }
        let created = s(j, "/metadata/creationTimestamp");
        let last = s(&st, "/lastAttemptTime").to_string();
        let newer = match (epoch_seconds(created), epoch_seconds(&last)) {
            (_, None) => true,
            (Some(c), Some(l)) => c > l,
            (None, Some(_)) => false,
        };
        if last.is_empty() || newer {
            let attempts = st.get("attempts").and_then(Value::as_i64).unwrap_or(0);
            st["attempts"] = json!(attempts + 1);
            st["lastAttemptTime"] = json!(now);
            st["lastFailureReason"] = json!(reason);
            st["specHash"] = json!(current_hash);
        }
        new_state = st;
    }
    let phase = if inline {
        "inline"
    } else if discovered_true {
        "kept"
    } else if prev_attempts > 0 && !prev_last.is_empty() && remaining.is_some() {
        "backoff"
    } else if parsed.is_some() {
        "parsed"
    } else {
        "awaiting"
    };
    let wait = json!({
        "remaining": crate::quantity::format_go_duration(
            (remaining.unwrap_or(0.0).round() as i128) * 1_000_000_000
        ),
        "attempts": prev_attempts,
    });

    // §2.10 template caching (namespaced templates only)
    let caching_enabled = !cluster && spec.at("/caching/enabled") == Some(&Value::Bool(true));
    let cache_exists = caching_enabled
        && snap
            .list_in("AIMTemplateCache", ns)
            .any(|tc| controller::owned_by(tc, uid));
    let status_sources = obj.at("/status/modelSources").is_some_and(is_set);
    let plan_cache = caching_enabled
        && (inline || (status == "Ready" && status_sources))
        && model.is_some()
        && !image.is_empty()
        && gate
        && !cache_exists;

    let mut ctx = Map::new();
    ctx.insert("template".into(), obj.clone());
    ctx.insert("namespace".into(), json!(ns));
    ctx.insert(
        "scope".into(),
        json!(if cluster { "Cluster" } else { "Namespace" }),
    );
    ctx.insert("model".into(), model.clone().unwrap_or(Value::Null));
    ctx.insert("now".into(), json!(now));
    ctx.insert(
        "settings".into(),
        json!({"operator_namespace": settings.operator_namespace}),
    );
    ctx.insert("runtime_configs".into(), rc_configs);
    ctx.insert(
        "resolution".into(),
        json!({"runtime_config": rc_res, "model": model_res}),
    );
    ctx.insert("gpu".into(), gpu);
    ctx.insert(
        "discovery".into(),
        json!({
            "inline": inline,
            "check": check,
            "namespace": job_ns,
            "job_state": job_state,
            "needed": needed,
            "backoff": {"allowed": backoff_allows},
            "active_jobs": active_jobs,
            "output": output,
            "output_error": output_error,
            "phase": phase,
            "wait": wait,
            "spec_hash": spec_hash,
        }),
    );
    ctx.insert("job".into(), job_facts.clone().unwrap_or(Value::Null));
    ctx.insert("pods".into(), Value::Array(job_pods));
    ctx.insert(
        "caching".into(),
        json!({"enabled": caching_enabled, "exists": cache_exists, "plan": plan_cache}),
    );
    ctx.insert(
        "names".into(),
        json!({"discovery_job": job_name, "cache": name}),
    );
    c.merges(&mut ctx);
    let ctx = Value::Object(ctx);
    let rc = ctx
        .at(if cluster {
            "/merged/cluster_template_runtime_config"
        } else {
            "/merged/template_runtime_config"
        })
        .cloned()
        .unwrap_or(Value::Null);
    let parts = c.status_parts(&ctx);
    let objects = c.outputs(&ctx, obj, &rc);

    // §2.3 / §2.7 status fields
    let mut fields = Map::new();
    if let Some(m) = &model {
        let mut r = json!({"name": s(m, "/metadata/name")});
        if !cluster {
            r["namespace"] = json!(s(m, "/metadata/namespace"));
        }
        fields.insert("resolvedModel".into(), r);
    }
    let set_hardware = |fields: &mut Map<String, Value>, discovered: Option<&Value>| {
        let hw = hardware::resolved_hardware(&spec, discovered);
        let summary = hardware::hardware_summary(&hw);
        fields.insert(
            "hardwareSummary".into(),
            if summary.is_empty() {
                Value::Null
            } else {
                json!(summary)
            },
        );
        fields.insert("resolvedHardware".into(), hw);
        fields.insert(
            "resolvedNodeAffinity".into(),
            hardware::node_affinity(&spec, snap),
        );
    };
    match phase {
        "inline" => {
            fields.insert("modelSources".into(), spec["modelSources"].clone());
            fields.insert("profile".into(), inline_profile(&spec));
            set_hardware(&mut fields, None);
            fields.insert("discovery".into(), Value::Null);
        }
        "kept" => {}
        _ => {
            if let Some(f) = &job_facts {
                fields.insert(
                    "discoveryJob".into(),
                    json!({"name": f["name"], "namespace": f["namespace"]}),
                );
            }
            if new_state.is_object() {
                fields.insert("discovery".into(), new_state);
            }
            if phase == "parsed"
                && let Some(p) = &parsed
            {
                fields.insert("modelSources".into(), p["modelSources"].clone());
                fields.insert("profile".into(), p["profile"].clone());
                set_hardware(&mut fields, p.at("/profile/metadata"));
            }
        }
    }
    c.finish(obj, parts, objects, fields, now)
}

/// The discovery container's log of a pod, when observed.
fn discovery_log(snap: &Snapshot, ns: &str, pod: &str) -> Option<String> {
    let logs = snap.pod_logs(ns, pod);
    logs.iter()
        .find(|l| s(l, "/container") == "discovery")
        .or_else(|| logs.iter().find(|l| s(l, "/container").is_empty()))
        .map(|l| s(l, "/text").to_string())
}

/// §2.3: the profile of a template with inline sources, from its spec.
fn inline_profile(spec: &Value) -> Value {
    let mut meta = Map::new();
    if let Some(g) = spec.at("/hardware/gpu").filter(|g| g.is_object()) {
        let n = g.get("requests").and_then(Value::as_i64).unwrap_or(0);
        if n != 0 {
            meta.insert("gpuCount".into(), json!(n));
        }
        if !s(g, "/model").is_empty() {
            meta.insert("gpu".into(), json!(s(g, "/model")));
        }
    }
    for k in ["metric", "precision", "type"] {
        if !s(spec, &format!("/{k}")).is_empty() {
            meta.insert(k.into(), spec[k].clone());
        }
    }
    json!({"metadata": meta})
}
