//! The evaluation contexts the planners give rule expressions: for each reconciled
//! kind, the top-level names its rules may use. Lint checks names against these.

use serde_json::Value;

/// Kinds with a planner, in the order `dry-run` prints them (by kind name).
pub const KINDS: &[&str] = &[
    "AIMArtifact",
    "AIMClusterModel",
    "AIMClusterModelSource",
    "AIMClusterServiceTemplate",
    "AIMModel",
    "AIMService",
    "AIMServiceTemplate",
    "AIMTemplateCache",
];

/// Top-level context fields of an AIMService plan.
const SERVICE: &[&str] = &[
    "service",
    "namespace",
    "model",
    "template",
    "runtime_configs",
    "cluster",
    "cache",
    "isvc",
    "hpa",
    "route",
    "pods",
    "events",
    "names",
    "merged",
    "routing",
    "resolution",
    "autoscaling",
    "now",
];

/// AIMService context fields that are the same for every plan on one snapshot (the
/// cluster's GPUs): selection facts that read only these and the candidate are kept
/// with the snapshot and shared by its plans (`Memo` in rules/select.rs).
pub const SNAPSHOT_ROOTS: &[&str] = &["cluster"];

/// Top-level context fields of an AIMModel / AIMClusterModel plan (plan/model.rs).
const MODEL: &[&str] = &[
    "model",
    "namespace",
    "scope",
    "runtime_configs",
    "merged",
    "resolution",
    "metadata",
    "templates",
    "settings",
    "now",
];

/// Top-level context fields of an AIMServiceTemplate / AIMClusterServiceTemplate plan
/// (plan/template.rs).
const TEMPLATE: &[&str] = &[
    "template",
    "namespace",
    "scope",
    "model",
    "runtime_configs",
    "merged",
    "resolution",
    "gpu",
    "discovery",
    "job",
    "pods",
    "caching",
    "names",
    "settings",
    "now",
];

/// Top-level context fields of an AIMTemplateCache plan (plan/template_cache.rs).
const TEMPLATE_CACHE: &[&str] = &[
    "cache",
    "namespace",
    "template",
    "runtime_configs",
    "merged",
    "resolution",
    "sources",
    "artifacts",
    "missing",
    "deleting",
    "settings",
    "now",
];

/// Top-level context fields of an AIMArtifact plan (plan/artifact.rs).
const ARTIFACT: &[&str] = &[
    "artifact",
    "namespace",
    "runtime_configs",
    "merged",
    "resolution",
    "size",
    "pvc",
    "jobs",
    "pods",
    "role_binding",
    "names",
    "settings",
    "now",
];

/// Top-level context fields of an AIMClusterModelSource plan (plan/model_source.rs).
const MODEL_SOURCE: &[&str] = &[
    "source", "filters", "existing", "matches", "create", "sync", "settings", "now",
];

/// The names rules of `kind` may use (empty for a kind without a planner).
pub fn roots(kind: &str) -> &'static [&'static str] {
    match kind {
        "AIMService" => SERVICE,
        "AIMModel" | "AIMClusterModel" => MODEL,
        "AIMServiceTemplate" | "AIMClusterServiceTemplate" => TEMPLATE,
        "AIMTemplateCache" => TEMPLATE_CACHE,
        "AIMArtifact" => ARTIFACT,
        "AIMClusterModelSource" => MODEL_SOURCE,
        _ => &[],
    }
}

/// The CRD schema of the AIM object a context root holds, for lint's field checks.
pub fn schema_of(kind: &str, root: &str) -> Option<&'static Value> {
    use crate::api::AimKind;
    let aim = match (kind, root) {
        ("AIMService", "service") => AimKind::Service,
        ("AIMService", "model") => AimKind::Model,
        // the namespaced template schema is a superset of the cluster one (`caching`)
        ("AIMService", "template" | "candidate") => AimKind::ServiceTemplate,
        ("AIMService", "cache") => AimKind::TemplateCache,
        ("AIMModel", "model") | ("AIMServiceTemplate", "model") => AimKind::Model,
        ("AIMClusterModel", "model") | ("AIMClusterServiceTemplate", "model") => {
            AimKind::ClusterModel
        }
        ("AIMServiceTemplate" | "AIMTemplateCache", "template") => AimKind::ServiceTemplate,
        ("AIMClusterServiceTemplate", "template") => AimKind::ClusterServiceTemplate,
        ("AIMTemplateCache", "cache") => AimKind::TemplateCache,
        ("AIMArtifact", "artifact") => AimKind::Artifact,
        ("AIMClusterModelSource", "source") => AimKind::ClusterModelSource,
        _ => return None,
    };
    Some(aim.schema())
}

