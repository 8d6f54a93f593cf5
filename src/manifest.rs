//! Reading Kubernetes manifests (multi-document YAML) into JSON values, with errors
//! that name the file, line, column and field path.
//!
//! Every document becomes a [`Document`]: its `serde_json::Value`, the file it came from,
//! its index in the file and where it starts. `kind: List` documents are flattened into
//! their items. Objects of the AIM API (`aim.eai.amd.com/v1alpha1`) are checked by
//! deserialising them into their Rust type — an unknown field, a wrong type, a missing
//! required field or an unknown enum value is an error pointing at the offending line —
//! and are then defaulted the way the API server would: CRD schema defaults,
//! `metadata.namespace: default` for namespaced kinds, and a stable placeholder
//! `metadata.uid`. Other documents (core kinds, other CRDs) are kept as they are, apart
//! from the placeholder uid.
//!
//! YAML is read with the YAML 1.2 core schema (`yes`/`on` are strings); anchors, aliases
//! and `<<` merge keys are supported; duplicate keys are an error.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::api::{self, AimKind, KindClass};

/// One Kubernetes object read from a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file (or source name) the object was read from.
    pub file: PathBuf,
    /// Index (0-based) of the YAML document in the file.
    pub index: usize,
    /// For an item of a `kind: List` document, its index in `items`.
    pub item: Option<usize>,
    /// Line (1-based, absolute in the file) where the object starts.
    pub line: usize,
    /// Column (1-based) where the object starts.
    pub column: usize,
    /// The object; for AIM kinds, validated and defaulted.
    pub value: Value,
}

impl Document {
    /// `apiVersion` of the object.
    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `kind` of the object.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// `metadata.name` of the object.
    pub fn name(&self) -> Option<&str> {
        self.value.pointer("/metadata/name").and_then(Value::as_str)
    }

    /// `metadata.namespace` of the object.
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }

    /// The AIM kind of the object, if it is one.
    pub fn aim_kind(&self) -> Option<AimKind> {
        AimKind::lookup(self.api_version(), self.kind())
    }

    /// `file:line:column` of the object, for messages.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.display().to_string(),
            line: self.line,
            column: self.column,
        }
    }

    /// Deserialises the object into a typed struct (e.g. `AIMService`, `Secret`), with the
    /// field path in the error.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ManifestError> {
        serde_path_to_error::deserialize(&self.value).map_err(|err| {
            let path = render_path(err.path());
            ManifestError::Invalid {
                location: self.location(),
                field: path,
                message: err.into_inner().to_string(),
            }
        })
    }
}

/// A position in a source file: `file:line:column` (both 1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML, or holds something JSON cannot represent.
    #[error("{location}: {message}")]
    Syntax { location: Location, message: String },
    /// A document is not a valid object: unknown field, wrong type, missing field,
    /// unknown enum value, unknown AIM kind...
    #[error("{location}: {}{message}", field_prefix(field))]
    Invalid {
        location: Location,
        /// Path of the offending field, e.g. `spec.caching.mode` (empty for the object).
        field: String,
        message: String,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl ManifestError {
    /// Where the problem is, when it is inside a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ManifestError::Io { .. } => None,
            ManifestError::Syntax { location, .. } | ManifestError::Invalid { location, .. } => {
                Some(location)
            }
        }
    }
}

/// Reads files and folders (folders recursively, `*.yaml` / `*.yml`, in name order) and
/// returns their objects in order. A file named explicitly is read whatever its extension.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Document>, ManifestError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, true, &mut files, &mut HashSet::new())?;
    }
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Io {
            path: file.clone(),
            source,
        })?;
        documents.extend(load_file_text(&file, &text)?);
    }
    Ok(documents)
}

/// Reads the objects of one YAML text; `source_name` is used as the file in documents
/// and errors.
pub fn load_str(source_name: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    load_file_text(Path::new(source_name), text)
}

