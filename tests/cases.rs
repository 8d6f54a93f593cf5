//! Golden cases (tests/cases/, the cli.md test-case format) run through the built
//! `aimctl test`, plus the dry-run contract: exit codes, determinism, retuning.

use std::path::Path;
use std::process::Command;

fn aimctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aimctl"))
}

#[test]
fn golden_cases_pass() {
    let out = aimctl()
        .args(["test", "tests/cases"])
        .output()
        .expect("run aimctl test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aimctl test failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases = std::fs::read_dir("tests/cases")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("state.yaml").is_file())
        .count();
    assert!(
        stdout.contains(&format!("{cases} passed, 0 failed")),
        "{stdout}"
    );
}

#[test]
fn a_failing_case_is_reported_with_its_mismatch() {
    let dir = tempdir("failing-case");
    std::fs::copy("examples/quickstart/service.yaml", dir.join("state.yaml")).unwrap();
    std::fs::write(dir.join("expect.yaml"), "apiVersion: aim.eai.amd.com/v1alpha1\nkind: AIMService\nmetadata: {name: qwen-chat}\nstatus: {status: Running}\n").unwrap();
    let out = aimctl().arg("test").arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL")
            && stdout.contains(".status.status")
            && stdout.contains("0 passed, 1 failed"),
        "{stdout}"
    );
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aimctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn dry_run_is_deterministic() {
    let run = || {
        aimctl()
            .args(["dry-run", "-f", "examples"])
            .output()
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn bad_input_exits_1_with_file_and_line() {
    let dir = tempdir("bad-input");
    let f = dir.join("state.yaml");
    std::fs::write(&f, "apiVersion: aim.eai.amd.com/v1alpha1\nkind: AIMService\nmetadata: {name: x}\nspec:\n  model: {name: m}\n  bogus: 1\n").unwrap();
    let out = aimctl().arg("dry-run").arg("-f").arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("state.yaml:6") && stderr.contains("bogus"),
        "{stderr}"
    );
}

#[test]
fn broken_pack_exits_2_with_diagnostics() {
    let dir = tempdir("broken-pack");
    std::fs::write(dir.join("a.rules"), "rank precision = [fp8, fp8\n").unwrap();
    let out = aimctl()
        .args(["dry-run", "-f", "examples/quickstart", "--rules"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E001"));
}

/// Reordering the GPU tier list in a copy of the pack moves the service to the
/// other template, with no rebuild.
#[test]
fn retuning_the_gpu_tier_list_changes_the_selected_template() {
    let template = |rules: Option<&Path>| {
        let mut c = aimctl();
        c.args([
            "dry-run",
            "-f",
            "examples/quickstart",
            "-o",
            "json",
            "--service",
            "ml-team/qwen-chat",
        ]);
        if let Some(r) = rules {
            c.arg("--rules").arg(r);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let svc = docs.iter().find(|d| d["kind"] == "AIMService").unwrap();
        svc["status"]["resolvedTemplate"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(template(None), "qwen3-32b-mi325x-fp8-latency");
    let dir = tempdir("retuned-pack");
    for e in std::fs::read_dir("rules").unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let sel = dir.join("selection.rules");
    let text = std::fs::read_to_string(&sel).unwrap();
    let retuned = text.replace("MI325X, MI300X", "MI300X, MI325X");
    assert_ne!(text, retuned, "the default tier list changed shape");
    std::fs::write(&sel, retuned).unwrap();
    assert_eq!(template(Some(&dir)), "qwen3-32b-mi300x-fp8-latency");
}

#[test]
fn generated_states_dry_run_cleanly() {
    let dir = tempdir("generated");
    let out = aimctl()
        .args([
            "generate",
            "--services",
            "30",
            "--templates",
            "12",
            "--namespaces",
            "3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(dir.join("state.yaml"), &out.stdout).unwrap();
    let out = aimctl()
        .arg("dry-run")
        .arg("-f")
        .arg(&dir)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let of = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
    assert_eq!(of("InferenceService").count(), 30);
    assert_eq!(of("HTTPRoute").count(), 30);
    for svc in of("AIMService") {
        // the namespaced MI325X template (9) shadows the cluster ones and outranks MI300X (0 is Pending)
        assert_eq!(
            svc["status"]["resolvedTemplate"]["name"], "qwen3-32b-9-mi325x",
            "{svc}"
        );
        assert_eq!(
            svc["status"]["resolvedTemplate"]["namespace"],
            svc["metadata"]["namespace"]
        );
    }
}
