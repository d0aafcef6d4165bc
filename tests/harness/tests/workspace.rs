//! Architecture rules checked on the real workspace: dependency boundaries between crates, and
//! a `//!` line at the top of every module. Each rule is also shown to fail on a bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Rule violations in `cargo metadata` output: subgraphs never depend on each other, and the
/// foundation crates depend on no subgraph.
fn boundary_violations(metadata: &Value) -> Vec<String> {
    let root = metadata["workspace_root"].as_str().unwrap_or_default();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let dir_of = |manifest: &str| -> String {
        let rel = manifest
            .strip_prefix(root)
            .unwrap_or(manifest)
            .trim_start_matches('/');
        rel.trim_end_matches("Cargo.toml")
            .trim_end_matches('/')
            .to_owned()
    };
    let members: Vec<(String, String)> = packages
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                dir_of(p["manifest_path"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    let dir_of_name = |name: &str| {
        members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
    };
    let is_subgraph = |dir: &str| dir.starts_with("subgraphs/") && dir != "subgraphs/kit";
    let foundation = [
        "tenancy",
        "migration",
        "subgraphs/kit",
        "infra/local",
        "tests/harness",
    ];
    let mut out = Vec::new();
    for p in &packages {
        let name = p["name"].as_str().unwrap_or_default();
        let dir = dir_of(p["manifest_path"].as_str().unwrap_or_default());
        for dep in p["dependencies"].as_array().cloned().unwrap_or_default() {
            let Some(dep_dir) = dep["name"].as_str().and_then(dir_of_name) else {
                continue;
            };
            if is_subgraph(&dir) && is_subgraph(&dep_dir) {
                out.push(format!(
                    "subgraph {name} depends on subgraph {}",
                    dep["name"]
                ));
            }
            if foundation.contains(&dir.as_str()) && is_subgraph(&dep_dir) {
                out.push(format!(
                    "foundation crate {name} depends on subgraph {}",
                    dep["name"]
                ));
            }
            if dir == "tenancy" && dep["kind"].is_null() {
                out.push(format!(
                    "tenancy depends on workspace crate {}",
                    dep["name"]
                ));
            }
        }
    }
    out
}

#[test]
fn no_subgraph_depends_on_another_and_the_foundation_depends_on_none() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let names: Vec<&str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"identity") && names.contains(&"kit"),
        "{names:?}"
    );
    assert_eq!(boundary_violations(&metadata), Vec::<String>::new());
}

#[test]
fn the_boundary_check_catches_violations() {
    let pkg = |name: &str, dir: &str, deps: &[&str]| {
        json!({
            "name": name,
            "manifest_path": format!("/w/{dir}/Cargo.toml"),
            "dependencies": deps.iter().map(|d| json!({ "name": d })).collect::<Vec<_>>(),
        })
    };
    let metadata = json!({
        "workspace_root": "/w",
        "packages": [
            pkg("identity", "subgraphs/identity", &["kit", "tenancy"]),
            pkg("learning", "subgraphs/learning", &["kit", "identity"]),
            pkg("kit", "subgraphs/kit", &["tenancy", "learning"]),
            pkg("tenancy", "tenancy", &["serde", "migration"]),
            json!({ "name": "tenancy-tests", "manifest_path": "/w/x/Cargo.toml", "dependencies": [] }),
            pkg("migration", "migration", &[]),
        ]
    });
    assert_eq!(
        boundary_violations(&metadata),
        [
            "subgraph learning depends on subgraph \"identity\"",
            "foundation crate kit depends on subgraph \"learning\"",
            "tenancy depends on workspace crate \"migration\"",
        ]
    );
}

fn lacks_module_doc(source: &str) -> bool {
    let first = source.lines().map(str::trim).find(|l| !l.is_empty());
    !first.is_some_and(|l| l.starts_with("//!"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !matches!(
                name.to_str(),
                Some("target" | ".git" | ".aula" | "node_modules")
            ) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let mut files = Vec::new();
    rust_files(&workspace_root(), &mut files);
    assert!(files.len() > 20, "found the sources: {}", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| lacks_module_doc(&std::fs::read_to_string(f).unwrap_or_default()))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a //! line: {missing:#?}"
    );
    assert!(lacks_module_doc("use std::fmt;\n//! too late\n"));
    assert!(lacks_module_doc(
        "/// an item doc, not a module doc\nfn f() {}\n"
    ));
    assert!(!lacks_module_doc("\n//! What this is for.\n"));
}

/// Whether `source` sets a tenant setting (`app.tenant_id`, `app.user_id`) on a session.
fn sets_tenant_setting(source: &str) -> bool {
    source.lines().any(|line| {
        (line.contains("app.tenant_id") || line.contains("app.user_id"))
            && (line.contains("set_config") || line.contains("SET ") || line.contains("SET LOCAL"))
    })
}

#[test]
fn only_the_tenancy_crate_sets_the_tenant_on_a_session() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    // The tenancy crate is the one place. Migrations run once as the tables' owner (one seeds
    // the platform tenant); the bench sends the services' SQL straight to PostgreSQL to measure
    // it; this file holds the check's own examples.
    let allowed = [
        root.join("tenancy/src"),
        root.join("migration/src/migrations"),
        root.join("tests/bench/src"),
        root.join("tests/harness/tests/workspace.rs"),
    ];
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !allowed.iter().any(|dir| f.starts_with(dir)))
        .filter(|f| sets_tenant_setting(&std::fs::read_to_string(f).unwrap_or_default()))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "tenant settings set outside tenancy: {offenders:#?}"
    );
    assert!(sets_tenant_setting(
        "db.execute(\"SELECT set_config('app.tenant_id', $1, false)\")"
    ));
    assert!(sets_tenant_setting("\"SET app.user_id = 'x'\""));
    assert!(!sets_tenant_setting(
        "USING (tenant_id = current_setting('app.tenant_id', true)::uuid)"
    ));
}

#[test]
fn redis_is_reachable_for_tests() {
    let url = harness::redis_url();
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in url");
    assert!(local::redis_ping(port), "{url}");
}
