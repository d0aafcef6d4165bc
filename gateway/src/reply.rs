//! Early answers from Aula's plugins: GraphQL error bodies with a stable `extensions.code`, the
//! HTTP status that goes with it, and `Retry-After` when the caller should wait.

use hive_router::http::{HeaderMap, HeaderValue, StatusCode, header};
use hive_router::ntex;
use hive_router::plugins::plugin_trait::EarlyHTTPResponse;
use hive_router::{GraphQLError, sonic_rs};
use serde_json::json;

/// A refusal: what the client is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// `extensions.code`.
    pub code: &'static str,
    /// For the user.
    pub message: String,
    /// Seconds to wait before retrying.
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// A refusal with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `RATE_LIMITED` (429) with `Retry-After`.
    pub fn rate_limited(what: &str, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!("the {what} is used up; retry later"),
            )
        }
    }

    /// `UNAVAILABLE` (503): a dependency of the gateway is down.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(5),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "temporarily unavailable; try again shortly",
            )
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut extensions = json!({ "code": self.code });
        if let Some(secs) = self.retry_after {
            extensions["retryAfter"] = json!(secs);
        }
        json!({ "errors": [{ "message": self.message, "extensions": extensions }] })
            .to_string()
            .into_bytes()
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers
    }

    /// As the HTTP response an `on_http_request` hook ends with.
    pub fn into_response(self) -> ntex::http::Response {
        let mut builder = ntex::http::Response::build(self.status);
        builder.header("content-type", "application/json");
        if let Some(secs) = self.retry_after {
            builder.header("retry-after", secs.to_string());
        }
        builder.body(self.body())
    }

    /// As the GraphQL error a WebSocket operation ends with (`next` with errors, then
    /// `complete`; the connection stays open).
    pub fn into_graphql_error(self) -> GraphQLError {
        let mut error = GraphQLError::from_message_and_code(self.message, self.code);
        if let Some(secs) = self.retry_after {
            error
                .extensions
                .set("retryAfter".into(), sonic_rs::json!(secs));
        }
        error
    }

    /// As the early response an `on_execute` hook ends with.
    pub fn into_early(self) -> EarlyHTTPResponse {
        EarlyHTTPResponse {
            body: self.body(),
            headers: self.headers(),
            status_code: self.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_carry_retry_after_in_header_and_extensions() {
        let refusal = Refusal::rate_limited("tenant's request budget", 7);
        let early = refusal.clone().into_early();
        assert_eq!(early.status_code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(early.headers[header::RETRY_AFTER], "7");
        let body: serde_json::Value = serde_json::from_slice(&early.body).expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 7);
        assert_eq!(Refusal::rate_limited("x", 0).retry_after, Some(1));
    }
}
