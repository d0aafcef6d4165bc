//! Error masking (plugin `aula_errors`): a subgraph error keeps its message only when its
//! `extensions.code` is one of Aula's public codes (`kit::error::Code::is_public`), which
//! subgraphs attach to messages written for users; anything else (an internal code, a missing
//! one, a foreign subgraph's stack trace) leaves the gateway as `INTERNAL` with a generic
//! message. The router's own errors (validation, limits) are untouched.

use hive_router::GraphQLError;
use hive_router::async_trait;
use hive_router::plugins::hooks::on_graphql_error::{
    OnGraphQLErrorHookPayload, OnGraphQLErrorHookResult,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::RouterPlugin;
use kit::error::Code;
use serde::Deserialize;

/// `plugins.aula_errors.config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSettings {
    /// The message that replaces a masked one.
    #[serde(default = "default_message")]
    pub message: String,
}

fn default_message() -> String {
    "internal error".into()
}

/// The plugin.
#[derive(Debug)]
pub struct ErrorMasking {
    message: String,
}

impl ErrorMasking {
    /// Masks `error` unless it is the router's own or carries a public code.
    fn mask(&self, error: &mut GraphQLError) {
        let Some(service) = error.extensions.service_name.as_deref() else {
            return;
        };
        let code = error.extensions.code.as_deref().and_then(Code::parse);
        if code.is_some_and(|c| c.is_public()) {
            return;
        }
        tracing::warn!(
            service,
            code = error.extensions.code.as_deref().unwrap_or("<none>"),
            message = %error.message,
            "subgraph error masked"
        );
        error.message.clone_from(&self.message);
        let code = code
            .filter(|c| *c == Code::Unavailable)
            .unwrap_or(Code::Internal);
        error.extensions.code = Some(code.as_str().to_owned());
    }
}

#[async_trait]
impl RouterPlugin for ErrorMasking {
    type Config = ErrorSettings;

    fn plugin_name() -> &'static str {
        "aula_errors"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let settings = payload.config()?;
        payload.initialize_plugin(Self {
            message: settings.message,
        })
    }

    fn on_graphql_error<'req>(
        &'req self,
        mut payload: OnGraphQLErrorHookPayload<'req>,
    ) -> OnGraphQLErrorHookResult<'req> {
        self.mask(&mut payload.error);
        payload.proceed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(service: Option<&str>, code: Option<&str>, message: &str) -> GraphQLError {
        let mut e = GraphQLError::from(message.to_owned());
        e.extensions.service_name = service.map(str::to_owned);
        e.extensions.code = code.map(str::to_owned);
        e
    }

    fn masked(e: GraphQLError) -> (String, Option<String>) {
        let plugin = ErrorMasking {
            message: default_message(),
        };
        let mut e = e;
        plugin.mask(&mut e);
        (e.message, e.extensions.code)
    }

    #[test]
    fn public_subgraph_errors_keep_their_message() {
        let (message, code) = masked(error(
            Some("identity"),
            Some("BAD_USER_INPUT"),
            "email: is not an address",
        ));
        assert_eq!(message, "email: is not an address");
        assert_eq!(code.as_deref(), Some("BAD_USER_INPUT"));
    }

    #[test]
    fn other_subgraph_errors_are_masked_as_internal() {
        for code in [None, Some("INTERNAL"), Some("SOMETHING_ELSE")] {
            let (message, got) = masked(error(Some("catalog"), code, "password=hunter2"));
            assert_eq!(message, "internal error");
            assert_eq!(got.as_deref(), Some("INTERNAL"));
        }
        let (message, code) = masked(error(Some("catalog"), Some("UNAVAILABLE"), "db down"));
        assert_eq!(message, "internal error");
        assert_eq!(code.as_deref(), Some("UNAVAILABLE"));
    }

    #[test]
    fn the_routers_own_errors_are_untouched() {
        let (message, code) = masked(error(None, Some("MAX_DEPTH_EXCEEDED"), "too deep"));
        assert_eq!(message, "too deep");
        assert_eq!(code.as_deref(), Some("MAX_DEPTH_EXCEEDED"));
    }
}
