//! `aimctl operator` end to end: the built binary runs as its own process against a
//! Kubernetes API (the emulator, or `AIMCTL_E2E_KUBECONFIG`), and the test drives it
//! with `kubectl` only. The supporting controllers (models, templates, caches) are
//! not running here, so the test plays their part by patching statuses, exactly as
//! they would report them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::harness::{Cluster, Process, eventually, repo, unique_suffix};

/// Long enough for a loaded 2-core CI machine, short enough to fail fast.
const CONVERGE: Duration = Duration::from_secs(30);

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A namespace with GPU nodes, a Ready model, two Ready templates (MI300X, MI325X,
/// both with model sources, so the service needs a template cache), a runtime config
/// that enables routing, and the operator watching it.
struct Stand {
    cluster: Cluster,
    ns: String,
    suffix: String,
}

/// The rule pack as ConfigMap data.
fn pack_data() -> serde_json::Map<String, Value> {
    let mut data = serde_json::Map::new();
    let dir = repo().join("rules");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("rules/")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if name.ends_with(".rules") || name.ends_with(".rhai") {
            data.insert(
                name,
                Value::String(std::fs::read_to_string(&p).expect("a rule file")),
            );
        }
    }
    data
}

impl Stand {
    fn new(hint: &str) -> Stand {
        let stand = Stand::bare(hint);
        stand.apply(&stand.fixtures());
        stand
    }

    /// A namespace with the rule pack and nothing else.
    fn bare(hint: &str) -> Stand {
        let cluster = Cluster::start();
        let ns = cluster.namespace(hint);
        let suffix = unique_suffix();
        let stand = Stand {
            cluster,
            ns,
            suffix,
        };
        stand.set_pack(pack_data());
        stand
    }

    fn fixtures(&self) -> String {
        let (ns, sfx) = (&self.ns, &self.suffix);
        let template = |gpu: &str| {
            format!(
                r#"
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMServiceTemplate
metadata: {{name: qwen-{lower}, namespace: {ns}}}
spec:
  modelName: qwen
  metric: latency
  precision: fp8
  hardware: {{gpu: {{requests: 1, model: {gpu}}}}}
status:
  status: Ready
  resolvedHardware: {{gpu: {{requests: 1, model: {gpu}}}}}
  profile:
    metadata: {{engine: vllm, gpu: {gpu}, gpuCount: 1, metric: latency, precision: fp8, type: optimized}}
  modelSources:
  - {{modelId: Qwen/Qwen3-32B, sourceUri: "hf://Qwen/Qwen3-32B", size: 70Gi}}
"#,
                lower = gpu.to_lowercase()
            )
        };
        format!(
            r#"
apiVersion: v1
kind: Node
metadata: {{name: e2e-{sfx}-a, labels: {{amd.com/gpu.device-id: "74a1"}}}}
---
apiVersion: v1
kind: Node
metadata: {{name: e2e-{sfx}-b, labels: {{amd.com/gpu.device-id: "74a5"}}}}
---
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMRuntimeConfig
metadata: {{name: default, namespace: {ns}}}
spec:
  routing:
    enabled: true
    gatewayRef: {{name: gateway, namespace: {ns}}}
---
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMModel
metadata: {{name: qwen, namespace: {ns}}}
spec: {{image: "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"}}
status: {{status: Ready}}
---{}---{}"#,
            template("MI300X"),
            template("MI325X")
        )
    }

    fn service(&self, name: &str) -> String {
        format!(
            r#"
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  model: {{name: qwen}}
"#,
            ns = self.ns
        )
    }

