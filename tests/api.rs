//! The API types, the generated CRDs under `crds/`, and reading manifests.
//!
//! `crds/` is generated: when `crds_folder_matches_the_types` fails, regenerate with
//! `AIMCTL_UPDATE_CRDS=1 cargo test --test api crds_folder` (or `cargo run -- crds` and
//! split the stream) and commit the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aimctl::api::{self, AimKind};
use aimctl::manifest::{self, Document, ManifestError};
use serde_json::{Value, json};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// crds/
// ---------------------------------------------------------------------------------------

#[test]
fn crds_folder_matches_the_types() {
    let dir = manifest_dir().join("crds");
    let update = std::env::var("AIMCTL_UPDATE_CRDS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, text) in api::crd_documents() {
        let path = dir.join(&name);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if update {
            std::fs::create_dir_all(&dir).expect("create crds/");
            std::fs::write(&path, &text).expect("write CRD file");
        } else {
            stale.push(name);
        }
    }
    // Generated files for kinds that no longer exist.
    let expected: Vec<String> = api::crd_documents().into_iter().map(|(n, _)| n).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".aim.eai.amd.com.yaml") && !expected.contains(&name) {
                if update {
                    std::fs::remove_file(entry.path()).expect("remove stale CRD file");
                } else {
                    stale.push(name);
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "crds/ differs from the API types in src/api for: {stale:?}\n\
         regenerate with: AIMCTL_UPDATE_CRDS=1 cargo test --test api crds_folder"
    );
}

#[test]
fn crds_stream_is_every_document_in_api_order() {
    let stream = api::crds_yaml();
    let docs: Vec<&str> = stream.split("---\n").filter(|d| !d.is_empty()).collect();
    let files = api::crd_documents();
    assert_eq!(docs.len(), files.len());
    for (doc, (_, text)) in docs.iter().zip(&files) {
        assert_eq!(*doc, text.as_str());
    }
    let names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "aimservices",
            "aimmodels",
            "aimclustermodels",
            "aimservicetemplates",
            "aimclusterservicetemplates",
            "aimtemplatecaches",
            "aimartifacts",
            "aimruntimeconfigs",
            "aimclusterruntimeconfigs",
            "aimclustermodelsources",
        ]
        .map(|p| format!("{p}.aim.eai.amd.com.yaml"))
    );
}

fn crd_json(kind: AimKind) -> Value {
    serde_json::to_value(kind.crd()).expect("CRD serialises")
}

#[test]
fn crd_names_scopes_and_subresources() {
    let expected = [
        (AimKind::Service, "Namespaced", "aimsvc"),
        (AimKind::Model, "Namespaced", "aimmdl"),
        (AimKind::ClusterModel, "Cluster", "aimclmdl"),
        (AimKind::ServiceTemplate, "Namespaced", "aimtpl"),
        (AimKind::ClusterServiceTemplate, "Cluster", "aimcltpl"),
        (AimKind::TemplateCache, "Namespaced", "aimtc"),
        (AimKind::Artifact, "Namespaced", "aimart"),
        (AimKind::RuntimeConfig, "Namespaced", "aimrc"),
        (AimKind::ClusterRuntimeConfig, "Cluster", "aimclrc"),
        (AimKind::ClusterModelSource, "Cluster", "aimclsrc"),
    ];
    for (kind, scope, short) in expected {
        let crd = crd_json(kind);
        let spec = &crd["spec"];
        assert_eq!(spec["group"], "aim.eai.amd.com");
        assert_eq!(spec["scope"], scope, "{}", kind.kind());
        assert_eq!(spec["names"]["kind"], kind.kind());
        assert_eq!(spec["names"]["shortNames"], json!([short]));
        assert_eq!(spec["names"]["categories"], json!(["aim", "all"]));
        let versions = spec["versions"].as_array().expect("versions");
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["name"], "v1alpha1");
        assert_eq!(versions[0]["served"], true);
        assert_eq!(versions[0]["storage"], true);
        assert_eq!(versions[0]["subresources"], json!({"status": {}}));
    }
}

