//! The `aim.eai.amd.com/v1alpha1` API: one module per kind plus the shared types.
//!
//! Every kind is a `kube::CustomResource`; [`crds`] builds their
//! CustomResourceDefinitions (the files under `crds/` are generated from it, see
//! [`crd_documents`]).

pub mod artifact;
pub mod common;
pub mod model;
pub mod model_source;
pub mod runtime_config;
pub mod service;
pub mod template;
pub mod template_cache;
pub mod validation;

pub use artifact::{AIMArtifact, AIMArtifactSpec, AIMArtifactStatus};
pub use common::*;
pub use model::{AIMClusterModel, AIMClusterModelSpec, AIMModel, AIMModelSpec, AIMModelStatus};
pub use model_source::{
    AIMClusterModelSource, AIMClusterModelSourceSpec, AIMClusterModelSourceStatus,
};
pub use runtime_config::{
    AIMClusterRuntimeConfig, AIMClusterRuntimeConfigSpec, AIMRuntimeConfig, AIMRuntimeConfigSpec,
    AIMRuntimeConfigStatus,
};
pub use service::{AIMService, AIMServiceSpec, AIMServiceStatus};
pub use template::{
    AIMClusterServiceTemplate, AIMClusterServiceTemplateSpec, AIMServiceTemplate,
    AIMServiceTemplateSpec, AIMServiceTemplateStatus,
};
pub use template_cache::{AIMTemplateCache, AIMTemplateCacheSpec, AIMTemplateCacheStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

/// API group of every AIM kind.
pub const GROUP: &str = "aim.eai.amd.com";
/// The only served (and stored) version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every AIM object.
pub const API_VERSION: &str = "aim.eai.amd.com/v1alpha1";

/// The kinds of the API, in the order of the API reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AimKind {
    Service,
    Model,
    ClusterModel,
    ServiceTemplate,
    ClusterServiceTemplate,
    TemplateCache,
    Artifact,
    RuntimeConfig,
    ClusterRuntimeConfig,
    ClusterModelSource,
}

impl AimKind {
    /// Every kind, in the order of the API reference (and of [`crds`]).
    pub const ALL: [AimKind; 10] = [
        AimKind::Service,
        AimKind::Model,
        AimKind::ClusterModel,
        AimKind::ServiceTemplate,
        AimKind::ClusterServiceTemplate,
        AimKind::TemplateCache,
        AimKind::Artifact,
        AimKind::RuntimeConfig,
        AimKind::ClusterRuntimeConfig,
        AimKind::ClusterModelSource,
    ];

    /// The `kind` string, e.g. `AIMService`.
    pub fn kind(self) -> &'static str {
        match self {
            AimKind::Service => "AIMService",
            AimKind::Model => "AIMModel",
            AimKind::ClusterModel => "AIMClusterModel",
            AimKind::ServiceTemplate => "AIMServiceTemplate",
            AimKind::ClusterServiceTemplate => "AIMClusterServiceTemplate",
            AimKind::TemplateCache => "AIMTemplateCache",
            AimKind::Artifact => "AIMArtifact",
            AimKind::RuntimeConfig => "AIMRuntimeConfig",
            AimKind::ClusterRuntimeConfig => "AIMClusterRuntimeConfig",
            AimKind::ClusterModelSource => "AIMClusterModelSource",
        }
    }

    /// The resource (plural) name, e.g. `aimservices`.
    pub fn plural(self) -> &'static str {
        match self {
            AimKind::Service => "aimservices",
            AimKind::Model => "aimmodels",
            AimKind::ClusterModel => "aimclustermodels",
            AimKind::ServiceTemplate => "aimservicetemplates",
            AimKind::ClusterServiceTemplate => "aimclusterservicetemplates",
            AimKind::TemplateCache => "aimtemplatecaches",
            AimKind::Artifact => "aimartifacts",
            AimKind::RuntimeConfig => "aimruntimeconfigs",
            AimKind::ClusterRuntimeConfig => "aimclusterruntimeconfigs",
            AimKind::ClusterModelSource => "aimclustermodelsources",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        matches!(
            self,
            AimKind::Service
                | AimKind::Model
                | AimKind::ServiceTemplate
                | AimKind::TemplateCache
                | AimKind::Artifact
                | AimKind::RuntimeConfig
        )
    }

    /// The kind named `kind` (exact spelling), if it is one of the API.
    pub fn from_kind(kind: &str) -> Option<AimKind> {
        AimKind::ALL.into_iter().find(|k| k.kind() == kind)
    }

    /// The kind for an object's `apiVersion` and `kind`; `None` unless the apiVersion is
    /// exactly [`API_VERSION`] and the kind exists.
    pub fn lookup(api_version: &str, kind: &str) -> Option<AimKind> {
        if api_version == API_VERSION {
            AimKind::from_kind(kind)
        } else {
            None
        }
    }

    /// The CustomResourceDefinition of this kind, as written to `crds/`.
    pub fn crd(self) -> CustomResourceDefinition {
        let crd = match self {
            AimKind::Service => AIMService::crd(),
            AimKind::Model => AIMModel::crd(),
            AimKind::ClusterModel => AIMClusterModel::crd(),
            AimKind::ServiceTemplate => AIMServiceTemplate::crd(),
            AimKind::ClusterServiceTemplate => AIMClusterServiceTemplate::crd(),
            AimKind::TemplateCache => AIMTemplateCache::crd(),
            AimKind::Artifact => AIMArtifact::crd(),
            AimKind::RuntimeConfig => AIMRuntimeConfig::crd(),
            AimKind::ClusterRuntimeConfig => AIMClusterRuntimeConfig::crd(),
            AimKind::ClusterModelSource => AIMClusterModelSource::crd(),
        };
        finish_crd(crd)
    }

    /// The openAPI v3 schema of this kind (the root object, as in the CRD), generated
    /// once: loading a state defaults every object from it.
    pub fn schema(self) -> &'static Value {
        static SCHEMAS: [std::sync::OnceLock<Value>; AimKind::ALL.len()] =
            [const { std::sync::OnceLock::new() }; AimKind::ALL.len()];
        SCHEMAS[self as usize].get_or_init(|| {
            self.crd()
                .spec
                .versions
                .first()
                .and_then(|v| v.schema.as_ref())
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or(Value::Null)
        })
    }
}

