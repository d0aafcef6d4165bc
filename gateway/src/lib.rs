//! Aula's gateway: Hive Router (Federation v2 query planning, limits, demand control, persisted
//! documents, error masking) plus Aula's plugins, registered in the order they run on each
//! request: verify the token, bind the tenant, charge the budgets, decide whether the operation
//! must be a trusted document; and mask subgraph errors that carry no public code.

pub mod auth;
pub mod budgets;
pub mod errors;
pub mod redis;
pub mod reply;
pub mod tenant;
pub mod trusted;

use hive_router::PluginRegistry;

/// Every Aula plugin, in execution order. A plugin runs only when the router configuration's
/// `plugins:` section lists it.
pub fn plugins() -> PluginRegistry {
    PluginRegistry::new()
        .register::<auth::Auth>()
        .register::<tenant::TenantBinding>()
        .register::<budgets::Budgets>()
        .register::<trusted::TrustedDocuments>()
        .register::<errors::ErrorMasking>()
}

/// Whether `path` is one of the router's probes, which no plugin should refuse.
pub(crate) fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/readiness")
}

#[cfg(test)]
mod tests {
    use hive_router::config::load_config;
    use serde::de::DeserializeOwned;

    fn plugin<T: DeserializeOwned>(
        config: &hive_router::config::HiveRouterConfig,
        name: &str,
    ) -> T {
        let entry = config
            .plugins
            .get(name)
            .unwrap_or_else(|| panic!("router.yaml configures plugin {name}"));
        assert!(entry.enabled, "{name} is enabled");
        serde_json::from_value(entry.config.clone())
            .unwrap_or_else(|e| panic!("plugins.{name}.config: {e}"))
    }

    /// The checked-in configuration loads with the router's own loader (which refuses unknown
    /// keys anywhere in its layout), and every Aula plugin's section reads as its typed settings.
    #[test]
    fn the_checked_in_router_configuration_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/router.yaml");
        let config = load_config(Some(path.into())).expect("router.yaml loads");
        let auth: crate::auth::AuthSettings = plugin(&config, "aula_auth");
        assert!(auth.jwks_url.ends_with("/.well-known/jwks.json"));
        let tenant: crate::tenant::TenantSettings = plugin(&config, "aula_tenant");
        assert!(tenant.cache_ttl_secs > 0);
        let budgets: crate::budgets::BudgetSettings = plugin(&config, "aula_budgets");
        assert!(budgets.tenant.requests >= budgets.api_client.requests);
        let trusted: crate::trusted::TrustedSettings = plugin(&config, "aula_trusted");
        assert_eq!(trusted.enforce, crate::trusted::Enforce::Off);
        let _: crate::errors::ErrorSettings = plugin(&config, "aula_errors");
        assert_eq!(config.websocket_path(), Some("/ws"));
        // Every registered plugin is configured, so none is silently off.
        for name in [
            "aula_auth",
            "aula_tenant",
            "aula_budgets",
            "aula_trusted",
            "aula_errors",
        ] {
            assert!(config.plugins.contains_key(name), "{name}");
        }
    }
}
