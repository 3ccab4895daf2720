//! REST/JSON mapping of the service, its OpenAPI document (`/openapi.json`),
//! server-sent events, health and Prometheus metrics. Ids and keys are hex,
//! payloads base64. Errors are `{"error": kind, "message": text}` with the
//! status of [`C2Error::http_status`].

use crate::auth::Verifier;
use crate::error::{C2Error, C2Result};
use crate::metrics::Metrics;
use crate::model::{self, ClientRef, NewClient, Page};
use crate::negotiation::{parse_suite_name, parse_suite_set, PolicyView};
use crate::service::Service;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::{Stream, StreamExt};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use zeroize::Zeroizing;

/// An error as a REST response.
pub struct ApiError(pub C2Error);

impl From<C2Error> for ApiError {
    fn from(e: C2Error) -> ApiError {
        ApiError(e)
    }
}

/// Error body.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ErrorBody {
    /// invalid_argument, not_found, already_exists, failed_precondition,
    /// unauthenticated, not_authentic, negotiation_refused, unavailable,
    /// integrity_failure, internal.
    pub error: String,
    /// Human-readable detail.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.0.http_status(),
            Json(ErrorBody {
                error: self.0.kind().into(),
                message: self.0.public_message(),
            }),
        )
            .into_response();
        if matches!(self.0, C2Error::Unauthenticated) {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        }
        r
    }
}

/// A REST handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// JSON body whose rejections are typed 400 errors.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError(C2Error::invalid(json_msg(e)))),
        }
    }
}

fn json_msg(e: JsonRejection) -> String {
    format!("request body: {}", e.body_text())
}

/// Path parameters whose rejections are typed 400 errors.
pub struct P<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(P(v)),
            Err(e) => Err(ApiError(C2Error::invalid(path_msg(e)))),
        }
    }
}

fn path_msg(e: PathRejection) -> String {
    format!("path: {}", e.body_text())
}

/// Query parameters whose rejections are typed 400 errors.
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Q(v)),
            Err(e) => Err(ApiError(C2Error::invalid(query_msg(e)))),
        }
    }
}

fn query_msg(e: QueryRejection) -> String {
    format!("query: {}", e.body_text())
}

fn unhex(field: &str, v: &Option<String>) -> C2Result<Option<Vec<u8>>> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => hex::decode(s)
            .map(Some)
            .map_err(|_| C2Error::invalid(format!("{field} is not hex"))),
    }
}

fn unb64(field: &str, v: &str) -> C2Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|_| C2Error::invalid(format!("{field} is not base64")))
}

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(v)
}

// ---- JSON shapes --------------------------------------------------------

/// A client.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct ClientJson {
    /// Name.
    pub name: String,
    /// Id (32 hex digits).
    pub id: String,
    /// symmetric, pubkey, pq, pq-draft or hybrid.
    pub suite: String,
    /// `e4/<id>`.
    pub control_topic: String,
    /// Unix ms.
    pub created_at: i64,
    /// Signature public key (hex), for pubkey and pq clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig_public_key: Option<String>,
    /// The device's own allowed suites (an override of the fleet policy's);
    /// null: the fleet policy applies.
    #[serde(default)]
    pub allowed_suites: Option<Vec<String>>,
    /// The device has announced itself (it runs e4-rs and negotiates).
    #[serde(default)]
    pub negotiates: bool,
    /// It runs a suite below the policy's minimum and offered nothing
    /// acceptable.
    #[serde(default)]
    pub below_minimum: bool,
    /// Suite of an upgrade awaiting the device's Confirm; null if none.
    #[serde(default)]
    pub pending_suite: Option<String>,
    /// What the device reported holding.
    pub delivery: DeliveryJson,
}

/// What a device reported holding (state reports).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct DeliveryJson {
    /// "yes" (it holds every current key and nothing it should not), "no",
    /// or "unknown" (it never reported: an e4go or libe4 device, or one not
    /// connected yet).
    pub up_to_date: String,
    /// When its last report was accepted (unix ms); null: never.
    pub reported_at: Option<i64>,
    /// Its topics whose current key it did not confirm.
    pub topics_unconfirmed: u64,
    /// Topics it holds without being a member.
    pub stale_topics: u64,
    /// Whether it holds C2's current key; null when its suite has none or
    /// it never reported.
    pub c2_key_current: Option<bool>,
}

