//! Selection pipelines: derive per-candidate values, filter in named stages, prefer,
//! score by rank lists, and decide (one winner, a tie, or none) — keeping every
//! verdict for `--explain` and the status.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};

use super::expr::{Expr, Let, PathStart, Roots, Scope, truthy};
use super::native::text;
use super::pack::RankTable;
use super::script::{EvalError, Scripts};

pub struct Stage {
    pub name: Arc<str>,
    pub when: Option<Expr>,
    pub keep: Expr,
    pub reason: Expr,
    /// The reason when it is a literal, made once rather than for every rejection.
    literal_reason: Option<Arc<str>>,
}

impl Stage {
    pub fn new(name: Arc<str>, when: Option<Expr>, keep: Expr, reason: Expr) -> Self {
        let literal_reason = match &reason {
            Expr::Lit(v) => Some(text(v).into()),
            _ => None,
        };
        Stage {
            name,
            when,
            keep,
            reason,
            literal_reason,
        }
    }

    /// `None` when the candidate is kept, else its rejection reason.
    fn verdict(&self, scope: &Scope, scripts: &Scripts) -> Result<Option<Arc<str>>, EvalError> {
        if truthy(&*self.keep.eval(scope, scripts)?) {
            Ok(None)
        } else if let Some(reason) = &self.literal_reason {
            Ok(Some(reason.clone()))
        } else {
            Ok(Some(text(&*self.reason.eval(scope, scripts)?).into()))
        }
    }
}

pub struct ScoreKey {
    pub rank: Arc<RankTable>,
    pub by: Expr,
}

pub struct OutcomeRule {
    pub reason: Expr,
    pub message: Expr,
}

/// The stage and reason names the pipeline itself gives, made once: every plan's
/// result names them for each candidate.
mod label {
    use std::sync::{Arc, LazyLock};

    pub static CANDIDATES: LazyLock<Arc<str>> = LazyLock::new(|| "candidates".into());
    pub static NOT_PREFERRED: LazyLock<Arc<str>> = LazyLock::new(|| "NotPreferred".into());
    pub static SCORE: LazyLock<Arc<str>> = LazyLock::new(|| "score".into());
    pub static LOWER_RANK: LazyLock<Arc<str>> = LazyLock::new(|| "LowerPreferenceRank".into());
}

/// A compiled `select` block.
pub struct Selection {
    pub name: String,
    pub lets: Vec<(String, Expr)>,
    pub stages: Vec<Stage>,
    pub prefer: Vec<(Arc<str>, Expr)>,
    pub score: Vec<ScoreKey>,
    pub on_tie: Option<OutcomeRule>,
    pub on_none: Option<OutcomeRule>,
    /// Which parts read only the candidate, so that a [`Memo`] may share them.
    own: Own,
    /// The `let` names, shared by every result.
    value_names: Arc<[String]>,
    /// Tells this compiled block from any other in a [`Memo`] (a pack reload
    /// compiles new ones while snapshots of the old one may live on).
    id: u64,
    /// Every context path the block reads (but the snapshot-wide roots): two runs on
    /// the same candidates that read the same values there have the same result.
    reads: Vec<(String, Vec<String>)>,
}

/// The parts of a selection that the candidate alone decides.
#[derive(Default)]
struct Own {
    /// Every `let` reads only the candidate: without that nothing is shared.
    lets: bool,
    stages: Vec<bool>,
    prefer: Vec<bool>,
    score: bool,
}

/// What the candidate alone decides, computed once per candidate and shared by
/// every service planned on one snapshot (the 10,000 services of a resync ask the
/// same questions of the same 20 templates).
struct Facts {
    name: Arc<str>,
    kind: Arc<str>,
    lets: Arc<[Let]>,
    /// Per stage: `None` (or no entry) when the pipeline is to evaluate the stage;
    /// else the candidate's rejection reason, if it is rejected. Errors wait until the
    /// stage is reached.
    stages: Vec<Option<Result<Option<Arc<str>>, EvalError>>>,
    prefer: Vec<Option<Result<bool, EvalError>>>,
    score: Option<Result<Arc<[u32]>, EvalError>>,
}

/// A candidate's facts, or the error its `let`s raised.
type Learnt = Arc<Result<Facts, EvalError>>;

