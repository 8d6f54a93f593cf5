//! Deterministic names of produced objects (outputs.md §1) and the label-key glob of
//! label propagation (outputs.md §2.2).
//!
//! Every name the operator writes must be byte-identical to AIM Engine's so that an
//! operator swap adopts the existing objects instead of duplicating them; hence the
//! Go-compatible sanitisers, the Go `encoding/json` hash-input encoding and the exact
//! truncation order. All functions are pure and never panic.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Longest Kubernetes object name / label value.
pub const MAX_NAME_LEN: usize = 63;
/// Hash length used when a row of the name table does not say otherwise.
pub const DEFAULT_HASH_LEN: usize = 8;
/// A SHA-256 digest has 64 hex characters; longer hashes cannot exist.
const MAX_HASH_LEN: usize = 64;

/// Why a name could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NamingError {
    /// A derived name needs at least one part.
    #[error("nameParts cannot be empty")]
    EmptyParts,
    /// The maximum length must be 1..=63.
    #[error("maxLength must be between 1 and 63, got {0}")]
    MaxLength(usize),
    /// A SHA-256 hex digest has only 64 characters.
    #[error("hash length must be at most 64, got {0}")]
    HashLength(usize),
    /// Sanitising removed every character.
    #[error("label value is empty after sanitization")]
    EmptyLabelValue,
    /// KServe derives `<isvc>-predictor-<namespace>` as a DNS label; it would not fit.
    #[error(
        "namespace {} is too long ({len} chars); InferenceService hostname would exceed 63 characters",
        go_quote(namespace)
    )]
    NamespaceTooLong { namespace: String, len: usize },
    /// The image reference cannot be split into registry / name / tag (§1.5).
    #[error("{0}")]
    InvalidImage(#[from] ImageError),
}

/// Image-reference parse failures (outputs.md §1.5); surfaced as `InvalidImageReference`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    #[error("image reference is empty")]
    Empty,
    #[error("malformed digest reference: {0}")]
    EmptyDigest(String),
    #[error("malformed digest (missing colon): {0}")]
    DigestWithoutColon(String),
    #[error("malformed digest (no hash after colon): {0}")]
    DigestWithoutHash(String),
    #[error("malformed tag reference (empty tag): {0}")]
    EmptyTag(String),
    #[error("registry is empty after sanitization")]
    EmptyRegistry,
    #[error("image name is empty after sanitization")]
    EmptyName,
    #[error("image tag is empty after sanitization")]
    EmptyImageTag,
}

// ---------------------------------------------------------------------------------
// Sanitisers (§1.1)
// ---------------------------------------------------------------------------------

/// Go's `unicode.ToLower` is a simple (one-rune) mapping; the first rune of Rust's full
/// mapping equals it (the only multi-rune lower-case mapping is U+0130 → `i` + dot).
fn go_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `unicode.ToUpper` is a simple mapping: characters whose full upper-case form has
/// several runes (`ß`, ligatures) stay unchanged there.
pub(crate) fn go_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// `strings.ToLower` equivalent (see [`go_lower`]).
pub(crate) fn go_lower_str(s: &str) -> String {
    s.chars().map(go_lower).collect()
}

/// `strings.ToUpper` equivalent (see [`go_upper`]).
pub(crate) fn go_upper_str(s: &str) -> String {
    s.chars().map(go_upper).collect()
}

/// Trim `set` characters from the end, like Go's `strings.TrimRight`.
fn trim_end_set(s: &mut String, set: &[char]) {
    let keep = s.trim_end_matches(set).len();
    s.truncate(keep);
}

/// Cut an ASCII-only string to `max` bytes (sanitiser output is always ASCII).
fn cut_ascii(s: &mut String, max: usize) {
    if s.len() > max && s.is_char_boundary(max) {
        s.truncate(max);
    }
}

/// RFC 1123 label sanitiser used for every derived-name part: runs are deliberately
/// not collapsed, so `hf://a` keeps its three dashes exactly like the reference.
pub fn dns1123(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(go_lower)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut out = mapped.trim_matches('-').to_string();
    cut_ascii(&mut out, MAX_NAME_LEN);
    trim_end_set(&mut out, &['-']);
    out
}

/// Image-part sanitiser: unlike [`dns1123`] it collapses dash runs (`0.1.10` → `0-1-10`).
pub fn component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(go_lower) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_string()
}

/// Label-value sanitiser; an empty result is an error so callers can omit the label
/// ([rec]) instead of writing `""`.
pub fn label_value(s: &str) -> Result<String, NamingError> {
    const TRIM: &[char] = &['_', '.', '-'];
    let mapped = collapse_label_runs(s);
    let mut out = mapped.trim_matches(TRIM).to_string();
    if out.len() > MAX_NAME_LEN {
        cut_ascii(&mut out, MAX_NAME_LEN);
        trim_end_set(&mut out, TRIM);
    }
    if out.is_empty() {
        return Err(NamingError::EmptyLabelValue);
    }
    Ok(out)
}

/// Each run of characters outside `[a-z0-9._-]` (after lower-casing) becomes one `_`.
fn collapse_label_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars().map(go_lower) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// Go `%q`-style quoting for the namespace error message (names are ASCII in practice;
/// other characters pass through).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------
// Hash-input encoding (§1.3)
// ---------------------------------------------------------------------------------

/// One hash input, encoded exactly as Go's `encoding/json` encodes the reference's
/// value of the same shape.
#[derive(Debug, Clone, PartialEq)]
pub enum HashInput {
    /// A Go string.
    Str(String),
    /// A Go integer (e.g. the GPU count of a derived template).
    Int(i64),
    /// An absent list or pointer.
    Null,
    /// A `[]corev1.EnvVar` given as a JSON array of EnvVar objects; JSON `null` (or any
    /// non-array) is the nil slice and encodes as `null`, an empty array as `[]`.
    Env(Value),
    /// A `map[string]string`, flattened to `[k1,v1,k2,v2,…]` with sorted keys.
    StrMap(BTreeMap<String, String>),
}

impl From<&str> for HashInput {
    fn from(s: &str) -> Self {
        HashInput::Str(s.to_string())
    }
}

