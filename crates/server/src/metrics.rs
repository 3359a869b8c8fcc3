//! Prometheus metrics for `GET /metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set for requests by JSON-RPC method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The JSON-RPC method, `other` or `invalid`.
    pub method: &'static str,
}

/// Label set for tool calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    /// Canonical tool name, or `unknown`.
    pub tool: String,
    /// `ok`, `error` (isError result), `refused`, `cancelled` or `unknown`.
    pub outcome: &'static str,
}

/// Label set for tool latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolName {
    /// Canonical tool name.
    pub tool: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// All server metrics, plus the activity record an orchestrator reads.
pub struct Metrics {
    registry: Registry,
    /// Requests by method.
    pub requests: Family<MethodLabels, Counter>,
    /// Tool calls by tool and outcome.
    pub tool_calls: Family<ToolLabels, Counter>,
    /// Tool latency in seconds.
    pub tool_latency: Family<ToolName, Histogram, fn() -> Histogram>,
    /// Tool calls in flight.
    pub in_flight: Gauge,
    /// Calls refused with 503 because the server was saturated.
    pub saturation_rejections: Counter,
    last_call_unix_ms: AtomicU64,
    activity_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ralph_mcp");
        let requests = Family::<MethodLabels, Counter>::default();
        let tool_calls = Family::<ToolLabels, Counter>::default();
        let tool_latency = Family::<ToolName, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let in_flight = Gauge::default();
        let saturation_rejections = Counter::default();
        registry.register("requests", "JSON-RPC requests by method", requests.clone());
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome",
            tool_calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Tool call latency",
            tool_latency.clone(),
        );
        registry.register(
            "tool_calls_in_flight",
            "Tool calls running now",
            in_flight.clone(),
        );
        registry.register(
            "saturation_rejections",
            "Tool calls refused with 503 because the server was saturated",
            saturation_rejections.clone(),
        );
        Self {
            registry,
            requests,
            tool_calls,
            tool_latency,
            in_flight,
            saturation_rejections,
            last_call_unix_ms: AtomicU64::new(0),
            activity_total: AtomicU64::new(0),
        }
    }

    /// Counts one tool call in flight until the guard drops.
    pub fn in_flight_guard(&self) -> InFlightGuard {
        self.in_flight.inc();
        InFlightGuard(self.in_flight.clone())
    }

    /// Counts one request.
    pub fn request(&self, method: &'static str) {
        self.requests.get_or_create(&MethodLabels { method }).inc();
    }

    /// Records a finished tool call and marks activity.
    pub fn tool_call(&self, tool: &str, outcome: &'static str, elapsed: Duration) {
        self.tool_calls
            .get_or_create(&ToolLabels {
                tool: tool.to_owned(),
                outcome,
            })
            .inc();
        self.tool_latency
            .get_or_create(&ToolName {
                tool: tool.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_call_unix_ms.store(now, Ordering::Relaxed);
        self.activity_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Total tool calls, successful or not.
    pub fn activity_total(&self) -> u64 {
        self.activity_total.load(Ordering::Relaxed)
    }

    /// Unix time in ms of the last tool call (0 before the first).
    pub fn last_call_unix_ms(&self) -> u64 {
        self.last_call_unix_ms.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        // Activity as plain gauges, outside the registry so they read atomically.
        let body = out.trim_end_matches("# EOF\n").to_owned();
        format!(
            "{body}# HELP ralph_mcp_activity_tool_calls_total Tool calls seen, including failed ones.\n# TYPE ralph_mcp_activity_tool_calls_total counter\nralph_mcp_activity_tool_calls_total {}\n# HELP ralph_mcp_activity_last_call_unix_ms Unix time (ms) of the last tool call.\n# TYPE ralph_mcp_activity_last_call_unix_ms gauge\nralph_mcp_activity_last_call_unix_ms {}\n# EOF\n",
            self.activity_total(),
            self.last_call_unix_ms()
        )
    }
}

/// Decrements the in-flight gauge when dropped, so a call that is cancelled or
/// dropped mid-way never leaves the gauge high.
pub struct InFlightGuard(Gauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
