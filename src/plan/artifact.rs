//! Planning one AIMArtifact (templates-models-caches.md §4): what is known about the
//! size (spec, status, or the check-size Job's output from a `PodLog` observation),
//! the PVC, the check-size and download Jobs and their pods, and the status
//! RoleBinding. The pack decides what to create in which phase, the PVC size and
//! storage class, the Job shapes and the download conditions.

use crate::json_path::At as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::controller::{self, Controller, s};
use super::{Plan, Settings, pods};
use crate::naming;
use crate::rules::RulePack;
use crate::rules::native::text;
use crate::snapshot::Snapshot;

/// Name of the RoleBinding that lets download pods patch their artifact's status.
pub const ROLE_BINDING: &str = "aim-engine-artifact-status-updater";

/// A Progressing artifact is looked at again this often (§4.1).
const PROGRESS_REQUEUE: Duration = Duration::from_secs(10);

/// Largest size the check-size output may report (1 PiB).
const MAX_SIZE: i64 = 1 << 50;

/// §4.7: bytes in binary units (`42 GiB`, `42.5 GiB`, `150 GiB`, `0 B`); `None` when
/// negative or above 7 EiB.
pub fn display_size(bytes: i64) -> Option<String> {
    if !(0..=7 * (1i64 << 60)).contains(&bytes) {
        return None;
    }
    if bytes == 0 {
        return Some("0 B".into());
    }
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    while unit + 1 < UNITS.len() && bytes >= 1i64 << (10 * (unit + 1)) {
        unit += 1;
    }
    let v = bytes as f64 / (1u64 << (10 * unit)) as f64;
    let shown = if v >= 100.0 {
        format!("{}", v.round() as i64)
    } else {
        let rounded = (v * 10.0).round() / 10.0;
        if rounded == rounded.floor() {
            format!("{}", rounded as i64)
        } else {
            format!("{rounded:.1}")
        }
    };
    Some(format!("{shown} {}", UNITS[unit]))
}

/// §4.3: the check-size output line `{"url": …, "sizeBytes": N}`, accepted when
/// 0 < N ≤ 2⁵⁰.
pub fn parse_check_size(line: &str) -> Result<i64, String> {
    if line.is_empty() {
        return Err("no output from check-size job".into());
    }
    let v: Value = serde_json::from_str(line)
        .map_err(|e| format!("failed to parse check-size output: {e}"))?;
    let n = match v.get("sizeBytes") {
        None | Some(Value::Null) => 0,
        Some(x) => x.as_i64().ok_or_else(|| {
            format!("failed to parse check-size output: sizeBytes is not an integer: {x}")
        })?,
    };
    if n <= 0 || n > MAX_SIZE {
        return Err(format!("invalid size: {n} bytes"));
    }
    Ok(n)
}

fn quantity_bytes(q: &Value) -> i64 {
    crate::quantity::parse_quantity(&text(q)).map_or(0, |b| b.ceil() as i64)
}