impl From<String> for HashInput {
    fn from(s: String) -> Self {
        HashInput::Str(s)
    }
}

impl From<i64> for HashInput {
    fn from(n: i64) -> Self {
        HashInput::Int(n)
    }
}

impl From<i32> for HashInput {
    fn from(n: i32) -> Self {
        HashInput::Int(i64::from(n))
    }
}

/// Append `s` as a Go JSON string literal: Go ≥ 1.22 escapes `\b`/`\f` by name, other
/// control characters as `\u00xx`, and HTML-sensitive characters as `\u003c` etc.
fn push_go_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The string at `key`, or "" (Go's zero value) when absent or not a string.
fn str_field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Writes a Go struct as JSON: fields in declaration order, `,`-separated.
struct GoObject<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> GoObject<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        GoObject { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_go_string(self.out, key);
        self.out.push(':');
        self.out
    }

    /// A `string` field without `omitempty`.
    fn string(&mut self, key: &str, value: &str) {
        push_go_string(self.key(key), value);
    }

    /// A `string` field with `omitempty`.
    fn string_omitempty(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.string(key, value);
        }
    }

    /// A `*bool` field with `omitempty` (nil omitted, false kept).
    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(b) = value {
            self.key(key).push_str(if b { "true" } else { "false" });
        }
    }

    fn close(self) {
        self.out.push('}');
    }
}

/// A nested `*Struct` field: present only when the JSON holds an object there (Go
/// decodes `null` to a nil pointer, which `omitempty` drops).
fn sub_object<'v>(
    obj: &'v serde_json::Map<String, Value>,
    key: &str,
) -> Option<&'v serde_json::Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// `resource.Quantity` is a struct, so `omitempty` never drops it and the zero value
/// prints as `"0"`. The given text is kept as written (no canonicalisation).
fn quantity_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// `corev1.EnvVarSource` in Go field order (k8s.io/api v0.34).
fn push_env_var_source(out: &mut String, src: &serde_json::Map<String, Value>) {
    let mut o = GoObject::open(out);
    if let Some(f) = sub_object(src, "fieldRef") {
        let w = o.key("fieldRef");
        let mut g = GoObject::open(w);
        g.string_omitempty("apiVersion", str_field(f, "apiVersion"));
        g.string("fieldPath", str_field(f, "fieldPath"));
        g.close();
    }
    if let Some(r) = sub_object(src, "resourceFieldRef") {
        let w = o.key("resourceFieldRef");
        let mut g = GoObject::open(w);
        g.string_omitempty("containerName", str_field(r, "containerName"));
        g.string("resource", str_field(r, "resource"));
        g.string("divisor", &quantity_text(r.get("divisor")));
        g.close();
    }
    for key in ["configMapKeyRef", "secretKeyRef"] {
        if let Some(k) = sub_object(src, key) {
            let w = o.key(key);
            let mut g = GoObject::open(w);
            g.string_omitempty("name", str_field(k, "name"));
            g.string("key", str_field(k, "key"));
            g.opt_bool("optional", k.get("optional").and_then(Value::as_bool));
            g.close();
        }
    }
    if let Some(f) = sub_object(src, "fileKeyRef") {
        let w = o.key("fileKeyRef");
        let mut g = GoObject::open(w);
        g.string("volumeName", str_field(f, "volumeName"));
        g.string("path", str_field(f, "path"));
        g.string("key", str_field(f, "key"));
        g.opt_bool("optional", f.get("optional").and_then(Value::as_bool));
        g.close();
    }
    o.close();
}

/// `[]corev1.EnvVar` in Kubernetes field order, `value`/`valueFrom` omitted when empty.
fn push_env_list(out: &mut String, env: &Value) {
    let Some(items) = env.as_array() else {
        out.push_str("null");
        return;
    };
    let empty = serde_json::Map::new();
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let obj = item.as_object().unwrap_or(&empty);
        let mut o = GoObject::open(out);
        o.string("name", str_field(obj, "name"));
        o.string_omitempty("value", str_field(obj, "value"));
        if let Some(src) = sub_object(obj, "valueFrom") {
            let w = o.key("valueFrom");
            push_env_var_source(w, src);
        }
        o.close();
    }
    out.push(']');
}

fn push_hash_input(out: &mut String, input: &HashInput) {
    match input {
        HashInput::Str(s) => push_go_string(out, s),
        HashInput::Int(n) => out.push_str(&n.to_string()),
        HashInput::Null => out.push_str("null"),
        HashInput::Env(env) => push_env_list(out, env),
        HashInput::StrMap(map) => {
            out.push('[');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_go_string(out, k);
                out.push(',');
                push_go_string(out, v);
            }
            out.push(']');
        }
    }
}

/// The exact text that is hashed: each input's Go JSON encoding, joined with `|`.
/// Public so explain traces can show why a name changed.
pub fn encode_hash_inputs(inputs: &[HashInput]) -> String {
    let mut out = String::new();
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        push_hash_input(&mut out, input);
    }
    out
}

/// Full lower-case hex SHA-256 of [`encode_hash_inputs`].
pub fn hash_hex(inputs: &[HashInput]) -> String {
    let digest = Sha256::digest(encode_hash_inputs(inputs).as_bytes());
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(MAX_HASH_LEN);
    for b in digest.iter() {
        hex.push(DIGITS[usize::from(b >> 4)] as char);
        hex.push(DIGITS[usize::from(b & 15)] as char);
    }
    hex
}

// ---------------------------------------------------------------------------------
// Derived-name algorithm (§1.2)
// ---------------------------------------------------------------------------------

/// Name = sanitised parts joined by `-`, plus `-<hash>`; the longest part is shortened
/// first so the readable prefix of every part survives.
///
/// `hash_inputs: None` (or an empty slice) or `hash_len == 0` means no hash suffix.
pub fn derived_name(
    parts: &[&str],
    hash_inputs: Option<&[HashInput]>,
    hash_len: usize,
    max_len: usize,
) -> Result<String, NamingError> {
    if parts.is_empty() {
        return Err(NamingError::EmptyParts);
    }
    if max_len == 0 || max_len > MAX_NAME_LEN {
        return Err(NamingError::MaxLength(max_len));
    }
    if hash_len > MAX_HASH_LEN {
        return Err(NamingError::HashLength(hash_len));
    }
    Ok(derive(parts, hash_inputs.unwrap_or(&[]), hash_len, max_len))
}

