//! `aimctl test`: run case folders (state.yaml, expect.yaml, absent.yaml).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use super::dry_run::{documents, plan_files};
use super::subset;

/// Case folders under the given paths: a folder with `state.yaml` is a case; other
/// folders are searched one level down, sorted.
pub fn cases(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = vec![];
    for p in paths {
        if p.join("state.yaml").is_file() {
            out.push(p.clone());
        } else if let Ok(entries) = std::fs::read_dir(p) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.join("state.yaml").is_file())
                .collect();
            found.sort();
            out.extend(found);
        }
    }
    out
}

fn read_docs(path: &Path) -> Result<Vec<Value>, String> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut docs = vec![];
    for d in serde_yaml::Deserializer::from_str(&text) {
        let v: Value =
            serde::Deserialize::deserialize(d).map_err(|e| format!("{}: {e}", path.display()))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// Runs one case; `Err` carries the first mismatch.
pub fn run_case(dir: &Path, rules: Option<&Path>) -> Result<(), String> {
    let (plans, _) = plan_files(
        &[dir.join("state.yaml")],
        rules,
        None,
        None,
        &Default::default(),
    )
    .map_err(|e| e.to_string())?;
    let out = documents(&plans);
    for want in read_docs(&dir.join("expect.yaml"))? {
        subset::find(&want, &out)?;
    }
    for unwanted in read_docs(&dir.join("absent.yaml"))? {
        if let Ok(d) = subset::find(&unwanted, &out) {
            let name = d
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(format!(
                "absent document matched {} {name}",
                d["kind"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(())
}

pub fn run(rules: Option<&Path>, paths: &[PathBuf]) -> ExitCode {
    if let Err(e) = super::load_pack(rules) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let all = cases(paths);
    let (mut passed, mut failed) = (0, 0);
    for case in &all {
        match run_case(case, rules) {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e}", case.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || all.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
