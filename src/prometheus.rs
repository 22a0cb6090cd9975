//! `GET /metrics`: the server's and the engine's metrics in the Prometheus
//! text format.
//!
//! [`install`] sets a `metrics-exporter-prometheus` recorder as the
//! process's global `metrics` recorder (once; later calls return the same
//! handle) without the exporter's own HTTP listener: [`run`](crate::run)
//! serves the rendered text on its own route. If the process already has
//! another recorder (an embedding application installed its own), the
//! route is not served and every metric goes to that recorder instead.
//!
//! The server adds two metrics to the engine's
//! ([`chatkit_actors::telemetry`]), both for the ChatKit endpoint only:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `chatkit_requests_total` | counter | `type` (request type, `unknown` when the body did not parse), `status` (HTTP status) | ChatKit requests answered |
//! | `chatkit_request_duration_seconds` | histogram | `type` | request received → response head ready (for a stream: the turn has started) |

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use metrics::{Counter, Histogram, Label, Unit, describe_counter, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use chatkit_actors::telemetry as engine;

/// ChatKit requests answered, by `type` and `status`.
pub const REQUESTS_TOTAL: &str = "chatkit_requests_total";
/// Request received → response head ready, by `type`.
pub const REQUEST_DURATION_SECONDS: &str = "chatkit_request_duration_seconds";

/// How often histogram samples are folded into their buckets (they queue
/// lock-free until then; a scrape folds them too).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Buckets of request and time-to-first-token latencies: 1 ms (a read, a
/// turn start on an idle server) to 10 s (a slow provider).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of whole model streams: answers take from milliseconds (a fake
/// or cached model) to minutes (long reasoning).
const STREAM_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Buckets of group commits: an fsync costs from ~50 µs (tmpfs, a fast
/// NVMe) to tens of milliseconds (a busy disk).
const COMMIT_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Buckets of writes per group commit (powers of two up to the default
/// `max_batch`).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the Prometheus recorder as the global `metrics` recorder (on
/// the first call) and returns its handle; `None` when another recorder
/// was installed first.
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match builder().install_recorder() {
            Ok(handle) => {
                describe();
                let upkeep = handle.clone();
                let spawned = std::thread::Builder::new()
                    .name("chatkit-metrics-upkeep".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(UPKEEP_INTERVAL);
                            upkeep.run_upkeep();
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "metrics upkeep thread not started; scrapes still fold samples");
                }
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "another metrics recorder is installed: metrics go there, and the server does not serve them");
                None
            }
        })
        .clone()
}

fn builder() -> PrometheusBuilder {
    let buckets = [
        (REQUEST_DURATION_SECONDS, LATENCY_BUCKETS),
        (engine::MODEL_TTFT_SECONDS, LATENCY_BUCKETS),
        (engine::MODEL_STREAM_SECONDS, STREAM_BUCKETS),
        (engine::STORE_COMMIT_SECONDS, COMMIT_BUCKETS),
        (engine::STORE_BATCH_SIZE, BATCH_BUCKETS),
    ];
    buckets
        .into_iter()
        .fold(PrometheusBuilder::new(), |b, (name, values)| {
            b.set_buckets_for_metric(Matcher::Full(name.to_owned()), values)
                .expect("bucket lists are not empty")
        })
}

/// Registers the help text of the server's and the engine's metrics.
pub fn describe() {
    engine::describe();
    describe_counter!(
        REQUESTS_TOTAL,
        "ChatKit requests answered, by type and status"
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "ChatKit request received to response head ready (a stream: the turn started)"
    );
}

/// `GET /metrics`: the text exposition format.
pub async fn scrape(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// The request metrics' handles, created once per (type, status), so a
/// request records without allocating.
#[derive(Default)]
pub struct RequestMetrics {
    counters: Mutex<HashMap<(&'static str, u16), Counter>>,
    durations: Mutex<HashMap<&'static str, Histogram>>,
}

impl RequestMetrics {
    /// Counts one answered request and its duration.
    pub fn record(&self, request_type: &'static str, status: u16, started: Instant) {
        let elapsed = started.elapsed();
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((request_type, status))
            .or_insert_with(|| {
                let labels = vec![
                    Label::from_static_parts("type", request_type),
                    Label::new("status", status.to_string()),
                ];
                metrics::counter!(REQUESTS_TOTAL, labels)
            })
            .increment(1);
        self.durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(request_type)
            .or_insert_with(|| {
                let labels = vec![Label::from_static_parts("type", request_type)];
                metrics::histogram!(REQUEST_DURATION_SECONDS, labels)
            })
            .record(elapsed);
    }
}
