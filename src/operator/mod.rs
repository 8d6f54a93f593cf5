//! `aimctl operator`: the I/O shell around the planners. It only reads (reflector
//! caches folded into one shared snapshot), applies (server-side apply of what the
//! planner wants, when it does not hold yet) and reports (status, Events, metrics).
//! Every decision stays in the pure planner and the rule pack.
//!
//! Wiring: caches → snapshot → per-kind controllers (leader only) → writes; the rule
//! pack is hot-reloaded from a folder or a ConfigMap; `/healthz`, `/readyz` and
//! `/metrics` are served on one port; SIGTERM shuts down gracefully.

pub mod apply;
pub mod cache;
pub mod controller;
pub mod events;
pub mod health;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod reload;
pub mod triggers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::Client;
use tokio::sync::watch;
use tracing::{error, info, warn};

use self::cache::Cache;
use self::metrics::Metrics;
use self::reload::Reloader;

/// How the operator logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Command-line settings of `aimctl operator`.
#[derive(Debug, Clone)]
pub struct Options {
    pub rules: Option<PathBuf>,
    /// `NAMESPACE/NAME`
    pub rules_configmap: Option<String>,
    pub namespaces: Vec<String>,
    pub metrics_addr: SocketAddr,
    /// Where the leader Lease lives; `None` runs without election (one replica).
    pub leader_election_namespace: Option<String>,
    pub lease_duration_seconds: u64,
    pub log_format: LogFormat,
    /// Settings of every planning round (the operator namespace).
    pub settings: crate::plan::Settings,
    /// Controllers to run (kind or controller name); empty: all.
    pub controllers: Vec<String>,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot connect to the Kubernetes API: {0}")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Pack(#[from] reload::StartupError),
    #[error("cannot serve /metrics on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    #[error("leader election: {0}")]
    Election(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader Lease")]
    LostLeadership,
}

/// What the parts of the running operator share.
pub struct Shared {
    pub client: Client,
    pub cache: Arc<Cache>,
    pub reloader: Arc<Reloader>,
    pub metrics: Arc<Metrics>,
    pub resolver: apply::Resolver,
    /// This replica's name in the Lease and in Events.
    pub identity: String,
    pub settings: crate::plan::Settings,
    leader: AtomicBool,
}

impl Shared {
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
        self.metrics.leader.set(i64::from(leader));
    }
}

/// A long-running operator is sized by its resident memory: transparent huge pages
/// keep 2 MiB resident for every page the allocator touches (104 MB against 86 MB
/// with 10,000 services cached). The one-shot commands keep them, for speed.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a process flag
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        warn!(
            error = %std::io::Error::last_os_error(),
            "cannot turn transparent huge pages off"
        );
    }
}

/// mimalloc 3's option `purge_delay` (`mi_option_e` in its `mimalloc.h`; the Rust
/// bindings name only mimalloc 2's options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS at once. By default mimalloc keeps it for a
/// second, and an idle thread's heap for as long as the thread sleeps, so the
/// operator's resident size followed its last burst (70 MB against 57 MB right after
/// syncing 10,000 services).
fn return_freed_memory() {
    // SAFETY: sets a global option; mimalloc reads options atomically
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// Runs the operator until SIGTERM/SIGINT; the exit code follows cli.md (2: the rule
/// pack cannot be loaded).
pub fn run(options: Options) -> ExitCode {
    init_logging(options.log_format);
    without_huge_pages();
    return_freed_memory();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aimctl operator: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(operate(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Pack(e)) => {
            error!("{e}");
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A flag that turns true on SIGTERM or SIGINT.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = term => info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => info!("interrupted: shutting down"),
        }
        let _ = tx.send(true);
    });
    rx
}

async fn signalled(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "aimctl".into());
    format!("{base}-{}", std::process::id())
}

