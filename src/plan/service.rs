//! Planning one AIMService (service-reconcile.md): resolve the runtime config, the
//! model and the template; run the pack's selection, merges and outputs; derive the
//! status. Facts are gathered here; every policy is the pack's.

use serde_json::{Value, json};

use super::context::Context;
use super::{Laps, Plan, Trace, metadata, object, routing, sort_objects};
use crate::naming;
use crate::rules::RulePack;
use crate::rules::native::{is_set, text};
use crate::rules::select::Decision;
use crate::snapshot::Snapshot;
use crate::status::{self, ClassifiedError, ComponentHealth, Dependency, ErrorClass};

const CONTROLLER: &str = "service";

use crate::json_path::{at, str_at as s};

fn err(class: &str, reason: &str, message: impl Into<String>) -> Value {
    json!({"class": class, "reason": reason, "message": message.into()})
}

/// A resolved AIM object with how it was found.
fn resolved(obj: &Value) -> Value {
    let kind = s(obj, "/kind");
    let scope = if kind.starts_with("AIMCluster") {
        "Cluster"
    } else {
        "Namespace"
    };
    object([
        ("found", true.into()),
        ("kind", kind.into()),
        ("scope", scope.into()),
        ("name", s(obj, "/metadata/name").into()),
        (
            "namespace",
            if scope == "Cluster" {
                ""
            } else {
                s(obj, "/metadata/namespace")
            }
            .into(),
        ),
        ("uid", s(obj, "/metadata/uid").into()),
        ("status", s(obj, "/status/status").into()),
    ])
}

/// Plans one AIMService against the snapshot.
pub fn plan(snap: &Snapshot, pack: &RulePack, svc: &Value, now: &str) -> Plan {
    plan_with(snap, pack, svc, now, &super::Settings::default())
}

