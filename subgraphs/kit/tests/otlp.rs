//! Traces are exported over OTLP/HTTP to a collector on loopback when an endpoint is configured.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use kit::config::{LogFormat, TelemetryConfig};

#[tokio::test]
async fn spans_reach_the_configured_collector() {
    let received: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let sink = received.clone();
    let collector = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                sink.lock().expect("lock").push((ct, body.len()));
                ""
            }
        }),
    );
    let server = harness::spawn(collector).await;

    let telemetry = kit::telemetry::init(
        "otlp-test",
        &TelemetryConfig {
            log_format: LogFormat::Json,
            log_filter: "info".into(),
            otlp_endpoint: Some(server.at("/v1/traces")),
        },
    )
    .expect("telemetry");
    tracing::info_span!("enroll_student", tenant = "t1")
        .in_scope(|| tracing::info!("inside a span"));
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .expect("flush");

    let got = received.lock().expect("lock").clone();
    assert!(!got.is_empty(), "the collector received an export");
    assert!(
        got.iter()
            .all(|(ct, len)| ct == "application/x-protobuf" && *len > 0),
        "{got:?}"
    );
}
