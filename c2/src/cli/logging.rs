//! Logging to stderr: text (colour only on a terminal) or JSON lines, and
//! the embedded broker's normal connection life cycle kept out of the log.
//!
//! rumqttd logs at ERROR every client that leaves ("router-drop",
//! "disconnected", "connection-stop"), a connection closed before its
//! CONNECT, and a connection id "already gone" at shutdown. For C2 these
//! are normal events: they are dropped unless rumqttd's own debug logging
//! was asked for (`--log info,rumqttd=debug`).

use crate::cli::args::LogFormat;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The default filter: C2 at info, the embedded broker at warn.
pub const DEFAULT_FILTER: &str = "info,rumqttd=warn";

/// Messages of rumqttd's ERROR events that describe a normal disconnect.
const BROKER_NOISE: &[&str] = &[
    "router-drop",
    "disconnected",
    "connection-stop",
    "Error while handling MQTT connect packet",
    "no-connection id",
];

/// Drops rumqttd's ERROR events about normal disconnects.
struct BrokerNoise {
    /// rumqttd's debug events are wanted: keep everything.
    verbose: bool,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Whether an event is one of rumqttd's normal-disconnect errors.
fn is_broker_noise(meta: &Metadata<'_>, event: &Event<'_>) -> bool {
    if *meta.level() != Level::ERROR || !meta.target().starts_with("rumqttd") {
        return false;
    }
    let mut m = Message::default();
    event.record(&mut m);
    BROKER_NOISE.iter().any(|n| m.0.starts_with(n))
}

impl<S> Filter<S> for BrokerNoise {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }
    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        self.verbose || !is_broker_noise(event.metadata(), event)
    }
}

/// Set up logging (stderr) with a tracing filter such as [`DEFAULT_FILTER`].
pub fn init_logging(format: LogFormat, filter: &str) {
    let env = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let verbose = filter
        .split(',')
        .any(|d| d.starts_with("rumqttd=debug") || d.starts_with("rumqttd=trace"));
    let noise = BrokerNoise { verbose };
    // Colour only on a terminal: no escape codes in files and journals.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let layer = match format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_filter(env)
            .with_filter(noise)
            .boxed(),
        LogFormat::Text => fmt.with_filter(env).with_filter(noise).boxed(),
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn normal_broker_disconnects_are_dropped_and_real_errors_kept() {
        let buf = Buf::default();
        let w = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_filter(EnvFilter::new(DEFAULT_FILTER))
            .with_filter(BrokerNoise { verbose: false });
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            tracing::error!(target: "rumqttd::server::broker", error = "Disconnected", "router-drop");
            tracing::error!(target: "rumqttd::router::routing", "no-connection id 3 is already gone");
            tracing::info!(target: "rumqttd::server::broker", "client connected");
            tracing::error!(target: "rumqttd::server::broker", "Server error - V4");
            tracing::info!(target: "e4_c2", "topic added");
            tracing::error!(target: "e4_c2", "disconnected");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("router-drop"), "{out}");
        assert!(!out.contains("already gone"), "{out}");
        assert!(
            !out.contains("client connected"),
            "info of rumqttd is below warn: {out}"
        );
        assert!(out.contains("Server error - V4"), "{out}");
        assert!(out.contains("topic added"), "{out}");
        assert!(out.contains("ERROR e4_c2: disconnected"), "{out}");
    }
}
