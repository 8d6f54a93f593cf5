//! The planner as a library: a previous template resolution is sticky unless the
//! round asks to choose afresh (what the operator does under a new rule pack).

use aimctl::plan::{Settings, service};
use aimctl::rules::RulePack;
use aimctl::snapshot::Snapshot;
use serde_json::{Value, json};

fn template(name: &str, gpu: &str) -> Value {
    json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMServiceTemplate",
        "metadata": {"name": name, "namespace": "team", "uid": format!("uid-{name}")},
        "spec": {"modelName": "m", "hardware": {"gpu": {"requests": 1, "model": gpu}}},
        "status": {"status": "Ready", "profile": {"metadata": {"gpu": gpu, "metric": "latency", "precision": "fp8", "type": "optimized"}}}})
}

#[test]
fn reselect_ignores_the_sticky_resolution() {
    let svc = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
        "metadata": {"name": "s", "namespace": "team", "uid": "uid-s"},
        "spec": {"model": {"name": "m"}},
        "status": {"resolvedTemplate": {"name": "on-mi300x", "namespace": "team", "scope": "Namespace"}}});
    let snap = Snapshot::new(vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a", "labels": {"amd.com/gpu.device-id": "74a1"}}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b", "labels": {"amd.com/gpu.device-id": "74a5"}}}),
        json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
            "metadata": {"name": "m", "namespace": "team", "uid": "uid-m"}, "spec": {"image": "x/m:1"}, "status": {"status": "Ready"}}),
        template("on-mi300x", "MI300X"),
        template("on-mi325x", "MI325X"),
        svc.clone(),
    ]);
    let pack = RulePack::builtin().unwrap();
    let chosen = |settings: &Settings| {
        let plan = service::plan_with(&snap, &pack, &svc, "2026-01-01T00:00:00Z", settings);
        plan.status["resolvedTemplate"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        chosen(&Settings::default()),
        "on-mi300x",
        "a Ready resolution is kept"
    );
    let fresh = Settings {
        reselect: true,
        ..Settings::default()
    };
    assert_eq!(
        chosen(&fresh),
        "on-mi325x",
        "choosing afresh follows the GPU tier list"
    );
}

/// A state that never went through an API server is checked against the CRD schema:
/// a spec the server would reject fails the service (and names the field); the status
/// is the controller's own and is not what the user wrote.
#[test]
fn a_spec_the_schema_rejects_fails_the_service_and_a_foreign_status_field_does_not() {
    let pack = RulePack::builtin().unwrap();
    let plan = |svc: Value| {
        let snap = Snapshot::new(vec![svc.clone()]);
        service::plan_with(
            &snap,
            &pack,
            &svc,
            "2026-01-01T00:00:00Z",
            &Settings::default(),
        )
    };
    let svc = |spec: Value, status: Value| {
        json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
            "metadata": {"name": "s", "namespace": "team", "uid": "uid-s"},
            "spec": spec, "status": status})
    };
    let config_valid = |status: &Value| {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "ConfigValid")
            .cloned()
            .unwrap()
    };

    let rejected = plan(svc(json!({"model": {"name": "m"}, "bogus": 1}), json!({})));
    let cond = config_valid(&rejected.status);
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "InvalidSpec");
    assert!(
        rejected.trace.notes.iter().any(|n| n.contains("/spec")),
        "{:?}",
        rejected.trace.notes
    );
    assert_eq!(rejected.status["status"], "Failed");

    let foreign_status = plan(svc(json!({"model": {"name": "m"}}), json!({"bogus": 1})));
    assert_ne!(
        config_valid(&foreign_status.status)["reason"],
        "InvalidSpec"
    );
}

/// `--explain` prints each step's time and each merged field's layer; other plans
/// (the operator's) read no clock and record neither, and are otherwise the same plan.
#[test]
fn only_an_explained_plan_records_step_times_and_provenance() {
    let svc = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
        "metadata": {"name": "s", "namespace": "team", "uid": "uid-s"},
        "spec": {"model": {"name": "m"}}});
    let model = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
        "metadata": {"name": "m", "namespace": "team", "uid": "uid-m"}, "spec": {"image": "x/m:1"}, "status": {"status": "Ready"}});
    let snap = Snapshot::new(vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a", "labels": {"amd.com/gpu.device-id": "74a1"}}}),
        model.clone(),
        template("on-mi300x", "MI300X"),
        svc.clone(),
    ]);
    let pack = RulePack::builtin().unwrap();
    let now = "2026-01-01T00:00:00Z";
    let explain = Settings {
        explain: true,
        ..Settings::default()
    };
    let steps = |plan: &aimctl::plan::Plan| -> Vec<String> {
        plan.trace
            .steps
            .iter()
            .map(|(s, _)| s.to_string())
            .collect()
    };
    let provenance = |plan: &aimctl::plan::Plan| -> Vec<String> {
        plan.trace
            .merges
            .iter()
            .flat_map(|(merge, fields)| {
                fields
                    .iter()
                    .map(move |(f, l)| format!("{merge}: {f} <- {l}"))
            })
            .collect()
    };

    let quiet = service::plan_with(&snap, &pack, &svc, now, &Settings::default());
    let explained = service::plan_with(&snap, &pack, &svc, now, &explain);
    assert_eq!(steps(&quiet), Vec::<String>::new());
    assert_eq!(provenance(&quiet), Vec::<String>::new());
    let named = steps(&explained);
    assert!(
        named.iter().any(|s| s.starts_with("select template")),
        "{named:?}"
    );
    assert!(named.iter().any(|s| s.starts_with("merge ")), "{named:?}");
    assert!(named.iter().any(|s| s.starts_with("output ")), "{named:?}");
    assert_eq!(named.last().map(String::as_str), Some("plan"));
    let fields = provenance(&explained);
    assert!(
        fields.contains(&"container_env: [name=AIM_CACHE_PATH] <- defaults".to_string()),
        "{fields:?}"
    );
    assert_eq!(quiet.status, explained.status);
    assert_eq!(quiet.objects, explained.objects);

    // the other kinds' planners too
    let round = |settings: &Settings| {
        aimctl::plan::round_with(&snap, &pack, now, None, settings)
            .into_iter()
            .find(|p| p.object["kind"] == "AIMModel")
            .map(|p| steps(&p.plan))
            .unwrap()
    };
    assert_eq!(round(&Settings::default()), Vec::<String>::new());
    assert_eq!(round(&explain).last().map(String::as_str), Some("plan"));
}
