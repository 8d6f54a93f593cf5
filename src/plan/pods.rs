//! Facts about the Jobs the supporting controllers run (discovery, check-size,
//! download) and their pods: the newest Job of a kind, its state, its pods with
//! image-pull problems, pending events and — for failed pods — the failure
//! classification of templates-models-caches.md §4.6 (termination reason plus the
//! pod's last log lines, taken from `PodLog` observations).

use crate::json_path::At as _;
use std::sync::Arc;

use serde_json::{Value, json};

use super::controller::s;
use crate::snapshot::Snapshot;

/// Jobs in `namespace` carrying `label=value`, newest first (creation time, then name).
pub fn jobs_labelled<'a>(
    snap: &'a Snapshot,
    namespace: &'a str,
    label: &str,
    value: &str,
) -> Vec<&'a Arc<Value>> {
    let mut jobs: Vec<&Arc<Value>> = snap
        .list_in("Job", namespace)
        .filter(|j| {
            j.at("/metadata/labels")
                .and_then(|l| l.get(label))
                .and_then(Value::as_str)
                == Some(value)
        })
        .collect();
    jobs.sort_by(|a, b| {
        s(b, "/metadata/creationTimestamp")
            .cmp(s(a, "/metadata/creationTimestamp"))
            .then_with(|| s(a, "/metadata/name").cmp(s(b, "/metadata/name")))
    });
    jobs
}

fn job_condition<'v>(job: &'v Value, type_: &str) -> Option<&'v Value> {
    job.at("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| s(c, "/type") == type_ && s(c, "/status") == "True")
        })
}

/// `complete` (`Complete=True`), `failed` (`Failed=True`) or `running`.
pub fn job_state(job: &Value) -> &'static str {
    let conds = job
        .at("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &conds {
        if s(c, "/status") != "True" {
            continue;
        }
        match s(c, "/type") {
            "Complete" => return "complete",
            "Failed" => return "failed",
            _ => {}
        }
    }
    "running"
}

/// A Job as the pack sees it: the object plus `state` and the `Failed` condition's
/// reason and message.
pub fn job_facts(job: &Value) -> Value {
    let failed = job_condition(job, "Failed");
    json!({
        "name": s(job, "/metadata/name"),
        "namespace": s(job, "/metadata/namespace"),
        "created": s(job, "/metadata/creationTimestamp"),
        "state": job_state(job),
        "failed_reason": failed.map(|c| s(c, "/reason")).unwrap_or(""),
        "failed_message": failed.map(|c| s(c, "/message")).unwrap_or(""),
        "object": job,
    })
}

/// Pods of a Job (label `job-name=<job>`), each with its facts (see [`pod_facts`]).
pub fn job_pods(snap: &Snapshot, namespace: &str, job_name: &str) -> Vec<Value> {
    pods_where(snap, namespace, |p| {
        s(p, "/metadata/labels/job-name") == job_name
    })
}

/// Pods in a namespace selected by `keep`, each with its facts.
pub fn pods_where(snap: &Snapshot, namespace: &str, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    snap.list_in("Pod", namespace)
        .filter(|p| keep(p))
        .map(|p| pod_facts(snap, p))
        .collect()
}

