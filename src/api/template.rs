//! `AIMServiceTemplate` (namespaced) and `AIMClusterServiceTemplate` (cluster-scoped):
//! one runtime profile of a model (GPU, precision, metric) that services can run with.

use k8s_openapi::api::core::v1::{
    EnvVar, LocalObjectReference, NodeAffinity, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AIMCustomProfile, AIMHardwareRequirements, AIMMetric, AIMModelSource, AIMPrecision, AIMProfile,
    AIMProfileType, AIMResolvedReference, AIMStatus, Cel, conditions_list_map, env_list_map,
};

/// Desired state of an AIMServiceTemplate.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMServiceTemplate",
    plural = "aimservicetemplates",
    shortname = "aimtpl",
    category = "aim",
    category = "all",
    namespaced,
    status = "AIMServiceTemplateStatus",
    derive = "PartialEq",
    doc = "A runtime profile of a model in a namespace: hardware, precision, optimisation goal and settings services can run with.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelName"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(
        name = "Hardware",
        type_ = "string",
        json_path = ".status.hardwareSummary"
    ),
    printcolumn(
        name = "Metric",
        type_ = "string",
        json_path = ".status.profile.metadata.metric"
    ),
    printcolumn(
        name = "Precision",
        type_ = "string",
        json_path = ".status.profile.metadata.precision"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceTemplateSpec {
    /// Name of the AIMModel (in the template's namespace) this template runs.
    #[schemars(length(min = 1), transform = Cel("self == oldSelf", "model name is immutable"))]
    pub model_name: String,
    /// Optimisation goal: `latency` or `throughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "metric is immutable"))]
    pub metric: Option<AIMMetric>,
    /// Numeric precision of the model weights and compute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "precision is immutable"))]
    pub precision: Option<AIMPrecision>,
    /// GPU and CPU requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "hardware is immutable"))]
    pub hardware: Option<AIMHardwareRequirements>,
    /// Name of the runtime config to use; empty means `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config_name: Option<String>,
    /// Image pull secrets, copied into derived templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Service account (accepted; discovery uses the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Compute resources, layered under the service's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Inline model weights; when set no discovery job runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sources: Option<Vec<AIMModelSource>>,
    /// Profile passed to discovery and to the inference container as `AIM_PROFILE_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// AIM identifier of the custom profile (default: the model name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aim_id: Option<String>,
    /// Model identifier of the custom profile (default: the first model source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// A custom runtime profile, written to a ConfigMap and mounted for the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_profile: Option<AIMCustomProfile>,
    /// Profile type, honoured for templates with inline model sources.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<AIMProfileType>,
    /// Environment of the inference container; also given to the discovery job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Caching of the template's model sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<AIMTemplateCaching>,
}

/// Caching settings of a namespaced template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMTemplateCaching {
    /// Pre-download the template's model sources into a template cache.
    #[serde(default)]
    pub enabled: bool,
    /// Environment of the cache downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
}

/// Desired state of an AIMClusterServiceTemplate.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMClusterServiceTemplate",
    plural = "aimclusterservicetemplates",
    shortname = "aimcltpl",
    category = "aim",
    category = "all",
    status = "AIMServiceTemplateStatus",
    derive = "PartialEq",
    doc = "A runtime profile of a cluster model, usable from every namespace: hardware, precision, optimisation goal and settings.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelName"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(
        name = "Hardware",
        type_ = "string",
        json_path = ".status.hardwareSummary"
    ),
    printcolumn(
        name = "Metric",
        type_ = "string",
        json_path = ".status.profile.metadata.metric"
    ),
    printcolumn(
        name = "Precision",
        type_ = "string",
        json_path = ".status.profile.metadata.precision"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMClusterServiceTemplateSpec {
    /// Name of the AIMClusterModel this template runs.
    #[schemars(length(min = 1), transform = Cel("self == oldSelf", "model name is immutable"))]
    pub model_name: String,
    /// Optimisation goal: `latency` or `throughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "metric is immutable"))]
    pub metric: Option<AIMMetric>,
    /// Numeric precision of the model weights and compute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "precision is immutable"))]
    pub precision: Option<AIMPrecision>,
    /// GPU and CPU requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = Cel("self == oldSelf", "hardware is immutable"))]
    pub hardware: Option<AIMHardwareRequirements>,
    /// Name of the runtime config to use; empty means `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config_name: Option<String>,
    /// Image pull secrets, copied into derived templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Service account (accepted; discovery uses the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Compute resources, layered under the service's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Inline model weights; when set no discovery job runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sources: Option<Vec<AIMModelSource>>,
    /// Profile passed to discovery and to the inference container as `AIM_PROFILE_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// AIM identifier of the custom profile (default: the model name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aim_id: Option<String>,
    /// Model identifier of the custom profile (default: the first model source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// A custom runtime profile, written to a ConfigMap and mounted for the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_profile: Option<AIMCustomProfile>,
    /// Profile type, honoured for templates with inline model sources.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<AIMProfileType>,
    /// Environment of the inference container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
}

impl From<AIMClusterServiceTemplateSpec> for AIMServiceTemplateSpec {
    /// The namespaced view of a cluster template's spec (no caching settings), so that
    /// code handling both kinds can work on one type.
    fn from(spec: AIMClusterServiceTemplateSpec) -> Self {
        Self {
            model_name: spec.model_name,
            metric: spec.metric,
            precision: spec.precision,
            hardware: spec.hardware,
            runtime_config_name: spec.runtime_config_name,
            image_pull_secrets: spec.image_pull_secrets,
            service_account_name: spec.service_account_name,
            resources: spec.resources,
            model_sources: spec.model_sources,
            profile_id: spec.profile_id,
            aim_id: spec.aim_id,
            model_id: spec.model_id,
            custom_profile: spec.custom_profile,
            type_: spec.type_,
            env: spec.env,
            caching: None,
        }
    }
}

/// Observed state of an AIMServiceTemplate or AIMClusterServiceTemplate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMServiceTemplateStatus {
    /// Overall state of the template.
    #[serde(default)]
    pub status: AIMStatus,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
    /// The runtime config the template resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_runtime_config: Option<AIMResolvedReference>,
    /// The model the template resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_model: Option<AIMResolvedReference>,
    /// The template cache of this template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_cache: Option<AIMResolvedReference>,
    /// Hardware after merging the spec with the discovered profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_hardware: Option<AIMHardwareRequirements>,
    /// Node affinity that places pods on matching GPU nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_node_affinity: Option<NodeAffinity>,
    /// Hardware summary for display, e.g. `2 x MI300X` or `CPU`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_summary: Option<String>,
    /// Model sources the template needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sources: Option<Vec<AIMModelSource>>,
    /// The runtime profile the template resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<AIMProfile>,
    /// The latest discovery job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_job: Option<AIMResolvedReference>,
    /// Discovery retry state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<AIMDiscoveryState>,
}

/// Retry state of a template's discovery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMDiscoveryState {
    /// Failed attempts so far, for backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// When the last attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<Time>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_reason: Option<String>,
    /// Hash (16 hex characters) of the spec the discovery ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
}