/// Candidate facts of one snapshot, by selection and candidate. Keys are addresses
/// of the snapshot's objects, so a memo must not outlive the snapshot it serves.
#[derive(Default)]
pub struct Memo {
    facts: Mutex<HashMap<(u64, usize), Learnt, foldhash::fast::RandomState>>,
    /// Whole results, by the fingerprint of their [`RunKey`].
    results: Mutex<HashMap<u64, (RunKey, Arc<SelectionResult>)>>,
}

/// Whole results a memo keeps at most; when full, it starts over.
const RESULTS: usize = 1024;

/// What a run's result depends on: the block, the candidates (snapshot objects, by
/// address) and the values at the context paths the block reads.
#[derive(PartialEq)]
struct RunKey {
    id: u64,
    candidates: Box<[usize]>,
    reads: Box<[Value]>,
}

/// A copy starts empty: it is a cache, and what it would copy is rebuilt on demand.
impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.facts.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "Memo({n} candidates)")
    }
}

impl Memo {
    /// What is known of each key, under one lock for the whole candidate list.
    fn get_all(&self, keys: impl Iterator<Item = (u64, usize)>) -> Vec<Option<Learnt>> {
        match self.facts.lock() {
            Ok(m) => keys.map(|k| m.get(&k).cloned()).collect(),
            Err(_) => keys.map(|_| None).collect(),
        }
    }

    fn put_all(&self, learnt: impl Iterator<Item = ((u64, usize), Learnt)>) {
        if let Ok(mut m) = self.facts.lock() {
            m.extend(learnt);
        }
    }

    fn result(
        &self,
        hash: u64,
        id: u64,
        candidates: &[usize],
        reads: &[&Value],
    ) -> Option<Arc<SelectionResult>> {
        let m = self.results.lock().ok()?;
        let (k, r) = m.get(&hash)?;
        (k.id == id && *k.candidates == *candidates && k.reads.iter().eq(reads.iter().copied()))
            .then(|| r.clone())
    }

    fn keep(&self, hash: u64, key: RunKey, result: Arc<SelectionResult>) {
        if let Ok(mut m) = self.results.lock() {
            if m.len() >= RESULTS {
                m.clear();
            }
            m.insert(hash, (key, result));
        }
    }
}

/// What happened to one candidate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    pub name: Arc<str>,
    pub kind: Arc<str>,
    /// Derived values, in the order of [`SelectionResult::value_names`]; shared with
    /// the memo and every other plan of the snapshot.
    pub values: Arc<[Let]>,
    /// The stage that removed the candidate and its reason.
    pub rejected: Option<(Arc<str>, Arc<str>)>,
    /// Shared with the memo, like the values.
    pub score: Option<Arc<[u32]>>,
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
    pub value_names: Arc<[String]>,
    /// Survivors after each stage, for messages and explain.
    pub stages: Vec<(Arc<str>, usize)>,
}

