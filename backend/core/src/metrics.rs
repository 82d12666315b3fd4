//! Process metrics in Prometheus text format: HTTP requests and latencies, jobs enqueued, run,
//! retried and failed, and job durations. One [`Metrics`] per process, shared by `Arc`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an HTTP request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template (never the raw path, which would explode cardinality).
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of an HTTP latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template.
    pub route: String,
}

/// Labels of a job counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// The job's stable name.
    pub job: String,
    /// `succeeded`, `retried` or `failed` (for runs); `enqueued` for pushes.
    pub outcome: String,
}

/// Labels of a queue-depth gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// The job's stable name.
    pub job: String,
    /// Queue status as stored by apalis (`Pending`, `Running`, `Failed`, ...).
    pub status: String,
}

/// Labels of the symbolicated-frames counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    /// `mapped` (to the original source) or `unmapped` (left minified with a reason).
    pub result: String,
}

/// All metrics of the process.
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Request latency by method and route.
    pub http_duration: Family<RouteLabels, Histogram>,
    /// Jobs by name and outcome.
    pub jobs: Family<JobLabels, Counter>,
    /// Job run time by name.
    pub job_duration: Family<RouteLabels, Histogram>,
    /// Jobs in the queue by name and status, refreshed on each scrape.
    pub queue_depth: Family<QueueLabels, Gauge>,
    /// JavaScript frames the digest symbolicated, by result.
    pub symbolicated_frames: Family<FrameLabels, Counter>,
    /// Bytes of parsed source maps the digest's cache holds.
    pub sourcemap_cache_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("errorwatch");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let jobs = Family::<JobLabels, Counter>::default();
        let job_duration = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        let symbolicated_frames = Family::<FrameLabels, Counter>::default();
        let sourcemap_cache_bytes = Gauge::default();
        registry.register(
            "symbolicated_frames",
            "JavaScript frames symbolicated by the digest, by result",
            symbolicated_frames.clone(),
        );
        registry.register(
            "sourcemap_cache_bytes",
            "Bytes of parsed source maps in the digest's cache",
            sourcemap_cache_bytes.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests handled",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_duration.clone(),
        );
        registry.register("jobs", "Background jobs by outcome", jobs.clone());
        registry.register(
            "job_duration_seconds",
            "Background job run time",
            job_duration.clone(),
        );
        registry.register(
            "job_queue",
            "Jobs in the queue by status",
            queue_depth.clone(),
        );
        Arc::new(Self {
            registry,
            http_requests,
            http_duration,
            jobs,
            job_duration,
            queue_depth,
            symbolicated_frames,
            sourcemap_cache_bytes,
        })
    }

    /// Counts a job event (`enqueued`, `succeeded`, `retried`, `failed`).
    pub fn count_job(&self, job: &str, outcome: &str) {
        self.jobs
            .get_or_create(&JobLabels {
                job: job.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts frames the digest symbolicated (`mapped`) or left minified (`unmapped`).
    pub fn count_frames(&self, mapped: u64, unmapped: u64) {
        for (result, n) in [("mapped", mapped), ("unmapped", unmapped)] {
            if n > 0 {
                self.symbolicated_frames
                    .get_or_create(&FrameLabels {
                        result: result.to_owned(),
                    })
                    .inc_by(n);
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolication_counters_and_the_cache_gauge_are_exposed() {
        let metrics = Metrics::new();
        metrics.count_frames(5, 0);
        metrics.count_frames(2, 3);
        metrics.sourcemap_cache_bytes.set(1234);
        let text = metrics.encode();
        assert!(
            text.contains("errorwatch_symbolicated_frames_total{result=\"mapped\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("errorwatch_symbolicated_frames_total{result=\"unmapped\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("errorwatch_sourcemap_cache_bytes 1234"),
            "{text}"
        );
    }
}
