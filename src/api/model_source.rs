//! `AIMClusterModelSource`: creates AIMClusterModels for the images of a registry that
//! match its filters.

use k8s_openapi::api::core::v1::LocalObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::conditions_list_map;

/// Desired state of an AIMClusterModelSource.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMClusterModelSource",
    plural = "aimclustermodelsources",
    shortname = "aimclsrc",
    category = "aim",
    category = "all",
    status = "AIMClusterModelSourceStatus",
    derive = "PartialEq",
    doc = "A container registry the operator scans periodically, creating an AIMClusterModel for each matching image.",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(
        name = "Models",
        type_ = "integer",
        json_path = ".status.discoveredModels"
    ),
    printcolumn(name = "LastSync", type_ = "date", json_path = ".status.lastSyncTime"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMClusterModelSourceSpec {
    /// Registry host to scan.
    #[serde(default = "default_registry")]
    pub registry: String,
    /// Secrets (in the operator namespace) for reading the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Which repositories and versions to import.
    #[schemars(length(min = 1, max = 100))]
    pub filters: Vec<AIMModelSourceFilter>,
    /// How often the registry is scanned, as a duration such as `1h`.
    #[serde(default = "default_sync_interval")]
    pub sync_interval: String,
    /// Semantic-version constraints applied to every filter without its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// Upper bound on the number of models this source creates.
    #[serde(default = "default_max_models")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_models: i64,
}

fn default_registry() -> String {
    "docker.io".into()
}

fn default_sync_interval() -> String {
    "1h".into()
}

fn default_max_models() -> i64 {
    100
}

impl AIMClusterModelSourceSpec {
    /// A spec with the given filters and every other field at its default.
    pub fn new(filters: Vec<AIMModelSourceFilter>) -> Self {
        Self {
            registry: default_registry(),
            image_pull_secrets: None,
            filters,
            sync_interval: default_sync_interval(),
            versions: None,
            max_models: default_max_models(),
        }
    }
}

/// One repository pattern of a model source.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMModelSourceFilter {
    /// Repository pattern, e.g. `amdenterpriseai/aim-*`.
    #[schemars(length(max = 512))]
    pub image: String,
    /// Repository names to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Semantic-version constraints; override the global ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
}

/// Observed state of an AIMClusterModelSource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMClusterModelSourceStatus {
    /// Overall state of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AIMClusterModelSourceStatusValue>,
    /// When the registry was last scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// Models owned by this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_models: Option<i64>,
    /// Matching images seen in the registry during the last scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_models: Option<i64>,
    /// Whether `maxModels` kept some matching images out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_limit_reached: Option<bool>,
    /// Detailed conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Overall state of an AIMClusterModelSource.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMClusterModelSourceStatusValue {
    Pending,
    Starting,
    Progressing,
    Ready,
    Running,
    Degraded,
    NotAvailable,
    Failed,
}