fn collect_files(
    path: &Path,
    explicit: bool,
    out: &mut Vec<PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if metadata.is_dir() {
        // Symbolic links may form cycles: read every folder once.
        let canonical = std::fs::canonicalize(path).map_err(io)?;
        if !visited.insert(canonical) {
            return Ok(());
        }
        let mut entries = std::fs::read_dir(path)
            .map_err(io)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        entries.sort();
        for entry in entries {
            collect_files(&entry, false, out, visited)?;
        }
    } else if explicit || is_yaml_file(path) {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn is_yaml_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn load_file_text(file: &Path, text: &str) -> Result<Vec<Document>, ManifestError> {
    let source = file.display().to_string();
    let parsed = parse_yaml_stream(text).map_err(|err| err.into_manifest_error(&source))?;
    let mut documents = Vec::new();
    for (index, doc) in parsed.into_iter().enumerate() {
        let ctx = DocContext {
            file,
            source: &source,
            index,
            positions: &doc.positions,
        };
        if doc.value.is_null() {
            continue; // an empty document (e.g. a trailing `---`)
        }
        if is_list(&doc.value) {
            let Value::Object(mut list) = doc.value else {
                continue;
            };
            let Some(Value::Array(items)) = list.remove("items") else {
                return Err(ctx.invalid(&[], "items", "a List needs an `items` array".into()));
            };
            for (i, item) in items.into_iter().enumerate() {
                let prefix = [Seg::Key("items".into()), Seg::Index(i)];
                documents.push(ctx.object(item, &prefix, Some(i))?);
            }
        } else {
            documents.push(ctx.object(doc.value, &[], None)?);
        }
    }
    Ok(documents)
}

fn is_list(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("List")
        && value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v == "v1" || v.is_empty())
}

/// Everything needed to turn one YAML document into [`Document`]s.
struct DocContext<'a> {
    file: &'a Path,
    source: &'a str,
    index: usize,
    positions: &'a Positions,
}

impl DocContext<'_> {
    fn location(&self, path: &[Seg]) -> Location {
        let pos = self.positions.find(path);
        Location {
            file: self.source.to_string(),
            line: pos.line,
            column: pos.column,
        }
    }

    fn invalid(&self, at: &[Seg], field: &str, message: String) -> ManifestError {
        ManifestError::Invalid {
            location: self.location(at),
            field: field.to_string(),
            message,
        }
    }

    /// Checks, validates and defaults one object found at `prefix` in the document.
    fn object(
        &self,
        mut value: Value,
        prefix: &[Seg],
        item: Option<usize>,
    ) -> Result<Document, ManifestError> {
        let start = self.positions.find(prefix);
        let here = |rest: &[Seg]| [prefix, rest].concat();
        let field = |key: &str| render_segments(&here(&[Seg::Key(key.into())]));
        let Some(object) = value.as_object() else {
            return Err(self.invalid(
                prefix,
                &render_segments(prefix),
                format!(
                    "expected a Kubernetes object (a mapping), found {}",
                    json_type(&value)
                ),
            ));
        };
        let text_field = |key: &str| match object.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None => Err(self.invalid(
                prefix,
                &render_segments(prefix),
                format!("missing field `{key}`"),
            )),
            Some(other) => Err(self.invalid(
                &here(&[Seg::Key(key.into())]),
                &field(key),
                format!("invalid type: {}, expected a string", json_type(other)),
            )),
        };
        let api_version = text_field("apiVersion")?;
        let kind = text_field("kind")?;
        let aim_kind = match api::classify(&api_version, &kind) {
            KindClass::Aim(aim_kind) => Some(aim_kind),
            KindClass::UnknownAim => {
                let known: Vec<&str> = AimKind::ALL.iter().map(|k| k.kind()).collect();
                return Err(self.invalid(
                    &here(&[Seg::Key("kind".into())]),
                    &field("kind"),
                    format!(
                        "unknown kind `{kind}` in `{api_version}`; the API `{}` serves {}",
                        api::API_VERSION,
                        known.join(", ")
                    ),
                ));
            }
            KindClass::Other => None,
        };
        if let Some(aim_kind) = aim_kind {
            validate_typed(aim_kind, &value).map_err(|(path, message)| {
                let at = here(&path);
                let rendered = render_segments(&at);
                ManifestError::Invalid {
                    location: self.location(&at),
                    field: rendered,
                    message,
                }
            })?;
            default_object(aim_kind, &mut value);
        } else {
            set_placeholder_uid(&mut value, &kind);
        }
        Ok(Document {
            file: self.file.to_path_buf(),
            index: self.index,
            item,
            line: start.line,
            column: start.column,
            value,
        })
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

// ---------------------------------------------------------------------------------------
// Typed validation
// ---------------------------------------------------------------------------------------