/// "yes", "no" or "unknown".
pub fn tri_state(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn delivery_json(s: &model::DeviceState) -> DeliveryJson {
    DeliveryJson {
        up_to_date: tri_state(s.up_to_date()).into(),
        reported_at: s.reported_at,
        topics_unconfirmed: s.topics_unconfirmed,
        stale_topics: s.stale_topics,
        c2_key_current: s.c2_key_current,
    }
}

fn client_json(c: model::ClientInfo) -> ClientJson {
    ClientJson {
        control_topic: c.id.control_topic().as_str().to_string(),
        name: c.name,
        id: hex::encode(c.id.0),
        suite: c.suite.name().into(),
        created_at: c.created_at,
        sig_public_key: c.sig_pk.map(hex::encode),
        allowed_suites: c
            .allowed_suites
            .map(|set| set.iter().map(|s| s.name().to_string()).collect()),
        negotiates: c.negotiates,
        below_minimum: c.below_minimum,
        pending_suite: c.pending_suite.map(|s| s.name().to_string()),
        delivery: delivery_json(&c.state),
    }
}

/// A request to register a client. Its Debug prints no key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    /// Name (unique).
    pub name: String,
    /// Explicit id (32 hex digits); default: SHA3-256(name)[..16].
    #[serde(default)]
    pub id: Option<String>,
    /// symmetric (default), pubkey, pq, pq-draft, hybrid.
    #[serde(default)]
    pub suite: Option<String>,
    /// Symmetric key (64 hex digits); generated and returned once if absent.
    #[serde(default)]
    pub key: Option<String>,
    /// pubkey: Ed25519 public key; pq, pq-draft, hybrid: signature public
    /// key (hex).
    #[serde(default)]
    pub sig_public_key: Option<String>,
    /// pq, pq-draft, hybrid: KEM public key (hex).
    #[serde(default)]
    pub kem_public_key: Option<String>,
}

/// A registered client, with its key when C2 generated it. Its Debug
/// prints no key.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct NewClientReply {
    /// The client.
    pub client: ClientJson,
    /// Generated symmetric key (hex); shown only once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The device's broker credentials; shown only once.
    pub mqtt: MqttCredentialsJson,
}

/// Broker credentials (the user name is the device id in hex). Its Debug
/// prints no password.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MqttCredentialsJson {
    /// MQTT user name.
    pub username: String,
    /// MQTT password.
    pub password: String,
}

impl std::fmt::Debug for MqttCredentialsJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MqttCredentialsJson({}, <redacted>)", self.username)
    }
}

fn mqtt_json(c: model::MqttCredentials) -> MqttCredentialsJson {
    MqttCredentialsJson {
        username: c.username,
        password: c.password.to_string(),
    }
}

impl std::fmt::Debug for NewClientBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClientBody")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("suite", &self.suite)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("sig_public_key", &self.sig_public_key)
            .field("kem_public_key", &self.kem_public_key)
            .finish()
    }
}

impl std::fmt::Debug for NewClientReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClientReply")
            .field("client", &self.client)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("mqtt", &self.mqtt)
            .finish()
    }
}

/// A page of clients.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ClientsJson {
    /// Total number (all pages).
    pub total: u64,
    /// This page.
    pub clients: Vec<ClientJson>,
}

/// A topic.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct TopicJson {
    /// Name.
    pub topic: String,
    /// E4 topic hash (hex).
    pub hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last key change.
    pub key_updated_at: i64,
    /// Message format (a suite name); null until fixed (given at creation,
    /// else by the first member's suite).
    #[serde(default)]
    pub format: Option<String>,
    /// Key version (1, then one more per rotation).
    pub key_version: i64,
    /// Members that confirmed holding the current key (one topic only;
    /// null in listings).
    #[serde(default)]
    pub members_confirmed: Option<u64>,
}

fn topic_json(t: model::TopicInfo) -> TopicJson {
    TopicJson {
        topic: t.name,
        hash: hex::encode(t.hash.0),
        created_at: t.created_at,
        key_updated_at: t.key_updated_at,
        format: t.format.map(|f| f.name().to_string()),
        key_version: t.key_version,
        members_confirmed: t.members_confirmed,
    }
}

/// A page of topics.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct TopicsJson {
    /// Total number (all pages).
    pub total: u64,
    /// This page.
    pub topics: Vec<TopicJson>,
}

/// A topic to create.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct TopicBody {
    /// Topic.
    pub topic: String,
    /// Message format (a suite name: symmetric, pubkey, pq, pq-draft,
    /// hybrid); absent: fixed by the first member's suite.
    #[serde(default)]
    pub format: Option<String>,
}

