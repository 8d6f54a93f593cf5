//! The command line: one binary, three faces (operator, rule authoring, CI checks).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod crds;
pub mod dry_run;
mod lint;
pub mod subset;
pub mod test;

use crate::rules::diagnostic::{Format, render};
use crate::rules::{LoadError, RulePack};

/// Deploy LLM inference services on Kubernetes, driven by a declarative rule pack.
#[derive(Debug, Parser)]
#[command(name = "aimctl", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controllers against the cluster of the kubeconfig (or in-cluster config),
    /// hot-reloading the rule pack when it changes.
    Operator {
        /// Rule pack folder (default: the pack built into the binary).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Watch only this namespace (repeatable; default: all namespaces).
        #[arg(long)]
        namespace: Vec<String>,
        /// Also take the rule pack from this ConfigMap (NAMESPACE/NAME), watched
        /// through the API; it wins over --rules at startup, then the latest change
        /// from either is offered.
        #[arg(long, value_name = "NAMESPACE/NAME")]
        rules_configmap: Option<String>,
        /// Address of /healthz, /readyz and /metrics.
        #[arg(long, default_value = "0.0.0.0:8080")]
        metrics_addr: std::net::SocketAddr,
        /// Namespace of the leader-election Lease (default: $POD_NAMESPACE; without
        /// either, no election: run one replica).
        #[arg(long)]
        leader_election_namespace: Option<String>,
        /// Seconds a leader's Lease lasts without renewal (the takeover time when a
        /// leader dies without releasing it).
        #[arg(long, default_value_t = 15)]
        lease_duration: u64,
        /// Log format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: crate::operator::LogFormat,
        /// Where cluster-scoped work runs (discovery Jobs of cluster templates) and
        /// cluster models' pull secrets live.
        #[arg(long, default_value = "aim-system")]
        operator_namespace: String,
        /// Run only these controllers (kind or controller name, comma-separated or
        /// repeated; default: all).
        #[arg(long, value_delimiter = ',')]
        controllers: Vec<String>,
    },
    /// Plan one reconcile round for every object in a cluster state read from YAML files
    /// and print what the operator would write.
    DryRun {
        /// State files or folders (folders are read recursively, *.yaml / *.yml).
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// Rule pack folder (default: the pack built into the binary).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Only this service (NAMESPACE/NAME); its dependencies are still read.
        #[arg(long)]
        service: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
        output: OutputFormat,
        /// The planner's clock (RFC 3339); default: the latest timestamp in the state.
        #[arg(long)]
        now: Option<String>,
        /// Where cluster-scoped work runs (discovery Jobs of cluster templates).
        #[arg(long, default_value = "aim-system")]
        operator_namespace: String,
        /// Print a trace of every decision on stderr.
        #[arg(long)]
        explain: bool,
    },
    /// Check a rule pack and report every problem with file:line:col and a stable code.
    Lint {
        /// Rule pack folder (default: the pack built into the binary).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Diagnostic format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Exit 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run rule-pack test cases (folders with state.yaml, expect.yaml, optional absent.yaml).
    Test {
        /// Rule pack folder (default: the pack built into the binary).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Case folders, or folders holding case folders.
        #[arg(required = true)]
        cases: Vec<PathBuf>,
    },
    /// Print every CustomResourceDefinition of aim.eai.amd.com as one YAML stream.
    Crds,
    /// Print a synthetic cluster state (for benchmarks and load tests).
    #[command(hide = true)]
    Generate {
        /// AIMServices.
        #[arg(long, default_value_t = 1000)]
        services: usize,
        /// Templates of the one model (a third namespaced, in every namespace).
        #[arg(long, default_value_t = 20)]
        templates: usize,
        /// Namespaces holding the services.
        #[arg(long, default_value_t = 1)]
        namespaces: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// Loads the pack or renders why it cannot be loaded (lint diagnostics).
pub fn load_pack(rules: Option<&std::path::Path>) -> Result<RulePack, String> {
    RulePack::load(rules).map_err(|e| match e {
        LoadError::Invalid {
            ref sources,
            ref diagnostics,
            ..
        } => {
            format!("{}{e}", render(sources, diagnostics, Format::Human))
        }
        other => other.to_string(),
    })
}

/// Runs one subcommand and maps its outcome to the exit codes of the CLI contract.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Crds => crds::run(),
        Command::Generate {
            services,
            templates,
            namespaces,
        } => {
            let shape = crate::synthetic::Shape {
                services,
                templates,
                namespaces,
            };
            let pack = match RulePack::builtin() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let mut objects = crate::synthetic::state(shape);
            crate::synthetic::settle(&mut objects, &pack);
            print!("{}", crate::synthetic::to_yaml(&objects));
            ExitCode::SUCCESS
        }
        Command::DryRun {
            files,
            rules,
            service,
            output,
            explain,
            now,
            operator_namespace,
        } => dry_run::run(dry_run::Options {
            files,
            rules,
            service,
            json: output == OutputFormat::Json,
            explain,
            now,
            settings: crate::plan::Settings {
                operator_namespace,
                explain,
                ..Default::default()
            },
        }),
        Command::Lint {
            rules,
            format,
            deny_warnings,
        } => lint::run(rules.as_deref(), format, deny_warnings),
        Command::Test { rules, cases } => test::run(rules.as_deref(), &cases),
        Command::Operator {
            rules,
            namespace,
            rules_configmap,
            metrics_addr,
            leader_election_namespace,
            lease_duration,
            log_format,
            operator_namespace,
            controllers,
        } => crate::operator::run(crate::operator::Options {
            rules,
            rules_configmap,
            namespaces: namespace,
            metrics_addr,
            leader_election_namespace,
            lease_duration_seconds: lease_duration,
            log_format,
            settings: crate::plan::Settings {
                operator_namespace,
                ..Default::default()
            },
            controllers,
        }),
    }
}