/// What an `(apiVersion, kind)` pair is, as far as this API is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindClass {
    /// A kind of this API.
    Aim(AimKind),
    /// The apiVersion is in the `aim.eai.amd.com` group, but no such kind/version is served.
    UnknownAim,
    /// Anything else (core kinds, other CRDs).
    Other,
}

/// Classifies an object by its `apiVersion` and `kind`.
pub fn classify(api_version: &str, kind: &str) -> KindClass {
    if let Some(k) = AimKind::lookup(api_version, kind) {
        KindClass::Aim(k)
    } else if api_version.split('/').next() == Some(GROUP) && api_version.contains('/') {
        KindClass::UnknownAim
    } else {
        KindClass::Other
    }
}

/// Whether an `(apiVersion, kind)` is an AIM kind, and if so whether it is namespaced:
/// `None` for anything that is not an AIM kind, `Some(namespaced)` otherwise.
pub fn aim_kind_scope(api_version: &str, kind: &str) -> Option<bool> {
    AimKind::lookup(api_version, kind).map(AimKind::namespaced)
}

/// Every CRD of the API, in the order of the API reference.
pub fn crds() -> Vec<CustomResourceDefinition> {
    AimKind::ALL.into_iter().map(AimKind::crd).collect()
}

/// Every CRD as `(file name, YAML document)`, the file name being
/// `<plural>.aim.eai.amd.com.yaml` as checked in under `crds/`.
pub fn crd_documents() -> Vec<(String, String)> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
            // A CRD is plain data (strings, numbers, maps), which always serialises.
            let text = serde_yaml::to_string(&crd).unwrap_or_default();
            (name, text)
        })
        .collect()
}

/// Every CRD of the API as one YAML stream (`---` before each document), in a stable order.
pub fn crds_yaml() -> String {
    crd_documents()
        .into_iter()
        .map(|(_, text)| format!("---\n{text}"))
        .collect()
}

/// Final touches on a derived CRD so that it reads like a hand-written (controller-gen
/// style) one: optional fields are expressed by leaving them out, not by `nullable`
/// (so `null` in an enum, which Kubernetes would check against the enum, disappears too).
fn finish_crd(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        let Ok(mut value) = serde_json::to_value(&*schema) else {
            continue;
        };
        if let Some(root) = value.as_object_mut() {
            // schemars names the root after the Rust type; the kind says it already.
            root.remove("title");
        }
        tidy_schema(&mut value);
        if let Ok(tidied) = serde_json::from_value(value) {
            *schema = tidied;
        }
    }
    crd
}

fn tidy_schema(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    object.remove("nullable");
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = object.get_mut(key) {
            props.values_mut().for_each(tidy_schema);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = object.get_mut(key) {
            tidy_schema(sub);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(subs)) = object.get_mut(key) {
            subs.iter_mut().for_each(tidy_schema);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_table_matches_the_crds() {
        for kind in AimKind::ALL {
            let crd = kind.crd();
            assert_eq!(crd.spec.names.kind, kind.kind());
            assert_eq!(crd.spec.names.plural, kind.plural());
            assert_eq!(crd.spec.group, GROUP);
            let namespaced = crd.spec.scope == "Namespaced";
            assert_eq!(namespaced, kind.namespaced(), "{}", kind.kind());
            assert_eq!(aim_kind_scope(API_VERSION, kind.kind()), Some(namespaced));
        }
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(API_VERSION, "AIMService"),
            KindClass::Aim(AimKind::Service)
        );
        assert_eq!(classify(API_VERSION, "AIMImage"), KindClass::UnknownAim);
        assert_eq!(
            classify("aim.eai.amd.com/v1", "AIMService"),
            KindClass::UnknownAim
        );
        assert_eq!(classify("v1", "Node"), KindClass::Other);
        assert_eq!(classify("observation.aimctl.dev/v1", "X"), KindClass::Other);
        assert_eq!(aim_kind_scope("v1", "Secret"), None);
        assert_eq!(aim_kind_scope(API_VERSION, "AIMClusterModel"), Some(false));
    }

    #[test]
    fn status_ranks_follow_the_goodness_order() {
        let order = [
            "Running",
            "Ready",
            "Progressing",
            "Starting",
            "Pending",
            "Degraded",
            "NotAvailable",
            "Failed",
        ];
        for pair in order.windows(2) {
            assert!(status_rank(pair[0]) > status_rank(pair[1]));
        }
        assert_eq!(status_rank(""), status_rank("Failed"));
        assert_eq!(status_rank("Bogus"), 0);
    }
}
