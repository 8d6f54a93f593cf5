//! Selection pipelines: derive per-candidate values, filter in named stages, prefer,
//! score by rank lists, and decide (one winner, a tie, or none) — keeping every
//! verdict for `--explain` and the status.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::expr::{Expr, Scope, truthy};
use super::native::text;
use super::pack::RankTable;
use super::script::{EvalError, Scripts};

pub struct Stage {
    pub name: String,
    pub when: Option<Expr>,
    pub keep: Expr,
    pub reason: Expr,
}

pub struct ScoreKey {
    pub rank: Arc<RankTable>,
    pub by: Expr,
}

pub struct OutcomeRule {
    pub reason: Expr,
    pub message: Expr,
}

/// A compiled `select` block.
pub struct Selection {
    pub name: String,
    pub lets: Vec<(String, Expr)>,
    pub stages: Vec<Stage>,
    pub prefer: Vec<(String, Expr)>,
    pub score: Vec<ScoreKey>,
    pub on_tie: Option<OutcomeRule>,
    pub on_none: Option<OutcomeRule>,
}

/// What happened to one candidate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    pub name: String,
    pub kind: String,
    /// Derived values, in the order of [`SelectionResult::value_names`].
    pub values: Vec<Value>,
    /// The stage that removed the candidate and its reason.
    pub rejected: Option<(String, String)>,
    pub score: Option<Vec<u32>>,
    /// 1-based position after scoring (1 = best).
    pub rank: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Decision {
    /// Index of the chosen candidate.
    Chosen(usize),
    /// Indices of the candidates that share the best score.
    Tie(Vec<usize>),
    /// No candidate survived.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectionResult {
    pub decision: Decision,
    /// Reason and message of a tie or of no survivor.
    pub reason: String,
    pub message: String,
    pub verdicts: Vec<Verdict>,
    /// The names of the derived values (`let`s), in declaration order.
    pub value_names: Vec<String>,
    /// Survivors after each stage, for messages and explain.
    pub stages: Vec<(String, usize)>,
}

