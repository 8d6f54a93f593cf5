//! The kustomize base in `deploy/`: renders with `kubectl kustomize deploy/` and holds
//! what the operator needs to run — and nothing more (no RBAC wildcards, a locked-down
//! pod, every rule file in the rules ConfigMap, every CRD file of `crds/`).
//!
//! These tests need `kubectl` (`KUBECTL` names another binary); without it they fail,
//! they never skip: `.ci/run` installs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_yaml::Value;

const NAMESPACE: &str = "aim-system";

/// The kinds of api.md §1: (kind, plural, namespaced).
const AIM_KINDS: [(&str, &str, bool); 10] = [
    ("AIMService", "aimservices", true),
    ("AIMModel", "aimmodels", true),
    ("AIMClusterModel", "aimclustermodels", false),
    ("AIMServiceTemplate", "aimservicetemplates", true),
    (
        "AIMClusterServiceTemplate",
        "aimclusterservicetemplates",
        false,
    ),
    ("AIMTemplateCache", "aimtemplatecaches", true),
    ("AIMArtifact", "aimartifacts", true),
    ("AIMRuntimeConfig", "aimruntimeconfigs", true),
    ("AIMClusterRuntimeConfig", "aimclusterruntimeconfigs", false),
    ("AIMClusterModelSource", "aimclustermodelsources", false),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize deploy/`, parsed once per test binary.
fn rendered() -> &'static [Value] {
    static RENDERED: OnceLock<Vec<Value>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let output = match Command::new(&kubectl)
            .arg("kustomize")
            .arg(repo().join("deploy"))
            .output()
        {
            Ok(output) => output,
            Err(e) => panic!(
                "cannot run `{kubectl} kustomize deploy/`: {e}. These tests need kubectl on PATH \
                 (or KUBECTL=/path/to/kubectl); .ci/run installs it"
            ),
        };
        assert!(
            output.status.success(),
            "`kubectl kustomize deploy/` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("kustomize output is UTF-8");
        serde_yaml::Deserializer::from_str(&text)
            .map(|doc| Value::deserialize(doc).expect("kustomize output is YAML"))
            .filter(|doc| !doc.is_null())
            .collect()
    })
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn seq<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn strings(value: &Value, path: &[&str]) -> Vec<String> {
    seq(value, path)
        .iter()
        .map(|v| v.as_str().expect("a list of strings").to_owned())
        .collect()
}

fn of_kind(kind: &str) -> Vec<&'static Value> {
    rendered()
        .iter()
        .filter(|doc| str_at(doc, &["kind"]) == Some(kind))
        .collect()
}

fn one(kind: &str, name: &str) -> &'static Value {
    let found: Vec<_> = of_kind(kind)
        .into_iter()
        .filter(|doc| str_at(doc, &["metadata", "name"]) == Some(name))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} {name:?} in the render"
    );
    found[0]
}

/// Files directly in `dir` whose name ends with one of `extensions`, sorted.
fn files_in(dir: &Path, extensions: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| extensions.iter().any(|ext| name.ends_with(ext)))
        .collect();
    names.sort();
    names
}

fn kustomization(dir: &str) -> Value {
    let path = repo().join(dir).join("Kustomization");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn renders_every_expected_object() {
    let namespace = one("Namespace", NAMESPACE);
    assert_eq!(
        str_at(
            namespace,
            &["metadata", "labels", "pod-security.kubernetes.io/enforce"]
        ),
        Some("restricted")
    );

    let crds: BTreeMap<&str, &Value> = of_kind("CustomResourceDefinition")
        .into_iter()
        .map(|crd| {
            (
                str_at(crd, &["metadata", "name"]).expect("a named CRD"),
                crd,
            )
        })
        .collect();
    let expected: BTreeSet<String> = AIM_KINDS
        .iter()
        .map(|(_, plural, _)| format!("{plural}.aim.eai.amd.com"))
        .collect();
    assert_eq!(
        crds.keys().map(|k| k.to_string()).collect::<BTreeSet<_>>(),
        expected,
        "the render must hold exactly the 10 AIM CRDs"
    );
    for (kind, plural, namespaced) in AIM_KINDS {
        let crd = crds[format!("{plural}.aim.eai.amd.com").as_str()];
        assert_eq!(str_at(crd, &["spec", "names", "kind"]), Some(kind));
        let scope = if namespaced { "Namespaced" } else { "Cluster" };
        assert_eq!(
            str_at(crd, &["spec", "scope"]),
            Some(scope),
            "scope of {kind}"
        );
        assert!(
            at(crd, &["metadata", "namespace"]).is_none(),
            "{kind}: a CRD is cluster-scoped"
        );
    }

    one("ServiceAccount", "aimctl");
    one("ClusterRole", "aimctl");
    let binding = one("ClusterRoleBinding", "aimctl");
    assert_eq!(str_at(binding, &["roleRef", "kind"]), Some("ClusterRole"));
    assert_eq!(str_at(binding, &["roleRef", "name"]), Some("aimctl"));
    let subjects = seq(binding, &["subjects"]);
    assert_eq!(subjects.len(), 1);
    assert_eq!(str_at(&subjects[0], &["kind"]), Some("ServiceAccount"));
    assert_eq!(str_at(&subjects[0], &["name"]), Some("aimctl"));
    assert_eq!(str_at(&subjects[0], &["namespace"]), Some(NAMESPACE));
    one("Deployment", "aimctl");
    one("ConfigMap", "aimctl-rules");
    one("Service", "aimctl-metrics");

    for doc in rendered() {
        let kind = str_at(doc, &["kind"]).unwrap_or_default();
        let cluster_scoped = matches!(
            kind,
            "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
        );
        let namespace = str_at(doc, &["metadata", "namespace"]);
        if cluster_scoped {
            assert_eq!(namespace, None, "{kind} is cluster-scoped");
        } else {
            assert_eq!(namespace, Some(NAMESPACE), "{kind} belongs in {NAMESPACE}");
        }
    }
}

#[test]
fn rbac_has_no_wildcards() {
    let mut roles = of_kind("ClusterRole");
    roles.extend(of_kind("Role"));
    assert!(!roles.is_empty());
    for role in roles {
        let name = str_at(role, &["metadata", "name"]).unwrap_or_default();
        assert!(
            at(role, &["aggregationRule"]).is_none(),
            "{name}: no aggregation"
        );
        for rule in seq(role, &["rules"]) {
            for field in [
                "apiGroups",
                "resources",
                "verbs",
                "resourceNames",
                "nonResourceURLs",
            ] {
                for item in strings(rule, &[field]) {
                    assert!(!item.contains('*'), "{name}: wildcard {item:?} in {field}");
                }
            }
            assert!(
                at(rule, &["nonResourceURLs"]).is_none(),
                "{name}: the operator needs no non-resource URLs"
            );
        }
    }
}

/// (group, resource, verb) triples a role grants.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut granted = BTreeSet::new();
    for rule in seq(role, &["rules"]) {
        // A rule limited to names grants `resource[name]`.
        let names = strings(rule, &["resourceNames"]);
        for group in strings(rule, &["apiGroups"]) {
            for resource in strings(rule, &["resources"]) {
                let targets: Vec<String> = if names.is_empty() {
                    vec![resource.clone()]
                } else {
                    names.iter().map(|n| format!("{resource}[{n}]")).collect()
                };
                for target in targets {
                    for verb in strings(rule, &["verbs"]) {
                        granted.insert((group.clone(), target.clone(), verb));
                    }
                }
            }
        }
    }
    granted
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

#[test]
fn cluster_role_grants_what_the_operator_needs() {
    let granted = grants(one("ClusterRole", "aimctl"));
    let mut needed: Vec<(&str, String, &[&str])> = Vec::new();
    for (_, plural, _) in AIM_KINDS {
        needed.push(("aim.eai.amd.com", plural.to_owned(), READ));
        needed.push((
            "aim.eai.amd.com",
            format!("{plural}/status"),
            &["get", "update", "patch"],
        ));
        needed.push((
            "aim.eai.amd.com",
            format!("{plural}/finalizers"),
            &["update"],
        ));
    }
    for plural in [
        "aimmodels",
        "aimclustermodels",
        "aimservicetemplates",
        "aimclusterservicetemplates",
        "aimtemplatecaches",
        "aimartifacts",
    ] {
        needed.push(("aim.eai.amd.com", plural.to_owned(), WRITE));
    }
    needed.push((
        "aim.eai.amd.com",
        "aimservices".into(),
        &["update", "patch"],
    ));
    needed.push(("serving.kserve.io", "inferenceservices".into(), WRITE));
    needed.push(("gateway.networking.k8s.io", "httproutes".into(), WRITE));
    needed.push(("gateway.networking.k8s.io", "gateways".into(), READ));
    needed.push(("autoscaling", "horizontalpodautoscalers".into(), READ));
    needed.push(("", "configmaps".into(), WRITE));
    needed.push(("", "persistentvolumeclaims".into(), WRITE));
    needed.push(("batch", "jobs".into(), WRITE));
    for resource in ["nodes", "namespaces", "secrets", "pods"] {
        needed.push(("", resource.into(), READ));
    }
    needed.push(("", "pods/log".into(), &["get"]));
    // the planner reads Events of InferenceServices and their pods (conditions)
    needed.push(("", "events".into(), READ));
    needed.push(("", "events".into(), &["create", "patch"]));
    needed.push(("events.k8s.io", "events".into(), &["create", "patch"]));
    // The artifact controller's RoleBinding to AIM Engine's status-updater role
    // (watched, never deleted: it has no owner), which needs `bind` on that one
    // ClusterRole.
    needed.push((
        "rbac.authorization.k8s.io",
        "rolebindings".into(),
        &["get", "list", "watch", "create", "update", "patch"],
    ));
    needed.push((
        "rbac.authorization.k8s.io",
        "clusterroles[aim-engine-artifact-status-updater]".into(),
        &["bind"],
    ));

    let mut missing = Vec::new();
    let mut wanted = BTreeSet::new();
    for (group, resource, verbs) in &needed {
        for verb in verbs.iter() {
            let triple = (group.to_string(), resource.clone(), verb.to_string());
            if !granted.contains(&triple) {
                missing.push(format!("{group}/{resource} {verb}"));
            }
            wanted.insert(triple);
        }
    }
    assert!(missing.is_empty(), "the ClusterRole lacks: {missing:?}");
    let extra: Vec<_> = granted.difference(&wanted).collect();
    assert!(
        extra.is_empty(),
        "the ClusterRole grants more than needed: {extra:?}"
    );

    // Read-only where the operator only reads: it never writes secrets, nodes,
    // namespaces, pods, gateways, runtime configs or model sources.
    for (group, resource) in [
        ("", "secrets"),
        ("", "nodes"),
        ("", "namespaces"),
        ("", "pods"),
        ("gateway.networking.k8s.io", "gateways"),
        ("aim.eai.amd.com", "aimruntimeconfigs"),
        ("aim.eai.amd.com", "aimclusterruntimeconfigs"),
        ("aim.eai.amd.com", "aimclustermodelsources"),
    ] {
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            assert!(
                !granted.contains(&(group.into(), resource.into(), verb.into())),
                "{group}/{resource} must stay read-only, but {verb} is granted"
            );
        }
    }
    // Every resource that is read is also listed and watched (reflector caches).
    for (group, resource, verb) in &granted {
        if verb == "get" && !resource.contains('/') {
            for also in ["list", "watch"] {
                assert!(
                    granted.contains(&(group.clone(), resource.clone(), also.into())),
                    "{group}/{resource}: get without {also}"
                );
            }
        }
    }
}

#[test]
fn leader_election_is_limited_to_the_operator_namespace() {
    let role = one("Role", "aimctl-leader-election");
    assert_eq!(
        grants(role),
        ["get", "create", "update", "patch"]
            .into_iter()
            .map(|verb| ("coordination.k8s.io".into(), "leases".into(), verb.into()))
            .collect()
    );
    let binding = one("RoleBinding", "aimctl-leader-election");
    assert_eq!(str_at(binding, &["roleRef", "kind"]), Some("Role"));
    assert_eq!(
        str_at(binding, &["roleRef", "name"]),
        Some("aimctl-leader-election")
    );
    let subjects = seq(binding, &["subjects"]);
    assert_eq!(subjects.len(), 1);
    assert_eq!(str_at(&subjects[0], &["name"]), Some("aimctl"));
    assert_eq!(str_at(&subjects[0], &["namespace"]), Some(NAMESPACE));
}

#[test]
fn deployment_runs_locked_down() {
    let deployment = one("Deployment", "aimctl");
    let pod = at(deployment, &["spec", "template", "spec"]).expect("a pod template");
    assert_eq!(str_at(pod, &["serviceAccountName"]), Some("aimctl"));
    let containers = seq(pod, &["containers"]);
    assert_eq!(containers.len(), 1, "one container");
    let container = &containers[0];

    assert_eq!(
        strings(container, &["args"]),
        [
            "operator",
            "--rules",
            "/etc/aimctl/rules",
            "--rules-configmap",
            "aim-system/aimctl-rules"
        ]
    );

    // The effective security context: the container's field, else the pod's.
    let security = |field: &[&str]| {
        at(container, &[&["securityContext"], field].concat())
            .or_else(|| at(pod, &[&["securityContext"], field].concat()))
            .cloned()
    };
    assert_eq!(security(&["runAsNonRoot"]), Some(Value::Bool(true)));
    assert_eq!(security(&["runAsUser"]), Some(Value::from(65532)));
    assert_eq!(
        security(&["readOnlyRootFilesystem"]),
        Some(Value::Bool(true))
    );
    assert_eq!(
        security(&["allowPrivilegeEscalation"]),
        Some(Value::Bool(false))
    );
    assert_ne!(
        security(&["privileged"]),
        Some(Value::Bool(true)),
        "not privileged"
    );
    assert_eq!(
        security(&["seccompProfile", "type"]),
        Some(Value::from("RuntimeDefault"))
    );
    assert_eq!(
        strings(container, &["securityContext", "capabilities", "drop"]),
        ["ALL"]
    );
    assert!(
        at(container, &["securityContext", "capabilities", "add"]).is_none(),
        "no capability is added"
    );
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        assert_ne!(at(pod, &[field]), Some(&Value::Bool(true)), "{field}");
    }

    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                at(container, &["resources", kind, resource]).is_some(),
                "resources.{kind}.{resource} is set"
            );
        }
    }

    let ports = seq(container, &["ports"]);
    assert_eq!(ports.len(), 1, "one port: health, readiness and metrics");
    assert_eq!(str_at(&ports[0], &["name"]), Some("http"));
    assert_eq!(at(&ports[0], &["containerPort"]), Some(&Value::from(8080)));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(
            str_at(container, &[probe, "httpGet", "path"]),
            Some(path),
            "{probe}"
        );
        assert_eq!(
            str_at(container, &[probe, "httpGet", "port"]),
            Some("http"),
            "{probe}"
        );
    }
    assert!(
        seq(container, &["env"])
            .iter()
            .any(|env| str_at(env, &["name"]) == Some("RUST_LOG")),
        "RUST_LOG is set"
    );

    // The rules ConfigMap is mounted as a folder (subPath mounts never update).
    let mounts = seq(container, &["volumeMounts"]);
    let rules_mount = mounts
        .iter()
        .find(|m| str_at(m, &["mountPath"]) == Some("/etc/aimctl/rules"))
        .expect("a mount at /etc/aimctl/rules");
    assert!(
        at(rules_mount, &["subPath"]).is_none(),
        "no subPath for the rules"
    );
    assert_eq!(at(rules_mount, &["readOnly"]), Some(&Value::Bool(true)));
    let volume_name = str_at(rules_mount, &["name"]).expect("a named mount");
    let volume = seq(pod, &["volumes"])
        .iter()
        .find(|v| str_at(v, &["name"]) == Some(volume_name))
        .expect("the rules volume");
    assert_eq!(str_at(volume, &["configMap", "name"]), Some("aimctl-rules"));
}

#[test]
fn metrics_service_selects_the_operator_pods() {
    let service = one("Service", "aimctl-metrics");
    let ports = seq(service, &["spec", "ports"]);
    assert_eq!(ports.len(), 1);
    assert_eq!(at(&ports[0], &["port"]), Some(&Value::from(8080)));
    assert_eq!(str_at(&ports[0], &["targetPort"]), Some("http"));

    let deployment = one("Deployment", "aimctl");
    let pod_labels = at(deployment, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_mapping)
        .expect("pod labels");
    let selector = at(service, &["spec", "selector"])
        .and_then(Value::as_mapping)
        .expect("a selector");
    assert!(!selector.is_empty());
    for (key, value) in selector {
        assert_eq!(pod_labels.get(key), Some(value), "selector {key:?}");
    }
    let matching = at(deployment, &["spec", "selector", "matchLabels"])
        .and_then(Value::as_mapping)
        .expect("matchLabels");
    for (key, value) in matching {
        assert_eq!(pod_labels.get(key), Some(value), "matchLabels {key:?}");
    }
}

/// The ConfigMap is generated from a list in `rules/Kustomization` (kustomize cannot
/// glob): it must hold every `*.rules` and `*.rhai` file of `rules/`, byte for byte.
#[test]
fn rules_configmap_holds_every_rule_file() {
    let rules_dir = repo().join("rules");
    let on_disk = files_in(&rules_dir, &[".rules", ".rhai"]);

    let config_map = one("ConfigMap", "aimctl-rules");
    assert!(
        at(config_map, &["binaryData"]).is_none(),
        "rule files are text: no binaryData"
    );
    let data = at(config_map, &["data"])
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    let in_config_map: Vec<String> = data
        .keys()
        .map(|k| k.as_str().expect("string keys").to_owned())
        .collect();
    let missing: Vec<_> = on_disk
        .iter()
        .filter(|f| !in_config_map.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "rules/ files missing from the aimctl-rules ConfigMap: {missing:?}; add them to \
         configMapGenerator[0].files in rules/Kustomization"
    );
    let extra: Vec<_> = in_config_map
        .iter()
        .filter(|f| !on_disk.contains(f))
        .collect();
    assert!(
        extra.is_empty(),
        "ConfigMap keys that are no rule file: {extra:?}"
    );
    for name in &on_disk {
        let text = std::fs::read_to_string(rules_dir.join(name)).expect("a UTF-8 rule file");
        assert_eq!(
            data.get(name.as_str()).and_then(Value::as_str),
            Some(text.as_str()),
            "ConfigMap key {name} differs from rules/{name}"
        );
    }

    // A ConfigMap is flat: the pack must be too (the loader reads one folder level).
    for entry in std::fs::read_dir(&rules_dir).expect("rules/") {
        let path: PathBuf = entry.expect("an entry").path();
        if path.is_dir() {
            let nested = files_in(&path, &[".rules", ".rhai"]);
            assert!(
                nested.is_empty(),
                "{}: rule files in a subfolder cannot be shipped in the ConfigMap: {nested:?}",
                path.display()
            );
        }
    }

    let rules_kustomization = kustomization("rules");
    let generators = seq(&rules_kustomization, &["configMapGenerator"]);
    assert_eq!(
        generators.len(),
        1,
        "rules/Kustomization generates one ConfigMap"
    );
    let generator = &generators[0];
    assert_eq!(str_at(generator, &["name"]), Some("aimctl-rules"));
    assert_eq!(
        at(generator, &["options", "disableNameSuffixHash"]),
        Some(&Value::Bool(true)),
        "the operator watches the ConfigMap by name"
    );
}

/// `crds/Kustomization` lists every CRD file that `aimctl crds` writes to `crds/`.
#[test]
fn crds_kustomization_lists_every_crd_file() {
    let on_disk = files_in(&repo().join("crds"), &[".yaml", ".yml"]);
    let mut listed = strings(&kustomization("crds"), &["resources"]);
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "crds/Kustomization `resources` must list exactly the CRD files of crds/"
    );
    let expected: Vec<String> = {
        let mut names: Vec<String> = AIM_KINDS
            .iter()
            .map(|(_, plural, _)| format!("{plural}.aim.eai.amd.com.yaml"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(on_disk, expected, "crds/ holds one file per AIM kind");
}
