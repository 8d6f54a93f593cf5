//! Types shared by several kinds: references written into status, runtime parameters,
//! hardware requirements, model sources, profiles, image metadata, routing and storage
//! settings, plus the schema helpers that attach CEL rules and list-map markers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use schemars::transform::Transform as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Schema helpers
// ---------------------------------------------------------------------------------------

/// Schema transform appending one CEL rule (`x-kubernetes-validations`) with its message.
///
/// Used as `#[schemars(transform = Cel("rule", "message"))]`; several can be stacked on
/// one field or type and they accumulate instead of replacing each other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cel(pub &'static str, pub &'static str);

impl schemars::transform::Transform for Cel {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        let rule = serde_json::json!({ "rule": self.0, "message": self.1 });
        let Some(object) = schema.as_object_mut() else {
            return;
        };
        match object.get_mut("x-kubernetes-validations") {
            Some(Value::Array(rules)) => rules.push(rule),
            _ => {
                object.insert("x-kubernetes-validations".into(), Value::Array(vec![rule]));
            }
        }
    }
}

/// Schema transform marking a list as a list-map keyed by the given fields, so that
/// server-side apply merges its items by key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListMap(pub &'static [&'static str]);

impl schemars::transform::Transform for ListMap {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        schema.insert("x-kubernetes-list-type".into(), "map".into());
        schema.insert(
            "x-kubernetes-list-map-keys".into(),
            Value::Array(self.0.iter().map(|k| Value::from(*k)).collect()),
        );
    }
}

/// Schema transform for free-form JSON (any value, kept as written by the API server).
pub(crate) fn preserve_unknown_fields(schema: &mut schemars::Schema) {
    let description = schema.get("description").cloned();
    *schema = schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true });
    if let Some(description) = description {
        schema.insert("description".into(), description);
    }
}

/// Schema for a list of standard `metav1.Condition`s, keyed by `type`.
pub(crate) fn conditions_list_map(schema: &mut schemars::Schema) {
    ListMap(&["type"]).transform(schema);
}

/// A list-map of environment variables keyed by `name`.
pub(crate) fn env_list_map(schema: &mut schemars::Schema) {
    ListMap(&["name"]).transform(schema);
}

// ---------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------

/// Where a referenced object was found.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMResolutionScope {
    Namespace,
    Cluster,
    Merged,
    Unknown,
}

/// Optimisation goal of a runtime profile.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AIMMetric {
    Latency,
    Throughput,
}

/// Numeric precision of a runtime profile.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AIMPrecision {
    Auto,
    Fp4,
    Fp8,
    Fp16,
    Fp32,
    Bf16,
    Int4,
    Int8,
}

/// How well a profile has been tuned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AIMProfileType {
    Optimized,
    Preview,
    #[default]
    Unoptimized,
}

/// Status of an object, as written into `status.status`, for the kinds whose allowed
/// values are `Pending, Progressing, Ready, Degraded, Failed, NotAvailable` (models,
/// templates, template caches and artifacts).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMStatus {
    #[default]
    Pending,
    Progressing,
    Ready,
    Degraded,
    Failed,
    NotAvailable,
}

/// The internal status vocabulary with its "goodness" order (higher rank = better);
/// unknown or unset values rank like `Failed`.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "Running" => 7,
        "Ready" => 6,
        "Progressing" => 5,
        "Starting" => 4,
        "Pending" => 3,
        "Degraded" => 2,
        "NotAvailable" => 1,
        _ => 0,
    }
}

/// Whether artifacts are owned by the object that requested them (`Dedicated`) or
/// shared between users (`Shared`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMCacheMode {
    Dedicated,
    #[default]
    Shared,
}

// ---------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------

/// A reference to an object the operator resolved, recorded in status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMResolvedReference {
    /// Name of the referenced object.
    pub name: String,
    /// Namespace of the referenced object; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Whether the object was found in the namespace, at cluster scope, or merged from both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<AIMResolutionScope>,
    /// Kind of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// UID of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Runtime parameters and hardware
// ---------------------------------------------------------------------------------------

/// Runtime parameters (optimisation metric, precision, hardware) used to filter templates
/// during auto-selection and to build derived templates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMRuntimeParameters {
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
}

/// Compute requirements of a workload: GPUs, CPUs, or both.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = Cel("has(self.gpu) || has(self.cpu)", "at least one of gpu or cpu must be specified"))]
pub struct AIMHardwareRequirements {
    /// GPU requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<AIMGpuRequirements>,
    /// CPU requirements (for CPU-only workloads or CPU sizing alongside GPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<AIMCpuRequirements>,
}

/// GPU requirements: how many, and which model or how much memory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = Cel(
    "!(has(self.model) && size(self.model) > 0 && has(self.minVram))",
    "model and minVram are mutually exclusive; specify either a specific GPU model OR a minimum VRAM requirement, not both"
))]
pub struct AIMGpuRequirements {
    /// Number of GPUs per replica; 0 targets GPU nodes without consuming GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub requests: Option<i32>,
    /// GPU model to run on, e.g. `MI300X`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub model: Option<String>,
    /// Minimum memory per GPU; any GPU model with at least this much qualifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_vram: Option<Quantity>,
    /// Extended resource name the GPUs are requested under.
    #[serde(default = "default_gpu_resource_name")]
    pub resource_name: String,
}

impl Default for AIMGpuRequirements {
    fn default() -> Self {
        Self {
            requests: None,
            model: None,
            min_vram: None,
            resource_name: default_gpu_resource_name(),
        }
    }
}

fn default_gpu_resource_name() -> String {
    "amd.com/gpu".into()
}

