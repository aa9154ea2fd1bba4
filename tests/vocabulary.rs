//! One vocabulary: the condition types, reasons and phases of src/api/vocabulary.rs are the
//! only spelling. Argo CD's health check (its generated tables and the argocd-cm copy), the
//! runbook and the Rust sources are checked against them here. `make vocabulary` rewrites the
//! generated parts (ZS_BLESS=1).

use std::path::{Path, PathBuf};
use zoneshift::api::vocabulary::{health_lua_tables, GENERATED_BEGIN, GENERATED_END};
use zoneshift::api::{ConditionType, Health, Reason};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn bless() -> bool {
    std::env::var("ZS_BLESS").is_ok_and(|v| v == "1")
}

/// health.lua with its generated block replaced by `tables`.
fn with_tables(lua: &str, tables: &str) -> String {
    let begin = lua
        .find(GENERATED_BEGIN)
        .expect("health.lua has the BEGIN marker");
    let end = lua
        .find(GENERATED_END)
        .expect("health.lua has the END marker")
        + GENERATED_END.len()
        + 1;
    format!("{}{}{}", &lua[..begin], tables, &lua[end..])
}

/// The argocd-cm snippet: health.lua indented under its key.
fn config_map_with(cm: &str, lua: &str) -> String {
    let key = "resource.customizations.health.zoneshift.io_HostedZoneMigration: |\n";
    let at = cm.find(key).expect("argocd-cm.yaml has the health key") + key.len();
    let indented: String = lua
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    format!("{}{}", &cm[..at], indented)
}

#[test]
fn health_lua_maps_every_reason_as_the_vocabulary_says() {
    let lua = read("deploy/argocd/health.lua");
    let want = with_tables(&lua, &health_lua_tables());
    let cm = read("deploy/argocd/argocd-cm.yaml");
    let want_cm = config_map_with(&cm, &want);
    if bless() {
        std::fs::write(root().join("deploy/argocd/health.lua"), &want).expect("write");
        std::fs::write(root().join("deploy/argocd/argocd-cm.yaml"), &want_cm).expect("write");
        return;
    }
    assert!(
        lua == want,
        "deploy/argocd/health.lua is behind src/api/vocabulary.rs: run `make vocabulary`"
    );
    assert!(
        cm == want_cm,
        "deploy/argocd/argocd-cm.yaml does not carry health.lua as it is: run `make vocabulary`"
    );
}

#[test]
fn the_runbook_explains_every_condition_and_reason() {
    let runbook = read("docs/migration-runbook.md");
    for t in ConditionType::ALL {
        assert!(
            runbook.contains(&format!("### {t}")),
            "docs/migration-runbook.md has no section for {t}"
        );
    }
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .filter(|r| r.health() != Health::EventOnly)
        .map(|r| r.as_str())
        .filter(|r| !runbook.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/migration-runbook.md does not explain {missing:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A reason is spelled in src/api/vocabulary.rs and nowhere else in the Rust sources (tests
/// aside): everything else names the enum.
#[test]
fn reasons_are_spelled_once_in_the_sources() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut spelled = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("api/vocabulary.rs")) {
        let text = std::fs::read_to_string(f).expect("read");
        let body = text.split("#[cfg(test)]").next().unwrap_or_default();
        for r in Reason::ALL {
            if body.contains(&format!("\"{}\"", r.as_str())) {
                spelled.push(format!("{} in {}", r, f.display()));
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "reasons spelled outside the vocabulary: {spelled:?}"
    );
}
