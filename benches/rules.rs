//! Rule-engine costs: compiling the default pack, template selection over many
//! candidates, and one full service plan. `cargo bench --bench rules`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use aimctl::rules::RulePack;
use aimctl::snapshot::Snapshot;

fn template(i: usize) -> Value {
    let gpus = ["MI300X", "MI325X", "MI355X", "MI250X"];
    let precisions = ["fp8", "fp16", "bf16", "int8"];
    let metrics = ["latency", "throughput"];
    json!({
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": if i.is_multiple_of(3) { "AIMServiceTemplate" } else { "AIMClusterServiceTemplate" },
        "metadata": {"name": format!("t-{i}"), "namespace": "team"},
        "spec": {"modelName": "m", "hardware": {"gpu": {"requests": 1 + i % 4, "model": gpus[i % 4]}}},
        "status": {"status": if i.is_multiple_of(7) { "Pending" } else { "Ready" },
                   "profile": {"metadata": {"gpu": gpus[i % 4], "metric": metrics[i % 2],
                               "precision": precisions[(i / 2) % 4], "type": if i.is_multiple_of(5) { "preview" } else { "optimized" }}}}
    })
}

fn benches(c: &mut Criterion) {
    c.bench_function("compile default pack", |b| {
        b.iter(|| RulePack::builtin().unwrap())
    });

    let pack = RulePack::builtin().unwrap();
    let sel = &pack.selections["template"];
    let ctx = json!({"service": {"spec": {"model": {"name": "m"}}}, "cluster": {"gpus": ["MI300X", "MI325X"]}});
    let mut group = c.benchmark_group("select template");
    for n in [10, 100, 1000] {
        let cands: Vec<Value> = (0..n).map(template).collect();
        let refs: Vec<&Value> = cands.iter().collect();
        group.bench_with_input(BenchmarkId::from_parameter(n), &refs, |b, refs| {
            b.iter(|| sel.run(&pack.scripts, &ctx, refs).unwrap())
        });
    }
    group.finish();

    let mut objects: Vec<Value> = (0..50).map(template).collect();
    objects.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"amd.com/gpu.device-id": "74a1"}}}));
    objects.push(json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
        "metadata": {"name": "m", "namespace": "team", "uid": "u-m"}, "spec": {"image": "x/m:1"}, "status": {"status": "Ready"}}));
    let svc = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
        "metadata": {"name": "svc", "namespace": "team", "uid": "u-s"}, "spec": {"model": {"name": "m"}, "replicas": 1}});
    objects.push(svc.clone());
    let snap = Snapshot::new(objects);
    c.bench_function("plan one service (50 templates)", |b| {
        b.iter(|| aimctl::plan::service::plan(&snap, &pack, &svc, "2026-01-01T00:00:00Z"))
    });
}

criterion_group!(rules, benches);
criterion_main!(rules);
