//! Observations the planners read that are not Kubernetes objects (cli.md
//! `observation.aimctl.dev/v1`), produced live and folded into the snapshot:
//!
//! - `PodLog`: the log of every terminated container of a pod of a Job an AIM object
//!   owns (discovery, check-size, download Jobs) — fetched once per container run.
//! - `RegistryListing`: what the registries of each AIMClusterModelSource hold, listed
//!   when the source appears or changes and again after its `syncInterval`.
//!
//! `ImageMetadata` is not produced: the registry client lists repositories and tags
//! but does not read image configs, so models take their metadata from
//! `spec.imageMetadata` (or an earlier status).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use super::Shared;
use super::cache::{Key, Observed};
use crate::snapshot::Snapshot;

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// At most this much of a log is kept (the planners read the tail or a JSON document).
const LOG_LIMIT: i64 = 1 << 20;

/// Whether a pod belongs to a Job an AIM object owns.
fn aim_job_pod(snap: &Snapshot, pod: &Value) -> bool {
    let job = s(pod, "/metadata/labels/job-name");
    !job.is_empty()
        && snap
            .get("Job", s(pod, "/metadata/namespace"), job)
            .is_some_and(|j| {
                j.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| s(r, "/apiVersion").starts_with("aim.eai.amd.com/"))
                    })
            })
}

