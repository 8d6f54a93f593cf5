//! `AIMService`: "serve this model" — the object users write.

use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AIMHardwareRequirements, AIMModelSource, AIMResolvedReference, AIMRuntimeParameters,
    AIMRuntimeRoutingConfig, AIMStorageConfig, Cel, conditions_list_map, env_list_map,
};

/// Desired state of an AIMService: which model to serve, how, and how many replicas.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMService",
    plural = "aimservices",
    shortname = "aimsvc",
    category = "aim",
    category = "all",
    namespaced,
    status = "AIMServiceStatus",
    derive = "PartialEq",
    doc = "An inference endpoint for one model: the operator resolves the model and a runtime template and produces the serving, routing, autoscaling and caching objects.",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".status.resolvedModel.name"
    ),
    printcolumn(
        name = "Template",
        type_ = "string",
        json_path = ".status.resolvedTemplate.name"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "string",
        json_path = ".status.runtime.replicas"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceSpec {
    /// The model to serve: exactly one of `name`, `image` or `custom`.
    pub model: AIMServiceModel,
    /// Template selection; omit to let the operator pick the best template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "template selection is immutable after creation"))]
    pub template: Option<AIMServiceTemplateSelection>,
    /// Model caching behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "caching mode is immutable after creation"))]
    pub caching: Option<AIMServiceCaching>,
    /// Deprecated and ignored; use `caching.mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_model: Option<bool>,
    /// Fixed replica count, used when no autoscaling field is set.
    #[serde(default = "default_replicas")]
    pub replicas: i32,
    /// Minimum replica count under autoscaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_replicas: Option<i32>,
    /// Maximum replica count under autoscaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_replicas: Option<i32>,
    /// Custom metrics driving autoscaling through KEDA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AIMServiceAutoScaling>,
    /// Name of the runtime config to use; empty means `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config_name: Option<String>,
    /// Storage settings for the service's template cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<AIMStorageConfig>,
    /// HTTP routing; overrides the runtime config's routing settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<AIMRuntimeRoutingConfig>,
    /// Environment variables with the highest precedence for the inference container and cache downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Compute resources; override template and default resources key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Runtime parameters used as auto-selection filters and for derived templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<AIMRuntimeParameters>,
    /// Secrets for pulling the inference image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Service account of the inference pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

fn default_replicas() -> i32 {
    1
}

/// Which model a service serves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = Cel(
    "(has(self.name) ? 1 : 0) + (has(self.image) ? 1 : 0) + (has(self.custom) ? 1 : 0) == 1",
    "exactly one of name, image, or custom must be specified"
))]
#[schemars(transform = Cel("self == oldSelf", "model selection is immutable after creation"))]
pub struct AIMServiceModel {
    /// Name of an AIMModel in the namespace or of an AIMClusterModel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Container image URI; a matching model is found or created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A custom model built from inline model sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<AIMServiceCustomModel>,
}

/// A custom model defined inline in the service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = Cel("size(self.modelSources) >= 1", "at least one model source must be specified"))]
pub struct AIMServiceCustomModel {
    /// Image of the auto-created model (the inference runtime).
    pub base_image: String,
    /// Where the weights come from (exactly one source).
    #[schemars(length(min = 1, max = 1))]
    pub model_sources: Vec<AIMModelSource>,
    /// Hardware the model needs.
    pub hardware: AIMHardwareRequirements,
}

/// Template selection of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceTemplateSelection {
    /// Name of an AIMServiceTemplate or AIMClusterServiceTemplate; empty means auto-select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Let auto-selection pick templates whose profile is not `optimized`.
    #[serde(default)]
    pub allow_unoptimized: bool,
}

/// Caching settings of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceCaching {
    /// Cache ownership: `Shared` caches outlive the service, `Dedicated` ones are owned by it.
    #[serde(default)]
    pub mode: AIMServiceCachingMode,
}

/// Caching mode of a service; `Auto` and `Always` behave like `Shared`, `Never` like
/// `Dedicated`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMServiceCachingMode {
    Dedicated,
    #[default]
    Shared,
    Auto,
    Always,
    Never,
}

/// Autoscaling of a service through KEDA.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceAutoScaling {
    /// Metrics the scaler watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<AIMAutoScalingMetric>>,
}

/// One autoscaling metric.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMAutoScalingMetric {
    /// Metric source type.
    #[serde(rename = "type")]
    pub type_: AIMMetricSourceType,
    /// A metric read from the inference pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podmetric: Option<AIMPodMetricSource>,
}

/// Source type of an autoscaling metric.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMMetricSourceType {
    #[default]
    PodMetric,
}

/// A metric read from the inference pods and its target.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMPodMetricSource {
    /// What to measure.
    pub metric: AIMPodMetric,
    /// The value to scale towards.
    pub target: AIMMetricTarget,
}

/// What to measure for pod-metric autoscaling.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMPodMetric {
    /// Metrics backend.
    #[serde(default)]
    pub backend: AIMMetricsBackend,
    /// Address of the metrics server; the scaler's default applies when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_address: Option<String>,
    /// Metric names collected from the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_names: Option<Vec<String>>,
    /// Query run against the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Aggregation over time: `last_one` (scaler default), `avg`, `max`, `min`, `rate` or `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_over_time: Option<String>,
}

/// Metrics backend of pod-metric autoscaling.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AIMMetricsBackend {
    #[default]
    Opentelemetry,
}

/// Target value of an autoscaling metric.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMMetricTarget {
    /// How the target is expressed.
    #[serde(rename = "type")]
    pub type_: AIMMetricTargetType,
    /// Absolute target value (quantity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Target value averaged across pods (quantity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<String>,
    /// Target utilisation in percent (resource metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

/// How an autoscaling target is expressed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMMetricTargetType {
    #[default]
    Value,
    AverageValue,
    Utilization,
}

/// Observed state of an AIMService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceStatus {
    /// Overall state of the service.
    #[serde(default)]
    pub status: AIMServiceStatusValue,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions, one per aspect (model, template, serving, routing, cache...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
    /// The model the service resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_model: Option<AIMResolvedReference>,
    /// The template the service resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_template: Option<AIMResolvedReference>,
    /// The runtime config the service resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_runtime_config: Option<AIMResolvedReference>,
    /// Routing state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<AIMServiceRoutingStatus>,
    /// Cache state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<AIMServiceCacheStatus>,
    /// Replica counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<AIMServiceRuntimeStatus>,
}

/// Overall state of an AIMService.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMServiceStatusValue {
    #[default]
    Pending,
    Starting,
    Running,
    Degraded,
    Failed,
}

/// Routing state of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceRoutingStatus {
    /// Path prefix the service is reachable under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Cache state of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceCacheStatus {
    /// The template cache the service uses, once it is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_cache_ref: Option<AIMResolvedReference>,
    /// Number of cache retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_attempts: Option<i64>,
}

/// Replica counts of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceRuntimeStatus {
    /// Replicas currently running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,
    /// Replicas wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Autoscaling lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Autoscaling upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i32>,
    /// Replica summary for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<String>,
}
