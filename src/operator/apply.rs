//! Writes, and the comparisons that avoid them. Every desired object is
//! server-side applied by one field manager, [`MANAGER`], without force; an object
//! whose desired content already holds is not sent at all, so a converged cluster
//! sees zero writes.
//!
//! Why one manager (`aimctl`) rather than AIM Engine's `aim-<ctl>-controller` per
//! controller: the planners are one program, and two controllers that both plan an
//! object (a shared template cache, say) must not fight over ownership — under one
//! manager the last complete apply wins and nothing conflicts inside the operator.
//! Objects adopted from AIM Engine are owned by its managers; a conflict that names
//! only those predecessors is taken over with one forced apply (we are their
//! successor), while a conflict with anybody else (a user's `kubectl apply`, another
//! controller) is reported and never forced.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    Preconditions,
};
use serde_json::{Map, Value, json};

use super::kinds;

/// The field manager of every write the operator makes.
pub const MANAGER: &str = "aimctl";

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Where an object's kind lives in the API.
#[derive(Debug, Clone)]
pub struct Resource {
    pub ar: ApiResource,
    pub namespaced: bool,
    /// Whether the cache watches this kind (else the live object is read with a GET).
    pub watched: bool,
}

/// Finds API resources: the watched kinds from the table, anything else a pack
/// outputs through discovery (cached).
#[derive(Default)]
pub struct Resolver {
    discovered: Mutex<HashMap<(String, String), Resource>>,
}

impl Resolver {
    pub async fn resolve(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Resource, kube::Error> {
        if let Some(w) = kinds::lookup(api_version, kind) {
            return Ok(Resource {
                ar: w.api_resource(),
                namespaced: w.namespaced,
                watched: true,
            });
        }
        let key = (api_version.to_string(), kind.to_string());
        if let Some(r) = self
            .discovered
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(r);
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = kube::discovery::pinned_kind(client, &gvk).await?;
        let r = Resource {
            ar,
            namespaced: caps.scope == kube::discovery::Scope::Namespaced,
            watched: false,
        };
        if let Ok(mut m) = self.discovered.lock() {
            m.insert(key, r.clone());
        }
        Ok(r)
    }
}

pub fn api(client: &Client, r: &Resource, namespace: &str) -> Api<DynamicObject> {
    if r.namespaced {
        Api::namespaced_with(client.clone(), namespace, &r.ar)
    } else {
        Api::all_with(client.clone(), &r.ar)
    }
}

/// The object as it should be sent: status goes through the status subresource,
/// never with an apply of the main resource.
pub fn desired_body(obj: &Value) -> Value {
    let mut body = obj.clone();
    if let Some(m) = body.as_object_mut() {
        m.remove("status");
    }
    body
}

/// Whether the desired object already holds on the live one: every desired field is
/// there with an equal value, and our manager owns no field the desired object no
/// longer has (a field we stopped setting must be removed by an apply).
pub fn holds(desired: &Value, live: &Value) -> bool {
    let desired = desired_body(desired);
    if !contains(&desired, live) {
        return false;
    }
    match owned_fields(live) {
        Some(fields) => !drops_owned(fields, &desired),
        None => true,
    }
}

/// Subset comparison: maps as subsets, lists item by item with equal length, numbers
/// by value; a desired `null` matches a missing field.
pub fn contains(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(dv, lv),
            None => dv.is_null() || dv.as_object().is_some_and(Map::is_empty),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| contains(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Null, _) => true,
        (a, b) => a == b,
    }
}

/// The `fieldsV1` our manager's Apply entry owns on the main resource.
fn owned_fields(live: &Value) -> Option<&Value> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| is_our_apply_entry(e))
        .and_then(|e| e.get("fieldsV1"))
}

/// Whether a `managedFields` entry is our manager's Apply on the main resource.
pub fn is_our_apply_entry(entry: &Value) -> bool {
    s(entry, "/manager") == MANAGER
        && s(entry, "/operation") == "Apply"
        && s(entry, "/subresource").is_empty()
}