/// Deserialises an AIM object into its Rust type; on failure returns the path of the
/// offending field and the reason.
fn validate_typed(kind: AimKind, value: &Value) -> Result<(), (Vec<Seg>, String)> {
    fn check<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), (Vec<Seg>, String)> {
        serde_path_to_error::deserialize::<_, T>(value)
            .map(drop)
            .map_err(|err| (segments(err.path()), err.into_inner().to_string()))
    }
    match kind {
        AimKind::Service => check::<api::AIMService>(value),
        AimKind::Model => check::<api::AIMModel>(value),
        AimKind::ClusterModel => check::<api::AIMClusterModel>(value),
        AimKind::ServiceTemplate => check::<api::AIMServiceTemplate>(value),
        AimKind::ClusterServiceTemplate => check::<api::AIMClusterServiceTemplate>(value),
        AimKind::TemplateCache => check::<api::AIMTemplateCache>(value),
        AimKind::Artifact => check::<api::AIMArtifact>(value),
        AimKind::RuntimeConfig => check::<api::AIMRuntimeConfig>(value),
        AimKind::ClusterRuntimeConfig => check::<api::AIMClusterRuntimeConfig>(value),
        AimKind::ClusterModelSource => check::<api::AIMClusterModelSource>(value),
    }
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Seg> {
    path.iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect()
}

fn render_path(path: &serde_path_to_error::Path) -> String {
    render_segments(&segments(path))
}

