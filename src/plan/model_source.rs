//! Planning one AIMClusterModelSource (templates-models-caches.md §5): each filter is
//! parsed, the images it names are taken from `RegistryListing` observations (the
//! operator produces them with [`crate::registry`]; a dry run reads them from the
//! state), matched against the filter (repository pattern, exclusions, tag or semver
//! constraints), and every matched image not yet present as an AIMClusterModel of the
//! source is planned, up to `maxModels`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::controller::{Controller, s};
use super::{Plan, Settings};
use crate::naming;
use crate::rules::RulePack;
use crate::rules::native::{is_set, text};
use crate::snapshot::Snapshot;

pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_INDEX: &str = "index.docker.io";
pub const GHCR: &str = "ghcr.io";
/// Label of the AIMClusterModels a source created.
pub const SOURCE_LABEL: &str = "aim.eai.amd.com/model-source";

/// A parsed `filters[].image` (§5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFilter {
    /// Empty: any registry (the source's, else Docker Hub, is queried).
    pub registry: String,
    /// Repository pattern (`*` = any run, including `/`).
    pub repository: String,
    /// Empty: any tag (subject to version constraints).
    pub tag: String,
    pub wildcard: bool,
}

/// One image found in a registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegistryImage {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl RegistryImage {
    /// `<repository>:<tag>` on Docker Hub, else `<registry>/<repository>:<tag>`.
    pub fn uri(&self) -> String {
        if self.registry == DOCKER_HUB || self.registry.is_empty() {
            format!("{}:{}", self.repository, self.tag)
        } else {
            format!("{}/{}:{}", self.registry, self.repository, self.tag)
        }
    }
}

fn valid_repository(r: &str) -> bool {
    !r.is_empty()
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// §5.1 filter parsing.
pub fn parse_filter(image: &str) -> ImageFilter {
    let wildcard = image.contains('*');
    if wildcard {
        if let Some(slash) = image.find('/')
            && slash > 0
            && image[..slash].contains('.')
        {
            return ImageFilter {
                registry: image[..slash].to_string(),
                repository: image[slash + 1..].to_string(),
                tag: String::new(),
                wildcard,
            };
        }
        return ImageFilter {
            repository: image.to_string(),
            wildcard,
            ..ImageFilter::default()
        };
    }
    let fallback = ImageFilter {
        repository: image.to_string(),
        ..ImageFilter::default()
    };
    // an image reference: [registry/]repository[:tag|@digest]
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let (registry, path) = match rest.split_once('/') {
        Some((first, tail))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), tail.to_string())
        }
        _ => (DOCKER_INDEX.to_string(), rest.to_string()),
    };
    let (repo, tag) = if digest.is_some() {
        (path, String::new())
    } else {
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        match path[last_slash..].rfind(':') {
            Some(i) => (
                path[..last_slash + i].to_string(),
                path[last_slash + i + 1..].to_string(),
            ),
            None => (path, "latest".to_string()),
        }
    };
    if !valid_repository(&repo) || (digest.is_none() && !valid_tag(&tag)) {
        return fallback;
    }
    let hub = registry == DOCKER_INDEX || registry == DOCKER_HUB;
    let repo = if hub && !repo.contains('/') {
        format!("library/{repo}")
    } else {
        repo
    };
    ImageFilter {
        registry: if hub { String::new() } else { registry },
        repository: repo,
        // the default tag is kept only when the text has a ':' [ref]
        tag: if image.contains(':') {
            tag
        } else {
            String::new()
        },
        wildcard: false,
    }
}

/// `*` matches any run of characters (including `/`); no `*` means equality.
pub fn matches_wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let Some(mut rest) = s.strip_prefix(parts[0]) else {
        return false;
    };
    let last = parts[parts.len() - 1];
    let Some(r) = rest.strip_suffix(last) else {
        return false;
    };
    rest = r;
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// A constraint with only `major.minor` gets `.0` appended (§5.2).
fn normalize_constraint(c: &str) -> String {
    match c.find(|ch: char| ch.is_ascii_digit()) {
        Some(i) => {
            let (op, version) = (&c[..i], c[i..].trim());
            if version.matches('.').count() == 1 {
                format!("{op}{version}.0")
            } else {
                format!("{op}{version}")
            }
        }
        None => c.to_string(),
    }
}

