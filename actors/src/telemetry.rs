//! The engine's metrics, recorded through the [`metrics`] facade.
//!
//! The engine only records; whoever installed the process's global
//! recorder decides where the numbers go. `chatkit-server` installs a
//! Prometheus recorder and serves it on `GET /metrics`; an embedding
//! application installs its own (Prometheus, StatsD, OpenTelemetry, …)
//! before starting the engine and gets every metric below. Without a
//! recorder each call is a no-op.
//!
//! Recording is cheap: every name and label value is a `&'static str`
//! literal, so the facade builds its keys at compile time and no event
//! allocates. [`describe`] registers the help text of each metric.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `chatkit_open_streams` | gauge | | answer streams handed to clients and not yet dropped |
//! | `chatkit_turns_started_total` | counter | | turns started (a user message, retry or tool output was accepted) |
//! | `chatkit_turns_ended_total` | counter | `outcome` = `finished`, `failed`, `cancelled` | turns ended; `failed` sent an `error` event (or could not start), `cancelled` lost its client |
//! | `chatkit_thread_actors` | gauge | | live ThreadActors (threads held in memory) |
//! | `chatkit_store_queue_depth` | gauge | | writes waiting for the StoreActor |
//! | `chatkit_store_batch_size` | histogram | | writes folded into one group commit |
//! | `chatkit_store_commit_seconds` | histogram | | one group commit: begin, apply, COMMIT (with its fsync) |
//! | `chatkit_model_ttft_seconds` | histogram | `provider` = `responses`, `chat` | model request sent → its first ChatKit event |
//! | `chatkit_model_stream_seconds` | histogram | `provider` | model request sent → its stream ended |
//! | `chatkit_slow_subscribers_dropped_total` | counter | | clients cut off because their event buffer was full (they stopped reading) |

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

/// Answer streams handed to clients and not yet dropped.
pub const OPEN_STREAMS: &str = "chatkit_open_streams";
/// Turns started.
pub const TURNS_STARTED: &str = "chatkit_turns_started_total";
/// Turns ended, by `outcome`.
pub const TURNS_ENDED: &str = "chatkit_turns_ended_total";
/// Live ThreadActors.
pub const THREAD_ACTORS: &str = "chatkit_thread_actors";
/// Writes waiting for the StoreActor.
pub const STORE_QUEUE_DEPTH: &str = "chatkit_store_queue_depth";
/// Writes per group commit.
pub const STORE_BATCH_SIZE: &str = "chatkit_store_batch_size";
/// Duration of one group commit.
pub const STORE_COMMIT_SECONDS: &str = "chatkit_store_commit_seconds";
/// Model request → first ChatKit event.
pub const MODEL_TTFT_SECONDS: &str = "chatkit_model_ttft_seconds";
/// Model request → end of its stream.
pub const MODEL_STREAM_SECONDS: &str = "chatkit_model_stream_seconds";
/// Clients cut off for not reading.
pub const SLOW_SUBSCRIBERS_DROPPED: &str = "chatkit_slow_subscribers_dropped_total";

/// Registers the help text and unit of every engine metric with the
/// installed recorder, and makes the counters and gauges exist (at zero)
/// before their first event, so dashboards and alerts see them from the
/// start. Call it once after installing a recorder (the server does);
/// recording works without it.
pub fn describe() {
    for counter in [
        counter!(TURNS_STARTED),
        counter!(TURNS_ENDED, "outcome" => "finished"),
        counter!(TURNS_ENDED, "outcome" => "failed"),
        counter!(TURNS_ENDED, "outcome" => "cancelled"),
        counter!(SLOW_SUBSCRIBERS_DROPPED),
    ] {
        counter.increment(0);
    }
    for gauge in [
        gauge!(OPEN_STREAMS),
        gauge!(THREAD_ACTORS),
        gauge!(STORE_QUEUE_DEPTH),
    ] {
        gauge.increment(0.0);
    }
    describe_gauge!(
        OPEN_STREAMS,
        "Answer streams handed to clients and not yet dropped"
    );
    describe_counter!(TURNS_STARTED, "Turns started");
    describe_counter!(
        TURNS_ENDED,
        "Turns ended, by outcome (finished, failed, cancelled)"
    );
    describe_gauge!(THREAD_ACTORS, "Live ThreadActors (threads held in memory)");
    describe_gauge!(STORE_QUEUE_DEPTH, "Writes waiting for the StoreActor");
    describe_histogram!(STORE_BATCH_SIZE, "Writes folded into one group commit");
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        Unit::Seconds,
        "Duration of one group commit, fsync included"
    );
    describe_histogram!(
        MODEL_TTFT_SECONDS,
        Unit::Seconds,
        "Model request sent to its first ChatKit event"
    );
    describe_histogram!(
        MODEL_STREAM_SECONDS,
        Unit::Seconds,
        "Model request sent to the end of its stream"
    );
    describe_counter!(
        SLOW_SUBSCRIBERS_DROPPED,
        "Clients cut off because they stopped reading their stream"
    );
}

/// How a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TurnOutcome {
    /// The answer completed.
    Finished,
    /// An `error` event ended it, or it could not start.
    Failed,
    /// Its client went away.
    Cancelled,
}

/// The provider a model call went to (a label value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    Responses,
    Chat,
}

pub(crate) fn stream_opened() {
    gauge!(OPEN_STREAMS).increment(1.0);
}

pub(crate) fn stream_closed() {
    gauge!(OPEN_STREAMS).decrement(1.0);
}

pub(crate) fn turn_started() {
    counter!(TURNS_STARTED).increment(1);
}

pub(crate) fn turn_ended(outcome: TurnOutcome) {
    match outcome {
        TurnOutcome::Finished => counter!(TURNS_ENDED, "outcome" => "finished").increment(1),
        TurnOutcome::Failed => counter!(TURNS_ENDED, "outcome" => "failed").increment(1),
        TurnOutcome::Cancelled => counter!(TURNS_ENDED, "outcome" => "cancelled").increment(1),
    }
}

pub(crate) fn thread_actor_started() {
    gauge!(THREAD_ACTORS).increment(1.0);
}

pub(crate) fn thread_actor_stopped() {
    gauge!(THREAD_ACTORS).decrement(1.0);
}

pub(crate) fn store_queued() {
    gauge!(STORE_QUEUE_DEPTH).increment(1.0);
}

pub(crate) fn store_dequeued(writes: usize) {
    gauge!(STORE_QUEUE_DEPTH).decrement(writes as f64);
}

pub(crate) fn store_committed(batch: usize, elapsed: std::time::Duration) {
    histogram!(STORE_BATCH_SIZE).record(batch as f64);
    histogram!(STORE_COMMIT_SECONDS).record(elapsed);
}

/// A model histogram, labelled with its provider.
fn model_histogram(name: &'static str, provider: Provider) -> metrics::Histogram {
    match provider {
        Provider::Responses => histogram!(name, "provider" => "responses"),
        Provider::Chat => histogram!(name, "provider" => "chat"),
    }
}

pub(crate) fn model_first_event(provider: Provider, elapsed: std::time::Duration) {
    model_histogram(MODEL_TTFT_SECONDS, provider).record(elapsed);
}

pub(crate) fn model_stream_ended(provider: Provider, elapsed: std::time::Duration) {
    model_histogram(MODEL_STREAM_SECONDS, provider).record(elapsed);
}

pub(crate) fn slow_subscriber_dropped() {
    counter!(SLOW_SUBSCRIBERS_DROPPED).increment(1);
}
