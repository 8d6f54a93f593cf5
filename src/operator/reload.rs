//! Rule packs at runtime. A pack comes from a folder (`--rules`, polled: ConfigMap
//! folder mounts swap a symlink, which no inotify rename catches reliably) or from a
//! ConfigMap watched through the API (`--rules-configmap`; subPath mounts never
//! update, so this is the reliable path). Whatever arrives is compiled and linted; a
//! clean pack is swapped in atomically and every object is re-planned, a broken one
//! is never activated: the last good pack stays, the diagnostics are logged, counted
//! and reported as a Warning Event on the ConfigMap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Client, Resource};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tracing::{error, info, warn};

use super::events::Recorder;
use super::metrics::{Metrics, ResultLabel};
use crate::rules::diagnostic::{Format, render};
use crate::rules::{LoadError, RulePack, SharedPack};

/// How often the `--rules` folder is read for changes.
const POLL: Duration = Duration::from_secs(2);

/// Named rule files (`x.rules`, `y.rhai`) and their text.
pub type Files = Vec<(String, String)>;

/// Why a pack was not activated: the rendered diagnostics.
#[derive(Debug, thiserror::Error)]
#[error("rule pack from {origin} rejected:\n{diagnostics}")]
pub struct Rejected {
    pub origin: String,
    pub diagnostics: String,
}

/// Compiles and lints a pack; only a pack without errors comes back.
pub fn compile(origin: &str, files: Files) -> Result<RulePack, Rejected> {
    if files.is_empty() {
        return Err(Rejected {
            origin: origin.into(),
            diagnostics: "no *.rules or *.rhai files".into(),
        });
    }
    match RulePack::compile(files) {
        Ok(pack) => {
            let report = crate::rules::lint::lint_pack(&pack);
            if report.errors() > 0 {
                return Err(Rejected {
                    origin: origin.into(),
                    diagnostics: render(&report.sources, &report.diagnostics, Format::Human),
                });
            }
            if report.warnings() > 0 {
                warn!(
                    origin,
                    warnings = %render(&report.sources, &report.diagnostics, Format::Human),
                    "rule pack has warnings"
                );
            }
            Ok(pack)
        }
        Err(LoadError::Invalid {
            sources,
            diagnostics,
            ..
        }) => Err(Rejected {
            origin: origin.into(),
            diagnostics: render(&sources, &diagnostics, Format::Human),
        }),
        Err(e) => Err(Rejected {
            origin: origin.into(),
            diagnostics: e.to_string(),
        }),
    }
}

