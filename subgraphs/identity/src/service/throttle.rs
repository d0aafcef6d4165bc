//! Brute-force protection in Redis: failed attempts are counted per account and per client IP;
//! once the allowance is used up the next attempt waits out a lock-out that doubles with each
//! further failure, up to a ceiling. Unknown accounts
//! are counted exactly like real ones, so lock-outs reveal nothing about who exists.

use std::net::IpAddr;

use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use tenancy::TenantId;

use crate::IdentityError;
use crate::settings::Settings;

/// Failure counters expire this long after the last failure.
const WINDOW_SECS: u64 = 3600;

/// What is being attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Password sign-in.
    Password,
    /// A second factor (TOTP or recovery code).
    Mfa,
    /// API client credentials.
    ClientSecret,
    /// Emailed links (password reset, address check): every request counts, capping emails.
    Link,
}

impl Attempt {
    fn name(self) -> &'static str {
        match self {
            Attempt::Password => "pwd",
            Attempt::Mfa => "mfa",
            Attempt::ClientSecret => "cli",
            Attempt::Link => "lnk",
        }
    }
}

/// The counters for one attempt: an account (tenant and lowercased login) and a client IP.
#[derive(Debug)]
pub struct Throttle<'a> {
    redis: &'a ConnectionManager,
    settings: &'a Settings,
    account: Option<String>,
    ip: Option<String>,
}

impl<'a> Throttle<'a> {
    /// Counters for `login` (an email or client id) in `tenant`, from `ip`.
    pub fn new(
        redis: &'a ConnectionManager,
        settings: &'a Settings,
        attempt: Attempt,
        tenant: TenantId,
        login: &str,
        ip: Option<IpAddr>,
    ) -> Self {
        // Logins are hashed: the key space should not be a list of email addresses.
        let login = Sha256::digest(login.trim().to_lowercase().as_bytes());
        let login: String = login[..16].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            redis,
            settings,
            account: Some(format!("aula:throttle:{}:{tenant}:{login}", attempt.name())),
            ip: ip.map(|ip| format!("aula:throttle:ip:{ip}")),
        }
    }

    /// Counters for the client IP only (sign-ups: each one counts, capping tenants per IP).
    pub fn ip_only(
        redis: &'a ConnectionManager,
        settings: &'a Settings,
        ip: Option<IpAddr>,
    ) -> Self {
        Self {
            redis,
            settings,
            account: None,
            ip: ip.map(|ip| format!("aula:throttle:ip:{ip}")),
        }
    }

    /// Refuses the attempt while the account or the IP is locked out.
    pub async fn check(&self) -> Result<(), IdentityError> {
        let mut conn = self.redis.clone();
        let keys = self
            .account
            .iter()
            .chain(&self.ip)
            .map(|k| format!("{k}:lock"));
        let mut wait = 0i64;
        for key in keys {
            let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await?;
            wait = wait.max(ttl);
        }
        if wait > 0 {
            return Err(IdentityError::RateLimited(wait as u64));
        }
        Ok(())
    }

    /// Counts a failure and locks out whatever is over its allowance.
    pub async fn failed(&self) -> Result<(), IdentityError> {
        if let Some(account) = &self.account {
            self.bump(account, self.settings.account_failures_allowed)
                .await?;
        }
        if let Some(ip) = &self.ip {
            self.bump(ip, self.settings.ip_failures_allowed).await?;
        }
        Ok(())
    }

    /// Clears the account's failures after a success (the IP's stay counted).
    pub async fn succeeded(&self) -> Result<(), IdentityError> {
        let Some(account) = &self.account else {
            return Ok(());
        };
        let mut conn = self.redis.clone();
        redis::cmd("DEL")
            .arg(account)
            .arg(format!("{account}:lock"))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn bump(&self, key: &str, allowed: u32) -> Result<(), IdentityError> {
        let mut conn = self.redis.clone();
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(key, 1)
            .expire(key, WINDOW_SECS as i64)
            .ignore()
            .query_async(&mut conn)
            .await?;
        if count >= u64::from(allowed) {
            // 5 s after the last allowed failure, doubling with each further one.
            let over = (count - u64::from(allowed)).min(20) as u32;
            let secs = (5 * 2u64.saturating_pow(over)).min(self.settings.max_backoff_secs);
            redis::cmd("SET")
                .arg(format!("{key}:lock"))
                .arg(1)
                .arg("EX")
                .arg(secs)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(())
    }
}
