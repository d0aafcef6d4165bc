//! Trusted documents (plugin `aula_trusted`): the router requires a registered persisted
//! document id (`persisted_documents.require_id`), and this plugin lifts the requirement for
//! every request that need not meet it: partners' API clients always send their own documents
//! (within their budgets), and first-party apps are held to the manifest only where the
//! deployment (`enforce: first_party`) or the tenant (`tenants`) enables it.

use hive_router::async_trait;
use hive_router::plugins::hooks::on_graphql_params::{
    OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;
use tenancy::{TenantContext, TenantId};

use crate::auth::Caller;
use crate::tenant::Bound;

/// Who must send registered documents.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Enforce {
    /// Nobody, except the tenants listed in `tenants`.
    #[default]
    Off,
    /// Every first-party caller (the web app, the console); partners never.
    FirstParty,
}

/// `plugins.aula_trusted.config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedSettings {
    /// The deployment's rule.
    #[serde(default)]
    pub enforce: Enforce,
    /// Tenants whose first-party callers must send registered documents whatever `enforce` says.
    #[serde(default)]
    pub tenants: Vec<TenantId>,
}

/// The plugin.
#[derive(Debug)]
pub struct TrustedDocuments {
    settings: TrustedSettings,
}

impl TrustedDocuments {
    /// Whether a request from `caller`, bound to `tenant`, must name a registered document.
    fn required(&self, caller: Option<&TenantContext>, tenant: Option<TenantId>) -> bool {
        if caller.is_some_and(|c| c.client_id().is_some()) {
            return false;
        }
        self.settings.enforce == Enforce::FirstParty
            || tenant.is_some_and(|t| self.settings.tenants.contains(&t))
    }
}

#[async_trait]
impl RouterPlugin for TrustedDocuments {
    type Config = TrustedSettings;

    fn plugin_name() -> &'static str {
        "aula_trusted"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let settings = payload.config()?;
        payload.initialize_plugin(Self { settings })
    }

    /// Runs before the router enforces `require_id`; set on every operation, because a
    /// WebSocket connection keeps one request context for all of its operations.
    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        let caller = Caller::of(payload.context);
        let tenant = Bound::of(payload.context).or_else(|| caller.as_ref().map(|c| c.tenant()));
        let required = self.required(caller.as_ref(), tenant);
        match payload.request_context.write() {
            Ok(mut context) => {
                context
                    .persisted_documents()
                    .set_skip_enforcement(!required);
            }
            // Enforcement stays on: the safe side.
            Err(err) => tracing::error!(error = %err, "aula_trusted: request context unavailable"),
        }
        payload.proceed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenancy::{Role, UserId};

    fn plugin(enforce: Enforce, tenants: Vec<TenantId>) -> TrustedDocuments {
        TrustedDocuments {
            settings: TrustedSettings { enforce, tenants },
        }
    }

    #[test]
    fn partners_never_need_registered_documents_first_party_callers_do_where_enabled() {
        let strict = TenantId::generate();
        let lax = TenantId::generate();
        let user = |t| TenantContext::user(t, UserId::generate(), [Role::Student]);
        let partner = |t| {
            let claims = kit::auth::claims(
                &kit::Config::default().auth,
                t,
                "aula_ci_x",
                &[Role::Partner],
                std::time::Duration::from_secs(60),
            );
            TenantContext::from_claims(&claims).expect("partner context")
        };

        let off = plugin(Enforce::Off, vec![strict]);
        assert!(off.required(Some(&user(strict)), Some(strict)));
        assert!(
            off.required(None, Some(strict)),
            "anonymous visitors of the tenant"
        );
        assert!(!off.required(Some(&user(lax)), Some(lax)));
        assert!(!off.required(None, None));
        assert!(!off.required(Some(&partner(strict)), Some(strict)));

        let on = plugin(Enforce::FirstParty, vec![]);
        assert!(on.required(Some(&user(lax)), Some(lax)));
        assert!(on.required(None, None));
        assert!(!on.required(Some(&partner(lax)), Some(lax)));
    }
}