    /// `kubectl apply --server-side` for each document, then its `status` through the
    /// status subresource (an apply never writes status).
    fn apply(&self, yaml: &str) {
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let Ok(doc) = serde_yaml::Value::deserialize(doc) else {
                panic!("bad fixture YAML:\n{yaml}")
            };
            let mut doc: Value = serde_json::to_value(doc).expect("JSON");
            if doc.is_null() {
                continue;
            }
            let status = doc.as_object_mut().and_then(|m| m.remove("status"));
            self.cluster
                .kubectl_stdin(
                    &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                    &doc.to_string(),
                )
                .ok();
            if let Some(status) = status {
                self.patch_status(
                    &resource_of(&doc),
                    s(&doc, "/metadata/name"),
                    json!({"status": status}),
                );
            }
        }
    }

    fn patch_status(&self, resource: &str, name: &str, patch: Value) {
        let mut args = vec![
            "patch".to_string(),
            resource.to_string(),
            name.to_string(),
            "--subresource=status".into(),
            "--type=merge".into(),
            "-p".into(),
            patch.to_string(),
        ];
        if !matches!(resource, "node" | "namespace") {
            args.extend(["-n".into(), self.ns.clone()]);
        }
        self.cluster.kubectl(&args).ok();
    }

    fn set_pack(&self, data: serde_json::Map<String, Value>) {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "aimctl-rules", "namespace": self.ns}, "data": data});
        self.cluster
            .kubectl_stdin(
                &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                &cm.to_string(),
            )
            .ok();
    }

    fn operator_args(&self) -> Vec<String> {
        vec![
            "operator".into(),
            "--rules-configmap".into(),
            format!("{}/aimctl-rules", self.ns),
            "--namespace".into(),
            self.ns.clone(),
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
            // The supporting controllers' part is played by the test (statuses).
            "--controllers".into(),
            "service".into(),
        ]
    }

    fn start_operator(&self) -> Operator {
        let args = self.operator_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = self.cluster.spawn_aimctl(&args);
        Operator::new(process)
    }

    /// `kubectl get <resource> -n ns -o json` items.
    fn items(&self, resource: &str) -> Vec<Value> {
        let out = self
            .cluster
            .kubectl(&["get", resource, "-n", &self.ns, "-o", "json"])
            .ok();
        out.json()["items"].as_array().cloned().unwrap_or_default()
    }

    fn get(&self, resource: &str, name: &str) -> Option<Value> {
        let out = self.cluster.kubectl(&[
            "get",
            resource,
            name,
            "-n",
            &self.ns,
            "-o",
            "json",
            "--ignore-not-found",
        ]);
        let out = out.ok();
        if out.stdout.trim().is_empty() {
            None
        } else {
            Some(out.json())
        }
    }

    /// The service's only InferenceService, once there.
    fn wait_isvc(&self, what: &str) -> Value {
        eventually(CONVERGE, what, || {
            let items = self.items("inferenceservices.serving.kserve.io");
            assert!(items.len() <= 1, "duplicate InferenceServices: {items:#?}");
            items.into_iter().next()
        })
    }

    /// Drives a service to `Running`: the cache Ready, the ISVC Ready with a ready
    /// pod, the route accepted. Returns (ISVC, seconds from cache Ready to ISVC).
    fn converge(&self, service: &str) -> (Value, f64) {
        let cache = eventually(CONVERGE, "the operator to plan a template cache", || {
            self.items("aimtemplatecaches.aim.eai.amd.com")
                .into_iter()
                .next()
        });
        let started = Instant::now();
        self.patch_status(
            "aimtemplatecache.aim.eai.amd.com",
            s(&cache, "/metadata/name"),
            json!({"status": {"status": "Ready"}}),
        );
        let isvc = self.wait_isvc("the InferenceService");
        let to_isvc = started.elapsed().as_secs_f64();
        let isvc_name = s(&isvc, "/metadata/name").to_string();
        self.patch_status(
            "inferenceservice.serving.kserve.io",
            &isvc_name,
            json!({"status": {"conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
        );
        self.apply(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {isvc_name}-predictor-0, namespace: {ns}, labels: {{serving.kserve.io/inferenceservice: {isvc_name}}}}}
spec: {{containers: [{{name: main, image: busybox}}]}}
status:
  phase: Running
  conditions: [{{type: Ready, status: "True"}}]
"#,
            ns = self.ns
        ));
        let route = eventually(CONVERGE, "the HTTPRoute", || {
            self.items("httproutes.gateway.networking.k8s.io")
                .into_iter()
                .next()
        });
        self.patch_status(
            "httproute.gateway.networking.k8s.io",
            s(&route, "/metadata/name"),
            json!({"status": {"parents": [{"parentRef": {"name": "gateway", "namespace": self.ns},
                "controllerName": "example.com/gateway",
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                    "message": "accepted", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}}),
        );
        self.wait_status(service, "Running");
        (isvc, to_isvc)
    }

    fn wait_status(&self, service: &str, status: &str) -> Value {
        eventually(CONVERGE, &format!("{service} to be {status}"), || {
            self.get("aimservices.aim.eai.amd.com", service)
                .filter(|svc| s(svc, "/status/status") == status)
        })
    }

    fn emulator(&self) -> Emulator<'_> {
        Emulator(
            self.cluster
                .emulator_url()
                .expect("this scenario needs the emulator's admin API (stats, faults)"),
        )
    }
}

impl Drop for Stand {
    /// Namespaces go with the cluster; the Nodes are cluster-scoped and go here.
    fn drop(&mut self) {
        if !self.cluster.is_emulator() {
            let a = format!("e2e-{}-a", self.suffix);
            let b = format!("e2e-{}-b", self.suffix);
            let _ = self.cluster.kubectl(&[
                "delete",
                "node",
                &a,
                &b,
                "--wait=false",
                "--ignore-not-found",
            ]);
        }
    }
}

/// `kubectl` resource name of an object (`kind.group`).
fn resource_of(doc: &Value) -> String {
    let kind = s(doc, "/kind").to_lowercase();
    match s(doc, "/apiVersion").split_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind,
    }
}

