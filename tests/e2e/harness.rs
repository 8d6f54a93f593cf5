//! A Kubernetes API for end-to-end tests, driven with `kubectl`.
//!
//! [`Cluster::start`] starts the API emulator (`../shared/tools/kube-emulator` beside
//! the repository, or `KUBE_EMULATOR_DIR`) with its own kubeconfig in a scratch folder,
//! the repository's CRDs (`crds/`) and the emulator's third-party CRDs (KServe, Gateway
//! API, KEDA, LeaderWorkerSet), and stops it when dropped. With `AIMCTL_E2E_KUBECONFIG`
//! set, the tests use that cluster instead (kind, k3d, ...): the CRDs of `crds/` are
//! applied to it, and the namespaces a test creates are deleted afterwards.
//!
//! Nothing here skips: a cluster that cannot be had, or a missing `kubectl`
//! (`KUBECTL` names another binary), fails the test with the reason and the emulator
//! log.

#![allow(dead_code)] // a toolbox: not every test binary uses every helper

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single `kubectl` call may take before the test fails.
const KUBECTL_DEADLINE: Duration = Duration::from_secs(120);
/// The longest the emulator's `start` may take (its first run creates a virtualenv).
const START_DEADLINE: Duration = Duration::from_secs(600);

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `crds/*.yaml` of the repository, sorted (the folder also holds a `Kustomization`).
pub fn crd_files() -> Vec<PathBuf> {
    let dir = repo().join("crds");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// The emulator folder: `KUBE_EMULATOR_DIR`, else `../shared/tools/kube-emulator`
/// relative to the repository root.
pub fn emulator_dir() -> PathBuf {
    match std::env::var_os("KUBE_EMULATOR_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo().join("../shared/tools/kube-emulator"),
    }
}

fn kubectl_binary() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

/// A short random hex string (std's `RandomState` is randomly keyed per process).
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() as u32)
}

/// What one finished command did.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panics if the command succeeded.
    #[track_caller]
    pub fn failed(self) -> Run {
        assert!(!self.success(), "command should have failed: {self}");
        self
    }

    /// stdout parsed as JSON (for `-o json`).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({})\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` to the end (feeding `stdin`), failing the test after `deadline`.
