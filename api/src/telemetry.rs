//! Prometheus metrics of one server instance, exported on `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a finished HTTP request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The HTTP method.
    pub method: String,
    /// The route pattern (such as `/api/v1/visits`), never the raw path.
    pub route: String,
    /// The response status code.
    pub status: String,
}

/// Labels of a request's latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The HTTP method.
    pub method: String,
    /// The route pattern.
    pub route: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics and the registry they are exported from.
pub struct Metrics {
    registry: Registry,
    /// Finished requests by method, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds by method and route.
    pub latency: HistogramFamily,
    /// Visits stored.
    pub visits_accepted: Counter,
    /// Visits posted again (already stored; nothing changed).
    pub visits_duplicate: Counter,
    /// Heartbeats received.
    pub heartbeats: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("maskgate");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(|| {
            // 0.25 ms .. ~8 s
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        let visits_accepted = Counter::default();
        let visits_duplicate = Counter::default();
        let heartbeats = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests finished, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method and route",
            latency.clone(),
        );
        registry.register("visits_accepted", "Visits stored", visits_accepted.clone());
        registry.register(
            "visits_duplicate",
            "Visits posted again and ignored (idempotent retries)",
            visits_duplicate.clone(),
        );
        registry.register(
            "heartbeats",
            "Device heartbeats received",
            heartbeats.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            visits_accepted,
            visits_duplicate,
            heartbeats,
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
