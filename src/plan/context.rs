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
