//! gRPC (tonic) mapping of the service. Every method but HealthCheck checks
//! the bearer token first.

use crate::api::outcome;
use crate::api::rest::tri_state;
use crate::auth::Verifier;
use crate::automation::ops::{FireResult, NewRule};
use crate::db::rules::{FiringRow, RuleRow};
use crate::error::{C2Error, C2Result};
use crate::metrics::Metrics;
use crate::model::{self, ClientRef, NewClient, Page};
use crate::negotiation::{parse_suite_name, parse_suite_set, PolicyView};
use crate::service::Service;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

/// Generated protobuf and tonic code.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("e4c2.v1");
}

use pb::c2_server::{C2Server, C2};

/// The gRPC service.
pub struct GrpcApi {
    svc: Arc<Service>,
    verifier: Verifier,
    metrics: Arc<Metrics>,
}

impl GrpcApi {
    /// Wrap the service.
    pub fn new(svc: Arc<Service>, verifier: Verifier) -> GrpcApi {
        let metrics = svc.metrics.clone();
        GrpcApi {
            svc,
            verifier,
            metrics,
        }
    }

    /// The tonic server.
    pub fn into_server(self) -> C2Server<GrpcApi> {
        C2Server::new(self)
            .max_decoding_message_size(4 << 20)
            .max_encoding_message_size(4 << 20)
    }

    fn auth<T>(&self, req: &Request<T>) -> C2Result<()> {
        let h = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        self.verifier.check_header(h)
    }
}

macro_rules! op {
    ($self:ident, $req:ident, $name:literal, |$inner:ident| $body:expr) => {{
        let start = Instant::now();
        let res: C2Result<_> = async {
            $self.auth(&$req)?;
            let $inner = $req.into_inner();
            $body
        }
        .await;
        $self.metrics.observe("grpc", $name, outcome(&res), start);
        match &res {
            Err(C2Error::Unauthenticated) => {
                tracing::warn!(method = $name, "gRPC call without a valid credential")
            }
            Err(e) => tracing::debug!(method = $name, error = %e, "gRPC call refused"),
            Ok(_) => {}
        }
        res.map(Response::new).map_err(Status::from)
    }};
}

fn cref(r: Option<pb::ClientRef>) -> C2Result<ClientRef> {
    let r = r.ok_or_else(|| C2Error::invalid("a client is required"))?;
    ClientRef::from_parts(&r.name, &r.id)
}

fn client_info(c: model::ClientInfo) -> pb::ClientInfo {
    pb::ClientInfo {
        control_topic: c.id.control_topic().as_str().to_string(),
        name: c.name,
        id: c.id.0.to_vec(),
        suite: c.suite.name().to_string(),
        created_at: c.created_at,
        sig_public_key: c.sig_pk.unwrap_or_default(),
        allowed_suites: c
            .allowed_suites
            .map(|set| set.iter().map(|s| s.name().to_string()).collect())
            .unwrap_or_default(),
        has_policy_override: c.allowed_suites.is_some(),
        negotiates: c.negotiates,
        below_minimum: c.below_minimum,
        pending_suite: c
            .pending_suite
            .map(|s| s.name().to_string())
            .unwrap_or_default(),
        state: Some(pb::DeviceState {
            up_to_date: tri_state(c.state.up_to_date()).into(),
            reported_at: c.state.reported_at.unwrap_or(0),
            topics_unconfirmed: c.state.topics_unconfirmed,
            stale_topics: c.state.stale_topics,
            c2_key_current: match c.state.c2_key_current {
                None => String::new(),
                v => tri_state(v).into(),
            },
        }),
    }
}

fn mqtt_credentials(c: model::MqttCredentials) -> pb::MqttCredentials {
    pb::MqttCredentials {
        username: c.username,
        password: c.password.to_string(),
    }
}