/// `spec.env[2].name` style.
fn render_segments(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------------------

/// Applies to an AIM object what the API server would on create: the CRD schema's
/// defaults (a missing property whose parent exists gets its default; a `null` for a
/// property gets its default or is dropped), `metadata.namespace: default` for namespaced
/// kinds (and no namespace for cluster-scoped ones), and a placeholder `metadata.uid`
/// (see [`placeholder_uid`]).
pub fn default_object(kind: AimKind, value: &mut Value) {
    apply_schema_defaults(value, kind.schema());
    if let Some(metadata) = metadata_mut(value) {
        if kind.namespaced() {
            let missing = metadata
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if missing {
                metadata.insert("namespace".into(), Value::from("default"));
            }
        } else {
            metadata.remove("namespace");
        }
    }
    set_placeholder_uid(value, kind.kind());
}

fn metadata_mut(value: &mut Value) -> Option<&mut Map<String, Value>> {
    value.get_mut("metadata")?.as_object_mut()
}

/// Sets `metadata.uid` when it is missing (objects without `metadata` are left alone).
fn set_placeholder_uid(value: &mut Value, kind: &str) {
    let Some(metadata) = metadata_mut(value) else {
        return;
    };
    if metadata
        .get("uid")
        .and_then(Value::as_str)
        .is_some_and(|u| !u.is_empty())
    {
        return;
    }
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    metadata.insert(
        "uid".into(),
        Value::from(placeholder_uid(kind, &namespace, &name)),
    );
}

/// The uid given to objects read from files that have none: the UUID v5 (URL namespace)
/// of `aimctl:<kind>/<namespace>/<name>` (namespace empty for cluster-scoped objects), so
/// that the same object gets the same uid on every run.
pub fn placeholder_uid(kind: &str, namespace: &str, name: &str) -> String {
    let key = format!("aimctl:{kind}/{namespace}/{name}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string()
}

/// Applies the `default`s of an openAPI v3 (structural) schema to `value`, as the API
/// server does: for every object, each missing property with a default gets it (and
/// defaults inside it); `null` for a property is replaced by its default or dropped;
/// then properties, `additionalProperties` and `items` are walked.
pub fn apply_schema_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (key, property) in properties {
                    let missing = object.get(key).is_none_or(Value::is_null);
                    if missing {
                        match property.get("default") {
                            Some(default) => {
                                object.insert(key.clone(), default.clone());
                            }
                            None => {
                                object.remove(key);
                            }
                        }
                    }
                }
                for (key, child) in object.iter_mut() {
                    if let Some(property) = properties.get(key) {
                        apply_schema_defaults(child, property);
                    }
                }
            } else if let Some(additional) = schema.get("additionalProperties")
                && additional.is_object()
            {
                for child in object.values_mut() {
                    apply_schema_defaults(child, additional);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_schema_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// YAML → JSON with positions
// ---------------------------------------------------------------------------------------

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// Where the nodes of one document are: for a mapping entry the position of its key, for
/// a sequence item the position of the item, for the root the root node.
#[derive(Debug, Default)]
struct Positions {
    nodes: HashMap<Vec<Seg>, Pos>,
    root: Pos,
}

impl Positions {
    /// The position of `path`, or of its nearest recorded ancestor.
    fn find(&self, path: &[Seg]) -> Pos {
        (0..=path.len())
            .rev()
            .find_map(|n| self.nodes.get(&path[..n]).copied())
            .unwrap_or(self.root)
    }
}

struct ParsedDoc {
    value: Value,
    positions: Positions,
}

/// An error while reading YAML, before the file name is known.
struct YamlError {
    pos: Pos,
    message: String,
}

impl YamlError {
    fn at(span: &Span, message: impl Into<String>) -> Self {
        YamlError {
            pos: Pos::of(span),
            message: message.into(),
        }
    }

    fn into_manifest_error(self, source: &str) -> ManifestError {
        ManifestError::Syntax {
            location: Location {
                file: source.to_string(),
                line: self.pos.line,
                column: self.pos.column,
            },
            message: self.message,
        }
    }
}

impl From<ScanError> for YamlError {
    fn from(err: ScanError) -> Self {
        let mark = err.marker();
        YamlError {
            pos: Pos {
                line: mark.line().max(1),
                column: mark.col() + 1,
            },
            message: format!("invalid YAML: {}", err.info()),
        }
    }
}

/// Largest number of values one file may expand to (guards against alias bombs).
const MAX_NODES: usize = 2_000_000;
/// Deepest nesting accepted (guards against stack exhaustion through alias chains).
const MAX_DEPTH: usize = 256;

/// A value being built, with its size and depth for the limits.
struct Built {
    value: Value,
    nodes: usize,
    depth: usize,
}

struct Builder<'a> {
    events: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, (Value, usize, usize)>,
    positions: Positions,
    nodes: usize,
    last_span: Span,
}

fn parse_yaml_stream(text: &str) -> Result<Vec<ParsedDoc>, YamlError> {
    let mut builder = Builder {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        positions: Positions::default(),
        nodes: 0,
        last_span: Span::default(),
    };
    let mut docs = Vec::new();
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart => {}
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                builder.anchors.clear();
                builder.positions = Positions::default();
                let (event, span) = builder.next()?;
                let root = Pos::of(&span);
                let built = builder.node(event, span, &mut Vec::new(), 0)?;
                let (event, span) = builder.next()?;
                if !matches!(event, Event::DocumentEnd) {
                    return Err(YamlError::at(
                        &span,
                        "invalid YAML: expected the end of the document",
                    ));
                }
                let mut positions = std::mem::take(&mut builder.positions);
                positions.root = root;
                docs.push(ParsedDoc {
                    value: built.value,
                    positions,
                });
            }
            _ => return Err(YamlError::at(&span, "invalid YAML: unexpected event")),
        }
    }
    Ok(docs)
}

