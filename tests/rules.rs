//! The rule engine on small packs: native and Rhai evaluation agree, merges keep
//! provenance, selection decides and explains, hostile scripts are contained.

use std::time::{Duration, Instant};

use aimctl::rules::RulePack;
use aimctl::rules::diagnostic::Code;
use aimctl::rules::expr::{self, Names, Scope};
use aimctl::rules::pack::LoadError;
use aimctl::rules::script::Scripts;
use aimctl::rules::select::{Decision, Memo};
use serde_json::{Value, json};

fn pack(files: &[(&str, &str)]) -> RulePack {
    match RulePack::compile(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
    ) {
        Ok(p) => p,
        Err(LoadError::Invalid { diagnostics, .. }) => panic!("pack invalid: {diagnostics:?}"),
        Err(e) => panic!("{e}"),
    }
}

fn errors(files: &[(&str, &str)]) -> Vec<(Code, String)> {
    match RulePack::compile(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
    ) {
        Ok(_) => vec![],
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn native_expressions_agree_with_rhai() {
    let scripts = Scripts::empty();
    let ctx =
        json!({"service": {"spec": {"replicas": 3, "name": "a", "tags": ["x", "y"], "on": true}}});
    let roots = ["service"];
    let names = Names {
        subject: None,
        lets: &[],
        roots: &roots,
    };
    for e in [
        r#"service.spec.replicas == 3"#,
        r#"service.spec.replicas > 2 && service.spec.name != "b""#,
        r#""x" in service.spec.tags"#,
        r#"!(service.spec.on) || service.spec.replicas < 1"#,
        r#"service.spec.name + "-suffix""#,
        r#"service.spec.replicas + 1"#,
        r#"service.spec["name"] == "a""#,
        r#"first_set(service.spec.missing, service.spec.name, service.spec.replicas)"#,
        r#"first_set(service.spec.missing, "")"#,
        r#"service.spec.missing ?? service.spec.name"#,
        r#"service.spec.name ?? 7"#,
        r#"service.spec.missing ?? service.spec.gone ?? "x" + "y""#,
        r#"service.spec.missing ?? 1 == 1"#,
        r#"if service.spec.on { service.spec.name } else { 2 }"#,
        r#"if service.spec.replicas > 5 { 1 } else if service.spec.on { "b" } else { 3 }"#,
        r#"if service.spec.missing == 1 { 1 }"#,
        r#"#{a: service.spec.replicas, "b/c": [service.spec.name], d: #{e: 1}, f: ()}"#,
        r#"#{a: 1, "b/c": "x", }"#,
        r#"#{a: 1, b: 2} + #{b: service.spec.name, c: 3}"#,
        r#"#{
            // a comment inside a map
            a: if service.spec.on { #{x: 1} },
            b: service.spec.tags,
        }"#,
    ] {
        let native = expr::compile(e, &names, &scripts).unwrap();
        assert!(
            !matches!(native, expr::Expr::Rhai(..)),
            "{e} should compile natively"
        );
        let got = native
            .eval(
                &Scope {
                    ctx: &ctx,
                    subject: None,
                    lets: &[],
                },
                &scripts,
            )
            .unwrap()
            .into_owned();
        // the same text evaluated by Rhai with the same variables
        let ast = scripts.compile_expression(e).unwrap();
        let want = scripts
            .eval_expression(&ast, vec![("service".into(), ctx["service"].clone())])
            .unwrap();
        assert_eq!(got, want, "{e}");
    }
    // `default` is reserved in Rhai: native only
    for (e, want) in [
        (r#"default(service.spec.missing, 7)"#, json!(7)),
        (r#"default(service.spec.missing, "")"#, json!("")),
        (r#"default(service.spec.name, 7)"#, json!("a")),
        (r#"default(first_set(service.spec.missing), [])"#, json!([])),
    ] {
        let scope = Scope {
            ctx: &ctx,
            subject: None,
            lets: &[],
        };
        let native = expr::compile(e, &names, &scripts).unwrap();
        assert_eq!(
            native.eval(&scope, &scripts).unwrap().into_owned(),
            want,
            "{e}"
        );
    }
    // outside the subset: compiled by Rhai, same semantics
    let e = expr::compile("service.spec.replicas * 3 - 8", &names, &scripts).unwrap();
    assert!(matches!(e, expr::Expr::Rhai(..)));
    assert_eq!(
        e.eval(
            &Scope {
                ctx: &ctx,
                subject: None,
                lets: &[]
            },
            &scripts
        )
        .unwrap()
        .into_owned(),
        json!(1)
    );
}

#[test]
fn hostile_scripts_fail_fast_and_the_process_survives() {
    let p = pack(&[
        (
            "a.rhai",
            "fn spin() { loop { } }\nfn grow() { let s = \"x\"; loop { s += s; } }\nfn deep(n) { deep(n + 1) }",
        ),
        (
            "a.rules",
            "output Spin {\n  build spin()\n}\noutput Grow {\n  build grow()\n}\noutput Deep {\n  build deep(0)\n}\n",
        ),
    ]);
    let ctx = json!({});
    for out in &p.outputs {
        let t = Instant::now();
        let r = p.build_output(out, &ctx);
        assert!(r.is_err(), "{} must fail", out.name);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{} took {:?}",
            out.name,
            t.elapsed()
        );
        assert!(
            r.unwrap_err()
                .to_string()
                .contains(match out.name.as_str() {
                    "Spin" => "spin",
                    "Grow" => "grow",
                    _ => "deep",
                })
        );
    }
    let eval = errors(&[("e.rhai", "fn f() { eval(\"1\") }")]);
    assert_eq!(
        eval[0].0,
        Code::ScriptCompile,
        "eval is refused when the pack loads"
    );
    assert!(eval[0].1.contains("eval"));
}

#[test]
fn merges_follow_layer_order_and_record_the_winner() {
    let p = pack(&[(
        "m.rules",
        "merge env keyed name json \"ARGS\" {\n  high: service.high\n  low: service.low\n}\nmerge res deep {\n  high: service.rh\n  low: service.rl\n}\nmerge rc deep skip_zero {\n  ns: service.ns\n  cl: service.cl\n}\n",
    )]);
    let ctx = json!({"service": {
        "high": [{"name": "B", "value": "hb"}, {"name": "ARGS", "value": "{\"a\":{\"y\":2}}"}, {"name": "C", "value": "c"}],
        "low": [{"name": "A", "value": "a"}, {"name": "B", "value": "lb"}, {"name": "ARGS", "value": "{\"a\":{\"x\":1}}"}],
        "rh": {"requests": {"cpu": "8"}}, "rl": {"requests": {"cpu": "4", "memory": "32Gi"}, "limits": {"memory": "48Gi"}},
        "ns": {"routing": {"enabled": false, "gatewayRef": {"name": "b"}}},
        "cl": {"routing": {"enabled": true, "gatewayRef": {"name": "a", "namespace": "gw"}}}
    }});
    let env = p.merges[0].run(&p.scripts, &ctx, true).unwrap();
    let names: Vec<&str> = env
        .value
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B", "ARGS", "C"]);
    assert_eq!(env.value[1]["value"], "hb");
    assert_eq!(
        serde_json::from_str::<Value>(env.value[2]["value"].as_str().unwrap()).unwrap(),
        json!({"a": {"x": 1, "y": 2}})
    );
    assert!(env.provenance.contains(&("[name=B]".into(), "high".into())));
    assert!(env.provenance.contains(&("[name=A]".into(), "low".into())));
    let res = p.merges[1].run(&p.scripts, &ctx, true).unwrap();
    assert_eq!(
        res.value,
        json!({"requests": {"cpu": "8", "memory": "32Gi"}, "limits": {"memory": "48Gi"}})
    );
    assert!(
        res.provenance
            .contains(&("requests.cpu".into(), "high".into()))
    );
    assert!(
        res.provenance
            .contains(&("requests.memory".into(), "low".into()))
    );
    // a zero value in the higher layer does not switch off the lower layer's value
    let rc = p.merges[2].run(&p.scripts, &ctx, true).unwrap();
    assert_eq!(
        rc.value,
        json!({"routing": {"enabled": true, "gatewayRef": {"name": "b", "namespace": "gw"}}})
    );
    // provenance is recorded for --explain only; the merged values are the same
    for (m, explained) in p.merges.iter().zip([&env, &res, &rc]) {
        let quiet = m.run(&p.scripts, &ctx, false).unwrap();
        assert_eq!(quiet.value, explained.value);
        assert!(quiet.provenance.is_empty() && !explained.provenance.is_empty());
    }
}

const SELECT: &str = r#"
rank tier = [best, good]
select template {
  let tier = candidate.tier
  filter ready
    keep   candidate.ready == true
    reason "NotReady"
  score tier by tier
  on tie
    reason "Tie"
    message "tied: " + len(selection.tied)
  on none
    reason "None"
    message "none of " + selection.candidates
}
"#;

#[test]
fn selection_chooses_explains_ties_and_empties() {
    let p = pack(&[("s.rules", SELECT)]);
    let sel = &p.selections["template"];
    let c = |name: &str, tier: &str, ready: bool| json!({"metadata": {"name": name}, "tier": tier, "ready": ready});
    let cands = [
        c("a", "good", true),
        c("b", "best", true),
        c("c", "best", false),
        c("d", "unknown", true),
    ];
    let refs: Vec<&Value> = cands.iter().collect();
    let r = sel.run(&p.scripts, &json!({}), &refs, None).unwrap();
    assert_eq!(r.decision, Decision::Chosen(1));
    assert_eq!(
        r.verdicts[2].rejected,
        Some(("ready".into(), "NotReady".into()))
    );
    assert_eq!(r.verdicts[0].score, Some(vec![1].into()));
    assert_eq!(
        r.verdicts[3].score,
        Some(vec![1002].into()),
        "unknown values rank after every known value"
    );
    let tie = [c("a", "best", true), c("b", "best", true)];
    let r = sel
        .run(
            &p.scripts,
            &json!({}),
            &tie.iter().collect::<Vec<_>>(),
            None,
        )
        .unwrap();
    assert_eq!(r.decision, Decision::Tie(vec![0, 1]));
    assert_eq!((r.reason.as_str(), r.message.as_str()), ("Tie", "tied: 2"));
    let none = [c("a", "best", false)];
    let r = sel
        .run(
            &p.scripts,
            &json!({}),
            &none.iter().collect::<Vec<_>>(),
            None,
        )
        .unwrap();
    assert_eq!(r.decision, Decision::None);
    assert_eq!(r.message, "none of 1");
}

const SELECT_MEMO: &str = r#"
rank tier = [best, good]
select template {
  let tier = candidate.tier
  filter ready
    keep   candidate.ready == true
    reason "NotReady"
  filter budget
    keep   candidate.cost <= service.budget
    reason "TooExpensive"
  filter sane
    keep   check(candidate)
    reason "Broken"
  score tier by tier
}
"#;

const SELECT_MEMO_RHAI: &str = r#"
fn check(c) { if c.cost > 100 { throw "cost out of range"; } true }
"#;

/// Candidate facts are shared across services through the memo, what reads the
/// service is not, and an error waits until its stage is reached.
#[test]
fn a_memo_shares_what_the_candidate_alone_decides() {
    let p = pack(&[("s.rules", SELECT_MEMO), ("s.rhai", SELECT_MEMO_RHAI)]);
    let sel = &p.selections["template"];
    let c = |name: &str, tier: &str, ready: bool, cost: i64| json!({"metadata": {"name": name}, "tier": tier, "ready": ready, "cost": cost});
    let cands = [
        c("cheap", "good", true, 1),
        c("dear", "best", true, 50),
        c("broken", "best", false, 500),
    ];
    let refs: Vec<&Value> = cands.iter().collect();
    let memo = Memo::default();
    let rich = json!({"service": {"budget": 100}});
    let poor = json!({"service": {"budget": 10}});
    for (ctx, chosen) in [(&rich, 1), (&poor, 0), (&rich, 1)] {
        let with = sel.run(&p.scripts, ctx, &refs, Some(&memo)).unwrap();
        let without = sel.run(&p.scripts, ctx, &refs, None).unwrap();
        assert_eq!(with.decision, Decision::Chosen(chosen), "{ctx}");
        assert_eq!(with.verdicts, without.verdicts, "{ctx}");
        assert_eq!(with.stages, without.stages, "{ctx}");
    }
    assert_eq!(format!("{memo:?}"), "Memo(3 candidates)");
    // "broken" fails `check` but never reaches it; once it does, the error shows
    let ready = c("broken", "best", true, 500);
    let err = sel
        .run(
            &p.scripts,
            &json!({"service": {"budget": 1000}}),
            &[&ready],
            Some(&memo),
        )
        .unwrap_err();
    assert!(err.to_string().contains("cost out of range"), "{err}");
}

/// A run's result depends on the candidates and the context values the block reads:
/// services that read the same values there share it, whatever else differs.
#[test]
fn services_that_read_the_same_values_share_a_selection_result() {
    let p = pack(&[("s.rules", SELECT_MEMO), ("s.rhai", SELECT_MEMO_RHAI)]);
    let sel = &p.selections["template"];
    let c = |name: &str, cost: i64| json!({"metadata": {"name": name}, "tier": "good", "ready": true, "cost": cost});
    let cands = [c("a", 1), c("b", 50)];
    let refs: Vec<&Value> = cands.iter().collect();
    let memo = Memo::default();
    let run = |ctx: &Value, refs: &[&Value]| sel.run(&p.scripts, ctx, refs, Some(&memo)).unwrap();

    let first = run(&json!({"service": {"budget": 100, "name": "x"}}), &refs);
    let same = run(&json!({"service": {"budget": 100, "name": "y"}}), &refs);
    assert!(
        std::sync::Arc::ptr_eq(&first, &same),
        "another name, the same budget"
    );
    let poorer = run(&json!({"service": {"budget": 10, "name": "x"}}), &refs);
    assert!(!std::sync::Arc::ptr_eq(&first, &poorer));
    assert_eq!(
        poorer.verdicts[1].rejected.as_ref().unwrap().1.as_ref(),
        "TooExpensive"
    );
    assert_eq!(first.verdicts[1].rejected, None);
    // other candidates (even equal in content) are another question
    let copy = cands.clone();
    let other: Vec<&Value> = copy.iter().collect();
    let elsewhere = run(&json!({"service": {"budget": 100, "name": "x"}}), &other);
    assert!(!std::sync::Arc::ptr_eq(&first, &elsewhere));
    assert_eq!(elsewhere.verdicts, first.verdicts);
}

/// The cluster is the same for every plan on a snapshot, so what a candidate and the
/// cluster decide is shared too; the memo's user guarantees one cluster per memo,
/// which this test breaks on purpose to see the sharing.
#[test]
fn a_memo_shares_what_the_candidate_and_the_cluster_decide() {
    let rules = r#"
select template {
  filter fits
    keep   candidate.gpu in cluster.gpus
    reason "NoGPU"
}
"#;
    let p = pack(&[("s.rules", rules)]);
    let sel = &p.selections["template"];
    let cand = json!({"metadata": {"name": "t"}, "gpu": "MI300X"});
    let with_gpu = json!({"cluster": {"gpus": ["MI300X"]}});
    let without = json!({"cluster": {"gpus": []}});
    let memo = Memo::default();
    let first = sel
        .run(&p.scripts, &with_gpu, &[&cand], Some(&memo))
        .unwrap();
    assert_eq!(first.decision, Decision::Chosen(0));
    let unshared = sel.run(&p.scripts, &without, &[&cand], None).unwrap();
    assert_eq!(unshared.decision, Decision::None);
    let shared = sel
        .run(&p.scripts, &without, &[&cand], Some(&memo))
        .unwrap();
    assert_eq!(shared.decision, Decision::Chosen(0));
}

#[test]
fn load_errors_name_every_problem() {
    let errs = errors(&[
        (
            "a.rules",
            "rank x = [a, b, a]\nrank x = [c]\nselect template {\n  filter f\n    keep nope == 1\n    reason \"R\"\n  score missing by 1\n}\n",
        ),
        ("b.rhai", "fn ( {"),
    ]);
    let codes: Vec<Code> = errs.iter().map(|e| e.0).collect();
    for c in [
        Code::DuplicateRankEntry,
        Code::DuplicateName,
        Code::UndefinedName,
        Code::UnknownRank,
        Code::ScriptCompile,
    ] {
        assert!(codes.contains(&c), "{c:?} missing from {errs:?}");
    }
    let syntax = errors(&[("a.rules", "rank = [\n")]);
    assert_eq!(syntax[0].0, Code::Syntax);
}

#[test]
fn the_default_pack_lints_clean_and_compiles() {
    let report = aimctl::rules::lint::lint(None).unwrap();
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let p = RulePack::builtin().unwrap();
    assert!(p.selections.contains_key("template"));
    assert_eq!(p.ranks["gpu_tier"].entries[0], "MI355X");
}

/// Hot reload swaps the whole pack: a plan that started with the old pack finishes
/// with it, the next one sees the new one.
#[test]
fn a_shared_pack_swaps_whole() {
    use std::sync::Arc;
    let old = pack(&[("r.rules", "rank tier = [a, b]\n")]);
    let new = pack(&[("r.rules", "rank tier = [b, a]\n")]);
    let shared = aimctl::rules::SharedPack::from_pointee(old);
    let in_flight = shared.load_full();
    shared.store(Arc::new(new));
    assert_eq!(
        in_flight.ranks["tier"].score("a"),
        0,
        "a reader keeps the pack it loaded"
    );
    assert_eq!(
        shared.load().ranks["tier"].score("a"),
        1,
        "later readers get the new pack"
    );
}

#[test]
fn kubernetes_helpers_work_in_rules_and_scripts() {
    let p = pack(&[
        (
            "h.rhai",
            "fn names() { [dns1123(\"My_Name\"), label_value(\"A/B\"), derived_name([\"qwen-chat\"], [\"ml-team\"], 8), go_duration(\"90s\"), path_join(\"/a/\", \"b\"), normalize_path(\"x//Y/\")] }",
        ),
        (
            "h.rules",
            "output Helpers {\n  build #{apiVersion: \"v1\", kind: \"List\", metadata: #{name: normalize_gpu(\"Instinct-MI325X\")}, items: names(), q: quantity(\"64Gi\"), j: jsonpath(#{a: #{b: 1}}, \".a.b\")}\n}\n",
        ),
    ]);
    let (obj, _) = p.build_output(&p.outputs[0], &json!({})).unwrap().unwrap();
    assert_eq!(obj["metadata"]["name"], "MI325X");
    assert_eq!(
        obj["items"],
        json!([
            "my-name",
            "a_b",
            "qwen-chat-a04542d9",
            "1m30s",
            "/a/b",
            "/x/y"
        ])
    );
    assert_eq!(obj["q"], json!(64.0 * 1024.0 * 1024.0 * 1024.0));
    assert_eq!(obj["j"], json!(1));
}

#[test]
fn output_builders_are_not_memoised_but_the_calls_in_their_arguments_are() {
    let p = pack(&[
        (
            "o.rules",
            "output ConfigMap {\n  when true\n  build make(service, label_of(service))\n  owned true\n}\n",
        ),
        (
            "o.rhai",
            "fn label_of(s) { s.name + \"-x\" }\nfn make(s, l) { #{kind: \"ConfigMap\", data: #{n: l}} }",
        ),
    ]);
    let out = &p.outputs[0];
    let ctx = json!({"service": {"name": "a"}});
    for _ in 0..3 {
        let (obj, _) = p.build_output(out, &ctx).unwrap().unwrap();
        assert_eq!(obj["data"]["n"], "a-x");
    }
    // `label_of` is kept from its second call; `make`, the builder, never
    assert_eq!(p.scripts.memoised_results(), 1);
}

#[test]
fn output_lets_run_after_when_and_unset_fields_are_left_out() {
    let p = pack(&[
        (
            "o.rules",
            r#"output ConfigMap {
  when  service.on
  let boom = fail(service)
  build #{kind: "ConfigMap", data: #{n: 1}}
}

output Secret {
  when  service.on
  let n = count(service)
  let label = n + "-x"
  build #{
    kind: "Secret",
    metadata: #{name: label, labels: service.nope},
    data: #{one: if n == 1 { "yes" }, two: if n == 2 { "yes" }},
    list: [#{a: (), b: 1}, ()],
  }
  owned label == "2-x"
}
"#,
        ),
        (
            "o.rhai",
            "fn count(s) { s.items.len() }\nfn fail(s) { throw \"must not run\" }",
        ),
    ]);
    // a `let` is not computed while the output's `when` is false
    let off = json!({"service": {"on": false, "items": [1, 2]}});
    assert!(p.build_output(&p.outputs[0], &off).unwrap().is_none());
    let on = json!({"service": {"on": true, "items": [1, 2]}});
    assert!(p.build_output(&p.outputs[0], &on).is_err());

    let (obj, owned) = p.build_output(&p.outputs[1], &on).unwrap().unwrap();
    assert_eq!(
        obj,
        json!({"kind": "Secret", "metadata": {"name": "2-x"}, "data": {"two": "yes"}, "list": [{"b": 1}, null]})
    );
    assert!(owned, "`owned` sees the lets");
    // the map is built natively, not by Rhai
    assert!(!matches!(p.outputs[1].build, expr::Expr::Rhai(..)));
}

#[test]
fn output_lets_see_only_earlier_lets_and_are_defined_once() {
    let errs = errors(&[(
        "o.rules",
        "output ConfigMap {\n  let a = b\n  let b = 1\n  build #{kind: \"ConfigMap\"}\n}\noutput Secret {\n  let a = 1\n  let a = 2\n  build #{kind: \"Secret\"}\n}\n",
    )]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].0, Code::UndefinedName, "{errs:?}");
    assert!(errs[0].1.contains("`b`"), "{errs:?}");
    assert_eq!(errs[1].0, Code::DuplicateName, "{errs:?}");
}

/// The per-service builders are the hot path of a plan: the default pack writes the
/// InferenceService and HTTPRoute as object maps, which must stay in the native
/// subset (a construct outside it would silently hand them to Rhai).
#[test]
fn the_default_pack_builds_every_output_without_a_rhai_expression() {
    let p = RulePack::builtin().unwrap();
    for out in &p.outputs {
        assert!(
            !matches!(out.build, expr::Expr::Rhai(..)),
            "output {} is built by a Rhai expression",
            out.name
        );
    }
    for kind in ["HTTPRoute", "InferenceService"] {
        let out = p.outputs.iter().find(|o| o.name == kind).unwrap();
        assert!(matches!(out.build, expr::Expr::Map(..)), "{kind}");
    }
}
