-- Delivery to devices (docs/delivery.md): devices report what they hold
-- (state reports on e4c2/announce/<id>); C2 records it, answers with the
-- commands that bring a device up to date, and shows who holds what.

-- Incremented by every rotation of the topic's key.
ALTER TABLE topics ADD COLUMN key_version BIGINT NOT NULL DEFAULT 1;
-- State reports name topics by hash.
CREATE INDEX topics_hash ON topics (hash);
-- The topic key version the device last reported holding (NULL: never).
ALTER TABLE topic_members ADD COLUMN confirmed_version BIGINT;

-- Timestamp (device clock, s) of the last report accepted: a report must be
-- newer (replay protection). NULL: the device never reported (e4go, libe4).
ALTER TABLE clients ADD COLUMN last_sync_ts BIGINT;
-- When that report was accepted (unix ms).
ALTER TABLE clients ADD COLUMN synced_at BIGINT;
-- The C2 key version the device reported holding (-1: a key C2 does not
-- know; NULL: not reported, or a suite without a C2 key).
ALTER TABLE clients ADD COLUMN c2_key_held BIGINT;
-- Topics the device reported holding without being a member.
ALTER TABLE clients ADD COLUMN stale_topics BIGINT NOT NULL DEFAULT 0;
-- When to look at the device's last report again (unix ms): it lacked keys
-- whose commands the broker had just acknowledged, so they were taken to
-- be on their way; if the device still lacks them then, they are sent again.
ALTER TABLE clients ADD COLUMN recheck_at BIGINT;
CREATE INDEX clients_recheck ON clients (recheck_at);

-- What a command is about: the topic hash of SetTopicKey, RemoveTopic and
-- SetTopicFormat, the device id of SetPubKey and RemovePubKey; NULL
-- otherwise. Lets C2 see that a command a report asks for is on its way.
ALTER TABLE outbox ADD COLUMN subject BYTEA;
CREATE INDEX outbox_client ON outbox (client_id, id);
