//! The services this binary can run, one per process.

use std::path::PathBuf;

/// Every runnable service.
pub const NAMES: &[&str] = &[identity::NAME, learning::NAME];

/// The federated SDL of `name`.
pub fn sdl(name: &str) -> Option<String> {
    match name {
        identity::NAME => Some(kit::graphql::sdl(identity::schema())),
        learning::NAME => Some(kit::graphql::sdl(learning::schema())),
        _ => None,
    }
}

/// Runs service `name` until Ctrl-C or SIGTERM.
pub async fn serve(name: &str) -> Result<(), String> {
    let file = std::env::var_os("AULA_CONFIG").map(PathBuf::from);
    let config = kit::Config::load(file.as_deref()).map_err(|e| e.to_string())?;
    match name {
        identity::NAME => kit::run(identity::NAME, config, identity::build)
            .await
            .map_err(|e| e.to_string()),
        learning::NAME => kit::run(learning::NAME, config, learning::build)
            .await
            .map_err(|e| e.to_string()),
        other => Err(format!("unknown service {other}")),
    }
}
