//! Identity's own settings: the `[service]` section of its configuration (`AULA_SERVICE__*`).

use kit::Secret;
use serde::{Deserialize, Serialize};

/// Identity's settings. Only `encryption_key` has no default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Base64 of 32 random bytes: seals signing keys, TOTP seeds and SSO client secrets at rest.
    pub encryption_key: Secret,
    /// Identity's public base URL (discovery document, SSO callback), e.g. `https://id.aula.app`.
    pub public_url: String,
    /// The web app's base URL, for links in invitation and reset emails.
    pub web_url: String,
    /// The platform domain: tenant `acme` is served at `acme.<platform_domain>`.
    pub platform_domain: String,
    /// Access-token lifetime in seconds (at most 900).
    pub access_token_ttl_secs: u64,
    /// Refresh-token lifetime in seconds (a family ends this long after its last rotation).
    pub refresh_token_ttl_secs: u64,
    /// Invitation lifetime in hours.
    pub invitation_ttl_hours: u32,
    /// Password-reset and email-verification token lifetime in minutes.
    pub link_ttl_minutes: u32,
    /// Failed sign-ins per account before back-off starts.
    pub account_failures_allowed: u32,
    /// Failed sign-ins per client IP before back-off starts.
    pub ip_failures_allowed: u32,
    /// The longest back-off, in seconds.
    pub max_backoff_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            encryption_key: Secret::default(),
            public_url: "http://127.0.0.1:4001".into(),
            web_url: "http://127.0.0.1:4000".into(),
            platform_domain: "aula.localhost".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            invitation_ttl_hours: 72,
            link_ttl_minutes: 30,
            account_failures_allowed: 5,
            ip_failures_allowed: 50,
            max_backoff_secs: 900,
        }
    }
}

impl Settings {
    /// Checks what defaults cannot: the key is present and lifetimes are sane.
    pub fn validate(&self) -> Result<(), String> {
        if self.encryption_key.expose().is_empty() {
            return Err(
                "service.encryption_key (AULA_SERVICE__ENCRYPTION_KEY) is required: base64 of 32 random bytes"
                    .into(),
            );
        }
        if !(60..=900).contains(&self.access_token_ttl_secs) {
            return Err("service.access_token_ttl_secs must be between 60 and 900".into());
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(
                "service.refresh_token_ttl_secs must be at least the access-token TTL".into(),
            );
        }
        Ok(())
    }
}
