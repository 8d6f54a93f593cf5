//! The evaluation contexts the planners give rule expressions: for each reconciled
//! kind, the top-level names its rules may use. Lint checks names against these.

use serde_json::{Map, Value};

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
#[derive(Default)]
pub struct Context<'a> {
    facts: Map<String, Value>,
    objects: Vec<(&'static str, Held<'a>)>,
}

/// An object a context names without copying it.
enum Held<'a> {
    Borrowed(&'a Value),
    /// Parsed from the snapshot's compact text for this plan.
    Parsed(std::sync::Arc<Value>),
}

impl<'a> Context<'a> {
    /// Sets a derived fact.
    pub fn insert(&mut self, name: &str, value: Value) {
        self.facts.insert(name.to_string(), value);
    }

    /// Names an object that outlives the plan (null when there is none).
    pub fn borrow(&mut self, name: &'static str, object: Option<&'a Value>) {
        match object {
            Some(v) => self.objects.push((name, Held::Borrowed(v))),
            None => self.insert(name, Value::Null),
        }
    }

    /// Names an object read from the snapshot (null when there is none).
    pub fn read(&mut self, name: &'static str, object: Option<crate::snapshot::Obj<'a>>) {
        use crate::snapshot::Obj;
        match object {
            Some(Obj::Shared(v)) => self.objects.push((name, Held::Borrowed(v))),
            Some(Obj::Parsed(v)) => self.objects.push((name, Held::Parsed(v))),
            None => self.insert(name, Value::Null),
        }
    }

    /// A root taken out of the context: moved when the plan derived it, else copied.
    pub fn take(&mut self, name: &str) -> Value {
        match self.facts.remove(name) {
            Some(v) => v,
            None => crate::rules::expr::Roots::root(self, name)
                .cloned()
                .unwrap_or_default(),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.facts.get_mut(name)
    }

    /// The whole context as one object, copying what it borrows.
    pub fn to_value(&self) -> Value {
        let mut all = self.facts.clone();
        for (name, held) in &self.objects {
            all.insert((*name).to_string(), held.value().clone());
        }
        Value::Object(all)
    }
}

impl Held<'_> {
    fn value(&self) -> &Value {
        match self {
            Held::Borrowed(v) => v,
            Held::Parsed(v) => v,
        }
    }
}

impl crate::rules::expr::Roots for Context<'_> {
    fn root(&self, name: &str) -> Option<&Value> {
        match self.objects.iter().find(|(n, _)| *n == name) {
            Some((_, held)) => Some(held.value()),
            None => self.facts.get(name),
        }
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
        assert_eq!(ctx.root("absent"), None);
        assert_eq!(
            ctx.to_value(),
            json!({"service": service, "model": null, "names": {"isvc": "s-x"}})
        );
        // a borrowed object is copied out and stays; a fact is moved out
        assert_eq!(ctx.take("service"), service);
        assert_eq!(ctx.root("service"), Some(&service));
        assert_eq!(ctx.take("names"), json!({"isvc": "s-x"}));
        assert_eq!(ctx.root("names"), None);
    }
}