/// A printer column: name, JSONPath, type, priority.
type Column = (&'static str, &'static str, &'static str, Option<i64>);

#[test]
fn printer_columns_follow_the_api_reference() {
    let age: Column = ("Age", ".metadata.creationTimestamp", "date", None);
    let model_cols = vec![
        ("Status", ".status.status", "string", None),
        ("Source", ".status.sourceType", "string", None),
        ("Image", ".spec.image", "string", None),
        (
            "Model",
            ".status.imageMetadata.model.canonicalName",
            "string",
            None,
        ),
        age,
    ];
    let template_cols = vec![
        ("Model", ".spec.modelName", "string", None),
        ("Status", ".status.status", "string", None),
        ("Hardware", ".status.hardwareSummary", "string", None),
        ("Metric", ".status.profile.metadata.metric", "string", None),
        (
            "Precision",
            ".status.profile.metadata.precision",
            "string",
            None,
        ),
    ];
    let expected: Vec<(AimKind, Vec<Column>)> = vec![
        (
            AimKind::Service,
            vec![
                ("Status", ".status.status", "string", None),
                ("Model", ".status.resolvedModel.name", "string", None),
                ("Template", ".status.resolvedTemplate.name", "string", None),
                ("Replicas", ".status.runtime.replicas", "string", None),
                age,
            ],
        ),
        (AimKind::Model, model_cols.clone()),
        (AimKind::ClusterModel, model_cols),
        (AimKind::ServiceTemplate, template_cols.clone()),
        (AimKind::ClusterServiceTemplate, template_cols),
        (
            AimKind::TemplateCache,
            vec![
                ("Template", ".spec.templateName", "string", None),
                ("Mode", ".spec.mode", "string", None),
                ("Status", ".status.status", "string", None),
                ("Kind", ".status.resolvedTemplateKind", "string", None),
                age,
            ],
        ),
        (
            AimKind::Artifact,
            vec![
                ("Status", ".status.status", "string", None),
                ("Mode", ".status.mode", "string", None),
                ("Model Size", ".status.displaySize", "string", None),
                (
                    "Progress",
                    ".status.progress.displayPercentage",
                    "string",
                    None,
                ),
                ("Protocol", ".status.download.protocol", "string", Some(1)),
                ("Attempt", ".status.download.attempt", "string", Some(1)),
                age,
            ],
        ),
        (AimKind::RuntimeConfig, vec![]),
        (AimKind::ClusterRuntimeConfig, vec![]),
        (
            AimKind::ClusterModelSource,
            vec![
                ("Status", ".status.status", "string", None),
                ("Models", ".status.discoveredModels", "integer", None),
                ("LastSync", ".status.lastSyncTime", "date", None),
                age,
            ],
        ),
    ];
    for (kind, columns) in expected {
        let crd = crd_json(kind);
        let actual: Vec<(String, String, String, Option<i64>)> =
            crd["spec"]["versions"][0]["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| {
                            (
                                c["name"].as_str().unwrap_or_default().to_string(),
                                c["jsonPath"].as_str().unwrap_or_default().to_string(),
                                c["type"].as_str().unwrap_or_default().to_string(),
                                c["priority"].as_i64(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        let columns: Vec<(String, String, String, Option<i64>)> = columns
            .into_iter()
            .map(|(n, p, t, pr)| (n.into(), p.into(), t.into(), pr))
            .collect();
        assert_eq!(actual, columns, "printer columns of {}", kind.kind());
    }
}

/// Checks the rules Kubernetes applies to CRD schemas ("structural" schemas) that the
/// derive could get wrong.
fn check_structural(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    for key in [
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$ref",
        "nullable",
        "definitions",
    ] {
        if object.contains_key(key) {
            problems.push(format!("{path}: has `{key}`"));
        }
    }
    let typed = object.contains_key("type")
        || object.get("x-kubernetes-int-or-string") == Some(&json!(true))
        || object.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if !typed {
        problems.push(format!("{path}: no type"));
    }
    if let Some(values) = object.get("enum").and_then(Value::as_array)
        && values.iter().any(Value::is_null)
    {
        problems.push(format!("{path}: null in enum"));
    }
    if object.contains_key("properties") && object.contains_key("additionalProperties") {
        problems.push(format!("{path}: properties and additionalProperties"));
    }
    if object.get("x-kubernetes-list-type") == Some(&json!("map")) {
        let keys = object
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let item = &object["items"];
        let required = item["required"].as_array().cloned().unwrap_or_default();
        for key in keys {
            let has_default = item["properties"][key.as_str().unwrap_or_default()]
                .get("default")
                .is_some();
            if !required.contains(&key) && !has_default {
                problems.push(format!(
                    "{path}: list-map key {key} neither required nor defaulted"
                ));
            }
        }
    }
    if let Some(props) = object.get("properties").and_then(Value::as_object) {
        for (key, sub) in props {
            check_structural(sub, &format!("{path}.{key}"), problems);
        }
    }
    if let Some(items) = object.get("items") {
        check_structural(items, &format!("{path}[]"), problems);
    }
    if let Some(additional) = object.get("additionalProperties")
        && additional.is_object()
    {
        check_structural(additional, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn crd_schemas_are_structural() {
    let mut problems = Vec::new();
    for kind in AimKind::ALL {
        check_structural(kind.schema(), kind.kind(), &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every `x-kubernetes-validations` rule message, by schema path.
fn cel_messages(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules {
            out.push((
                path.to_string(),
                rule["message"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, sub) in props {
            cel_messages(sub, &format!("{path}.{key}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        cel_messages(items, &format!("{path}[]"), out);
    }
}

#[test]
fn cel_rules_carry_the_api_messages() {
    const HW: &str = "at least one of gpu or cpu must be specified";
    const GPU: &str = "model and minVram are mutually exclusive; specify either a specific GPU model OR a minimum VRAM requirement, not both";
    let expect: Vec<(AimKind, &str, &str)> = vec![
        (
            AimKind::Service,
            ".spec.model",
            "exactly one of name, image, or custom must be specified",
        ),
        (
            AimKind::Service,
            ".spec.model",
            "model selection is immutable after creation",
        ),
        (
            AimKind::Service,
            ".spec.model.custom",
            "at least one model source must be specified",
        ),
        (AimKind::Service, ".spec.model.custom.hardware", HW),
        (AimKind::Service, ".spec.model.custom.hardware.gpu", GPU),
        (
            AimKind::Service,
            ".spec.template",
            "template selection is immutable after creation",
        ),
        (
            AimKind::Service,
            ".spec.caching",
            "caching mode is immutable after creation",
        ),
        (
            AimKind::Service,
            ".spec.overrides.metric",
            "metric is immutable",
        ),
        (
            AimKind::Service,
            ".spec.overrides.precision",
            "precision is immutable",
        ),
        (
            AimKind::Service,
            ".spec.overrides.hardware",
            "hardware is immutable",
        ),
        (AimKind::Service, ".spec.overrides.hardware", HW),
        (
            AimKind::Model,
            ".spec",
            "when using modelSources, hardware must be specified: set custom.hardware (inherited by all templates) or set hardware on each template individually",
        ),
        (AimKind::Model, ".spec.custom.hardware", HW),
        (AimKind::Model, ".spec.customTemplates[].hardware.gpu", GPU),
        (
            AimKind::ClusterModel,
            ".spec",
            "when using modelSources, hardware must be specified: set custom.hardware (inherited by all templates) or set hardware on each template individually",
        ),
        (
            AimKind::ServiceTemplate,
            ".spec.modelName",
            "model name is immutable",
        ),
        (
            AimKind::ServiceTemplate,
            ".spec.metric",
            "metric is immutable",
        ),
        (
            AimKind::ServiceTemplate,
            ".spec.precision",
            "precision is immutable",
        ),
        (
            AimKind::ServiceTemplate,
            ".spec.hardware",
            "hardware is immutable",
        ),
        (AimKind::ServiceTemplate, ".status.resolvedHardware", HW),
        (
            AimKind::ClusterServiceTemplate,
            ".spec.modelName",
            "model name is immutable",
        ),
        (
            AimKind::ClusterServiceTemplate,
            ".spec.hardware",
            "hardware is immutable",
        ),
        (
            AimKind::Artifact,
            ".spec.sourceUri",
            "sourceUri is immutable",
        ),
    ];
    let mut all: BTreeMap<AimKind, Vec<(String, String)>> = BTreeMap::new();
    for kind in AimKind::ALL {
        let mut found = Vec::new();
        cel_messages(kind.schema(), "", &mut found);
        all.insert(kind, found);
    }
    for (kind, path, message) in expect {
        let found = &all[&kind];
        assert!(
            found.iter().any(|(p, m)| p == path && m == message),
            "{}: no rule `{message}` at {path}; found {found:#?}",
            kind.kind()
        );
    }
}

#[test]
fn schema_defaults_and_bounds() {
    let svc = AimKind::Service.schema();
    let spec = &svc["properties"]["spec"]["properties"];
    assert_eq!(spec["replicas"]["default"], 1);
    assert_eq!(spec["caching"]["properties"]["mode"]["default"], "Shared");
    assert_eq!(
        spec["caching"]["properties"]["mode"]["enum"],
        json!(["Dedicated", "Shared", "Auto", "Always", "Never"])
    );
    assert_eq!(
        spec["template"]["properties"]["allowUnoptimized"]["default"],
        false
    );
    assert_eq!(spec["minReplicas"]["minimum"], 1.0);
    assert_eq!(spec["maxReplicas"]["minimum"], 1.0);
    assert_eq!(
        spec["storage"]["properties"]["pvcHeadroomPercent"]["default"],
        10
    );
    let gateway = &spec["routing"]["properties"]["gatewayRef"];
    assert_eq!(gateway["required"], json!(["name"]));
    assert_eq!(
        gateway["properties"]["group"]["default"],
        "gateway.networking.k8s.io"
    );
    assert_eq!(gateway["properties"]["kind"]["default"], "Gateway");
    assert_eq!(gateway["properties"]["port"]["maximum"], 65535.0);
    let custom = &spec["model"]["properties"]["custom"];
    assert_eq!(
        custom["required"],
        json!(["baseImage", "hardware", "modelSources"])
    );
    assert_eq!(custom["properties"]["modelSources"]["minItems"], 1);
    assert_eq!(custom["properties"]["modelSources"]["maxItems"], 1);
    let source = &custom["properties"]["modelSources"]["items"]["properties"];
    assert_eq!(
        source["modelId"]["pattern"],
        "^[a-zA-Z0-9_-]+/[a-zA-Z0-9._-]+$"
    );
    assert_eq!(source["sourceUri"]["pattern"], "^(hf|s3)://[^ \\t\\r\\n]+$");
    assert_eq!(source["env"]["x-kubernetes-list-type"], "map");
    assert_eq!(source["env"]["x-kubernetes-list-map-keys"], json!(["name"]));
    let gpu = &custom["properties"]["hardware"]["properties"]["gpu"]["properties"];
    assert_eq!(gpu["resourceName"]["default"], "amd.com/gpu");
    assert_eq!(gpu["model"]["maxLength"], 64);
    assert_eq!(gpu["requests"]["minimum"], 0.0);
    let metric = &spec["autoScaling"]["properties"]["metrics"]["items"]["properties"]["podmetric"]
        ["properties"]["metric"]["properties"]["backend"];
    assert_eq!(metric["default"], "opentelemetry");
    let status = &svc["properties"]["status"]["properties"];
    assert_eq!(status["status"]["default"], "Pending");
    assert_eq!(status["conditions"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        status["conditions"]["x-kubernetes-list-map-keys"],
        json!(["type"])
    );

    let model = AimKind::Model.schema();
    let spec = &model["properties"]["spec"]["properties"];
    assert_eq!(spec["image"]["minLength"], 1);
    assert_eq!(
        spec["discovery"]["properties"]["extractMetadata"]["default"],
        true
    );
    assert_eq!(
        spec["discovery"]["properties"]["createServiceTemplates"]["default"],
        true
    );
    assert_eq!(spec["customTemplates"]["maxItems"], 16);
    let tpl = &spec["customTemplates"]["items"]["properties"];
    assert_eq!(tpl["type"]["default"], "unoptimized");
    assert_eq!(tpl["name"]["maxLength"], 63);
    assert_eq!(tpl["env"]["maxItems"], 64);
    assert_eq!(spec["modelSources"]["maxItems"], 1);

    let template = AimKind::ServiceTemplate.schema();
    let spec = &template["properties"]["spec"]["properties"];
    assert_eq!(spec["caching"]["properties"]["enabled"]["default"], false);
    assert_eq!(
        template["properties"]["status"]["properties"]["profile"]["properties"]["engine_args"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(
        AimKind::ClusterServiceTemplate.schema()["properties"]["spec"]["properties"]
            .get("caching")
            .is_none()
    );

    let cache = AimKind::TemplateCache.schema();
    let spec = &cache["properties"]["spec"];
    assert_eq!(spec["properties"]["mode"]["default"], "Shared");
    assert_eq!(spec["required"], json!(["templateName", "templateScope"]));

    let artifact = AimKind::Artifact.schema();
    let spec = &artifact["properties"]["spec"]["properties"];
    assert_eq!(
        spec["modelDownloadImage"]["default"],
        "ghcr.io/silogen/aim-artifact-downloader:0.2.0"
    );
    assert_eq!(spec["sourceUri"]["minLength"], 1);
    let progress = &artifact["properties"]["status"]["properties"]["progress"]["properties"];
    assert_eq!(progress["percentage"]["maximum"], 100.0);

    let runtime = AimKind::ClusterRuntimeConfig.schema();
    let spec = &runtime["properties"]["spec"]["properties"];
    assert_eq!(
        spec["labelPropagation"]["properties"]["enabled"]["default"],
        false
    );
    assert_eq!(
        spec["storage"]["properties"]["pvcHeadroomPercent"]["default"],
        10
    );

    let source = AimKind::ClusterModelSource.schema();
    let spec = &source["properties"]["spec"]["properties"];
    assert_eq!(spec["registry"]["default"], "docker.io");
    assert_eq!(spec["syncInterval"]["default"], "1h");
    assert_eq!(spec["maxModels"]["default"], 100);
    assert_eq!(spec["maxModels"]["minimum"], 1.0);
    assert_eq!(spec["maxModels"]["maximum"], 10000.0);
    assert_eq!(spec["filters"]["minItems"], 1);
    assert_eq!(spec["filters"]["maxItems"], 100);
    assert_eq!(
        spec["filters"]["items"]["properties"]["image"]["maxLength"],
        512
    );
    let status = &source["properties"]["status"]["properties"]["status"];
    assert!(status.get("default").is_none());
    assert_eq!(status["enum"].as_array().map(Vec::len), Some(8));
}

// ---------------------------------------------------------------------------------------
// Fixtures: typed and schema validation
// ---------------------------------------------------------------------------------------

fn schema_errors(kind: AimKind, value: &Value) -> Vec<String> {
    aimctl::api::validation::violations(kind, value)
}

/// Deserialises a document into its type and serialises it back: the result must be the
/// (defaulted) document itself, which also proves serde defaults and CRD defaults agree.
fn round_trip(doc: &Document) -> Result<Value, ManifestError> {
    fn rt<T: serde::de::DeserializeOwned + serde::Serialize>(
        doc: &Document,
    ) -> Result<Value, ManifestError> {
        let typed: T = doc.parse()?;
        Ok(serde_json::to_value(&typed).expect("typed object serialises"))
    }
    match doc.aim_kind().expect("AIM document") {
        AimKind::Service => rt::<api::AIMService>(doc),
        AimKind::Model => rt::<api::AIMModel>(doc),
        AimKind::ClusterModel => rt::<api::AIMClusterModel>(doc),
        AimKind::ServiceTemplate => rt::<api::AIMServiceTemplate>(doc),
        AimKind::ClusterServiceTemplate => rt::<api::AIMClusterServiceTemplate>(doc),
        AimKind::TemplateCache => rt::<api::AIMTemplateCache>(doc),
        AimKind::Artifact => rt::<api::AIMArtifact>(doc),
        AimKind::RuntimeConfig => rt::<api::AIMRuntimeConfig>(doc),
        AimKind::ClusterRuntimeConfig => rt::<api::AIMClusterRuntimeConfig>(doc),
        AimKind::ClusterModelSource => rt::<api::AIMClusterModelSource>(doc),
    }
}

/// Strips what only the typed round trip or the loader adds, for comparison.
fn without_root_keys(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("apiVersion");
        object.remove("kind");
    }
    value
}

#[test]
fn every_fixture_is_valid_against_its_type_and_crd_schema() {
    let dir = manifest_dir().join("tests").join("fixtures");
    if !dir.is_dir() {
        eprintln!("no tests/fixtures folder yet; nothing to check");
        return;
    }
    let docs = manifest::load_paths(&[dir]).unwrap_or_else(|e| panic!("{e}"));
    let mut problems = Vec::new();
    let mut aim_docs = 0;
    for doc in &docs {
        let Some(kind) = doc.aim_kind() else {
            continue;
        };
        aim_docs += 1;
        let at = doc.location();
        match round_trip(doc) {
            Ok(typed) => {
                if without_root_keys(typed.clone()) != without_root_keys(doc.value.clone()) {
                    problems.push(format!(
                        "{at}: typed round trip differs:\n  loaded: {}\n  typed:  {}",
                        doc.value, typed
                    ));
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
        for e in schema_errors(kind, &doc.value) {
            problems.push(format!("{at}: {} schema: {e}", kind.kind()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(aim_docs > 0, "tests/fixtures holds no AIM object");
}

#[test]
fn schema_validation_catches_what_typed_deserialisation_cannot() {
    // The fixture check above is only worth something if the schema rejects bad values.
    let value = json!({
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMService",
        "metadata": {"name": "x"},
        "spec": {
            "model": {"custom": {
                "baseImage": "img",
                "modelSources": [{"modelId": "not a model id", "sourceUri": "ftp://x"}],
                "hardware": {"gpu": {"requests": -1}}
            }},
            "minReplicas": 0
        }
    });
    let errors = schema_errors(AimKind::Service, &value).join("\n");
    for field in ["modelId", "sourceUri", "requests", "minReplicas"] {
        assert!(errors.contains(field), "no error for {field} in:\n{errors}");
    }
}

// ---------------------------------------------------------------------------------------
// Manifest reading: errors
// ---------------------------------------------------------------------------------------

fn load_err(text: &str) -> String {
    match manifest::load_str("examples/x.yaml", text) {
        Ok(docs) => panic!("expected an error, loaded {docs:#?}"),
        Err(e) => e.to_string(),
    }
}

const SERVICE_HEAD: &str = "apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMService
metadata:
  name: svc
spec:
  model:
    image: img:1
";

#[test]
fn unknown_field_names_file_line_and_path() {
    let text = format!("{SERVICE_HEAD}  replicaz: 3\n");
    let err = load_err(&text);
    assert!(
        err.starts_with("examples/x.yaml:8:3: spec.replicaz: unknown field `replicaz`"),
        "{err}"
    );
}

#[test]
fn unknown_enum_value_names_the_field() {
    let text = format!("{SERVICE_HEAD}  caching:\n    mode: Foo\n");
    let err = load_err(&text);
    assert!(
        err.starts_with(
            "examples/x.yaml:9:5: spec.caching.mode: unknown variant `Foo`, expected one of"
        ),
        "{err}"
    );
    assert!(err.contains("`Dedicated`"), "{err}");
}

#[test]
fn wrong_type_names_the_field() {
    let text = format!("{SERVICE_HEAD}  replicas: three\n");
    let err = load_err(&text);
    assert!(
        err.starts_with("examples/x.yaml:8:3: spec.replicas: invalid type: string \"three\""),
        "{err}"
    );
}

#[test]
fn wrong_type_deep_in_a_list() {
    let text = format!(
        "{SERVICE_HEAD}  env:\n    - name: A\n      value: x\n    - name: B\n      value: [1]\n"
    );
    let err = load_err(&text);
    assert!(
        err.starts_with("examples/x.yaml:12:7: spec.env[1].value: invalid type: sequence"),
        "{err}"
    );
}

#[test]
fn missing_required_field_points_at_its_parent() {
    let text = "apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMService
metadata:
  name: svc
spec:
  replicas: 2
";
    let err = load_err(text);
    assert!(
        err.starts_with("examples/x.yaml:5:1: spec: missing field `model`"),
        "{err}"
    );
}

#[test]
fn unparseable_yaml_gives_a_position() {
    let err = load_err("apiVersion: v1\nkind: ConfigMap\ndata: [1, 2\n");
    assert!(err.starts_with("examples/x.yaml:"), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
    let err = load_err("a: 1\n  b: 2\n");
    assert!(err.starts_with("examples/x.yaml:2:"), "{err}");
}

#[test]
fn errors_in_later_documents_use_absolute_lines() {
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\n{SERVICE_HEAD}  caching:\n    mode: Foo\n"
    );
    let err = load_err(&text);
    assert!(
        err.starts_with("examples/x.yaml:14:5: spec.caching.mode:"),
        "{err}"
    );
}

#[test]
fn unknown_aim_kind_and_missing_kind_are_errors() {
    let err =
        load_err("apiVersion: aim.eai.amd.com/v1alpha1\nkind: AIMImage\nmetadata:\n  name: x\n");
    assert!(
        err.starts_with("examples/x.yaml:2:1: kind: unknown kind `AIMImage`"),
        "{err}"
    );
    let err = load_err("apiVersion: aim.eai.amd.com/v1\nkind: AIMService\nmetadata:\n  name: x\n");
    assert!(
        err.contains("unknown kind `AIMService` in `aim.eai.amd.com/v1`"),
        "{err}"
    );
    let err = load_err("apiVersion: v1\nmetadata:\n  name: x\n");
    assert!(
        err.starts_with("examples/x.yaml:1:1: missing field `kind`"),
        "{err}"
    );
    let err = load_err("- a\n- b\n");
    assert!(err.contains("expected a Kubernetes object"), "{err}");
}

#[test]
fn never_panics_on_odd_input() {
    // A deterministic pseudo-random walk over YAML-ish fragments.
    let pieces = [
        "apiVersion: aim.eai.amd.com/v1alpha1\n",
        "kind: AIMService\n",
        "kind: List\n",
        "items:\n",
        "- ",
        "spec:\n",
        "  model:\n",
        "    image: x\n",
        "  ",
        "&a ",
        "*a",
        "<<: ",
        "[",
        "]",
        "{",
        "}",
        ",",
        ": ",
        "\"",
        "'",
        "!!int ",
        "!!str ",
        "!custom ",
        "---\n",
        "...\n",
        "? ",
        "|\n",
        ">-\n",
        "#c\n",
        "\t",
        "\u{feff}",
        "%YAML 1.2\n",
        "1e999",
        ".nan",
        "0x",
        "-",
        "~\n",
        "\n",
        "metadata: {name: n, uid: 1}\n",
        "replicas: 1.5\n",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..(state % 24) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(pieces[(state % pieces.len() as u64) as usize]);
        }
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let _ = manifest::load_str("fuzz.yaml", &text);
    }
}

// ---------------------------------------------------------------------------------------
// Manifest reading: documents, defaults, uids, lists, folders
// ---------------------------------------------------------------------------------------

fn load(text: &str) -> Vec<Document> {
    manifest::load_str("m.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn documents_carry_file_index_and_line() {
    let text = format!(
        "# leading comment\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n---\n---\n{SERVICE_HEAD}"
    );
    let docs = load(&text);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].file, PathBuf::from("m.yaml"));
    assert_eq!((docs[0].index, docs[0].line), (0, 3));
    assert_eq!((docs[1].index, docs[1].line), (2, 9));
    assert_eq!(docs[1].kind(), "AIMService");
    assert_eq!(docs[0].value["metadata"]["name"], "n1");
}

#[test]
fn aim_objects_get_crd_defaults() {
    let text = format!(
        "{SERVICE_HEAD}  caching: {{}}\n  storage: {{}}\n  template: ~\n  routing:\n    gatewayRef:\n      name: gw\n"
    );
    let docs = load(&text);
    let spec = &docs[0].value["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["caching"], json!({"mode": "Shared"}));
    assert_eq!(spec["storage"], json!({"pvcHeadroomPercent": 10}));
    assert!(
        spec.get("template").is_none(),
        "null without default is dropped"
    );
    assert_eq!(
        spec["routing"]["gatewayRef"],
        json!({"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"})
    );
    // Defaults only where the parent exists.
    assert!(spec.get("autoScaling").is_none());
    assert!(docs[0].value.get("status").is_none());
    assert!(spec["model"].get("custom").is_none());

    let docs = load(&format!("{SERVICE_HEAD}status:\n  observedGeneration: 1\n"));
    assert_eq!(docs[0].value["status"]["status"], "Pending");
    assert_eq!(docs[0].value["spec"]["replicas"], 1);

    let docs = load(
        "apiVersion: aim.eai.amd.com/v1alpha1
kind: AIMClusterModelSource
metadata:
  name: src
spec:
  filters:
    - image: amdenterpriseai/aim-*
status: {}
",
    );
    let v = &docs[0].value;
    assert_eq!(v["spec"]["registry"], "docker.io");
    assert_eq!(v["spec"]["syncInterval"], "1h");
    assert_eq!(v["spec"]["maxModels"], 100);
    assert_eq!(
        v["status"],
        json!({}),
        "no default status for model sources"
    );
    assert!(v["metadata"].get("namespace").is_none(), "cluster-scoped");
}

#[test]
fn namespace_and_placeholder_uid() {
    let docs = load(&format!(
        "{SERVICE_HEAD}---\napiVersion: aim.eai.amd.com/v1alpha1\nkind: AIMClusterModel\nmetadata:\n  name: m\n  namespace: ignored\nspec:\n  image: img\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\n  uid: given\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ns\n"
    ));
    let svc = &docs[0].value["metadata"];
    assert_eq!(svc["namespace"], "default");
    assert_eq!(
        svc["uid"].as_str(),
        Some(manifest::placeholder_uid("AIMService", "default", "svc").as_str())
    );
    assert_eq!(
        docs[1].value["metadata"]["uid"].as_str(),
        Some(manifest::placeholder_uid("AIMClusterModel", "", "m").as_str())
    );
    assert!(
        docs[1].value["metadata"].get("namespace").is_none(),
        "cluster-scoped objects have no namespace"
    );
    assert_eq!(docs[2].value["metadata"]["uid"], "given");
    assert_eq!(
        docs[3].value["metadata"]["uid"].as_str(),
        Some(manifest::placeholder_uid("ConfigMap", "ns", "c").as_str())
    );
    // v5 of the documented key, not just any stable string.
    let expected = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"aimctl:AIMService/default/svc");
    assert_eq!(svc["uid"], expected.to_string());
}

#[test]
fn non_aim_documents_are_kept_unvalidated() {
    let docs = load(
        "apiVersion: observation.aimctl.dev/v1
kind: GpuInventory
metadata:
  name: g
whatever:
  - free: form
---
apiVersion: v1
kind: Node
metadata:
  name: n
  labels: {amd.com/gpu.product-name: MI300X}
",
    );
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].value["whatever"], json!([{"free": "form"}]));
    assert!(docs[1].value["metadata"].get("namespace").is_none());
}

#[test]
fn lists_are_flattened_with_item_positions() {
    let text = "apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: s
  - apiVersion: aim.eai.amd.com/v1alpha1
    kind: AIMService
    metadata:
      name: svc
    spec:
      model:
        name: m
";
    let docs = load(text);
    assert_eq!(docs.len(), 2);
    assert_eq!(
        (docs[0].item, docs[0].line, docs[0].column),
        (Some(0), 4, 5)
    );
    assert_eq!((docs[1].item, docs[1].line), (Some(1), 8));
    assert_eq!(docs[1].value["spec"]["replicas"], 1);
    assert_eq!(docs[1].value["metadata"]["namespace"], "default");

    let bad = text.replace("        name: m\n", "        name: m\n      bogus: 1\n");
    let err = load_err(&bad);
    assert!(
        err.starts_with("examples/x.yaml:15:7: items[1].spec.bogus: unknown field `bogus`"),
        "{err}"
    );
}

#[test]
fn folders_are_read_recursively_in_name_order() {
    let root = std::env::temp_dir().join(format!("aimctl-api-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let nested = root.join("b");
    std::fs::create_dir_all(&nested).expect("temp dir");
    let write = |p: &Path, name: &str| {
        std::fs::write(
            p,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"),
        )
        .expect("write");
    };
    write(&root.join("c.yml"), "c");
    write(&root.join("a.yaml"), "a");
    write(&nested.join("b.yaml"), "b");
    write(&root.join("notes.txt"), "ignored");
    let docs = manifest::load_paths(std::slice::from_ref(&root)).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = docs.iter().filter_map(|d| d.name()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(docs[1].file, nested.join("b.yaml"));
    // An explicit file is read whatever its extension; a missing path is an I/O error.
    let docs = manifest::load_paths(&[root.join("notes.txt")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs[0].name(), Some("ignored"));
    let err = manifest::load_paths(&[root.join("missing.yaml")]);
    assert!(matches!(err, Err(ManifestError::Io { .. })));
    let _ = std::fs::remove_dir_all(&root);
}
