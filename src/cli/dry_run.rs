//! `aimctl dry-run`: plan one round for a state read from files and print it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::plan::{self, Planned};
use crate::rules::RulePack;
use crate::snapshot::Snapshot;

pub struct Options {
    pub files: Vec<PathBuf>,
    pub rules: Option<PathBuf>,
    pub service: Option<String>,
    pub json: bool,
    pub explain: bool,
    pub now: Option<String>,
    pub settings: plan::Settings,
}

/// Why a dry run could not produce output (cli.md exit codes 1 and 2).
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Pack(String),
}

impl DryRunError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            DryRunError::Input(_) => ExitCode::from(1),
            DryRunError::Pack(_) => ExitCode::from(2),
        }
    }
}

/// Loads the pack and the state, plans the round.
pub fn plan_files(
    files: &[PathBuf],
    rules: Option<&std::path::Path>,
    service: Option<&str>,
    now: Option<&str>,
    settings: &plan::Settings,
) -> Result<(Vec<Planned>, RulePack), DryRunError> {
    let pack = super::load_pack(rules).map_err(DryRunError::Pack)?;
    let docs = crate::manifest::load_paths(files).map_err(|e| DryRunError::Input(e.to_string()))?;
    let objects = last_wins(docs);
    let clock = now
        .map(str::to_string)
        .unwrap_or_else(|| plan::clock_of(&objects));
    let snap = Snapshot::new(objects);
    let only = match service {
        Some(s) => Some(s.split_once('/').ok_or_else(|| {
            DryRunError::Input(format!("--service {s:?}: expected NAMESPACE/NAME"))
        })?),
        None => None,
    };
    Ok((plan::round_with(&snap, &pack, &clock, only, settings), pack))
}

/// A state that names the same object twice means what applying it would: the later
/// document replaces the earlier one. Each replacement is reported on stderr.
fn last_wins(docs: Vec<crate::manifest::Document>) -> Vec<Value> {
    // an object's identity: apiVersion, kind, namespace, name
    let key = |d: &crate::manifest::Document| {
        let [a, k, ns, n] = plan::object_order(&d.value);
        (a.to_string(), k.to_string(), ns.to_string(), n.to_string())
    };
    let mut seen: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    let mut out: Vec<Option<(String, Value)>> = Vec::with_capacity(docs.len());
    for d in docs {
        // observations (pod logs, image labels, registry listings) are facts, not
        // objects with an identity: every one is kept
        if d.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("observation.aimctl.dev/"))
        {
            out.push(Some((d.location().to_string(), d.value)));
            continue;
        }
        let k = key(&d);
        let at = d.location().to_string();
        if let Some(&i) = seen.get(&k)
            && let Some((first, _)) = out[i].take()
        {
            eprintln!(
                "warning: {at}: {} {}/{} is also defined at {first}; the later definition is used",
                k.1, k.2, k.3
            );
        }
        seen.insert(k, out.len());
        out.push(Some((at, d.value)));
    }
    out.into_iter().flatten().map(|(_, v)| v).collect()
}

/// The documents a round prints: per planned object, what it writes, then itself.
pub fn documents(plans: &[Planned]) -> Vec<Value> {
    plans
        .iter()
        .flat_map(|p| {
            p.plan
                .objects
                .iter()
                .cloned()
                .chain(std::iter::once(p.planned_object()))
        })
        .collect()
}

pub fn run(o: Options) -> ExitCode {
    let (plans, pack) = match plan_files(
        &o.files,
        o.rules.as_deref(),
        o.service.as_deref(),
        o.now.as_deref(),
        &o.settings,
    ) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let docs = documents(&plans);
    let out = if o.json {
        serde_json::to_string_pretty(&docs).unwrap_or_default() + "\n"
    } else {
        docs.iter()
            .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap_or_default()))
            .collect::<String>()
    };
    print!("{out}");
    if o.explain {
        eprint!("{}", explain(&plans, &pack));
    }
    ExitCode::SUCCESS
}

/// The `--explain` trace: candidates and verdicts, merge provenance, timings.
pub fn explain(plans: &[Planned], pack: &RulePack) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rule pack {} ({} files)",
        pack.digest,
        pack.sources.files.len()
    );
    for Planned { object: o, plan: p } in plans {
        let s = |v: &Value, ptr: &str| {
            v.pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let _ = writeln!(
            out,
            "\n{} {}/{}: status {}",
            s(o, "/kind"),
            s(o, "/metadata/namespace"),
            s(o, "/metadata/name"),
            s(&p.status, "/status")
        );
        if let Some(sel) = &p.trace.selection {
            let _ = writeln!(
                out,
                "  select template: {} candidate(s)",
                sel.verdicts.len()
            );
            for v in &sel.verdicts {
                let values: Vec<String> = sel
                    .value_names
                    .iter()
                    .zip(v.values.iter())
                    .map(|(k, x)| format!("{k}={}", crate::rules::native::text(x)))
                    .collect();
                let verdict = match (&v.rejected, &v.score) {
                    (Some((stage, reason)), None) => format!("rejected by {stage}: {reason}"),
                    (Some((_, reason)), Some(score)) => {
                        format!("score {score:?} rank {} ({reason})", v.rank.unwrap_or(0))
                    }
                    (None, Some(score)) => {
                        format!("score {score:?} rank {} (chosen)", v.rank.unwrap_or(0))
                    }
                    (None, None) => "chosen (only survivor)".into(),
                };
                let _ = writeln!(
                    out,
                    "    {} {:<40} {verdict}  [{}]",
                    v.kind,
                    v.name,
                    values.join(" ")
                );
            }
            let stages: Vec<String> = sel.stages.iter().map(|(n, c)| format!("{n}:{c}")).collect();
            let _ = writeln!(out, "    survivors per stage: {}", stages.join(" → "));
            if !sel.reason.is_empty() && sel.reason != "BestMatch" {
                let _ = writeln!(out, "    outcome: {} — {}", sel.reason, sel.message);
            }
        }
        for (name, provenance) in &p.trace.merges {
            if provenance.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  merge {name}:");
            for (path, layer) in provenance {
                let _ = writeln!(out, "    {path:<48} ← {layer}");
            }
        }
        for n in &p.trace.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        for (step, d) in &p.trace.steps {
            let _ = writeln!(out, "  {step:<52} {:>8.1} µs", d.as_secs_f64() * 1e6);
        }
        if !p.objects.is_empty() {
            let _ = writeln!(out, "  writes:");
            for obj in &p.objects {
                let k = |ptr: &str| {
                    obj.pointer(ptr)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let _ = writeln!(
                    out,
                    "    {} {}/{}",
                    k("/kind"),
                    k("/metadata/namespace"),
                    k("/metadata/name")
                );
            }
        }
    }
    out
}