async fn operate(options: Options) -> Result<(), Error> {
    let configmap = match &options.rules_configmap {
        Some(s) => match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                Some((ns.to_string(), name.to_string()))
            }
            _ => {
                return Err(Error::Usage(format!(
                    "--rules-configmap wants NAMESPACE/NAME, got {s:?}"
                )));
            }
        },
        None => None,
    };
    let shutdown = shutdown_signal();
    let client = Client::try_default().await.map_err(Error::Client)?;
    let metrics = Arc::new(Metrics::new());
    let sources = reload::Sources {
        folder: options.rules.clone(),
        configmap: configmap.clone(),
    };
    let reloader = Arc::new(reload::initial_with(&client, &sources, metrics.clone()).await?);
    info!(digest = %reloader.pack().load().digest, "rule pack loaded");
    let listener = health::bind(options.metrics_addr)
        .await
        .map_err(|e| Error::Bind(options.metrics_addr, e))?;

    let mut entries: Vec<&'static controller::Reconciled> = vec![];
    for name in &options.controllers {
        match controller::reconciled(name) {
            Some(e) => entries.push(e),
            None => {
                return Err(Error::Usage(format!(
                    "--controllers: no controller {name:?} (one of {})",
                    controller::RECONCILED
                        .iter()
                        .map(|r| r.controller)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    if entries.is_empty() {
        entries = controller::RECONCILED.iter().collect();
    }
    let reconciled: Vec<&'static str> = entries.iter().map(|r| r.kind).collect();
    let cache = cache::start(
        client.clone(),
        &options.namespaces,
        &reconciled,
        metrics.clone(),
    );
    let identity = identity();
    let shared = Arc::new(Shared {
        client: client.clone(),
        cache,
        reloader: reloader.clone(),
        metrics: metrics.clone(),
        resolver: apply::Resolver::default(),
        identity: identity.clone(),
        settings: options.settings.clone(),
        leader: AtomicBool::new(false),
    });
    tokio::spawn(health::serve(listener, shared.clone(), shutdown.clone()));
    if let Some(dir) = options.rules.clone() {
        tokio::spawn(reload::poll_folder(dir, reloader.clone()));
    }
    if let Some((ns, name)) = configmap {
        let recorder = events::Recorder::new(client.clone(), reload::reporter(&identity));
        let leader_view = shared.clone();
        tokio::spawn(reload::watch_configmap(
            client.clone(),
            ns,
            name,
            reloader.clone(),
            recorder,
            move || leader_view.is_leader(),
        ));
    }

    let mut leadership = match options.leader_election_namespace.clone().or_else(|| {
        std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
    }) {
        Some(ns) => {
            let l = leader::campaign(
                client.clone(),
                &ns,
                &identity,
                options.lease_duration_seconds,
            )
            .await?;
            info!(namespace = %ns, identity, "waiting for the leader Lease");
            Some(l)
        }
        None => None,
    };
    if let Some(l) = leadership.as_mut() {
        let won = tokio::select! {
            won = l.acquired() => won,
            _ = signalled(shutdown.clone()) => false,
        };
        if !won {
            if let Some(l) = leadership {
                l.release().await;
            }
            return Ok(());
        }
        info!(identity, "leader: starting the controllers");
    }
    shared.set_leader(true);

    // Controllers stop on SIGTERM or when leadership is lost.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut controllers = tokio::task::JoinSet::new();
    for entry in entries.iter().copied() {
        controllers.spawn(controller::run(
            shared.clone(),
            entry,
            signalled(stop_rx.clone()),
        ));
    }
    // Observations the running planners read (pod logs, registry listings, image labels).
    let observe_logs = reconciled.iter().any(|k| {
        matches!(
            *k,
            "AIMServiceTemplate"
                | "AIMClusterServiceTemplate"
                | "AIMArtifact"
                | "AIMModel"
                | "AIMClusterModel"
                | "AIMTemplateCache"
        )
    });
    let mut observers = tokio::task::JoinSet::new();
    if observe_logs {
        observers.spawn(observe::pod_logs(shared.clone()));
    }
    if reconciled.contains(&"AIMClusterModelSource") {
        observers.spawn(observe::registry_listings(shared.clone()));
    }
    if reconciled.contains(&"AIMModel") || reconciled.contains(&"AIMClusterModel") {
        observers.spawn(observe::image_metadata(shared.clone()));
    }
    let lost = async {
        match leadership.as_mut() {
            Some(l) => l.lost().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        _ = signalled(shutdown.clone()) => Ok(()),
        _ = lost => Err(Error::LostLeadership),
    };
    let _ = stop_tx.send(true);
    while controllers.join_next().await.is_some() {}
    observers.abort_all();
    shared.set_leader(false);
    if let Some(l) = leadership {
        l.release().await;
    }
    if outcome.is_err() {
        warn!("stopped reconciling: another replica holds the Lease");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set_to_zero() {
        // mimalloc 3's documented default for purge_delay pins the index
        // SAFETY: reads a global option
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            1000
        );
        return_freed_memory();
        // SAFETY: as above
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            0
        );
    }
}