/// A fleet policy to store (suite names: symmetric, pubkey, pq, pq-draft,
/// hybrid).
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Suites C2 may move devices to.
    pub allowed: Vec<String>,
    /// The weakest suite acceptable as a device's running suite.
    pub minimum: String,
    /// Every suite exactly once, weakest first.
    pub ranking: Vec<String>,
}

/// A device's own allowed suites.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClientPolicyBody {
    /// The suites this device may be moved to (replacing the fleet
    /// policy's list for it; `[]` pins it to its suite); null removes the
    /// override. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>, required = true)]
    pub allowed: Option<Option<Vec<String>>>,
}

/// A topic's new message format.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct TopicFormatBody {
    /// A suite name.
    pub format: String,
}

/// A field that is present (possibly null), as opposed to missing.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// An optional suite name (absent or empty: none).
fn opt_suite(name: Option<&str>) -> C2Result<Option<e4_proto::SuiteId>> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => parse_suite_name(n).map(Some),
    }
}

/// Commands queued by a call (outbox ids first_id..=last_id).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, Copy)]
pub struct QueuedJson {
    /// How many.
    pub count: u64,
    /// First id.
    pub first_id: i64,
    /// Last id.
    pub last_id: i64,
}

fn queued(q: model::Queued) -> Json<QueuedJson> {
    Json(QueuedJson {
        count: q.count,
        first_id: q.first_id,
        last_id: q.last_id,
    })
}

/// Paging.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows to skip (default 0).
    pub offset: Option<u64>,
    /// Rows (1..=1000, default 100).
    pub count: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> C2Result<Page> {
        Page::new(self.offset.unwrap_or(0), self.count.unwrap_or(0))
    }
}

/// Which suite's C2 key to replace.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct C2KeyBody {
    /// pubkey, pq, pq-draft or hybrid; absent: all of them.
    #[serde(default)]
    pub suite: Option<String>,
}

/// A payload to protect.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct ProtectBody {
    /// Topic.
    pub topic: String,
    /// Payload (base64).
    pub payload: String,
}

/// A protected message.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ProtectReply {
    /// Protected message (base64).
    pub protected: String,
}

/// A message to unprotect.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct UnprotectBody {
    /// Topic.
    pub topic: String,
    /// Protected message (base64).
    pub protected: String,
}

/// An unprotected payload.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct UnprotectReply {
    /// Payload (base64).
    pub payload: String,
    /// Signer's id (hex) for signed formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

/// A range of outbox ids.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// First id.
    pub first_id: i64,
    /// Last id.
    pub last_id: i64,
}

/// Delivery progress.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ProgressJson {
    /// Commands in the range.
    pub total: u64,
    /// Acknowledged by the broker.
    pub sent: u64,
    /// Queued.
    pub pending: u64,
    /// Given up.
    pub failed: u64,
    /// Devices these commands went to.
    pub devices: u64,
    /// Of those, devices that reported holding every current key since
    /// the commands were queued (confirmed by devices).
    pub devices_confirmed: u64,
}

/// Health.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct HealthJson {
    /// ok or degraded.
    pub status: String,
    /// Why it is degraded (empty when ok).
    pub problems: Vec<String>,
    /// Database reachable.
    pub database: bool,
    /// Connected to the broker.
    pub broker: bool,
    /// Command delivery: idle, delivering, stalled (connected but nothing
    /// acknowledged lately while commands wait) or disconnected.
    pub delivery: String,
    /// Commands waiting.
    pub outbox_pending: u64,
    /// Age of the oldest command waiting, in seconds.
    pub oldest_pending_seconds: Option<u64>,
    /// Unacknowledged publishes at most.
    pub publish_window: u64,
    /// Failed broker connection attempts since the last healthy connection.
    pub broker_failures: u64,
    /// Devices whose last state report shows a missing or old key.
    pub devices_out_of_date: u64,
    /// Devices that never sent a state report.
    pub devices_never_reported: u64,
    /// Server version.
    pub version: String,
}

/// C2's key for one suite.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct SuiteJson {
    /// Suite.
    pub suite: String,
    /// C2 public key (hex; empty for symmetric).
    pub c2_public_key: String,
    /// Key version.
    pub c2_key_version: u64,
    /// Clients of the suite.
    pub clients: u64,
}

/// Suites served.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CryptoModeJson {
    /// Per suite.
    pub suites: Vec<SuiteJson>,
    /// Suite of new clients when none is given.
    pub default_suite: String,
}

// ---- handlers -----------------------------------------------------------