/// A semver range in the syntax of the reference's library: comparators separated by
/// spaces (all must hold), alternatives by `||`; operators `>=`, `<=`, `>`, `<`, `=`,
/// `==`, `!=`, `!` or none (equality). `None` when it does not parse.
fn range_matches(range: &str, v: &semver::Version) -> Option<bool> {
    let mut any = false;
    for alt in range.split("||") {
        // a space right after an operator does not separate (`>= 1.0.0`)
        let mut joined = String::new();
        let mut last = ' ';
        for ch in alt.trim().chars() {
            if ch == ' ' && matches!(last, '>' | '<' | '=' | '!') {
                continue;
            }
            joined.push(ch);
            last = ch;
        }
        let comparators: Vec<&str> = joined.split_whitespace().collect();
        if comparators.is_empty() {
            return None;
        }
        let mut all = true;
        for c in comparators {
            let split = c
                .find(|ch: char| !matches!(ch, '>' | '<' | '=' | '!'))
                .unwrap_or(c.len());
            let (op, ver) = c.split_at(split);
            let want = semver::Version::parse(ver).ok()?;
            let ok = match op {
                "" | "=" | "==" => v == &want,
                "!" | "!=" => v != &want,
                ">" => v > &want,
                ">=" => v >= &want,
                "<" => v < &want,
                "<=" => v <= &want,
                _ => return None,
            };
            all &= ok;
        }
        any |= all;
    }
    Some(any)
}

/// Tag minus a leading `v` must be semver and satisfy every parsable constraint.
pub fn matches_versions(tag: &str, constraints: &[String]) -> bool {
    let Ok(v) = semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)) else {
        return false;
    };
    constraints
        .iter()
        .all(|c| range_matches(&normalize_constraint(c), &v).unwrap_or(true))
}

/// §5.2: does `img` match one filter (`global` = the source's version constraints).
pub fn matches_filter(img: &RegistryImage, filter: &Value, global: &[String]) -> bool {
    let parsed = parse_filter(s(filter, "/image"));
    if !parsed.registry.is_empty() && parsed.registry != img.registry {
        return false;
    }
    if !matches_wildcard(&parsed.repository, &img.repository) {
        return false;
    }
    if strings(filter.get("exclude")).contains(&img.repository) {
        return false;
    }
    if !parsed.tag.is_empty() {
        return img.tag == parsed.tag;
    }
    let own = strings(filter.get("versions"));
    let constraints = if own.is_empty() { global } else { &own };
    constraints.is_empty() || matches_versions(&img.tag, constraints)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

fn same_registry(a: &str, b: &str) -> bool {
    let norm = |r: &str| {
        if r == DOCKER_INDEX || r == "registry-1.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            r.to_string()
        }
    };
    norm(a) == norm(b)
}