/// An AIMService plan's context: the facts the plan derived, and the snapshot objects
/// it names, borrowed: rules only read them, so copying the model, template, cache
/// and InferenceService into every plan (and freeing them after) bought nothing.
/// It holds a slot per name of `roots("AIMService")`, in that order, so a rule's
/// reference to a root (compiled to its slot) is an index, not a lookup by name.
pub struct Context<'a> {
    slots: Vec<Option<Held<'a>>>,
}

enum Held<'a> {
    /// A fact the planner computed.
    Fact(Value),
    Borrowed(&'a Value),
    /// An object parsed from the snapshot's text on reading.
    Parsed(std::sync::Arc<Value>),
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            slots: SERVICE.iter().map(|_| None).collect(),
        }
    }
}

impl<'a> Context<'a> {
    fn slot(name: &str) -> Option<usize> {
        let slot = SERVICE.iter().position(|n| *n == name);
        debug_assert!(slot.is_some(), "`{name}` is not a root of AIMService");
        slot
    }

    fn set(&mut self, name: &str, held: Held<'a>) {
        if let Some(i) = Self::slot(name) {
            self.slots[i] = Some(held);
        }
    }

    /// Sets a derived fact.
    pub fn insert(&mut self, name: &str, value: Value) {
        self.set(name, Held::Fact(value));
    }

    /// Holds a snapshot object by reference (`None`: the name is null).
    pub fn borrow(&mut self, name: &str, object: Option<&'a Value>) {
        self.set(name, object.map_or(Held::Fact(Value::Null), Held::Borrowed));
    }

    /// Holds a snapshot object as the snapshot gave it out.
    pub fn read(&mut self, name: &str, object: Option<crate::snapshot::Obj<'a>>) {
        use crate::snapshot::Obj;
        let held = match object {
            Some(Obj::Shared(v)) => Held::Borrowed(v),
            Some(Obj::Parsed(v)) => Held::Parsed(v),
            None => Held::Fact(Value::Null),
        };
        self.set(name, held);
    }

    /// A fact, to change in place.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match Self::slot(name).and_then(|i| self.slots[i].as_mut()) {
            Some(Held::Fact(v)) => Some(v),
            _ => None,
        }
    }

    /// The whole context as one JSON object (lint samples, `--explain`).
    pub fn to_value(&self) -> Value {
        Value::Object(
            SERVICE
                .iter()
                .zip(&self.slots)
                .filter_map(|(n, h)| Some(((*n).to_string(), h.as_ref()?.value().clone())))
                .collect(),
        )
    }
}

impl Held<'_> {
    fn value(&self) -> &Value {
        match self {
            Held::Fact(v) => v,
            Held::Borrowed(v) => v,
            Held::Parsed(v) => v,
        }
    }
}

impl crate::rules::expr::Roots for Context<'_> {
    fn root(&self, name: &str) -> Option<&Value> {
        let i = SERVICE.iter().position(|n| *n == name)?;
        self.slots[i].as_ref().map(Held::value)
    }

    fn root_at(&self, slot: usize, name: &str) -> Option<&Value> {
        // AIMService expressions are compiled with `SERVICE`, so the slot is the name's
        debug_assert_eq!(SERVICE.get(slot), Some(&name));
        self.slots.get(slot)?.as_ref().map(Held::value)
    }
}

impl std::ops::Index<&str> for Context<'_> {
    type Output = Value;

    /// Null for a name the context does not hold, as `Value` indexes.
    fn index(&self, name: &str) -> &Value {
        use crate::rules::expr::Roots as _;
        static NULL: Value = Value::Null;
        self.root(name).unwrap_or(&NULL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::expr::Roots as _;
    use serde_json::json;

    #[test]
    fn a_context_reads_borrowed_objects_and_facts_alike() {
        let service = json!({"metadata": {"name": "s"}});
        let mut ctx = Context::default();
        ctx.borrow("service", Some(&service));
        ctx.borrow("model", None);
        ctx.insert("names", json!({"isvc": "s-x"}));

        assert_eq!(ctx.root("service"), Some(&service));
        assert_eq!(ctx["model"], Value::Null);
        assert_eq!(ctx["names"]["isvc"], "s-x");
        assert_eq!(ctx.root("route"), None, "a name never set");
        assert_eq!(
            ctx.to_value(),
            json!({"service": service, "model": null, "names": {"isvc": "s-x"}})
        );
    }
}
