//! Supergraph composition with the gateway's Node.js composer (`gateway/compose/compose.mjs`,
//! `@theguild/federation-composition`), used by `aula compose` and by the gateway's tests.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// One subgraph to compose.
#[derive(Clone, Debug)]
pub struct Subgraph {
    /// Its name in the supergraph.
    pub name: String,
    /// Where the gateway reaches it.
    pub url: String,
    /// Its federated SDL.
    pub sdl: String,
}

/// Composes `subgraphs` with the composer in `tool` (the `gateway/compose` folder), installing
/// its node modules first when they are missing. `Err` holds the composer's messages.
pub fn supergraph(tool: &Path, subgraphs: &[Subgraph]) -> Result<String, String> {
    let node_modules = tool.join("node_modules/@theguild/federation-composition");
    if !node_modules.is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(tool)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| {
                format!("composition needs Node.js and npm (apt-get install nodejs npm): {e}")
            })?;
        if !status.success() {
            return Err(format!("npm ci in {} failed", tool.display()));
        }
    }
    let input: Vec<serde_json::Value> = subgraphs
        .iter()
        .map(|s| serde_json::json!({ "name": s.name, "url": s.url, "sdl": s.sdl }))
        .collect();
    let mut child = Command::new("node")
        .arg(tool.join("compose.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("composition needs Node.js (apt-get install nodejs): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(serde_json::Value::Array(input).to_string().as_bytes())
            .map_err(|e| format!("cannot feed the composer: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the composer did not finish: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "composition failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "the composer printed non-UTF-8".into())
}
