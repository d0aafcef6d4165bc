//! Service configuration: defaults, then an optional TOML file, then `AULA_*` environment
//! variables; secrets are wrapped so they never appear in logs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret value (password, URL with credentials, key). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything a subgraph process needs. Environment variables override the file:
/// `AULA_LISTEN=0.0.0.0:4001`, `AULA_DATABASE__URL=postgres://...`, `AULA_AUTH__JWKS_URL=...`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PostgreSQL connection.
    pub database: DatabaseConfig,
    /// Redis, when the service uses it (readiness checks it).
    pub redis_url: Option<Secret>,
    /// Access-token verification.
    pub auth: AuthConfig,
    /// Object storage (`[storage]`), for subgraphs that keep files.
    pub storage: Option<crate::storage::StorageConfig>,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Logs and traces.
    pub telemetry: TelemetryConfig,
    /// Serve GraphiQL on `GET /graphql` (development only).
    pub graphiql: bool,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Peers whose `X-Forwarded-For` is believed (the gateway, a load balancer). Requests from
    /// anyone else are attributed to their socket address.
    pub trusted_proxies: Vec<IpAddr>,
    /// The subgraph's own settings (`[service]`, `AULA_SERVICE__*`), read with
    /// [`Config::service_settings`].
    pub service: ServiceSettings,
}

/// A subgraph's own section, kept raw until the subgraph reads it into its settings type.
/// `Debug` prints the keys only: the section may hold secrets.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceSettings(figment::value::Dict);

impl fmt::Debug for ServiceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// PostgreSQL connection settings. The URL names the subgraph's own role.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://aula_<subgraph>[:password]@host:port/aula`.
    pub url: Secret,
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout_secs: u64,
}

/// How access tokens are verified.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Where the identity service publishes its JWKS (fetched, cached, refreshed on unknown `kid`).
    pub jwks_url: Option<String>,
    /// A JWKS document inline (development and tests).
    pub jwks: Option<String>,
}

/// Limits applied before and during execution.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Deepest accepted selection nesting.
    pub max_depth: usize,
    /// Largest accepted query complexity.
    pub max_complexity: usize,
}

/// Logging and tracing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// A `tracing` filter, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// OTLP/HTTP endpoint for traces (e.g. `http://collector:4318/v1/traces`); none disables export.
    pub otlp_endpoint: Option<String>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// The `iss` Aula's identity service puts in access tokens unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "aula-identity";
/// The `aud` of Aula access tokens unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "aula";

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseConfig {
                url: Secret::default(),
                max_connections: 10,
                acquire_timeout_secs: 5,
            },
            redis_url: None,
            auth: AuthConfig {
                issuer: DEFAULT_ISSUER.into(),
                audience: DEFAULT_AUDIENCE.into(),
                jwks_url: None,
                jwks: None,
            },
            storage: None,
            limits: LimitsConfig {
                max_body_bytes: 256 * 1024,
                max_depth: 12,
                max_complexity: 2_000,
            },
            telemetry: TelemetryConfig {
                log_format: LogFormat::Json,
                log_filter: "info,sqlx=warn,sea_orm=warn".into(),
                otlp_endpoint: None,
            },
            graphiql: false,
            shutdown_grace_secs: 20,
            trusted_proxies: Vec::new(),
            service: ServiceSettings::default(),
        }
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Syntax, unknown keys or wrong types.
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
    /// Loaded, but unusable.
    #[error("invalid configuration: {0}")]
    Incomplete(&'static str),
}

/// `AULA_CONFIG` names the file; `AULA_DEV_*` belong to the local launcher and `AULA_TEST_*` to
/// the test harness. None of them is a service setting, so a service started from the same
/// environment ignores them (every other `AULA_*` variable must be a known key).
fn is_other_command_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "config" || key.starts_with("dev_") || key.starts_with("test_")
}

impl Config {
    /// Defaults, then `file` (if given), then `AULA_*` variables from the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("AULA_").split("__"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(env.filter(|key| !is_other_command_variable(key.as_str())))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        if config.database.url.expose().is_empty() {
            return Err(ConfigError::Incomplete(
                "database.url (AULA_DATABASE__URL) is required",
            ));
        }
        Ok(config)
    }
}

impl Config {
    /// The `[service]` section as `T` (which should deny unknown fields and default the rest).
    pub fn service_settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        Figment::from(Serialized::defaults(&self.service.0))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// Sets one key of the `[service]` section (tests and the launcher).
    pub fn set_service(&mut self, key: &str, value: impl Into<figment::value::Value>) {
        self.service.0.insert(key.to_owned(), value.into());
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment::Error"
)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_and_secrets_are_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "svc.toml",
                r#"
                listen = "127.0.0.1:4100"
                [database]
                url = "postgres://aula_identity:hunter2@db/aula"
                [auth]
                jwks_url = "http://identity/.well-known/jwks.json"
                "#,
            )?;
            jail.set_env("AULA_LIMITS__MAX_DEPTH", "7");
            jail.set_env("AULA_REDIS_URL", "redis://:s3cret@cache:6379");
            jail.set_env("AULA_DEV_DATA_DIR", "/somewhere");
            jail.set_env("AULA_TEST_REDIS_URL", "redis://elsewhere");
            let config = Config::load(Some(Path::new("svc.toml"))).expect("loads");
            assert_eq!(config.listen.port(), 4100);
            assert_eq!(config.limits.max_depth, 7);
            assert_eq!(
                config.database.url.expose(),
                "postgres://aula_identity:hunter2@db/aula"
            );
            let printed = format!("{config:?}");
            assert!(
                !printed.contains("hunter2") && !printed.contains("s3cret"),
                "{printed}"
            );
            assert!(printed.contains("[redacted]"));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_essentials_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:1\"\n")?;
            assert!(matches!(
                Config::load(Some(Path::new("bad.toml"))),
                Err(ConfigError::Invalid(_))
            ));
            jail.create_file("empty.toml", "")?;
            assert!(matches!(
                Config::load(Some(Path::new("empty.toml"))),
                Err(ConfigError::Incomplete(_))
            ));
            Ok(())
        });
    }
}