/// One filter against the registry listings: `{image, registry, repository, tag,
/// wildcard, state: ok|error|awaiting, error, images}` (§5.3).
fn filter_result(snap: &Snapshot, spec: &Value, filter: &Value) -> (Value, Vec<RegistryImage>) {
    let image = s(filter, "/image");
    let parsed = parse_filter(image);
    let registry = if !parsed.registry.is_empty() {
        parsed.registry.clone()
    } else if !s(spec, "/registry").is_empty() {
        s(spec, "/registry").to_string()
    } else {
        DOCKER_HUB.to_string()
    };
    let global = strings(spec.get("versions"));
    let fact = |state: &str, error: Value, images: &[RegistryImage]| {
        json!({
            "image": image,
            "registry": registry,
            "repository": parsed.repository,
            "tag": parsed.tag,
            "wildcard": parsed.wildcard,
            "state": state,
            "error": error,
            "images": images.iter().map(|i| i.uri()).collect::<Vec<_>>(),
        })
    };
    // 1. exact tag: no registry call
    if !parsed.tag.is_empty() && !parsed.wildcard {
        let img = RegistryImage {
            registry: registry.clone(),
            repository: parsed.repository.clone(),
            tag: parsed.tag.clone(),
        };
        return (
            fact("ok", Value::Null, std::slice::from_ref(&img)),
            vec![img],
        );
    }
    let listings: Vec<&Value> = snap
        .observations("RegistryListing")
        .map(|o| &**o)
        .filter(|o| same_registry(s(o, "/registry"), &registry))
        .collect();
    if listings.is_empty() {
        return (fact("awaiting", Value::Null, &[]), vec![]);
    }
    let listing_error = listings
        .iter()
        .find_map(|l| l.get("error").filter(|e| is_set(e)))
        .map(|e| format!("failed to list {registry}: {}", text(e)));
    // (name, tags, error of its tag list)
    let repos: Vec<(&str, Vec<String>, String)> = listings
        .iter()
        .flat_map(|l| {
            l.get("repositories")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|r| {
            (
                s(r, "/name"),
                strings(r.get("tags")),
                text(r.get("error").unwrap_or(&Value::Null)),
            )
        })
        .collect();
    let mut images = vec![];
    if !parsed.wildcard {
        // 2. the repository's tags
        let full = if registry == DOCKER_HUB {
            parsed.repository.clone()
        } else {
            format!("{registry}/{}", parsed.repository)
        };
        let Some((_, tags, tag_error)) = repos.iter().find(|(n, _, _)| *n == parsed.repository)
        else {
            let msg = listing_error.unwrap_or_else(|| {
                format!("failed to fetch tags for {full}: repository not found")
            });
            return (fact("error", json!(msg), &[]), vec![]);
        };
        if !tag_error.is_empty() {
            let msg = format!("failed to fetch tags for {full}: {tag_error}");
            return (fact("error", json!(msg), &[]), vec![]);
        }
        for tag in tags {
            let img = RegistryImage {
                registry: registry.clone(),
                repository: parsed.repository.clone(),
                tag: tag.clone(),
            };
            if matches_filter(&img, filter, &global) {
                images.push(img);
            }
        }
        return (fact("ok", Value::Null, &images), images);
    }
    // 3. wildcard: the registry's repositories (hub namespace, GitHub org, v2 catalog)
    if let Some(msg) = listing_error {
        return (fact("error", json!(msg), &[]), vec![]);
    }
    if registry == DOCKER_HUB {
        let ns = parsed
            .repository
            .split('/')
            .next()
            .unwrap_or("")
            .trim_end_matches('*');
        if ns.is_empty() {
            let msg = format!("cannot extract namespace from pattern: {image}");
            return (fact("error", json!(msg), &[]), vec![]);
        }
    } else if registry == GHCR {
        let org = parsed
            .repository
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .trim_end_matches('*');
        if org.is_empty() || org.contains('.') {
            let msg = format!("cannot extract GitHub organization from pattern: {image}");
            return (fact("error", json!(msg), &[]), vec![]);
        }
    }
    // a repository whose tags could not be listed is skipped [ref]
    for (repo, tags, _) in repos.iter().filter(|(_, _, e)| e.is_empty()) {
        if !matches_wildcard(&parsed.repository, repo) {
            continue;
        }
        for tag in tags {
            let img = RegistryImage {
                registry: registry.clone(),
                repository: repo.to_string(),
                tag: tag.clone(),
            };
            if matches_filter(&img, filter, &global) {
                images.push(img);
            }
        }
    }
    (fact("ok", Value::Null, &images), images)
}

/// Plans one model source.
pub fn plan(snap: &Snapshot, pack: &RulePack, obj: &Value, now: &str, settings: &Settings) -> Plan {
    let mut c = Controller::new(
        pack,
        "AIMClusterModelSource",
        "cluster-model-source",
        settings.explain,
    );
    let name = s(obj, "/metadata/name");
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let existing: BTreeSet<String> = snap
        .list("AIMClusterModel")
        .filter(|m| {
            s(
                m,
                &format!("/metadata/labels/{}", SOURCE_LABEL.replace('/', "~1")),
            ) == name
        })
        .map(|m| s(m, "/spec/image").to_string())
        .collect();
    let max = spec
        .get("maxModels")
        .and_then(Value::as_i64)
        .unwrap_or(100)
        .max(0) as usize;
    let mut filters = vec![];
    let mut available = 0usize;
    let mut create: Vec<Value> = vec![];
    let mut planned: BTreeSet<String> = BTreeSet::new();
    for f in spec
        .get("filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (fact, images) = filter_result(snap, &spec, f);
        filters.push(fact);
        for img in images {
            available += 1;
            let uri = img.uri();
            if existing.contains(&uri) || planned.contains(&uri) {
                continue;
            }
            if existing.len() + create.len() < max {
                planned.insert(uri.clone());
                create.push(json!({
                    "name": naming::cluster_model_name(&img.registry, &img.repository, &img.tag),
                    "uri": uri,
                    "registry": img.registry,
                    "repository": img.repository,
                    "tag": img.tag,
                }));
            }
        }
    }
    let discovered = existing.len() + create.len();
    let sync = spec
        .get("syncInterval")
        .map(text)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "1h".into());
    let sync_seconds =
        crate::quantity::parse_go_duration(&sync).map_or(3600.0, |ns| ns as f64 / 1e9);

    let mut ctx = Map::new();
    ctx.insert("source".into(), obj.clone());
    ctx.insert("now".into(), json!(now));
    ctx.insert(
        "settings".into(),
        json!({"operator_namespace": settings.operator_namespace}),
    );
    ctx.insert("filters".into(), Value::Array(filters));
    ctx.insert(
        "existing".into(),
        json!({"count": existing.len(), "images": existing}),
    );
    ctx.insert(
        "matches".into(),
        json!({"available": available, "discovered": discovered, "max": max}),
    );
    ctx.insert("create".into(), Value::Array(create));
    ctx.insert(
        "sync".into(),
        json!({"interval": sync, "seconds": sync_seconds}),
    );
    c.merges(&mut ctx);
    let ctx = Value::Object(ctx);
    let parts = c.status_parts(&ctx);
    let objects = c.outputs(&ctx, obj, &Value::Null);
    let mut fields = Map::new();
    fields.insert("discoveredModels".into(), json!(discovered));
    fields.insert("availableModels".into(), json!(available));
    fields.insert("modelsLimitReached".into(), json!(available > discovered));
    fields.insert("lastSyncTime".into(), json!(now));
    c.finish(obj, parts, objects, fields, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(registry: &str, repository: &str, tag: &str, wildcard: bool) -> ImageFilter {
        ImageFilter {
            registry: registry.into(),
            repository: repository.into(),
            tag: tag.into(),
            wildcard,
        }
    }

    #[test]
    fn filter_parsing() {
        assert_eq!(
            parse_filter("amdenterpriseai/aim-*"),
            f("", "amdenterpriseai/aim-*", "", true)
        );
        assert_eq!(
            parse_filter("ghcr.io/silogen/aim-*"),
            f("ghcr.io", "silogen/aim-*", "", true)
        );
        assert_eq!(
            parse_filter("docker.io/amdenterpriseai/aim-qwen:0.8.5"),
            f("", "amdenterpriseai/aim-qwen", "0.8.5", false)
        );
        assert_eq!(
            parse_filter("amdenterpriseai/aim-qwen"),
            f("", "amdenterpriseai/aim-qwen", "", false)
        );
        assert_eq!(
            parse_filter("ghcr.io/silogen/aim-dummy:0.1.10"),
            f("ghcr.io", "silogen/aim-dummy", "0.1.10", false)
        );
        assert_eq!(parse_filter("Bad/Repo"), f("", "Bad/Repo", "", false));
    }

    #[test]
    fn wildcards() {
        assert!(matches_wildcard("amd/aim-*", "amd/aim-qwen"));
        assert!(matches_wildcard("*/aim-*", "x/y/aim-z"));
        assert!(!matches_wildcard("amd/aim-*", "amd/other"));
        assert!(matches_wildcard("a*b*c", "a-b-c"));
        assert!(!matches_wildcard("a*b*c", "ac"));
    }

    #[test]
    fn versions() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches_versions("0.8.5", &c(&[">=0.8"])));
        assert!(matches_versions("v0.8.5", &c(&[">=0.8.0 <0.9.0"])));
        assert!(!matches_versions("0.9.0", &c(&[">=0.8.0 <0.9.0"])));
        assert!(!matches_versions("latest", &c(&[">=0.8"])));
        assert!(matches_versions("1.2.3", &c(&["not a range"])));
        assert!(matches_versions(
            "1.2.3",
            &c(&[">= 1.0.0", "<2.0.0 || >3.0.0"])
        ));
    }

    #[test]
    fn uri_and_name() {
        let img = RegistryImage {
            registry: DOCKER_HUB.into(),
            repository: "amdenterpriseai/aim-qwen-qwen3-32b".into(),
            tag: "0.8.5".into(),
        };
        assert_eq!(img.uri(), "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5");
        assert_eq!(
            naming::cluster_model_name(&img.registry, &img.repository, &img.tag),
            "amdenterpriseai-aim-qwen-qwen3-32b-0-8-5-72f726"
        );
    }
}
