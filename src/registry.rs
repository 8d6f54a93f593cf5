//! What container registries hold, for AIMClusterModelSource
//! (templates-models-caches.md §5.3). The planner never talks to a registry: it reads
//! `RegistryListing` observations (cli.md). The operator produces them with
//! [`observe_source`] over a [`RegistryLister`] — [`HttpsRegistry`] in a cluster, a
//! fake in tests.
//!
//! Listing strategies per filter: an exact tag needs no call; a repository without
//! wildcard is asked for its tags (registry v2 tag list); a wildcard lists the
//! repositories first — the namespace's repositories on Docker Hub, the organisation's
//! container packages on ghcr.io (GitHub packages API, token from the pull secrets), the
//! v2 catalog elsewhere — then the tags of each repository the pattern matches.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use base64::Engine as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::plan::model_source::{DOCKER_HUB, GHCR, matches_wildcard, parse_filter};

/// Why a registry could not be listed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RegistryError {
    #[error("unexpected status {status} from {url}: {body}")]
    Status {
        status: u16,
        url: String,
        body: String,
    },
    #[error("failed to fetch {url}: {message}")]
    Transport { url: String, message: String },
    #[error("failed to decode JSON response from {url}: {message}")]
    Decode { url: String, message: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Lists repositories and tags of registries.
pub trait RegistryLister {
    /// The tags of `repository` on `registry` (`docker.io` for Docker Hub).
    fn tags(
        &self,
        registry: &str,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send;

    /// The repositories of `registry` under `scope` — a Docker Hub namespace or a
    /// GitHub organisation (names include it: `org/name`); ignored for a v2 catalog.
    fn repositories(
        &self,
        registry: &str,
        scope: &str,
    ) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send;
}

/// Registry credentials by registry host (`docker.io`, `ghcr.io`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The credentials of a `kubernetes.io/dockerconfigjson` secret's `.dockerconfigjson`
/// (`auths.<host>.{username, password}` or `auth` = base64 `user:password`).
pub fn credentials_from_docker_config(json: &[u8]) -> HashMap<String, Credentials> {
    let mut out = HashMap::new();
    let Ok(v) = serde_json::from_slice::<Value>(json) else {
        return out;
    };
    for (host, entry) in v
        .get("auths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (mut username, mut password) = (text("username"), text("password"));
        if password.is_empty()
            && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(text("auth"))
            && let Ok(s) = String::from_utf8(raw)
            && let Some((u, p)) = s.split_once(':')
        {
            username = u.to_string();
            password = p.to_string();
        }
        let host = host
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .trim_end_matches("/v2")
            .to_string();
        let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            host
        };
        out.insert(host, Credentials { username, password });
    }
    out
}

/// The `RegistryListing` observations an AIMClusterModelSource needs: one per registry
/// its filters name, with the repositories (and tags) they can match. A failed
/// repository listing is the observation's `error`; a failed tag list is the
/// repository entry's `error`.
pub async fn observe_source<L: RegistryLister>(lister: &L, source: &Value) -> Vec<Value> {
    let spec = source.get("spec").cloned().unwrap_or(Value::Null);
    let default_registry = spec
        .get("registry")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .unwrap_or(DOCKER_HUB)
        .to_string();
    // registry → (repository → tags or error, listing error)
    type Repos = BTreeMap<String, Result<Vec<String>, String>>;
    let mut seen: BTreeMap<String, (Repos, Option<String>)> = BTreeMap::new();
    for f in spec
        .get("filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let image = f.get("image").and_then(Value::as_str).unwrap_or("");
        let parsed = parse_filter(image);
        let registry = if parsed.registry.is_empty() {
            default_registry.clone()
        } else {
            parsed.registry.clone()
        };
        if !parsed.tag.is_empty() && !parsed.wildcard {
            continue;
        }
        let entry = seen.entry(registry.clone()).or_default();
        let mut wanted: Vec<String> = vec![];
        if !parsed.wildcard {
            wanted.push(parsed.repository.clone());
        } else {
            let scope = parsed
                .repository
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("")
                .trim_end_matches('*')
                .to_string();
            match lister.repositories(&registry, &scope).await {
                Ok(repos) => wanted.extend(
                    repos
                        .into_iter()
                        .filter(|r| matches_wildcard(&parsed.repository, r)),
                ),
                Err(e) => {
                    entry.1 = Some(e.to_string());
                    continue;
                }
            }
        }
        for repo in wanted {
            if entry.0.contains_key(&repo) {
                continue;
            }
            let tags = lister
                .tags(&registry, &repo)
                .await
                .map_err(|e| e.to_string());
            entry.0.insert(repo, tags);
        }
    }
    seen.into_iter()
        .map(|(registry, (repos, error))| {
            let repositories: Vec<Value> = repos
                .into_iter()
                .map(|(name, tags)| match tags {
                    Ok(t) => json!({"name": name, "tags": t}),
                    Err(e) => json!({"name": name, "tags": [], "error": e}),
                })
                .collect();
            let mut obs = json!({
                "apiVersion": "observation.aimctl.dev/v1",
                "kind": "RegistryListing",
                "metadata": {"name": format!("{}-{}", source["metadata"]["name"].as_str().unwrap_or(""), registry)},
                "registry": registry,
                "repositories": repositories,
            });
            if let Some(e) = error {
                obs["error"] = json!(e);
            }
            obs
        })
        .collect()
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The operator's lister: OCI distribution (v2) over HTTPS with token auth, Docker
/// Hub's namespace API and GitHub's packages API.
pub struct HttpsRegistry {
    client: HttpsClient,
    credentials: HashMap<String, Credentials>,
    /// Hosts spoken to over plain HTTP (local test registries).
    insecure: Vec<String>,
    /// Endpoint overrides (tests): Docker Hub API, GitHub API.
    hub_api: String,
    github_api: String,
}

struct Response {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl HttpsRegistry {
    /// A lister using the system's root certificates.
    pub fn new(credentials: HashMap<String, Credentials>) -> std::io::Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpsRegistry {
            client: Client::builder(TokioExecutor::new()).build(connector),
            credentials,
            insecure: vec![],
            hub_api: "https://hub.docker.com".into(),
            github_api: "https://api.github.com".into(),
        })
    }

    /// Speaks plain HTTP to `host` (a local registry in tests).
    pub fn with_insecure(mut self, host: &str) -> Self {
        self.insecure.push(host.to_string());
        self
    }

    /// Other endpoints for Docker Hub's and GitHub's APIs (tests).
    pub fn with_apis(mut self, hub: &str, github: &str) -> Self {
        self.hub_api = hub.trim_end_matches('/').to_string();
        self.github_api = github.trim_end_matches('/').to_string();
        self
    }

    fn base(&self, registry: &str) -> String {
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let scheme = if self.insecure.iter().any(|h| h == registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    async fn get(
        &self,
        url: &str,
        auth: Option<&str>,
        accept: &str,
    ) -> Result<Response, RegistryError> {
        let transport = |m: String| RegistryError::Transport {
            url: url.to_string(),
            message: m,
        };
        let mut req = hyper::Request::get(url)
            .header("User-Agent", "aimctl")
            .header("Accept", accept);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| transport(e.to_string()))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn basic(&self, registry: &str) -> Option<String> {
        let c = self.credentials.get(registry)?;
        let raw = format!("{}:{}", c.username, c.password);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }

    /// A bearer token for a `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge.
    async fn token(&self, registry: &str, challenge: &str) -> Result<String, RegistryError> {
        let params = parse_challenge(challenge);
        let realm = params.get("realm").cloned().unwrap_or_default();
        let mut url = realm.clone();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for k in ["service", "scope"] {
            if let Some(v) = params.get(k) {
                url.push(sep);
                url.push_str(&format!("{k}={}", query_escape(v)));
                sep = '&';
            }
        }
        let auth = self.basic(registry);
        let resp = self.get(&url, auth.as_deref(), "application/json").await?;
        if resp.status != 200 {
            return Err(status_error(&url, &resp));
        }
        let v: Value = serde_json::from_slice(&resp.body).map_err(|e| RegistryError::Decode {
            url: url.clone(),
            message: e.to_string(),
        })?;
        Ok(v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    /// GET a registry v2 URL, answering an auth challenge once; follows `Link` pages and
    /// collects `key` arrays of the JSON bodies.
    async fn v2_paged(
        &self,
        registry: &str,
        path: &str,
        key: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let base = self.base(registry);
        let mut url = format!("{base}{path}");
        let mut auth: Option<String> = None;
        let mut out = vec![];
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > 1000 {
                break;
            }
            let mut resp = self.get(&url, auth.as_deref(), "application/json").await?;
            if resp.status == 401 {
                let challenge = resp
                    .headers
                    .get("www-authenticate")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                auth = if challenge.to_ascii_lowercase().starts_with("bearer") {
                    Some(format!(
                        "Bearer {}",
                        self.token(registry, &challenge).await?
                    ))
                } else {
                    self.basic(registry)
                };
                if auth.is_some() {
                    resp = self.get(&url, auth.as_deref(), "application/json").await?;
                }
            }
            if resp.status != 200 {
                return Err(status_error(&url, &resp));
            }
            let v: Value =
                serde_json::from_slice(&resp.body).map_err(|e| RegistryError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            out.extend(
                v.get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
            match next_link(&resp.headers) {
                Some(next) if next.starts_with("http") => url = next,
                Some(next) => url = format!("{base}{next}"),
                None => break,
            }
        }
        Ok(out)
    }

    async fn hub_repositories(&self, namespace: &str) -> Result<Vec<String>, RegistryError> {
        let mut url = format!(
            "{}/v2/namespaces/{namespace}/repositories?page_size=100",
            self.hub_api
        );
        let mut out = vec![];
        for _ in 0..1000 {
            let resp = self.get(&url, None, "application/json").await?;
            if resp.status != 200 {
                return Err(status_error(&url, &resp));
            }
            let v: Value =
                serde_json::from_slice(&resp.body).map_err(|e| RegistryError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            for r in v
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = r.get("name").and_then(Value::as_str) {
                    out.push(format!("{namespace}/{n}"));
                }
            }
            match v
                .get("next")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                Some(n) => url = n.to_string(),
                None => break,
            }
        }
        Ok(out)
    }

    async fn github_packages(&self, org: &str) -> Result<Vec<String>, RegistryError> {
        let token = self
            .credentials
            .get(GHCR)
            .map(|c| c.password.clone())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                RegistryError::Unsupported(
                    "failed to extract GitHub token: no image pull secrets configured".into(),
                )
            })?;
        let auth = format!("Bearer {token}");
        let mut url = format!(
            "{}/orgs/{org}/packages?package_type=container&per_page=100",
            self.github_api
        );
        let mut out = vec![];
        for _ in 0..1000 {
            let resp = self
                .get(&url, Some(&auth), "application/vnd.github+json")
                .await?;
            if resp.status != 200 {
                return Err(status_error(&url, &resp));
            }
            let v: Value =
                serde_json::from_slice(&resp.body).map_err(|e| RegistryError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            for p in v.as_array().into_iter().flatten() {
                if let Some(n) = p.get("name").and_then(Value::as_str) {
                    out.push(format!("{org}/{n}"));
                }
            }
            match next_link(&resp.headers) {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(out)
    }
}

/// The manifest media types asked for when reading an image.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// An image reference resolved for the registry API.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReference {
    /// `docker.io` for Docker Hub.
    pub registry: String,
    /// With `library/` for single-name Docker Hub repositories.
    pub repository: String,
    /// A tag (`latest` by default) or a digest.
    pub reference: String,
}

/// Resolves an image reference as written (naming.rs `parse_image` rules for the
/// registry part: the first segment is a registry when it has a `.` or `:` or is
/// `localhost`; otherwise Docker Hub).
pub fn parse_reference(image: &str) -> Result<ImageReference, RegistryError> {
    let image = image.trim();
    let bad = |why: &str| {
        RegistryError::Unsupported(format!("invalid image reference \"{image}\": {why}"))
    };
    if image.is_empty() {
        return Err(bad("empty"));
    }
    let (registry, rest) = match image.split_once('/') {
        Some((first, rest))
            if !first.is_empty()
                && (first.contains('.') || first.contains(':') || first == "localhost") =>
        {
            (first.to_string(), rest)
        }
        _ => (DOCKER_HUB.to_string(), image),
    };
    let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    let (repository, reference) = if let Some((repo, digest)) = rest.split_once('@') {
        // a tag before the digest is ignored
        let repo = match repo.rfind(':') {
            Some(i) if !repo[i..].contains('/') => &repo[..i],
            _ => repo,
        };
        if !digest.contains(':') {
            return Err(bad("digest without algorithm"));
        }
        (repo.to_string(), digest.to_string())
    } else {
        match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => {
                (rest[..i].to_string(), rest[i + 1..].to_string())
            }
            _ => (rest.to_string(), "latest".to_string()),
        }
    };
    if repository.is_empty() || reference.is_empty() {
        return Err(bad("empty repository or tag"));
    }
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    Ok(ImageReference {
        registry,
        repository,
        reference,
    })
}

/// What an image's config says about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageLabels {
    pub labels: BTreeMap<String, String>,
    /// The manifest's `Docker-Content-Digest` (of the index when the tag names one).
    pub digest: Option<String>,
}

/// The `ImageMetadata` observation (cli.md) of a fetch: `labels` and `digest`, or `error`.
pub fn image_metadata_observation(
    image: &str,
    result: &Result<ImageLabels, RegistryError>,
) -> Value {
    let mut obs = json!({
        "apiVersion": "observation.aimctl.dev/v1",
        "kind": "ImageMetadata",
        "image": image,
    });
    match result {
        Ok(l) => {
            obs["labels"] = json!(l.labels);
            if let Some(d) = &l.digest {
                obs["digest"] = json!(d);
            }
        }
        Err(e) => obs["error"] = json!(e.to_string()),
    }
    obs
}

impl HttpsRegistry {
    /// GET a registry URL: answers an auth challenge once (keeping the answer in
    /// `auth` for later requests) and follows redirects (blob storage), sending the
    /// registry's authorization only to the registry itself.
    async fn registry_get(
        &self,
        registry: &str,
        url: &str,
        accept: &str,
        auth: &mut Option<String>,
    ) -> Result<(String, Response), RegistryError> {
        let base = self.base(registry);
        let mut url = url.to_string();
        let mut challenged = false;
        for _ in 0..10 {
            let own = url.starts_with(&base);
            let sent = if own { auth.clone() } else { None };
            let resp = self.get(&url, sent.as_deref(), accept).await?;
            if resp.status == 401 && own && !challenged {
                challenged = true;
                let challenge = resp
                    .headers
                    .get("www-authenticate")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                *auth = if challenge.to_ascii_lowercase().starts_with("bearer") {
                    Some(format!(
                        "Bearer {}",
                        self.token(registry, &challenge).await?
                    ))
                } else {
                    self.basic(registry)
                };
                if auth.is_some() {
                    continue;
                }
            }
            if matches!(resp.status, 301 | 302 | 303 | 307 | 308)
                && let Some(location) = resp.headers.get("location").and_then(|h| h.to_str().ok())
            {
                url = if location.starts_with("http") {
                    location.to_string()
                } else {
                    format!("{base}{location}")
                };
                continue;
            }
            return Ok((url, resp));
        }
        Err(RegistryError::Transport {
            url,
            message: "too many redirects".into(),
        })
    }

    async fn registry_json(
        &self,
        registry: &str,
        url: &str,
        accept: &str,
        auth: &mut Option<String>,
    ) -> Result<(Value, Option<String>), RegistryError> {
        let (url, resp) = self.registry_get(registry, url, accept, auth).await?;
        if resp.status != 200 {
            return Err(status_error(&url, &resp));
        }
        let digest = resp
            .headers
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let v = serde_json::from_slice(&resp.body).map_err(|e| RegistryError::Decode {
            url,
            message: e.to_string(),
        })?;
        Ok((v, digest))
    }

    /// The labels of an image's config (`config.Labels`) and its manifest digest: the
    /// manifest (for an index or manifest list, the linux/amd64 entry or the first),
    /// then the config blob.
    pub async fn image_labels(&self, image: &str) -> Result<ImageLabels, RegistryError> {
        let r = parse_reference(image)?;
        let base = self.base(&r.registry);
        let manifest_url =
            |reference: &str| format!("{base}/v2/{}/manifests/{reference}", r.repository);
        let mut auth = None;
        let (mut manifest, digest) = self
            .registry_json(
                &r.registry,
                &manifest_url(&r.reference),
                MANIFEST_ACCEPT,
                &mut auth,
            )
            .await?;
        let digest = digest.or_else(|| r.reference.contains(':').then(|| r.reference.clone()));
        if let Some(entries) = manifest.get("manifests").and_then(Value::as_array) {
            let platform = |m: &&Value| {
                s_at(m, "/platform/os") == "linux" && s_at(m, "/platform/architecture") == "amd64"
            };
            let chosen = entries
                .iter()
                .find(platform)
                .or_else(|| entries.first())
                .ok_or_else(|| {
                    RegistryError::Unsupported(format!("image \"{image}\": empty manifest list"))
                })?;
            let child = s_at(chosen, "/digest").to_string();
            manifest = self
                .registry_json(
                    &r.registry,
                    &manifest_url(&child),
                    MANIFEST_ACCEPT,
                    &mut auth,
                )
                .await?
                .0;
        }
        let config = s_at(&manifest, "/config/digest").to_string();
        if config.is_empty() {
            return Err(RegistryError::Unsupported(format!(
                "image \"{image}\": manifest has no config (schema {})",
                manifest
                    .get("schemaVersion")
                    .map(Value::to_string)
                    .unwrap_or_default()
            )));
        }
        let blob = format!("{base}/v2/{}/blobs/{config}", r.repository);
        let (config, _) = self
            .registry_json(&r.registry, &blob, "application/json, */*", &mut auth)
            .await?;
        let labels = config
            .pointer("/config/Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ImageLabels { labels, digest })
    }
}

fn s_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl RegistryLister for HttpsRegistry {
    async fn tags(&self, registry: &str, repository: &str) -> Result<Vec<String>, RegistryError> {
        let repo = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        self.v2_paged(registry, &format!("/v2/{repo}/tags/list?n=1000"), "tags")
            .await
    }

    async fn repositories(
        &self,
        registry: &str,
        scope: &str,
    ) -> Result<Vec<String>, RegistryError> {
        if registry == DOCKER_HUB {
            if scope.is_empty() {
                return Err(RegistryError::Unsupported(
                    "cannot extract namespace from pattern".into(),
                ));
            }
            return self.hub_repositories(scope).await;
        }
        if registry == GHCR {
            if scope.is_empty() || scope.contains('.') {
                return Err(RegistryError::Unsupported(
                    "cannot extract GitHub organization from pattern".into(),
                ));
            }
            return self.github_packages(scope).await;
        }
        self.v2_paged(registry, "/v2/_catalog?n=1000", "repositories")
            .await
    }
}

fn status_error(url: &str, resp: &Response) -> RegistryError {
    let mut body = String::from_utf8_lossy(&resp.body).to_string();
    body.truncate(512);
    RegistryError::Status {
        status: resp.status,
        url: url.to_string(),
        body,
    }
}

/// `key="value"` pairs of an auth challenge (after the scheme).
fn parse_challenge(h: &str) -> HashMap<String, String> {
    let rest = h.split_once(' ').map_or("", |(_, r)| r);
    let mut out = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                value.push(c);
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
    out
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &hyper::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Fake {
        repos: HashMap<String, Vec<String>>,
        tags: HashMap<String, Vec<String>>,
        calls: Mutex<Vec<String>>,
    }

    impl RegistryLister for Fake {
        async fn tags(
            &self,
            registry: &str,
            repository: &str,
        ) -> Result<Vec<String>, RegistryError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("tags {registry} {repository}"));
            self.tags
                .get(repository)
                .cloned()
                .ok_or_else(|| RegistryError::Unsupported(format!("no repository {repository}")))
        }
        async fn repositories(
            &self,
            registry: &str,
            scope: &str,
        ) -> Result<Vec<String>, RegistryError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("repos {registry} {scope}"));
            self.repos
                .get(registry)
                .cloned()
                .ok_or_else(|| RegistryError::Unsupported("catalog disabled".into()))
        }
    }

    fn fake() -> Fake {
        Fake {
            repos: HashMap::from([(
                "docker.io".to_string(),
                vec!["amd/aim-qwen".to_string(), "amd/base".to_string()],
            )]),
            tags: HashMap::from([
                ("amd/aim-qwen".to_string(), vec!["0.8.5".to_string()]),
                ("amd/llama".to_string(), vec!["1.0.0".to_string()]),
            ]),
            calls: Mutex::new(vec![]),
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn observations_for_a_source() {
        let lister = fake();
        let source = json!({"metadata": {"name": "src"}, "spec": {"filters": [
            {"image": "amd/aim-*"}, {"image": "amd/llama"}, {"image": "amd/missing"},
            {"image": "ghcr.io/x/y:1.0"}, {"image": "quay.io/org/*"}]}});
        let obs = block(observe_source(&lister, &source));
        assert_eq!(obs.len(), 2, "{obs:#?}");
        let hub = obs.iter().find(|o| o["registry"] == "docker.io").unwrap();
        let names: Vec<&str> = hub["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["amd/aim-qwen", "amd/llama", "amd/missing"]);
        assert!(hub["repositories"][2]["error"].is_string());
        let quay = obs.iter().find(|o| o["registry"] == "quay.io").unwrap();
        assert!(quay["error"].as_str().unwrap().contains("catalog disabled"));
        // the exact-tag filter needs no call
        assert!(
            !lister
                .calls
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.contains("ghcr"))
        );
    }

    #[test]
    fn observations_plan_like_a_state() {
        // the observations feed the planner as a dry-run state would
        let lister = fake();
        let source = json!({"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMClusterModelSource",
            "metadata": {"name": "src", "uid": "u"}, "spec": {"filters": [{"image": "amd/aim-*"}]}});
        let mut objects = block(observe_source(&lister, &source));
        objects.push(source.clone());
        let snap = crate::snapshot::Snapshot::new(objects);
        let pack = crate::rules::RulePack::builtin().unwrap();
        let plan = crate::plan::plan_object(
            &snap,
            &pack,
            &source,
            "2026-01-01T00:00:00Z",
            &Default::default(),
        )
        .unwrap();
        assert_eq!(plan.objects.len(), 1);
        assert_eq!(plan.objects[0]["spec"]["image"], "amd/aim-qwen:0.8.5");
    }

    #[test]
    fn docker_config_credentials() {
        let cfg = br#"{"auths": {"ghcr.io": {"username": "u", "password": "p"},
            "https://index.docker.io/v1/": {"auth": "dXNlcjpzZWNyZXQ="}}}"#;
        let c = credentials_from_docker_config(cfg);
        assert_eq!(c["ghcr.io"].password, "p");
        assert_eq!(
            c["docker.io"],
            Credentials {
                username: "user".into(),
                password: "secret".into()
            }
        );
    }

    #[test]
    fn challenge_and_links() {
        let p = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.example.com/token");
        assert_eq!(p["scope"], "repository:a/b:pull");
        let mut h = hyper::HeaderMap::new();
        h.insert(
            "link",
            r#"</v2/_catalog?last=b&n=2>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h).unwrap(), "/v2/_catalog?last=b&n=2");
    }

    /// A registry speaking plain HTTP on localhost: token auth, then two pages of tags.
    #[test]
    fn https_lister_against_a_local_registry() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        block(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let host = format!("127.0.0.1:{}", addr.port());
            let realm = format!("http://{host}/token");
            let server = tokio::spawn(async move {
                for _ in 0..4 {
                    let (mut sock, _) = listener.accept().await.unwrap();
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap();
                    let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                    let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                    let authed = req.contains("authorization: bearer tok");
                    let (status, headers, body) = if path.starts_with("/token") {
                        assert!(req.contains("authorization: basic "), "{req}");
                        ("200 OK", String::new(), r#"{"token": "tok"}"#.to_string())
                    } else if !authed {
                        (
                            "401 Unauthorized",
                            format!(
                                "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"reg\",scope=\"repository:org/llm:pull\"\r\n"
                            ),
                            String::new(),
                        )
                    } else if path.contains("last=") {
                        (
                            "200 OK",
                            String::new(),
                            r#"{"name": "org/llm", "tags": ["1.1.0"]}"#.to_string(),
                        )
                    } else {
                        (
                            "200 OK",
                            "Link: </v2/org/llm/tags/list?last=1.0.0&n=1000>; rel=\"next\"\r\n"
                                .to_string(),
                            r#"{"name": "org/llm", "tags": ["1.0.0"]}"#.to_string(),
                        )
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    sock.write_all(resp.as_bytes()).await.unwrap();
                }
            });
            let creds = HashMap::from([(
                host.clone(),
                Credentials {
                    username: "u".into(),
                    password: "p".into(),
                },
            )]);
            let lister = HttpsRegistry::new(creds).unwrap().with_insecure(&host);
            let tags = lister.tags(&host, "org/llm").await.unwrap();
            assert_eq!(tags, ["1.0.0", "1.1.0"]);
            server.await.unwrap();
        });
    }

    #[test]
    fn image_references() {
        let r = |i: &str| {
            let r = parse_reference(i).unwrap();
            (r.registry, r.repository, r.reference)
        };
        let o = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(r("ubuntu"), o("docker.io", "library/ubuntu", "latest"));
        assert_eq!(r("amd/aim:0.8"), o("docker.io", "amd/aim", "0.8"));
        assert_eq!(
            r("ghcr.io/org/llm:1.0@sha256:ab"),
            o("ghcr.io", "org/llm", "sha256:ab")
        );
        assert_eq!(r("localhost:5000/x"), o("localhost:5000", "x", "latest"));
        assert_eq!(
            r("index.docker.io/redis:7"),
            o("docker.io", "library/redis", "7")
        );
        assert!(parse_reference("").is_err());
        assert!(parse_reference("x@nodigest").is_err());
    }

    /// Serves `route(path, request) -> (status, extra headers, body)` on localhost
    /// until dropped; returns the host and the requests seen.
    async fn serve<F>(route: F) -> (String, Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>)
    where
        F: Fn(&str, &str, &str) -> (&'static str, String, String) + Send + 'static,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(vec![]));
        let (h, log) = (host.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(req.clone());
                let (status, headers, body) = route(&h, &path, &req);
                let resp = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        (host, seen, task)
    }

    /// Token auth, then manifest list → linux/amd64 manifest → config blob (redirected).
    #[test]
    fn image_labels_from_a_local_registry() {
        block(async {
            let (host, seen, task) = serve(|host, path, req| {
                let authed = req.contains("authorization: bearer tok");
                let ok = |h: String, b: &str| ("200 OK", h, b.to_string());
                if path.starts_with("/token") {
                    assert!(req.contains("scope=repository%3aorg%2fllm%3apull"), "{req}");
                    return ok(String::new(), r#"{"token": "tok"}"#);
                }
                if path.starts_with("/storage/") {
                    assert!(!req.contains("authorization"), "{req}");
                    return ok(
                        String::new(),
                        r#"{"architecture": "amd64", "config": {"Labels": {"com.amd.aim.model.canonicalName": "org/llm", "n": "1"}}}"#,
                    );
                }
                if !authed {
                    return (
                        "401 Unauthorized",
                        format!("WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"reg\",scope=\"repository:org/llm:pull\"\r\n"),
                        String::new(),
                    );
                }
                match path {
                    "/v2/org/llm/manifests/1.0" => {
                        assert!(req.contains("application/vnd.oci.image.index.v1+json"), "{req}");
                        ok(
                            "Docker-Content-Digest: sha256:index\r\n".into(),
                            r#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
                                {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
                                {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}]}"#,
                        )
                    }
                    "/v2/org/llm/manifests/sha256:amd" => ok(
                        "Docker-Content-Digest: sha256:amd\r\n".into(),
                        r#"{"schemaVersion": 2, "config": {"digest": "sha256:cfg"}, "layers": []}"#,
                    ),
                    "/v2/org/llm/blobs/sha256:cfg" => (
                        "307 Temporary Redirect",
                        // another host (storage): no registry authorization
                        format!(
                            "Location: http://{}/storage/cfg\r\n",
                            host.replace("127.0.0.1", "localhost")
                        ),
                        String::new(),
                    ),
                    _ => ("404 Not Found", String::new(), String::new()),
                }
            })
            .await;
            let creds = HashMap::from([(
                host.clone(),
                Credentials {
                    username: "u".into(),
                    password: "p".into(),
                },
            )]);
            let reg = HttpsRegistry::new(creds).unwrap().with_insecure(&host);
            let image = format!("{host}/org/llm:1.0");
            let got = reg.image_labels(&image).await.unwrap();
            assert_eq!(got.digest.as_deref(), Some("sha256:index"));
            assert_eq!(got.labels["com.amd.aim.model.canonicalName"], "org/llm");
            assert_eq!(got.labels["n"], "1");
            let obs = image_metadata_observation(&image, &Ok(got));
            assert_eq!(obs["kind"], "ImageMetadata");
            assert_eq!(obs["image"], image.as_str());
            assert_eq!(obs["digest"], "sha256:index");
            let reqs = seen.lock().unwrap().clone();
            assert!(
                reqs.iter()
                    .any(|r| r.starts_with("get /token") && r.contains("authorization: basic "))
            );
            // the token is asked for once, then reused
            assert_eq!(
                reqs.iter().filter(|r| r.starts_with("get /token")).count(),
                1
            );
            // a missing tag is an error observation
            let err = reg.image_labels(&format!("{host}/org/llm:2.0")).await;
            assert!(
                matches!(err, Err(RegistryError::Status { status: 404, .. })),
                "{err:?}"
            );
            let obs = image_metadata_observation(&image, &err);
            assert!(obs["error"].as_str().unwrap().contains("404"));
            task.abort();
        });
    }
}