/// [`plan`] with round settings: with `reselect`, the previously resolved template
/// is forgotten and the pack's selection runs again.
pub fn plan_with(
    snap: &Snapshot,
    pack: &RulePack,
    svc: &Value,
    now: &str,
    settings: &super::Settings,
) -> Plan {
    let mut trace = Trace {
        explain: settings.explain,
        ..Trace::default()
    };
    let mut total = Laps::start(&trace);
    let ctx = context(snap, pack, svc, now, settings.reselect, &mut trace);
    let ns = s(svc, "/metadata/namespace");
    let spec = svc.get("spec").unwrap_or(&Value::Null);
    let rc = &ctx["merged"]["runtime_config"];
    let hpa = &ctx["hpa"];
    let route = ctx["route"].as_object();
    let res = &ctx["resolution"];
    let template_ready = res["template"]["found"] == true && res["template"]["status"] == "Ready";

    // status: components from the pack, then the shared framework
    let mut components = vec![];
    let mut laps = Laps::start(&trace);
    for c in pack.statuses.get("AIMService").into_iter().flatten() {
        let include = match &c.when {
            Some(w) => pack.eval(w, &ctx).map(|v| *v == Value::Bool(true)),
            None => Ok(true),
        };
        let health = include.and_then(|inc| {
            if inc {
                pack.eval(&c.health, &ctx).map(Some)
            } else {
                Ok(None)
            }
        });
        match health {
            Ok(Some(h)) => components.push(super::controller::component(&c.name, &h)),
            Ok(None) => {}
            Err(e) => components.push(super::controller::rule_error(&c.name, &e)),
        }
        laps.lap(&mut trace, || c.step.clone());
    }
    let previous = status::stored_conditions(at(svc, "/status/conditions"));
    let generation = at(svc, "/metadata/generation").and_then(Value::as_i64);
    // values the API server would have rejected (a state that never went through one)
    let violations = crate::api::validation::spec_violations(crate::api::AimKind::Service, spec);
    if !violations.is_empty() {
        let message = format!("spec rejected by the CRD schema: {}", violations.join("; "));
        trace.notes.push(message.clone());
        components.push(ComponentHealth {
            component: String::new(),
            state: None,
            reason: "InvalidSpec".into(),
            message: message.clone(),
            errors: vec![ClassifiedError {
                class: ErrorClass::InvalidSpec,
                reason: "InvalidSpec".into(),
                message,
            }],
            dependency: Dependency::Unspecified,
        });
    }
    let mut outcome = status::derive_status(previous, &components, now, generation);
    if let Some(c) = components.iter().find(|c| c.component.is_empty()) {
        outcome.events.push(status::EventRecord {
            type_: status::EventType::Warning,
            reason: "InvalidSpec".into(),
            message: c.message.clone(),
        });
    }

    // outputs (service-reconcile.md §9): only when no error class blocks applying
    let mut objects = vec![];
    if !outcome.blocks_apply {
        let mut laps = Laps::start(&trace);
        for out in pack.outputs.iter().filter(|o| o.parent == "AIMService") {
            match pack.build_output(out, &ctx) {
                Ok(Some((obj, owned))) if obj.is_object() => {
                    objects.push(metadata::finish(obj, svc, CONTROLLER, owned, rc))
                }
                Ok(Some((other, _))) => trace
                    .notes
                    .push(format!("output {} built a non-object: {other}", out.name)),
                Ok(None) => {}
                Err(e) => trace.notes.push(format!("output {} failed: {e}", out.name)),
            }
            laps.lap(&mut trace, || out.step.clone());
        }
    }
    sort_objects(&mut objects);

    // status fields (service-reconcile.md §10.5)
    let mut fields = vec![
        (
            "status",
            json!(status::service_status_value(outcome.status)),
        ),
        (
            "conditions",
            status::conditions_value(std::mem::take(&mut outcome.conditions)),
        ),
    ];
    if let Some(g) = generation {
        fields.push(("observedGeneration", json!(g)));
    }
    if res["model"]["status"] == "Ready" {
        fields.push(("resolvedModel", reference(&res["model"], true)));
    }
    if template_ready {
        fields.push(("resolvedTemplate", reference(&res["template"], true)));
    }
    if res["runtime_config"]["found"] == true {
        fields.push((
            "resolvedRuntimeConfig",
            reference(&res["runtime_config"], true),
        ));
    }
    if res["cache"]["status"] == "Ready" {
        fields.push(("cache", json!({"templateCacheRef": {"name": res["cache"]["name"], "namespace": ns, "uid": res["cache"]["uid"]}})));
    }
    if route.is_some() {
        fields.push(("routing", json!({"path": ctx["routing"]["path"]})));
    }
    fields.push(("runtime", runtime_replicas(spec, hpa)));
    // the status as the context saw it (without a forgotten resolution), with the
    // fields just planned
    let mut status = serde_json::Map::new();
    if let Some(Value::Object(old)) = ctx["service"].get("status") {
        for (k, v) in old {
            if !fields.iter().any(|(f, _)| f == k) {
                status.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in fields {
        status.insert(k.into(), v);
    }
    total.lap(&mut trace, || "plan".into());
    Plan {
        objects,
        status: Value::Object(status),
        events: outcome.events,
        apply_blocked: outcome.blocks_apply,
        retry: outcome.has_infra_error,
        trace,
    }
}

/// Gathers the facts of one AIMService plan into the context its rules see (the
/// roots of `context::roots("AIMService")`), running the selection and the merges.
/// With `reselect`, the service's `status.resolvedTemplate` is forgotten.
pub fn context<'a>(
    snap: &'a Snapshot,
    pack: &RulePack,
    svc: &'a Value,
    now: &str,
    reselect: bool,
    trace: &mut Trace,
) -> Context<'a> {
    let ns = s(svc, "/metadata/namespace").to_string();
    let name = s(svc, "/metadata/name").to_string();
    let spec = svc.get("spec").unwrap_or(&Value::Null);
    let mut ctx = Context::default();
    let resolved_template = at(svc, "/status/resolvedTemplate");
    let previous_template = resolved_template.filter(|_| !reselect);
    if reselect && resolved_template.is_some() {
        // the rules see the service without the resolution it forgets
        let mut service = svc.clone();
        if let Some(st) = service.get_mut("status").and_then(Value::as_object_mut) {
            st.remove("resolvedTemplate");
        }
        ctx.insert("service", service);
    } else {
        ctx.borrow("service", Some(svc));
    }
    ctx.insert("namespace", json!(ns));
    ctx.insert("now", json!(now));
    ctx.borrow("cluster", Some(snap.cluster_fact()));

    // 4. runtime config: namespaced and cluster objects of the same name
    let rc_name = match s(spec, "/runtimeConfigName") {
        "" => "default".to_string(),
        n => n.to_string(),
    };
    let ns_rc = snap
        .get("AIMRuntimeConfig", &ns, &rc_name)
        .map(|o| migrate_storage(o.get("spec")));
    let cl_rc = snap
        .get("AIMClusterRuntimeConfig", "", &rc_name)
        .map(|o| migrate_storage(o.get("spec")));
    let rc_scope = match (&ns_rc, &cl_rc) {
        (Some(_), Some(_)) => "Merged",
        (Some(_), None) => "Namespace",
        (None, Some(_)) => "Cluster",
        (None, None) => "",
    };
    let rc_resolution = if rc_scope.is_empty() && rc_name != "default" {
        json!({"name": rc_name, "found": false,
               "error": err("MissingUpstream", "ReferenceNotFound", "Upstream dependency not found"),
               "detail": format!("RuntimeConfig {rc_name} not found")})
    } else {
        let uid = snap
            .get("AIMRuntimeConfig", &ns, &rc_name)
            .or_else(|| snap.get("AIMClusterRuntimeConfig", "", &rc_name))
            .map(|o| s(o, "/metadata/uid").to_string())
            .unwrap_or_default();
        json!({"name": rc_name, "found": !rc_scope.is_empty(), "scope": rc_scope,
               "kind": if rc_scope == "Cluster" { "AIMClusterRuntimeConfig" } else { "AIMRuntimeConfig" },
               "namespace": if rc_scope == "Cluster" { "" } else { ns.as_str() }, "uid": uid})
    };
    ctx.insert(
        "runtime_configs",
        object([
            ("namespace", ns_rc.unwrap_or_default()),
            ("cluster", cl_rc.unwrap_or_default()),
        ]),
    );

    // 5. model
    let (model_res, model_obj) = resolve_model(snap, svc, &ns);
    ctx.borrow("model", model_obj);

    // 6. template
    let mut template_res = json!({"found": false});
    let mut template_obj: Option<&Value> = None;
    resolve_template(
        snap,
        pack,
        svc,
        previous_template,
        &ns,
        &model_res,
        &ctx,
        &mut template_res,
        &mut template_obj,
        trace,
    );
    ctx.borrow("template", template_obj);

    // merges, in pack order; each result is visible to the next
    ctx.insert("merged", json!({}));
    let mut laps = Laps::start(trace);
    for m in pack.merges.iter().filter(|m| m.parent == "AIMService") {
        match m.run(&pack.scripts, &ctx, trace.explain) {
            Ok(merged) => {
                if let Some(Value::Object(mm)) = ctx.get_mut("merged") {
                    mm.insert(m.name.clone(), merged.value);
                }
                if trace.explain {
                    trace.merges.push((m.name.clone(), merged.provenance));
                }
            }
            Err(e) => trace.notes.push(format!("merge {} failed: {e}", m.name)),
        }
        laps.lap(trace, || m.step.clone());
    }
    // the runtime config's routing defaults, read below while the context is filled
    let rc_routing = ctx["merged"]["runtime_config"]["routing"].clone();

    // names (outputs.md §1.4)
    let isvc_name = naming::isvc_name(&name, &ns);
    let route_name = naming::http_route_name(&name, &ns);
    let uid = s(svc, "/metadata/uid").to_string();
    let mut names = json!({"route": route_name});
    if let Ok(n) = &isvc_name {
        names["isvc"] = json!(n);
    }

    // caching
    let mode = match s(spec, "/caching/mode") {
        "Dedicated" | "Never" => "Dedicated",
        _ => "Shared",
    };
    let tpl_status_name = previous_template.map_or("", |r| s(r, "/name"));
    let isvc_obj = isvc_name
        .as_ref()
        .ok()
        .and_then(|n| snap.read("InferenceService", &ns, n));
    let existing_isvc = isvc_obj.as_deref().map(|v| &**v);
    let cache = find_cache(snap, svc, &ns, mode, tpl_status_name);
    let template_ready = template_res["status"] == "Ready" && template_res["found"] == true;
    let template_name = template_res["name"].as_str().unwrap_or("").to_string();
    let has_sources = template_obj
        .and_then(|t| at(t, "/status/modelSources"))
        .is_some_and(is_set);
    let plan_cache = cache.is_none() && template_ready && has_sources;
    if !template_name.is_empty() {
        names["cache"] = json!(if mode == "Dedicated" {
            naming::dedicated_cache_name(&template_name, &name, &uid)
        } else {
            naming::shared_cache_name(&template_name, &ns)
        });
    }
    let lost = existing_isvc.is_some_and(|i| {
        at(i, "/spec/predictor/volumes")
            .and_then(Value::as_array)
            .is_some_and(|v| {
                v.iter()
                    .any(|vol| vol.get("persistentVolumeClaim").is_some() && vol["name"] != "dshm")
            })
    });
    let cache_res = match &cache {
        Some(c) => {
            json!({"found": true, "mode": mode, "name": s(c, "/metadata/name"), "status": s(c, "/status/status"),
                          "namespace": ns, "uid": s(c, "/metadata/uid"), "plan": false})
        }
        None => json!({"found": false, "mode": mode, "lost": lost, "plan": plan_cache}),
    };
    ctx.borrow("cache", cache);

    // derived template (service-reconcile.md §7.2)
    let derived_name = template_obj.and_then(|t| {
        let ovr = spec.get("overrides").filter(|o| is_set(o))?;
        let derived = at(t, "/metadata/labels")
            .and_then(|l| l.get("aim.eai.amd.com/origin"))
            .and_then(Value::as_str)
            == Some("derived");
        (t["kind"] == "AIMServiceTemplate" && s(t, "/status/status") == "Ready" && !derived)
            .then(|| naming::derived_template_name(s(t, "/metadata/name"), ovr))
            .flatten()
    });
    if let Some(d) = &derived_name {
        names["derived_template"] = json!(d);
    }

    // model to create
    if let Some(n) = model_res.get("create_name") {
        names["model"] = n.clone();
    }

    // routing (outputs.md §9.2, §9.4)
    let enabled = match at(spec, "/routing/enabled") {
        Some(Value::Bool(b)) => *b,
        _ => rc_routing
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let gateway = at(spec, "/routing/gatewayRef")
        .filter(|g| is_set(g))
        .or_else(|| rc_routing.get("gatewayRef").filter(|g| is_set(g)))
        .cloned();
    let path_template = match at(spec, "/routing/pathTemplate") {
        Some(t) => text(t),
        None => text(rc_routing.get("pathTemplate").unwrap_or(&Value::Null)),
    };
    let (path, path_error) = match routing::render(&path_template, svc) {
        Ok(p) => (p, Value::Null),
        Err(e) => (routing::default_path(svc), json!(e)),
    };
    let timeout = at(spec, "/routing/requestTimeout")
        .or_else(|| rc_routing.get("requestTimeout"))
        .map(|t| crate::quantity::go_duration(&text(t)).unwrap_or_else(|| text(t)));
    let route = snap.read("HTTPRoute", &ns, &route_name);
    ctx.insert(
        "routing",
        object([
            ("enabled", enabled.into()),
            ("gateway", gateway.unwrap_or_default()),
            ("path", path.into()),
            ("path_error", path_error),
            ("timeout", timeout.into()),
            ("exists", route.is_some().into()),
        ]),
    );
    ctx.read("route", route);

    // runtime observations of the InferenceService
    let (pods, events, hpa) = match (existing_isvc, &isvc_name) {
        (Some(isvc), Ok(n)) => observe_isvc(snap, &ns, n, isvc),
        _ => (vec![], vec![], Value::Null),
    };
    ctx.insert("pods", Value::Array(pods));
    ctx.insert("events", Value::Array(events));
    ctx.insert("hpa", hpa);
    let autoscaling = spec.get("autoScaling").is_some()
        || spec.get("minReplicas").is_some()
        || spec.get("maxReplicas").is_some();
    ctx.insert("autoscaling", json!({"requested": autoscaling}));
    let isvc_res = match &isvc_name {
        Err(e) => {
            json!({"exists": false, "error": err("Infrastructure", "FetchError", e.to_string())})
        }
        Ok(_) => json!({"exists": existing_isvc.is_some()}),
    };
    ctx.read("isvc", isvc_obj);
    ctx.insert(
        "resolution",
        object([
            ("runtime_config", rc_resolution),
            ("model", model_res),
            ("template", template_res),
            ("cache", cache_res),
            ("isvc", isvc_res),
        ]),
    );
    ctx.insert("names", names);
    ctx
}

/// Deprecated top-level storage fields move under `storage` when that is unset.
fn migrate_storage(spec: Option<&Value>) -> Value {
    let mut spec = spec.cloned().unwrap_or_else(|| json!({}));
    for field in ["defaultStorageClassName", "pvcHeadroomPercent"] {
        if let Some(v) = spec.get(field).cloned()
            && at(&spec, &format!("/storage/{field}")).is_none()
        {
            if !spec.get("storage").is_some_and(Value::is_object) {
                spec["storage"] = json!({});
            }
            spec["storage"][field] = v;
        }
    }
    spec
}

fn reference(r: &Value, with_kind: bool) -> Value {
    let cluster = r["scope"] == "Cluster";
    let mut out = serde_json::Map::new();
    for field in ["name", "scope", "uid", "namespace", "kind"] {
        if (field == "namespace" && cluster) || (field == "kind" && !with_kind) {
            continue;
        }
        if let Some(v) = r.get(field).filter(|v| is_set(v)) {
            out.insert(field.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// service-reconcile.md §5: the model by previous resolution, name, image or custom.
fn resolve_model<'s>(snap: &'s Snapshot, svc: &Value, ns: &str) -> (Value, Option<&'s Value>) {
    let by_ref = |kind_scope: &str, name: &str| match kind_scope {
        "Cluster" => snap.get("AIMClusterModel", "", name),
        _ => snap.get("AIMModel", ns, name),
    };
    if let Some(r) = at(svc, "/status/resolvedModel")
        && let Some(m) = by_ref(s(r, "/scope"), s(r, "/name"))
        && s(m, "/status/status") == "Ready"
    {
        return (resolved(m), Some(&**m));
    }
    let spec_model = at(svc, "/spec/model").unwrap_or(&Value::Null);
    let name = s(spec_model, "/name").trim();
    let image = s(spec_model, "/image").trim();
    if !name.is_empty() {
        return match snap
            .get("AIMModel", ns, name)
            .or_else(|| snap.get("AIMClusterModel", "", name))
        {
            Some(m) => (resolved(m), Some(&**m)),
            None => (
                json!({"found": false, "name": name, "error": err("MissingUpstream", "ModelNotFound",
                    format!("model \"{name}\" not found in namespace {ns} or cluster scope"))}),
                None,
            ),
        };
    }
    if !image.is_empty() {
        let mut matches: Vec<&Value> = snap
            .models_with_image(image)
            .iter()
            .filter(|m| m["kind"] == "AIMClusterModel" || s(m, "/metadata/namespace") == ns)
            .map(|m| &**m)
            .collect();
        matches.sort_by_key(|m| {
            (
                m["kind"] == "AIMClusterModel",
                s(m, "/metadata/name").to_string(),
            )
        });
        return match matches.as_slice() {
            [one] => (resolved(one), Some(*one)),
            [] => match naming::model_name_from_image(image) {
                Ok(n) => (
                    json!({"found": false, "create": "image", "create_name": n, "image": image,
                           "message": format!("Model will be created for image {image}")}),
                    None,
                ),
                Err(e) => (
                    json!({"found": false, "error": err("InvalidSpec", "InvalidImageReference",
                        format!("invalid image URI \"{image}\": {e}"))}),
                    None,
                ),
            },
            many => {
                let listed: Vec<String> = many
                    .iter()
                    .map(|m| {
                        if m["kind"] == "AIMClusterModel" {
                            format!("{} (cluster)", s(m, "/metadata/name"))
                        } else {
                            format!(
                                "{}/{} (namespace)",
                                s(m, "/metadata/namespace"),
                                s(m, "/metadata/name")
                            )
                        }
                    })
                    .collect();
                (
                    json!({"found": false, "error": err("Unknown", "UnknownError",
                        format!("multiple models found with the same image with image \"{image}\": {}", listed.join(", ")))}),
                    None,
                )
            }
        };
    }
    if let Some(custom) = spec_model.get("custom") {
        let base = s(custom, "/baseImage");
        let sources = custom.get("modelSources").cloned().unwrap_or(json!([]));
        let endpoint = |src: &Value| -> String {
            src.get("env")
                .and_then(Value::as_array)
                .and_then(|env| env.iter().find(|e| e["name"] == "AWS_ENDPOINT_URL"))
                .map(|e| text(&e["value"]))
                .unwrap_or_default()
        };
        let same = |m: &Value| {
            let theirs = at(m, "/spec/modelSources").and_then(Value::as_array);
            let ours = sources.as_array();
            match (theirs, ours) {
                (Some(a), Some(b)) if a.len() == b.len() => a.iter().zip(b).all(|(x, y)| {
                    x["modelId"] == y["modelId"]
                        && x["sourceUri"] == y["sourceUri"]
                        && endpoint(x) == endpoint(y)
                }),
                _ => false,
            }
        };
        if let Some(m) = snap
            .list_in("AIMModel", ns)
            .find(|m| s(m, "/spec/image") == base && same(m))
        {
            return (resolved(m), Some(&**m));
        }
        let model_id = s(&sources, "/0/modelId").to_string();
        return (
            json!({"found": false, "create": "custom", "create_name": naming::custom_model_name(&sources, base),
                   "message": format!("Custom model will be created for {model_id}")}),
            None,
        );
    }
    (json!({"found": false}), None)
}

/// service-reconcile.md §6: previous resolution, explicit name, or auto-selection.
#[allow(clippy::too_many_arguments)]
fn resolve_template<'s>(
    snap: &'s Snapshot,
    pack: &RulePack,
    svc: &Value,
    previous: Option<&Value>,
    ns: &str,
    model: &Value,
    ctx: &Context,
    res: &mut Value,
    obj: &mut Option<&'s Value>,
    trace: &mut Trace,
) {
    let set = |t: &'s Value, res: &mut Value, obj: &mut Option<&'s Value>| {
        *res = resolved(t);
        *obj = Some(t);
    };
    if let Some(r) = previous {
        let t = match s(r, "/scope") {
            "Cluster" => snap.get("AIMClusterServiceTemplate", "", s(r, "/name")),
            _ => snap.get("AIMServiceTemplate", s(r, "/namespace"), s(r, "/name")),
        };
        if let Some(t) = t.filter(|t| s(t, "/status/status") == "Ready") {
            set(t, res, obj);
            return;
        }
    }
    let explicit = s(svc, "/spec/template/name").trim();
    if !explicit.is_empty() {
        let overrides = at(svc, "/spec/overrides").filter(|o| is_set(o));
        let derived = overrides.and_then(|o| naming::derived_template_name(explicit, o));
        let lookup = derived.as_deref().unwrap_or(explicit);
        let found = snap
            .get("AIMServiceTemplate", ns, lookup)
            .or_else(|| {
                derived
                    .as_ref()
                    .and_then(|_| snap.get("AIMServiceTemplate", ns, explicit))
            })
            .or_else(|| snap.get("AIMClusterServiceTemplate", "", explicit));
        match found {
            Some(t) => set(t, res, obj),
            None => {
                *res = json!({"found": false, "name": lookup,
                    "error": err("MissingUpstream", "TemplateNotFound", format!("template \"{lookup}\" not found"))});
            }
        }
        return;
    }
    let model_name = model["name"].as_str().unwrap_or("");
    if model["found"] != true || model_name.is_empty() {
        return;
    }
    let Some(selection) = pack.selections.get("template") else {
        trace.notes.push("the pack has no `select template`".into());
        return;
    };
    let candidates: Vec<&Value> = snap
        .templates_for_model(ns, model_name)
        .map(|t| &**t)
        .collect();
    let mut laps = Laps::start(trace);
    let result = selection.run(&pack.scripts, ctx, &candidates, Some(snap.selection_memo()));
    laps.lap(trace, || {
        format!("select template ({} candidates)", candidates.len()).into()
    });
    match result {
        Ok(r) => {
            match r.decision {
                Decision::Chosen(i) => set(candidates[i], res, obj),
                _ => {
                    *res = json!({"found": false, "selection": {"reason": r.reason, "message": r.message}})
                }
            }
            trace.selection = Some(r);
        }
        Err(e) => {
            *res = json!({"found": false, "error": err("InvalidSpec", "RuleError", e.to_string())});
        }
    }
}

/// service-reconcile.md §8.2: the cache this service uses, if any.
fn find_cache<'s>(
    snap: &'s Snapshot,
    svc: &Value,
    ns: &str,
    mode: &str,
    template: &str,
) -> Option<&'s Value> {
    let uid = s(svc, "/metadata/uid");
    let usable = |c: &Value| {
        if mode == "Dedicated" {
            s(c, "/spec/mode") == "Dedicated"
                && at(c, "/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
        } else {
            s(c, "/spec/mode") != "Dedicated"
        }
    };
    if let Some(r) = at(svc, "/status/cache/templateCacheRef")
        && let Some(c) = snap.get("AIMTemplateCache", ns, s(r, "/name"))
        && s(c, "/status/status") == "Ready"
        && usable(c)
    {
        return Some(c);
    }
    if template.is_empty() {
        return None;
    }
    if mode == "Dedicated" {
        let name = naming::dedicated_cache_name(template, s(svc, "/metadata/name"), uid);
        return snap
            .get("AIMTemplateCache", ns, &name)
            .filter(|c| usable(c))
            .map(|c| &**c);
    }
    let mut best: Option<&'s Value> = None;
    for c in snap.list_in("AIMTemplateCache", ns) {
        if s(c, "/spec/templateName") == template && usable(c) {
            let rank = status::status_rank(s(c, "/status/status"));
            if best.is_none_or(|b| rank > status::status_rank(s(b, "/status/status"))) {
                best = Some(c);
            }
        }
    }
    best
}

/// Pods and Events of the InferenceService, and its KEDA HPA.
fn observe_isvc(
    snap: &Snapshot,
    ns: &str,
    isvc_name: &str,
    isvc: &Value,
) -> (Vec<Value>, Vec<Value>, Value) {
    let pods: Vec<Value> = snap
        .list_in("Pod", ns)
        .filter(|p| s(p, "/metadata/labels/serving.kserve.io~1inferenceservice") == isvc_name)
        .map(|p| (**p).clone())
        .collect();
    let pod_names: Vec<&str> = pods.iter().map(|p| s(p, "/metadata/name")).collect();
    let isvc_uid = s(isvc, "/metadata/uid");
    let events: Vec<Value> = snap
        .list_in("Event", ns)
        .filter(|e| {
            let (kind, name, uid) = (
                s(e, "/involvedObject/kind"),
                s(e, "/involvedObject/name"),
                s(e, "/involvedObject/uid"),
            );
            (kind == "InferenceService" && name == isvc_name && (uid.is_empty() || uid == isvc_uid))
                || (kind == "Pod" && pod_names.contains(&name))
        })
        .map(|e| (**e).clone())
        .collect();
    let hpa = snap
        .get(
            "HorizontalPodAutoscaler",
            ns,
            &format!("keda-hpa-{isvc_name}-predictor"),
        )
        .map(|h| (**h).clone())
        .unwrap_or(Value::Null);
    (pods, events, hpa)
}

/// service-reconcile.md §10.5: replica counts and their display string.
fn runtime_replicas(spec: &Value, hpa: &Value) -> Value {
    let int = |v: Option<&Value>| v.and_then(Value::as_i64);
    let (min, max, current, desired) = if hpa.is_object() {
        (
            int(at(hpa, "/spec/minReplicas")).unwrap_or(0),
            int(at(hpa, "/spec/maxReplicas")).unwrap_or(0),
            int(at(hpa, "/status/currentReplicas")).unwrap_or(0),
            int(at(hpa, "/status/desiredReplicas")).unwrap_or(0),
        )
    } else {
        let n = int(spec.get("minReplicas"))
            .or(int(spec.get("replicas")))
            .unwrap_or(1);
        (n, n, n, n)
    };
    let display = if min == max {
        current.to_string()
    } else {
        format!("{current}/{desired} ({min}-{max})")
    };
    json!({"minReplicas": min, "maxReplicas": max, "currentReplicas": current, "desiredReplicas": desired, "replicas": display})
}
