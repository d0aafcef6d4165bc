//! Aula's gateway: Hive Router (Federation v2 query planning, limits, demand control, persisted
//! documents, error masking) plus Aula's plugins, registered in the order they run on each
//! request: verify the token, bind the tenant, charge the budgets.

pub mod auth;
pub mod budgets;
pub mod redis;
pub mod reply;
pub mod tenant;

use hive_router::PluginRegistry;

/// Every Aula plugin, in execution order. A plugin runs only when the router configuration's
/// `plugins:` section lists it.
pub fn plugins() -> PluginRegistry {
    PluginRegistry::new()
        .register::<auth::Auth>()
        .register::<tenant::TenantBinding>()
        .register::<budgets::Budgets>()
}

/// Whether `path` is one of the router's probes, which no plugin should refuse.
pub(crate) fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/readiness")
}