/// Whether `fields` (a fieldsV1 set) names a field that `desired` lacks.
fn drops_owned(fields: &Value, desired: &Value) -> bool {
    let Some(fields) = fields.as_object() else {
        return false;
    };
    for (k, sub) in fields {
        if k == "." {
            continue;
        }
        let child = if let Some(field) = k.strip_prefix("f:") {
            desired.as_object().and_then(|m| m.get(field))
        } else if let Some(keys) = k.strip_prefix("k:") {
            let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
                continue;
            };
            desired.as_array().and_then(|items| {
                items
                    .iter()
                    .find(|i| keys.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))
            })
        } else if let Some(v) = k.strip_prefix("v:") {
            let Ok(v) = serde_json::from_str::<Value>(v) else {
                continue;
            };
            desired
                .as_array()
                .and_then(|items| items.iter().find(|i| **i == v))
        } else if let Some(i) = k.strip_prefix("i:") {
            i.parse::<usize>()
                .ok()
                .and_then(|i| desired.as_array().and_then(|a| a.get(i)))
        } else {
            continue;
        };
        match child {
            None => return true,
            Some(Value::Null) => return true,
            Some(c) => {
                if drops_owned(sub, c) {
                    return true;
                }
            }
        }
    }
    false
}

/// Server-side apply without force; see the module doc for the one exception.
pub async fn apply(client: &Client, r: &Resource, obj: &Value) -> Result<Value, kube::Error> {
    let api = api(client, r, s(obj, "/metadata/namespace"));
    let name = s(obj, "/metadata/name");
    let body = desired_body(obj);
    let params = PatchParams::apply(MANAGER);
    match api.patch(name, &params, &Patch::Apply(&body)).await {
        Ok(o) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
        Err(kube::Error::Api(status))
            if status.code == 409 && only_predecessors(&status.message) =>
        {
            tracing::info!(
                kind = r.ar.kind, name, conflict = %status.message,
                "taking over fields from AIM Engine's field managers"
            );
            let o = api
                .patch(name, &params.force(), &Patch::Apply(&body))
                .await?;
            Ok(serde_json::to_value(o).unwrap_or(Value::Null))
        }
        Err(e) => Err(e),
    }
}

/// The managers an apply conflict names.
pub fn conflicting_managers(message: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = message;
    while let Some(i) = rest.find("with \"") {
        rest = &rest[i + 6..];
        if let Some(end) = rest.find('"') {
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        } else {
            break;
        }
    }
    out
}

/// AIM Engine's managers are `aim-<controller>-controller` (outputs.md §2.1).
fn only_predecessors(message: &str) -> bool {
    let managers = conflicting_managers(message);
    !managers.is_empty()
        && managers
            .iter()
            .all(|m| m.starts_with("aim-") && m.ends_with("-controller"))
}

/// Deletes an object, only if it is still the one we saw (uid precondition).
pub async fn delete(client: &Client, r: &Resource, obj: &Value) -> Result<(), kube::Error> {
    let api = api(client, r, s(obj, "/metadata/namespace"));
    let mut params = DeleteParams::background();
    let uid = s(obj, "/metadata/uid");
    if !uid.is_empty() {
        params.preconditions = Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
    }
    match api.delete(s(obj, "/metadata/name"), &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(st)) if st.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A JSON merge patch (RFC 7386) that turns `current` into `desired`: only what
/// differs, with `null` for removed fields.
pub fn merge_diff(current: &Value, desired: &Value) -> Value {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                match c.get(k) {
                    Some(cv) if cv == dv => {}
                    Some(cv) => {
                        out.insert(k.clone(), merge_diff(cv, dv));
                    }
                    None => {
                        out.insert(k.clone(), dv.clone());
                    }
                }
            }
            for k in c.keys() {
                if !d.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => desired.clone(),
    }
}

/// What became of a status write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWrite {
    Unchanged,
    Written,
    /// The object changed since it was planned from (409): the newer version is
    /// re-planned; nothing is forced.
    Conflict,
}

