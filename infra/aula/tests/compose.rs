//! `aula compose --check`, the CI gate on the checked-in supergraph: it passes on the repository
//! as committed, fails when a subgraph's schema changed without recomposing (a stale SDL
//! snapshot or supergraph), and fails on composition errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use local::compose::Subgraph;

fn gateway() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gateway")
}

fn check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aula"))
        .args(["compose", "--check", "--dir"])
        .arg(dir)
        .output()
        .expect("aula runs")
}

/// A scratch copy of `gateway/` (schemas, supergraph, and the composer with its modules).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aula-compose-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("schemas")).expect("scratch");
    let src = gateway();
    for entry in std::fs::read_dir(src.join("schemas")).expect("schemas") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join("schemas").join(entry.file_name())).expect("copy");
    }
    std::fs::copy(
        src.join("supergraph.graphql"),
        dir.join("supergraph.graphql"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(
        src.join("compose").canonicalize().expect("composer"),
        dir.join("compose"),
    )
    .expect("link");
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_checked_in_supergraph_matches_the_code() {
    let out = check(&gateway());
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("supergraph.graphql: up to date"),
        "{stdout}"
    );
    assert!(stdout.contains("identity.graphql: up to date"), "{stdout}");
}

#[test]
fn a_schema_changed_without_recomposing_fails_the_check() {
    // The code's identity schema no longer matches its snapshot (as after adding a field).
    let dir = scratch("stale-sdl");
    let file = dir.join("schemas/identity.graphql");
    let sdl = std::fs::read_to_string(&file).expect("sdl");
    std::fs::write(
        &file,
        sdl.replacen("type Query {", "type Query {\n\tgone: Int", 1),
    )
    .expect("write");
    let out = check(&dir);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("stale"), "{err}");
    assert!(err.contains("identity.graphql: differs at line"), "{err}");
    assert!(!err.contains("supergraph.graphql"), "{err}");

    // The supergraph was hand-edited or composed from other schemas.
    let dir = scratch("stale-supergraph");
    let file = dir.join("supergraph.graphql");
    let sdl = std::fs::read_to_string(&file).expect("supergraph");
    std::fs::write(&file, format!("{sdl}\nscalar Stale\n")).expect("write");
    let out = check(&dir);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("supergraph.graphql: differs at line"),
        "{}",
        stderr(&out)
    );

    // A missing snapshot is reported too.
    let dir = scratch("missing");
    std::fs::remove_file(dir.join("schemas/identity.graphql")).expect("rm");
    let out = check(&dir);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("identity.graphql: missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn composition_errors_fail_with_the_composers_message() {
    // Two subgraphs disagreeing on a field's type cannot compose.
    let input = serde_json::json!([
        { "name": "a", "url": "http://127.0.0.1:1/graphql", "sdl":
          "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\", \"@shareable\"])\n\
           type Query { me: User }\n type User @key(fields: \"id\") { id: ID! name: String @shareable }" },
        { "name": "b", "url": "http://127.0.0.1:2/graphql", "sdl":
          "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\", \"@shareable\"])\n\
           type Query { other: User }\n type User @key(fields: \"id\") { id: ID! name: Int @shareable }" },
    ]);
    let subgraphs: Vec<Subgraph> = input
        .as_array()
        .expect("list")
        .iter()
        .map(|s| Subgraph {
            name: s["name"].as_str().unwrap_or_default().into(),
            url: s["url"].as_str().unwrap_or_default().into(),
            sdl: s["sdl"].as_str().unwrap_or_default().into(),
        })
        .collect();
    let err = local::compose::supergraph(&gateway().join("compose"), &subgraphs)
        .expect_err("the subgraphs do not compose");
    assert!(err.contains("compose: "), "{err}");
    assert!(err.contains("User.name"), "{err}");
}