fn topic_info(t: model::TopicInfo) -> pb::TopicInfo {
    pb::TopicInfo {
        topic: t.name,
        hash: t.hash.0.to_vec(),
        created_at: t.created_at,
        key_updated_at: t.key_updated_at,
        format: t.format.map(|f| f.name().to_string()).unwrap_or_default(),
        key_version: t.key_version,
        members_confirmed: t.members_confirmed,
    }
}

fn policy(p: &e4_proto::negotiation::Policy) -> pb::Policy {
    let v = PolicyView::of(p);
    pb::Policy {
        allowed: v.allowed,
        minimum: v.minimum,
        ranking: v.ranking,
    }
}

/// An optional suite name (empty: none).
fn opt_suite(name: &str) -> C2Result<Option<e4_proto::SuiteId>> {
    match name.trim() {
        "" => Ok(None),
        n => parse_suite_name(n).map(Some),
    }
}

fn queued(q: model::Queued) -> pb::CommandsQueued {
    pb::CommandsQueued {
        count: q.count,
        first_id: q.first_id,
        last_id: q.last_id,
    }
}

fn count(n: u64) -> pb::Count {
    pb::Count { count: n }
}

fn clients(v: Vec<model::ClientInfo>) -> pb::ClientList {
    pb::ClientList {
        clients: v.into_iter().map(client_info).collect(),
    }
}

fn topics(v: Vec<model::TopicInfo>) -> pb::TopicList {
    pb::TopicList {
        topics: v.into_iter().map(topic_info).collect(),
    }
}

/// A protobuf event.
pub fn event(e: model::Event) -> pb::Event {
    pb::Event {
        r#type: e.kind.name().to_string(),
        client: e.client.unwrap_or_default(),
        client_id: e.client_id.map(|i| i.0.to_vec()).unwrap_or_default(),
        topic: e.topic.unwrap_or_default(),
        timestamp: e.timestamp,
        rule: e.rule.unwrap_or_default(),
        detail: e.detail.unwrap_or_default(),
    }
}

fn rule(r: RuleRow) -> pb::Rule {
    pb::Rule {
        id: r.id,
        triggers: r.triggers.lines().map(str::to_string).collect(),
        name: r.name,
        target: r.target,
        action: r.action,
        missed: r.missed,
        enabled: r.enabled,
        created_at: r.created_at,
        next_fire_at: r.next_fire_at,
        last_fired_at: r.last_fired_at,
        count_progress: r.count_progress,
    }
}

fn firing(f: FiringRow) -> pb::RuleFiring {
    pb::RuleFiring {
        id: f.id,
        rule_id: f.rule_id,
        slot: f.slot,
        due_at: f.due_at,
        fired_at: f.fired_at,
        reason: f.reason,
        outcome: f.outcome,
        commands: f.commands.max(0) as u64,
        first_command: f.first_command,
        last_command: f.last_command,
        detail: f.detail,
    }
}

