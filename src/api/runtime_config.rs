//! `AIMRuntimeConfig` (namespaced) and `AIMClusterRuntimeConfig` (cluster-scoped):
//! defaults for storage, routing, environment and label propagation. Both kinds share
//! one spec and one status type.

use std::ops::{Deref, DerefMut};

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AIMRuntimeRoutingConfig, AIMStorageConfig, conditions_list_map, env_list_map};

/// Desired state of an AIMRuntimeConfig or AIMClusterRuntimeConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMRuntimeConfig",
    plural = "aimruntimeconfigs",
    shortname = "aimrc",
    category = "aim",
    category = "all",
    namespaced,
    status = "AIMRuntimeConfigStatus",
    derive = "PartialEq",
    doc = "Defaults for the AIM objects of a namespace that name it: storage, routing, environment and label propagation."
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMRuntimeConfigSpec {
    /// Storage settings for model caches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<AIMStorageConfig>,
    /// HTTP routing defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<AIMRuntimeRoutingConfig>,
    /// Environment for inference containers and artifact downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Model settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<AIMRuntimeModelConfig>,
    /// Which labels of a service are copied onto the objects it produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_propagation: Option<AIMLabelPropagation>,
    /// Deprecated: use `storage.defaultStorageClassName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_storage_class_name: Option<String>,
    /// Deprecated: use `storage.pvcHeadroomPercent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc_headroom_percent: Option<i32>,
}

/// Desired state of an AIMClusterRuntimeConfig: the same fields as an AIMRuntimeConfig.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMClusterRuntimeConfig",
    plural = "aimclusterruntimeconfigs",
    shortname = "aimclrc",
    category = "aim",
    category = "all",
    status = "AIMRuntimeConfigStatus",
    derive = "PartialEq",
    doc = "Cluster-wide defaults for AIM objects that name it: storage, routing, environment and label propagation."
)]
#[serde(transparent)]
pub struct AIMClusterRuntimeConfigSpec(pub AIMRuntimeConfigSpec);

impl Deref for AIMClusterRuntimeConfigSpec {
    type Target = AIMRuntimeConfigSpec;
    fn deref(&self) -> &AIMRuntimeConfigSpec {
        &self.0
    }
}

impl DerefMut for AIMClusterRuntimeConfigSpec {
    fn deref_mut(&mut self) -> &mut AIMRuntimeConfigSpec {
        &mut self.0
    }
}

impl From<AIMRuntimeConfigSpec> for AIMClusterRuntimeConfigSpec {
    fn from(spec: AIMRuntimeConfigSpec) -> Self {
        Self(spec)
    }
}

/// Model settings of a runtime config.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMRuntimeModelConfig {
    /// Accepted, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_discovery: Option<bool>,
}

/// Label propagation settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMLabelPropagation {
    /// Copy matching labels onto produced objects.
    #[serde(default)]
    pub enabled: bool,
    /// Label-key glob patterns (`*`, `?`, `[...]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Vec<String>>,
}

/// Observed state of a runtime config.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMRuntimeConfigStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
}