/// Writes `status` through the status subresource when it differs from the live
/// one, guarded by the resourceVersion we planned from.
pub async fn write_status(
    client: &Client,
    r: &Resource,
    live: &Value,
    status: &Value,
) -> Result<StatusWrite, kube::Error> {
    let current = live.get("status").cloned().unwrap_or_else(|| json!({}));
    if &current == status {
        return Ok(StatusWrite::Unchanged);
    }
    let patch = json!({
        "metadata": {"resourceVersion": s(live, "/metadata/resourceVersion")},
        "status": merge_diff(&current, status),
    });
    let api = api(client, r, s(live, "/metadata/namespace"));
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match api
        .patch_status(s(live, "/metadata/name"), &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(StatusWrite::Written),
        Err(kube::Error::Api(st)) if st.code == 409 => Ok(StatusWrite::Conflict),
        Err(e) => Err(e),
    }
}

/// Sets the object's finalizer list, guarded by its resourceVersion (a concurrent
/// change answers 409 and the reconcile is retried); answers the new resourceVersion.
pub async fn set_finalizers(
    client: &Client,
    r: &Resource,
    live: &Value,
    finalizers: &[String],
) -> Result<String, kube::Error> {
    let patch = json!({
        "metadata": {
            "resourceVersion": s(live, "/metadata/resourceVersion"),
            "finalizers": finalizers,
        }
    });
    let api = api(client, r, s(live, "/metadata/namespace"));
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let updated = api
        .patch(s(live, "/metadata/name"), &params, &Patch::Merge(&patch))
        .await?;
    Ok(updated.metadata.resource_version.unwrap_or_default())
}

/// Reads one object (for kinds the cache does not watch); `None` when absent.
pub async fn get(client: &Client, r: &Resource, obj: &Value) -> Result<Option<Value>, kube::Error> {
    let api = api(client, r, s(obj, "/metadata/namespace"));
    match api.get_opt(s(obj, "/metadata/name")).await? {
        Some(o) => Ok(Some(serde_json::to_value(o).unwrap_or(Value::Null))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_ignores_server_added_fields() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "3", "labels": {"x": "1", "y": "2"}},
            "data": {"k": "v"}});
        assert!(holds(&desired, &live));
        let changed = json!({"metadata": {"name": "a", "labels": {"x": "2"}}});
        assert!(!holds(&changed, &live));
    }

    #[test]
    fn lists_compare_item_by_item() {
        let d = json!({"spec": {"args": ["a", "b"], "n": 1}});
        assert!(contains(
            &d,
            &json!({"spec": {"args": ["a", "b"], "n": 1.0}})
        ));
        assert!(!contains(
            &d,
            &json!({"spec": {"args": ["a", "b", "c"], "n": 1}})
        ));
    }

    #[test]
    fn a_field_we_own_but_no_longer_want_needs_an_apply() {
        let live = json!({
            "metadata": {"name": "a", "labels": {"x": "1", "old": "1"},
                "managedFields": [{"manager": "aimctl", "operation": "Apply",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}, "f:old": {}}},
                                 "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {".": {}, "f:image": {}}}}}}]},
            "spec": {"containers": [{"name": "main", "image": "i"}]}
        });
        let without_old = json!({"metadata": {"name": "a", "labels": {"x": "1"}},
                                 "spec": {"containers": [{"name": "main", "image": "i"}]}});
        assert!(!holds(&without_old, &live));
        let same = json!({"metadata": {"name": "a", "labels": {"x": "1", "old": "1"}},
                          "spec": {"containers": [{"name": "main", "image": "i"}]}});
        assert!(holds(&same, &live));
    }

    #[test]
    fn merge_diff_writes_only_changes_and_nulls_removals() {
        let cur = json!({"a": 1, "b": {"c": 1, "d": 2}, "gone": true});
        let des = json!({"a": 1, "b": {"c": 2, "d": 2}, "new": [1]});
        assert_eq!(
            merge_diff(&cur, &des),
            json!({"b": {"c": 2}, "new": [1], "gone": null})
        );
    }

    #[test]
    fn only_aim_engine_conflicts_are_taken_over() {
        let msg = "Apply failed with 2 conflicts: conflicts with \"aim-service-controller\" using serving.kserve.io/v1beta1:\n- .spec.x\nconflicts with \"aim-model-controller\":\n- .spec.y";
        assert_eq!(
            conflicting_managers(msg),
            vec!["aim-service-controller", "aim-model-controller"]
        );
        assert!(only_predecessors(msg));
        assert!(!only_predecessors(
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.x"
        ));
    }
}
