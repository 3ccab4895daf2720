-- E4 C2 schema. One file for SQLite and PostgreSQL: only types both accept
-- (TEXT, BIGINT, BYTEA: SQLite stores blobs as blobs whatever the declared
-- type), no auto-increment (outbox ids come from the `counters` row, which
-- also serializes command-producing transactions).

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('outbox', 0);

-- C2's own key pairs, one row per suite and version; the highest version is
-- current. Older versions stay to seal commands queued before a rotation.
CREATE TABLE c2_keys (
    suite TEXT NOT NULL,
    version BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    secret_enc BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (suite, version)
);

CREATE TABLE clients (
    id BYTEA PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    suite TEXT NOT NULL,
    -- symmetric: the client key, encrypted at rest
    key_enc BYTEA,
    -- pubkey: Ed25519 public key; pq, pq-draft: signature public key
    sig_pk BYTEA,
    -- pq, pq-draft: KEM public key
    kem_pk BYTEA,
    created_at BIGINT NOT NULL,
    key_updated_at BIGINT NOT NULL
);
CREATE INDEX clients_suite ON clients (suite, id);

CREATE TABLE topics (
    name TEXT PRIMARY KEY,
    hash BYTEA NOT NULL,
    key_enc BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    key_updated_at BIGINT NOT NULL
);

CREATE TABLE topic_members (
    topic TEXT NOT NULL REFERENCES topics (name) ON DELETE CASCADE,
    client_id BYTEA NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (topic, client_id)
);
CREATE INDEX topic_members_client ON topic_members (client_id, topic);

-- source -> target: target holds source's public key.
CREATE TABLE links (
    source_id BYTEA NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    target_id BYTEA NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (source_id, target_id)
);
CREATE INDEX links_target ON links (target_id, source_id);

-- Commands committed with the state change that implies them. Sealed at
-- publish time (fresh timestamp) with the key material captured here.
CREATE TABLE outbox (
    id BIGINT PRIMARY KEY,
    client_id BYTEA NOT NULL,
    control_topic TEXT NOT NULL,
    suite TEXT NOT NULL,
    opcode BIGINT NOT NULL,
    -- command bytes, encrypted at rest (they carry keys)
    command_enc BYTEA NOT NULL,
    -- symmetric: device key encrypted at rest; other suites: device public key
    device_key BYTEA NOT NULL,
    c2_key_version BIGINT,
    -- 0 pending, 1 sent (broker acknowledged), 2 failed permanently
    status BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    error TEXT
);
CREATE INDEX outbox_status ON outbox (status, id);
