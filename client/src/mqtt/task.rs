//! The connection task: drives rumqttc's event loop, applies what arrives,
//! reconnects.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use e4_proto::Clock;
use rumqttc::{
    AsyncClient, ConnectionError, Event as Raw, EventLoop, Outgoing, Packet, Publish, QoS, Request,
    Subscribe, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{lock, Event, NegotiationEvent, Shared};
use crate::client::{CommandInfo, Unprotected};
use crate::negotiation::{self, Negotiated, NegotiationStatus};

pub(super) async fn run<C: Clock + Clone + Send + 'static>(
    mut el: EventLoop,
    shared: Arc<Shared<C>>,
    tx: mpsc::Sender<Event>,
    min_delay: Duration,
    max_delay: Duration,
) {
    let mut delay = min_delay;
    let mut connected = false;
    let mut outage_reported = false;
    let mut unacked: Vec<Publish> = Vec::new();
    loop {
        let polled = el.poll().await;
        let stopping = shared.stopping.load(Ordering::SeqCst);
        let mut lost = false;
        let events = match polled {
            Ok(Raw::Incoming(Packet::ConnAck(ack))) => {
                connected = true;
                outage_reported = false;
                delay = min_delay;
                resume(&mut el, &shared, &mut unacked, ack.session_present);
                if !ack.session_present {
                    shared.signal_negotiation(|s| s.new_session = true);
                }
                vec![Event::Connected]
            }
            Ok(Raw::Incoming(Packet::Publish(p))) => on_publish(&shared, p),
            Ok(Raw::Incoming(Packet::SubAck(ack))) => {
                let filters = lock(&shared.subs).sent.remove(&ack.pkid);
                let control = filters.as_ref().is_some_and(|f| {
                    f.first() == Some(&shared.control_topic)
                        && matches!(
                            ack.return_codes.first(),
                            Some(SubscribeReasonCode::Success(_))
                        )
                });
                if control {
                    // A new session with the control topic: negotiate, and
                    // report the state once what the broker queued arrived.
                    shared.signal_negotiation(|s| {
                        s.ready = true;
                        s.kick = true;
                    });
                    shared.schedule_report();
                }
                filters.map_or_else(Vec::new, |f| suback_events(f, &ack.return_codes))
            }
            Ok(Raw::Outgoing(Outgoing::Subscribe(pkid))) => {
                let mut subs = lock(&shared.subs);
                if let Some(filters) = subs.queued.pop_front() {
                    subs.sent.insert(pkid, filters);
                }
                Vec::new()
            }
            Ok(Raw::Outgoing(Outgoing::Disconnect)) if stopping => break,
            Ok(_) => Vec::new(),
            Err(ConnectionError::RequestsDone) => break,
            Err(_) if stopping => break,
            Err(e) => {
                lost = true;
                shared.signal_negotiation(|s| s.ready = false);
                keep_unacked(&mut el, &mut unacked);
                {
                    let mut subs = lock(&shared.subs);
                    subs.queued.clear();
                    subs.sent.clear();
                }
                let report = connected || !outage_reported;
                connected = false;
                outage_reported = true;
                let reason = e.to_string();
                report
                    .then_some(Event::Disconnected { reason })
                    .into_iter()
                    .collect()
            }
        };
        for event in events {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        if lost {
            // rumqttc retries at once: wait, longer after each failure.
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(max_delay);
        }
    }
}

/// The events of a SUBACK for `filters`: granted and refused filters.
fn suback_events(filters: Vec<String>, codes: &[SubscribeReasonCode]) -> Vec<Event> {
    let (ok, refused) = split_suback(filters, codes);
    let mut events = Vec::new();
    if !refused.is_empty() {
        events.push(Event::SubscriptionRefused { filters: refused });
    }
    if !ok.is_empty() {
        events.push(Event::Subscribed { filters: ok });
    }
    events
}

/// The filters the broker granted, and those it refused.
fn split_suback(filters: Vec<String>, codes: &[SubscribeReasonCode]) -> (Vec<String>, Vec<String>) {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for (i, f) in filters.into_iter().enumerate() {
        match codes.get(i) {
            Some(SubscribeReasonCode::Success(_)) => ok.push(f),
            _ => refused.push(f),
        }
    }
    (ok, refused)
}

/// After a lost connection rumqttc holds, in `pending`, the publishes the
/// broker had not acknowledged (and their PUBRELs) and the requests not yet
/// sent. If the broker resumes the session, rumqttc sends them again with
/// their packet ids (no duplicates); if the session is new, rumqttc drops
/// them. Keep a copy of the publishes for that case.
fn keep_unacked(el: &mut EventLoop, unacked: &mut Vec<Publish>) {
    unacked.clear();
    for request in &el.pending {
        if let Request::Publish(p) = request {
            let mut p = p.clone();
            p.pkid = 0;
            p.dup = false;
            unacked.push(p);
        }
    }
}

/// On a connection: subscribe again (control topic with QoS 2; harmless
/// when the session kept the subscriptions) ahead of anything else; on a
/// new session, re-send what was not acknowledged.
fn resume<C: Clock + Clone>(
    el: &mut EventLoop,
    shared: &Shared<C>,
    unacked: &mut Vec<Publish>,
    session_present: bool,
) {
    let mut names = vec![shared.control_topic.clone()];
    let mut filters = vec![SubscribeFilter::new(
        shared.control_topic.clone(),
        QoS::ExactlyOnce,
    )];
    {
        let mut subs = lock(&shared.subs);
        for f in &subs.filters {
            names.push(f.clone());
            filters.push(SubscribeFilter::new(f.clone(), shared.qos));
        }
        subs.queued.clear();
        subs.sent.clear();
        subs.queued.push_back(names);
    }
    el.pending
        .push_front(Request::Subscribe(Subscribe::new_many(filters)));
    if session_present {
        // rumqttc retransmits them itself.
        unacked.clear();
    } else {
        el.pending.extend(unacked.drain(..).map(Request::Publish));
    }
}

fn on_publish<C: Clock + Clone>(shared: &Shared<C>, p: Publish) -> Vec<Event> {
    let topic = p.topic;
    let mut client = lock(&shared.client);
    let protected = client.is_control_topic(&topic) || client.has_topic_key(&topic);
    if !protected {
        if lock(&shared.policy).allows_cleartext(&topic) {
            return vec![Event::Message {
                topic,
                payload: p.payload.to_vec(),
                protected: false,
            }];
        }
        return vec![Event::Rejected {
            topic,
            error: e4_proto::Error::TopicKeyNotFound.into(),
        }];
    }
    let result = client.unprotect(&p.payload, &topic);
    let confirm = client.take_confirm();
    drop(client);
    match result {
        Ok(Unprotected::Message(payload)) => vec![Event::Message {
            topic,
            payload,
            protected: true,
        }],
        Ok(Unprotected::Command(info)) => command_events(shared, info, confirm),
        Err(error) => vec![Event::Rejected { topic, error }],
    }
}

/// The events of an applied command, and the negotiation work it causes.
fn command_events<C: Clock + Clone>(
    shared: &Shared<C>,
    info: CommandInfo,
    confirm: Option<negotiation::Publish>,
) -> Vec<Event> {
    shared.schedule_report();
    match info.negotiation {
        None => vec![Event::Command(info)],
        Some(Negotiated::Accepted { suite }) => {
            // Persisted already: the negotiation task publishes the Confirm.
            shared.signal_negotiation(|s| {
                s.outbox.extend(confirm);
                s.kick = true;
                s.reset = true;
            });
            vec![
                Event::Negotiation(NegotiationEvent::Accepted { suite }),
                Event::Command(info),
            ]
        }
        Some(n @ (Negotiated::AnnounceRequested | Negotiated::RekeyRequested)) => {
            shared.signal_negotiation(|s| {
                s.kick = true;
                s.reset = true;
                s.upgraded = false;
            });
            let event = if n == Negotiated::RekeyRequested {
                NegotiationEvent::RekeyRequested
            } else {
                NegotiationEvent::AnnounceRequested
            };
            vec![Event::Negotiation(event), Event::Command(info)]
        }
        Some(Negotiated::TopicFormat { topic, format }) => vec![
            Event::Negotiation(NegotiationEvent::TopicFormat { topic, format }),
            Event::Command(info),
        ],
        Some(Negotiated::Upgraded { from, to }) => {
            // Something may still be offered above the new suite (C2
            // knows the device negotiates: nothing to say otherwise).
            shared.signal_negotiation(|s| {
                s.kick = true;
                s.reset = true;
                s.upgraded = true;
            });
            vec![
                Event::Negotiation(NegotiationEvent::Upgraded { from, to }),
                Event::Command(info),
            ]
        }
    }
}

/// The negotiation task: publishes Announces and Confirms (see the module
/// documentation), retrying with a doubling delay, and the state reports
/// when they are due.
pub(super) async fn negotiate<C: Clock + Clone + Send + 'static>(
    shared: Arc<Shared<C>>,
    mqtt: AsyncClient,
    tx: mpsc::Sender<Event>,
    min_delay: Duration,
    max_delay: Duration,
) {
    let mut delay = min_delay;
    let mut deadline: Option<Instant> = None;
    loop {
        let report_at = {
            let s = lock(&shared.negotiation);
            s.report_at.filter(|_| s.ready)
        };
        match [deadline, report_at].into_iter().flatten().min() {
            Some(d) => {
                tokio::select! {
                    _ = shared.negotiation_wake.notified() => {}
                    _ = tokio::time::sleep_until(d) => {}
                }
            }
            None => shared.negotiation_wake.notified().await,
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let (ready, kick, outbox, upgraded) = {
            let mut s = lock(&shared.negotiation);
            if std::mem::take(&mut s.reset) {
                delay = min_delay;
            }
            (
                s.ready,
                std::mem::take(&mut s.kick),
                std::mem::take(&mut s.outbox),
                std::mem::take(&mut s.upgraded),
            )
        };
        let due = deadline.is_some_and(|d| Instant::now() >= d);
        let mut events = Vec::new();
        if !outbox.is_empty() {
            for (topic, bytes) in outbox {
                if mqtt
                    .publish(topic, QoS::AtLeastOnce, false, bytes)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            deadline = Some(Instant::now() + delay);
        } else if !ready {
            // The next session's subscription kicks us again.
            deadline = None;
        } else if kick || due {
            let step = {
                let mut client = lock(&shared.client);
                match client.negotiation_status() {
                    NegotiationStatus::Accepted(suite) => Some(
                        client
                            .confirm_retry()
                            .map(|p| (p, NegotiationEvent::ConfirmResent { suite })),
                    ),
                    _ if upgraded && client.offered().is_empty() => None,
                    _ => {
                        let offered = client.offered();
                        client
                            .announce()
                            .transpose()
                            .map(|r| r.map(|p| (p, NegotiationEvent::Announced { offered })))
                    }
                }
            };
            match step {
                None => {
                    // Nothing to offer: idle until kicked.
                    deadline = None;
                    delay = min_delay;
                }
                Some(Ok(((topic, bytes), event))) => {
                    if mqtt
                        .publish(topic, QoS::AtLeastOnce, false, bytes)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let retry = !matches!(&event, NegotiationEvent::Announced { offered } if offered.is_empty());
                    events.push(Event::Negotiation(event));
                    if retry {
                        deadline = Some(Instant::now() + delay);
                        delay = (delay * 2).min(max_delay.max(min_delay));
                    } else {
                        // Nothing offered, so no answer to wait for: announce
                        // again on the next session or request.
                        deadline = None;
                        delay = min_delay;
                    }
                }
                Some(Err(error)) => {
                    events.push(Event::Negotiation(NegotiationEvent::Failed { error }));
                    deadline = Some(Instant::now() + delay);
                    delay = (delay * 2).min(max_delay.max(min_delay));
                }
            }
        }
        if ready {
            match report(&shared, &mqtt).await {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(()) => return,
            }
        }
        for e in events {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// Send the state report if one is due. Err when the connection is gone
/// for good.
async fn report<C: Clock + Clone>(
    shared: &Shared<C>,
    mqtt: &AsyncClient,
) -> Result<Option<Event>, ()> {
    let Some(reports) = shared.reports else {
        return Ok(None);
    };
    let now = Instant::now();
    let Some(due) = lock(&shared.negotiation).report_at.filter(|t| *t <= now) else {
        return Ok(None);
    };
    let new_session = lock(&shared.negotiation).new_session;
    let made = lock(&shared.client).sync_report(new_session);
    let (next, event) = match made {
        Ok(Some((topic, bytes))) => {
            let topics = lock(&shared.client).topics().len();
            mqtt.publish(topic, QoS::AtLeastOnce, false, bytes)
                .await
                .map_err(|_| ())?;
            let next = (!reports.interval.is_zero()).then(|| now + reports.interval);
            (next, Some(Event::StateReported { topics }))
        }
        // Within the second of the previous report, or mid-upgrade.
        Ok(None) => (Some(now + Duration::from_secs(1)), None),
        Err(error) => (
            Some(now + reports.delay.max(Duration::from_secs(5))),
            Some(Event::Negotiation(NegotiationEvent::Failed { error })),
        ),
    };
    let mut s = lock(&shared.negotiation);
    if matches!(event, Some(Event::StateReported { .. })) && new_session {
        s.new_session = false;
    }
    // Unless a command rescheduled it meanwhile.
    if s.report_at == Some(due) {
        s.report_at = next;
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suback_codes_split_granted_and_refused_filters() {
        let codes = [
            SubscribeReasonCode::Success(QoS::ExactlyOnce),
            SubscribeReasonCode::Failure,
            SubscribeReasonCode::Success(QoS::AtMostOnce),
        ];
        let filters = vec![
            "a".to_owned(),
            "b".to_owned(),
            "c".to_owned(),
            "d".to_owned(),
        ];
        let (ok, refused) = split_suback(filters, &codes);
        assert_eq!(ok, ["a", "c"]);
        assert_eq!(refused, ["b", "d"]);
    }

    #[test]
    fn unacked_publishes_are_kept_and_renumbered() {
        let opts = rumqttc::MqttOptions::new("t", "127.0.0.1", 1);
        let (_c, mut el) = rumqttc::AsyncClient::new(opts, 4);
        let mut p = Publish::new("a", QoS::AtLeastOnce, vec![1]);
        p.pkid = 7;
        p.dup = true;
        el.pending.push_back(Request::Publish(p));
        el.pending
            .push_back(Request::Subscribe(Subscribe::new("x", QoS::AtMostOnce)));
        let mut kept = Vec::new();
        keep_unacked(&mut el, &mut kept);
        // rumqttc keeps its own, to retransmit them if the session resumes.
        assert_eq!(el.pending.len(), 2);
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (kept[0].pkid, kept[0].dup, kept[0].topic.as_str()),
            (0, false, "a")
        );
        // A second failure before any connection keeps one copy, not two.
        keep_unacked(&mut el, &mut kept);
        assert_eq!(kept.len(), 1);
    }
}