/// The terminated containers of a pod: (container, fingerprint of that run).
fn terminated(pod: &Value) -> Vec<(String, String)> {
    let uid = s(pod, "/metadata/uid");
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| {
            pod.pointer(&format!("/status/{k}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c.pointer("/state/terminated").is_some())
        .map(|c| {
            let fp = format!(
                "{uid}/{}/{}/{}",
                c.get("restartCount").and_then(Value::as_i64).unwrap_or(0),
                s(&c, "/state/terminated/finishedAt"),
                s(&c, "/state/terminated/exitCode"),
            );
            (s(&c, "/name").to_string(), fp)
        })
        .collect()
}

fn pod_log_key(ns: &str, pod: &str, container: &str) -> Key {
    (ns.to_string(), format!("{pod}/{container}"))
}

/// Keeps `PodLog` observations for the pods of AIM-owned Jobs, until the operator stops.
pub async fn pod_logs(shared: Arc<Shared>) {
    shared.cache.wait_synced().await;
    let mut batches = shared.cache.subscribe();
    // (ns, pod/container) → fingerprint fetched
    let mut fetched: HashMap<Key, String> = HashMap::new();
    let (retry_tx, mut retry_rx) = tokio::sync::mpsc::unbounded_channel::<Key>();
    let mut snap = shared.cache.snapshot();
    loop {
        sync_logs(&shared, &snap, &mut fetched, &retry_tx);
        tokio::select! {
            b = batches.recv() => match b {
                Ok(b) => snap = b.after,
                Err(RecvError::Lagged(_)) => snap = shared.cache.snapshot(),
                Err(RecvError::Closed) => return,
            },
            Some(key) = retry_rx.recv() => {
                fetched.remove(&key);
                snap = shared.cache.snapshot();
            }
        }
    }
}

fn sync_logs(
    shared: &Arc<Shared>,
    snap: &Snapshot,
    fetched: &mut HashMap<Key, String>,
    retry: &tokio::sync::mpsc::UnboundedSender<Key>,
) {
    let mut wanted: BTreeSet<Key> = BTreeSet::new();
    for pod in snap.list("Pod") {
        if !aim_job_pod(snap, pod) {
            continue;
        }
        let (ns, name) = (s(pod, "/metadata/namespace"), s(pod, "/metadata/name"));
        for (container, fp) in terminated(pod) {
            let key = pod_log_key(ns, name, &container);
            wanted.insert(key.clone());
            if fetched.get(&key) == Some(&fp) {
                continue;
            }
            fetched.insert(key, fp.clone());
            let shared = shared.clone();
            let retry = retry.clone();
            let (ns, name) = (ns.to_string(), name.to_string());
            tokio::spawn(async move {
                if !fetch_log(&shared, &ns, &name, &container).await {
                    // forget the fingerprint so that a later pass tries again
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let _ = retry.send(pod_log_key(&ns, &name, &container));
                }
            });
        }
    }
    // withdraw observations of pods that are gone
    let gone: Vec<Key> = fetched
        .keys()
        .filter(|k| !wanted.contains(*k))
        .cloned()
        .collect();
    for key in gone {
        fetched.remove(&key);
        shared.cache.observe(Observed {
            kind: "PodLog",
            key,
            value: None,
        });
    }
}

/// Fetches one container's log into a `PodLog` observation; false on failure.
async fn fetch_log(shared: &Shared, ns: &str, pod: &str, container: &str) -> bool {
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
    let params = LogParams {
        container: Some(container.to_string()),
        limit_bytes: Some(LOG_LIMIT),
        ..LogParams::default()
    };
    for attempt in 0..5u32 {
        match api.logs(pod, &params).await {
            Ok(text) => {
                debug!(
                    namespace = ns,
                    pod,
                    container,
                    bytes = text.len(),
                    "pod log observed"
                );
                shared.cache.observe(Observed {
                    kind: "PodLog",
                    key: pod_log_key(ns, pod, container),
                    value: Some(json!({
                        "apiVersion": "observation.aimctl.dev/v1",
                        "kind": "PodLog",
                        "metadata": {"namespace": ns, "name": pod},
                        "container": container,
                        "text": text,
                    })),
                });
                return true;
            }
            Err(kube::Error::Api(st)) if st.code == 404 => return true,
            Err(e) => {
                warn!(namespace = ns, pod, container, error = %e, attempt, "cannot read a pod log");
                tokio::time::sleep(Duration::from_millis(500) * (1 << attempt)).await;
            }
        }
    }
    false
}

/// The sync interval of a model source (default 1 h, at least 10 s).
fn sync_interval(source: &Value) -> Duration {
    let text = s(source, "/spec/syncInterval");
    let text = if text.is_empty() { "1h" } else { text };
    let secs = crate::quantity::parse_go_duration(text).map_or(3600.0, |ns| ns as f64 / 1e9);
    Duration::from_secs_f64(secs.max(10.0))
}

/// Keeps `RegistryListing` observations for every AIMClusterModelSource: listed when
/// the source appears or its spec changes, again after its sync interval.
pub async fn registry_listings(shared: Arc<Shared>) {
    shared.cache.wait_synced().await;
    let lister = match crate::registry::HttpsRegistry::new(HashMap::new()) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "no registry client; model sources stay unlisted");
            return;
        }
    };
    // source name → (generation listed, when, registries observed)
    let mut listed: HashMap<String, (String, Instant, Vec<String>)> = HashMap::new();
    loop {
        let snap = shared.cache.snapshot();
        let mut present = BTreeSet::new();
        for source in snap.list("AIMClusterModelSource") {
            let name = s(source, "/metadata/name").to_string();
            present.insert(name.clone());
            let generation = source
                .pointer("/metadata/generation")
                .map(Value::to_string)
                .unwrap_or_default();
            let due = listed
                .get(&name)
                .is_none_or(|(g, at, _)| *g != generation || at.elapsed() >= sync_interval(source));
            if !due {
                continue;
            }
            let observations = crate::registry::observe_source(&lister, source).await;
            let mut registries = vec![];
            for mut o in observations {
                let registry = s(&o, "/registry").to_string();
                o["metadata"]["labels"] = json!({"aimctl.dev/source": name});
                shared.cache.observe(Observed {
                    kind: "RegistryListing",
                    key: (String::new(), format!("{name}/{registry}")),
                    value: Some(o),
                });
                registries.push(registry);
            }
            if let Some((_, _, old)) = listed.get(&name) {
                for r in old.iter().filter(|r| !registries.contains(r)) {
                    shared.cache.observe(Observed {
                        kind: "RegistryListing",
                        key: (String::new(), format!("{name}/{r}")),
                        value: None,
                    });
                }
            }
            listed.insert(name, (generation, Instant::now(), registries));
        }
        let gone: Vec<String> = listed
            .keys()
            .filter(|n| !present.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some((_, _, registries)) = listed.remove(&name) {
                for r in registries {
                    shared.cache.observe(Observed {
                        kind: "RegistryListing",
                        key: (String::new(), format!("{name}/{r}")),
                        value: None,
                    });
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(owner_api: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"namespace": "ns", "name": "discover-t", "ownerReferences": [
                   {"apiVersion": owner_api, "kind": "AIMServiceTemplate", "name": "t", "uid": "u", "controller": true}]}})
    }

    fn pod(state: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"namespace": "ns", "name": "discover-t-x", "uid": "p1", "labels": {"job-name": "discover-t"}},
               "status": {"containerStatuses": [{"name": "discovery", "restartCount": 0, "state": state}]}})
    }

    #[test]
    fn only_pods_of_aim_jobs_are_read() {
        let p = pod(json!({"running": {}}));
        let ours = Snapshot::new(vec![job("aim.eai.amd.com/v1alpha1"), p.clone()]);
        assert!(aim_job_pod(&ours, &p));
        let theirs = Snapshot::new(vec![job("apps/v1"), p.clone()]);
        assert!(!aim_job_pod(&theirs, &p));
        let alone = Snapshot::new(vec![p.clone()]);
        assert!(!aim_job_pod(&alone, &p));
    }

    #[test]
    fn a_log_is_read_once_per_container_run() {
        assert!(terminated(&pod(json!({"running": {}}))).is_empty());
        let done = terminated(&pod(
            json!({"terminated": {"exitCode": 0, "finishedAt": "2026-01-01T00:00:05Z"}}),
        ));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, "discovery");
        let again = terminated(&pod(
            json!({"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:01:05Z"}}),
        ));
        assert_ne!(done[0].1, again[0].1, "a new run is a new fingerprint");
    }

    #[test]
    fn sync_interval_defaults_and_floors() {
        assert_eq!(sync_interval(&json!({})), Duration::from_secs(3600));
        assert_eq!(
            sync_interval(&json!({"spec": {"syncInterval": "5m"}})),
            Duration::from_secs(300)
        );
        assert_eq!(
            sync_interval(&json!({"spec": {"syncInterval": "1s"}})),
            Duration::from_secs(10)
        );
    }
}
