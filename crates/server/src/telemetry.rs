//! Optional OpenTelemetry traces: when an OTLP endpoint is configured (`[audit]
//! otlp_endpoint`, or the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), every tool call becomes one span, exported
//! over OTLP/HTTP (JSON) in batches by the SDK's Tokio batch processor. The
//! span carries what the audit line carries: tool, outcome, duration, reply
//! bytes and the arguments' digest.

use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Status, Tracer, TracerProvider};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::audit::Outcome;

/// The traces exporter of one server.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::Tracer,
}

/// The OTLP traces URL from the configuration or the environment.
pub fn endpoint(configured: Option<&str>) -> Option<String> {
    let with_path = |base: &str| {
        let base = base.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    };
    if let Some(c) = configured.filter(|c| !c.is_empty()) {
        return Some(with_path(c));
    }
    if let Ok(full) = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        && !full.is_empty()
    {
        return Some(full);
    }
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|b| !b.is_empty())
        .map(|b| with_path(&b))
}

impl Traces {
    /// Starts exporting to `url` (call inside the Tokio runtime).
    pub fn start(url: &str, session_id: &str) -> Result<Self, String> {
        let client = crate::tls::builder(&[])?
            .build()
            .map_err(|e| crate::tls::describe(&e))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(url)
            .build()
            .map_err(|e| e.to_string())?;
        let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name("ralph-mcp")
            .with_attributes([
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("mcp.session.id", session_id.to_owned()),
            ])
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("ralph-mcp");
        Ok(Self { provider, tracer })
    }

    /// One tool call as a span.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &self,
        tool: &str,
        outcome: Outcome,
        start: SystemTime,
        end: SystemTime,
        bytes: usize,
        args_sha256: &str,
    ) {
        let mut span = self
            .tracer
            .span_builder(format!("tools/call {tool}"))
            .with_kind(opentelemetry::trace::SpanKind::Server)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("mcp.method.name", "tools/call"),
                KeyValue::new("gen_ai.tool.name", tool.to_owned()),
                KeyValue::new("ralph_mcp.outcome", outcome.as_str()),
                KeyValue::new(
                    "ralph_mcp.reply_bytes",
                    i64::try_from(bytes).unwrap_or(i64::MAX),
                ),
                KeyValue::new("ralph_mcp.args_sha256", args_sha256.to_owned()),
            ])
            .start(&self.tracer);
        if outcome != Outcome::Ok {
            span.set_status(Status::error(outcome.as_str()));
        }
        span.end_with_timestamp(end);
    }

    /// Exports what is pending and stops.
    pub fn shutdown(&self) {
        let _ = self.provider.force_flush();
        let _ = self.provider.shutdown();
    }
}
