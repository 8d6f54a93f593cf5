//! The kinds the operator watches: everything a planner reads. One table, so that a
//! new input is one line and RBAC can be checked against it.

use std::borrow::Cow;

use kube::api::{ApiResource, ObjectMeta};
use kube::core::DynamicResourceScope;
use serde::Deserialize;

use crate::api::{AimKind, GROUP, VERSION};

/// One watched kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Watched {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Kinds the operator writes keep `managedFields` (the steady-state check needs
    /// them); read-only kinds drop them to save memory.
    pub keep_managed_fields: bool,
    /// An input the operator can run without (a third-party API missing from the
    /// cluster, or a kind RBAC does not let it read): a 404 or 403 on the first list
    /// counts as "synced, empty" instead of holding readiness forever.
    pub optional: bool,
}

impl Watched {
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version: self.api_version(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.into()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// What a controller's kube-rs store and queue hold of an object: its identity, typed
/// by its static [`Watched`] entry. With `DynamicObject` every key in the store and
/// every queued reconcile request carried its own copy of the kind's five strings.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub metadata: ObjectMeta,
}

impl kube::Resource for Identity {
    type DynamicType = Watched;
    type Scope = DynamicResourceScope;

    fn kind(w: &Watched) -> Cow<'_, str> {
        w.kind.into()
    }

    fn group(w: &Watched) -> Cow<'_, str> {
        w.group.into()
    }

    fn version(w: &Watched) -> Cow<'_, str> {
        w.version.into()
    }

    fn plural(w: &Watched) -> Cow<'_, str> {
        w.plural.into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

const fn core(kind: &'static str, plural: &'static str, namespaced: bool, keep: bool) -> Watched {
    Watched {
        group: "",
        version: "v1",
        kind,
        plural,
        namespaced,
        keep_managed_fields: keep,
        optional: false,
    }
}

/// Kinds outside the AIM API that some planner reads (service-reconcile.md §3,
/// templates-models-caches.md).
const OTHERS: &[Watched] = &[
    core("Node", "nodes", false, false),
    core("Namespace", "namespaces", false, false),
    core("ConfigMap", "configmaps", true, true),
    core("Secret", "secrets", true, false),
    core(
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        true,
    ),
    core("Pod", "pods", true, false),
    // Observations only: a cluster that denies reading Events still runs, without
    // the conditions derived from them.
    Watched {
        optional: true,
        ..core("Event", "events", true, false)
    },
    Watched {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        namespaced: true,
        keep_managed_fields: true,
        optional: false,
    },
    // The artifact controller's RoleBinding (templates-models-caches.md §4.1).
    Watched {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        namespaced: true,
        keep_managed_fields: true,
        optional: true,
    },
    Watched {
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        namespaced: true,
        keep_managed_fields: false,
        optional: false,
    },
    Watched {
        group: "serving.kserve.io",
        version: "v1beta1",
        kind: "InferenceService",
        plural: "inferenceservices",
        namespaced: true,
        keep_managed_fields: true,
        optional: true,
    },
    Watched {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "HTTPRoute",
        plural: "httproutes",
        namespaced: true,
        keep_managed_fields: true,
        optional: true,
    },
];

/// Every watched kind: the AIM kinds, then the others.
pub fn watched() -> Vec<Watched> {
    let mut all: Vec<Watched> = AimKind::ALL
        .into_iter()
        .map(|k| Watched {
            group: GROUP,
            version: VERSION,
            kind: k.kind(),
            plural: k.plural(),
            namespaced: k.namespaced(),
            keep_managed_fields: true,
            optional: false,
        })
        .collect();
    all.extend_from_slice(OTHERS);
    all
}

/// The watched kind with this apiVersion and kind, if any.
pub fn lookup(api_version: &str, kind: &str) -> Option<Watched> {
    watched()
        .into_iter()
        .find(|w| w.kind == kind && w.api_version() == api_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_resolvable() {
        let all = watched();
        for w in &all {
            assert_eq!(all.iter().filter(|o| o.kind == w.kind).count(), 1);
            assert_eq!(lookup(&w.api_version(), w.kind), Some(*w));
        }
        assert_eq!(
            lookup("v1", "Pod").map(|w| w.api_resource().plural),
            Some("pods".into())
        );
    }
}
