//! Observations the planners read that are not Kubernetes objects (cli.md
//! `observation.aimctl.dev/v1`), produced live and folded into the snapshot:
//!
//! - `PodLog`: the log of every terminated container of a pod of a Job an AIM object
//!   owns (discovery, check-size, download Jobs) — fetched once per container run.
//! - `RegistryListing`: what the registries of each AIMClusterModelSource hold, listed
//!   when the source appears or changes and again after its `syncInterval`.
//!
//! - `ImageMetadata`: the config labels and digest of the image of every AIMModel /
//!   AIMClusterModel waiting on them (metadata extraction on, no `spec.imageMetadata`,
//!   no `status.imageMetadata`) — fetched once per (image, pull secrets), retried with
//!   backoff after a failure (published as the observation's `error` until a fetch
//!   succeeds), withdrawn when no model names the image any more.

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

/// One way to read an image's labels: the image as written, with the pull secrets of
/// a namespace (the model's, or the operator's for cluster models).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ImageFetch {
    image: String,
    namespace: String,
    secrets: Vec<String>,
}

/// The fetches the models waiting on an `ImageMetadata` observation need (the
/// planner's "awaiting" condition, src/plan/model.rs `image_metadata`).
fn waiting_fetches(snap: &Snapshot, operator_namespace: &str) -> BTreeSet<ImageFetch> {
    use crate::rules::native::is_set;
    let mut out = BTreeSet::new();
    for kind in ["AIMModel", "AIMClusterModel"] {
        for m in snap.list(kind) {
            let image = s(m, "/spec/image").trim();
            if image.is_empty()
                || m.pointer("/spec/discovery/extractMetadata") == Some(&Value::Bool(false))
                || m.pointer("/spec/imageMetadata").is_some_and(is_set)
                || m.pointer("/status/imageMetadata").is_some_and(is_set)
                || snap
                    .image_metadata(s(m, "/spec/image"))
                    .is_some_and(|o| o.get("error").is_none_or(|e| !is_set(e)))
            {
                continue;
            }
            let namespace = if kind == "AIMClusterModel" {
                operator_namespace
            } else {
                s(m, "/metadata/namespace")
            };
            let mut secrets: Vec<String> = m
                .pointer("/spec/imagePullSecrets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| s(r, "/name").to_string())
                .filter(|n| !n.is_empty())
                .collect();
            secrets.sort();
            secrets.dedup();
            // a missing secret is the planner's error, not a fetch
            if secrets
                .iter()
                .any(|n| snap.get("Secret", namespace, n).is_none())
            {
                continue;
            }
            out.insert(ImageFetch {
                image: s(m, "/spec/image").to_string(),
                namespace: namespace.to_string(),
                secrets,
            });
        }
    }
    out
}

/// The images any model names (as written).
fn model_images(snap: &Snapshot) -> BTreeSet<String> {
    ["AIMModel", "AIMClusterModel"]
        .iter()
        .flat_map(|k| snap.list(k))
        .map(|m| s(m, "/spec/image").to_string())
        .collect()
}

/// Registry credentials of `kubernetes.io/dockerconfigjson` (or legacy `dockercfg`)
/// secrets; earlier secrets win for a host.
fn pull_credentials(
    snap: &Snapshot,
    namespace: &str,
    secrets: &[String],
) -> HashMap<String, crate::registry::Credentials> {
    use base64::Engine as _;
    let mut out = HashMap::new();
    for name in secrets {
        let Some(secret) = snap.get("Secret", namespace, name) else {
            continue;
        };
        let decode = |key: &str| {
            secret
                .pointer(&format!("/data/{}", key.replace('/', "~1")))
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .or_else(|| {
                    secret
                        .pointer(&format!("/stringData/{key}"))
                        .and_then(Value::as_str)
                        .map(|t| t.as_bytes().to_vec())
                })
        };
        let config = decode(".dockerconfigjson").or_else(|| {
            // legacy: the `auths` map itself
            let raw = decode(".dockercfg")?;
            let auths: Value = serde_json::from_slice(&raw).ok()?;
            serde_json::to_vec(&json!({ "auths": auths })).ok()
        });
        for (host, c) in config
            .map(|c| crate::registry::credentials_from_docker_config(&c))
            .unwrap_or_default()
        {
            out.entry(host).or_insert(c);
        }
    }
    out
}

/// The wait before the next try after `failures` failed fetches (5 s doubling, at
/// most 5 min).
fn image_backoff(failures: u32) -> Duration {
    (Duration::from_secs(5) * (1u32 << failures.saturating_sub(1).min(6)))
        .min(Duration::from_secs(300))
}

/// Keeps `ImageMetadata` observations for the models waiting on them, until the
/// operator stops. Fetches run in their own tasks; reconciles never wait on them.
pub async fn image_metadata(shared: Arc<Shared>) {
    shared.cache.wait_synced().await;
    type Outcome = (
        ImageFetch,
        Result<crate::registry::ImageLabels, crate::registry::RegistryError>,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    // fetch → (in flight, succeeded, failures, next try)
    let mut fetches: HashMap<ImageFetch, (bool, bool, u32, Instant)> = HashMap::new();
    // image → whether its published observation is a success
    let mut published: HashMap<String, bool> = HashMap::new();
    loop {
        let snap = shared.cache.snapshot();
        for f in waiting_fetches(&snap, &shared.settings.operator_namespace) {
            let state = fetches
                .entry(f.clone())
                .or_insert((false, false, 0, Instant::now()));
            if state.0 || state.1 || Instant::now() < state.3 {
                continue;
            }
            state.0 = true;
            let credentials = pull_credentials(&snap, &f.namespace, &f.secrets);
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = match crate::registry::HttpsRegistry::new(credentials) {
                    Ok(reg) => reg.image_labels(&f.image).await,
                    Err(e) => Err(crate::registry::RegistryError::Unsupported(format!(
                        "no registry client: {e}"
                    ))),
                };
                let _ = tx.send((f, result));
            });
        }
        // withdraw observations of images no model names any more
        let images = model_images(&snap);
        fetches.retain(|f, st| st.0 || images.contains(&f.image));
        let gone: Vec<String> = published
            .keys()
            .filter(|i| !images.contains(*i))
            .cloned()
            .collect();
        for image in gone {
            published.remove(&image);
            shared.cache.observe(Observed {
                kind: "ImageMetadata",
                key: (String::new(), image),
                value: None,
            });
        }
        let outcome = tokio::select! {
            o = rx.recv() => o,
            _ = tokio::time::sleep(Duration::from_secs(2)) => None,
        };
        let Some((f, result)) = outcome else {
            continue;
        };
        let state = fetches
            .entry(f.clone())
            .or_insert((false, false, 0, Instant::now()));
        state.0 = false;
        match &result {
            Ok(l) => {
                state.1 = true;
                debug!(image = %f.image, labels = l.labels.len(), digest = ?l.digest, "image metadata observed");
            }
            Err(e) => {
                state.2 += 1;
                state.3 = Instant::now() + image_backoff(state.2);
                warn!(image = %f.image, namespace = %f.namespace, error = %e, failures = state.2, "cannot read an image's labels");
                if published.get(&f.image) == Some(&true) {
                    continue;
                }
            }
        }
        published.insert(f.image.clone(), result.is_ok());
        shared.cache.observe(Observed {
            kind: "ImageMetadata",
            key: (String::new(), f.image.clone()),
            value: Some(crate::registry::image_metadata_observation(
                &f.image, &result,
            )),
        });
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
    fn model(kind: &str, ns: &str, spec: Value, status: Value) -> Value {
        json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": kind,
               "metadata": {"namespace": ns, "name": "m", "uid": "u"}, "spec": spec, "status": status})
    }

    #[test]
    fn image_fetches_for_waiting_models_only() {
        use base64::Engine as _;
        let cfg = base64::engine::general_purpose::STANDARD
            .encode(r#"{"auths": {"ghcr.io": {"username": "u", "password": "p"}}}"#);
        let secret = |ns: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                   "metadata": {"namespace": ns, "name": "pull"}, "data": {".dockerconfigjson": cfg}})
        };
        let snap = Snapshot::new(vec![
            secret("ns"),
            secret("aim-system"),
            model(
                "AIMModel",
                "ns",
                json!({"image": "ghcr.io/a/b:1", "imagePullSecrets": [{"name": "pull"}]}),
                json!({}),
            ),
            model(
                "AIMClusterModel",
                "",
                json!({"image": "c/d:2", "imagePullSecrets": [{"name": "pull"}]}),
                json!({}),
            ),
            model(
                "AIMModel",
                "ns",
                json!({"image": "e:3", "discovery": {"extractMetadata": false}}),
                json!({}),
            ),
            model(
                "AIMModel",
                "ns",
                json!({"image": "f:4", "imageMetadata": {"model": {"canonicalName": "x"}}}),
                json!({}),
            ),
            model(
                "AIMModel",
                "ns",
                json!({"image": "g:5"}),
                json!({"imageMetadata": {"model": {"canonicalName": "x"}}}),
            ),
            model(
                "AIMModel",
                "ns",
                json!({"image": "h:6", "imagePullSecrets": [{"name": "missing"}]}),
                json!({}),
            ),
            model("AIMModel", "other", json!({"image": "i:7"}), json!({})),
            json!({"apiVersion": "observation.aimctl.dev/v1", "kind": "ImageMetadata", "image": "i:7", "labels": {}}),
        ]);
        let wanted: Vec<(String, String)> = waiting_fetches(&snap, "aim-system")
            .into_iter()
            .map(|f| (f.image, f.namespace))
            .collect();
        assert_eq!(
            wanted,
            [
                ("c/d:2".to_string(), "aim-system".to_string()),
                ("ghcr.io/a/b:1".to_string(), "ns".to_string())
            ]
        );
        let creds = pull_credentials(&snap, "ns", &["pull".to_string()]);
        assert_eq!(creds["ghcr.io"].password, "p");
        assert!(pull_credentials(&snap, "nowhere", &["pull".to_string()]).is_empty());
        assert!(model_images(&snap).contains("i:7"));
    }

    #[test]
    fn image_backoff_doubles_and_caps() {
        assert_eq!(image_backoff(1), Duration::from_secs(5));
        assert_eq!(image_backoff(2), Duration::from_secs(10));
        assert_eq!(image_backoff(30), Duration::from_secs(300));
    }
}