/// [`derived_name`] without argument validation, for the fixed table rows whose
/// arguments are valid by construction.
fn derive(parts: &[&str], hash_inputs: &[HashInput], hash_len: usize, max_len: usize) -> String {
    let mut parts: Vec<String> = parts
        .iter()
        .map(|p| {
            let s = dns1123(p);
            if s.is_empty() { "part".to_string() } else { s }
        })
        .collect();
    let hash = if hash_len > 0 && !hash_inputs.is_empty() {
        let mut h = hash_hex(hash_inputs);
        h.truncate(hash_len.min(MAX_HASH_LEN));
        h
    } else {
        String::new()
    };
    let length = |parts: &[String]| -> usize {
        let sum: usize = parts.iter().map(|p| p.len() + 1).sum();
        if hash.is_empty() {
            sum.saturating_sub(1)
        } else {
            sum + hash.len()
        }
    };
    while length(&parts) > max_len {
        // First among equally long parts wins (strict `>`).
        let mut longest = 0;
        for (i, p) in parts.iter().enumerate() {
            if p.len() > parts[longest].len() {
                longest = i;
            }
        }
        let part = &mut parts[longest];
        if part.len() <= 1 {
            break;
        }
        part.pop();
        trim_end_set(part, &['-']);
    }
    let mut name = parts.join("-");
    if !hash.is_empty() {
        name.push('-');
        name.push_str(&hash);
    }
    name
}

// ---------------------------------------------------------------------------------
// Image references (§1.5)
// ---------------------------------------------------------------------------------

/// The parts of an image reference that feed model names; `registry`, `name` and `tag`
/// are already passed through [`component`], `repository` is the raw path without
/// tag/digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub name: String,
    pub tag: String,
}

/// Up to `n` bytes of `s`, like a Go byte slice; a cut multi-byte character becomes
/// U+FFFD, which the sanitisers then map to `-` as Go does for the invalid bytes.
fn go_byte_prefix(s: &str, n: usize) -> String {
    if n >= s.len() {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_string();
    if end < n {
        out.push('\u{FFFD}');
    }
    out
}

/// Split an image reference into registry / repository / name / tag (§1.5).
pub fn parse_image(image: &str) -> Result<ImageRef, ImageError> {
    if image.is_empty() {
        return Err(ImageError::Empty);
    }
    let (registry, repository) = match image.find('/') {
        Some(i) if i > 0 => {
            let first = &image[..i];
            if first.contains('.') || first.contains(':') || first == "localhost" {
                (first, &image[i + 1..])
            } else {
                ("docker.io", image)
            }
        }
        _ => ("docker.io", image),
    };
    let (dir, last) = match repository.rfind('/') {
        Some(i) => (&repository[..=i], &repository[i + 1..]),
        None => ("", repository),
    };
    let (name, tag) = if let Some((name, digest)) = last.split_once('@') {
        if digest.is_empty() {
            return Err(ImageError::EmptyDigest(image.to_string()));
        }
        let Some(colon) = digest.find(':') else {
            return Err(ImageError::DigestWithoutColon(digest.to_string()));
        };
        let hash = &digest[colon + 1..];
        if hash.is_empty() {
            return Err(ImageError::DigestWithoutHash(digest.to_string()));
        }
        (name, go_byte_prefix(hash, 6))
    } else if let Some((name, tag)) = last.split_once(':') {
        if tag.is_empty() {
            return Err(ImageError::EmptyTag(image.to_string()));
        }
        (name, tag.to_string())
    } else {
        (last, "latest".to_string())
    };
    let repository = format!("{dir}{name}");
    let registry = component(registry);
    let name = component(name);
    let tag = component(&tag);
    if registry.is_empty() {
        return Err(ImageError::EmptyRegistry);
    }
    if name.is_empty() {
        return Err(ImageError::EmptyName);
    }
    if tag.is_empty() {
        return Err(ImageError::EmptyImageTag);
    }
    Ok(ImageRef {
        registry,
        repository,
        name,
        tag,
    })
}

// ---------------------------------------------------------------------------------
// Name table (§1.4)
// ---------------------------------------------------------------------------------

/// KServe appends `-predictor-<namespace>` to form a DNS label, so the ISVC name gets
/// `63 − 11 − len(namespace)` characters; fewer than 10 is refused.
pub fn isvc_name(service: &str, namespace: &str) -> Result<String, NamingError> {
    let budget = MAX_NAME_LEN as i64 - "-predictor-".len() as i64 - namespace.len() as i64;
    if budget < 10 {
        return Err(NamingError::NamespaceTooLong {
            namespace: namespace.to_string(),
            len: namespace.len(),
        });
    }
    Ok(derive(
        &[service],
        &[HashInput::from(namespace)],
        DEFAULT_HASH_LEN,
        budget as usize,
    ))
}

/// HTTPRoute name: the service name hashed with its namespace.
pub fn http_route_name(service: &str, namespace: &str) -> String {
    derive(
        &[service],
        &[HashInput::from(namespace)],
        DEFAULT_HASH_LEN,
        MAX_NAME_LEN,
    )
}

/// Auto-created AIMModel for `spec.model.image`: `[imageName, imageTag]` hashed with the
/// trimmed URI.
pub fn model_name_from_image(image_uri: &str) -> Result<String, NamingError> {
    let uri = image_uri.trim();
    let img = parse_image(uri)?;
    Ok(derive(
        &[&img.name, &img.tag],
        &[HashInput::from(uri)],
        DEFAULT_HASH_LEN,
        MAX_NAME_LEN,
    ))
}

/// The literal value of the first env entry called `name` ("" when absent or valueFrom).
fn env_literal<'a>(env: Option<&'a Value>, name: &str) -> &'a str {
    env.and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .find(|o| str_field(o, "name") == name)
        })
        .map(|o| str_field(o, "value"))
        .unwrap_or("")
}

