//! `AIMModel` (namespaced) and `AIMClusterModel` (cluster-scoped): a model container
//! image, its metadata and the templates derived from it. Both kinds share one spec and
//! one status type.

use std::ops::{Deref, DerefMut};

use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AIMCustomProfile, AIMHardwareRequirements, AIMMetric, AIMModelSource, AIMPrecision,
    AIMProfileType, AIMResolvedReference, AIMStatus, Cel, ImageMetadata, conditions_list_map,
    env_list_map,
};

/// Desired state of an AIMModel or AIMClusterModel.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMModel",
    plural = "aimmodels",
    shortname = "aimmdl",
    category = "aim",
    category = "all",
    namespaced,
    status = "AIMModelStatus",
    derive = "PartialEq",
    doc = "A model container image in a namespace; the operator reads its metadata and creates service templates for it.",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Source", type_ = "string", json_path = ".status.sourceType"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".status.imageMetadata.model.canonicalName"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = Cel(
    "!has(self.modelSources) || size(self.modelSources) == 0 || (has(self.custom) && has(self.custom.hardware)) || !has(self.customTemplates) || size(self.customTemplates) == 0 || self.customTemplates.all(t, has(t.hardware))",
    "when using modelSources, hardware must be specified: set custom.hardware (inherited by all templates) or set hardware on each template individually"
))]
pub struct AIMModelSpec {
    /// Container image of the model (inference runtime plus model metadata).
    #[schemars(length(min = 1))]
    pub image: String,
    /// What the operator does with the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<AIMModelDiscovery>,
    /// Preferred template name (accepted, not used by auto-selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_service_template: Option<String>,
    /// Defaults for the custom templates of this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<AIMModelCustomDefaults>,
    /// Templates to create in addition to (or instead of) discovered ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub custom_templates: Option<Vec<AIMCustomTemplate>>,
    /// Inline model weights; a non-empty list makes this a custom model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub model_sources: Option<Vec<AIMModelSource>>,
    /// Name of the runtime config to use; empty means `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config_name: Option<String>,
    /// Secrets for pulling the image and reading its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Environment for custom templates and for discovery-side authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Service account of the discovery jobs of this model's templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Compute resources (accepted; not applied to inference services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Image metadata given by hand; when set, the registry is not queried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_metadata: Option<ImageMetadata>,
}

/// Desired state of an AIMClusterModel: the same fields as an AIMModel.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMClusterModel",
    plural = "aimclustermodels",
    shortname = "aimclmdl",
    category = "aim",
    category = "all",
    status = "AIMModelStatus",
    derive = "PartialEq",
    doc = "A model container image available to every namespace; the operator reads its metadata and creates cluster service templates for it.",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Source", type_ = "string", json_path = ".status.sourceType"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".status.imageMetadata.model.canonicalName"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
pub struct AIMClusterModelSpec(pub AIMModelSpec);

impl Deref for AIMClusterModelSpec {
    type Target = AIMModelSpec;
    fn deref(&self) -> &AIMModelSpec {
        &self.0
    }
}

impl DerefMut for AIMClusterModelSpec {
    fn deref_mut(&mut self) -> &mut AIMModelSpec {
        &mut self.0
    }
}

impl From<AIMModelSpec> for AIMClusterModelSpec {
    fn from(spec: AIMModelSpec) -> Self {
        Self(spec)
    }
}

/// Discovery settings of a model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMModelDiscovery {
    /// Read the image labels from the registry.
    #[serde(default = "default_true")]
    pub extract_metadata: bool,
    /// Create service templates from the image's recommended deployments.
    #[serde(default = "default_true")]
    pub create_service_templates: bool,
}

impl Default for AIMModelDiscovery {
    fn default() -> Self {
        Self {
            extract_metadata: true,
            create_service_templates: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Defaults inherited by every custom template of a model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMModelCustomDefaults {
    /// Hardware of the custom templates, unless a template sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<AIMHardwareRequirements>,
    /// Profile type of the custom templates (else `unoptimized`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<AIMProfileType>,
}

/// A template the model asks for explicitly.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMCustomTemplate {
    /// Alias used in the generated template name and the template alias label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// Profile type of the template.
    #[serde(default, rename = "type")]
    pub type_: AIMProfileType,
    /// Environment of the template's inference container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Hardware of the template, merged over `custom.hardware`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<AIMHardwareRequirements>,
    /// Optimisation goal and precision of the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<AIMCustomTemplateProfile>,
    /// AIM identifier of the custom profile (default: the model name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aim_id: Option<String>,
    /// Model identifier of the custom profile (default: the first model source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// A custom runtime profile, written to a ConfigMap and mounted for the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_profile: Option<AIMCustomProfile>,
}

/// Optimisation goal and precision of a custom template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMCustomTemplateProfile {
    /// Optimisation goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<AIMMetric>,
    /// Numeric precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<AIMPrecision>,
}

/// Observed state of an AIMModel or AIMClusterModel.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMModelStatus {
    /// Overall state of the model.
    #[serde(default)]
    pub status: AIMStatus,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
    /// The runtime config the model resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_runtime_config: Option<AIMResolvedReference>,
    /// Metadata extracted from the image; kept as a cache while present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_metadata: Option<ImageMetadata>,
    /// `Custom` when the model has inline model sources, else `Image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<AIMModelSourceType>,
}

/// Where a model's weights come from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AIMModelSourceType {
    Image,
    Custom,
}
