//! `AIMArtifact`: one model source downloaded into a persistent volume.

use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AIMCacheMode, AIMStatus, Cel, conditions_list_map, env_list_map};

/// Desired state of an AIMArtifact.
// Each `printcolumn(...)` repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "aim.eai.amd.com",
    version = "v1alpha1",
    kind = "AIMArtifact",
    plural = "aimartifacts",
    shortname = "aimart",
    category = "aim",
    category = "all",
    namespaced,
    status = "AIMArtifactStatus",
    derive = "PartialEq",
    doc = "Model weights from one source (Hugging Face or S3) downloaded into a persistent volume claim.",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".status.mode"),
    printcolumn(
        name = "Model Size",
        type_ = "string",
        json_path = ".status.displaySize"
    ),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress.displayPercentage"
    ),
    printcolumn(
        name = "Protocol",
        type_ = "string",
        json_path = ".status.download.protocol",
        priority = 1
    ),
    printcolumn(
        name = "Attempt",
        type_ = "string",
        json_path = ".status.download.attempt",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMArtifactSpec {
    /// Where the weights are downloaded from (`hf://...` or `s3://...`).
    #[schemars(
        length(min = 1),
        regex(pattern = r"^(hf|s3)://[^ \t\r\n]+$"),
        transform = Cel("self == oldSelf", "sourceUri is immutable")
    )]
    pub source_uri: String,
    /// Model identifier in `org/name` form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_-]+/[a-zA-Z0-9._-]+$"))]
    pub model_id: Option<String>,
    /// Storage class of the PVC; empty means the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Size of the weights; zero or absent starts a size check first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// Download environment (highest precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = env_list_map)]
    pub env: Option<Vec<EnvVar>>,
    /// Image of the downloader job.
    #[serde(default = "default_download_image")]
    pub model_download_image: String,
    /// Secrets for pulling the downloader image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Name of the runtime config to use; empty means `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config_name: Option<String>,
}

/// The downloader image artifacts use unless they name another.
pub const DEFAULT_DOWNLOAD_IMAGE: &str = "ghcr.io/silogen/aim-artifact-downloader:0.2.0";

fn default_download_image() -> String {
    DEFAULT_DOWNLOAD_IMAGE.into()
}

impl AIMArtifactSpec {
    /// A spec for downloading `source_uri` with every other field at its default.
    pub fn new(source_uri: impl Into<String>) -> Self {
        Self {
            source_uri: source_uri.into(),
            model_id: None,
            storage_class_name: None,
            size: None,
            env: None,
            model_download_image: default_download_image(),
            image_pull_secrets: None,
            runtime_config_name: None,
        }
    }
}

/// Observed state of an AIMArtifact.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMArtifactStatus {
    /// Overall state of the artifact.
    #[serde(default)]
    pub status: AIMStatus,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Detailed conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Option<Vec<Condition>>,
    /// Download progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<AIMDownloadProgress>,
    /// Download attempts and protocol, written by the downloader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<AIMDownloadState>,
    /// Human readable size of the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_size: Option<String>,
    /// When the artifact was last used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<Time>,
    /// Name of the PVC holding the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<String>,
    /// `Dedicated` when the artifact has an owner, else `Shared`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AIMCacheMode>,
    /// Size found by the size-check job, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_size_bytes: Option<i64>,
    /// Size actually requested for the PVC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_size: Option<Quantity>,
    /// Headroom (percent) added to the PVC request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom_percent: Option<i32>,
}

/// Download progress of an artifact.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMDownloadProgress {
    /// Total bytes to download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    /// Bytes downloaded so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_bytes: Option<i64>,
    /// Percentage done (0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub percentage: Option<i32>,
    /// Percentage for display, e.g. `45 %` or `N/A`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_percentage: Option<String>,
}

/// Download attempts of an artifact.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AIMDownloadState {
    /// Protocol in use: `XET`, `HF_TRANSFER` or `HTTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Current attempt number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    /// Attempts allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_attempts: Option<i32>,
    /// Protocols tried, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_sequence: Option<String>,
    /// Last message of the downloader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