/// Plans one artifact.
pub fn plan(snap: &Snapshot, pack: &RulePack, obj: &Value, now: &str, settings: &Settings) -> Plan {
    let mut c = Controller::new(pack, "AIMArtifact", "artifact", settings.explain);
    let name = s(obj, "/metadata/name");
    let ns = s(obj, "/metadata/namespace");
    let uid = s(obj, "/metadata/uid");
    let (rc_res, rc_configs) = controller::runtime_config(snap, obj, false);
    let names = json!({
        "pvc": naming::artifact_child_name(name, "cache", uid),
        "download_job": naming::artifact_child_name(name, "download", uid),
        "check_size_job": naming::artifact_child_name(name, "check-size", uid),
        "role_binding": ROLE_BINDING,
    });
    let spec_bytes = obj.at("/spec/size").map_or(0, quantity_bytes);
    let status_bytes = obj
        .at("/status/discoveredSizeBytes")
        .and_then(Value::as_i64);

    // §4.3 sizing: only while neither the spec nor the status knows the size
    let checking = spec_bytes == 0 && status_bytes.is_none();
    let check_job = if checking {
        snap.get("Job", ns, s(&names, "/check_size_job"))
            .map(|j| (**j).clone())
    } else {
        None
    };
    let check_pods = match &check_job {
        Some(j) => pods::job_pods(snap, ns, s(j, "/metadata/name")),
        None => vec![],
    };
    let mut output = "none";
    let mut output_error = Value::Null;
    let mut parsed: Option<i64> = None;
    if let Some(j) = &check_job
        && pods::job_state(j) == "complete"
    {
        let line = check_pods
            .iter()
            .find(|p| matches!(s(p, "/phase"), "Succeeded" | "Running"))
            .and_then(|p| {
                let logs = snap.pod_logs(ns, s(p, "/name"));
                logs.iter()
                    .find(|l| s(l, "/container") == "check-size")
                    .or_else(|| logs.iter().find(|l| s(l, "/container").is_empty()))
                    .map(|l| {
                        s(l, "/text")
                            .trim_end()
                            .rsplit('\n')
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_string()
                    })
            })
            .filter(|l| !l.is_empty());
        match line {
            None => output = "missing",
            Some(l) => match parse_check_size(&l) {
                Ok(n) => {
                    output = "valid";
                    parsed = Some(n);
                }
                Err(e) => {
                    output = "invalid";
                    output_error = json!(e);
                }
            },
        }
    }
    let effective = if spec_bytes != 0 {
        spec_bytes
    } else {
        parsed.or(status_bytes).unwrap_or(0)
    };
    let known = spec_bytes != 0 || parsed.is_some() || status_bytes.is_some();
    let display_bytes = if spec_bytes != 0 {
        Some(spec_bytes)
    } else {
        parsed.or(status_bytes)
    };

    let pvc = snap
        .get("PersistentVolumeClaim", ns, s(&names, "/pvc"))
        .map(|p| (**p).clone());
    let download_job = snap
        .get("Job", ns, s(&names, "/download_job"))
        .map(|j| (**j).clone());
    let download_pods = match &download_job {
        Some(j) if pods::job_state(j) != "complete" => {
            pods::job_pods(snap, ns, s(j, "/metadata/name"))
        }
        _ => vec![],
    };
    let role_binding = snap.get("RoleBinding", ns, ROLE_BINDING).is_some();

    let mut ctx = Map::new();
    ctx.insert("artifact".into(), obj.clone());
    ctx.insert("namespace".into(), json!(ns));
    ctx.insert("now".into(), json!(now));
    ctx.insert(
        "settings".into(),
        json!({"operator_namespace": settings.operator_namespace}),
    );
    ctx.insert("runtime_configs".into(), rc_configs);
    ctx.insert("resolution".into(), json!({"runtime_config": rc_res}));
    ctx.insert(
        "size".into(),
        json!({
            "checking": checking,
            "known": known,
            "effective": effective,
            "spec": spec_bytes,
            "discovered": parsed,
            "output": output,
            "output_error": output_error,
            "display": display_bytes.and_then(display_size),
        }),
    );
    ctx.insert("pvc".into(), pvc.unwrap_or(Value::Null));
    ctx.insert(
        "jobs".into(),
        json!({
            "check_size": check_job.as_ref().map(pods::job_facts),
            "download": download_job.as_ref().map(pods::job_facts),
        }),
    );
    ctx.insert(
        "pods".into(),
        json!({"check_size": check_pods, "download": download_pods}),
    );
    ctx.insert("role_binding".into(), json!(role_binding));
    ctx.insert("names".into(), names);
    c.merges(&mut ctx);
    let ctx = Value::Object(ctx);
    let rc = ctx
        .at("/merged/artifact_runtime_config")
        .cloned()
        .unwrap_or(Value::Null);
    let parts = c.status_parts(&ctx);
    let objects = c.outputs(&ctx, obj, &rc);

    let mut fields = Map::new();
    let owned = obj
        .at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty());
    fields.insert(
        "mode".into(),
        json!(if owned { "Dedicated" } else { "Shared" }),
    );
    if let Some(n) = parsed {
        fields.insert("discoveredSizeBytes".into(), json!(n));
    }
    let mut plan = c.finish(obj, parts, objects, fields, now);
    if s(&plan.status, "/status") == "Progressing" {
        plan.trace.requeue_after = Some(PROGRESS_REQUEUE);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_sizes() {
        let gib = 1i64 << 30;
        assert_eq!(display_size(0).unwrap(), "0 B");
        assert_eq!(display_size(42 * gib).unwrap(), "42 GiB");
        assert_eq!(display_size(42 * gib + gib / 2).unwrap(), "42.5 GiB");
        assert_eq!(display_size(150 * gib).unwrap(), "150 GiB");
        assert_eq!(display_size(1536 * gib).unwrap(), "1.5 TiB");
        assert_eq!(display_size(8 * gib).unwrap(), "8 GiB");
        assert_eq!(display_size(512).unwrap(), "512 B");
        assert_eq!(display_size(-1), None);
    }

    #[test]
    fn check_size_output() {
        assert_eq!(
            parse_check_size(r#"{"url": "hf://a/b", "sizeBytes": 5368709120}"#).unwrap(),
            5368709120
        );
        assert!(parse_check_size(r#"{"sizeBytes": 0}"#).is_err());
        assert!(parse_check_size("not json").is_err());
        assert!(parse_check_size(&format!(r#"{{"sizeBytes": {}}}"#, (1i64 << 50) + 1)).is_err());
    }
}