/// Auto-created AIMModel for `spec.model.custom`. `model_sources` is the JSON array of
/// AIMModelSource. All sources enter the hash so models sharing the first source still
/// differ. Without sources the reference falls back to `[custom-model]` hashed with
/// the base image.
pub fn custom_model_name(model_sources: &Value, base_image: &str) -> String {
    let sources: Vec<&serde_json::Map<String, Value>> = model_sources
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let Some(first) = sources.first() else {
        return derive(
            &["custom-model"],
            &[HashInput::from(base_image)],
            DEFAULT_HASH_LEN,
            MAX_NAME_LEN,
        );
    };
    let mut inputs = vec![HashInput::from(base_image)];
    for src in &sources {
        inputs.push(HashInput::from(str_field(src, "modelId")));
        inputs.push(HashInput::from(str_field(src, "sourceUri")));
        let endpoint = env_literal(src.get("env"), "AWS_ENDPOINT_URL");
        if !endpoint.is_empty() {
            inputs.push(HashInput::from(endpoint));
        }
    }
    derive(
        &[str_field(first, "modelId")],
        &inputs,
        DEFAULT_HASH_LEN,
        MAX_NAME_LEN,
    )
}

/// Derived AIMServiceTemplate name for `spec.overrides` (service-reconcile.md §7.1).
/// `None` when the overrides yield no name part: then no template is derived and the
/// base name is used as is.
pub fn derived_template_name(base: &str, overrides: &Value) -> Option<String> {
    let gpu = overrides.pointer("/hardware/gpu");
    let mut parts: Vec<String> = Vec::new();
    let mut inputs: Vec<HashInput> = Vec::new();
    let model = gpu
        .and_then(|g| g.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if !model.is_empty() {
        parts.push(model.chars().map(go_lower).collect());
        inputs.push("gpu".into());
        inputs.push(model.into());
    }
    let requests = gpu
        .and_then(|g| g.get("requests"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if requests > 0 {
        parts.push(format!("{requests}gpu"));
        inputs.push("count".into());
        inputs.push(requests.into());
    }
    // Pointers in the reference: present (even empty) counts, `null` does not.
    for key in ["precision", "metric"] {
        if let Some(v) = overrides.get(key).and_then(Value::as_str) {
            parts.push(v.to_string());
            inputs.push(key.into());
            inputs.push(v.into());
        }
    }
    if parts.is_empty() {
        return None;
    }
    let mut all: Vec<&str> = vec![base, "ovr"];
    all.extend(parts.iter().map(String::as_str));
    Some(derive(&all, &inputs, 4, MAX_NAME_LEN))
}

/// Shared AIMTemplateCache: one per template and namespace.
pub fn shared_cache_name(template: &str, namespace: &str) -> String {
    derive(
        &[template],
        &[HashInput::from(namespace)],
        DEFAULT_HASH_LEN,
        MAX_NAME_LEN,
    )
}

/// Dedicated AIMTemplateCache: the service UID (not its name) makes a recreated service
/// get a fresh cache.
pub fn dedicated_cache_name(template: &str, service: &str, service_uid: &str) -> String {
    derive(
        &[template, service],
        &[HashInput::from(service_uid)],
        DEFAULT_HASH_LEN,
        MAX_NAME_LEN,
    )
}

/// AIMArtifact for one model source. `merged_env` is the name-keyed merge of the cache
/// env and the source env as a JSON array (`null` when the merge is nil). A Dedicated
/// cache passes its own name so dedicated and shared artifacts can coexist.
pub fn artifact_name(
    source_uri: &str,
    merged_env: &Value,
    storage_class: &str,
    dedicated_cache: Option<&str>,
) -> String {
    let part = source_uri.replace('.', "-");
    let mut inputs = vec![
        HashInput::from(source_uri),
        HashInput::Env(merged_env.clone()),
        HashInput::from(storage_class),
    ];
    if let Some(cache) = dedicated_cache {
        inputs.push("dedicated".into());
        inputs.push(cache.into());
    }
    derive(&[&part], &inputs, 10, MAX_NAME_LEN)
}

/// Artifact-owned PVC (`cache`), download Job (`download`) or check-size Job
/// (`check-size`), hashed with the artifact UID.
pub fn artifact_child_name(artifact: &str, suffix: &str, artifact_uid: &str) -> String {
    derive(
        &[artifact, suffix],
        &[HashInput::from(artifact_uid)],
        DEFAULT_HASH_LEN,
        MAX_NAME_LEN,
    )
}

/// AIMClusterModel created by a model source for one registry image.
pub fn cluster_model_name(registry: &str, repository: &str, tag: &str) -> String {
    derive(
        &[repository, tag],
        &[registry.into(), repository.into(), tag.into()],
        6,
        MAX_NAME_LEN,
    )
}

// ---------------------------------------------------------------------------------
// Label-key glob (§2.2)
// ---------------------------------------------------------------------------------

/// Shell-style match of a label key, with the semantics of Go's `path.Match`: `*` = any
/// run without `/`, `?` = one character other than `/`, `[…]` classes (`^` negates,
/// `a-z` ranges, `\` escapes). `None` for a malformed pattern, which callers skip.
pub fn label_glob_match(pattern: &str, key: &str) -> Option<bool> {
    glob::matches(pattern.as_bytes(), key.as_bytes()).ok()
}

mod glob {
    //! Byte-level port of the `path.Match` state machine (UTF-8 decoded where Go
    //! decodes runes), so malformed-pattern detection agrees with the reference.

    pub(super) struct BadPattern;

    const RUNE_ERROR: u32 = 0xFFFD;

    /// Go's `utf8.DecodeRune`: `(RuneError, 1)` for invalid or truncated input.
    fn decode(s: &[u8]) -> (u32, usize) {
        let Some(&b0) = s.first() else {
            return (RUNE_ERROR, 0);
        };
        if b0 < 0x80 {
            return (u32::from(b0), 1);
        }
        let len = match b0 {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return (RUNE_ERROR, 1),
        };
        match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()) {
            Some(text) => (text.chars().next().map_or(RUNE_ERROR, |c| c as u32), len),
            None => (RUNE_ERROR, 1),
        }
    }

    /// Splits off a leading star run and the chunk up to the next unbracketed `*`.
    fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
        let mut star = false;
        while let [b'*', rest @ ..] = pattern {
            pattern = rest;
            star = true;
        }
        let mut in_range = false;
        let mut i = 0;
        while i < pattern.len() {
            match pattern[i] {
                b'\\' if i + 1 < pattern.len() => i += 1,
                b'[' => in_range = true,
                b']' => in_range = false,
                b'*' if !in_range => break,
                _ => {}
            }
            i += 1;
        }
        (star, &pattern[..i], &pattern[i..])
    }

    fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
        let mut chunk = chunk;
        match chunk.first() {
            None | Some(b'-') | Some(b']') => return Err(BadPattern),
            Some(b'\\') => {
                chunk = &chunk[1..];
                if chunk.is_empty() {
                    return Err(BadPattern);
                }
            }
            _ => {}
        }
        let (r, n) = decode(chunk);
        if r == RUNE_ERROR && n == 1 {
            return Err(BadPattern);
        }
        let rest = &chunk[n..];
        if rest.is_empty() {
            return Err(BadPattern);
        }
        Ok((r, rest))
    }

    /// Matches `chunk` at the start of `s`; returns the unmatched rest on success.
    /// After a mismatch it keeps parsing the chunk to report malformed patterns.
    fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<Option<&'s [u8]>, BadPattern> {
        let mut failed = false;
        while let Some(&c) = chunk.first() {
            if !failed && s.is_empty() {
                failed = true;
            }
            match c {
                b'[' => {
                    let mut r = 0u32;
                    if !failed {
                        let (rr, n) = decode(s);
                        r = rr;
                        s = &s[n..];
                    }
                    chunk = &chunk[1..];
                    let mut negated = false;
                    if chunk.first() == Some(&b'^') {
                        negated = true;
                        chunk = &chunk[1..];
                    }
                    let mut matched = false;
                    let mut nrange = 0;
                    loop {
                        if chunk.first() == Some(&b']') && nrange > 0 {
                            chunk = &chunk[1..];
                            break;
                        }
                        let (lo, rest) = get_esc(chunk)?;
                        chunk = rest;
                        let mut hi = lo;
                        if chunk.first() == Some(&b'-') {
                            let (h, rest) = get_esc(&chunk[1..])?;
                            hi = h;
                            chunk = rest;
                        }
                        if lo <= r && r <= hi {
                            matched = true;
                        }
                        nrange += 1;
                    }
                    if matched == negated {
                        failed = true;
                    }
                }
                b'?' => {
                    if !failed {
                        if s.first() == Some(&b'/') {
                            failed = true;
                        }
                        let (_, n) = decode(s);
                        s = &s[n..];
                    }
                    chunk = &chunk[1..];
                }
                _ => {
                    let mut lit = c;
                    if c == b'\\' {
                        chunk = &chunk[1..];
                        match chunk.first() {
                            None => return Err(BadPattern),
                            Some(&b) => lit = b,
                        }
                    }
                    if !failed {
                        if s.first() != Some(&lit) {
                            failed = true;
                        }
                        s = s.get(1..).unwrap_or(&[]);
                    }
                    chunk = &chunk[1..];
                }
            }
        }
        Ok(if failed { None } else { Some(s) })
    }

    pub(super) fn matches(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
        'pattern: while !pattern.is_empty() {
            let (star, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if star && chunk.is_empty() {
                // Trailing `*` matches the rest unless it contains `/`.
                return Ok(!name.contains(&b'/'));
            }
            let first = match_chunk(chunk, name);
            match first {
                Ok(Some(t)) if t.is_empty() || !pattern.is_empty() => {
                    name = t;
                    continue;
                }
                Err(e) => return Err(e),
                _ => {}
            }
            if star {
                let mut i = 0;
                while i < name.len() && name[i] != b'/' {
                    if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                        // The last chunk must consume the whole name.
                        if pattern.is_empty() && !t.is_empty() {
                            i += 1;
                            continue;
                        }
                        name = t;
                        continue 'pattern;
                    }
                    i += 1;
                }
            }
            // Before reporting a mismatch, check the rest of the pattern is well-formed.
            while !pattern.is_empty() {
                let (_, chunk, rest) = scan_chunk(pattern);
                pattern = rest;
                match_chunk(chunk, &[])?;
            }
            return Ok(false);
        }
        Ok(name.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // ---- §1.6 test vectors ----

    #[test]
    fn vector_model_from_image_ghcr() {
        assert_eq!(
            model_name_from_image("ghcr.io/silogen/aim-dummy:0.1.10").unwrap(),
            "aim-dummy-0-1-10-9bf80281"
        );
    }

    #[test]
    fn vector_model_from_image_docker_hub() {
        assert_eq!(
            model_name_from_image("amdenterpriseai/aim-qwen-qwen3-32b:0.8.5").unwrap(),
            "aim-qwen-qwen3-32b-0-8-5-cdc1fb22"
        );
    }

    #[test]
    fn vector_model_from_image_digest() {
        assert_eq!(
            model_name_from_image("ghcr.io/amd/model@sha256:abc123def456").unwrap(),
            "model-abc123-cbd63f4c"
        );
    }

    #[test]
    fn vector_isvc_and_route() {
        assert_eq!(
            isvc_name("qwen-chat", "ml-team").unwrap(),
            "qwen-chat-a04542d9"
        );
        assert_eq!(
            http_route_name("qwen-chat", "ml-team"),
            "qwen-chat-a04542d9"
        );
    }

    #[test]
    fn vector_long_isvc_and_route() {
        let svc = "very-long-service-name-that-might-exceed-kubernetes-limits";
        let isvc = isvc_name(svc, "default").unwrap();
        assert_eq!(isvc, "very-long-service-name-that-might-ex-1080a608");
        assert_eq!(isvc.len(), 45);
        assert_eq!(
            http_route_name(svc, "default"),
            "very-long-service-name-that-might-exceed-kubernetes-li-1080a608"
        );
    }

    #[test]
    fn vector_shared_cache() {
        assert_eq!(
            shared_cache_name("qwen3-32b-latency", "ml-team"),
            "qwen3-32b-latency-a04542d9"
        );
    }

    #[test]
    fn vector_dedicated_cache() {
        assert_eq!(
            dedicated_cache_name(
                "qwen3-32b-latency",
                "qwen-chat",
                "5f0c6a52-1d1e-4c8a-9a57-0a6f3f3e2b11"
            ),
            "qwen3-32b-latency-qwen-chat-179e59bb"
        );
    }

    #[test]
    fn vector_derived_template_precision() {
        assert_eq!(
            derived_template_name("base", &json!({"precision": "fp16"})).as_deref(),
            Some("base-ovr-fp16-fe0f")
        );
    }

    #[test]
    fn derived_template_full_example_of_7_1() {
        let ovr = json!({
            "metric": "throughput",
            "precision": "fp8",
            "hardware": {"gpu": {"model": "MI300X", "requests": 4}}
        });
        assert_eq!(
            derived_template_name("my-template", &ovr).as_deref(),
            Some("my-template-ovr-mi300x-4gpu-fp8-throughput-b295")
        );
    }

    #[test]
    fn derived_template_without_parts_is_none() {
        assert_eq!(derived_template_name("base", &json!({})), None);
        assert_eq!(derived_template_name("base", &Value::Null), None);
        let only_unused = json!({"hardware": {"gpu": {"requests": 0}, "cpu": {"requests": "2"}}});
        assert_eq!(derived_template_name("base", &only_unused), None);
    }

    #[test]
    fn vector_custom_model() {
        let sources =
            json!([{"modelId": "inline/test-model", "sourceUri": "hf://sshleifer/tiny-gpt2"}]);
        assert_eq!(
            custom_model_name(&sources, "ghcr.io/silogen/aim-dummy:0.1.10"),
            "inline-test-model-2cfa2a00"
        );
    }

    #[test]
    fn custom_model_endpoint_changes_hash_and_no_sources_fallback() {
        let plain = json!([{"modelId": "a/b", "sourceUri": "s3://x/y"}]);
        let with_ep = json!([{"modelId": "a/b", "sourceUri": "s3://x/y",
            "env": [{"name": "AWS_ENDPOINT_URL", "value": "http://minio:9000"}]}]);
        let ref_only = json!([{"modelId": "a/b", "sourceUri": "s3://x/y",
            "env": [{"name": "AWS_ENDPOINT_URL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]);
        let a = custom_model_name(&plain, "img:1");
        assert!(a.starts_with("a-b-"));
        assert_ne!(a, custom_model_name(&with_ep, "img:1"));
        assert_eq!(a, custom_model_name(&ref_only, "img:1"));
        let none = custom_model_name(&json!([]), "img:1");
        assert!(none.starts_with("custom-model-"), "{none}");
        assert_eq!(none, custom_model_name(&Value::Null, "img:1"));
    }

    #[test]
    fn vector_artifact_shared_no_env() {
        assert_eq!(
            artifact_name("hf://sshleifer/tiny-gpt2", &Value::Null, "", None),
            "hf---sshleifer-tiny-gpt2-fc6a9647bb"
        );
    }

    #[test]
    fn vector_artifact_with_env() {
        let env = json!([{"name": "HF_TOKEN", "value": "my-token"}]);
        assert_eq!(
            artifact_name("hf://sshleifer/tiny-gpt2", &env, "", None),
            "hf---sshleifer-tiny-gpt2-8b6a4bfd16"
        );
    }

    #[test]
    fn artifact_dedicated_differs_and_dots_become_dashes() {
        let shared = artifact_name("hf://org/model.v1.5", &Value::Null, "", None);
        let dedicated = artifact_name("hf://org/model.v1.5", &Value::Null, "", Some("c-1"));
        assert!(shared.starts_with("hf---org-model-v1-5-"));
        assert_ne!(shared, dedicated);
        assert_eq!(
            encode_hash_inputs(&[
                "hf://a".into(),
                HashInput::Env(Value::Null),
                "".into(),
                "dedicated".into(),
                "c-1".into()
            ]),
            r#""hf://a"|null|""|"dedicated"|"c-1""#
        );
    }

    #[test]
    fn vector_cluster_model() {
        assert_eq!(
            cluster_model_name("docker.io", "amdenterpriseai/aim-qwen-qwen3-32b", "0.8.5"),
            "amdenterpriseai-aim-qwen-qwen3-32b-0-8-5-72f726"
        );
    }

    #[test]
    fn artifact_children() {
        let uid = "0b6c1d9e-1111-2222-3333-444455556666";
        let pvc = artifact_child_name("hf---sshleifer-tiny-gpt2-fc6a9647bb", "cache", uid);
        let dl = artifact_child_name("hf---sshleifer-tiny-gpt2-fc6a9647bb", "download", uid);
        let cs = artifact_child_name("hf---sshleifer-tiny-gpt2-fc6a9647bb", "check-size", uid);
        assert!(pvc.starts_with("hf---sshleifer-tiny-gpt2-fc6a9647bb-cache-"));
        assert!(dl.starts_with("hf---sshleifer-tiny-gpt2-fc6a9647bb-download-"));
        assert!(cs.len() <= 63 && cs.contains("-check-size-"));
        // All three share the same hash suffix (same uid).
        assert_eq!(&pvc[pvc.len() - 8..], &dl[dl.len() - 8..]);
    }

    // ---- sanitisers ----

    #[test]
    fn dns1123_rules() {
        assert_eq!(dns1123("Hello_World"), "hello-world");
        assert_eq!(dns1123("hf://a"), "hf---a"); // runs not collapsed
        assert_eq!(dns1123("--a.b--"), "a-b");
        assert_eq!(dns1123(""), "");
        assert_eq!(dns1123("___"), "");
        assert_eq!(dns1123("é"), "");
        assert_eq!(dns1123("aé"), "a");
        assert_eq!(dns1123("İx"), "ix"); // Go simple lower-case mapping
        let long = format!("{}-{}", "a".repeat(62), "b");
        assert_eq!(dns1123(&long), "a".repeat(62)); // cut to 63 then trailing '-' trimmed
        assert_eq!(dns1123(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn component_rules() {
        assert_eq!(component("0.1.10"), "0-1-10");
        assert_eq!(component("A__B..c"), "a-b-c");
        assert_eq!(component("--x--y--"), "x-y");
        assert_eq!(component("@@@"), "");
        assert_eq!(component("naïve"), "na-ve");
    }

    #[test]
    fn label_value_rules() {
        assert_eq!(label_value("My Service").unwrap(), "my_service");
        assert_eq!(label_value("a  b").unwrap(), "a_b");
        assert_eq!(label_value("a_ b").unwrap(), "a__b"); // literal '_' then a replaced run
        assert_eq!(label_value("._-x.y-_.").unwrap(), "x.y");
        assert_eq!(label_value("!!!"), Err(NamingError::EmptyLabelValue));
        assert_eq!(label_value(""), Err(NamingError::EmptyLabelValue));
        let long = format!("{}.{}", "a".repeat(62), "bbb");
        assert_eq!(label_value(&long).unwrap(), "a".repeat(62));
        assert_eq!(label_value(&"z".repeat(80)).unwrap().len(), 63);
    }

    // ---- derived-name algorithm ----

    #[test]
    fn derived_name_bounds_and_errors() {
        assert_eq!(derived_name(&[], None, 8, 63), Err(NamingError::EmptyParts));
        assert_eq!(
            derived_name(&["a"], None, 8, 0),
            Err(NamingError::MaxLength(0))
        );
        assert_eq!(
            derived_name(&["a"], None, 8, 64),
            Err(NamingError::MaxLength(64))
        );
        assert_eq!(
            derived_name(&["a"], None, 65, 63),
            Err(NamingError::HashLength(65))
        );
        let inputs = [HashInput::from("x")];
        let full = derived_name(&["a"], Some(&inputs), 64, 63).unwrap();
        assert_eq!(full.len(), 1 + 1 + 64); // hash is not truncated by max_len
    }

    #[test]
    fn derived_name_without_hash() {
        assert_eq!(
            derived_name(&["My", "Temp"], None, 8, 63).unwrap(),
            "my-temp"
        );
        assert_eq!(derived_name(&["a"], Some(&[]), 8, 63).unwrap(), "a");
        let inputs = [HashInput::from("x")];
        assert_eq!(derived_name(&["a"], Some(&inputs), 0, 63).unwrap(), "a");
    }

    #[test]
    fn derived_name_empty_part_becomes_part() {
        assert_eq!(
            derived_name(&["", "!!", "x"], None, 8, 63).unwrap(),
            "part-part-x"
        );
    }

    #[test]
    fn derived_name_truncates_longest_first_and_trims_dashes() {
        // "abc-" after one cut loses its trailing dash.
        assert_eq!(
            derived_name(&["abc-d", "xy"], None, 8, 6).unwrap(),
            "abc-xy"
        );
        // Equal lengths: the first one is cut first.
        assert_eq!(
            derived_name(&["aaaa", "bbbb"], None, 8, 8).unwrap(),
            "aaa-bbbb"
        );
        // Cannot shrink below one character per part: stops, result may exceed max.
        assert_eq!(derived_name(&["a", "b", "c"], None, 8, 3).unwrap(), "a-b-c");
        let inputs = [HashInput::from("ns")];
        let n = derived_name(&["x".repeat(80).as_str()], Some(&inputs), 8, 20).unwrap();
        assert_eq!(n.len(), 20);
    }

    #[test]
    fn isvc_namespace_budget() {
        let ns41 = "n".repeat(41); // budget = 63-11-41 = 11
        let name = isvc_name("some-long-service", &ns41).unwrap();
        assert_eq!(name.len(), 11);
        let ns43 = "n".repeat(43); // budget 9 < 10
        let err = isvc_name("svc", &ns43).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "namespace \"{ns43}\" is too long (43 chars); InferenceService hostname would exceed 63 characters"
            )
        );
        assert!(isvc_name("svc", &"n".repeat(200)).is_err());
    }

    // ---- hash-input encoding ----

    #[test]
    fn go_string_escapes() {
        let s = "a\"b\\c\nd\re\tf\u{1}g<h>i&j\u{2028}k\u{2029}l\u{8}m\u{c}n\u{7f}é😀";
        assert_eq!(
            encode_hash_inputs(&[s.into()]),
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u003ch\\u003ei\\u0026j\\u2028k\\u2029l\\bm\\fn\u{7f}é😀\""
        );
    }

    #[test]
    fn html_escapes_affect_hash() {
        // Go encodes `<a&b>` as "\u003ca\u0026b\u003e"; sha256 of that text.
        let h = hash_hex(&["<a&b>".into()]);
        assert_eq!(
            h,
            "905383911f60d2bda544e6319b56d4c820fc48e1c92bc5198b0084a74bd9019d"
        );
        let direct = {
            let d = Sha256::digest("\"\\u003ca\\u0026b\\u003e\"".as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(h, direct);
        assert_ne!(h, hash_hex(&["<a&b>".replace('<', "(").as_str().into()]));
    }

    #[test]
    fn scalar_and_map_encodings() {
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), "2".to_string());
        m.insert("a".to_string(), "1".to_string());
        assert_eq!(
            encode_hash_inputs(&[
                HashInput::Int(-4),
                HashInput::Null,
                HashInput::StrMap(m),
                HashInput::StrMap(BTreeMap::new()),
                HashInput::Env(json!([])),
            ]),
            r#"-4|null|["a","1","b","2"]|[]|[]"#
        );
    }

    #[test]
    fn env_encoding_field_order_and_omissions() {
        let env = json!([
            {"value": "v", "name": "A"},
            {"name": "B", "value": ""},
            {"name": "C", "valueFrom": {
                "secretKeyRef": {"optional": false, "key": "k", "name": "s"},
                "configMapKeyRef": {"key": "ck"},
                "resourceFieldRef": {"resource": "limits.cpu"},
                "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}
            }},
            {"name": "D", "valueFrom": null},
            {"name": "E", "valueFrom": {"fileKeyRef": {"key": "k", "path": "p", "volumeName": "v"},
                                        "resourceFieldRef": {"containerName": "c", "resource": "r", "divisor": "1Mi"}}}
        ]);
        assert_eq!(
            encode_hash_inputs(&[HashInput::Env(env)]),
            concat!(
                r#"[{"name":"A","value":"v"},{"name":"B"},"#,
                r#"{"name":"C","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"},"#,
                r#""resourceFieldRef":{"resource":"limits.cpu","divisor":"0"},"#,
                r#""configMapKeyRef":{"key":"ck"},"#,
                r#""secretKeyRef":{"name":"s","key":"k","optional":false}}},"#,
                r#"{"name":"D"},"#,
                r#"{"name":"E","valueFrom":{"resourceFieldRef":{"containerName":"c","resource":"r","divisor":"1Mi"},"#,
                r#""fileKeyRef":{"volumeName":"v","path":"p","key":"k"}}}]"#
            )
        );
    }

    // ---- image parsing ----

    #[test]
    fn image_parsing_cases() {
        let r = parse_image("localhost:5000/team/My_Img:Dev.1").unwrap();
        assert_eq!(
            r,
            ImageRef {
                registry: "localhost-5000".into(),
                repository: "team/My_Img".into(),
                name: "my-img".into(),
                tag: "dev-1".into()
            }
        );
        let r = parse_image("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.name.as_str(), r.tag.as_str()),
            ("docker-io", "nginx", "latest")
        );
        let r = parse_image("localhost/x").unwrap();
        assert_eq!(r.registry, "localhost");
        let r = parse_image("org/img@sha256:ab").unwrap();
        assert_eq!((r.repository.as_str(), r.tag.as_str()), ("org/img", "ab"));
        let r = parse_image("/img:1").unwrap();
        assert_eq!((r.registry.as_str(), r.name.as_str()), ("docker-io", "img"));
    }

    #[test]
    fn image_parsing_errors() {
        assert_eq!(parse_image(""), Err(ImageError::Empty));
        assert_eq!(
            parse_image("a/b@"),
            Err(ImageError::EmptyDigest("a/b@".into()))
        );
        assert_eq!(
            parse_image("a/b@sha256"),
            Err(ImageError::DigestWithoutColon("sha256".into()))
        );
        assert_eq!(
            parse_image("a/b@sha256:"),
            Err(ImageError::DigestWithoutHash("sha256:".into()))
        );
        assert_eq!(
            parse_image("a/b:"),
            Err(ImageError::EmptyTag("a/b:".into()))
        );
        assert_eq!(parse_image("a/__:1"), Err(ImageError::EmptyName));
        assert_eq!(parse_image("a/b:..."), Err(ImageError::EmptyImageTag));
        assert_eq!(parse_image("é.x/b:1").map(|r| r.registry), Ok("x".into()));
        let err = model_name_from_image("  ").unwrap_err();
        assert_eq!(err.to_string(), "image reference is empty");
        assert!(matches!(
            model_name_from_image("a/b:"),
            Err(NamingError::InvalidImage(_))
        ));
    }

    #[test]
    fn image_digest_cut_inside_multibyte_char() {
        // 5 ASCII bytes then a 3-byte char straddling the 6-byte cut.
        let r = parse_image("img@sha256:abcde€f").unwrap();
        assert_eq!(r.tag, "abcde");
        let r = parse_image("img@sha256:ab€cdef").unwrap();
        assert_eq!(r.tag, "ab-c");
    }

    #[test]
    fn model_from_image_trims() {
        assert_eq!(
            model_name_from_image("  ghcr.io/silogen/aim-dummy:0.1.10\n").unwrap(),
            "aim-dummy-0-1-10-9bf80281"
        );
    }

    // ---- label glob ----

    #[test]
    fn glob_basics() {
        assert_eq!(label_glob_match("team", "team"), Some(true));
        assert_eq!(label_glob_match("team", "teams"), Some(false));
        assert_eq!(label_glob_match("*", "anything"), Some(true));
        assert_eq!(label_glob_match("*", "example.com/x"), Some(false));
        assert_eq!(
            label_glob_match("example.com/*", "example.com/x"),
            Some(true)
        );
        assert_eq!(label_glob_match("*/*", "example.com/x"), Some(true));
        assert_eq!(
            label_glob_match("*.com/team", "example.com/team"),
            Some(true)
        );
        assert_eq!(label_glob_match("t?am", "team"), Some(true));
        assert_eq!(label_glob_match("a?b", "a/b"), Some(false));
        assert_eq!(label_glob_match("?", "é"), Some(true));
        assert_eq!(label_glob_match("cost-*", "cost-center"), Some(true));
        assert_eq!(label_glob_match("*-center", "cost-center"), Some(true));
        assert_eq!(label_glob_match("*x*", "abc"), Some(false));
    }

    #[test]
    fn glob_classes_and_escapes() {
        assert_eq!(label_glob_match("[a-c]x", "bx"), Some(true));
        assert_eq!(label_glob_match("[a-c]x", "dx"), Some(false));
        assert_eq!(label_glob_match("[^a-c]x", "dx"), Some(true));
        assert_eq!(label_glob_match("[^a-c]x", "ax"), Some(false));
        assert_eq!(label_glob_match("[ab]", "b"), Some(true));
        assert_eq!(label_glob_match("\\*", "*"), Some(true));
        assert_eq!(label_glob_match("\\*", "a"), Some(false));
        assert_eq!(label_glob_match("[\\]]", "]"), Some(true));
    }

    #[test]
    fn glob_invalid_patterns() {
        assert_eq!(label_glob_match("[", "a"), None);
        assert_eq!(label_glob_match("[]", "a"), None);
        assert_eq!(label_glob_match("[a-", "a"), None);
        assert_eq!(label_glob_match("a\\", "a"), None);
        // Malformed tail is reported even when the head already mismatched.
        assert_eq!(label_glob_match("x*[", "abc"), None);
        assert_eq!(label_glob_match("b[", "a"), None);
    }
}