type Svc = State<Arc<Service>>;

fn by_name(name: String) -> ClientRef {
    ClientRef::Name(name)
}

/// Register a client.
#[utoipa::path(post, path = "/v1/clients", request_body = NewClientBody, tag = "clients",
    responses((status = 201, body = NewClientReply), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn new_client(
    State(s): Svc,
    JsonBody(b): JsonBody<NewClientBody>,
) -> ApiResult<(StatusCode, Json<NewClientReply>)> {
    let req = NewClient {
        name: b.name,
        id: unhex("id", &b.id)?,
        suite: b.suite,
        key: unhex("key", &b.key)?.map(Zeroizing::new),
        sig_pk: unhex("sig_public_key", &b.sig_public_key)?,
        kem_pk: unhex("kem_public_key", &b.kem_public_key)?,
    };
    let r = s.register_client(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewClientReply {
            client: client_json(r.info),
            key: r.key.map(|k| hex::encode(&k[..])),
            mqtt: mqtt_json(r.mqtt),
        }),
    ))
}

/// A page of clients.
#[utoipa::path(get, path = "/v1/clients", params(PageQuery), tag = "clients",
    responses((status = 200, body = ClientsJson), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn list_clients(State(s): Svc, Q(q): Q<PageQuery>) -> ApiResult<Json<ClientsJson>> {
    let page = q.page()?;
    Ok(Json(ClientsJson {
        total: s.count_clients().await?,
        clients: s
            .list_clients(page)
            .await?
            .into_iter()
            .map(client_json)
            .collect(),
    }))
}

/// A client.
#[utoipa::path(get, path = "/v1/clients/{name}", tag = "clients",
    responses((status = 200, body = ClientJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_client(State(s): Svc, P(name): P<String>) -> ApiResult<Json<ClientJson>> {
    Ok(Json(client_json(s.get_client(&by_name(name)).await?)))
}

/// Remove a client.
#[utoipa::path(delete, path = "/v1/clients/{name}", tag = "clients",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn remove_client(State(s): Svc, P(name): P<String>) -> ApiResult<StatusCode> {
    s.remove_client(&by_name(name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New client key: SetIdKey (symmetric and public-key devices), or a rekey
/// request (Renegotiate with the rekey flag) to a KEM device that announced.
#[utoipa::path(post, path = "/v1/clients/{name}/key", tag = "clients",
    responses((status = 200, body = QueuedJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn new_client_key(State(s): Svc, P(name): P<String>) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.new_client_key(&by_name(name)).await?))
}

/// A new MQTT password for a device (shown once; the old one stops working
/// at the device's next CONNECT).
#[utoipa::path(post, path = "/v1/clients/{name}/mqtt-password", tag = "clients",
    responses((status = 200, body = MqttCredentialsJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn reissue_mqtt_password(
    State(s): Svc,
    P(name): P<String>,
) -> ApiResult<Json<MqttCredentialsJson>> {
    Ok(Json(mqtt_json(
        s.reissue_mqtt_password(&by_name(name)).await?,
    )))
}

/// Reset a client (ResetTopics).
#[utoipa::path(post, path = "/v1/clients/{name}/reset", tag = "clients",
    responses((status = 200, body = QueuedJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn reset_client(State(s): Svc, P(name): P<String>) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.reset_client(&by_name(name)).await?))
}

/// Send a device its whole state again (SetTopicKey, and SetTopicFormat
/// where needed, for each of its topics), whatever it reported.
#[utoipa::path(post, path = "/v1/clients/{name}/resync", tag = "clients",
    responses((status = 200, body = QueuedJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn resync_client(State(s): Svc, P(name): P<String>) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.resync_client(&by_name(name)).await?))
}

/// A page of a client's topics.
#[utoipa::path(get, path = "/v1/clients/{name}/topics", params(PageQuery), tag = "membership",
    responses((status = 200, body = TopicsJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn topics_of_client(
    State(s): Svc,
    P(name): P<String>,
    Q(q): Q<PageQuery>,
) -> ApiResult<Json<TopicsJson>> {
    let page = q.page()?;
    let r = by_name(name);
    Ok(Json(TopicsJson {
        total: s.count_topics_for_client(&r).await?,
        topics: s
            .list_topics_for_client(&r, page)
            .await?
            .into_iter()
            .map(topic_json)
            .collect(),
    }))
}

/// Add a client to a topic (SetTopicKey). Percent-encode `/` in topics.
#[utoipa::path(put, path = "/v1/clients/{name}/topics/{topic}", tag = "membership",
    responses((status = 200, body = QueuedJson), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "already a member, or the device's suite cannot read the topic's format")), security(("bearer" = [])))]
async fn add_to_topic(
    State(s): Svc,
    P((name, topic)): P<(String, String)>,
) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.add_client_to_topic(&by_name(name), &topic).await?))
}