fn run(mut command: Command, stdin: Option<&str>, deadline: Duration) -> Run {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(OsStr::to_string_lossy)
            .collect::<Vec<_>>()
            .join(" ")
    );
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "cannot run `{shown}`: {} not found. The end-to-end tests need kubectl on PATH \
             (or KUBECTL=/path/to/kubectl); .ci/run installs it",
            command.get_program().to_string_lossy()
        ),
        Err(e) => panic!("cannot run `{shown}`: {e}"),
    };
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        let text = text.to_owned();
        // A writer thread: a child that does not read all of stdin must not block us.
        thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{shown}` did not finish within {deadline:?}");
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for `{shown}`: {e}"),
        }
    };
    Run {
        command: shown,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A folder under the system temp dir, removed on drop (kept when the test failed).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        let path = std::env::temp_dir().join(format!("aimctl-e2e-{}", unique_suffix()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("e2e: kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

struct Emulator {
    dir: PathBuf,
    url: String,
    log: PathBuf,
}

/// What [`Cluster::with`] sets up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Install the CRDs of `crds/` (the default). Off for tests that install them
    /// themselves.
    pub aim_crds: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { aim_crds: true }
    }
}

/// A Kubernetes API for one test: an emulator of its own, or the cluster of
/// `AIMCTL_E2E_KUBECONFIG`.
pub struct Cluster {
    kubeconfig: PathBuf,
    emulator: Option<Emulator>,
    namespaces: Mutex<Vec<String>>,
    // Dropped last: the kubeconfig and the emulator's log live here.
    scratch: ScratchDir,
}

impl Cluster {
    /// A cluster with the AIM CRDs installed.
    pub fn start() -> Cluster {
        Cluster::with(Options::default())
    }

    /// A cluster without the AIM CRDs (the third-party ones are there on the emulator).
    pub fn without_aim_crds() -> Cluster {
        Cluster::with(Options { aim_crds: false })
    }

    pub fn with(options: Options) -> Cluster {
        let scratch = ScratchDir::new();
        let crds = crd_files();
        if options.aim_crds {
            assert!(
                !crds.is_empty(),
                "crds/ holds no CRD files; generate them with `cargo run -- crds`"
            );
        }
        match std::env::var_os("AIMCTL_E2E_KUBECONFIG") {
            Some(path) if !path.is_empty() => {
                let kubeconfig = PathBuf::from(path);
                assert!(
                    kubeconfig.is_file(),
                    "AIMCTL_E2E_KUBECONFIG={} is not a file",
                    kubeconfig.display()
                );
                let cluster = Cluster {
                    kubeconfig,
                    emulator: None,
                    namespaces: Mutex::new(Vec::new()),
                    scratch,
                };
                if options.aim_crds {
                    cluster.apply_crds();
                }
                cluster
            }
            _ => {
                let emulator = start_emulator(&scratch.0, options.aim_crds);
                Cluster {
                    kubeconfig: scratch.0.join("kubeconfig.emulator"),
                    emulator: Some(emulator),
                    namespaces: Mutex::new(Vec::new()),
                    scratch,
                }
            }
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Whether this is the emulator (not a real cluster).
    pub fn is_emulator(&self) -> bool {
        self.emulator.is_some()
    }

    /// The emulator's base URL (for its admin API, `$URL/_emulator/...`).
    pub fn emulator_url(&self) -> Option<&str> {
        self.emulator.as_ref().map(|e| e.url.as_str())
    }

    /// The emulator's log so far (empty for a real cluster).
    pub fn emulator_log(&self) -> String {
        self.emulator
            .as_ref()
            .and_then(|e| std::fs::read_to_string(&e.log).ok())
            .unwrap_or_default()
    }

    /// A scratch folder that lives as long as the cluster.
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch.0
    }

    /// `kubectl <args>` against this cluster.
    pub fn kubectl<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        run(self.kubectl_command(args), None, KUBECTL_DEADLINE)
    }

    /// `kubectl <args>` with `stdin` (e.g. `apply -f -`).
    pub fn kubectl_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: &str) -> Run {
        run(self.kubectl_command(args), Some(stdin), KUBECTL_DEADLINE)
    }

    /// The `kubectl` command with this cluster's kubeconfig and a private discovery
    /// cache, for callers that need more control.
    pub fn kubectl_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(kubectl_binary());
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("KUBECACHEDIR", self.scratch.0.join("kube-cache"))
            .env_remove("KUBECONFIG");
        command
    }

    /// Creates a namespace `e2e-<hint>-<random>` (at most 63 characters) and returns
    /// its name; on a real cluster it is deleted when the cluster is dropped.
    pub fn namespace(&self, hint: &str) -> String {
        let suffix = unique_suffix();
        let mut hint: String = hint
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        hint.truncate(63 - "e2e-".len() - 1 - suffix.len());
        let name = format!("e2e-{}-{suffix}", hint.trim_matches('-'));
        self.kubectl(&["create", "namespace", &name]).ok();
        self.namespaces
            .lock()
            .expect("namespaces")
            .push(name.clone());
        name
    }

    /// `kubectl apply --server-side -f crds/` and waits until every CRD is established.
    pub fn apply_crds(&self) {
        let files = crd_files();
        assert!(!files.is_empty(), "crds/ holds no CRD files");
        self.kubectl(&[
            OsStr::new("apply"),
            OsStr::new("--server-side"),
            OsStr::new("--force-conflicts"),
            OsStr::new("-f"),
            repo().join("crds").as_os_str(),
        ])
        .ok();
        self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            repo().join("crds").to_str().expect("a UTF-8 path"),
        ])
        .ok();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking()
            && let Some(emulator) = &self.emulator
        {
            let log = std::fs::read_to_string(&emulator.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "e2e: last lines of the emulator log ({}):\n{}",
                emulator.log.display(),
                tail.join("\n")
            );
        }
        if self.emulator.is_none() {
            for namespace in self
                .namespaces
                .lock()
                .map(|n| n.clone())
                .unwrap_or_default()
            {
                let _ = run(
                    self.kubectl_command(&["delete", "namespace", &namespace, "--wait=false"]),
                    None,
                    KUBECTL_DEADLINE,
                );
            }
        }
        if let Some(emulator) = &self.emulator {
            let mut stop = Command::new(emulator.dir.join("stop"));
            stop.arg("--kubeconfig").arg(&self.kubeconfig);
            let result = run(stop, None, Duration::from_secs(30));
            if !result.success() {
                eprintln!("e2e: stopping the emulator failed: {result}");
            }
        }
    }
}

/// The `aimctl` binary of this build, running against a [`Cluster`]; killed on drop.
pub struct Process {
    child: Child,
    log: PathBuf,
    command: String,
}

impl Process {
    /// Its stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("e2e: log of `{}`:\n{}", self.command, self.log());
        }
    }
}

impl Cluster {
    /// Starts `aimctl <args>` (the binary cargo built for this test) with this
    /// cluster's kubeconfig; its output goes to a log file ([`Process::log`]).
    pub fn spawn_aimctl(&self, args: &[&str]) -> Process {
        let binary = env!("CARGO_BIN_EXE_aimctl");
        let log = self
            .scratch
            .0
            .join(format!("aimctl-{}.log", unique_suffix()));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(binary)
            .args(args)
            .current_dir(repo())
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Process {
            child,
            log,
            command: format!("aimctl {}", args.join(" ")),
        }
    }
}

/// Calls `probe` every 100 ms until it returns `Some`, failing the test with `what`
/// after `timeout`.
#[track_caller]
pub fn eventually<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the emulator's `start` script in `scratch`; panics with its log on failure.
fn start_emulator(scratch: &Path, aim_crds: bool) -> Emulator {
    let dir = emulator_dir();
    let start = dir.join("start");
    assert!(
        start.is_file(),
        "no kube emulator at {} (set KUBE_EMULATOR_DIR, or AIMCTL_E2E_KUBECONFIG to use a real \
         cluster)",
        dir.display()
    );
    let kubeconfig = scratch.join("kubeconfig.emulator");
    let mut command = Command::new(&start);
    command.arg("--kubeconfig").arg(&kubeconfig);
    if aim_crds {
        // `--crds` reads every *.yaml of the folder (the Kustomization file is not one).
        command.arg("--crds").arg(repo().join("crds"));
    }
    command.arg("--crds").arg(dir.join("crds/third-party"));
    let result = run(command, None, START_DEADLINE);
    let log_path = PathBuf::from(format!("{}.log", kubeconfig.display()));
    if !result.success() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!(
            "the kube emulator did not start: {result}\n--- emulator log ({})\n{log}",
            log_path.display()
        );
    }
    let url = result
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("export EMULATOR_URL="))
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_owned())
        .unwrap_or_else(|| panic!("`start` printed no EMULATOR_URL: {result}"));
    Emulator {
        dir,
        url,
        log: log_path,
    }
}
