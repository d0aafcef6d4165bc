//! Logs and traces: `tracing` with JSON (or pretty) output, and OpenTelemetry export over
//! OTLP/HTTP when an endpoint is configured. W3C `traceparent` headers continue callers' traces.

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetryConfig};

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes it.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Telemetry that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A bad filter expression.
    #[error("invalid log filter: {0}")]
    Filter(String),
    /// The OTLP exporter could not be built.
    #[error("cannot export traces: {0}")]
    Exporter(String),
}

/// Installs the global subscriber for `service`. A second call in the same process (tests) keeps
/// the first subscriber and only returns the new exporter.
pub fn init(service: &str, config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_new(&config.log_filter)
        .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let fmt = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => Some(tracer_provider(service, endpoint)?),
        None => None,
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("aula"))
            .boxed()
    });
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    Ok(Telemetry { provider })
}

/// An OTLP/HTTP (protobuf) trace pipeline for `service`.
pub fn tracer_provider(service: &str, endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    crate::server::install_crypto();
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(format!("aula-{service}"))
                .build(),
        )
        .build())
}

impl Telemetry {
    /// Flushes and stops the trace exporter.
    pub fn shutdown(self) {
        if let Some(Err(e)) = self.provider.map(|p| p.shutdown()) {
            tracing::warn!(error = %e, "trace exporter shutdown failed");
        }
    }
}

/// Reads W3C trace context from HTTP headers.
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The trace context a request carries (empty when it carries none).
pub fn remote_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}
