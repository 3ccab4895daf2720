-- Suite negotiation (docs/negotiation.md): per-device policy override,
-- negotiation bookkeeping, topic formats, answers awaiting a Confirm.

-- Comma-separated suites this device may be moved to (NULL: the fleet's).
ALTER TABLE clients ADD COLUMN allowed_suites TEXT;
-- Timestamp of the last Announce accepted (NULL: never announced, so not
-- known to negotiate, i.e. possibly an e4go/libe4 device).
ALTER TABLE clients ADD COLUMN last_announce_ts BIGINT;
-- Transcript of the last committed upgrade (to answer a repeated Confirm)
-- and the timestamp of the last Confirm accepted (a repeated one must be
-- newer: a replayed Confirm gets no answer).
ALTER TABLE clients ADD COLUMN last_transcript BYTEA;
ALTER TABLE clients ADD COLUMN last_confirm_ts BIGINT;
-- Set when the device runs a suite below the policy's minimum.
ALTER TABLE clients ADD COLUMN below_minimum BIGINT NOT NULL DEFAULT 0;

-- The message format of a topic (a suite name); NULL until the first member
-- joins, which fixes it to that member's suite.
ALTER TABLE topics ADD COLUMN format TEXT;

-- SetSuite sent, Confirm awaited: at most one per device (a newer Announce
-- replaces it).
CREATE TABLE negotiations (
    client_id BYTEA PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    suite TEXT NOT NULL,
    transcript BYTEA NOT NULL,
    announce_ts BIGINT NOT NULL,
    -- the device's material in the new suite: symmetric key (encrypted at
    -- rest) or its offered public keys
    key_enc BYTEA,
    sig_pk BYTEA,
    kem_pk BYTEA,
    created_at BIGINT NOT NULL
);
