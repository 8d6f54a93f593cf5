//! `AIMTemplateCache`: pre-downloads every model source of a template into artifacts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AIMCacheMode, AIMModelSource, AIMResolvedReference, AIMStatus, conditions_list_map,
    env_list_map,
};

/// Desired state of an AIMTemplateCache.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMTemplateCache",
    plural = "aimtemplatecaches",
    shortname = "aimtc",
    category = "aim",
    category = "all",
    namespaced,
    status = "AIMTemplateCacheStatus",
    derive = "PartialEq",
    doc = "The model weights of one service template, downloaded into artifacts (persistent volumes) ahead of time.",
    printcolumn(name = "Template", type_ = "string", json_path = ".spec.templateName"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(
        name = "Kind",
        type_ = "string",
        json_path = ".status.resolvedTemplateKind"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMTemplateCacheSpec {
    /// Name of the template whose model sources are cached.
    #[schemars(length(min = 1))]
    pub template_name: String,
    /// Which template kind to read; `Unknown` looks in the namespace first, then the cluster.
    pub template_scope: AIMTemplateScope,
    /// Base environment of the downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Image pull secrets (accepted, not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Storage class of the artifacts; empty matches any class and creates with the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Downloader image (accepted; artifacts use their own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_image: Option<String>,
    /// Model sources (accepted; the sources come from the template status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sources: Option<Vec<AIMModelSource>>,
    /// Name of the runtime config to use; empty means `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config_name: Option<String>,
    /// Artifact ownership: `Dedicated` artifacts are owned by this cache, `Shared` are not.
    #[serde(default)]
    pub mode: AIMCacheMode,
}

/// Which kind of template a cache reads.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMTemplateScope {
    /// An AIMServiceTemplate in the cache's namespace.
    Namespace,
    /// An AIMClusterServiceTemplate.
    Cluster,
    /// Look in the namespace first, then at cluster scope.
    Unknown,
}

/// Observed state of an AIMTemplateCache.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMTemplateCacheStatus {
    /// Overall state of the cache.
    #[serde(default)]
    pub status: AIMStatus,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
    /// The runtime config the cache resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_runtime_config: Option<AIMResolvedReference>,
    /// Kind of the template read: `AIMServiceTemplate` or `AIMClusterServiceTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_template_kind: Option<String>,
    /// The artifacts of the cache, keyed by artifact name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<BTreeMap<String, AIMResolvedArtifact>>,
}

/// One artifact of a template cache.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMResolvedArtifact {
    /// UID of the artifact.
    pub uid: String,
    /// Name of the artifact.
    pub name: String,
    /// `modelId` of the model source the artifact holds.
    pub model: String,
    /// Status of the artifact.
    pub status: String,
    /// PVC holding the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<String>,
    /// Where the weights are mounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
}
