//! `aimctl lint` on one small broken pack per diagnostic code (tests/lint/<CODE>-*/):
//! the diagnostics must be exactly those in its `expect` file (`CODE file:line:col`),
//! and the exit code must follow cli.md.

use std::path::Path;
use std::process::Command;

fn lint(dir: &Path, extra: &[&str]) -> (Option<i32>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_aimctl"))
        .args(["lint", "--format", "json", "--rules"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run aimctl lint");
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let d: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            let file = Path::new(d["file"].as_str().unwrap_or(""))
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            format!(
                "{} {file}:{}:{}",
                d["code"].as_str().unwrap(),
                d["line"],
                d["column"]
            )
        })
        .collect();
    found.sort();
    (out.status.code(), found)
}

#[test]
fn each_code_is_reported_where_it_occurs() {
    let mut dirs: Vec<_> = std::fs::read_dir("tests/lint")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 11, "one pack per code");
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let code = &name[..4];
        let mut want: Vec<String> = std::fs::read_to_string(dir.join("expect"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect();
        want.sort();
        let (status, found) = lint(&dir, &[]);
        assert_eq!(found, want, "{name}");
        assert!(
            found.iter().any(|f| f.starts_with(code)),
            "{name} must report {code}"
        );
        if code.starts_with('E') {
            assert_eq!(status, Some(1), "{name}: errors exit 1");
        } else {
            assert_eq!(status, Some(0), "{name}: warnings alone exit 0");
            assert_eq!(
                lint(&dir, &["--deny-warnings"]).0,
                Some(1),
                "{name}: --deny-warnings"
            );
        }
    }
}

#[test]
fn an_unreadable_pack_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_aimctl"))
        .args(["lint", "--rules", "/nonexistent/pack"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/pack"));
}

#[test]
fn human_format_shows_the_source_line_and_github_format_annotates() {
    let dir = Path::new("tests/lint/E006-duplicate-rank-entry");
    let human = Command::new(env!("CARGO_BIN_EXE_aimctl"))
        .args(["lint", "--rules"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("error[E006]")
            && text.contains("rank precision = [fp4")
            && text.contains("^^^"),
        "{text}"
    );
    let gh = Command::new(env!("CARGO_BIN_EXE_aimctl"))
        .args(["lint", "--format", "github", "--rules"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&gh.stdout);
    assert!(
        text.starts_with("::error file=")
            && text.contains(",line=1,col=")
            && text.contains("title=E006::"),
        "{text}"
    );
}