fn fire_result(r: FireResult) -> pb::FireResult {
    pb::FireResult {
        commands: r.commands,
        first_command: r.first_command,
        last_command: r.last_command,
        subjects: r.subjects,
        skipped: r.skipped,
        names: r.names,
        detail: r.detail,
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl C2 for GrpcApi {
    async fn new_client(
        &self,
        req: Request<pb::NewClientRequest>,
    ) -> Result<Response<pb::NewClientResponse>, Status> {
        op!(self, req, "NewClient", |r| {
            let r = self
                .svc
                .register_client(NewClient {
                    name: r.name,
                    id: Some(r.id),
                    suite: Some(r.suite),
                    key: Some(Zeroizing::new(r.key)),
                    sig_pk: Some(r.sig_public_key),
                    kem_pk: Some(r.kem_public_key),
                })
                .await?;
            Ok(pb::NewClientResponse {
                client: Some(client_info(r.info)),
                key: r.key.map(|k| k.to_vec()).unwrap_or_default(),
                mqtt: Some(mqtt_credentials(r.mqtt)),
            })
        })
    }

    async fn get_client(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::ClientInfo>, Status> {
        op!(self, req, "GetClient", |r| Ok(client_info(
            self.svc.get_client(&cref(Some(r))?).await?
        )))
    }

    async fn remove_client(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::Empty>, Status> {
        op!(self, req, "RemoveClient", |r| {
            self.svc.remove_client(&cref(Some(r))?).await?;
            Ok(pb::Empty {})
        })
    }

    async fn new_client_key(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "NewClientKey", |r| Ok(queued(
            self.svc.new_client_key(&cref(Some(r))?).await?
        )))
    }

    async fn reissue_mqtt_password(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::MqttCredentials>, Status> {
        op!(self, req, "ReissueMqttPassword", |r| Ok(mqtt_credentials(
            self.svc.reissue_mqtt_password(&cref(Some(r))?).await?
        )))
    }

    async fn reset_client(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "ResetClient", |r| Ok(queued(
            self.svc.reset_client(&cref(Some(r))?).await?
        )))
    }

    async fn resync_client(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "ResyncClient", |r| Ok(queued(
            self.svc.resync_client(&cref(Some(r))?).await?
        )))
    }

    async fn count_clients(&self, req: Request<pb::Empty>) -> Result<Response<pb::Count>, Status> {
        op!(self, req, "CountClients", |_r| Ok(count(
            self.svc.count_clients().await?
        )))
    }

    async fn list_clients(
        &self,
        req: Request<pb::Page>,
    ) -> Result<Response<pb::ClientList>, Status> {
        op!(self, req, "ListClients", |r| Ok(clients(
            self.svc.list_clients(Page::new(r.offset, r.count)?).await?
        )))
    }

    async fn new_topic(
        &self,
        req: Request<pb::NewTopicRequest>,
    ) -> Result<Response<pb::TopicInfo>, Status> {
        op!(self, req, "NewTopic", |r| Ok(topic_info(
            self.svc
                .new_topic_with_format(&r.topic, opt_suite(&r.format)?)
                .await?
        )))
    }

    async fn remove_topic(
        &self,
        req: Request<pb::TopicRef>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "RemoveTopic", |r| Ok(queued(
            self.svc.remove_topic(&r.topic).await?
        )))
    }

    async fn get_topic(
        &self,
        req: Request<pb::TopicRef>,
    ) -> Result<Response<pb::TopicInfo>, Status> {
        op!(self, req, "GetTopic", |r| Ok(topic_info(
            self.svc.get_topic(&r.topic).await?
        )))
    }

    async fn count_topics(&self, req: Request<pb::Empty>) -> Result<Response<pb::Count>, Status> {
        op!(self, req, "CountTopics", |_r| Ok(count(
            self.svc.count_topics().await?
        )))
    }

    async fn list_topics(&self, req: Request<pb::Page>) -> Result<Response<pb::TopicList>, Status> {
        op!(self, req, "ListTopics", |r| Ok(topics(
            self.svc.list_topics(Page::new(r.offset, r.count)?).await?
        )))
    }

    async fn rotate_topic_key(
        &self,
        req: Request<pb::TopicRef>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "RotateTopicKey", |r| Ok(queued(
            self.svc.rotate_topic_key(&r.topic).await?
        )))
    }

    async fn add_client_to_topic(
        &self,
        req: Request<pb::Membership>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "AddClientToTopic", |r| Ok(queued(
            self.svc
                .add_client_to_topic(&cref(r.client)?, &r.topic)
                .await?
        )))
    }

    async fn remove_client_from_topic(
        &self,
        req: Request<pb::Leave>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "RemoveClientFromTopic", |r| Ok(queued(
            self.svc
                .remove_client_from_topic(&cref(r.client)?, &r.topic, !r.keep_key)
                .await?
        )))
    }

    async fn count_topics_for_client(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::Count>, Status> {
        op!(self, req, "CountTopicsForClient", |r| Ok(count(
            self.svc.count_topics_for_client(&cref(Some(r))?).await?
        )))
    }

    async fn list_topics_for_client(
        &self,
        req: Request<pb::ClientPage>,
    ) -> Result<Response<pb::TopicList>, Status> {
        op!(self, req, "ListTopicsForClient", |r| Ok(topics(
            self.svc
                .list_topics_for_client(&cref(r.client)?, Page::new(r.offset, r.count)?)
                .await?
        )))
    }

    async fn count_clients_for_topic(
        &self,
        req: Request<pb::TopicRef>,
    ) -> Result<Response<pb::Count>, Status> {
        op!(self, req, "CountClientsForTopic", |r| Ok(count(
            self.svc.count_clients_for_topic(&r.topic).await?
        )))
    }

    async fn list_clients_for_topic(
        &self,
        req: Request<pb::TopicPage>,
    ) -> Result<Response<pb::ClientList>, Status> {
        op!(self, req, "ListClientsForTopic", |r| Ok(clients(
            self.svc
                .list_clients_for_topic(&r.topic, Page::new(r.offset, r.count)?)
                .await?
        )))
    }

    async fn link_client(
        &self,
        req: Request<pb::ClientPair>,
    ) -> Result<Response<pb::Empty>, Status> {
        op!(self, req, "LinkClient", |r| {
            self.svc
                .link_client(&cref(r.source)?, &cref(r.target)?)
                .await?;
            Ok(pb::Empty {})
        })
    }

    async fn unlink_client(
        &self,
        req: Request<pb::ClientPair>,
    ) -> Result<Response<pb::Empty>, Status> {
        op!(self, req, "UnlinkClient", |r| {
            self.svc
                .unlink_client(&cref(r.source)?, &cref(r.target)?)
                .await?;
            Ok(pb::Empty {})
        })
    }

    async fn count_linked_clients(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::Count>, Status> {
        op!(self, req, "CountLinkedClients", |r| Ok(count(
            self.svc.count_linked_clients(&cref(Some(r))?).await?
        )))
    }

    async fn list_linked_clients(
        &self,
        req: Request<pb::ClientPage>,
    ) -> Result<Response<pb::ClientList>, Status> {
        op!(self, req, "ListLinkedClients", |r| Ok(clients(
            self.svc
                .list_linked_clients(&cref(r.client)?, Page::new(r.offset, r.count)?)
                .await?
        )))
    }

    async fn send_client_pub_key(
        &self,
        req: Request<pb::ClientPair>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "SendClientPubKey", |r| Ok(queued(
            self.svc
                .send_client_pubkey(&cref(r.source)?, &cref(r.target)?)
                .await?
        )))
    }

    async fn remove_client_pub_key(
        &self,
        req: Request<pb::ClientPair>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "RemoveClientPubKey", |r| Ok(queued(
            self.svc
                .remove_client_pubkey(&cref(r.source)?, &cref(r.target)?)
                .await?
        )))
    }

    async fn reset_client_pub_keys(
        &self,
        req: Request<pb::ClientRef>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "ResetClientPubKeys", |r| Ok(queued(
            self.svc.reset_client_pubkeys(&cref(Some(r))?).await?
        )))
    }

    async fn new_c2_key(
        &self,
        req: Request<pb::NewC2KeyRequest>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "NewC2Key", |r| Ok(queued(
            self.svc.new_c2_key(Some(&r.suite)).await?
        )))
    }

    async fn protect_message(
        &self,
        req: Request<pb::ProtectRequest>,
    ) -> Result<Response<pb::ProtectResponse>, Status> {
        op!(self, req, "ProtectMessage", |r| Ok(pb::ProtectResponse {
            protected: self.svc.protect_message(&r.topic, &r.payload).await?,
        }))
    }

    async fn unprotect_message(
        &self,
        req: Request<pb::UnprotectRequest>,
    ) -> Result<Response<pb::UnprotectResponse>, Status> {
        op!(self, req, "UnprotectMessage", |r| {
            let (payload, sender) = self.svc.unprotect_message(&r.topic, &r.protected).await?;
            Ok(pb::UnprotectResponse {
                payload,
                sender_id: sender.map(|s| s.0.to_vec()).unwrap_or_default(),
            })
        })
    }

    type SubscribeToEventStreamStream = BoxStream<pb::Event>;

    async fn subscribe_to_event_stream(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<Self::SubscribeToEventStreamStream>, Status> {
        op!(self, req, "SubscribeToEventStream", |_r| {
            let rx = self.svc.events.subscribe();
            let s = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|r| match r {
                Ok(e) => Some(Ok(event(e))),
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "event stream subscriber lagged");
                    None
                }
            });
            Ok(Box::pin(s) as BoxStream<pb::Event>)
        })
    }

    type WatchCommandsStream = BoxStream<pb::CommandProgress>;

    async fn watch_commands(
        &self,
        req: Request<pb::CommandRange>,
    ) -> Result<Response<Self::WatchCommandsStream>, Status> {
        op!(self, req, "WatchCommands", |r| {
            let first = self.svc.command_progress(r.first_id, r.last_id).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let svc = self.svc.clone();
            let wait_devices = Duration::from_millis(r.wait_devices_ms.min(600_000));
            tokio::spawn(async move {
                let mut last = None;
                let mut acked_at: Option<tokio::time::Instant> = None;
                let mut p = Ok(first);
                loop {
                    let cur = match p {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = tx.send(Err(Status::from(e))).await;
                            return;
                        }
                    };
                    if last != Some(cur) {
                        let msg = pb::CommandProgress {
                            total: cur.total,
                            sent: cur.sent,
                            pending: cur.pending,
                            failed: cur.failed,
                            devices: cur.devices,
                            devices_confirmed: cur.devices_confirmed,
                        };
                        if tx.send(Ok(msg)).await.is_err() {
                            return;
                        }
                        last = Some(cur);
                    }
                    if cur.pending == 0 {
                        let since = *acked_at.get_or_insert_with(tokio::time::Instant::now);
                        if cur.devices_confirmed >= cur.devices || since.elapsed() >= wait_devices {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    p = svc.command_progress(r.first_id, r.last_id).await;
                }
            });
            Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
                as BoxStream<pb::CommandProgress>)
        })
    }

    async fn health_check(&self, _req: Request<pb::Empty>) -> Result<Response<pb::Health>, Status> {
        let start = Instant::now();
        let h = self.svc.health().await;
        self.metrics.observe("grpc", "HealthCheck", "ok", start);
        Ok(Response::new(pb::Health {
            status: h.status().into(),
            database: h.database,
            broker: h.broker,
            outbox_pending: h.outbox_pending,
            version: env!("CARGO_PKG_VERSION").into(),
            problems: h.problems(),
            delivery: h.delivery.name().into(),
            oldest_pending_seconds: h.oldest_pending_s.unwrap_or(0),
            publish_window: h.publish_window,
            broker_failures: h.broker_failures,
            devices_out_of_date: h.devices_out_of_date,
            devices_never_reported: h.devices_never_reported,
        }))
    }

    async fn get_crypto_mode(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::CryptoMode>, Status> {
        op!(self, req, "GetCryptoMode", |_r| {
            let suites = self.svc.crypto_mode().await?;
            Ok(pb::CryptoMode {
                suites: suites
                    .into_iter()
                    .map(|s| pb::SuiteInfo {
                        suite: s.suite.name().into(),
                        c2_public_key: s.c2_public_key,
                        c2_key_version: s.c2_key_version,
                        clients: s.clients,
                    })
                    .collect(),
                default_suite: "symmetric".into(),
            })
        })
    }

    async fn get_policy(&self, req: Request<pb::Empty>) -> Result<Response<pb::Policy>, Status> {
        op!(self, req, "GetPolicy", |_r| Ok(policy(
            &self.svc.policy().await?
        )))
    }

    async fn set_policy(&self, req: Request<pb::Policy>) -> Result<Response<pb::Policy>, Status> {
        op!(self, req, "SetPolicy", |r| {
            let view = PolicyView {
                allowed: r.allowed,
                minimum: r.minimum,
                ranking: r.ranking,
            };
            Ok(policy(&self.svc.set_policy(&view).await?))
        })
    }

    async fn set_client_policy(
        &self,
        req: Request<pb::ClientPolicy>,
    ) -> Result<Response<pb::ClientInfo>, Status> {
        op!(self, req, "SetClientPolicy", |r| {
            let client = cref(r.client)?;
            let allowed = if r.clear {
                if !r.allowed.is_empty() {
                    return Err(C2Error::invalid("give allowed suites or clear, not both"));
                }
                None
            } else {
                // An empty list pins the device: it is never moved.
                Some(parse_suite_set(&r.allowed)?)
            };
            Ok(client_info(
                self.svc.set_client_policy(&client, allowed).await?,
            ))
        })
    }

    async fn set_topic_format(
        &self,
        req: Request<pb::TopicFormat>,
    ) -> Result<Response<pb::CommandsQueued>, Status> {
        op!(self, req, "SetTopicFormat", |r| {
            let format = opt_suite(&r.format)?
                .ok_or_else(|| C2Error::invalid("a format (suite name) is required"))?;
            Ok(queued(self.svc.set_topic_format(&r.topic, format).await?))
        })
    }

    async fn add_rule(
        &self,
        req: Request<pb::NewRuleRequest>,
    ) -> Result<Response<pb::Rule>, Status> {
        op!(self, req, "AddRule", |r| {
            let missed = match r.missed.trim() {
                "" => None,
                m => Some(m.to_string()),
            };
            Ok(rule(
                self.svc
                    .add_rule(NewRule {
                        name: r.name,
                        target: r.target,
                        triggers: r.triggers,
                        action: r.action,
                        missed,
                        disabled: r.disabled,
                    })
                    .await?,
            ))
        })
    }

    async fn list_rules(&self, req: Request<pb::Empty>) -> Result<Response<pb::RuleList>, Status> {
        op!(self, req, "ListRules", |_r| Ok(pb::RuleList {
            rules: self.svc.list_rules().await?.into_iter().map(rule).collect(),
        }))
    }

    async fn get_rule(&self, req: Request<pb::RuleRef>) -> Result<Response<pb::Rule>, Status> {
        op!(self, req, "GetRule", |r| Ok(rule(
            self.svc.get_rule(&r.name).await?
        )))
    }

    async fn enable_rule(&self, req: Request<pb::RuleRef>) -> Result<Response<pb::Rule>, Status> {
        op!(self, req, "EnableRule", |r| Ok(rule(
            self.svc.set_rule_enabled(&r.name, true).await?
        )))
    }

    async fn disable_rule(&self, req: Request<pb::RuleRef>) -> Result<Response<pb::Rule>, Status> {
        op!(self, req, "DisableRule", |r| Ok(rule(
            self.svc.set_rule_enabled(&r.name, false).await?
        )))
    }

    async fn remove_rule(&self, req: Request<pb::RuleRef>) -> Result<Response<pb::Empty>, Status> {
        op!(self, req, "RemoveRule", |r| {
            self.svc.remove_rule(&r.name).await?;
            Ok(pb::Empty {})
        })
    }

    async fn fire_rule(
        &self,
        req: Request<pb::RuleRef>,
    ) -> Result<Response<pb::FireResult>, Status> {
        op!(self, req, "FireRule", |r| Ok(fire_result(
            self.svc.fire_rule(&r.name).await?
        )))
    }

    async fn dry_run_rule(
        &self,
        req: Request<pb::RuleRef>,
    ) -> Result<Response<pb::FireResult>, Status> {
        op!(self, req, "DryRunRule", |r| Ok(fire_result(
            self.svc.dry_run_rule(&r.name).await?
        )))
    }

    async fn rule_history(
        &self,
        req: Request<pb::RuleHistoryRequest>,
    ) -> Result<Response<pb::RuleFiringList>, Status> {
        op!(self, req, "RuleHistory", |r| Ok(pb::RuleFiringList {
            firings: self
                .svc
                .rule_history(&r.name, r.before, r.limit)
                .await?
                .into_iter()
                .map(firing)
                .collect(),
        }))
    }
}
