//! Aula's gateway: Hive Router (Federation v2 query planning, limits, demand control, persisted
//! documents, error masking) plus Aula's plugins, registered in the order they run on each
//! request: answer the probes, verify the token, bind the tenant, charge the budgets, decide whether the operation
//! must be a trusted document; and mask subgraph errors that carry no public code.

pub mod auth;
pub mod budgets;
pub mod errors;
pub mod probes;
pub mod redis;
pub mod reply;
pub mod tenant;
pub mod trusted;

use hive_router::PluginRegistry;

/// Every Aula plugin, in execution order. A plugin runs only when the router configuration's
/// `plugins:` section lists it.
pub fn plugins() -> PluginRegistry {
    PluginRegistry::new()
        .register::<probes::Probes>()
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

    /// The router's configuration layout as JSON schema (what its `config_schema_generator`
    /// prints), with `{ from_env, default }` allowed wherever a value may come from the
    /// environment.
    fn router_schema() -> jsonschema::Validator {
        let generator = schemars::generate::SchemaSettings::draft2020_12()
            .with(|s| s.inline_subschemas = true)
            .into_generator();
        let mut schema = generator.into_root_schema_for::<hive_router::config::HiveRouterConfig>();
        hive_router::config::schema_from_env::augment_with_from_env(&mut schema);
        let mut schema = serde_json::to_value(&schema).expect("schema as JSON");
        augment_maps(&mut schema);
        jsonschema::validator_for(&schema).expect("a valid JSON schema")
    }

    /// The router's loader resolves `from_env` inside maps too (`override_subgraph_urls.
    /// subgraphs.<name>.url`), but its schema augmentation does not descend into map values
    /// (`additionalProperties`); this applies it there as well.
    fn augment_maps(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(values) = map.get_mut("additionalProperties")
                    && values.is_object()
                {
                    let mut schema =
                        schemars::Schema::try_from(values.take()).expect("a map's value schema");
                    hive_router::config::schema_from_env::augment_with_from_env(&mut schema);
                    *values = schema.to_value();
                }
                map.values_mut().for_each(augment_maps);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(augment_maps),
            _ => {}
        }
    }

    fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
        let document: serde_json::Value = serde_yaml::from_str(yaml).expect("YAML");
        validator
            .iter_errors(&document)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    #[test]
    fn the_checked_in_router_configuration_follows_the_routers_json_schema() {
        let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/router.yaml"))
            .expect("router.yaml");
        let validator = router_schema();
        let errors = schema_errors(&validator, &yaml);
        assert!(errors.is_empty(), "router.yaml: {errors:#?}");
        // The check can fail: a misspelt key is caught.
        let misspelt = yaml.replacen("\nerror_masking:", "\nerror_maskin:", 1);
        assert!(!schema_errors(&validator, &misspelt).is_empty());
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
        let probes: crate::probes::ProbeSettings = plugin(&config, "aula_probes");
        assert!(probes.timeout_ms >= 100);
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
