//! `aula compose`: exports every subgraph's federated SDL straight from its Rust schema, composes
//! the supergraph with `@theguild/federation-composition` (Node.js), and writes both into
//! `gateway/` — or, with `--check`, fails when the checked-in files differ from what the code
//! produces now (a stale supergraph) or when composition fails.

use std::path::{Path, PathBuf};

use local::compose::Subgraph;

use crate::services;

/// Where the gateway's checked-in schema files live, relative to the repository root.
const GATEWAY_DIR: &str = "gateway";

/// The URL each subgraph has in the composed supergraph: the local launcher's default port
/// (`4000 + position + 1`). Deployments override them in the router configuration.
fn default_url(position: usize) -> String {
    format!("http://127.0.0.1:{}/graphql", 4001 + position)
}

/// What `aula compose` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write the SDL snapshots and the supergraph.
    Write,
    /// Compare them with what is checked in; fail on any difference.
    Check,
}

/// The repository's `gateway/` folder: `--dir`, else `./gateway`, else the one this binary was
/// built from.
fn gateway_dir(explicit: Option<&str>) -> PathBuf {
    if let Some(dir) = explicit {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from(GATEWAY_DIR);
    if here.join("compose").is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(GATEWAY_DIR)
}

/// Runs the composition; `Ok` holds a line per file for the user.
pub fn run(mode: Mode, dir: Option<&str>) -> Result<Vec<String>, String> {
    let dir = gateway_dir(dir);
    let mut report = Vec::new();
    let mut stale = Vec::new();
    let mut subgraphs = Vec::new();
    for (position, name) in services::NAMES.iter().enumerate() {
        let sdl = services::sdl(name).ok_or_else(|| format!("no SDL for {name}"))?;
        let file = dir.join("schemas").join(format!("{name}.graphql"));
        reconcile(mode, &file, &sdl, &mut report, &mut stale)?;
        subgraphs.push(Subgraph {
            name: (*name).to_owned(),
            url: default_url(position),
            sdl,
        });
    }
    let supergraph = local::compose::supergraph(&dir.join("compose"), &subgraphs)?;
    reconcile(
        mode,
        &dir.join("supergraph.graphql"),
        &supergraph,
        &mut report,
        &mut stale,
    )?;
    if stale.is_empty() {
        Ok(report)
    } else {
        Err(format!(
            "the checked-in schemas are stale; run `cargo run -p aula -- compose` and commit:\n{}",
            stale.join("\n")
        ))
    }
}

/// Writes `wanted` to `file` (write mode) or records how it differs (check mode).
fn reconcile(
    mode: Mode,
    file: &Path,
    wanted: &str,
    report: &mut Vec<String>,
    stale: &mut Vec<String>,
) -> Result<(), String> {
    let current = std::fs::read_to_string(file).ok();
    let shown = file.display();
    match (mode, current.as_deref() == Some(wanted)) {
        (_, true) => report.push(format!("{shown}: up to date")),
        (Mode::Write, false) => {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(file, wanted).map_err(|e| format!("cannot write {shown}: {e}"))?;
            report.push(format!("{shown}: written"));
        }
        (Mode::Check, false) => stale.push(match current {
            None => format!("  {shown}: missing"),
            Some(current) => format!("  {shown}: {}", first_difference(&current, wanted)),
        }),
    }
    Ok(())
}

/// Where two texts first differ, for the error message.
fn first_difference(checked_in: &str, wanted: &str) -> String {
    let mut left = checked_in.lines();
    let mut right = wanted.lines();
    let mut line = 1;
    loop {
        match (left.next(), right.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (None, None) => return "differs in line endings".into(),
            (a, b) => {
                return format!(
                    "differs at line {line}: checked in {:?}, code gives {:?}",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_first_differing_line() {
        assert_eq!(
            first_difference("a\nb\nc\n", "a\nx\nc\n"),
            "differs at line 2: checked in \"b\", code gives \"x\""
        );
        assert_eq!(
            first_difference("a\n", "a\nb\n"),
            "differs at line 2: checked in \"<end>\", code gives \"b\""
        );
    }
}