/// Query of a removal from a topic.
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeaveQuery {
    /// Rotate the topic key for the members left (default true): the
    /// removed device holds the old key. `false` leaves the topic readable
    /// by it until the next rotation.
    pub rotate: Option<bool>,
}

/// Remove a client from a topic (RemoveTopic) and rotate the topic's key
/// for the members left (SetTopicKey), unless `rotate=false`.
#[utoipa::path(delete, path = "/v1/clients/{name}/topics/{topic}", params(LeaveQuery), tag = "membership",
    responses((status = 200, body = QueuedJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn remove_from_topic(
    State(s): Svc,
    P((name, topic)): P<(String, String)>,
    Q(q): Q<LeaveQuery>,
) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(
        s.remove_client_from_topic(&by_name(name), &topic, q.rotate.unwrap_or(true))
            .await?,
    ))
}

/// Clients linked to a client (they hold its public key).
#[utoipa::path(get, path = "/v1/clients/{name}/links", params(PageQuery), tag = "pubkeys",
    responses((status = 200, body = ClientsJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn linked(
    State(s): Svc,
    P(name): P<String>,
    Q(q): Q<PageQuery>,
) -> ApiResult<Json<ClientsJson>> {
    let page = q.page()?;
    let r = by_name(name);
    Ok(Json(ClientsJson {
        total: s.count_linked_clients(&r).await?,
        clients: s
            .list_linked_clients(&r, page)
            .await?
            .into_iter()
            .map(client_json)
            .collect(),
    }))
}

/// Link `name` (source) to `target`.
#[utoipa::path(put, path = "/v1/clients/{name}/links/{target}", tag = "pubkeys",
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn link(State(s): Svc, P((name, target)): P<(String, String)>) -> ApiResult<StatusCode> {
    s.link_client(&by_name(name), &by_name(target)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlink.
#[utoipa::path(delete, path = "/v1/clients/{name}/links/{target}", tag = "pubkeys",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn unlink(State(s): Svc, P((name, target)): P<(String, String)>) -> ApiResult<StatusCode> {
    s.unlink_client(&by_name(name), &by_name(target)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send `source`'s public key to `name` (SetPubKey).
#[utoipa::path(put, path = "/v1/clients/{name}/pubkeys/{source}", tag = "pubkeys",
    responses((status = 200, body = QueuedJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn send_pubkey(
    State(s): Svc,
    P((name, source)): P<(String, String)>,
) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(
        s.send_client_pubkey(&by_name(source), &by_name(name))
            .await?,
    ))
}

/// Remove `source`'s public key from `name` (RemovePubKey).
#[utoipa::path(delete, path = "/v1/clients/{name}/pubkeys/{source}", tag = "pubkeys",
    responses((status = 200, body = QueuedJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn remove_pubkey(
    State(s): Svc,
    P((name, source)): P<(String, String)>,
) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(
        s.remove_client_pubkey(&by_name(source), &by_name(name))
            .await?,
    ))
}

/// Remove every public key from a client (ResetPubKeys).
#[utoipa::path(delete, path = "/v1/clients/{name}/pubkeys", tag = "pubkeys",
    responses((status = 200, body = QueuedJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn reset_pubkeys(State(s): Svc, P(name): P<String>) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.reset_client_pubkeys(&by_name(name)).await?))
}

/// Create a topic (random key), optionally with its message format.
#[utoipa::path(post, path = "/v1/topics", request_body = TopicBody, tag = "topics",
    responses((status = 201, body = TopicJson), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn new_topic(
    State(s): Svc,
    JsonBody(b): JsonBody<TopicBody>,
) -> ApiResult<(StatusCode, Json<TopicJson>)> {
    let format = opt_suite(b.format.as_deref())?;
    Ok((
        StatusCode::CREATED,
        Json(topic_json(s.new_topic_with_format(&b.topic, format).await?)),
    ))
}

/// Change a topic's message format (SetTopicFormat to members whose suite
/// differs). 409 (nothing changes) when a member cannot read the format.
#[utoipa::path(put, path = "/v1/topics/{topic}/format", request_body = TopicFormatBody, tag = "negotiation",
    responses((status = 200, body = QueuedJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn set_topic_format(
    State(s): Svc,
    P(topic): P<String>,
    JsonBody(b): JsonBody<TopicFormatBody>,
) -> ApiResult<Json<QueuedJson>> {
    let format = opt_suite(Some(&b.format))?
        .ok_or_else(|| C2Error::invalid("a format (suite name) is required"))?;
    Ok(queued(s.set_topic_format(&topic, format).await?))
}

/// The fleet's suite negotiation policy.
#[utoipa::path(get, path = "/v1/policy", tag = "negotiation",
    responses((status = 200, body = PolicyView)), security(("bearer" = [])))]
async fn get_policy(State(s): Svc) -> ApiResult<Json<PolicyView>> {
    Ok(Json(PolicyView::of(&s.policy().await?)))
}

/// Replace the fleet policy; devices are moved at their next Announce.
/// Returns the policy stored.
#[utoipa::path(put, path = "/v1/policy", request_body = PolicyBody, tag = "negotiation",
    responses((status = 200, body = PolicyView), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn set_policy(
    State(s): Svc,
    JsonBody(b): JsonBody<PolicyBody>,
) -> ApiResult<Json<PolicyView>> {
    let view = PolicyView {
        allowed: b.allowed,
        minimum: b.minimum,
        ranking: b.ranking,
    };
    Ok(Json(PolicyView::of(&s.set_policy(&view).await?)))
}

/// Set (`{"allowed": ["pq", "hybrid"]}`) or clear (`{"allowed": null}`) the
/// suites a device may be moved to.
#[utoipa::path(put, path = "/v1/clients/{name}/policy", request_body = ClientPolicyBody, tag = "negotiation",
    responses((status = 200, body = ClientJson), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn set_client_policy(
    State(s): Svc,
    P(name): P<String>,
    JsonBody(b): JsonBody<ClientPolicyBody>,
) -> ApiResult<Json<ClientJson>> {
    let allowed = match b.allowed {
        None => {
            return Err(C2Error::invalid(
                "allowed is required: a list of suites, or null to remove the override",
            )
            .into())
        }
        Some(None) => None,
        Some(Some(names)) => Some(parse_suite_set(&names)?),
    };
    Ok(Json(client_json(
        s.set_client_policy(&by_name(name), allowed).await?,
    )))
}

/// A page of topics.
#[utoipa::path(get, path = "/v1/topics", params(PageQuery), tag = "topics",
    responses((status = 200, body = TopicsJson), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn list_topics(State(s): Svc, Q(q): Q<PageQuery>) -> ApiResult<Json<TopicsJson>> {
    let page = q.page()?;
    Ok(Json(TopicsJson {
        total: s.count_topics().await?,
        topics: s
            .list_topics(page)
            .await?
            .into_iter()
            .map(topic_json)
            .collect(),
    }))
}

/// A topic.
#[utoipa::path(get, path = "/v1/topics/{topic}", tag = "topics",
    responses((status = 200, body = TopicJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_topic(State(s): Svc, P(topic): P<String>) -> ApiResult<Json<TopicJson>> {
    Ok(Json(topic_json(s.get_topic(&topic).await?)))
}

/// Remove a topic (RemoveTopic to every member).
#[utoipa::path(delete, path = "/v1/topics/{topic}", tag = "topics",
    responses((status = 200, body = QueuedJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn remove_topic(State(s): Svc, P(topic): P<String>) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.remove_topic(&topic).await?))
}

/// Rotate a topic key (SetTopicKey to every member).
#[utoipa::path(post, path = "/v1/topics/{topic}/rotate", tag = "topics",
    responses((status = 200, body = QueuedJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn rotate(State(s): Svc, P(topic): P<String>) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.rotate_topic_key(&topic).await?))
}

/// A page of a topic's members.
#[utoipa::path(get, path = "/v1/topics/{topic}/clients", params(PageQuery), tag = "membership",
    responses((status = 200, body = ClientsJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn clients_of_topic(
    State(s): Svc,
    P(topic): P<String>,
    Q(q): Q<PageQuery>,
) -> ApiResult<Json<ClientsJson>> {
    let page = q.page()?;
    Ok(Json(ClientsJson {
        total: s.count_clients_for_topic(&topic).await?,
        clients: s
            .list_clients_for_topic(&topic, page)
            .await?
            .into_iter()
            .map(client_json)
            .collect(),
    }))
}

/// New C2 key pair (SetC2Key to every client of the suite).
#[utoipa::path(post, path = "/v1/c2/key", request_body = C2KeyBody, tag = "c2",
    responses((status = 200, body = QueuedJson), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn new_c2_key(
    State(s): Svc,
    JsonBody(b): JsonBody<C2KeyBody>,
) -> ApiResult<Json<QueuedJson>> {
    Ok(queued(s.new_c2_key(b.suite.as_deref()).await?))
}

/// Suites served and C2's public keys.
#[utoipa::path(get, path = "/v1/c2/crypto-mode", tag = "c2",
    responses((status = 200, body = CryptoModeJson)), security(("bearer" = [])))]
async fn crypto_mode(State(s): Svc) -> ApiResult<Json<CryptoModeJson>> {
    let suites = s.crypto_mode().await?;
    Ok(Json(CryptoModeJson {
        suites: suites
            .into_iter()
            .map(|x| SuiteJson {
                suite: x.suite.name().into(),
                c2_public_key: hex::encode(x.c2_public_key),
                c2_key_version: x.c2_key_version,
                clients: x.clients,
            })
            .collect(),
        default_suite: "symmetric".into(),
    }))
}

/// Protect a payload with a topic key.
#[utoipa::path(post, path = "/v1/messages/protect", request_body = ProtectBody, tag = "messages",
    responses((status = 200, body = ProtectReply), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn protect(
    State(s): Svc,
    JsonBody(b): JsonBody<ProtectBody>,
) -> ApiResult<Json<ProtectReply>> {
    let payload = unb64("payload", &b.payload)?;
    Ok(Json(ProtectReply {
        protected: b64(&s.protect_message(&b.topic, &payload).await?),
    }))
}

/// Unprotect a message with a topic key.
#[utoipa::path(post, path = "/v1/messages/unprotect", request_body = UnprotectBody, tag = "messages",
    responses((status = 200, body = UnprotectReply), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn unprotect(
    State(s): Svc,
    JsonBody(b): JsonBody<UnprotectBody>,
) -> ApiResult<Json<UnprotectReply>> {
    let msg = unb64("protected", &b.protected)?;
    let (payload, sender) = s.unprotect_message(&b.topic, &msg).await?;
    Ok(Json(UnprotectReply {
        payload: b64(&payload),
        sender_id: sender.map(|i| hex::encode(i.0)),
    }))
}

/// Delivery progress of queued commands.
#[utoipa::path(get, path = "/v1/commands/progress", params(RangeQuery), tag = "c2",
    responses((status = 200, body = ProgressJson), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn progress(State(s): Svc, Q(q): Q<RangeQuery>) -> ApiResult<Json<ProgressJson>> {
    let p = s.command_progress(q.first_id, q.last_id).await?;
    Ok(Json(ProgressJson {
        total: p.total,
        sent: p.sent,
        pending: p.pending,
        failed: p.failed,
        devices: p.devices,
        devices_confirmed: p.devices_confirmed,
    }))
}

/// Server-sent events: `event:` is the kind, `data:` a JSON object
/// (`type`, `client`, `client_id`, `topic`, `timestamp`).
#[utoipa::path(get, path = "/v1/events", tag = "c2",
    responses((status = 200, description = "text/event-stream")), security(("bearer" = [])))]
async fn events(State(s): Svc) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.events.subscribe();
    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|r| {
        let e = r.ok()?;
        let data = serde_json::json!({
            "type": e.kind.name(),
            "client": e.client,
            "client_id": e.client_id.map(|i| hex::encode(i.0)),
            "topic": e.topic,
            "rule": e.rule,
            "detail": e.detail,
            "timestamp": e.timestamp,
        });
        Some(Ok(SseEvent::default()
            .event(e.kind.name())
            .data(data.to_string())))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Health (no authentication).
#[utoipa::path(get, path = "/v1/health", tag = "c2", responses((status = 200, body = HealthJson)))]
async fn health(State(s): Svc) -> Json<HealthJson> {
    let h = s.health().await;
    Json(HealthJson {
        status: h.status().into(),
        problems: h.problems(),
        database: h.database,
        broker: h.broker,
        delivery: h.delivery.name().into(),
        outbox_pending: h.outbox_pending,
        oldest_pending_seconds: h.oldest_pending_s,
        publish_window: h.publish_window,
        broker_failures: h.broker_failures,
        devices_out_of_date: h.devices_out_of_date,
        devices_never_reported: h.devices_never_reported,
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "E4 C2", description = "E4 command-and-control: key management for E4 devices. Errors: 400 invalid_argument, 401 unauthenticated, 404 not_found, 409 already_exists or failed_precondition, 422 not_authentic."),
    paths(new_client, list_clients, get_client, remove_client, new_client_key, reissue_mqtt_password, reset_client, resync_client,
          topics_of_client, add_to_topic, remove_from_topic, linked, link, unlink, send_pubkey,
          remove_pubkey, reset_pubkeys, new_topic, list_topics, get_topic, remove_topic, rotate,
          clients_of_topic, new_c2_key, crypto_mode, protect, unprotect, progress, events, health,
          get_policy, set_policy, set_client_policy, set_topic_format,
          crate::api::rest_rules::add_rule, crate::api::rest_rules::list_rules,
          crate::api::rest_rules::get_rule, crate::api::rest_rules::remove_rule,
          crate::api::rest_rules::enable_rule, crate::api::rest_rules::disable_rule,
          crate::api::rest_rules::fire_rule, crate::api::rest_rules::rule_history),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

async fn auth_mw(State(v): State<Verifier>, req: Request, next: Next) -> Response {
    let h = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match v.check_header(h) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::warn!(method = %req.method(), path = %req.uri().path(), "REST call without a valid credential");
            ApiError(e).into_response()
        }
    }
}

fn status_outcome(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200..=299 => "ok",
        400 => "invalid_argument",
        401 => "unauthenticated",
        404 => "not_found",
        409 => "already_exists",
        422 => "not_authentic",
        503 => "unavailable",
        _ if s.is_server_error() => "internal",
        _ => "other",
    }
}

async fn metrics_mw(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let op = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str())
            .unwrap_or("unmatched")
    );
    let resp = next.run(req).await;
    m.observe("rest", &op, status_outcome(resp.status()), start);
    resp
}

/// Prometheus metrics (OpenMetrics text).
async fn metrics_text(State(s): Svc) -> impl IntoResponse {
    // Refreshes the outbox gauges from the database.
    let _ = s.health().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// The router of `--metrics-listen`: `/metrics` only, without a token.
pub fn metrics_router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(svc)
}

/// The REST router.
pub fn router(svc: Arc<Service>, verifier: Verifier) -> Router {
    let metrics = svc.metrics.clone();
    let protected = Router::new()
        .route("/v1/clients", post(new_client).get(list_clients))
        .route("/v1/clients/{name}", get(get_client).delete(remove_client))
        .route("/v1/clients/{name}/key", post(new_client_key))
        .route(
            "/v1/clients/{name}/mqtt-password",
            post(reissue_mqtt_password),
        )
        .route("/v1/clients/{name}/reset", post(reset_client))
        .route("/v1/clients/{name}/resync", post(resync_client))
        .route("/v1/clients/{name}/topics", get(topics_of_client))
        .route(
            "/v1/clients/{name}/topics/{topic}",
            put(add_to_topic).delete(remove_from_topic),
        )
        .route("/v1/clients/{name}/links", get(linked))
        .route(
            "/v1/clients/{name}/links/{target}",
            put(link).delete(unlink),
        )
        .route("/v1/clients/{name}/pubkeys", delete(reset_pubkeys))
        .route(
            "/v1/clients/{name}/pubkeys/{source}",
            put(send_pubkey).delete(remove_pubkey),
        )
        .route("/v1/topics", post(new_topic).get(list_topics))
        .route("/v1/topics/{topic}", get(get_topic).delete(remove_topic))
        .route("/v1/topics/{topic}/rotate", post(rotate))
        .route("/v1/topics/{topic}/clients", get(clients_of_topic))
        .route("/v1/topics/{topic}/format", put(set_topic_format))
        .route("/v1/clients/{name}/policy", put(set_client_policy))
        .route("/v1/policy", get(get_policy).put(set_policy))
        .route("/v1/c2/key", post(new_c2_key))
        .route("/v1/c2/crypto-mode", get(crypto_mode))
        .route("/v1/messages/protect", post(protect))
        .route("/v1/messages/unprotect", post(unprotect))
        .route("/v1/commands/progress", get(progress))
        .route("/v1/events", get(events))
        .merge(crate::api::rest_rules::routes())
        // With the admin token; `--metrics-listen` serves it without one
        // on a separate listener.
        .route("/metrics", get(metrics_text))
        .route_layer(middleware::from_fn_with_state(verifier, auth_mw));
    Router::new()
        .merge(protected)
        .route("/v1/health", get(health))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route_layer(middleware::from_fn_with_state(metrics, metrics_mw))
        .with_state(svc)
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20))
}