fn ready(pod: &Value) -> bool {
    pod.at("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| s(c, "/type") == "Ready"))
        .is_some_and(|c| s(c, "/status") == "True")
}

fn statuses<'v>(pod: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    pod.at(&format!("/status/{key}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The first container (then init container) waiting in `ImagePullBackOff` or
/// `ErrImagePull`: `{container, reason, message}`.
fn pull_error(pod: &Value) -> Value {
    for cs in statuses(pod, "containerStatuses").chain(statuses(pod, "initContainerStatuses")) {
        let reason = s(cs, "/state/waiting/reason");
        if reason == "ImagePullBackOff" || reason == "ErrImagePull" {
            return json!({
                "container": s(cs, "/name"),
                "reason": reason,
                "message": s(cs, "/state/waiting/message"),
            });
        }
    }
    Value::Null
}

/// Latest (by `lastTimestamp`) Event of the pod among `reasons`.
fn latest_event(snap: &Snapshot, pod: &Value, reasons: &[&str]) -> Value {
    let ns = s(pod, "/metadata/namespace");
    let name = s(pod, "/metadata/name");
    let uid = s(pod, "/metadata/uid");
    let mut best: Option<&Arc<Value>> = None;
    for e in snap.list_in("Event", ns) {
        let (n, u) = (s(e, "/involvedObject/name"), s(e, "/involvedObject/uid"));
        if n != name || !(u.is_empty() || uid.is_empty() || u == uid) {
            continue;
        }
        if !reasons.contains(&s(e, "/reason")) {
            continue;
        }
        if best.is_none_or(|b| s(e, "/lastTimestamp") > s(b, "/lastTimestamp")) {
            best = Some(e);
        }
    }
    best.map(|e| json!({"reason": s(e, "/reason"), "message": s(e, "/message")}))
        .unwrap_or(Value::Null)
}

/// One pod as the pack sees it: `{name, phase, ready, pull_error, failure,
/// pending_event, pulling_event}`; `failure` (`{class, reason, message}`) only for a
/// pod in phase `Failed`.
pub fn pod_facts(snap: &Snapshot, pod: &Value) -> Value {
    let phase = s(pod, "/status/phase");
    let failure = if phase == "Failed" {
        classify_failure(snap, pod)
    } else {
        Value::Null
    };
    let pending = phase == "Pending";
    json!({
        "name": s(pod, "/metadata/name"),
        "phase": phase,
        "ready": ready(pod),
        "pull_error": pull_error(pod),
        "failure": failure,
        "pending_event": if pending {
            latest_event(snap, pod, &["FailedScheduling", "FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox"])
        } else { Value::Null },
        "pulling_event": if pending { latest_event(snap, pod, &["Pulling"]) } else { Value::Null },
    })
}

/// The last `n` lines of the container's log, when observed (`None` = no log).
fn log_tail(snap: &Snapshot, pod: &Value, container: &str, n: usize) -> Option<String> {
    let logs = snap.pod_logs(s(pod, "/metadata/namespace"), s(pod, "/metadata/name"));
    let log = logs
        .iter()
        .find(|l| s(l, "/container") == container)
        .or_else(|| logs.iter().find(|l| s(l, "/container").is_empty()))?;
    let text = s(log, "/text");
    let lines: Vec<&str> = text.split('\n').collect();
    let start = lines.len().saturating_sub(n);
    Some(lines[start..].join("\n"))
}

/// Log categories of §4.6 in priority order, each with its patterns (regular
/// expressions whose only operators are `.*` and the escape `\.`; case-insensitive).
const LOG_PATTERNS: &[(&str, &[&str])] = &[
    (
        "infrastructure",
        &[
            "RBAC:.*not found",
            "clusterrole.*not found",
            "forbidden.*cannot.*resource",
            "serviceaccount.*cannot",
        ],
    ),
    (
        "not_found",
        &[
            "Repository Not Found",
            "RepositoryNotFoundError",
            "404.*not.*found",
            "not.*found.*404",
            "NoSuchKey",
            "NoSuchBucket",
            "model.*not.*found",
            "file.*not.*found",
            "s3.*404",
        ],
    ),
    (
        "auth",
        &[
            "access.*denied.*s3",
            "s3.*403",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "s3.*unauthorized",
            "aws.*credentials.*not.*found",
            "NoCredentialProviders",
            "Access to model .* is restricted",
            "Cannot access gated repo",
            "Invalid.*token.*huggingface",
            "huggingface.*authentication.*failed",
            "401.*Unauthorized.*hf\\.co",
            "403.*Forbidden.*hf\\.co",
        ],
    ),
    (
        "storage_full",
        &[
            "no space left on device",
            "disk.*full",
            "ENOSPC",
            "quota.*exceeded",
            "storage.*full",
        ],
    ),
];

/// Unanchored, case-insensitive match of a `.*`-separated pattern.
fn pattern_matches(pattern: &str, line: &str) -> bool {
    let line = line.to_lowercase();
    let mut at = 0;
    for seg in pattern.split(".*") {
        let seg = seg.replace("\\.", ".").to_lowercase();
        match line[at..].find(&seg) {
            Some(i) => at += i + seg.len(),
            None => return false,
        }
    }
    true
}

/// The log category and the matching line (patterns first, then lines, §4.6).
pub fn categorize_log(log: &str) -> Option<(&'static str, String)> {
    if log.is_empty() {
        return None;
    }
    let lines: Vec<&str> = log.split('\n').collect();
    for (category, patterns) in LOG_PATTERNS {
        for p in *patterns {
            if let Some(line) = lines.iter().find(|l| pattern_matches(p, l)) {
                return Some((category, line.trim().to_string()));
            }
        }
    }
    None
}

/// §4.6: the classified error of a failed pod `{class, reason, message}`.
pub fn classify_failure(snap: &Snapshot, pod: &Value) -> Value {
    let mut reason = String::new();
    let mut message = String::new();
    let mut container = String::new();
    let mut inspect = false;
    if let Some(cs) =
        statuses(pod, "containerStatuses").find(|c| c.at("/state/terminated").is_some())
    {
        let t = &cs["state"]["terminated"];
        reason = s(t, "/reason").to_string();
        message = s(t, "/message").to_string();
        container = s(cs, "/name").to_string();
        let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
        if code != 0 {
            message = format!("Container {container} failed with exit code {code}: {message}");
            inspect = reason != "OOMKilled";
        } else if message.is_empty() {
            message = format!("Container {container} terminated with reason: {reason}");
        }
    }
    if reason.is_empty()
        && let Some(cs) =
            statuses(pod, "initContainerStatuses").find(|c| c.at("/state/terminated").is_some())
    {
        let t = &cs["state"]["terminated"];
        reason = s(t, "/reason").to_string();
        container = s(cs, "/name").to_string();
        let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
        if code != 0 {
            message = format!(
                "Init container {container} failed with exit code {code}: {}",
                s(t, "/message")
            );
            inspect = reason != "OOMKilled";
        } else {
            message = format!("Init container {container} terminated with reason: {reason}");
        }
    }
    if reason.is_empty() {
        reason = s(pod, "/status/reason").to_string();
        message = s(pod, "/status/message").to_string();
    }
    if message.is_empty() {
        message = "Pod failed".into();
    }
    let mut category = None;
    if inspect
        && !container.is_empty()
        && let Some(log) = log_tail(snap, pod, &container, 50)
    {
        let found = categorize_log(&log);
        let snippet = match &found {
            Some((_, line)) => line.clone(),
            None => {
                let lines: Vec<&str> = log.trim().split('\n').collect();
                lines[lines.len().saturating_sub(3)..].join("\n")
            }
        };
        category = found.map(|(c, _)| c);
        if !snippet.is_empty() {
            message = format!("{message}\n\nLog excerpt:\n{snippet}");
        }
    }
    let (class, reason, message) = match category {
        Some("auth") => (
            "Auth",
            "AuthError".to_string(),
            format!("Authentication error detected in pod logs: {message}"),
        ),
        Some("storage_full") => (
            "ResourceExhaustion",
            "StorageFull".to_string(),
            format!("Storage full error detected in pod logs: {message}"),
        ),
        Some("not_found") => (
            "InvalidSpec",
            "SourceNotFound".to_string(),
            format!("Source resource not found (404): {message}"),
        ),
        // infrastructure patterns are recognised but fall through [ref]
        _ => match reason.as_str() {
            "OOMKilled" => ("ResourceExhaustion", "PodOOMKilled".into(), message),
            "DeadlineExceeded" => ("InvalidSpec", "PodDeadlineExceeded".into(), message),
            "Evicted" => ("Infrastructure", "PodEvicted".into(), message),
            _ => ("InvalidSpec", "PodFailed".into(), message),
        },
    };
    json!({"class": class, "reason": reason, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches(
            "404.*not.*found",
            "HTTP 404: model NOT FOUND"
        ));
        assert!(!pattern_matches("404.*not.*found", "not found 404"));
        assert!(pattern_matches(
            "401.*Unauthorized.*hf\\.co",
            "401 Unauthorized for https://hf.co/x"
        ));
        assert!(!pattern_matches(
            "401.*Unauthorized.*hf\\.co",
            "401 Unauthorized for hfxco"
        ));
        assert!(pattern_matches(
            "Access to model .* is restricted",
            "Access to model meta/llama is restricted."
        ));
    }

    #[test]
    fn categories_in_priority_order() {
        let log =
            "starting\nCannot access gated repo for url https://huggingface.co/x\n404 not found";
        assert_eq!(categorize_log(log).unwrap().0, "not_found");
        assert_eq!(
            categorize_log("OSError: [Errno 28] No space left on device")
                .unwrap()
                .0,
            "storage_full"
        );
        assert!(categorize_log("all good").is_none());
    }

    fn failed_pod(reason: &str, code: i64) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
               "status": {"phase": "Failed", "containerStatuses": [
                   {"name": "model-download", "state": {"terminated": {"reason": reason, "exitCode": code, "message": "boom"}}}]}})
    }

    #[test]
    fn classification_with_and_without_logs() {
        let log = json!({"apiVersion": "observation.aimctl.dev/v1", "kind": "PodLog",
            "metadata": {"name": "p", "namespace": "ns"}, "container": "model-download",
            "text": "fetching\nCannot access gated repo for url https://huggingface.co/meta/x\nexit"});
        let snap = Snapshot::new([failed_pod("Error", 1), log]);
        let pod = failed_pod("Error", 1);
        let f = classify_failure(&snap, &pod);
        assert_eq!(f["class"], "Auth");
        assert_eq!(f["reason"], "AuthError");
        assert!(f["message"].as_str().unwrap().ends_with(
            "Log excerpt:\nCannot access gated repo for url https://huggingface.co/meta/x"
        ));
        let empty = Snapshot::new([]);
        let f = classify_failure(&empty, &failed_pod("OOMKilled", 137));
        assert_eq!(f["reason"], "PodOOMKilled");
        assert_eq!(
            f["message"],
            "Container model-download failed with exit code 137: boom"
        );
        let f = classify_failure(&empty, &failed_pod("Evicted", 1));
        assert_eq!(f["class"], "Infrastructure");
    }
}