impl Selection {
    /// Runs the pipeline over `candidates` with the shared context `ctx`.
    pub fn run(
        &self,
        scripts: &Scripts,
        ctx: &Value,
        candidates: &[&Value],
    ) -> Result<SelectionResult, EvalError> {
        let mut verdicts = Vec::with_capacity(candidates.len());
        let mut lets: Vec<Vec<Value>> = Vec::with_capacity(candidates.len());
        for c in candidates {
            let mut values: Vec<Value> = Vec::with_capacity(self.lets.len());
            for (_, e) in &self.lets {
                let v = e
                    .eval(
                        &Scope {
                            ctx,
                            subject: Some(c),
                            lets: &values,
                        },
                        scripts,
                    )?
                    .into_owned();
                values.push(v);
            }
            verdicts.push(Verdict {
                name: text(crate::json_path::at(c, "/metadata/name").unwrap_or(&Value::Null)),
                kind: text(c.get("kind").unwrap_or(&Value::Null)),
                values: vec![],
                rejected: None,
                score: None,
                rank: None,
            });
            lets.push(values);
        }
        let mut alive: Vec<usize> = (0..candidates.len()).collect();
        let mut stages = vec![("candidates".to_string(), alive.len())];
        for stage in &self.stages {
            if alive.is_empty() {
                break;
            }
            if let Some(when) = &stage.when {
                let scope = Scope {
                    ctx,
                    subject: None,
                    lets: &[],
                };
                if !truthy(&*when.eval(&scope, scripts)?) {
                    continue;
                }
            }
            let mut next = Vec::with_capacity(alive.len());
            for &i in &alive {
                let scope = Scope {
                    ctx,
                    subject: Some(candidates[i]),
                    lets: &lets[i],
                };
                if truthy(&*stage.keep.eval(&scope, scripts)?) {
                    next.push(i);
                } else {
                    let reason = text(&*stage.reason.eval(&scope, scripts)?);
                    verdicts[i].rejected = Some((stage.name.clone(), reason));
                }
            }
            alive = next;
            stages.push((stage.name.clone(), alive.len()));
        }
        for (name, keep) in &self.prefer {
            let mut preferred = Vec::with_capacity(alive.len());
            for &i in &alive {
                let scope = Scope {
                    ctx,
                    subject: Some(candidates[i]),
                    lets: &lets[i],
                };
                if truthy(&*keep.eval(&scope, scripts)?) {
                    preferred.push(i);
                }
            }
            if !preferred.is_empty() && preferred.len() < alive.len() {
                for &i in &alive {
                    if !preferred.contains(&i) {
                        verdicts[i].rejected = Some((name.clone(), "NotPreferred".into()));
                    }
                }
                alive = preferred;
            }
            stages.push((name.clone(), alive.len()));
        }
        let decision = match alive.len() {
            0 => Decision::None,
            1 => {
                verdicts[alive[0]].rank = Some(1);
                Decision::Chosen(alive[0])
            }
            _ => {
                let mut scored: Vec<(Vec<u32>, usize)> = Vec::with_capacity(alive.len());
                for &i in &alive {
                    let scope = Scope {
                        ctx,
                        subject: Some(candidates[i]),
                        lets: &lets[i],
                    };
                    let mut vector = Vec::with_capacity(self.score.len());
                    for key in &self.score {
                        let v = key.by.eval(&scope, scripts)?;
                        vector.push(match v.as_str() {
                            Some(s) => key.rank.score(s),
                            None => key.rank.score(&text(&v)),
                        });
                    }
                    scored.push((vector, i));
                }
                // stable: equal vectors keep candidate order, so the first best wins
                scored.sort_by(|a, b| a.0.cmp(&b.0));
                let best = scored[0].0.clone();
                let tied: Vec<usize> = scored
                    .iter()
                    .take_while(|s| s.0 == best)
                    .map(|s| s.1)
                    .collect();
                for (pos, (vector, i)) in scored.into_iter().enumerate() {
                    verdicts[i].rank = Some(pos + 1);
                    if vector != best && verdicts[i].rejected.is_none() {
                        verdicts[i].rejected = Some(("score".into(), "LowerPreferenceRank".into()));
                    }
                    verdicts[i].score = Some(vector);
                }
                if tied.len() > 1 {
                    Decision::Tie(tied)
                } else {
                    Decision::Chosen(tied[0])
                }
            }
        };
        // the derived values move into the verdicts once scoring no longer needs them
        for (v, values) in verdicts.iter_mut().zip(lets) {
            v.values = values;
        }
        let (reason, message) = match &decision {
            Decision::Chosen(_) => ("BestMatch".to_string(), String::new()),
            Decision::Tie(tied) => {
                self.outcome(&self.on_tie, scripts, ctx, &stages, &verdicts, tied)?
            }
            Decision::None => self.outcome(&self.on_none, scripts, ctx, &stages, &verdicts, &[])?,
        };
        Ok(SelectionResult {
            decision,
            reason,
            message,
            verdicts,
            value_names: self.lets.iter().map(|(n, _)| n.clone()).collect(),
            stages,
        })
    }

    fn outcome(
        &self,
        rule: &Option<OutcomeRule>,
        scripts: &Scripts,
        ctx: &Value,
        stages: &[(String, usize)],
        verdicts: &[Verdict],
        tied: &[usize],
    ) -> Result<(String, String), EvalError> {
        let Some(rule) = rule else {
            return Ok((String::new(), String::new()));
        };
        let mut rejected = serde_json::Map::new();
        for v in verdicts {
            if let Some((stage, _)) = &v.rejected {
                let n = rejected.get(stage).and_then(Value::as_u64).unwrap_or(0);
                rejected.insert(stage.clone(), json!(n + 1));
            }
        }
        let survivors: serde_json::Map<String, Value> =
            stages.iter().map(|(s, n)| (s.clone(), json!(n))).collect();
        let summary = json!({
            "candidates": verdicts.len(),
            "rejected": rejected,
            "survivors": survivors,
            "tied": tied.iter().map(|&i| verdicts[i].name.clone()).collect::<Vec<_>>(),
        });
        let scope = Scope {
            ctx,
            subject: Some(&summary),
            lets: &[],
        };
        let reason = text(&*rule.reason.eval(&scope, scripts)?);
        let message = text(&*rule.message.eval(&scope, scripts)?);
        Ok((reason, message))
    }
}
