//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Instant;

/// Labels of messages dropped by the announce rate limits.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `device` (the device's own bucket) or `global`.
    pub limit: &'static str,
}

/// Labels of automation rule fires.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// `fired`, `skipped` or `failed`.
    pub outcome: &'static str,
}

/// Labels of integrity failures of stored public keys.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrityLabels {
    /// The table of the row that failed: `clients`, `negotiations` or `outbox`.
    pub table: &'static str,
}

/// Labels of API latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// `grpc` or `rest`.
    pub api: &'static str,
    /// Operation name (gRPC method, or REST route template).
    pub operation: String,
    /// `ok` or the error kind.
    pub outcome: &'static str,
}

#[derive(Clone, Debug)]
struct Buckets;

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        // 0.5 ms .. ~16 s
        Histogram::new(exponential_buckets(0.0005, 2.0, 16))
    }
}

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    /// Commands written to the outbox.
    pub commands_queued: Counter,
    /// Commands acknowledged by the broker.
    pub commands_sent: Counter,
    /// Commands given up (could not be sealed).
    pub commands_failed: Counter,
    /// Broker connection or publish failures (each one retried).
    pub publish_errors: Counter,
    /// Commands waiting in the outbox.
    pub outbox_pending: Gauge,
    /// Age of the oldest command waiting, in seconds (0 when none waits).
    pub outbox_oldest_pending_seconds: Gauge,
    /// 1 when connected to the broker.
    pub broker_connected: Gauge,
    /// Announce and Confirm messages received.
    pub negotiation_messages: Counter,
    /// Of those, refused (forged, stale, replayed, malformed, unknown
    /// device, …).
    pub negotiation_refused: Counter,
    /// Of those, dropped unread by the announce rate limits.
    pub negotiation_dropped: Family<LimitLabels, Counter>,
    /// Devices moved to a new suite.
    pub upgrades: Counter,
    /// Devices whose keys were replaced in their suite (a KEM rekey).
    pub rekeys: Counter,
    /// State reports accepted.
    pub sync_reports: Counter,
    /// Commands queued to bring reporting devices up to date.
    pub sync_commands: Counter,
    /// Devices whose last report shows a missing or old key.
    pub devices_out_of_date: Gauge,
    /// Devices that never reported (e4go, libe4, or never connected).
    pub devices_never_reported: Gauge,
    /// Automation rule fires by outcome.
    pub rule_fires: Family<RuleLabels, Counter>,
    /// Lag between a rule's due time and its fire, in seconds.
    pub rule_lag: Histogram,
    /// Stored public keys refused because their MAC did not verify, by table.
    pub integrity_failures: Family<IntegrityLabels, Counter>,
    api_latency: Family<ApiLabels, Histogram, Buckets>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("e4c2");
        let commands_queued = Counter::default();
        let commands_sent = Counter::default();
        let commands_failed = Counter::default();
        let publish_errors = Counter::default();
        let outbox_pending = Gauge::default();
        let outbox_oldest_pending_seconds = Gauge::default();
        let broker_connected = Gauge::default();
        let negotiation_messages = Counter::default();
        let negotiation_refused = Counter::default();
        let negotiation_dropped = Family::<LimitLabels, Counter>::default();
        let upgrades = Counter::default();
        let rekeys = Counter::default();
        let sync_reports = Counter::default();
        let sync_commands = Counter::default();
        let devices_out_of_date = Gauge::default();
        let devices_never_reported = Gauge::default();
        registry.register(
            "sync_reports",
            "State reports accepted from devices",
            sync_reports.clone(),
        );
        registry.register(
            "sync_commands",
            "Commands queued to bring reporting devices up to date",
            sync_commands.clone(),
        );
        registry.register(
            "devices_out_of_date",
            "Devices whose last state report shows a missing or old key, or a topic they should not hold",
            devices_out_of_date.clone(),
        );
        registry.register(
            "devices_never_reported",
            "Devices that never sent a state report (e4go or libe4 devices, or never connected)",
            devices_never_reported.clone(),
        );
        registry.register(
            "negotiation_messages",
            "Announce and Confirm messages received",
            negotiation_messages.clone(),
        );
        registry.register(
            "negotiation_refused",
            "Messages on e4c2/announce/+ refused (forged, stale, replayed, malformed, unknown device)",
            negotiation_refused.clone(),
        );
        registry.register(
            "negotiation_dropped",
            "Messages on e4c2/announce/+ dropped unread by the announce rate limits (per device, global)",
            negotiation_dropped.clone(),
        );
        registry.register(
            "suite_upgrades",
            "Devices moved to a new suite",
            upgrades.clone(),
        );
        registry.register(
            "device_rekeys",
            "Devices whose keys were replaced in their own (KEM) suite by an Announce/Confirm exchange",
            rekeys.clone(),
        );
        let integrity_failures = Family::<IntegrityLabels, Counter>::default();
        registry.register(
            "integrity_failures",
            "Stored public keys refused because their MAC under the master key did not verify \
             (changed outside C2, or damaged), by table; nothing was sealed to them",
            integrity_failures.clone(),
        );
        let api_latency = Family::new_with_constructor(Buckets);
        let rule_fires = Family::<RuleLabels, Counter>::default();
        let rule_lag = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        registry.register(
            "rule_fires",
            "Automation rule fires by outcome (fired, skipped, failed)",
            rule_fires.clone(),
        );
        registry.register(
            "rule_lag_seconds",
            "Lag between an automation rule's due time and its fire",
            rule_lag.clone(),
        );
        registry.register(
            "commands_queued",
            "Commands written to the outbox",
            commands_queued.clone(),
        );
        registry.register(
            "commands_sent",
            "Commands acknowledged by the broker (QoS 2 PUBCOMP)",
            commands_sent.clone(),
        );
        registry.register(
            "commands_failed",
            "Commands given up because they could not be sealed",
            commands_failed.clone(),
        );
        registry.register(
            "publish_errors",
            "Broker connection or publish failures (retried with backoff)",
            publish_errors.clone(),
        );
        registry.register(
            "outbox_pending",
            "Commands waiting in the outbox",
            outbox_pending.clone(),
        );
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest command waiting in the outbox (0 when none waits); \
             it grows while the publisher is connected but cannot deliver",
            outbox_oldest_pending_seconds.clone(),
        );
        registry.register(
            "broker_connected",
            "1 while connected to the MQTT broker",
            broker_connected.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "API request latency by API, operation and outcome",
            api_latency.clone(),
        );
        Metrics {
            registry,
            commands_queued,
            commands_sent,
            commands_failed,
            publish_errors,
            outbox_pending,
            broker_connected,
            outbox_oldest_pending_seconds,
            negotiation_messages,
            negotiation_refused,
            negotiation_dropped,
            upgrades,
            rekeys,
            sync_reports,
            sync_commands,
            devices_out_of_date,
            devices_never_reported,
            rule_fires,
            rule_lag,
            integrity_failures,
            api_latency,
        }
    }

    /// Count a message dropped by the announce rate limit `limit`.
    pub fn dropped(&self, limit: &'static str) {
        self.negotiation_dropped
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// Messages dropped by the announce rate limits, all limits together.
    pub fn dropped_total(&self) -> u64 {
        ["device", "global"]
            .iter()
            .map(|l| {
                self.negotiation_dropped
                    .get_or_create(&LimitLabels { limit: l })
                    .get()
            })
            .sum()
    }

    /// Count a rule fire with `outcome` (fired, skipped, failed).
    pub fn rule_fire(&self, outcome: &'static str) {
        self.rule_fires.get_or_create(&RuleLabels { outcome }).inc();
    }

    /// Count a stored public key of `table` that failed its integrity check.
    pub fn integrity_failure(&self, table: &'static str) {
        self.integrity_failures
            .get_or_create(&IntegrityLabels { table })
            .inc();
    }

    /// Record one API call.
    pub fn observe(
        &self,
        api: &'static str,
        operation: &str,
        outcome: &'static str,
        start: Instant,
    ) {
        self.api_latency
            .get_or_create(&ApiLabels {
                api,
                operation: operation.to_string(),
                outcome,
            })
            .observe(start.elapsed().as_secs_f64());
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &self.registry)
            .expect("writing to a String");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_latency() {
        let m = Metrics::new();
        m.commands_queued.inc_by(3);
        m.observe("grpc", "NewClient", "ok", Instant::now());
        let text = m.render();
        assert!(text.contains("e4c2_commands_queued_total 3"));
        m.dropped("device");
        m.dropped("device");
        m.dropped("global");
        assert_eq!(m.dropped_total(), 3);
        let text = m.render();
        assert!(
            text.contains("e4c2_negotiation_dropped_total{limit=\"device\"} 2"),
            "{text}"
        );
        m.integrity_failure("outbox");
        assert!(m
            .render()
            .contains("e4c2_integrity_failures_total{table=\"outbox\"} 1"));
        assert!(text.contains("e4c2_api_request_duration_seconds_count{api=\"grpc\",operation=\"NewClient\",outcome=\"ok\"} 1"));
    }
}
