//! Built-in sample states lint plans to check a pack's outputs (E008): every output
//! whose condition holds on a sample must build an object with `apiVersion`, `kind`
//! and `metadata.name`, without failing.

use crate::json_path::At as _;
use serde_json::Value;

use super::Trace;
use crate::rules::RulePack;
use crate::rules::diagnostic::{Code, Diagnostic};
use crate::snapshot::Snapshot;

/// Sample states: a service whose dependencies are all ready (the InferenceService,
/// route, derived template and cache outputs fire) and one whose model is created.
const SAMPLES: &[&str] = &[
    include_str!("samples/ready.yaml"),
    include_str!("samples/new-model.yaml"),
];

fn contexts(pack: &RulePack) -> Vec<(String, Value)> {
    let mut out = vec![];
    for text in SAMPLES {
        let Ok(docs) = crate::manifest::load_str("<sample>", text) else {
            continue;
        };
        let snap = Snapshot::new(docs.into_iter().map(|d| d.value));
        for svc in snap.read_all("AIMService") {
            let name = svc
                .at("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ctx = super::service::context(
                &snap,
                pack,
                &svc,
                "2026-01-01T00:00:00Z",
                false,
                &mut Trace::default(),
            );
            out.push((name, ctx.to_value()));
        }
    }
    out
}

pub fn check_outputs(pack: &RulePack) -> Vec<Diagnostic> {
    let ctxs = contexts(pack);
    let mut diags = vec![];
    for out in pack.outputs.iter().filter(|o| o.parent == "AIMService") {
        for (sample, ctx) in &ctxs {
            let problem = match pack.build_output(out, ctx) {
                Ok(None) => continue,
                Err(e) => Some(e.to_string()),
                Ok(Some((obj, _))) => {
                    let missing: Vec<&str> = [
                        ("/apiVersion", "apiVersion"),
                        ("/kind", "kind"),
                        ("/metadata/name", "metadata.name"),
                    ]
                    .into_iter()
                    .filter(|(p, _)| obj.at(p).and_then(Value::as_str).is_none_or(str::is_empty))
                    .map(|(_, n)| n)
                    .collect();
                    (!missing.is_empty())
                        .then(|| format!("the built object has no {}", missing.join(", ")))
                }
            };
            if let Some(why) = problem {
                let span = pack.output_span(&out.name, &out.parent);
                let d = match span {
                    Some(s) => Diagnostic::new(
                        Code::BadOutput,
                        format!("output `{}` on sample service `{sample}`: {why}", out.name),
                        s,
                    ),
                    None => Diagnostic::unpositioned(
                        Code::BadOutput,
                        format!("output `{}` on sample `{sample}`: {why}", out.name),
                    ),
                };
                diags.push(d.with_hint(
                    "a builder must return an object map with apiVersion, kind and metadata.name",
                ));
                break;
            }
        }
    }
    diags
}