impl<'a> Builder<'a> {
    /// The next event that is not a comment (or other presentation detail).
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        loop {
            match self.events.next() {
                None => {
                    return Err(YamlError::at(
                        &self.last_span,
                        "invalid YAML: unexpected end of input",
                    ));
                }
                Some(Err(err)) => return Err(err.into()),
                Some(Ok((event, span))) => {
                    self.last_span = span;
                    match event {
                        Event::Comment(..) | Event::Anchor(..) => continue,
                        other => return Ok((other, span)),
                    }
                }
            }
        }
    }

    fn count(&mut self, span: &Span, nodes: usize, depth: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(YamlError::at(
                span,
                "document too large (too many values after expanding aliases)",
            ));
        }
        if depth > MAX_DEPTH {
            return Err(YamlError::at(span, "document nested too deeply"));
        }
        Ok(())
    }

    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> Result<Built, YamlError> {
        let (built, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|m| YamlError::at(&span, m))?;
                (
                    Built {
                        value,
                        nodes: 1,
                        depth: 1,
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let Some((value, nodes, alias_depth)) = self.anchors.get(&id) else {
                    return Err(YamlError::at(&span, "invalid YAML: unknown anchor"));
                };
                let built = Built {
                    value: value.clone(),
                    nodes: *nodes,
                    depth: *alias_depth,
                };
                self.count(&span, built.nodes, depth + built.depth)?;
                return Ok(built);
            }
            Event::SequenceStart(_, anchor, _) => (self.sequence(path, depth)?, anchor),
            Event::MappingStart(_, anchor, _) => (self.mapping(&span, path, depth)?, anchor),
            _ => return Err(YamlError::at(&span, "invalid YAML: expected a value")),
        };
        self.count(&span, 1, depth + built.depth)?;
        if anchor != 0 {
            self.anchors
                .insert(anchor, (built.value.clone(), built.nodes, built.depth));
        }
        Ok(built)
    }

    fn sequence(&mut self, path: &mut Vec<Seg>, depth: usize) -> Result<Built, YamlError> {
        let mut items = Vec::new();
        let mut nodes = 1;
        let mut max_depth = 0;
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                break;
            }
            path.push(Seg::Index(items.len()));
            self.positions.nodes.insert(path.clone(), Pos::of(&span));
            let built = self.node(event, span, path, depth + 1)?;
            path.pop();
            nodes += built.nodes;
            max_depth = max_depth.max(built.depth);
            items.push(built.value);
        }
        Ok(Built {
            value: Value::Array(items),
            nodes,
            depth: max_depth + 1,
        })
    }

    fn mapping(
        &mut self,
        start: &Span,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> Result<Built, YamlError> {
        let mut object = Map::new();
        let mut merged: Vec<Map<String, Value>> = Vec::new();
        let mut nodes = 1;
        let mut max_depth = 0;
        loop {
            let (event, key_span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let is_merge =
                matches!(&event, Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<");
            let key = match event {
                Event::Scalar(text, ..) => text.into_owned(),
                Event::Alias(id) => match self.anchors.get(&id) {
                    Some((Value::String(s), ..)) => s.clone(),
                    Some((Value::Number(n), ..)) => n.to_string(),
                    Some((Value::Bool(b), ..)) => b.to_string(),
                    _ => {
                        return Err(YamlError::at(
                            &key_span,
                            "mapping keys must be strings, numbers or booleans",
                        ));
                    }
                },
                _ => {
                    return Err(YamlError::at(
                        &key_span,
                        "mapping keys must be strings, numbers or booleans",
                    ));
                }
            };
            let (event, value_span) = self.next()?;
            if is_merge {
                let built = self.node(event, value_span, path, depth + 1)?;
                nodes += built.nodes;
                max_depth = max_depth.max(built.depth);
                match built.value {
                    Value::Object(map) => merged.push(map),
                    Value::Array(maps) => {
                        for map in maps {
                            match map {
                                Value::Object(map) => merged.push(map),
                                _ => {
                                    return Err(YamlError::at(
                                        &value_span,
                                        "a `<<` merge takes a mapping or a list of mappings",
                                    ));
                                }
                            }
                        }
                    }
                    _ => {
                        return Err(YamlError::at(
                            &value_span,
                            "a `<<` merge takes a mapping or a list of mappings",
                        ));
                    }
                }
                continue;
            }
            if object.contains_key(&key) {
                return Err(YamlError::at(&key_span, format!("duplicate key `{key}`")));
            }
            path.push(Seg::Key(key.clone()));
            self.positions
                .nodes
                .insert(path.clone(), Pos::of(&key_span));
            let built = self.node(event, value_span, path, depth + 1)?;
            path.pop();
            nodes += built.nodes;
            max_depth = max_depth.max(built.depth);
            object.insert(key, built.value);
        }
        // Explicit keys win over merged ones; earlier merge sources win over later ones.
        for map in merged {
            for (key, value) in map {
                if !object.contains_key(&key) {
                    path.push(Seg::Key(key.clone()));
                    self.positions
                        .nodes
                        .entry(path.clone())
                        .or_insert(Pos::of(start));
                    path.pop();
                    object.insert(key, value);
                }
            }
        }
        Ok(Built {
            value: Value::Object(object),
            nodes,
            depth: max_depth + 1,
        })
    }
}

/// Resolves a scalar with the YAML 1.2 core schema (explicit core tags honoured, other
/// tags ignored); quoted and block scalars are strings.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let core = tag.and_then(Tag::core_suffix);
    match core {
        Some("str") => return Ok(Value::String(text.to_string())),
        Some("null") => return Ok(Value::Null),
        Some("bool") => {
            return parse_bool(text)
                .map(Value::Bool)
                .ok_or_else(|| format!("invalid !!bool `{text}`"));
        }
        Some("int") => return parse_int(text).ok_or_else(|| format!("invalid !!int `{text}`")),
        Some("float") => {
            return parse_float(text)
                .or_else(|| parse_int(text))
                .ok_or_else(|| format!("invalid !!float `{text}`"))
                .and_then(finite);
        }
        Some(_) => return Err(format!("a `{text}` scalar cannot carry a collection tag")),
        None => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = parse_bool(text) {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = parse_int(text) {
        return Ok(n);
    }
    if let Some(f) = parse_float(text) {
        return finite(f);
    }
    Ok(Value::String(text.to_string()))
}

fn finite(value: Value) -> Result<Value, String> {
    match value {
        Value::String(s) => Err(format!(
            "`{s}` (infinity or NaN) cannot be represented in JSON"
        )),
        other => Ok(other),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(text: &str) -> Option<Value> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = text.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok();
    let number = match (negative, magnitude) {
        (false, Some(m)) => u64::try_from(m).ok().map(Number::from),
        (true, Some(m)) => i64::try_from(m).ok().map(|m| Number::from(-m)),
        _ => None,
    };
    match number {
        Some(n) => Some(Value::Number(n)),
        // Too large for 64 bits: keep the magnitude as a float, as YAML parsers do.
        None if radix == 10 => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        None => None,
    }
}

/// A float per the core schema; infinities and NaN come back as strings (for `finite`).
fn parse_float(text: &str) -> Option<Value> {
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['-', '+']);
    if unsigned == ".inf" || lower == ".nan" {
        return Some(Value::String(text.to_string()));
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() && digits_ok(frac))
                || (digits_ok(int) && (frac.is_empty() || digits_ok(frac)))
        }
        None => digits_ok(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits_ok(e.strip_prefix(['-', '+']).unwrap_or(e)));
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(text: &str) -> Vec<Value> {
        parse_yaml_stream(text)
            .unwrap_or_else(|e| panic!("{}", e.message))
            .into_iter()
            .map(|d| d.value)
            .collect()
    }

    #[test]
    fn core_schema_scalars() {
        let v = values(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: yes\nh: 0x1F\ni: 1e3\nj: \"x\"\nk: 12Gi\nl:\n",
        );
        assert_eq!(
            v[0],
            json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1", "g": "yes",
                   "h": 31, "i": 1000.0, "j": "x", "k": "12Gi", "l": null})
        );
    }

    #[test]
    fn tags_anchors_and_merge_keys() {
        let v = values(
            "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\ns: !!str 10\nn: !!int \"7\"\nlist: [*b]\n",
        );
        assert_eq!(
            v[0],
            json!({"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "s": "10", "n": 7,
                   "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn several_documents_and_positions() {
        let docs = parse_yaml_stream("a: 1\n---\n# c\nb:\n  c: [1, 2]\n---\n")
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].value, json!({"b": {"c": [1, 2]}}));
        let pos = docs[1]
            .positions
            .find(&[Seg::Key("b".into()), Seg::Key("c".into())]);
        assert_eq!((pos.line, pos.column), (5, 3));
        assert!(docs[2].value.is_null());
    }

    #[test]
    fn rejects_duplicates_non_finite_and_bombs() {
        assert!(parse_yaml_stream("a: 1\na: 2\n").is_err());
        assert!(parse_yaml_stream("a: .inf\n").is_err());
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse_yaml_stream(&bomb).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("too large")));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        assert!(parse_yaml_stream(&"[".repeat(100_000)).is_err());
        let mut chain = String::from("a0: &a0 [x]\n");
        for i in 1..400 {
            chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        let err = parse_yaml_stream(&chain).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("nested too deeply")));
    }

    #[test]
    fn placeholder_uid_is_stable_v5() {
        let a = placeholder_uid("AIMService", "default", "x");
        assert_eq!(a, placeholder_uid("AIMService", "default", "x"));
        assert_ne!(a, placeholder_uid("AIMService", "other", "x"));
        let parsed = uuid::Uuid::parse_str(&a).ok();
        assert_eq!(parsed.map(|u| u.get_version_num()), Some(5));
    }
}