/// The rule files of a folder by file name (hidden entries such as a mounted
/// ConfigMap's `..data` are skipped; symlinks are followed).
pub fn read_folder(dir: &Path) -> std::io::Result<Files> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !(name.ends_with(".rules") || name.ends_with(".rhai")) {
            continue;
        }
        if path.is_file() {
            files.push((name.to_string(), std::fs::read_to_string(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// The rule files of a ConfigMap: its `*.rules` and `*.rhai` keys.
pub fn configmap_files(cm: &ConfigMap) -> Files {
    let mut files: Files = cm
        .data
        .iter()
        .flatten()
        .filter(|(k, _)| k.ends_with(".rules") || k.ends_with(".rhai"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    files.sort();
    files
}

fn digest(files: &Files) -> String {
    let mut h = Sha256::new();
    for (name, text) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What became of an offered pack.
#[derive(Debug)]
pub enum Offer {
    /// Same files as before: nothing to do.
    Unchanged,
    Activated,
    Rejected(Rejected),
}

/// Holds the active pack and decides what to do with offered ones.
pub struct Reloader {
    pack: Arc<SharedPack>,
    metrics: Arc<Metrics>,
    /// Source-independent digest of the active files (same files from the folder and
    /// from the ConfigMap are one pack).
    active: Mutex<String>,
    /// Last files seen per source, so a broken pack is compiled and reported once.
    seen: Mutex<HashMap<String, String>>,
    swapped: broadcast::Sender<()>,
}

impl Reloader {
    pub fn new(pack: RulePack, files_digest: String, origin: &str, metrics: Arc<Metrics>) -> Self {
        metrics.active_pack(&pack.digest, origin);
        Reloader {
            pack: Arc::new(SharedPack::from_pointee(pack)),
            metrics,
            active: Mutex::new(files_digest),
            seen: Mutex::new(HashMap::new()),
            swapped: broadcast::channel(16).0,
        }
    }

    pub fn pack(&self) -> Arc<SharedPack> {
        self.pack.clone()
    }

    /// Fires after every activation.
    pub fn subscribe(&self) -> broadcast::Receiver<()> {
        self.swapped.subscribe()
    }

    pub fn offer(&self, source: &str, files: Files) -> Offer {
        let d = digest(&files);
        if let Ok(mut seen) = self.seen.lock() {
            if seen.get(source) == Some(&d) {
                return Offer::Unchanged;
            }
            seen.insert(source.to_string(), d.clone());
        }
        if self.active.lock().is_ok_and(|a| *a == d) {
            self.metrics.pack_rejected.set(0);
            return Offer::Unchanged;
        }
        match compile(source, files) {
            Ok(pack) => {
                info!(source, digest = %pack.digest, "rule pack activated; re-planning everything");
                self.metrics.active_pack(&pack.digest, source);
                self.metrics
                    .pack_reloads
                    .get_or_create(&ResultLabel {
                        result: "activated".into(),
                    })
                    .inc();
                self.metrics.pack_rejected.set(0);
                self.pack.store(Arc::new(pack));
                if let Ok(mut a) = self.active.lock() {
                    *a = d;
                }
                let _ = self.swapped.send(());
                Offer::Activated
            }
            Err(rejected) => {
                error!(source, diagnostics = %rejected.diagnostics, "rule pack rejected; the previous pack stays active");
                self.metrics
                    .pack_reloads
                    .get_or_create(&ResultLabel {
                        result: "rejected".into(),
                    })
                    .inc();
                self.metrics.pack_rejected.set(1);
                Offer::Rejected(rejected)
            }
        }
    }
}

/// Where packs come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub folder: Option<PathBuf>,
    /// (namespace, name)
    pub configmap: Option<(String, String)>,
}

fn folder_origin(dir: &Path) -> String {
    format!("folder {}", dir.display())
}

fn configmap_origin(ns: &str, name: &str) -> String {
    format!("ConfigMap {ns}/{name}")
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error("cannot read the rules ConfigMap {0}: {1}")]
    ConfigMap(String, kube::Error),
    #[error("cannot read rule folder {0}: {1}")]
    Folder(String, std::io::Error),
}

/// The pack to start with: the ConfigMap if it exists (the API is the reliable
/// source), else the folder, else the built-in pack. A broken pack is an error: the
/// operator must not start on it.
pub async fn initial_with(
    client: &Client,
    sources: &Sources,
    metrics: Arc<Metrics>,
) -> Result<Reloader, StartupError> {
    if let Some((ns, name)) = &sources.configmap {
        let origin = configmap_origin(ns, name);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let mut attempt = 0;
        let found = loop {
            match api.get_opt(name).await {
                Ok(cm) => break cm,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    warn!(error = %e, "reading the rules ConfigMap; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * (1 << attempt))).await;
                }
                Err(e) => return Err(StartupError::ConfigMap(origin, e)),
            }
        };
        match found {
            Some(cm) => {
                let files = configmap_files(&cm);
                let d = digest(&files);
                let pack = compile(&origin, files)?;
                let r = Reloader::new(pack, d.clone(), &origin, metrics);
                r.remember(&origin, &d);
                return Ok(r);
            }
            None => {
                warn!(configmap = %origin, "rules ConfigMap not found; starting with the folder or built-in pack")
            }
        }
    }
    if let Some(dir) = &sources.folder {
        let origin = folder_origin(dir);
        let files =
            read_folder(dir).map_err(|e| StartupError::Folder(dir.display().to_string(), e))?;
        let d = digest(&files);
        let pack = compile(&origin, files)?;
        let r = Reloader::new(pack, d.clone(), &origin, metrics);
        r.remember(&origin, &d);
        return Ok(r);
    }
    let pack = RulePack::builtin().map_err(|e| Rejected {
        origin: "the built-in pack".into(),
        diagnostics: e.to_string(),
    })?;
    Ok(Reloader::new(pack, String::new(), "builtin", metrics))
}

impl Reloader {
    fn remember(&self, source: &str, digest: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(source.into(), digest.into());
        }
    }
}

/// Polls the folder until the process ends.
pub async fn poll_folder(dir: PathBuf, reloader: Arc<Reloader>) {
    let origin = folder_origin(&dir);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match read_folder(&dir) {
            Ok(files) => {
                reloader.offer(&origin, files);
            }
            Err(e) => {
                warn!(folder = %dir.display(), error = %e, "cannot read the rule folder; keeping the active pack")
            }
        }
    }
}

/// Watches the ConfigMap until the process ends. `may_write` says whether this
/// replica may write (the leader reports rejected packs as Events).
pub async fn watch_configmap(
    client: Client,
    ns: String,
    name: String,
    reloader: Arc<Reloader>,
    recorder: Recorder,
    may_write: impl Fn() -> bool,
) {
    let origin = configmap_origin(&ns, &name);
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = kube::runtime::watcher(api, config)
        .default_backoff()
        .boxed();
    while let Some(event) = stream.next().await {
        let cm = match event {
            Ok(WatchEvent::Apply(cm) | WatchEvent::InitApply(cm)) => cm,
            Ok(WatchEvent::Delete(_)) => {
                warn!(configmap = %origin, "rules ConfigMap deleted; keeping the active pack");
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                warn!(configmap = %origin, error = %e, "watching the rules ConfigMap; retrying");
                continue;
            }
        };
        if let Offer::Rejected(rejected) = reloader.offer(&origin, configmap_files(&cm))
            && may_write()
        {
            let reference = cm.object_ref(&());
            let note: String = rejected.diagnostics.chars().take(1000).collect();
            let event = Event {
                type_: EventType::Warning,
                reason: "RulePackRejected".into(),
                note: Some(format!(
                    "rule pack not activated, the previous pack stays active:\n{note}"
                )),
                action: "Reload".into(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&event, &reference).await {
                warn!(error = %e, "cannot record the rejected-pack Event");
            }
        }
    }
}

/// The reporter of pack Events.
pub fn reporter(instance: &str) -> Reporter {
    Reporter {
        controller: "aimctl-rules".into(),
        instance: Some(instance.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin_files() -> Files {
        read_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
    }

    #[test]
    fn a_mounted_configmap_folder_reads_as_its_keys() {
        let dir = std::env::temp_dir().join(format!("aimctl-reload-{}", std::process::id()));
        let data = dir.join("..2026_01_01");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("a.rules"), "rank x = [a]").unwrap();
        std::fs::write(dir.join("a.rules"), "rank x = [a]").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.join(".hidden.rules"), "ignored").unwrap();
        let files = read_folder(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            files,
            vec![("a.rules".to_string(), "rank x = [a]".to_string())]
        );
    }

    #[test]
    fn same_files_from_two_sources_are_one_pack() {
        let files = builtin_files();
        let pack = compile("test", files.clone()).unwrap();
        let r = Reloader::new(pack, digest(&files), "folder", Arc::new(Metrics::new()));
        assert!(matches!(r.offer("configmap", files), Offer::Unchanged));
    }

    #[test]
    fn a_broken_pack_is_rejected_once_and_never_activated() {
        let files = builtin_files();
        let pack = compile("test", files.clone()).unwrap();
        let before = pack.digest.clone();
        let r = Reloader::new(pack, digest(&files), "folder", Arc::new(Metrics::new()));
        let mut broken = files.clone();
        broken.push(("broken.rules".into(), "rank gpu_tier = [".into()));
        assert!(matches!(r.offer("cm", broken.clone()), Offer::Rejected(_)));
        assert!(matches!(r.offer("cm", broken), Offer::Unchanged));
        assert_eq!(r.pack().load().digest, before);
        let mut retuned = files;
        let sel = retuned
            .iter_mut()
            .find(|(n, _)| n == "selection.rules")
            .unwrap();
        sel.1 = sel.1.replace("MI325X, MI300X", "MI300X, MI325X");
        assert!(matches!(r.offer("cm", retuned), Offer::Activated));
        assert_ne!(r.pack().load().digest, before);
    }
}