/// CPU requirements.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMCpuRequirements {
    /// CPU cores requested per replica.
    pub requests: Quantity,
    /// CPU limit per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Quantity>,
}

// ---------------------------------------------------------------------------------------
// Model sources
// ---------------------------------------------------------------------------------------

/// One set of model weights to download, with the credentials needed for it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMModelSource {
    /// Model identifier in `org/name` form.
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_-]+/[a-zA-Z0-9._-]+$"))]
    pub model_id: String,
    /// Where the weights are downloaded from (`hf://...` or `s3://...`).
    #[schemars(regex(pattern = r"^(hf|s3)://[^ \t\r\n]+$"))]
    pub source_uri: String,
    /// Size of the weights; when absent it is discovered by the artifact's size check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// Credentials and settings for this source; wins over base env of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
}

// ---------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------

/// The runtime profile a template resolved to (from discovery or inline sources).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AIMProfile {
    /// Engine arguments of the profile (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = preserve_unknown_fields)]
    pub engine_args: Option<Value>,
    /// Environment variables the profile sets on the inference container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<BTreeMap<String, String>>,
    /// Descriptive metadata of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<AIMProfileMetadata>,
    /// Raw output of the discovery job (free-form).
    #[serde(
        default,
        rename = "originalDiscoveryOutput",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(transform = preserve_unknown_fields)]
    pub original_discovery_output: Option<Value>,
}

/// A runtime profile the operator writes for a template (seed-only-features.md §2.1):
/// mounted into the inference container so the runtime selects it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMCustomProfile {
    /// Engine arguments of the profile (free-form, e.g. vLLM flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = preserve_unknown_fields)]
    pub engine_args: Option<Value>,
    /// Environment variables the profile sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_vars: Option<BTreeMap<String, String>>,
}

/// Descriptive metadata of a runtime profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMProfileMetadata {
    /// Inference engine, e.g. `vllm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// GPU model the profile targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// Number of GPUs the profile uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<i32>,
    /// Optimisation goal of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<AIMMetric>,
    /// Numeric precision of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<AIMPrecision>,
    /// How well the profile has been tuned.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<AIMProfileType>,
}

// ---------------------------------------------------------------------------------------
// Image metadata
// ---------------------------------------------------------------------------------------

/// Metadata read from the labels of a model container image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageMetadata {
    /// Model description from the AIM labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelMetadata>,
    /// Standard OCI image annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciMetadata>,
    /// Every label of the image, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_labels: Option<BTreeMap<String, String>>,
}

/// Model description read from the image labels.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelMetadata {
    /// Canonical model name, e.g. `Qwen/Qwen3-32B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_name: Option<String>,
    /// Where the model comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free tags of the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Model versions in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// Model variants in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
    /// Whether downloading the model needs a Hugging Face token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_token_required: Option<bool>,
    /// Human readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Full description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_full: Option<String>,
    /// Release notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_notes: Option<String>,
    /// Deployments the image recommends; each becomes a service template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_deployments: Option<Vec<RecommendedDeployment>>,
}

/// One deployment recommended by a model image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecommendedDeployment {
    /// GPU model, e.g. `MI300X`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    /// Number of GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<i32>,
    /// Numeric precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// Optimisation goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Profile identifier passed to the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// Human readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Standard OCI annotations of an image (`org.opencontainers.image.*`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciMetadata {
    /// Image title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Image description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Licenses of the image content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licenses: Option<String>,
    /// Vendor of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Authors of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<String>,
    /// Source repository of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    /// Build date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Source revision the image was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Image version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Storage and routing settings (AIMService and runtime configs)
// ---------------------------------------------------------------------------------------

/// Storage settings for model caches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMStorageConfig {
    /// Storage class for cache volumes; empty means the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_storage_class_name: Option<String>,
    /// Extra space, in percent of the model size, added to cache volume requests.
    #[serde(default = "default_pvc_headroom_percent")]
    #[schemars(range(min = 0))]
    pub pvc_headroom_percent: i32,
}

impl Default for AIMStorageConfig {
    fn default() -> Self {
        Self {
            default_storage_class_name: None,
            pvc_headroom_percent: default_pvc_headroom_percent(),
        }
    }
}

fn default_pvc_headroom_percent() -> i32 {
    10
}

/// HTTP routing of inference services through the Gateway API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMRuntimeRoutingConfig {
    /// Whether an HTTPRoute is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Gateway the HTTPRoute attaches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_ref: Option<GatewayParentReference>,
    /// Path template with `{jsonpath}` placeholders evaluated against the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_template: Option<String>,
    /// Request timeout of the route, as a duration such as `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
    /// Annotations added to the HTTPRoute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A Gateway API parent reference (the Gateway, or a listener of it, a route attaches to).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayParentReference {
    /// API group of the parent; empty for the core group.
    #[serde(default = "default_gateway_group")]
    #[schemars(
        length(max = 253),
        regex(pattern = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub group: String,
    /// Kind of the parent.
    #[serde(default = "default_gateway_kind")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
    )]
    pub kind: String,
    /// Namespace of the parent; defaults to the route's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub namespace: Option<String>,
    /// Name of the parent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Listener (section) of the parent to attach to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
    /// Port of the parent to attach to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

impl GatewayParentReference {
    /// A reference to the Gateway `name` (group and kind at their defaults).
    pub fn gateway(name: impl Into<String>, namespace: Option<String>) -> Self {
        Self {
            group: default_gateway_group(),
            kind: default_gateway_kind(),
            namespace,
            name: name.into(),
            section_name: None,
            port: None,
        }
    }
}

fn default_gateway_group() -> String {
    "gateway.networking.k8s.io".into()
}

fn default_gateway_kind() -> String {
    "Gateway".into()
}
