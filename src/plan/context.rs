//! The evaluation contexts the planners give rule expressions: for each reconciled
//! kind, the top-level names its rules may use. Lint checks names against these.

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
pub fn schema_of(kind: &str, root: &str) -> Option<&'static serde_json::Value> {
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