/// One plain HTTP/1.1 request to a loopback address (`http://host:port/path`).
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream =
        TcpStream::connect(host).unwrap_or_else(|e| panic!("cannot connect to {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("a request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The emulator's admin API.
struct Emulator<'a>(&'a str);

impl Emulator<'_> {
    fn reset_stats(&self) {
        let (code, body) = http(
            "POST",
            &format!("{}/_emulator/reset-stats", self.0),
            Some("{}"),
        );
        assert!(code < 300, "reset-stats: {code} {body}");
    }

    fn stats(&self) -> Value {
        let (code, body) = http("GET", &format!("{}/_emulator/stats", self.0), None);
        assert!(code < 300, "stats: {code} {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("stats JSON ({e}): {body}"))
    }

    fn fault(&self, fault: Value) {
        let (code, body) = http(
            "POST",
            &format!("{}/_emulator/faults", self.0),
            Some(&fault.to_string()),
        );
        assert!(code < 300, "fault {fault}: {code} {body}");
    }

    fn clear_faults(&self) {
        let (code, body) = http("DELETE", &format!("{}/_emulator/faults", self.0), None);
        assert!(code < 300, "clear faults: {code} {body}");
    }
}

/// The operator process and its HTTP endpoint.
struct Operator {
    process: Process,
}

impl Operator {
    fn new(process: Process) -> Operator {
        let mut op = Operator { process };
        op.wait_log("caches synced");
        op
    }

    #[track_caller]
    fn wait_log(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.process.log();
            if log.contains(needle) {
                return log;
            }
            if let Some(status) = self.process.exited() {
                panic!("the operator exited ({status}) before logging {needle:?}:\n{log}");
            }
            assert!(
                started.elapsed() < CONVERGE,
                "the operator did not log {needle:?} within {CONVERGE:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&mut self) -> String {
        let log = self.wait_log("serving /healthz");
        metrics_url(&log)
    }

    fn metrics(&mut self) -> String {
        let url = format!("{}/metrics", self.url());
        let (code, body) = http("GET", &url, None);
        assert_eq!(code, 200, "{url}: {body}");
        body
    }
}

/// The address the operator logged.
fn metrics_url(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("serving /healthz"))
        .expect("the serving line");
    // text: `addr=127.0.0.1:PORT`; JSON: `"addr":"127.0.0.1:PORT"`
    let addr = line
        .split(['"', ' ', ','])
        .filter(|w| !w.is_empty())
        .find_map(|w| {
            w.strip_prefix("addr=")
                .or(w.strip_prefix("127.0.0.1:").map(|_| w))
        })
        .expect("the address in the serving line");
    format!("http://{addr}")
}

/// The value of one sample line `name{labels} value` of the Prometheus text.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Writes that succeeded, by resource.
fn writes_by_resource(stats: &Value) -> serde_json::Map<String, Value> {
    stats["writes"]["byResource"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------

/// Objects applied → cache planned → (cache Ready) → InferenceService and HTTPRoute
/// with the planned content, owned by the service → (ISVC Ready, pod ready, route
/// accepted) → the service is Running.
#[test]
fn operator_plans_inference_service_and_route_then_reports_running() {
    let stand = Stand::new("op-running");
    let mut op = stand.start_operator();
    let applied = Instant::now();
    stand.apply(&stand.service("chat"));
    let (isvc, to_isvc) = stand.converge("chat");
    eprintln!(
        "e2e: cache Ready → InferenceService in {to_isvc:.2}s; service applied → Running in {:.2}s",
        applied.elapsed().as_secs_f64()
    );

    let svc = stand
        .get("aimservices.aim.eai.amd.com", "chat")
        .expect("the service");
    // Owned by the service, labelled for it, built from the preferred template.
    let owner = &isvc["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "AIMService");
    assert_eq!(owner["uid"], svc["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    assert_eq!(
        s(&isvc, "/metadata/labels/aim.eai.amd.com~1service"),
        "chat"
    );
    assert_eq!(
        s(&isvc, "/metadata/labels/aim.eai.amd.com~1template"),
        "qwen-mi325x",
        "the default GPU tier list prefers MI325X"
    );
    assert_eq!(s(&svc, "/status/resolvedTemplate/name"), "qwen-mi325x");
    let isvc_name = s(&isvc, "/metadata/name");
    let with_fields = stand
        .cluster
        .kubectl(&[
            "get",
            "inferenceservices.serving.kserve.io",
            isvc_name,
            "-n",
            &stand.ns,
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .ok()
        .json();
    let managers: Vec<&str> = with_fields["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| s(m, "/manager"))
        .collect();
    assert!(managers.contains(&"aimctl"), "{managers:?}");
    let route = stand
        .items("httproutes.gateway.networking.k8s.io")
        .pop()
        .expect("a route");
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["name"],
        format!("{}-predictor", s(&isvc, "/metadata/name")),
        "{route:#}"
    );
    assert_eq!(
        route["metadata"]["ownerReferences"][0]["uid"],
        svc["metadata"]["uid"]
    );

    // The operator applied exactly what `aimctl dry-run` plans for the same state.
    let dump = stand.cluster.scratch_dir().join("state.json");
    let state = stand
        .cluster
        .kubectl(&[
            "get",
            "aimmodels,aimservicetemplates,aimruntimeconfigs,aimservices,aimtemplatecaches,inferenceservices,httproutes,pods",
            "-n",
            &stand.ns,
            "-o",
            "json",
        ])
        .ok();
    let mut list = state.json();
    let nodes = stand
        .cluster
        .kubectl(&["get", "nodes", "-o", "json"])
        .ok()
        .json();
    if let (Some(items), Some(more)) = (list["items"].as_array_mut(), nodes["items"].as_array()) {
        items.extend(more.iter().cloned());
    }
    std::fs::write(&dump, list.to_string()).expect("a state file");
    let out = Command::new(env!("CARGO_BIN_EXE_aimctl"))
        .args(["dry-run", "-o", "json", "--service"])
        .arg(format!("{}/chat", stand.ns))
        .arg("-f")
        .arg(&dump)
        .output()
        .expect("dry-run runs");
    assert!(
        out.status.success(),
        "dry-run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let planned: Vec<Value> = serde_json::from_slice(&out.stdout).expect("dry-run JSON");
    let planned_isvc = planned
        .iter()
        .find(|d| d["kind"] == "InferenceService")
        .expect("dry-run plans the InferenceService");
    assert_eq!(
        planned_isvc["spec"], isvc["spec"],
        "live ISVC spec ≠ dry-run"
    );
    assert_eq!(
        planned_isvc["metadata"]["labels"],
        isvc["metadata"]["labels"]
    );
    // Condition changes were reported as Events by the service controller.
    let events = stand.items("events.events.k8s.io");
    assert!(
        events
            .iter()
            .any(|e| s(e, "/regarding/kind") == "AIMService"
                && s(e, "/regarding/name") == "chat"
                && s(e, "/reportingController") == "aim-service-controller"
                && s(e, "/reason") == "AllComponentsReady"),
        "no AllComponentsReady Event for the service: {events:#?}"
    );
    let metrics = op.metrics();
    assert!(
        sample(&metrics, "aimctl_reconciles_total{kind=\"AIMService\"}").unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "aimctl_cache_synced "), Some(1.0));
}

/// A spec change reaches the InferenceService; a deleted service takes its owned
/// objects with it while the Ready shared cache survives.
#[test]
fn operator_updates_outputs_on_spec_change_and_cleans_up_on_delete() {
    let stand = Stand::new("op-update");
    let _op = stand.start_operator();
    stand.apply(&stand.service("chat"));
    stand.converge("chat");

    stand
        .cluster
        .kubectl(&[
            "patch",
            "aimservices.aim.eai.amd.com",
            "chat",
            "-n",
            &stand.ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"env":[{"name":"E2E_MARKER","value":"updated"}]}}"#,
        ])
        .ok();
    eventually(CONVERGE, "the new env var on the ISVC container", || {
        let isvc = stand.items("inferenceservices.serving.kserve.io").pop()?;
        let env = isvc
            .pointer("/spec/predictor/containers/0/env")?
            .as_array()?
            .clone();
        env.iter()
            .any(|e| e["name"] == "E2E_MARKER" && e["value"] == "updated")
            .then_some(())
    });

    // A cache of the service that never became Ready: the finalizer removes it.
    stand.apply(&format!(
        r#"
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMTemplateCache
metadata: {{name: chat-leftover, namespace: {ns}, labels: {{aim.eai.amd.com/service: chat}}}}
spec: {{templateName: qwen-mi300x, templateScope: Namespace, mode: Shared}}
status: {{status: Progressing}}
"#,
        ns = stand.ns
    ));
    let svc = stand
        .get("aimservices.aim.eai.amd.com", "chat")
        .expect("the service");
    assert!(
        svc["metadata"]["finalizers"]
            .to_string()
            .contains("aim.eai.amd.com/template-cache-cleanup"),
        "{svc:#}"
    );
    stand
        .cluster
        .kubectl(&[
            "delete",
            "aimservices.aim.eai.amd.com",
            "chat",
            "-n",
            &stand.ns,
            "--timeout=30s",
        ])
        .ok();
    eventually(CONVERGE, "owned objects to be garbage-collected", || {
        (stand
            .items("inferenceservices.serving.kserve.io")
            .is_empty()
            && stand
                .items("httproutes.gateway.networking.k8s.io")
                .is_empty())
        .then_some(())
    });
    let caches = stand.items("aimtemplatecaches.aim.eai.amd.com");
    assert_eq!(
        caches.len(),
        1,
        "the Ready shared cache is preserved: {caches:#?}"
    );
    assert_eq!(s(&caches[0], "/status/status"), "Ready");

    // A terminating namespace: the finalizer is released without cleanup, so the
    // namespace can go.
    stand.apply(&stand.service("other"));
    eventually(CONVERGE, "the finalizer on the second service", || {
        let svc = stand.get("aimservices.aim.eai.amd.com", "other")?;
        svc["metadata"]["finalizers"]
            .to_string()
            .contains("template-cache-cleanup")
            .then_some(())
    });
    stand
        .cluster
        .kubectl(&["delete", "namespace", &stand.ns, "--wait=false"])
        .ok();
    eventually(CONVERGE, "the namespace to be deleted", || {
        let out = stand.cluster.kubectl(&[
            "get",
            "namespace",
            &stand.ns,
            "--ignore-not-found",
            "-o",
            "name",
        ]);
        out.ok().stdout.trim().is_empty().then_some(())
    });
}

/// Reordering the GPU tier list in the rules ConfigMap takes effect within 5 s.
///
/// The planner keeps a service on its resolved template while that template stays
/// Ready (service-reconcile.md §6.1, [ref]): a running service is re-planned but
/// stays. The new order shows on every fresh selection: a new service, and the
/// running one once its resolution is cleared.
#[test]
fn operator_hot_reloads_a_retuned_pack_from_the_configmap() {
    let stand = Stand::new("op-retune");
    let mut op = stand.start_operator();
    stand.apply(&stand.service("chat"));
    let (isvc, _) = stand.converge("chat");
    assert_eq!(
        s(&isvc, "/metadata/labels/aim.eai.amd.com~1template"),
        "qwen-mi325x"
    );
    let before = op.metrics();

    let mut data = pack_data();
    let sel = data
        .get_mut("selection.rules")
        .and_then(|v| match v {
            Value::String(t) => Some(t),
            _ => None,
        })
        .expect("selection.rules");
    let retuned = sel.replace("MI325X, MI300X", "MI300X, MI325X");
    assert_ne!(*sel, retuned, "the default tier list changed shape");
    *sel = retuned;
    let edited = Instant::now();
    stand.set_pack(data);
    let after = eventually(
        Duration::from_secs(5),
        "the retuned pack to be active",
        || {
            let m = op.metrics();
            (sample(&m, "aimctl_rule_pack_reloads_total{result=\"activated\"}") == Some(1.0))
                .then_some(m)
        },
    );
    eprintln!(
        "e2e: ConfigMap edited → pack active in {:.2}s",
        edited.elapsed().as_secs_f64()
    );
    stand.apply(&stand.service("fresh"));
    eventually(
        Duration::from_secs(5),
        "a new service to select the MI300X template under the retuned pack",
        || {
            let svc = stand.get("aimservices.aim.eai.amd.com", "fresh")?;
            (s(&svc, "/status/resolvedTemplate/name") == "qwen-mi300x").then_some(())
        },
    );
    eprintln!(
        "e2e: ConfigMap edited → new service on MI300X in {:.2}s",
        edited.elapsed().as_secs_f64()
    );
    assert_ne!(
        before
            .lines()
            .find(|l| l.starts_with("aimctl_rule_pack_info")),
        after
            .lines()
            .find(|l| l.starts_with("aimctl_rule_pack_info")),
        "the active pack digest changed"
    );

    // The running service moves too: its first plan under the new pack chooses afresh.
    let moved = edited;
    eventually(
        Duration::from_secs(5),
        "chat's ISVC to move to MI300X",
        || {
            let isvc = stand.items("inferenceservices.serving.kserve.io");
            assert!(isvc.len() <= 2);
            isvc.iter()
                .find(|i| s(i, "/metadata/labels/aim.eai.amd.com~1service") == "chat")
                .filter(|i| s(i, "/metadata/labels/aim.eai.amd.com~1template") == "qwen-mi300x")
                .map(|_| ())
        },
    );
    eprintln!(
        "e2e: ConfigMap edited → running service on MI300X in {:.2}s",
        moved.elapsed().as_secs_f64()
    );
}

/// A broken pack in the ConfigMap is never activated: the old pack keeps planning,
/// a Warning Event lands on the ConfigMap, the metrics say so.
#[test]
fn operator_keeps_the_last_good_pack_when_the_configmap_breaks() {
    let stand = Stand::new("op-broken");
    let mut op = stand.start_operator();
    let before = op.metrics();
    let mut data = pack_data();
    data.insert(
        "zz-broken.rules".into(),
        Value::String("rank gpu_tier = [\n".into()),
    );
    stand.set_pack(data);
    op.wait_log("rule pack rejected");
    let event = eventually(CONVERGE, "a Warning Event on the rules ConfigMap", || {
        stand.items("events.events.k8s.io").into_iter().find(|e| {
            s(e, "/regarding/kind") == "ConfigMap"
                && s(e, "/regarding/name") == "aimctl-rules"
                && s(e, "/type") == "Warning"
        })
    });
    assert_eq!(s(&event, "/reason"), "RulePackRejected");
    assert!(s(&event, "/note").contains("zz-broken.rules"), "{event:#}");
    let after = op.metrics();
    assert_eq!(
        sample(&after, "aimctl_rule_pack_rejected "),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        before
            .lines()
            .find(|l| l.starts_with("aimctl_rule_pack_info")),
        after
            .lines()
            .find(|l| l.starts_with("aimctl_rule_pack_info")),
        "the active pack is unchanged"
    );
    // A second broken edit is a repeat: counted into the first Event's series.
    let mut data = pack_data();
    data.insert(
        "zz-broken.rules".into(),
        Value::String("rank gpu_tier = [[\n".into()),
    );
    stand.set_pack(data);
    let repeated = eventually(CONVERGE, "the Warning Event's series to count 2", || {
        stand
            .items("events.events.k8s.io")
            .into_iter()
            .find(|e| s(e, "/metadata/name") == s(&event, "/metadata/name"))
            .filter(|e| e.pointer("/series/count") == Some(&json!(2)))
    });
    assert!(
        repeated.pointer("/series/lastObservedTime").is_some(),
        "{repeated:#}"
    );
    let pack_events = stand
        .items("events.events.k8s.io")
        .into_iter()
        .filter(|e| s(e, "/regarding/name") == "aimctl-rules")
        .count();
    assert_eq!(pack_events, 1, "a repeat makes no new Event");
    // ... and it still plans.
    stand.apply(&stand.service("chat"));
    stand.converge("chat");
    assert!(op.process.exited().is_none(), "the operator keeps running");
}

/// `--rules DIR` is polled: a broken edit is rejected, a good one activated; logs
/// are JSON lines with `--log-format json`.
#[test]
fn operator_reloads_the_rules_folder() {
    let cluster = Cluster::start();
    let dir = cluster.scratch_dir().join("rules");
    std::fs::create_dir_all(&dir).expect("a rules folder");
    for (name, text) in pack_data() {
        std::fs::write(dir.join(&name), text.as_str().unwrap_or("")).expect("a rule file");
    }
    let dir_arg = dir.to_str().expect("a UTF-8 path").to_string();
    let process = cluster.spawn_aimctl(&[
        "operator",
        "--rules",
        &dir_arg,
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]);
    let mut op = Operator::new(process);
    let sel = dir.join("selection.rules");
    let good = std::fs::read_to_string(&sel).expect("selection.rules");
    std::fs::write(&sel, format!("{good}\nrank = [\n")).expect("a broken edit");
    op.wait_log("rule pack rejected");
    std::fs::write(&sel, good.replace("MI325X, MI300X", "MI300X, MI325X")).expect("an edit");
    let log = op.wait_log("rule pack activated");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(entry.get("level").is_some(), "{line}");
    }
    let metrics = op.metrics();
    assert_eq!(
        sample(
            &metrics,
            "aimctl_rule_pack_reloads_total{result=\"rejected\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "aimctl_rule_pack_rejected "), Some(0.0));
}

/// A broken pack at startup: exit 2 with the diagnostics, nothing written.
#[test]
fn operator_refuses_to_start_on_a_broken_pack() {
    let cluster = Cluster::start();
    let ns = cluster.namespace("op-startup");
    let mut data = pack_data();
    data.insert("zz-broken.rules".into(), Value::String("rank = [".into()));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aimctl-rules", "namespace": ns}, "data": data});
    cluster
        .kubectl_stdin(&["apply", "-f", "-"], &cm.to_string())
        .ok();
    let mut process = cluster.spawn_aimctl(&[
        "operator",
        "--rules-configmap",
        &format!("{ns}/aimctl-rules"),
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let status = eventually(CONVERGE, "the operator to exit", || process.exited());
    assert_eq!(status.code(), Some(2), "{}", process.log());
    assert!(
        process.log().contains("zz-broken.rules"),
        "{}",
        process.log()
    );
}

/// After convergence, 10 idle seconds cost zero writes.
#[test]
fn operator_is_silent_when_converged() {
    let stand = Stand::new("op-idle");
    let op = stand.start_operator();
    let emulator = stand.emulator();
    emulator.reset_stats();
    stand.apply(&stand.service("chat"));
    stand.converge("chat");
    // Let the last status write's own watch event come back and settle.
    std::thread::sleep(Duration::from_secs(1));
    // No pass planned on a snapshot older than the operator's own last write: that
    // would repeat the write against an old resourceVersion and fail with a conflict.
    let log = op.process.log();
    assert!(
        !log.contains("reconcile failed"),
        "a reconcile failed on the way to Running:\n{log}"
    );
    let converging = emulator.stats();
    let ours = &converging["writes"]["byFieldManager"]["aimctl"];
    eprintln!(
        "e2e: the operator's writes from apply to Running: {ours}; by resource: {}",
        converging["writes"]["byResource"]
    );
    assert_eq!(
        ours["noop"].as_u64().unwrap_or(0),
        0,
        "no-op writes: {ours}"
    );
    emulator.reset_stats();
    std::thread::sleep(Duration::from_secs(10));
    let stats = emulator.stats();
    let writes = writes_by_resource(&stats);
    eprintln!("e2e: writes during 10 idle seconds: {}", stats["writes"]);
    assert!(
        writes.is_empty(),
        "writes during an idle window: {:#}",
        stats["writes"]
    );
}

/// Faults on the API (5xx, 409, 429, dropped watches, 410 Gone): the operator still
/// converges, with exactly one of each object.
#[test]
fn operator_converges_through_api_faults() {
    let stand = Stand::new("op-faults");
    let emulator = stand.emulator();
    let _op = stand.start_operator();
    for fault in [
        json!({"verb": "patch", "resource": "inferenceservices.serving.kserve.io", "code": 500,
               "reason": "InternalError", "message": "injected", "count": 2}),
        json!({"verb": "patch", "resource": "httproutes.gateway.networking.k8s.io", "code": 429,
               "reason": "TooManyRequests", "message": "injected", "count": 2}),
        json!({"verb": "patch", "resource": "aimservices.aim.eai.amd.com/status", "code": 409,
               "reason": "Conflict", "message": "injected conflict", "count": 2}),
        json!({"verb": "patch", "resource": "aimtemplatecaches.aim.eai.amd.com", "code": 503,
               "reason": "ServiceUnavailable", "message": "injected", "count": 1}),
        json!({"verb": "watch", "resource": "aimservices.aim.eai.amd.com", "action": "expire", "count": 1}),
    ] {
        emulator.fault(fault);
    }
    stand.apply(&stand.service("chat"));
    std::thread::sleep(Duration::from_millis(500));
    emulator.fault(json!({"verb": "watch", "action": "close-watches"}));
    stand.converge("chat");
    emulator.clear_faults();
    // Settled: one of each, nothing left to write.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stand.items("inferenceservices.serving.kserve.io").len(), 1);
    assert_eq!(stand.items("httproutes.gateway.networking.k8s.io").len(), 1);
    assert_eq!(stand.items("aimtemplatecaches.aim.eai.amd.com").len(), 1);
    let stats = emulator.stats();
    let codes = &stats["requests"]["byCode"];
    for code in ["500", "429", "409", "503"] {
        assert!(
            codes.get(code).is_some(),
            "fault {code} never fired: {codes}"
        );
    }
    eprintln!("e2e: faults: {}; answers by code: {codes}", stats["faults"]);
    // 2 + 2 + 2 + 1 error answers, the expired watch and the dropped watches.
    assert!(
        stats["faults"]["fired"].as_u64().unwrap_or(0) >= 9,
        "{}",
        stats["faults"]
    );
    emulator.reset_stats();
    std::thread::sleep(Duration::from_secs(3));
    let stats = emulator.stats();
    assert!(
        writes_by_resource(&stats).is_empty(),
        "still writing after convergence: {:#}",
        stats["writes"]
    );
}

/// A replica started by hand, so the test can send it SIGTERM.
struct Replica {
    child: Child,
    log: std::path::PathBuf,
}

impl Replica {
    fn start(stand: &Stand, name: &str) -> Replica {
        let log = stand.cluster.scratch_dir().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut args = stand.operator_args();
        args.extend([
            "--leader-election-namespace".into(),
            stand.ns.clone(),
            "--lease-duration".into(),
            "3".into(),
        ]);
        let child = Command::new(env!("CARGO_BIN_EXE_aimctl"))
            .args(&args)
            .env("KUBECONFIG", stand.cluster.kubeconfig())
            .env("POD_NAME", name)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log file"))
            .stderr(file)
            .spawn()
            .expect("aimctl starts");
        Replica { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn leads(&self) -> bool {
        self.log().contains("leader: starting the controllers")
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        eventually(CONVERGE, "the replica to stop", || {
            self.child.try_wait().ok().flatten()
        })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("e2e: replica log {}:\n{}", self.log.display(), self.log());
        }
    }
}

/// Two replicas: one leads, the other waits; when the leader stops (SIGTERM, Lease
/// released) the other takes over and keeps reconciling; then a leader that dies
/// without releasing is replaced once its Lease expires.
#[test]
fn operator_fails_over_between_two_replicas() {
    let stand = Stand::new("op-leader");
    let mut a = Replica::start(&stand, "replica-a");
    eventually(CONVERGE, "replica-a to lead", || a.leads().then_some(()));
    let mut b = Replica::start(&stand, "replica-b");
    eventually(CONVERGE, "replica-b to sync its caches", || {
        b.log().contains("caches synced").then_some(())
    });
    stand.apply(&stand.service("chat"));
    stand.converge("chat");
    assert!(!b.leads(), "only one replica leads:\n{}", b.log());

    let stopped = Instant::now();
    let status = a.terminate();
    assert!(
        status.success(),
        "graceful shutdown exits 0: {status}\n{}",
        a.log()
    );
    assert!(a.log().contains("leader Lease released"), "{}", a.log());
    eventually(CONVERGE, "replica-b to take over", || {
        b.leads().then_some(())
    });
    eprintln!(
        "e2e: SIGTERM to leader → standby leads in {:.2}s",
        stopped.elapsed().as_secs_f64()
    );
    // The new leader reconciles: a spec change still reaches the outputs.
    stand
        .cluster
        .kubectl(&[
            "patch",
            "aimservices.aim.eai.amd.com",
            "chat",
            "-n",
            &stand.ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"env":[{"name":"E2E_MARKER","value":"after-failover"}]}}"#,
        ])
        .ok();
    eventually(CONVERGE, "the new leader to update the ISVC", || {
        let isvc = stand.items("inferenceservices.serving.kserve.io").pop()?;
        isvc.to_string().contains("after-failover").then_some(())
    });

    // A leader killed without releasing: the next one waits for the Lease to expire.
    let mut c = Replica::start(&stand, "replica-c");
    eventually(CONVERGE, "replica-c to sync its caches", || {
        c.log().contains("caches synced").then_some(())
    });
    let killed = Instant::now();
    let _ = b.child.kill();
    let _ = b.child.wait();
    eventually(CONVERGE, "replica-c to take over an expired Lease", || {
        c.leads().then_some(())
    });
    eprintln!(
        "e2e: SIGKILL to leader → standby leads in {:.2}s",
        killed.elapsed().as_secs_f64()
    );
    assert!(c.terminate().success());
}

// ---------------------------------------------------------------------------------
// The supporting controllers
// ---------------------------------------------------------------------------------

/// `desired` holds in `live`: every field it sets has the same value there (lists
/// element by element).
fn subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| subset(a, b))
        }
        (d, l) => d == l,
    }
}

impl Stand {
    /// A GPU node, a model with its metadata in the spec, a template with inline
    /// sources and caching (→ cache → artifact → PVC + download Job) and one without
    /// (→ discovery Job).
    fn chain_fixtures(&self) -> String {
        let (ns, sfx) = (&self.ns, &self.suffix);
        format!(
            r#"
apiVersion: v1
kind: Node
metadata: {{name: e2e-{sfx}-a, labels: {{amd.com/gpu.device-id: "74a1"}}}}
---
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMModel
metadata: {{name: qwen, namespace: {ns}}}
spec:
  image: "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"
  imageMetadata:
    model: {{canonicalName: Qwen/Qwen3-32B}}
---
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMServiceTemplate
metadata: {{name: qwen-inline, namespace: {ns}}}
spec:
  modelName: qwen
  metric: latency
  precision: fp8
  hardware: {{gpu: {{requests: 1, model: MI300X}}}}
  caching: {{enabled: true}}
  modelSources:
  - {{modelId: Qwen/Qwen3-32B, sourceUri: "hf://Qwen/Qwen3-32B", size: 70Gi}}
---
apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMServiceTemplate
metadata: {{name: qwen-disc, namespace: {ns}}}
spec:
  modelName: qwen
  metric: throughput
  precision: fp8
  hardware: {{gpu: {{requests: 1, model: MI300X}}}}
"#
        )
    }

    /// The operator with every controller.
    fn start_all_controllers(&self) -> Operator {
        let args: Vec<String> = self
            .operator_args()
            .into_iter()
            .take_while(|a| a != "--controllers")
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Operator::new(self.cluster.spawn_aimctl(&args))
    }
}

/// Model + templates → the template, cache and artifact controllers plan the chain:
/// the discovery Job, the template cache, the artifact, its PVC and download Job —
/// the same objects `aimctl dry-run` plans for the same state; 10 idle seconds cost
/// no writes. (The emulator serves no pod logs: `PodLog` observations are covered by
/// unit tests.)
#[test]
fn operator_plans_the_template_cache_chain_like_dry_run() {
    let stand = Stand::bare("op-chain");
    let emulator = stand.emulator();
    let mut op = stand.start_all_controllers();
    let applied = Instant::now();
    stand.apply(&stand.chain_fixtures());

    let jobs = eventually(CONVERGE, "a discovery Job and a download Job", || {
        let jobs = stand.items("jobs.batch");
        let discovery = jobs
            .iter()
            .any(|j| s(j, "/metadata/name").starts_with("discover-qwen-disc-"));
        let download = jobs
            .iter()
            .any(|j| s(j, "/metadata/name").contains("-download-"));
        (discovery && download).then_some(jobs)
    });
    eprintln!(
        "e2e: templates applied → discovery and download Jobs in {:.2}s",
        applied.elapsed().as_secs_f64()
    );
    let caches = stand.items("aimtemplatecaches.aim.eai.amd.com");
    assert_eq!(caches.len(), 1, "{caches:#?}");
    let cache = &caches[0];
    assert_eq!(s(cache, "/spec/templateName"), "qwen-inline");
    assert_eq!(
        cache["metadata"]["finalizers"],
        json!(["aim.eai.amd.com/artifactcleanup"]),
        "the cache controller's finalizer"
    );
    let artifacts = stand.items("aimartifacts.aim.eai.amd.com");
    assert_eq!(artifacts.len(), 1, "{artifacts:#?}");
    let pvcs = stand.items("persistentvolumeclaims");
    assert_eq!(pvcs.len(), 1, "{pvcs:#?}");
    assert_eq!(
        pvcs[0]["metadata"]["ownerReferences"][0]["uid"],
        artifacts[0]["metadata"]["uid"]
    );

    // Steady state first, so that the dry-run sees what the operator saw.
    std::thread::sleep(Duration::from_secs(2));
    emulator.reset_stats();
    std::thread::sleep(Duration::from_secs(10));
    let stats = emulator.stats();
    eprintln!(
        "e2e: chain writes during 10 idle seconds: {}",
        stats["writes"]
    );
    assert!(
        writes_by_resource(&stats).is_empty(),
        "writes during an idle window: {:#}",
        stats["writes"]
    );

    // The operator applied exactly what `aimctl dry-run` plans for the same state.
    let dump = stand.cluster.scratch_dir().join("chain.json");
    let mut list = stand
        .cluster
        .kubectl(&[
            "get",
            "aimmodels,aimservicetemplates,aimtemplatecaches,aimartifacts,jobs,persistentvolumeclaims,pods,rolebindings",
            "-n",
            &stand.ns,
            "-o",
            "json",
        ])
        .ok()
        .json();
    let nodes = stand
        .cluster
        .kubectl(&["get", "nodes", "-o", "json"])
        .ok()
        .json();
    if let (Some(items), Some(more)) = (list["items"].as_array_mut(), nodes["items"].as_array()) {
        items.extend(more.iter().cloned());
    }
    let live: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    // A planner writes an output in the round it is missing: dry-run the live state
    // without the outputs to see what it plans for them.
    let plan_without = |kinds: &[&str]| -> Vec<Value> {
        let state: Vec<&Value> = live
            .iter()
            .filter(|o| !kinds.contains(&s(o, "/kind")))
            .collect();
        std::fs::write(
            &dump,
            json!({"apiVersion": "v1", "kind": "List", "items": state}).to_string(),
        )
        .expect("a state file");
        let out = Command::new(env!("CARGO_BIN_EXE_aimctl"))
            .args(["dry-run", "-o", "json", "-f"])
            .arg(&dump)
            .output()
            .expect("dry-run runs");
        assert!(
            out.status.success(),
            "dry-run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("dry-run JSON")
    };
    let mut planned = plan_without(&["Job", "PersistentVolumeClaim"]);
    planned.extend(plan_without(&["Job"]));
    planned.extend(plan_without(&["AIMArtifact", "AIMTemplateCache"]));
    let mut compared = vec![];
    for p in planned.iter().filter(|p| {
        matches!(
            s(p, "/kind"),
            "Job" | "PersistentVolumeClaim" | "AIMTemplateCache" | "AIMArtifact"
        )
    }) {
        let (kind, name) = (s(p, "/kind"), s(p, "/metadata/name"));
        let l = live
            .iter()
            .find(|l| s(l, "/kind") == kind && s(l, "/metadata/name") == name)
            .unwrap_or_else(|| panic!("dry-run plans {kind} {name}, the cluster lacks it"));
        assert!(
            subset(&p["spec"], &l["spec"]),
            "live {kind} {name} ≠ dry-run:\nplanned {:#}\nlive {:#}",
            p["spec"],
            l["spec"]
        );
        assert!(subset(&p["metadata"]["labels"], &l["metadata"]["labels"]));
        compared.push(format!("{kind}/{name}"));
    }
    for (kind, prefix) in [
        ("Job", "discover-qwen-disc-"),
        ("Job", "hf-"),
        ("PersistentVolumeClaim", "hf-"),
        ("AIMTemplateCache", "qwen-inline"),
        ("AIMArtifact", "hf-"),
    ] {
        assert!(
            compared
                .iter()
                .any(|c| c.starts_with(&format!("{kind}/{prefix}"))),
            "dry-run and the cluster agree on no {kind} {prefix}*: {compared:?}\n{jobs:#?}"
        );
    }
    // Controller Events come from the per-kind controllers.
    let events = stand.items("events.events.k8s.io");
    assert!(
        events
            .iter()
            .any(|e| s(e, "/reportingController") == "aim-service-template-controller"),
        "no Event from the template controller: {events:#?}"
    );

    let metrics = op.metrics();
    for kind in [
        "AIMServiceTemplate",
        "AIMTemplateCache",
        "AIMArtifact",
        "AIMModel",
    ] {
        assert!(
            sample(
                &metrics,
                &format!("aimctl_reconciles_total{{kind=\"{kind}\"}}")
            )
            .unwrap_or(0.0)
                >= 1.0,
            "{kind}: {metrics}"
        );
    }
}
