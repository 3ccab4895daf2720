//! Events for event and count triggers. Each is written in the transaction
//! of the change it reports (a client joining or leaving a topic, removed,
//! upgraded, flagged below the minimum), so none is lost to a crash between
//! the change and the rule; the engine consumes it in the transaction that
//! fires the rules it triggers, so none fires twice.

use super::rule::EventTrigger;
use crate::db::clients::ClientRow;
use crate::db::{now_ms, rules};
use crate::error::C2Result;
use sqlx::AnyConnection;

/// Record an event about `client` and `topics` (within the caller's
/// transaction).
pub async fn record(
    conn: &mut AnyConnection,
    kind: EventTrigger,
    client: Option<&ClientRow>,
    topics: &[String],
) -> C2Result<()> {
    rules::insert_event(
        conn,
        kind.name(),
        client.map(|c| (&c.id.0[..], c.name.as_str(), c.suite.name())),
        topics,
        now_ms(),
    )
    .await
}