impl Selection {
    pub fn new(
        name: String,
        lets: Vec<(String, Expr)>,
        stages: Vec<Stage>,
        prefer: Vec<(Arc<str>, Expr)>,
        score: Vec<ScoreKey>,
        on_tie: Option<OutcomeRule>,
        on_none: Option<OutcomeRule>,
    ) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let fixed = crate::plan::context::SNAPSHOT_ROOTS;
        let mut impure_lets: Vec<bool> = vec![];
        for (_, e) in &lets {
            impure_lets.push(e.reads_context(&impure_lets, fixed));
        }
        let own_expr = |e: &Expr| !e.reads_context(&impure_lets, fixed);
        let own = Own {
            lets: !impure_lets.contains(&true),
            stages: stages
                .iter()
                .map(|s| own_expr(&s.keep) && own_expr(&s.reason))
                .collect(),
            prefer: prefer.iter().map(|(_, e)| own_expr(e)).collect(),
            score: score.iter().all(|k| own_expr(&k.by)),
        };
        let exprs = (lets.iter().map(|(_, e)| e))
            .chain(
                stages
                    .iter()
                    .flat_map(|s| s.when.iter().chain([&s.keep, &s.reason])),
            )
            .chain(prefer.iter().map(|(_, e)| e))
            .chain(score.iter().map(|k| &k.by))
            .chain(
                [&on_tie, &on_none]
                    .into_iter()
                    .flatten()
                    .flat_map(|o| [&o.reason, &o.message]),
            );
        let mut paths = vec![];
        for e in exprs {
            e.paths(&mut paths);
        }
        let mut reads: Vec<(String, Vec<String>)> = (paths.into_iter())
            .filter_map(|(start, fields)| match start {
                PathStart::Root(r) if !fixed.contains(&r.as_str()) => Some((r, fields)),
                _ => None,
            })
            .collect();
        reads.sort();
        reads.dedup();
        Selection {
            name,
            reads,
            value_names: lets.iter().map(|(n, _)| n.clone()).collect(),
            lets,
            stages,
            prefer,
            score,
            on_tie,
            on_none,
            own,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Runs the pipeline over `candidates` with the shared context `ctx`. With a
    /// `memo`, what each candidate alone (or with the snapshot-wide roots, the cluster)
    /// decides is taken from (or kept in) it; the candidates must then be objects of
    /// the snapshot the memo belongs to, and `ctx`'s cluster that snapshot's.
    /// A service that reads the same values as one run before on the same
    /// candidates gets that run's result.
    pub fn run(
        &self,
        scripts: &Scripts,
        ctx: &dyn Roots,
        candidates: &[&Value],
        memo: Option<&Memo>,
    ) -> Result<Arc<SelectionResult>, EvalError> {
        let Some(memo) = memo else {
            return self.evaluate(scripts, ctx, candidates, None).map(Arc::new);
        };
        let addresses: Box<[usize]> = candidates
            .iter()
            .map(|c| std::ptr::from_ref::<Value>(*c) as usize)
            .collect();
        let reads: Vec<&Value> = self
            .reads
            .iter()
            .map(|(root, fields)| fields.iter().try_fold(ctx.root(root)?, |v, f| v.get(f)))
            .map(|v| v.unwrap_or(&Value::Null))
            .collect();
        let mut h = foldhash::fast::FixedState::with_seed(0).build_hasher();
        self.id.hash(&mut h);
        addresses.hash(&mut h);
        for v in &reads {
            super::memo::hash_json(v, &mut h);
        }
        let hash = h.finish();
        if let Some(r) = memo.result(hash, self.id, &addresses, &reads) {
            return Ok(r);
        }
        let result = Arc::new(self.evaluate(scripts, ctx, candidates, Some(memo))?);
        let key = RunKey {
            id: self.id,
            candidates: addresses,
            reads: reads.into_iter().cloned().collect(),
        };
        memo.keep(hash, key, result.clone());
        Ok(result)
    }

    fn evaluate(
        &self,
        scripts: &Scripts,
        ctx: &dyn Roots,
        candidates: &[&Value],
        memo: Option<&Memo>,
    ) -> Result<SelectionResult, EvalError> {
        let shared = memo.filter(|_| self.own.lets);
        let key = |c: &&Value| (self.id, std::ptr::from_ref::<Value>(*c) as usize);
        let known = match shared {
            Some(m) => m.get_all(candidates.iter().map(key)),
            None => vec![None; candidates.len()],
        };
        let mut learnt = vec![];
        let facts: Vec<Learnt> = (candidates.iter().zip(known))
            .map(|(c, known)| {
                known.unwrap_or_else(|| {
                    let f = Arc::new(self.facts(scripts, ctx, c, shared.is_some()));
                    if shared.is_some() {
                        learnt.push((key(c), f.clone()));
                    }
                    f
                })
            })
            .collect();
        if let Some(m) = shared.filter(|_| !learnt.is_empty()) {
            m.put_all(learnt.into_iter());
        }
        let facts: Vec<&Facts> = facts
            .iter()
            .map(|f| f.as_ref().as_ref().map_err(Clone::clone))
            .collect::<Result<_, _>>()?;
        let mut verdicts: Vec<Verdict> = facts
            .iter()
            .map(|f| Verdict {
                name: f.name.clone(),
                kind: f.kind.clone(),
                values: f.lets.clone(),
                rejected: None,
                score: None,
                rank: None,
            })
            .collect();
        let scope = |i: usize| Scope {
            ctx,
            subject: Some(candidates[i]),
            lets: &facts[i].lets,
        };
        let mut alive: Vec<usize> = (0..candidates.len()).collect();
        let mut stages = vec![(label::CANDIDATES.clone(), alive.len())];
        for (s, stage) in self.stages.iter().enumerate() {
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
                let rejected = match facts[i].stages.get(s).and_then(Option::as_ref) {
                    Some(known) => known.clone()?,
                    None => stage.verdict(&scope(i), scripts)?,
                };
                match rejected {
                    None => next.push(i),
                    Some(reason) => verdicts[i].rejected = Some((stage.name.clone(), reason)),
                }
            }
            alive = next;
            stages.push((stage.name.clone(), alive.len()));
        }
        for (p, (name, keep)) in self.prefer.iter().enumerate() {
            let mut preferred = Vec::with_capacity(alive.len());
            for &i in &alive {
                let kept = match facts[i].prefer.get(p).and_then(Option::as_ref) {
                    Some(known) => known.clone()?,
                    None => truthy(&*keep.eval(&scope(i), scripts)?),
                };
                if kept {
                    preferred.push(i);
                }
            }
            if !preferred.is_empty() && preferred.len() < alive.len() {
                for &i in &alive {
                    if !preferred.contains(&i) {
                        verdicts[i].rejected = Some((name.clone(), label::NOT_PREFERRED.clone()));
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
                let mut scored: Vec<(Arc<[u32]>, usize)> = Vec::with_capacity(alive.len());
                for &i in &alive {
                    let vector = match &facts[i].score {
                        Some(known) => known.clone()?,
                        None => self.score_of(&scope(i), scripts)?,
                    };
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
                        verdicts[i].rejected =
                            Some((label::SCORE.clone(), label::LOWER_RANK.clone()));
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
            value_names: self.value_names.clone(),
            stages,
        })
    }

    /// The `let` values of `candidate` and, when they are to be `shared` (which needs
    /// every `let` to read only the candidate), every verdict its own fields decide;
    /// else the pipeline evaluates only the stages it reaches.
    fn facts(
        &self,
        scripts: &Scripts,
        ctx: &dyn Roots,
        candidate: &Value,
        shared: bool,
    ) -> Result<Facts, EvalError> {
        let mut lets: Vec<Let> = Vec::with_capacity(self.lets.len());
        for (_, e) in &self.lets {
            let scope = Scope {
                ctx,
                subject: Some(candidate),
                lets: &lets,
            };
            let v = e.eval_shared(&scope, scripts)?.detach();
            lets.push(v);
        }
        let scope = Scope {
            ctx,
            subject: Some(candidate),
            lets: &lets,
        };
        // unshared facts leave every verdict to the pipeline: no allocation for them
        let (mut stages, mut prefer, mut score) = (vec![], vec![], None);
        if shared {
            stages = (self.stages.iter().zip(&self.own.stages))
                .map(|(stage, &own)| own.then(|| stage.verdict(&scope, scripts)))
                .collect();
            prefer = (self.prefer.iter().zip(&self.own.prefer))
                .map(|((_, keep), &own)| own.then(|| Ok(truthy(&*keep.eval(&scope, scripts)?))))
                .collect();
            score = self.own.score.then(|| self.score_of(&scope, scripts));
        }
        let label = |v: Option<&Value>| -> Arc<str> {
            match v {
                Some(Value::String(s)) => s.as_str().into(),
                other => text(other.unwrap_or(&Value::Null)).into(),
            }
        };
        Ok(Facts {
            name: label(crate::json_path::at(candidate, "/metadata/name")),
            kind: label(candidate.get("kind")),
            lets: lets.into(),
            stages,
            prefer,
            score,
        })
    }

    fn score_of(&self, scope: &Scope, scripts: &Scripts) -> Result<Arc<[u32]>, EvalError> {
        let mut vector = Vec::with_capacity(self.score.len());
        for key in &self.score {
            let v = key.by.eval(scope, scripts)?;
            vector.push(match v.as_str() {
                Some(s) => key.rank.score(s),
                None => key.rank.score(&text(&v)),
            });
        }
        Ok(vector.into())
    }

    fn outcome(
        &self,
        rule: &Option<OutcomeRule>,
        scripts: &Scripts,
        ctx: &dyn Roots,
        stages: &[(Arc<str>, usize)],
        verdicts: &[Verdict],
        tied: &[usize],
    ) -> Result<(String, String), EvalError> {
        let Some(rule) = rule else {
            return Ok((String::new(), String::new()));
        };
        let mut rejected = serde_json::Map::new();
        for v in verdicts {
            if let Some((stage, _)) = &v.rejected {
                let n = rejected.get(&**stage).and_then(Value::as_u64).unwrap_or(0);
                rejected.insert(stage.to_string(), json!(n + 1));
            }
        }
        let survivors: serde_json::Map<String, Value> = stages
            .iter()
            .map(|(s, n)| (s.to_string(), json!(n)))
            .collect();
        let summary = json!({
            "candidates": verdicts.len(),
            "rejected": rejected,
            "survivors": survivors,
            "tied": tied.iter().map(|&i| &*verdicts[i].name).collect::<Vec<_>>(),
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
