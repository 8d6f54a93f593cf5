//! The evaluation contexts the planners give rule expressions: for each reconciled
//! kind, the top-level names its rules may use. Lint checks names against these.

/// Kinds with a planner, in the order `dry-run` prints them.
pub const KINDS: &[&str] = &["AIMService"];

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

/// The names rules of `kind` may use (empty for a kind without a planner).
pub fn roots(kind: &str) -> &'static [&'static str] {
    match kind {
        "AIMService" => SERVICE,
        _ => &[],
    }
}

/// The CRD schema of the AIM object a context root holds, for lint's field checks.
pub fn schema_of(kind: &str, root: &str) -> Option<&'static serde_json::Value> {
    use crate::api::AimKind;
    use std::sync::OnceLock;
    static SCHEMAS: OnceLock<Vec<(AimKind, serde_json::Value)>> = OnceLock::new();
    let aim = match (kind, root) {
        ("AIMService", "service") => AimKind::Service,
        ("AIMService", "model") => AimKind::Model,
        // the namespaced template schema is a superset of the cluster one (`caching`)
        ("AIMService", "template" | "candidate") => AimKind::ServiceTemplate,
        ("AIMService", "cache") => AimKind::TemplateCache,
        _ => return None,
    };
    let all = SCHEMAS.get_or_init(|| AimKind::ALL.into_iter().map(|k| (k, k.schema())).collect());
    all.iter().find(|(k, _)| *k == aim).map(|(_, s)| s)
}
